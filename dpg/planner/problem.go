package planner

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/vscope/vscope/dpg/cost"
)

// thoroughUnits is the size of an option (in leaf units) up to which
// small levels get the thorough local search.
const thoroughUnits = 4096

// depthFor is the depth of a tree of fan-out k over n leaves: the least D
// with k^D >= n, at least 1.
func depthFor(n, k int) int {
	d, cap := 1, k
	for cap < n {
		d++
		cap *= k
	}
	return d
}

func ipow(k, d, limit int) int {
	v := 1
	for range d {
		v *= k
		if v >= limit {
			return limit
		}
	}
	return v
}

// problem is an option turned into levels.
type problem struct {
	m       *cost.Model
	cfg     Config
	opt     Option
	c       *costs
	depth   int
	exactOK bool
	// trees: one per flow for per-flow, else one.
	trees []treeSpec
}

// treeSpec is a tree to build: its units, depth, and parent candidates.
type treeSpec struct {
	units   []lunit
	depth   int // levels below the parent
	flow    int32
	parents []int32 // hosts; the root for non-flow trees
	fixed   []fixedGroup
}

func newProblem(m *cost.Model, cfg Config, o Option) (*problem, error) {
	kind := o.Kind
	pb := &problem{m: m, cfg: cfg, opt: o, c: newCosts(m, kind), exactOK: true}
	all := func() []int32 {
		idx := make([]int32, len(m.Units(kind)))
		for i := range idx {
			idx[i] = int32(i)
		}
		return idx
	}
	root := []int32{m.In.Root}
	switch kind {
	case cost.Centralized:
		us := leafUnits(m, kind, all())
		pb.trees = []treeSpec{{units: us, depth: 1, flow: -1, parents: root}}
		pb.depth = 1
	case cost.Hierarchical:
		if o.FanOut < 2 {
			return nil, fmt.Errorf("%s: fan-out must be >= 2", o)
		}
		us := leafUnits(m, kind, all())
		d := depthFor(len(us), o.FanOut)
		pb.trees = []treeSpec{{units: us, depth: d, flow: -1, parents: root}}
		pb.depth = d
	case cost.PerFlow:
		if o.FanOut < 2 {
			return nil, fmt.Errorf("%s: fan-out must be >= 2", o)
		}
		for f, idx := range flowUnits(m) {
			if len(idx) == 0 {
				continue
			}
			us := leafUnits(m, kind, idx)
			d := depthFor(len(us), o.FanOut)
			var hosts []int32
			seen := map[int32]bool{}
			for _, u := range us {
				if !seen[u.host] {
					seen[u.host] = true
					hosts = append(hosts, u.host)
				}
			}
			pb.trees = append(pb.trees, treeSpec{units: us, depth: d, flow: int32(f), parents: hosts})
			pb.depth = max(pb.depth, d+1)
		}
	case cost.Reuse:
		if !hasReuse(m) {
			return nil, errors.New("reuse: no deployed aggregator watches a host of this topology")
		}
		us := leafUnits(m, kind, all())
		byHost := map[int32]int{}
		for i, u := range us {
			byHost[u.host] = i
		}
		var fixed []fixedGroup
		for _, a := range m.In.ExistingAggs {
			fg := fixedGroup{host: a.Host}
			for _, ch := range a.Children {
				if i, ok := byHost[ch]; ok {
					fg.members = append(fg.members, i)
				}
			}
			fg.room = max(0, o.FanOut-len(fg.members))
			fixed = append(fixed, fg)
		}
		pb.trees = []treeSpec{{units: us, depth: 2, flow: -1, parents: root, fixed: fixed}}
		pb.depth = 2
	default:
		return nil, fmt.Errorf("%w: unknown topology %q", ErrBadOption, kind)
	}
	for _, t := range pb.trees {
		if t.depth > 2 || len(t.units) > cfg.ExactMaxUnits {
			pb.exactOK = false
		}
	}
	return pb, nil
}

// parentSpecs are the parent candidates of t.
func (pb *problem) parentSpecs(t *treeSpec) []parentSpec {
	if t.flow < 0 {
		return []parentSpec{pb.c.rootParent()}
	}
	out := make([]parentSpec, len(t.parents))
	for i, h := range t.parents {
		out[i] = pb.c.flowParent(h)
	}
	return out
}

func flowIn(units []lunit) float64 {
	var s float64
	for _, u := range units {
		s += u.out
	}
	return s
}

// levelOf is the level of a tree of depth at most 2.
func (pb *problem) levelOf(t *treeSpec) *level {
	lv := &level{units: t.units, k: pb.opt.FanOut, fixed: t.fixed}
	switch {
	case t.depth == 1:
		lv.star = true
		lv.k = 1
	case t.fixed == nil:
		lv.maxGroups = pb.opt.FanOut
	}
	return lv
}

func (pb *problem) constant() float64 {
	return pb.m.BaseCost(pb.opt.Kind) + pb.m.DelayCost(pb.opt.Kind, pb.depth)
}

// exact solves the problem exactly; it returns the plan and its cost.
func (pb *problem) exact(limit int) (*cost.Plan, float64, error) {
	var levels []*exactLevel
	for i := range pb.trees {
		t := &pb.trees[i]
		el := &exactLevel{lv: pb.levelOf(t), flow: t.flow, parents: pb.parentSpecs(t)}
		el.pfixed = make([]float64, len(el.parents))
		if t.flow >= 0 {
			el.flowIn = flowIn(t.units)
			for j, p := range el.parents {
				el.pfixed[j] = pb.c.flowRootFixed(t.flow, p.host, el.flowIn)
			}
		}
		levels = append(levels, el)
	}
	sols, total, _, err := solveExact(pb.c, levels, pb.constant(), limit)
	if sols == nil {
		return nil, 0, err
	}
	trees := make([]*tree, len(levels))
	for i, el := range levels {
		trees[i] = &tree{parent: el.parents[sols[i].pc], flow: el.flow, levels: [][]group{sols[i].groups}, units: [][]lunit{el.lv.units}}
	}
	return assemble(pb.opt.Kind, pb.opt.FanOut, pb.m.In.Root, trees), total, err
}

// heuristic places the problem's trees by locality and local search.
func (pb *problem) heuristic() *cost.Plan {
	// Levels of up to 64 units get the thorough search (three starts,
	// every group a candidate, swaps, iterated local search) unless the
	// whole option is large: then every level gets the fast one.
	fullN := 64
	if len(pb.m.Units(pb.opt.Kind)) > thoroughUnits {
		fullN = 0
	}
	h := newHeur(pb.c, pb.c.baseLoads(), fullN)
	var trees []*tree
	order := make([]int, len(pb.trees))
	for i := range order {
		order[i] = i
	}
	// Large flows first: they need the capacity most.
	sort.SliceStable(order, func(a, b int) bool { return len(pb.trees[order[a]].units) > len(pb.trees[order[b]].units) })
	treeAt := make([]*tree, len(pb.trees))
	for _, i := range order {
		t := &pb.trees[i]
		if t.flow < 0 {
			treeAt[i] = h.buildTree(t, pb.c.rootParent(), pb.opt.FanOut, pb)
			continue
		}
		treeAt[i] = h.buildFlow(t, pb)
	}
	for _, t := range treeAt {
		trees = append(trees, t)
	}
	return assemble(pb.opt.Kind, pb.opt.FanOut, pb.m.In.Root, trees)
}

// buildTree builds t's levels below parent p and applies their loads.
func (h *heur) buildTree(t *treeSpec, p parentSpec, k int, pb *problem) *tree {
	tr := &tree{parent: p, flow: t.flow}
	if t.depth <= 2 {
		lv := pb.levelOf(t)
		gs, _ := h.solveLevel(lv, &p)
		tr.levels, tr.units = [][]group{gs}, [][]lunit{t.units}
		return tr
	}
	cur := t.units
	for d := t.depth; d >= 2; d-- {
		lv := &level{units: cur, k: k, maxGroups: ipow(k, d-1, len(cur))}
		gs, _ := h.solveLevel(lv, &p)
		tr.levels = append(tr.levels, gs)
		tr.units = append(tr.units, cur)
		if d == 2 {
			break
		}
		// The groups become the next level's units: take back their
		// edges to p, which the next level places.
		next := make([]lunit, len(gs))
		for gi := range gs {
			g := &gs[gi]
			out := h.c.groupOut(cur, g)
			h.loads.Edge(g.leader, p.host, -out)
			h.loads.Node(p.host, -p.cpuPerByte*out, -p.memPerByte*out)
			next[gi] = lunit{host: g.leader, out: out, leaf: -1, below: int32(gi), key: localityKey(h.c.m, g.leader)}
		}
		cur = next
	}
	return tr
}

// buildFlow picks a flow root and builds the flow's tree below it. On a
// small flow every host is tried as the root; on a large one the host
// that is cheapest to reach from all the flow's leaves.
func (h *heur) buildFlow(t *treeSpec, pb *problem) *tree {
	in := flowIn(t.units)
	type cand struct {
		host int32
		est  float64
		fits bool
	}
	a := &h.acc
	a.reset()
	for _, u := range t.units {
		a.add(u.host, u.out)
	}
	var cands []cand
	for _, r := range t.parents {
		p := h.c.flowParent(r)
		cands = append(cands, cand{r, a.to(r) + p.costPerByte*in + h.c.flowRootFixed(t.flow, r, in), false})
	}
	a.reset()
	// Hosts where the flow root fits first, then the cheapest.
	for i := range cands {
		h.c.applyFlowRoot(h.loads, cands[i].host, in, 1)
		cands[i].fits = h.loads.PathOK(cands[i].host, h.c.m.In.Root)
		h.c.applyFlowRoot(h.loads, cands[i].host, in, -1)
	}
	slices.SortStableFunc(cands, func(x, y cand) int {
		if x.fits != y.fits {
			if x.fits {
				return -1
			}
			return 1
		}
		return cmp.Compare(x.est, y.est)
	})
	// Every host of a small flow is tried as its root; the three hosts
	// cheapest to reach of a larger one.
	try := min(3, len(cands))
	if len(t.units) <= 16 && h.fullN > 0 {
		try = len(cands)
	}
	if t.depth > 2 {
		try = 1
	}
	var best *tree
	bestCost := inf
	for _, cd := range cands[:try] {
		p := h.c.flowParent(cd.host)
		h.c.applyFlowRoot(h.loads, cd.host, in, 1)
		tr := h.buildTree(t, p, pb.opt.FanOut, pb)
		c := h.c.flowRootFixed(t.flow, cd.host, in) + h.treeLevelCost(tr)
		ok := h.treeOK(tr) && h.loads.PathOK(cd.host, h.c.m.In.Root)
		if try > 1 {
			h.unapply(tr)
			h.c.applyFlowRoot(h.loads, cd.host, in, -1)
		}
		if !ok {
			c += 1e12 // any plan that fits beats one that does not
		}
		if c < bestCost {
			best, bestCost = tr, c
		}
	}
	if try > 1 {
		h.c.applyFlowRoot(h.loads, best.parent.host, in, 1)
		for _, g := range best.levels[0] {
			h.c.applyGroup(h.loads, best.units[0], &g, &best.parent, 1)
		}
	}
	return best
}

// treeLevelCost is the cost of a tree of one level of groups.
func (h *heur) treeLevelCost(tr *tree) float64 {
	var c float64
	for _, g := range tr.levels[0] {
		c += h.groupCost(tr.units[0], &g, &tr.parent)
	}
	return c
}

func (h *heur) groupCost(units []lunit, g *group, p *parentSpec) float64 {
	if !g.agg {
		return h.c.single(&units[g.members[0]], p)
	}
	var edge, in float64
	for _, i := range g.members {
		edge += h.c.m.EdgeCost(units[i].host, g.leader, units[i].out)
		in += units[i].out
	}
	return h.c.group(edge, in, g.leader, p)
}

func (h *heur) treeOK(tr *tree) bool {
	for _, g := range tr.levels[0] {
		if !groupOK(h.loads, tr.units[0], &g, &tr.parent) {
			return false
		}
	}
	return true
}

// unapply takes back the loads of a tree of one level.
func (h *heur) unapply(tr *tree) {
	for _, g := range tr.levels[0] {
		h.c.applyGroup(h.loads, tr.units[0], &g, &tr.parent, -1)
	}
}
