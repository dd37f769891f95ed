package planner_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vscope/vscope/dpg/cost"
	"github.com/vscope/vscope/dpg/model"
	"github.com/vscope/vscope/dpg/planner"
)

// TestExactMatchesBruteForce checks the exact solver against a plain
// enumeration of every plan of the option's shape, each priced by
// cost.Evaluate, on tiny random instances.
func TestExactMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	instances := 120
	if raceEnabled {
		instances = 30
	}
	checked := map[cost.Kind]int{}
	for it := range instances {
		n := 2 + rng.IntN(5) // 2..6 hosts
		topo, ccfg := randomInstance(rng, n)
		in, err := model.Compile(topo)
		if err != nil {
			t.Fatalf("instance %d: %v", it, err)
		}
		m, err := cost.NewModel(in, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg := planner.DefaultConfig()
		cfg.Config = ccfg
		cfg.Method = planner.MethodExact
		cfg.FanOuts = []int{2, 3, 4, 8}
		cfg.ReuseFanOut = 2 + rng.IntN(3)
		for _, o := range planner.Options(m, cfg) {
			out := planner.PlanOption(m, cfg, o)
			if out.Err != nil {
				continue // deeper than one level of aggregators
			}
			if out.Note != "" {
				t.Fatalf("instance %d %s: %s", it, o, out.Note)
			}
			bf, bfOK := bruteForce(t, m, out.Option)
			switch {
			case out.Eval.Feasible() != bfOK:
				t.Fatalf("instance %d %s: exact feasible %v, brute force %v (%v)", it, o, out.Eval.Feasible(), bfOK, out.Eval.Violations)
			case bfOK && math.Abs(out.Eval.Total-bf) > 1e-9*math.Max(1, bf):
				t.Fatalf("instance %d %s: exact %.12g, brute force %.12g", it, o, out.Eval.Total, bf)
			case math.Abs(out.Claimed-out.Eval.Total) > 1e-9*math.Max(1, out.Eval.Total):
				t.Fatalf("instance %d %s: exact claims %.12g, Evaluate says %.12g", it, o, out.Claimed, out.Eval.Total)
			}
			checked[o.Kind]++
			if !bfOK {
				checked["(infeasible)"]++
			}
		}
	}
	t.Logf("options checked: %v", checked)
	for _, k := range []cost.Kind{cost.Centralized, cost.Hierarchical, cost.PerFlow, cost.Reuse} {
		if checked[k] == 0 {
			t.Errorf("no %s option checked", k)
		}
	}
}

// bruteForce is the cheapest feasible plan of option o by enumeration.
func bruteForce(t *testing.T, m *cost.Model, o planner.Option) (float64, bool) {
	best, ok := math.Inf(1), false
	try := func(p *cost.Plan) {
		e, err := cost.Evaluate(m, p)
		if err != nil {
			t.Fatalf("brute force plan: %v", err)
		}
		if e.Feasible() && e.Total < best {
			best, ok = e.Total, true
		}
	}
	units := m.Units(o.Kind)
	root := cost.Node{Role: cost.RoleRoot, Host: m.In.Root, Parent: -1, Unit: -1, Flow: -1}
	all := make([]int, len(units))
	for i := range all {
		all[i] = i
	}
	switch o.Kind {
	case cost.Centralized:
		p := &cost.Plan{Kind: o.Kind, Nodes: []cost.Node{root}}
		addStar(p, units, all, 0, -1)
		try(p)
	case cost.Hierarchical:
		depth := depthOf(len(units), o.FanOut)
		if depth == 1 {
			p := &cost.Plan{Kind: o.Kind, FanOut: o.FanOut, Nodes: []cost.Node{root}}
			addStar(p, units, all, 0, -1)
			try(p)
			break
		}
		partitions(all, o.FanOut, o.FanOut, func(blocks [][]int, leaders []int) {
			p := &cost.Plan{Kind: o.Kind, FanOut: o.FanOut, Nodes: []cost.Node{root}}
			addBlocks(p, units, blocks, leaders, 0, -1)
			try(p)
		})
	case cost.PerFlow:
		var flows [][]int
		for i, u := range units {
			for int(u.Flow) >= len(flows) {
				flows = append(flows, nil)
			}
			flows[u.Flow] = append(flows[u.Flow], i)
		}
		var rec func(f int, nodes []cost.Node)
		rec = func(f int, nodes []cost.Node) {
			if f == len(flows) {
				try(&cost.Plan{Kind: o.Kind, FanOut: o.FanOut, Nodes: append([]cost.Node(nil), nodes...)})
				return
			}
			us := flows[f]
			if len(us) == 0 {
				rec(f+1, nodes)
				return
			}
			seen := map[int32]bool{}
			for _, i := range us {
				r := units[i].Host
				if seen[r] {
					continue
				}
				seen[r] = true
				p := &cost.Plan{Nodes: append(append([]cost.Node(nil), nodes...),
					cost.Node{Role: cost.RoleFlowRoot, Host: r, Parent: 0, Unit: -1, Flow: int32(f)})}
				fr := int32(len(p.Nodes) - 1)
				if len(us) <= o.FanOut {
					addStar(p, units, us, fr, int32(f))
					rec(f+1, p.Nodes)
					continue
				}
				partitions(us, o.FanOut, o.FanOut, func(blocks [][]int, leaders []int) {
					q := &cost.Plan{Nodes: append([]cost.Node(nil), p.Nodes...)}
					addBlocks(q, units, blocks, leaders, fr, int32(f))
					rec(f+1, q.Nodes)
				})
			}
		}
		rec(0, []cost.Node{root})
	case cost.Reuse:
		byHost := map[int32]int{}
		for i, u := range units {
			byHost[u.Host] = i
		}
		type fixed struct {
			host    int32
			members []int
		}
		var fixedGroups []fixed
		taken := map[int]bool{}
		for _, a := range m.In.ExistingAggs {
			f := fixed{host: a.Host}
			for _, c := range a.Children {
				if i, ok := byHost[c]; ok {
					f.members = append(f.members, i)
					taken[i] = true
				}
			}
			fixedGroups = append(fixedGroups, f)
		}
		var free []int
		for i := range units {
			if !taken[i] {
				free = append(free, i)
			}
		}
		// Each free unit goes to a fixed group or to the new ones.
		choice := make([]int, len(free))
		var rec func(i int)
		rec = func(i int) {
			if i < len(free) {
				for c := -1; c < len(fixedGroups); c++ {
					choice[i] = c
					rec(i + 1)
				}
				return
			}
			groups := make([][]int, len(fixedGroups))
			var rest []int
			for j, f := range fixedGroups {
				groups[j] = append([]int(nil), f.members...)
			}
			for j, c := range choice {
				if c < 0 {
					rest = append(rest, free[j])
				} else {
					groups[c] = append(groups[c], free[j])
				}
			}
			for j := range groups {
				if len(groups[j]) > max(o.FanOut, len(fixedGroups[j].members)) {
					return
				}
			}
			partitions(rest, o.FanOut, 0, func(blocks [][]int, leaders []int) {
				p := &cost.Plan{Kind: o.Kind, FanOut: o.FanOut, Nodes: []cost.Node{root}}
				for j, g := range groups {
					if len(g) == 0 {
						continue
					}
					p.Nodes = append(p.Nodes, cost.Node{Role: cost.RoleAggregator, Host: fixedGroups[j].host, Parent: 0, Unit: -1, Flow: -1})
					addStar(p, units, g, int32(len(p.Nodes)-1), -1)
				}
				addBlocks(p, units, blocks, leaders, 0, -1)
				try(p)
			})
		}
		rec(0)
	}
	return best, ok
}

func depthOf(n, k int) int {
	d, c := 1, k
	for c < n {
		d, c = d+1, c*k
	}
	return d
}

func addStar(p *cost.Plan, units []cost.Unit, us []int, parent, flow int32) {
	for _, i := range us {
		p.Nodes = append(p.Nodes, cost.Node{Role: cost.RoleLeaf, Host: units[i].Host, Parent: parent, Unit: int32(i), Flow: flow})
	}
}

func addBlocks(p *cost.Plan, units []cost.Unit, blocks [][]int, leaders []int, parent, flow int32) {
	for b, blk := range blocks {
		if len(blk) == 1 {
			addStar(p, units, blk, parent, flow)
			continue
		}
		p.Nodes = append(p.Nodes, cost.Node{Role: cost.RoleAggregator, Host: units[blk[leaders[b]]].Host, Parent: parent, Unit: -1, Flow: flow})
		addStar(p, units, blk, int32(len(p.Nodes)-1), flow)
	}
}

// partitions calls fn with every partition of us into blocks of at most k
// (at most maxBlocks blocks when > 0) and every choice of leader per block.
func partitions(us []int, k, maxBlocks int, fn func(blocks [][]int, leaders []int)) {
	var blocks [][]int
	var rec func(i int)
	rec = func(i int) {
		if i == len(us) {
			leaders := make([]int, len(blocks))
			var lead func(b int)
			lead = func(b int) {
				if b == len(blocks) {
					fn(blocks, leaders)
					return
				}
				for l := range blocks[b] {
					leaders[b] = l
					lead(b + 1)
				}
			}
			lead(0)
			return
		}
		for b := range blocks {
			if len(blocks[b]) < k {
				blocks[b] = append(blocks[b], us[i])
				rec(i + 1)
				blocks[b] = blocks[b][:len(blocks[b])-1]
			}
		}
		if maxBlocks == 0 || len(blocks) < maxBlocks {
			blocks = append(blocks, []int{us[i]})
			rec(i + 1)
			blocks = blocks[:len(blocks)-1]
		}
	}
	rec(0)
}
