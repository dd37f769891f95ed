package planner_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/vscope/vscope/dpg/cost"
	"github.com/vscope/vscope/dpg/model"
)

// randomInstance builds a random topology of n monitored hosts plus a
// store host (the root): 1-4 racks in 1-2 sites, 1-3 collectors with a
// flow each, random metric sources, capacities (a quarter of them tight),
// link costs and bandwidths (some tight), sometimes a deployed
// aggregator, and random weights.
func randomInstance(rng *rand.Rand, n int) (*model.Topology, cost.Config) {
	racks := 1 + rng.IntN(min(4, n))
	sites := 1
	if racks >= 2 && rng.IntN(2) == 0 {
		sites = 2
	}
	t := &model.Topology{Name: fmt.Sprintf("random %d hosts", n), Root: "store"}
	pick := func(xs ...float64) float64 { return xs[rng.IntN(len(xs))] }
	capacity := func() model.Capacity {
		if rng.IntN(4) > 0 {
			return model.Capacity{}
		}
		return model.Capacity{
			CPU:    pick(0.0002, 0.001, 0.01, 1),
			Memory: model.Bytes(pick(6<<20, 8<<20, 64<<20, 1<<30)),
			Ingest: model.ByteRate(pick(200, 1e3, 5e3, 1e6)),
		}
	}
	for i := range n {
		r := rng.IntN(racks)
		if i == 0 {
			r = 0
		}
		h := model.Host{Name: fmt.Sprintf("h%02d", i), Rack: fmt.Sprintf("r%d", r), Site: fmt.Sprintf("s%d", r%sites), Capacity: capacity(),
			Metrics: model.Metrics{Series: 5 + rng.IntN(60)}}
		for a := range 1 + rng.IntN(2) {
			ag := model.Agent{Name: fmt.Sprintf("a%d", a)}
			for _, c := range []struct{ name, kind string }{{"r1", "source"}, {"c1", "channel"}, {"k1", "sink"}} {
				ag.Components = append(ag.Components, model.Component{Name: c.name, Kind: c.kind,
					Metrics: model.Metrics{Series: 3 + rng.IntN(30), RateHz: pick(0.2, 1, 1, 5), BytesPerSample: pick(8, 16, 32)}})
			}
			h.Agents = append(h.Agents, ag)
		}
		t.Hosts = append(t.Hosts, h)
	}
	rootRack := "r0"
	if rng.IntN(2) == 0 {
		rootRack = "rstore"
	}
	t.Hosts = append(t.Hosts, model.Host{Name: "store", Rack: rootRack, Site: "s0", Metrics: model.Metrics{Series: -1},
		Capacity: model.Capacity{CPU: pick(0.001, 1, 8), Ingest: model.ByteRate(pick(5e3, 2e4, 1e8))}})
	cols := 1 + rng.IntN(min(3, n))
	for c := range cols {
		col := fmt.Sprintf("h%02d", c)
		f := model.Flow{Name: "to-" + col}
		f.Edges = append(f.Edges, model.Edge{From: col + "/a0/r1", To: col + "/a0/c1"}, model.Edge{From: col + "/a0/c1", To: col + "/a0/k1"})
		for i := cols; i < n; i++ {
			if i%cols != c {
				continue
			}
			p := fmt.Sprintf("h%02d/a0/", i)
			f.Edges = append(f.Edges, model.Edge{From: p + "r1", To: p + "c1"}, model.Edge{From: p + "c1", To: p + "k1"}, model.Edge{From: p + "k1", To: col + "/a0/r1"})
		}
		t.Flows = append(t.Flows, f)
	}
	t.Network = model.Network{
		Host: model.LinkSpec{Cost: pick(0.5, 1, 2), Bandwidth: model.ByteRate(pick(1.25e9, 1e5))},
		Rack: model.LinkSpec{Cost: pick(1, 2, 5, 10), Bandwidth: model.ByteRate(pick(5e9, 2e5, 4e4))},
		Site: model.LinkSpec{Cost: pick(5, 20, 50), Bandwidth: model.ByteRate(pick(1.25e9, 1e5))},
	}
	if rng.IntN(3) == 0 {
		t.Network.Links = append(t.Network.Links, model.LinkOverride{Node: "r0", LinkSpec: model.LinkSpec{Cost: pick(0.5, 20)}})
	}
	if rng.IntN(3) == 0 {
		e := model.ExistingNode{Host: fmt.Sprintf("h%02d", rng.IntN(n)), Role: model.RoleAggregator}
		for i := range n {
			if rng.IntN(2) == 0 || fmt.Sprintf("h%02d", i) == e.Host {
				e.Children = append(e.Children, fmt.Sprintf("h%02d", i))
			}
		}
		t.Existing = append(t.Existing, e)
	}
	cfg := cost.DefaultConfig()
	cfg.Weights = cost.Weights{Bytes: pick(0.1, 1, 10, 100), CPU: pick(0.1, 1, 10), Memory: pick(0, 0.1, 1),
		Delay: pick(0, 0.0001, 0.001, 0.01), Node: pick(0, 0.0005, 0.005)}
	cfg.LinkShare = pick(0.05, 0.5)
	return t, cfg
}
