package diagnose

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vscope/vscope/vscope/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// matrix builds a store matrix of rows x len(series) at 1 s from start,
// filled by f(row, col).
func matrix(start time.Time, rows int, series []store.Series, f func(i, j int) float64) *store.Matrix {
	m := &store.Matrix{From: start.UnixMilli(), Step: 1000, Series: series,
		Times: make([]int64, rows), Values: make([]float64, rows*len(series))}
	for i := range rows {
		m.Times[i] = start.UnixMilli() + int64(i)*1000
		for j := range series {
			m.Values[i*len(series)+j] = f(i, j)
		}
	}
	return m
}

func agentSeries(n int) []store.Series {
	var s []store.Series
	for i := range n {
		s = append(s, store.Series{Host: "h1", Agent: "a1", Component: "k1", Kind: "sink", Metric: "m" + string(rune('a'+i%26)) + string(rune('a'+i/26))})
	}
	return s
}

// input is a window of wrows after a baseline of brows, both from f.
func input(brows, wrows int, series []store.Series, f func(i, j int) float64) *Input {
	start := simStart
	in := &Input{BaselineFrom: start, BaselineTo: start.Add(time.Duration(brows) * time.Second)}
	in.WindowFrom = in.BaselineTo
	in.WindowTo = in.WindowFrom.Add(time.Duration(wrows) * time.Second)
	if brows > 0 {
		in.Baseline = []*store.Matrix{matrix(start, brows, series, f)}
	}
	in.Window = matrix(in.WindowFrom, wrows, series, func(i, j int) float64 { return f(brows+i, j) })
	return in
}

func opts(brows, wrows int) Options {
	return Options{Window: time.Duration(wrows) * time.Second, Baseline: time.Duration(max(brows, 1)) * time.Second}
}

func mustAnalyze(t *testing.T, in *Input, o Options) *Result {
	t.Helper()
	r, err := Analyze(in, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []func(*bytes.Buffer, *Result) error{
		func(b *bytes.Buffer, r *Result) error { return WriteTable(b, r) },
		func(b *bytes.Buffer, r *Result) error { return WriteJSON(b, r) },
		func(b *bytes.Buffer, r *Result) error { return WriteHTML(b, r) },
	} {
		var b bytes.Buffer
		if err := w(&b, r); err != nil {
			t.Fatalf("report: %v", err)
		}
	}
	return r
}

// TestOddInput: nothing panics, and each case says what it could do.
func TestOddInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	noise := func(i, j int) float64 { return 10 + rng.NormFloat64() }
	jump := func(at int) func(i, j int) float64 {
		return func(i, j int) float64 {
			v := 10 + rng.NormFloat64()
			if j == 0 && i >= at {
				v += 20
			}
			return v
		}
	}
	f := func(name string, in *Input, o Options, status string, summary string) {
		t.Helper()
		r := mustAnalyze(t, in, o)
		if r.Status != status {
			t.Errorf("%s: status %q, want %q; summary %q", name, r.Status, status, r.Summary)
		}
		if summary != "" && !strings.Contains(strings.Join(r.Summary, " "), summary) {
			t.Errorf("%s: summary %q lacks %q", name, r.Summary, summary)
		}
	}
	f("nil window", &Input{}, Options{}, StatusNoData, "window is empty")
	f("no series", input(100, 60, nil, noise), opts(100, 60), StatusNoData, "no series match")
	f("empty window rows", input(100, 0, agentSeries(3), noise), opts(100, 1), StatusNoData, "window is empty")
	f("all NaN", input(100, 60, agentSeries(3), func(i, j int) float64 { return math.NaN() }), opts(100, 60), StatusNoData, "")
	f("all Inf", input(100, 60, agentSeries(3), func(i, j int) float64 { return math.Inf(1) }), opts(100, 60), StatusNoData, "")
	f("constant", input(100, 60, agentSeries(3), func(i, j int) float64 { return 7 }), opts(100, 60), StatusNoData, "none has points")
	f("one metric, quiet", input(300, 120, agentSeries(1), noise), opts(300, 120), StatusNoAnomaly, "No anomaly")
	f("one metric, jump", input(300, 120, agentSeries(1), jump(360)), opts(300, 120), StatusAnomaly, "Likely cause")
	f("two baseline rows", input(2, 120, agentSeries(4), jump(60)), opts(2, 120), StatusAnomaly, "Univariate guidance")
	f("no baseline", input(0, 120, agentSeries(4), jump(100)), opts(0, 120), StatusAnomaly, "Univariate guidance")
	f("baseline of 20", input(20, 120, agentSeries(4), jump(60)), opts(20, 120), StatusAnomaly, "fewer than the 30")
	f("one window row", input(300, 1, agentSeries(4), noise), opts(300, 1), StatusNoAnomaly, "")
	// Agents started 20 s before the window: the baseline period is mostly
	// empty, and a series that appears only in the window is still scored.
	late := func(i, j int) float64 {
		switch {
		case i < 280, j == 3 && i < 300:
			return math.NaN()
		case j == 0 && i >= 360:
			return 30 + rng.NormFloat64()
		}
		return 10 + rng.NormFloat64()
	}
	in := input(300, 120, agentSeries(4), late)
	r := mustAnalyze(t, in, opts(300, 120))
	if r.Status != StatusAnomaly || r.Baseline.UsedRows != 20 || r.Window.Metrics != 4 || r.Ranking[0].Metric != "maa" {
		t.Errorf("late start: status %q, %d baseline rows, %d metrics, rank 1 %q; summary %q notes %q",
			r.Status, r.Baseline.UsedRows, r.Window.Metrics, r.Ranking[0].Metric, r.Summary, r.Notes)
	}
	nan := func(i, j int) float64 {
		if (i+j)%7 == 0 || (j == 1 && i > 200 && i < 260) {
			return math.NaN()
		}
		return 10 + rng.NormFloat64()
	}
	f("NaNs and a long gap", input(300, 120, agentSeries(5), nan), opts(300, 120), StatusNoAnomaly, "")
	// A series that stops reporting in the window.
	stop := func(i, j int) float64 {
		if j == 2 && i >= 350 {
			return math.NaN()
		}
		return 10 + rng.NormFloat64()
	}
	f("stops", input(300, 120, agentSeries(4), stop), opts(300, 120), StatusNoAnomaly, "Stopped reporting during the window: h1/a1/k1")
	// Series only in the window, only in the baseline.
	in = input(300, 120, agentSeries(3), noise)
	extra := append(agentSeries(3), store.Series{Host: "h9", Agent: "new", Component: "r1", Kind: "source", Metric: "x"})
	in.Window = matrix(in.WindowFrom, 120, extra, noise)
	r = mustAnalyze(t, in, opts(300, 120))
	if !strings.Contains(strings.Join(r.Notes, " "), "absent from the baseline") || r.Window.Metrics != 3 {
		t.Errorf("new series: notes %q, %d metrics scored", r.Notes, r.Window.Metrics)
	}
	in = input(300, 120, extra, noise)
	in.Window = matrix(in.WindowFrom, 120, agentSeries(3), noise)
	r = mustAnalyze(t, in, opts(300, 120))
	if !strings.Contains(strings.Join(r.Summary, " "), "agent new on host h9 (1 series)") {
		t.Errorf("vanished series: summary %q", r.Summary)
	}
}

// TestConstantInBaseline: a metric that never moved in the baseline
// (a fill of 0 %) and then moves is measured in its own unit, not against
// the spread of unrelated metrics of other units.
func TestConstantInBaseline(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	series := []store.Series{
		{Host: "h", Agent: "a", Component: "c1", Kind: "channel", Metric: "ChannelFillPercentage"},
		{Host: "h", Agent: "a", Component: "k1", Kind: "sink", Metric: "heap_bytes"},
		{Host: "h", Agent: "a", Component: "r1", Kind: "source", Metric: "EventAcceptedRate"},
	}
	r := mustAnalyze(t, input(600, 300, series, func(i, j int) float64 {
		switch j {
		case 0:
			if i >= 700 {
				return 40
			}
			return 0
		case 1:
			return 1e9 + 1e7*rng.NormFloat64()
		}
		return 1000 + 30*rng.NormFloat64()
	}), opts(600, 300))
	top := r.Ranking[0]
	if top.Metric != "ChannelFillPercentage" || !top.Flagged || math.Abs(top.Z-40) > 1e-6 {
		t.Fatalf("rank 1 %s z %v flagged %v, want ChannelFillPercentage at z 40 (40 points / 1 point)", top.Metric, top.Z, top.Flagged)
	}
	if top.Onset == nil || !top.Onset.Equal(simStart.Add(700*time.Second)) {
		t.Errorf("onset %v, want %v", top.Onset, simStart.Add(700*time.Second))
	}
	if top.Peak != 40 || top.Baseline != 0 {
		t.Errorf("peak %v baseline %v, want raw units 40 and 0", top.Peak, top.Baseline)
	}
}

func TestFillColumn(t *testing.T) {
	nan := math.NaN()
	f := func(in, want []float64, maxGap int, long []gap) {
		t.Helper()
		got := append([]float64(nil), in...)
		gs, _ := fillColumn(got, len(got), 1, 0, maxGap)
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gs, long) {
			t.Errorf("fill %v: got %v gaps %v, want %v gaps %v", in, got, gs, want, long)
		}
	}
	f([]float64{1, nan, 3}, []float64{1, 2, 3}, 2, nil)
	f([]float64{nan, nan, 3, nan}, []float64{3, 3, 3, 3}, 2, nil)
	f([]float64{1, nan, nan, nan, 5}, []float64{1, 1, 1, 1, 5}, 2, []gap{{1, 4}})
	f([]float64{nan, nan}, []float64{0, 0}, 5, nil)
	f([]float64{1, 2, nan, nan, nan}, []float64{1, 2, 2, 2, 2}, 2, []gap{{2, 5}})
}

func TestBaselineSlices(t *testing.T) {
	f := func(total, want, slice int, exp [][2]int) {
		t.Helper()
		if got := baselineSlices(total, want, slice); !reflect.DeepEqual(got, exp) {
			t.Errorf("baselineSlices(%d, %d, %d) = %v, want %v", total, want, slice, got, exp)
		}
	}
	f(3600, -1, 60, [][2]int{{0, 3600}})
	f(3600, 5000, 60, [][2]int{{0, 3600}})
	f(3600, 180, 60, [][2]int{{0, 60}, {1770, 1830}, {3540, 3600}})
	f(100, 90, 60, [][2]int{{0, 100}})
	f(0, 10, 60, nil)
	f(3600, 30, 60, [][2]int{{3570, 3600}})
}

func TestTopologyFromFlume(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "tiers.conf")
	if err := os.WriteFile(conf, []byte(`
t1.sources = r1
t1.channels = c1
t1.sinks = k1
t1.sources.r1.type = netcat
t1.sources.r1.channels = c1
t1.sinks.k1.type = forward
t1.sinks.k1.channel = c1
t1.sinks.k1.group = g
t1.sinks.k1.groups.g.members = 127.0.0.1:4545 127.0.0.1:4546
t2.sources = r1
t2.channels = c1
t2.sinks = k1
t2.sources.r1.type = seq
t2.sources.r1.channels = c1
t2.sinks.k1.type = avro
t2.sinks.k1.channel = c1
t2.sinks.k1.hostname = 127.0.0.1
t2.sinks.k1.port = ${COLPORT}
col.sources = r1
col.channels = c1 c2
col.sinks = k1 k2
col.sources.r1.type = forward
col.sources.r1.bind = 127.0.0.1
col.sources.r1.port = 4545
col.sources.r1.channels = c1 c2
col.sinks.k1.channel = c1
col.sinks.k2.channel = c2
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COLPORT", "4545")
	topo, err := TopologyFromFlume(conf)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range topo.Edges {
		got = append(got, e.From.String()+">"+e.To.String())
	}
	want := []string{"col/r1>col/c1", "col/r1>col/c2", "col/c1>col/k1", "col/c2>col/k2",
		"t1/r1>t1/c1", "t1/c1>t1/k1", "t2/r1>t2/c1", "t2/c1>t2/k1", "t1/k1>col/r1", "t2/k1>col/r1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("edges\n got %v\nwant %v", got, want)
	}
}

func TestParseTopology(t *testing.T) {
	f := func(in string, edges int, errPart string) {
		t.Helper()
		topo, err := ParseTopology([]byte(in))
		switch {
		case errPart != "":
			if err == nil || !strings.Contains(err.Error(), errPart) {
				t.Errorf("%s: error %v, want %q", in, err, errPart)
			}
		case err != nil:
			t.Errorf("%s: %v", in, err)
		case len(topo.Edges) != edges:
			t.Errorf("%s: %d edges, want %d", in, len(topo.Edges), edges)
		}
	}
	f(`{"edges": [{"from": "a/k1", "to": "h/b/r1"}]}`, 1, "")
	f(`{"paths": [["a/r1", "a/c1", "a/k1"]]}`, 2, "")
	f(`{"edges": [{"from": "k1", "to": "b/r1"}]}`, 0, "want agent/component")
	f(`{"paths": [["a/r1", "a/c1"]], "machines": {"m1": ["h1", "h2"], "m2": ["h3"]}}`, 1, "")
	f(`{"machines": {"m1": ["h1", "h2"], "m2": ["h2"]}}`, 0, "host h2 is already on machine m1")
	f(`{"machines": {"m1": ["h1/a"]}}`, 0, `machines.m1: host "h1/a"`)
	f(`{"edgs": []}`, 0, "unknown field")
	f(`[`, 0, "topology")
}

// TestTopologyMatters: without the cross-agent edges, a tier-1 channel that
// fills later is not traced to the collector's sink through the flow; with
// them it is.
func TestUnknownTopology(t *testing.T) {
	const faultAt = simBaseline + 200
	r := runSim(t, func(s *sim, sec int) {
		if sec == faultAt {
			s.drainCap[2], s.sinkLat[2] = 300, 0.5
		}
	}, nil)
	if !r.Topology.Assumed {
		t.Errorf("topology not marked assumed: %+v", r.Topology)
	}
	if got := component(t, r, "col", "k1"); got.Role != RoleCause {
		t.Errorf("col/k1 role %q (%s), want cause by onset alone", got.Role, got.Why)
	}
	if !strings.Contains(strings.Join(r.Summary, " "), "--topology") {
		t.Errorf("summary does not ask for a topology: %q", r.Summary)
	}
}

// TestChangeAtWindowStart: a window opened just as a fault began. A sink
// slowed at its first row (the baseline's end was normal) is a change
// inside the window and the cause; a sink that slowed 20 s before the
// window began is an older change, set aside; the ranking reads the
// cause's tree (the sink, then the channel it filled, then the sink's
// batch count) before an independent change elsewhere.
func TestChangeAtWindowStart(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	series := []store.Series{
		{Host: "h1", Agent: "a1", Component: "k1", Kind: "sink", Metric: "batch_duration_p99_seconds"},
		{Host: "h1", Agent: "a1", Component: "c1", Kind: "channel", Metric: "ChannelFillPercentage"},
		{Host: "h2", Agent: "a2", Component: "k1", Kind: "sink", Metric: "batch_duration_p99_seconds"},
		{Host: "h1", Agent: "a1", Component: "r1", Kind: "source", Metric: "EventAcceptedRate"},
		{Host: "h3", Agent: "a3", Component: "go", Kind: "runtime", Metric: "heap_goal_bytes"},
		{Host: "h1", Agent: "a1", Component: "k1", Kind: "sink", Metric: "BatchEmptyRate"},
	}
	const brows, wrows = 300, 60
	in := input(brows, wrows, series, func(i, j int) float64 {
		n := rng.NormFloat64()
		switch j {
		case 0:
			return 0.01 + 0.001*n + 0.3*b2f(i >= brows)
		case 1:
			return 1 + 0.2*n + 40*b2f(i >= brows+3)
		case 2:
			return 0.01 + 0.001*n + 0.3*b2f(i >= brows-20)
		case 3:
			return 1000 + 30*n
		case 4:
			return 1e7 + 1e4*n + 2e5*b2f(i >= brows+10)
		}
		return 180 + 4*n - 170*b2f(i >= brows)
	})
	r := mustAnalyze(t, in, opts(brows, wrows))
	if len(r.Components) == 0 {
		t.Fatalf("no components; summary %q", r.Summary)
	}
	role := map[string]ComponentResult{}
	for _, c := range r.Components {
		role[c.Host+"/"+c.Agent+"/"+c.Component] = c
	}
	if c := r.Components[0]; c.Host != "h1" || c.Component != "k1" || c.Role != RoleCause {
		t.Errorf("first component %s/%s/%s (%s), want h1/a1/k1 as the cause", c.Host, c.Agent, c.Component, c.Role)
	}
	if c := role["h1/a1/k1"]; c.Onset == nil || !c.Onset.Equal(in.WindowFrom) {
		t.Errorf("h1/a1/k1 onset %v, want the window's start %v", c.Onset, in.WindowFrom)
	}
	if c := role["h2/a2/k1"]; c.Role != RoleUnrelated || !strings.Contains(c.Why, "already at the window's start") {
		t.Errorf("h2/a2/k1 (slowed before the window): role %s, why %q", c.Role, c.Why)
	}
	if c := role["h3/a3/go"]; c.Role != RoleCause {
		t.Errorf("h3/a3/go: role %s, want an independent cause", c.Role)
	}
	var got []string
	for _, m := range r.Ranking[:4] {
		got = append(got, m.Host+"/"+m.Component+"/"+m.Metric)
	}
	// The sink's batch count is its tree's secondary evidence: after the
	// channel it filled, before the next cause.
	if want := []string{"h1/k1/batch_duration_p99_seconds", "h1/c1/ChannelFillPercentage", "h1/k1/BatchEmptyRate", "h3/go/heap_goal_bytes"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ranking %v, want %v", got, want)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TestSpreadRules: what may explain what. Each case is a small flow whose
// fault starts at the window's first row; the component named must be
// the first cause.
func TestSpreadRules(t *testing.T) {
	const brows, wrows = 240, 60
	type col struct {
		s store.Series
		f func(i int, n float64) float64 // row (baseline first), N(0,1)
	}
	step := func(i, at int, before, after float64) float64 {
		if i >= brows+at {
			return after
		}
		return before
	}
	ser := func(host, agent, comp, kind, metric string) store.Series {
		return store.Series{Host: host, Agent: agent, Component: comp, Kind: kind, Metric: metric}
	}
	gap := func(i, from, to int, v float64) float64 {
		if i >= brows+from && i < brows+to {
			return math.NaN()
		}
		return v
	}
	topo := &Topology{Edges: []Edge{
		{From: Endpoint{"w1", "web", "k1"}, To: Endpoint{"h2", "col", "r1"}},
		{From: Endpoint{"w1", "web", "k1"}, To: Endpoint{"h3", "col", "r1"}},
		{From: Endpoint{"w1", "web", "k1"}, To: Endpoint{"h4", "arc", "r1"}},
		{From: Endpoint{"w2", "web", "k1"}, To: Endpoint{"h2", "col", "r1"}},
	}}
	cases := []struct {
		name    string
		cols    []col
		cause   string      // host/agent/component
		also    string      // must be a cause too
		not     string      // must not be a cause
		symptom string      // must be a symptom
		first   string      // the first ranked metric, host/component/metric
		before  [][2]string // pairs of metrics ranked in this order
		// after: pairs of metrics of which at least one is ranked after
		// the first metric named (a twin listed later).
		after [][3]string
		// shared: every host is on one machine (Topology.Machine).
		shared bool
	}{
		{
			// More arriving at the web server does not explain less
			// arriving at the collector: the link between them broke.
			name: "rate sign",
			cols: []col{
				{ser("w1", "web", "r1", "source", "EventAcceptedRate"), func(i int, n float64) float64 { return step(i, 0, 1000, 1300) + 30*n }},
				{ser("h2", "col", "r1", "source", "EventReceivedRate"), func(i int, n float64) float64 { return step(i, 0, 1000, 40) + 30*n }},
			},
			cause: "h2/col/r1",
		},
		{
			// The web sink waits 300 ms more per batch; the collector's
			// sink is 0.5 ms slower: that does not explain it.
			name: "latency proportion",
			cols: []col{
				{ser("w1", "web", "k1", "sink", "batch_duration_p50_seconds"), func(i int, n float64) float64 { return step(i, 1, 0.001, 0.3) + 1e-5*n }},
				{ser("h2", "col", "k1", "sink", "batch_duration_p50_seconds"), func(i int, n float64) float64 { return step(i, 0, 0.0004, 0.0009) + 1e-5*n }},
				{ser("h2", "col", "r1", "source", "EventAcceptedRate"), func(i int, n float64) float64 { return 1000 + 30*n }},
			},
			cause: "w1/web/k1",
		},
		{
			// A channel reconfigured to a tiny capacity is set, not
			// caused: its agent's garbage collection after the reload
			// follows from it.
			name: "configuration",
			cols: []col{
				{ser("w1", "web", "c1", "channel", "ChannelCapacity"), func(i int, n float64) float64 { return step(i, 0, 100000, 200) }},
				{ser("w1", "web", "c1", "channel", "EventPutSuccessRate"), func(i int, n float64) float64 { return 1000 + 30*n }},
				{ser("w1", "web", "go", "runtime", "gc_cycles_per_second"), func(i int, n float64) float64 { return step(i, 0, 0.5, 8) + 0.2*n }},
			},
			cause: "w1/web/c1",
			not:   "w1/web/go",
		},
		{
			// A channel cut to a tiny capacity while, at once, a
			// collector's source slowed and both web servers' sinks
			// wait on it: the change someone made comes first, however
			// far the other spread.
			name: "configuration first",
			cols: []col{
				{ser("w1", "web", "c1", "channel", "ChannelCapacity"), func(i int, n float64) float64 { return step(i, 0, 100000, 200) }},
				{ser("w1", "web", "r1", "source", "ChannelWriteFailRate"), func(i int, n float64) float64 { return step(i, 2, 0, 10) }},
				{ser("h2", "col", "r1", "source", "put_duration_p99_seconds"), func(i int, n float64) float64 { return step(i, 0, 0.003, 0.08) + 1e-4*n }},
				{ser("w1", "web", "k1", "sink", "batch_duration_p99_seconds"), func(i int, n float64) float64 { return step(i, 1, 0.004, 0.09) + 1e-4*n }},
				{ser("w2", "web", "k1", "sink", "batch_duration_p99_seconds"), func(i int, n float64) float64 { return step(i, 1, 0.004, 0.09) + 1e-4*n }},
			},
			cause: "w1/web/c1",
		},
		{
			// The source fails to write into a channel that is not
			// filling (its disk is full): the channel refused, and the
			// sink behind it drains less because less comes in.
			name: "refusing channel",
			cols: []col{
				{ser("w1", "web", "r1", "source", "ChannelWriteFailRate"), func(i int, n float64) float64 { return step(i, 0, 0, 16) }},
				{ser("w1", "web", "c1", "channel", "EventPutSuccessRate"), func(i int, n float64) float64 { return step(i, 1, 1000, 0) + 30*n }},
				{ser("w1", "web", "c1", "channel", "EventTakeSuccessRate"), func(i int, n float64) float64 { return step(i, 1, 1000, 0) + 30*n }},
				{ser("w1", "web", "k1", "sink", "EventDrainSuccessRate"), func(i int, n float64) float64 { return step(i, 1, 1000, 0) + 30*n }},
				{ser("w1", "web", "k1", "sink", "batch_duration_p50_seconds"), func(i int, n float64) float64 { return gap(i, 1, wrows, 0.001+1e-5*n) }},
			},
			cause:   "w1/web/c1",
			not:     "w1/web/k1",
			symptom: "w1/web/r1",
			first:   "w1/r1/ChannelWriteFailRate",
		},
		{
			// The same, while the host's disk got busier at once: a busy
			// disk makes writes slow, not refused.
			name: "refusing on a busy disk",
			cols: []col{
				{ser("w1", "web", "r1", "source", "ChannelWriteFailRate"), func(i int, n float64) float64 { return step(i, 0, 0, 16) }},
				{ser("w1", "web", "c1", "channel", "EventPutSuccessRate"), func(i int, n float64) float64 { return step(i, 0, 1000, 0) + 30*n }},
				{ser("w1", "", "disk:vda", "host", "busy_percent"), func(i int, n float64) float64 { return step(i, 0, 14, 29) + 0.5*n }},
			},
			cause: "w1/web/c1",
		},
		{
			// The collector's sink is slower, and a second later the web
			// server's source accepts half as much, through a channel
			// that neither filled nor slowed: back-pressure would have
			// shown there first. The source's drop is its own.
			name: "back-pressure skipping a hop",
			cols: []col{
				{ser("h2", "col", "k1", "sink", "batch_duration_p99_seconds"), func(i int, n float64) float64 { return step(i, 0, 0.002, 0.025) + 1e-4*n }},
				{ser("w1", "web", "r1", "source", "EventAcceptedRate"), func(i int, n float64) float64 { return step(i, 12, 580, 284) + 10*n }},
				{ser("w1", "web", "c1", "channel", "ChannelFillPercentage"), func(i int, n float64) float64 { return 0.1 + 0.01*n }},
				{ser("w1", "web", "k1", "sink", "batch_duration_p99_seconds"), func(i int, n float64) float64 { return 0.004 + 1e-4*n }},
				{ser("h2", "col", "r1", "source", "put_duration_p99_seconds"), func(i int, n float64) float64 { return 0.001 + 1e-5*n }},
				{ser("h2", "col", "c1", "channel", "ChannelFillPercentage"), func(i int, n float64) float64 { return 0.1 + 0.01*n }},
			},
			cause: "h2/col/k1",
			also:  "w1/web/r1",
		},
		{
			// The web server's sink is held 300 ms per batch: both
			// receivers it feeds (a collector, an archiver) get less at once, and its channel fills
			// a little later. Every receiver getting less points at the
			// sender they share, not at a link; its own channel tells
			// the story before the collectors do.
			name: "sender held up",
			cols: []col{
				{ser("w1", "web", "k1", "sink", "batch_duration_p50_seconds"), func(i int, n float64) float64 { return step(i, 1, 0.001, 0.3) + 1e-5*n }},
				{ser("w1", "web", "k1", "sink", "EventDrainSuccessRate"), func(i int, n float64) float64 { return step(i, 1, 1800, 700) + 20*n }},
				{ser("h2", "col", "r1", "source", "EventReceivedRate"), func(i int, n float64) float64 { return step(i, 0, 900, 350) + 20*n }},
				{ser("h4", "arc", "r1", "source", "EventReceivedRate"), func(i int, n float64) float64 { return step(i, 0, 900, 350) + 20*n }},
				{ser("w1", "web", "c1", "channel", "ChannelFillPercentage"), func(i int, n float64) float64 { return step(i, 6, 0.1, 30) + 0.01*n }},
			},
			cause:   "w1/web/k1",
			symptom: "h2/col/r1",
			before:  [][2]string{{"w1/c1/ChannelFillPercentage", "h2/r1/EventReceivedRate"}},
		},
		{
			// The web server's input rises 15 % as its sink, mostly idle,
			// becomes 300 times slower: that much more load does not do
			// that, the sink was held up.
			name: "load out of proportion",
			cols: []col{
				{ser("w1", "web", "r1", "source", "EventAcceptedRate"), func(i int, n float64) float64 { return step(i, 0, 790, 910) + 8*n }},
				{ser("w1", "web", "k1", "sink", "batch_duration_p50_seconds"), func(i int, n float64) float64 { return step(i, 0, 0.001, 0.3) + 1e-5*n }},
				{ser("w1", "web", "c1", "channel", "EventPutSuccessRate"), func(i int, n float64) float64 { return step(i, 0, 790, 910) + 8*n }},
				{ser("w1", "web", "k1", "sink", "EventDrainSuccessRate"), func(i int, n float64) float64 { return step(i, 0, 790, 1100) + 8*n }},
			},
			cause:   "w1/web/k1",
			symptom: "",
		},
		{
			// One collector of two fed by the same web sink is slow: the
			// other takes what it cannot.
			name: "sibling",
			cols: []col{
				{ser("h2", "col", "k1", "sink", "batch_duration_p50_seconds"), func(i int, n float64) float64 { return step(i, 0, 0.001, 0.3) + 1e-5*n }},
				{ser("h2", "col", "r1", "source", "EventReceivedRate"), func(i int, n float64) float64 { return step(i, 1, 500, 20) + 20*n }},
				{ser("h2", "col", "c1", "channel", "ChannelFillPercentage"), func(i int, n float64) float64 { return 1 + 0.1*n }},
				{ser("h3", "col", "r1", "source", "EventReceivedRate"), func(i int, n float64) float64 { return step(i, 1, 500, 980) + 20*n }},
				{ser("w1", "web", "k1", "sink", "EventDrainSuccessRate"), func(i int, n float64) float64 { return 1000 + 30*n }},
			},
			cause:   "h2/col/k1",
			symptom: "h3/col/r1",
		},
		{
			// A collector killed and restarted: every series of its
			// agent goes missing at once, the process's first.
			name: "process gone a while",
			cols: []col{
				{ser("h2", "col", "process", "process", "cpu_user_seconds_per_second"), func(i int, n float64) float64 { return gap(i, 0, 20, 0.1+0.01*n) }},
				{ser("h2", "col", "process", "process", "cpu_system_seconds_per_second"), func(i int, n float64) float64 { return gap(i, 0, 20, 0.05+0.01*n) }},
				{ser("h2", "col", "k1", "sink", "batch_duration_p50_seconds"), func(i int, n float64) float64 { return gap(i, 0, 20, 0.001+1e-5*n) }},
				{ser("h2", "col", "k1", "sink", "EventDrainSuccessRate"), func(i int, n float64) float64 { return gap(i, 0, 20, 500+20*n) }},
				{ser("h2", "col", "r1", "source", "EventReceivedRate"), func(i int, n float64) float64 { return gap(i, 0, 20, 500+20*n) }},
				{ser("h3", "col", "r1", "source", "EventReceivedRate"), func(i int, n float64) float64 { return step(i, 0, 500, 980) + 20*n }},
				{ser("w1", "web", "k1", "sink", "EventDrainSuccessRate"), func(i int, n float64) float64 { return 1000 + 30*n }},
			},
			cause:   "h2/col/process",
			symptom: "h2/col/k1",
			// What the components moved, before the rest of what went
			// missing with them.
			before: [][2]string{
				{"h2/k1/EventDrainSuccessRate", "h2/k1/batch_duration_p50_seconds"},
				{"h2/r1/EventReceivedRate", "h2/k1/batch_duration_p50_seconds"},
			},
		},
		{
			// Both quantiles of the slow sink's batches tell one
			// change: the channel it fills comes before the second.
			name: "twins",
			cols: []col{
				{ser("w1", "web", "k1", "sink", "batch_duration_p50_seconds"), func(i int, n float64) float64 { return step(i, 0, 0.001, 0.3) + 1e-5*n }},
				{ser("w1", "web", "k1", "sink", "batch_duration_p99_seconds"), func(i int, n float64) float64 { return step(i, 0, 0.004, 0.3) + 1e-4*n }},
				{ser("w1", "web", "c1", "channel", "ChannelSize"), func(i int, n float64) float64 { return step(i, 1, 0, 268) + n }},
				{ser("w1", "web", "r1", "source", "EventAcceptedRate"), func(i int, n float64) float64 { return 1000 + 30*n }},
			},
			cause: "w1/web/k1",
			after: [][3]string{{"w1/c1/ChannelSize", "w1/k1/batch_duration_p50_seconds", "w1/k1/batch_duration_p99_seconds"}},
		},
		{
			// The link into collector h2 slowed: both web servers'
			// sinks wait on it alike. Shared with their peers, their
			// waiting is no cause, and it is the collector's symptom.
			name: "shared by the senders",
			cols: []col{
				{ser("w1", "web", "k1", "sink", "batch_duration_p50_seconds"), func(i int, n float64) float64 { return step(i, 0, 0.001, 0.15) + 1e-5*n }},
				{ser("w2", "web", "k1", "sink", "batch_duration_p50_seconds"), func(i int, n float64) float64 { return step(i, 0, 0.001, 0.15) + 1e-5*n }},
				{ser("h2", "col", "r1", "source", "EventReceivedRate"), func(i int, n float64) float64 { return step(i, 0, 1000, 150) + 30*n }},
			},
			cause:   "h2/col/r1",
			symptom: "w1/web/k1",
		},
		{
			// The agent's GC storms as its input rises 13 %: that much
			// more input does not make the process use 30 times the CPU.
			name: "cpu out of proportion",
			cols: []col{
				{ser("w1", "web", "r1", "source", "EventAcceptedRate"), func(i int, n float64) float64 { return step(i, 0, 790, 890) + 8*n }},
				{ser("w1", "web", "process", "process", "cpu_user_seconds_per_second"), func(i int, n float64) float64 { return step(i, 0, 0.04, 1.2) + 0.004*n }},
				{ser("w1", "web", "go", "runtime", "gc_cycles_per_second"), func(i int, n float64) float64 { return step(i, 0, 0.5, 60) + 0.2*n }},
				{ser("w1", "web", "go", "runtime", "gc_cpu_seconds_per_second"), func(i int, n float64) float64 { return step(i, 0, 0.002, 0.5) + 0.001*n }},
			},
			cause: "w1/web/go",
		},
		{
			// Seven times the events at the web server's source: its
			// puts slow down and its process works more. The load is
			// the cause, not the process.
			name: "load that slows",
			cols: []col{
				{ser("w1", "web", "r1", "source", "EventAcceptedRate"), func(i int, n float64) float64 { return step(i, 0, 820, 5700) + 20*n }},
				{ser("w1", "web", "r1", "source", "put_duration_p99_seconds"), func(i int, n float64) float64 { return step(i, 0, 0.0001, 0.004) + 1e-6*n }},
				{ser("w1", "web", "process", "process", "cpu_user_seconds_per_second"), func(i int, n float64) float64 { return step(i, 0, 0.04, 0.16) + 0.004*n }},
			},
			cause: "w1/web/r1",
			not:   "w1/web/process",
		},
		{
			// A busy process on host w1 takes 40 % of the machine that
			// w1 shares with h2: w1's sink slows, and so does h2's, by
			// more. Contention explains both; w1's own comes first.
			name: "contention on a shared machine",
			cols: []col{
				{ser("w1", "", "cpu", "host", "user_percent"), func(i int, n float64) float64 { return step(i, 0, 2, 42) + 0.5*n }},
				{ser("w1", "web", "k1", "sink", "batch_duration_p50_seconds"), func(i int, n float64) float64 { return step(i, 0, 0.001, 0.003) + 1e-5*n }},
				{ser("h2", "col", "k1", "sink", "batch_duration_p50_seconds"), func(i int, n float64) float64 { return step(i, 1, 0.001, 0.02) + 1e-5*n }},
				{ser("h2", "col", "r1", "source", "EventReceivedRate"), func(i int, n float64) float64 { return 1000 + 30*n }},
			},
			shared:  true,
			cause:   "w1/cpu",
			symptom: "h2/col/k1",
			before:  [][2]string{{"w1/k1/batch_duration_p50_seconds", "h2/k1/batch_duration_p50_seconds"}},
		},
		{
			// Five points more CPU on w1 do not make h2's sink 300 ms
			// slower, shared machine or not.
			name: "contention out of proportion",
			cols: []col{
				{ser("w1", "", "cpu", "host", "user_percent"), func(i int, n float64) float64 { return step(i, 0, 2, 7) + 0.2*n }},
				{ser("h2", "col", "k1", "sink", "batch_duration_p50_seconds"), func(i int, n float64) float64 { return step(i, 1, 0.001, 0.3) + 1e-5*n }},
				{ser("h2", "col", "r1", "source", "EventReceivedRate"), func(i int, n float64) float64 { return 1000 + 30*n }},
			},
			shared: true,
			cause:  "h2/col/k1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			var series []store.Series
			for _, c := range tc.cols {
				series = append(series, c.s)
			}
			in := input(brows, wrows, series, func(i, j int) float64 { return tc.cols[j].f(i, rng.NormFloat64()) })
			o := opts(brows, wrows)
			o.Topology = topo
			if tc.shared {
				o.Topology = &Topology{Edges: topo.Edges, Machine: map[string]string{"w1": "m", "w2": "m", "h2": "m", "h3": "m"}}
			}
			r := mustAnalyze(t, in, o)
			if len(r.Components) == 0 {
				t.Fatalf("no components: %q", r.Summary)
			}
			if m := r.Ranking[0]; tc.first != "" && m.Host+"/"+m.Component+"/"+m.Metric != tc.first {
				t.Errorf("first ranked %s/%s/%s, want %s", m.Host, m.Component, m.Metric, tc.first)
			}
			rank := map[string]int{}
			for _, m := range r.Ranking {
				rank[m.Host+"/"+m.Component+"/"+m.Metric] = m.Rank
			}
			for _, b := range tc.before {
				if x, y := rank[b[0]], rank[b[1]]; x == 0 || y == 0 || x > y {
					t.Errorf("%s ranked %d, %s %d: want the first before the second", b[0], x, b[1], y)
				}
			}
			for _, b := range tc.after {
				if x, y, z := rank[b[0]], rank[b[1]], rank[b[2]]; x == 0 || y == 0 || z == 0 || x > max(y, z) {
					t.Errorf("%s ranked %d, %s %d, %s %d: want the first before one of the others", b[0], x, b[1], y, b[2], z)
				}
			}
			if c := r.Components[0]; c.Name() != tc.cause || c.Role != RoleCause {
				t.Errorf("first component %s (%s), want the cause %s; summary %q", c.Name(), c.Role, tc.cause, r.Summary)
			}
			for _, c := range r.Components {
				if c.Name() == tc.not && c.Role == RoleCause {
					t.Errorf("%s is a cause too: %s", c.Name(), c.Why)
				}
				if c.Name() == tc.also && c.Role != RoleCause {
					t.Errorf("%s is %s, want a cause too: %s", c.Name(), c.Role, c.Why)
				}
				if c.Name() == tc.symptom && c.Role != RoleSymptom {
					t.Errorf("%s is %s, want a symptom: %s", c.Name(), c.Role, c.Why)
				}
			}
		})
	}
}

// TestExcursion: a brief spike larger than a sustained change the other
// way does not hide it (a rate at zero for minutes, with a burst as it
// catches up).
func TestExcursion(t *testing.T) {
	z := make([]float64, 40)
	for i := 5; i < 35; i++ {
		z[i] = -6 // sustained drop
	}
	z[36] = 20 // the catch-up burst
	up, dn := make([]int, len(z)+1), make([]int, len(z)+1)
	peak, sign, held := excursion(z, 4, 8, 4, up, dn)
	if !held || sign != -1 || z[peak] != -6 {
		t.Errorf("peak %d (z %v) sign %v sustained %v, want the drop", peak, z[peak], sign, held)
	}
	// Sustained both ways: the larger side.
	for i := 36; i < 40; i++ {
		z[i] = 20
	}
	if peak, sign, held = excursion(z, 4, 8, 4, up, dn); !held || sign != 1 || peak < 36 {
		t.Errorf("both sustained: peak %d sign %v sustained %v, want the rise", peak, sign, held)
	}
	// Neither: not sustained.
	clear(z)
	z[3], z[20] = 9, -5
	if _, _, held = excursion(z, 4, 8, 4, up, dn); held {
		t.Error("two spikes sustained")
	}
}
