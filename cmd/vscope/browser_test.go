package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/vscope/vscope/vscope/diagnose"
	"github.com/vscope/vscope/vscope/ui"
	"github.com/vscope/vscope/vscope/web"
)

// TestBrowser is the end-to-end check of what an operator sees: `vscope
// demo` runs its 3-tier flow with a fault and writes its HTML report;
// headless Chromium opens the report, then `vscope ui` on the demo's
// store; the charts must have rendered (ECharts instances with their
// canvases in every chart element), the culprit banner must name the
// diagnosis' first cause, the page must log no error, and the screenshots
// go to build/screenshots (or $VSCOPE_SCREENSHOTS). It runs with
// VSCOPE_TEST_BROWSER=1 or VSCOPE_TEST_LONG=1, needs Debian's chromium
// (make chromium) and ECharts (make assets).
func TestBrowser(t *testing.T) {
	if os.Getenv("VSCOPE_TEST_BROWSER") != "1" && os.Getenv("VSCOPE_TEST_LONG") != "1" {
		t.Skip("the browser test runs with VSCOPE_TEST_BROWSER=1 or VSCOPE_TEST_LONG=1 (make test-browser, make test-long)")
	}
	if _, err := web.ECharts(); err != nil {
		t.Fatalf("%v", err)
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("no chromium on PATH: install Debian's with make chromium (%v)", err)
	}
	// The screenshots go under the build output: build/screenshots of
	// the repository unless VSCOPE_SCREENSHOTS says otherwise.
	shots := os.Getenv("VSCOPE_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join("..", "..", "build", "screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	// The demo: its fault, its report, its store.
	dir := filepath.Join(t.TempDir(), "demo")
	out := runVscope(t, "--log-level", "warn", "demo", "--dir", dir, "--format", "json", "--progress", "none")
	// The fields of vscope demo --format json this test reads.
	var demo struct {
		Truth struct {
			Spec, Endpoint, Host, Agent, Component string
			Start, End                             time.Time
		} `json:"truth"`
		Report     string                     `json:"report"`
		Correct    bool                       `json:"correct"`
		Components []diagnose.ComponentResult `json:"components"`
	}
	if err := json.Unmarshal([]byte(out), &demo); err != nil {
		t.Fatalf("vscope demo --format json: %v\n%s", err, out)
	}
	t.Logf("demo: fault %s at %s, report %s", demo.Truth.Spec, demo.Truth.Endpoint, demo.Report)

	b := newBrowser(t, chromium)

	// The report, as a file: no server, no network.
	b.run(t, "open the report", chromedp.Navigate("file://"+demo.Report))
	b.waitFor(t, "the report's charts", `document.body.getAttribute('data-charts') !== null`)
	var charts struct {
		Rendered int            `json:"rendered"`
		Elements map[string]int `json:"elements"`
		Series   int            `json:"series"`
		Verdict  string         `json:"verdict"`
		Label    string         `json:"label"`
		Top      float64        `json:"top"`
	}
	b.run(t, "inspect the report", chromedp.Evaluate(`(() => {
		const count = id => { const el = document.getElementById(id);
			return el && echarts.getInstanceByDom(el) ? el.querySelectorAll('canvas').length : 0; };
		const v = document.getElementById('verdict');
		return {
			rendered: window.vscopeReport.rendered,
			elements: {flow: count('chart-flow'), contributions: count('chart-contrib'), score: count('chart-score')},
			series: [...document.querySelectorAll('#chart-series .vs-series-chart')]
				.filter(el => echarts.getInstanceByDom(el) && el.querySelector('canvas')).length,
			verdict: v.querySelector('.vs-verdict-title').textContent,
			label: v.querySelector('.vs-verdict-label').textContent,
			top: v.getBoundingClientRect().top,
		};
	})()`, &charts))
	for name, n := range charts.Elements {
		if n == 0 {
			t.Errorf("report: the %s chart did not render", name)
		}
	}
	if charts.Series == 0 || charts.Rendered < 4 {
		t.Errorf("report: %d charts rendered, %d time-series charts", charts.Rendered, charts.Series)
	}
	// The culprit at a glance: the banner at the top of the page names
	// the diagnosis' first cause; when the diagnosis is right (the demo
	// says whether its top component is the fault's), that is the fault's
	// component ("sink k1 of agent col on host col-01").
	t.Logf("demo: the diagnosis' top component is the fault's: %v", demo.Correct)
	if !strings.Contains(charts.Label, "Likely cause") || charts.Top > 200 || !namesCause(charts.Verdict, demo.Components) {
		t.Errorf("report banner %q / %q at y=%v: want the likely cause, %s, at the top", charts.Label, charts.Verdict, charts.Top, firstCause(demo.Components))
	}
	want := fmt.Sprintf("%s of agent %s on host %s", demo.Truth.Component, demo.Truth.Agent, demo.Truth.Host)
	if demo.Correct && !strings.Contains(charts.Verdict, want) {
		t.Errorf("report banner %q: the diagnosis is right, want %q", charts.Verdict, want)
	}
	b.screenshot(t, filepath.Join(shots, "report.png"), false)
	b.screenshot(t, filepath.Join(shots, "report-full.png"), true)

	// The live view on the demo's store, with the demo's window, baseline
	// and step (its samples are 250 ms apart and the replay ran at 10x).
	url, stop := startUI(t, "--store", filepath.Join(dir, "metrics.duckdb"), "--topology", filepath.Join(dir, "topology.json"),
		"--window", "18s", "--baseline", "24s", "--step", "250ms", "--span", "90s", "--refresh", "2s")
	b.run(t, "open vscope ui", chromedp.Navigate(url))
	b.waitFor(t, "the live data", `+document.body.getAttribute('data-live') > 0`)
	b.waitFor(t, "the start's diagnosis", `document.body.getAttribute('data-diagnosis') !== null`)
	const frameCharts = `(() => { const d = document.getElementById('report-frame').contentDocument;
		return d && d.body && d.body.getAttribute('data-charts') !== null ? +d.body.getAttribute('data-charts') : -1; })()`
	b.waitFor(t, "the report in the view", frameCharts+` > 0`)
	// Diagnose a chosen window: the fault's, from the form.
	// The frame's present report is marked stale, so that the wait below
	// sees the new one load, not the old one before the frame reloads.
	var first string
	b.run(t, "choose a window", chromedp.Evaluate(`document.body.getAttribute('data-diagnosis')`, &first),
		chromedp.Evaluate(`document.getElementById('report-frame').contentDocument.body.setAttribute('data-stale', '1')`, nil),
		chromedp.SetValue(`#f-at`, demo.Truth.End.UTC().Format(time.RFC3339Nano), chromedp.ByID),
		chromedp.SetValue(`#f-window`, demo.Truth.End.Sub(demo.Truth.Start).Round(time.Second).String(), chromedp.ByID),
		chromedp.Click(`#diagnose-button`, chromedp.ByID))
	b.waitFor(t, "the chosen window's diagnosis", fmt.Sprintf(`document.body.getAttribute('data-diagnosis') !== %q`, first))
	b.waitFor(t, "its report in the view", `(() => { const d = document.getElementById('report-frame').contentDocument;
		return !!(d && d.body && !d.body.hasAttribute('data-stale')); })() && `+frameCharts+` > 0`)
	var view struct {
		Throughput, Fill, Frame int
		Status, Verdict         string
		Agents                  int
	}
	b.run(t, "inspect the view", chromedp.Evaluate(`(() => {
		const count = id => { const el = document.getElementById(id);
			return el && echarts.getInstanceByDom(el) ? el.querySelectorAll('canvas').length : 0; };
		const d = document.getElementById('report-frame').contentDocument;
		return {Throughput: count('chart-throughput'), Fill: count('chart-fill'),
			Frame: d.querySelectorAll('canvas').length,
			Status: document.getElementById('diagnose-status').textContent,
			Verdict: document.getElementById('verdict-title').textContent,
			Agents: document.querySelectorAll('#agents-table tbody tr').length};
	})()`, &view))
	if view.Throughput == 0 || view.Fill == 0 || view.Frame < 4 || view.Agents == 0 {
		t.Errorf("view: throughput %d canvases, fill %d, report %d, agents %d rows", view.Throughput, view.Fill, view.Frame, view.Agents)
	}
	resp, err := http.Get(url + "api/diagnosis")
	if err != nil {
		t.Fatal(err)
	}
	var d ui.Diagnosis
	err = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(view.Status, "done") || !namesCause(view.Verdict, d.Result.Components) {
		t.Errorf("view after Diagnose: status %q, verdict %q; want done and %s", view.Status, view.Verdict, firstCause(d.Result.Components))
	}
	t.Logf("view: the fault's window diagnosed, first cause %s (the fault: %s)", firstCause(d.Result.Components), demo.Truth.Endpoint)
	b.screenshot(t, filepath.Join(shots, "ui.png"), true)
	stop()
	b.close(t)
}

// firstCause is the first component of a diagnosis with the role cause.
func firstCause(cs []diagnose.ComponentResult) string {
	for _, c := range cs {
		if c.Role == diagnose.RoleCause {
			return c.Name()
		}
	}
	return "(no cause)"
}

// namesCause: the banner's title names the first cause: its component, its
// agent and its host.
func namesCause(title string, cs []diagnose.ComponentResult) bool {
	for _, c := range cs {
		if c.Role == diagnose.RoleCause {
			return strings.Contains(title, c.Component) && strings.Contains(title, "host "+c.Host) &&
				(c.Agent == "" || c.Kind == "process" || c.Kind == "runtime" || strings.Contains(title, "agent "+c.Agent))
		}
	}
	return false
}

// browser is one headless Chromium, driven over the DevTools protocol,
// with the page's console errors, uncaught exceptions and failed loads
// collected.
type browser struct {
	ctx    context.Context
	cancel func()
	mu     sync.Mutex
	errs   []string
}

func newBrowser(t *testing.T, chromium string) *browser {
	t.Helper()
	// The flags this machine's closed network needs (no sandbox as root,
	// no GPU, no QUIC, no first-run, background or update traffic) and a
	// fresh profile.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{ctx: ctx, cancel: func() { cancel(); acancel() }}
	chromedp.ListenTarget(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError || ev.Type == runtime.APITypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				msg = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.LevelError {
				msg = "log: " + ev.Entry.Text + " " + ev.Entry.URL
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.errs = append(b.errs, msg)
			b.mu.Unlock()
		}
	})
	t.Cleanup(b.cancel)
	// The first Run starts Chromium and ties it to its context: this one,
	// not one with a deadline that ends with the call.
	if err := chromedp.Run(ctx, log.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// run runs actions with a deadline, failing t on an error or on anything
// the page logged as an error so far.
func (b *browser) run(t *testing.T, what string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	b.checkErrors(t, what)
}

func (b *browser) checkErrors(t *testing.T, what string) {
	t.Helper()
	b.mu.Lock()
	errs := b.errs
	b.errs = nil
	b.mu.Unlock()
	for _, e := range errs {
		t.Errorf("%s: the page logged %s", what, e)
	}
}

// waitFor polls a JavaScript condition until it holds (two minutes at
// most).
func (b *browser) waitFor(t *testing.T, what, cond string) {
	t.Helper()
	var ok bool
	b.run(t, "wait for "+what, chromedp.Poll(cond, &ok, chromedp.WithPollingTimeout(2*time.Minute), chromedp.WithPollingInterval(100*time.Millisecond)))
	if !ok {
		t.Fatalf("%s: %s never held", what, cond)
	}
}

// screenshot saves the viewport, or the whole page, as PNG.
func (b *browser) screenshot(t *testing.T, path string, full bool) {
	t.Helper()
	var png []byte
	action := chromedp.CaptureScreenshot(&png)
	if full {
		action = chromedp.FullScreenshot(&png, 100)
	}
	b.run(t, "screenshot "+filepath.Base(path), action)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(png))
}

func (b *browser) close(t *testing.T) {
	t.Helper()
	b.checkErrors(t, "closing")
	if err := chromedp.Cancel(b.ctx); err != nil {
		t.Errorf("closing chromium: %v", err)
	}
	b.cancel()
}
