package scenario

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vscope/vscope/datasets/faults"
	"github.com/vscope/vscope/vscope/diagnose"
)

// memberEnv makes the test binary a member process of the flow.
const memberEnv = "VSCOPE_SCENARIO_TEST_MEMBER"

func TestMain(m *testing.M) {
	if os.Getenv(memberEnv) == "1" {
		if err := faults.MemberMain(os.Args[1:], os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testConfig(t *testing.T) Config {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Config{Command: []string{exe}, Env: []string{memberEnv + "=1"}, Dir: t.TempDir()}
}

func checkRun(t *testing.T, r Run) {
	t.Helper()
	t.Logf("%s: truth %s top3 %v rank %d ac1 %v ac3 %v avg5 %.2f hr150 %.2f ttd %v status %s in %vs; metrics %v; err %q",
		r.Spec, r.Truth, r.Top3, r.Rank, r.AC1, r.AC3, r.Avg5, r.HitRate150, r.TTD, r.Status, r.Seconds, r.TopMetrics, r.Err)
	if r.Truth == "" {
		t.Fatalf("no truth: %+v", r)
	}
	if len(r.Top3) == 0 || len(r.TopMetrics) == 0 {
		t.Fatalf("no ranking: %+v", r)
	}
	for _, v := range []float64{r.AC1, r.AC3, r.Avg5, r.HitRate150} {
		if math.IsNaN(v) || v < 0 || v > 1 {
			t.Errorf("score %v out of [0,1]", v)
		}
	}
	if r.AC1 > r.AC3 {
		t.Errorf("ac1 %v > ac3 %v", r.AC1, r.AC3)
	}
}

// TestOneScenario runs one short scenario end to end: a flow, a fault, its
// truth, a diagnosis and the scores (not that the diagnosis is right).
func TestOneScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a flow of agent processes")
	}
	cfg := testConfig(t)
	cfg.Lead, cfg.Dur, cfg.After, cfg.Speed = time.Minute, time.Minute, 20*time.Second, 10
	r := RunCase(context.Background(), cfg, Case{Kind: faults.SlowSink, Placement: Collector, Seed: 1})
	checkRun(t, r)
	s := Summarize([]Run{r})
	if s.Runs != 1 || s.AC1 != r.AC1 || s.Avg5 != r.Avg5 {
		t.Errorf("summary %+v", s)
	}
}

// TestSuiteLong runs every kind at every placement (VSCOPE_TEST_LONG=1).
func TestSuiteLong(t *testing.T) {
	if os.Getenv("VSCOPE_TEST_LONG") != "1" {
		t.Skip("VSCOPE_TEST_LONG=1 runs the whole suite")
	}
	cfg := testConfig(t)
	var runs []Run
	for _, c := range Cases(faults.Kinds, []string{Tier1, Collector}, []uint64{1}) {
		r := RunCase(context.Background(), cfg, c)
		checkRun(t, r)
		runs = append(runs, r)
	}
	s := Summarize(runs)
	t.Logf("ac1 %.3f ac3 %.3f avg5 %.3f hitrate150 %.3f over %d runs", s.AC1, s.AC3, s.Avg5, s.HitRate150, s.Runs)
}

func TestMatches(t *testing.T) {
	tr := faults.Truth{Host: "web-01", Component: "cpu", Endpoint: "web-01/cpu"}
	if !Matches(tr, diagnoseComp("web-01", "", "cpu")) || !Matches(tr, diagnoseComp("web-01", "web", "cpu")) || Matches(tr, diagnoseComp("web-02", "", "cpu")) {
		t.Error("host-wide match")
	}
	tr = faults.Truth{Host: "col-01", Agent: "col", Component: "k1", Endpoint: "col-01/col/k1", Also: []string{"col-01/col/c1"}}
	if !Matches(tr, diagnoseComp("col-01", "col", "k1")) || !Matches(tr, diagnoseComp("col-01", "col", "c1")) || Matches(tr, diagnoseComp("col-01", "col", "r1")) {
		t.Error("component match")
	}
}

func diagnoseComp(host, agent, comp string) diagnose.ComponentResult {
	return diagnose.ComponentResult{Host: host, Agent: agent, Component: comp}
}

// TestScoreBySignal: two series of one signal hit once, a repeat takes a
// place and hits nothing, and only the expected metrics that moved count.
func TestScoreBySignal(t *testing.T) {
	m := func(host, agent, comp, kind, metric, change string) faults.Metric {
		return faults.Metric{Host: host, Agent: agent, Component: comp, Kind: kind, Metric: metric, Change: change}
	}
	tr := faults.Truth{Endpoint: "web-01/web/k1", Host: "web-01", Agent: "web", Component: "k1", Metrics: []faults.Metric{
		m("web-01", "web", "k1", "sink", "batch_duration_p99_seconds", "up"),
		m("web-01", "web", "k1", "sink", "batch_duration_p50_seconds", "up"),
		m("web-01", "web", "c1", "channel", "ChannelFillPercentage", "up"),
		m("web-01", "web", "k1", "sink", "EventDrainSuccessRate", "down"),
	}}
	ranked := func(ids ...string) *diagnose.Result {
		d := &diagnose.Result{Components: []diagnose.ComponentResult{diagnoseComp("web-01", "web", "k1")}}
		for _, id := range ids {
			var h, a, c, x string
			fmt.Sscanf(id, "%s %s %s %s", &h, &a, &c, &x)
			d.Ranking = append(d.Ranking, diagnose.RankedMetric{Host: h, Agent: a, Component: c, Metric: x})
		}
		return d
	}
	var r Run
	// p50 hits the batch duration, p99 repeats it, the channel's size
	// is its fill: 3 signals expected, hits at 1 and 3.
	d := ranked("web-01 web k1 batch_duration_p50_seconds", "web-01 web k1 batch_duration_p99_seconds",
		"web-01 web c1 ChannelSize", "web-02 web k1 BatchEmptyRate", "web-01 web go heap_goal_bytes")
	Score(d, []faults.Truth{tr}, tr.Metrics, &r)
	want := (1 + 1.0/2 + 2.0/3 + 2.0/3 + 2.0/3) / 5
	if math.Abs(r.Avg5-want) > 1e-9 {
		t.Errorf("avg5 %v, want %v", r.Avg5, want)
	}
	// By name: p50 and p99 are hits, the size is not the fill.
	if want := (1 + 1 + 2.0/3 + 2.0/4 + 2.0/4) / 5; math.Abs(r.Avg5Series-want) > 1e-9 {
		t.Errorf("avg5 by series %v, want %v", r.Avg5Series, want)
	}
	if r.AC1 != 1 || r.Expected != 4 || r.Observed != 4 {
		t.Errorf("ac1 %v expected %d observed %d", r.AC1, r.Expected, r.Observed)
	}
	// Only the batch duration moved: one signal, ranked first.
	Score(d, []faults.Truth{tr}, tr.Metrics[:2], &r)
	if r.Avg5 != 1 || r.Observed != 2 || len(r.Moved) != 2 {
		t.Errorf("moved only: avg5 %v observed %d moved %v", r.Avg5, r.Observed, r.Moved)
	}
	// A killed agent: every series of it is the one fact.
	gone := faults.Truth{Endpoint: "col-01/col/process", Host: "col-01", Agent: "col", Component: "process", Metrics: []faults.Metric{
		m("col-01", "col", "process", "process", "cpu_user_seconds_per_second", "absent"),
		m("col-01", "col", "r1", "source", "EventAcceptedRate", "absent"),
		m("col-02", "col", "r1", "source", "EventAcceptedRate", "up"),
	}}
	d = ranked("col-01 col process cpu_system_seconds_per_second", "col-01 col k1 EventDrainSuccessRate", "col-02 col c1 EventPutSuccessRate")
	Score(d, []faults.Truth{gone}, gone.Metrics, &r)
	if want := (1 + 1.0/2 + 2.0/2 + 2.0/2 + 2.0/2) / 5; math.Abs(r.Avg5-want) > 1e-9 {
		t.Errorf("gone: avg5 %v, want %v", r.Avg5, want)
	}
}

// TestPairs: every case gets a partner of another kind that has a place
// on the second host, partners differ between seeds, and the specs put the
// second fault on web-02 or col-02 PairDelay later.
func TestPairs(t *testing.T) {
	kinds, places := faults.Kinds, []string{Tier1, Collector}
	one := Cases(kinds, places, []uint64{1})
	pairs := Pairs(kinds, places, []uint64{1, 2})
	if len(pairs) != 2*len(one) {
		t.Fatalf("%d pairs for %d cases x 2 seeds", len(pairs), len(one))
	}
	differ := 0
	for i, p := range pairs {
		if p.With == "" || p.With == p.Kind || target(p.With, p.WithPlacement, true) == "" {
			t.Errorf("%s: bad partner", p)
		}
		if i < len(one) && (p.With != pairs[i+len(one)].With || p.WithPlacement != pairs[i+len(one)].WithPlacement) {
			differ++
		}
	}
	if differ == 0 {
		t.Error("seeds 1 and 2 pair every case alike")
	}
	cfg := Config{}
	cfg.defaults()
	specs, err := caseSpecs(cfg, Case{Kind: faults.SlowSink, Placement: Collector, Seed: 1, With: faults.GCStorm, WithPlacement: Tier1})
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || specs[0].Target != "col-01/k1" || specs[1].Target != "web-02" || specs[1].Start-specs[0].Start != PairDelay {
		t.Errorf("specs %+v", specs)
	}
}

// TestScorePair: with two faults AC@1 is either found first, AC@3 the
// share found among the first three components.
func TestScorePair(t *testing.T) {
	a := faults.Truth{Endpoint: "col-01/col/k1", Host: "col-01", Agent: "col", Component: "k1",
		Metrics: []faults.Metric{{Host: "col-01", Agent: "col", Component: "k1", Kind: "sink", Metric: "batch_duration_p99_seconds", Change: "up"}}}
	b := faults.Truth{Endpoint: "web-02/cpu", Host: "web-02", Component: "cpu",
		Metrics: []faults.Metric{{Host: "web-02", Component: "cpu", Kind: "host", Metric: "user_percent", Change: "up"}}}
	d := &diagnose.Result{
		Components: []diagnose.ComponentResult{diagnoseComp("web-02", "", "cpu"), diagnoseComp("web-01", "web", "k1"), diagnoseComp("col-02", "col", "k1")},
		Ranking:    []diagnose.RankedMetric{{Host: "web-02", Component: "cpu", Metric: "user_percent"}},
	}
	var r Run
	Score(d, []faults.Truth{a, b}, append(a.Metrics, b.Metrics...), &r)
	if r.AC1 != 1 || r.AC3 != 0.5 || r.Rank != 1 || !slices.Equal(r.Ranks, []int{0, 1}) || len(r.Truths) != 2 {
		t.Errorf("one of two found first: ac1 %v ac3 %v rank %d ranks %v truths %v", r.AC1, r.AC3, r.Rank, r.Ranks, r.Truths)
	}
	d.Components[2] = diagnoseComp("col-01", "col", "k1")
	Score(d, []faults.Truth{a, b}, append(a.Metrics, b.Metrics...), &r)
	if r.AC3 != 1 || !slices.Equal(r.Ranks, []int{3, 1}) || math.Abs(r.Avg5-(1+4*0.5)/5) > 1e-9 {
		t.Errorf("both found: ac3 %v ranks %v avg5 %v", r.AC3, r.Ranks, r.Avg5)
	}
}
