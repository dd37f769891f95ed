package web

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// requireECharts fails t when ECharts is not embedded and the run asked for
// it (AssetsRequired), and otherwise reports whether it is there, so that a
// plain `go test` without `make assets` still checks the rest.
func requireECharts(t *testing.T) bool {
	t.Helper()
	_, err := ECharts()
	if err == nil {
		return true
	}
	if AssetsRequired() {
		t.Fatalf("%v", err)
	}
	t.Logf("%v (set VSCOPE_ASSETS_REQUIRED=1 to make this an error)", err)
	return false
}

func TestECharts(t *testing.T) {
	b, err := ECharts()
	if !requireECharts(t) {
		if !errors.Is(err, ErrNoECharts) || b != nil {
			t.Fatalf("without the file: %v, %d bytes; want ErrNoECharts", err, len(b))
		}
		if !strings.Contains(err.Error(), "make assets") {
			t.Errorf("the error %q does not say to run make assets", err)
		}
		return
	}
	// The version pinned in package-lock.json.
	lock, err := os.ReadFile("package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(lock), `"node_modules/echarts": {
      "version": "6.1.0"`) {
		t.Fatalf("package-lock.json does not pin echarts 6.1.0; update this test with the pin")
	}
	if !strings.Contains(string(b), `version="6.1.0"`) {
		t.Errorf("the embedded ECharts is not 6.1.0: run make assets again")
	}
	if len(b) < 500_000 {
		t.Errorf("the embedded ECharts is %d bytes: not the full build", len(b))
	}
}

func TestInlineScript(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := InlineScript([]byte(in)); got != want {
			t.Errorf("InlineScript(%q) = %q, want %q", in, got, want)
		}
	}
	f(`var a = 1;`, `var a = 1;`)
	f(`s = "</script>"`, `s = "<\/script>"`)
	f(`a("</SCRIPT>", "</script")`, `a("<\/SCRIPT>", "<\/script")`)
	f(`/<\/script/.test(x)`, `/<\/script/.test(x)`)
	f(`</script</script`, `<\/script<\/script`)
}

func TestStaticFiles(t *testing.T) {
	for name, b := range map[string][]byte{"report.js": ReportJS(), "report.css": ReportCSS()} {
		if len(b) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
	if !strings.Contains(string(ReportJS()), "window.vscopeReport") {
		t.Errorf("report.js does not define window.vscopeReport")
	}
}
