package cost_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vscope/vscope/dpg/cost"
	"github.com/vscope/vscope/dpg/model"
)

// tiny is two hosts in one rack and the root in another: a emits 1000
// series at 1 Hz x 50 B, b 460 series; the root's ingest is 50 MB/s.
func tiny(t *testing.T, aSeries int) (*cost.Model, map[string]int32) {
	t.Helper()
	topo := &model.Topology{Root: "s",
		Defaults: model.Defaults{Metrics: map[string]model.Metrics{"*": {RateHz: 1, BytesPerSample: 50}}},
		Network: model.Network{
			Host: model.LinkSpec{Cost: 1, Latency: model.Duration(1e6)},
			Rack: model.LinkSpec{Cost: 3, Latency: model.Duration(1e6)},
		},
		Hosts: []model.Host{
			{Name: "a", Rack: "r1", Metrics: model.Metrics{Series: aSeries}, Agents: []model.Agent{{Name: "x", Components: []model.Component{{Name: "r", Kind: "source", Metrics: model.Metrics{Series: 40}}}}}},
			{Name: "b", Rack: "r1", Metrics: model.Metrics{Series: 420}, Agents: []model.Agent{{Name: "x", Components: []model.Component{{Name: "r", Kind: "source", Metrics: model.Metrics{Series: 40}}}}}},
			{Name: "s", Rack: "r2", Metrics: model.Metrics{Series: -1}, Capacity: model.Capacity{Ingest: 50e6}},
		},
	}
	in, err := model.Compile(topo)
	if err != nil {
		t.Fatal(err)
	}
	m, err := cost.NewModel(in, cost.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	idx := map[string]int32{}
	for _, n := range []string{"a", "b", "s"} {
		idx[n], _ = in.HostIndex(n)
	}
	return m, idx
}

func centralized(m *cost.Model, idx map[string]int32) *cost.Plan {
	p := &cost.Plan{Kind: cost.Centralized, Nodes: []cost.Node{{Role: cost.RoleRoot, Host: idx["s"], Parent: -1, Unit: -1, Flow: -1}}}
	for i, u := range m.Units(cost.Centralized) {
		p.Nodes = append(p.Nodes, cost.Node{Role: cost.RoleLeaf, Host: u.Host, Parent: 0, Unit: int32(i), Flow: -1})
	}
	return p
}

func TestEvaluateCentralized(t *testing.T) {
	m, idx := tiny(t, 960)
	e, err := cost.Evaluate(m, centralized(m, idx))
	if err != nil {
		t.Fatal(err)
	}
	// a: 1000 series x 50 B x keep 0.8 = 40 kB/s; b: 460 x 50 x 0.8 = 18.4 kB/s.
	want := (1000 + 460) * 50 * 0.8
	if math.Abs(e.HostBytes-want) > 1e-6 || math.Abs(e.RootIngest-want) > 1e-6 {
		t.Errorf("host bytes %v, root ingest %v, want %v", e.HostBytes, e.RootIngest, want)
	}
	// Each byte crosses NIC (1), rack uplink (3), rack uplink (3), NIC (1).
	if math.Abs(e.LinkBytes-8*want) > 1e-6 {
		t.Errorf("link bytes %v, want %v", e.LinkBytes, 8*want)
	}
	// Depth 1 x (1 s sample interval + 4 ms to the root).
	if e.Depth != 1 || math.Abs(e.Delay-1.004) > 1e-9 {
		t.Errorf("depth %d delay %v", e.Depth, e.Delay)
	}
	if e.Nodes != 3 || e.NewNodes != 2 || !e.Feasible() {
		t.Errorf("nodes %d new %d violations %v", e.Nodes, e.NewNodes, e.Violations)
	}
	sum := e.CostBytes + e.CostCPU + e.CostMemory + e.CostDelay + e.CostNodes
	if math.Abs(sum-e.Total) > 1e-12 || math.Abs(e.CostBytes-8*want*1e-6) > 1e-12 {
		t.Errorf("terms %v %v sum %v total %v", e.CostBytes, 8*want*1e-6, sum, e.Total)
	}
	// The base cost and the edges make up the total (what planners use).
	c := m.BaseCost(cost.Centralized) + m.DelayCost(cost.Centralized, 1)
	rp, rm := m.RootInput(want)
	c += m.ResourceCost(rp, rm)
	for _, u := range m.Units(cost.Centralized) {
		c += m.EdgeCost(u.Host, idx["s"], u.Leaf.Summary)
	}
	if math.Abs(c-e.Total) > 1e-9 {
		t.Errorf("base + edges %v, Evaluate %v", c, e.Total)
	}
}

func TestViolationNamed(t *testing.T) {
	// a emits 1,825,000 series x 50 B x 0.8 = 73 MB/s, over the root's 50 MB/s.
	m, idx := tiny(t, 1825000-40)
	e, err := cost.Evaluate(m, centralized(m, idx))
	if err != nil {
		t.Fatal(err)
	}
	if e.Feasible() {
		t.Fatal("no violation")
	}
	var got []string
	for _, v := range e.Violations {
		got = append(got, v.String())
	}
	want := "node s ingest capacity 50 MB/s exceeded: 73 MB/s"
	found := false
	for _, g := range got {
		found = found || g == want
	}
	if !found {
		t.Errorf("violations %q lack %q", got, want)
	}
}

func TestWatchLeaf(t *testing.T) {
	m, _ := tiny(t, 960)
	u := m.Units(cost.Hierarchical)[0] // a: one component plus host metrics
	ops := m.Ops()
	// One component, 10 s windows of 128 B.
	if math.Abs(u.Leaf.Summary-12.8) > 1e-12 {
		t.Errorf("summary %v", u.Leaf.Summary)
	}
	// Alarms: 1 component x 0.001 per window / 10 s x scope 3 x 40 kB/s x 30 s.
	alarm := 1 * 0.001 / 10 * 3 * (1000 * 50 * 0.8) * 30
	if math.Abs(u.Leaf.Alarm-alarm) > 1e-9 {
		t.Errorf("alarm %v want %v", u.Leaf.Alarm, alarm)
	}
	pf := ops.WatchLeaf(u.Load, true)
	if math.Abs(pf.Alarm-alarm*0.3/3) > 1e-9 {
		t.Errorf("per-flow alarm %v want %v", pf.Alarm, alarm*0.1)
	}
	out, _, _ := ops.Merge(1e6)
	if out != ops.MergeCap() || math.Abs(out-(1024+8*128)/10.0) > 1e-12 {
		t.Errorf("merge cap %v", out)
	}
}

func TestBadPlans(t *testing.T) {
	m, idx := tiny(t, 960)
	f := func(name string, mutate func(p *cost.Plan)) {
		t.Helper()
		p := centralized(m, idx)
		mutate(p)
		if _, err := cost.Evaluate(m, p); !errors.Is(err, cost.ErrBadPlan) {
			t.Errorf("%s: %v", name, err)
		}
	}
	f("root not first", func(p *cost.Plan) { p.Nodes[0].Role = cost.RoleLeaf })
	f("parent after child", func(p *cost.Plan) { p.Nodes[1].Parent = 2 })
	f("repeated unit", func(p *cost.Plan) { p.Nodes[2].Unit = p.Nodes[1].Unit; p.Nodes[2].Host = p.Nodes[1].Host })
	f("missing unit", func(p *cost.Plan) { p.Nodes = p.Nodes[:2] })
	f("leaf with children", func(p *cost.Plan) { p.Nodes[2].Parent = 1 })
	f("empty aggregator", func(p *cost.Plan) {
		p.Nodes = append(p.Nodes, cost.Node{Role: cost.RoleAggregator, Host: idx["a"], Parent: 0, Unit: -1, Flow: -1})
	})
}

func TestWeightsAndConfig(t *testing.T) {
	w := cost.DefaultWeights()
	if err := cost.ParseWeights("bytes=2, delay=0.5,node=0", &w); err != nil {
		t.Fatal(err)
	}
	if w.Bytes != 2 || w.Delay != 0.5 || w.Node != 0 || w.CPU != 1 {
		t.Errorf("weights %+v", w)
	}
	if got := w.String(); got != "bytes=2,cpu=1,memory=0.1,delay=0.5,node=0" {
		t.Errorf("String %q", got)
	}
	for _, bad := range []string{"bytes", "speed=1", "cpu=-1", "cpu=x"} {
		if err := cost.ParseWeights(bad, &w); err == nil {
			t.Errorf("ParseWeights(%q): no error", bad)
		}
	}
	c := cost.DefaultConfig()
	c.LinkShare = 0
	c.Operators.Filter.Keep = 2
	c.Operators.Detect.Method = "magic"
	err := c.Normalize()
	for _, w := range []string{"link_share", "operators.filter.keep", "operators.detect.method"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Normalize: %v lacks %s", err, w)
		}
	}
}
