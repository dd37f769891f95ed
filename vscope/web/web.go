package web

import (
	"embed"
	"errors"
	"os"
	"strings"
)

//go:embed dist static
var files embed.FS

// ErrNoECharts means this binary was built without Apache ECharts: run
// `make assets` (or make build) and build again.
var ErrNoECharts = errors.New("charts need Apache ECharts, which this vscope was built without: run `make assets` (make build does) and build vscope again")

// EChartsFile is where ECharts is embedded from, relative to this package.
const EChartsFile = "dist/echarts.min.js"

// ECharts returns the minified Apache ECharts library, or ErrNoECharts when
// the build did not include it.
func ECharts() ([]byte, error) {
	b, err := files.ReadFile(EChartsFile)
	if err != nil || len(b) == 0 {
		return nil, ErrNoECharts
	}
	return b, nil
}

// AssetsRequired reports whether this run must have ECharts: make sets
// VSCOPE_ASSETS_REQUIRED=1 (it fetches ECharts first), so that tests that
// draw charts fail without it instead of passing over the charts.
func AssetsRequired() bool { return os.Getenv("VSCOPE_ASSETS_REQUIRED") == "1" }

// InlineScript makes JavaScript source safe to inline in an HTML <script>
// element: a "</script" inside it (in a string or a comment) would end the
// element early, so it becomes "<\/script", which means the same in every
// place JavaScript allows it.
func InlineScript(src []byte) string {
	s := string(src)
	if !strings.Contains(strings.ToLower(s), "</script") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(strings.ToLower(s), "</script")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+1])
		b.WriteString(`\`)
		s = s[i+1:]
	}
}

// ReportJS is static/report.js: window.vscopeReport.render(data, opts) draws
// the charts of a diagnosis into the page's chart elements.
func ReportJS() []byte { return mustRead("static/report.js") }

// ReportCSS is static/report.css, the report's stylesheet.
func ReportCSS() []byte { return mustRead("static/report.css") }

// mustRead reads a file that is always embedded (it is in the repository,
// so a build without it does not compile).
func mustRead(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("web: " + name + " is not embedded: " + err.Error())
	}
	return b
}
