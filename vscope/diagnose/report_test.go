package diagnose

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vscope/vscope/vscope/web"
)

// TestHTMLReport: the collector's sink slows down (the fault of
// TestCollectorSlowSink); the report names it at the top, carries the flow
// graph and the baseline before the window for the charts, and is one file
// that needs no network.
func TestHTMLReport(t *testing.T) {
	const faultAt = simBaseline + 200
	r := runSim(t, func(s *sim, sec int) {
		if sec == faultAt {
			s.drainCap[2], s.sinkLat[2] = 300, 0.5
		}
	}, simTopology())

	// The flow edges: given between agents, inferred inside them.
	for _, e := range []FlowEdge{
		{"h1/t1/k1", "h3/col/r1"}, {"h2/t2/k1", "h3/col/r1"},
		{"h1/t1/r1", "h1/t1/c1"}, {"h3/col/c1", "h3/col/k1"},
	} {
		if !slices.Contains(r.Topology.Flow, e) {
			t.Errorf("flow edge %v missing from %v", e, r.Topology.Flow)
		}
	}
	// The stretch of baseline before the window: as long as the window,
	// ending where it begins, for every ranked metric.
	bt := r.Traces.BeforeTimes
	if len(bt) != r.Window.Rows || len(bt) == 0 {
		t.Fatalf("%d points before the window, want %d", len(bt), r.Window.Rows)
	}
	if want := r.Window.From.Add(-time.Second); !bt[len(bt)-1].Equal(want) {
		t.Errorf("the last point before the window is at %v, want %v", bt[len(bt)-1], want)
	}
	if len(r.Traces.Metrics) != len(r.Ranking) {
		t.Fatalf("%d traces for %d ranked metrics", len(r.Traces.Metrics), len(r.Ranking))
	}
	top := r.Traces.Metrics[0]
	if len(top.Before) != len(bt) {
		t.Fatalf("rank 1 has %d points before the window, want %d", len(top.Before), len(bt))
	}
	// Rank 1 is the collector sink's batch latency: before the fault it sat
	// at its baseline level, after it far above.
	finite := 0
	for _, v := range top.Before {
		if !math.IsNaN(v) {
			finite++
			if v > 10*top.Baseline+0.01 {
				t.Errorf("rank 1 before the window: %v, baseline median %v", v, top.Baseline)
				break
			}
		}
	}
	if finite < len(bt)*9/10 {
		t.Errorf("rank 1: %d of %d points before the window", finite, len(bt))
	}
	if last := top.Values[len(top.Values)-1]; last < 10*top.Baseline {
		t.Errorf("rank 1 at the window's end %v, baseline %v: not the slow sink", last, top.Baseline)
	}

	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	// The culprit at a glance: the first thing in the page's body after
	// the header.
	verdict := page[strings.Index(page, `id="verdict"`):]
	verdict = verdict[:strings.Index(verdict, "</section>")]
	for _, want := range []string{"Likely cause", "sink k1 of agent col on host h3", "batch_duration"} {
		if !strings.Contains(verdict, want) {
			t.Errorf("the verdict does not say %q:\n%s", want, verdict)
		}
	}
	for _, id := range []string{"chart-flow", "chart-contrib", "chart-score", "chart-series"} {
		if !strings.Contains(page, `id="`+id+`"`) {
			t.Errorf("no element %s", id)
		}
	}
	// Self-contained: nothing is fetched.
	if m := regexp.MustCompile(`(?i)<(script|link|img|iframe)[^>]+(src|href)="(https?:|//)`).FindString(page); m != "" {
		t.Errorf("the page fetches %s", m)
	}
	// The data the charts are drawn from is the result, as JSON.
	i := strings.LastIndex(page, "vscopeReport.render(")
	j := strings.LastIndex(page, ", {noCharts:")
	if i < 0 || j < i {
		t.Fatal("no call of vscopeReport.render in the page")
	}
	var back Result
	if err := json.Unmarshal([]byte(page[i+len("vscopeReport.render("):j]), &back); err != nil {
		t.Fatalf("the embedded data is not the result's JSON: %v", err)
	}
	if back.Ranking[0].Metric != r.Ranking[0].Metric || len(back.Traces.BeforeTimes) != len(bt) || len(back.Topology.Flow) != len(r.Topology.Flow) {
		t.Errorf("the embedded data differs from the result")
	}
	if _, err := web.ECharts(); err != nil {
		if web.AssetsRequired() {
			t.Fatalf("%v", err)
		}
		if !strings.Contains(page, `id="nocharts"`) || !strings.Contains(page, "make assets") {
			t.Errorf("built without ECharts, the page does not say that its charts need make assets")
		}
		t.Logf("%v: checked the notice in its place", err)
		return
	}
	if !strings.Contains(page, `version="6.1.0"`) || strings.Contains(page, `id="nocharts"`) {
		t.Errorf("ECharts is not inlined in the page")
	}
}

func TestFlowEdges(t *testing.T) {
	comp := func(host, agent, c, kind string) ComponentResult {
		return ComponentResult{Host: host, Agent: agent, Component: c, Kind: kind}
	}
	comps := []ComponentResult{
		comp("h1", "a1", "r1", "source"), comp("h1", "a1", "c1", "channel"), comp("h1", "a1", "c2", "channel"),
		comp("h1", "a1", "k1", "sink"), comp("h1", "a1", "process", "process"), comp("h1", "", "cpu", "host"),
		comp("h2", "col", "r1", "source"), comp("h2", "col", "c1", "channel"), comp("h2", "col", "k1", "sink"),
		comp("h3", "col", "r1", "source"),
	}
	f := func(topo string, want ...FlowEdge) {
		t.Helper()
		var tp *Topology
		if topo != "" {
			var err error
			if tp, err = ParseTopology([]byte(topo)); err != nil {
				t.Fatal(err)
			}
		}
		got := FlowEdges(comps, tp)
		if !slices.Equal(got, want) {
			t.Errorf("FlowEdges(%s):\n got %v\nwant %v", topo, got, want)
		}
	}
	// Inferred inside agents only: every source -> channel -> sink.
	f("", FlowEdge{"h1/a1/r1", "h1/a1/c1"}, FlowEdge{"h1/a1/r1", "h1/a1/c2"},
		FlowEdge{"h1/a1/c1", "h1/a1/k1"}, FlowEdge{"h1/a1/c2", "h1/a1/k1"},
		FlowEdge{"h2/col/r1", "h2/col/c1"}, FlowEdge{"h2/col/c1", "h2/col/k1"})
	// A given edge inside a1 replaces its inferred ones; a host-qualified
	// endpoint matches that host's component only.
	f(`{"paths": [["a1/r1", "a1/c2", "a1/k1", "h2/col/r1"]]}`,
		FlowEdge{"h1/a1/r1", "h1/a1/c2"}, FlowEdge{"h1/a1/c2", "h1/a1/k1"}, FlowEdge{"h1/a1/k1", "h2/col/r1"},
		FlowEdge{"h2/col/r1", "h2/col/c1"}, FlowEdge{"h2/col/c1", "h2/col/k1"})
	// Without a host, an endpoint matches the agent on every host.
	f(`{"edges": [{"from": "a1/k1", "to": "col/r1"}]}`, FlowEdge{"h1/a1/k1", "h2/col/r1"}, FlowEdge{"h1/a1/k1", "h3/col/r1"},
		FlowEdge{"h1/a1/r1", "h1/a1/c1"}, FlowEdge{"h1/a1/r1", "h1/a1/c2"},
		FlowEdge{"h1/a1/c1", "h1/a1/k1"}, FlowEdge{"h1/a1/c2", "h1/a1/k1"},
		FlowEdge{"h2/col/r1", "h2/col/c1"}, FlowEdge{"h2/col/c1", "h2/col/k1"})
}

func TestVerdict(t *testing.T) {
	f := func(r *Result, class, title string) {
		t.Helper()
		v := verdictOf(r)
		if v.Class != class || !strings.Contains(v.Title, title) {
			t.Errorf("verdict %+v, want class %s, title with %q", v, class, title)
		}
		if r.Status != StatusAnomaly && v.Why != r.Summary[0] {
			t.Errorf("verdict %+v does not give the summary's reason", v)
		}
	}
	f(&Result{Status: StatusNoData, Summary: []string{"No data: the window is empty."}}, "nodata", "Nothing to diagnose")
	f(&Result{Status: StatusNoAnomaly, Summary: []string{"No anomaly: 2 isolated points."}}, "none", "Nothing left its normal range")
	onset := time.Date(2026, 1, 1, 11, 0, 5, 0, time.UTC)
	r := &Result{Status: StatusAnomaly, Window: WindowInfo{To: onset.Add(time.Minute)},
		Components: []ComponentResult{
			{Host: "h1", Agent: "a", Component: "c1", Kind: "channel", Role: RoleSymptom},
			{Host: "h2", Agent: "", Component: "cpu", Kind: "host", Role: RoleCause, Why: "busy"},
		},
		Ranking: []RankedMetric{{Rank: 1, Host: "h2", Component: "cpu", Metric: "user_percent", Baseline: 20, Peak: 95, Onset: &onset, Score: 40}},
	}
	f(r, "cause", "host h2's cpu")
	if v := verdictOf(r); v.Metric != "user_percent: 20 → 95 from 11:00:05Z (score 40.0)" || !strings.Contains(v.Effect, "1 other") {
		t.Errorf("verdict metric %q, effect %q", v.Metric, v.Effect)
	}
}
