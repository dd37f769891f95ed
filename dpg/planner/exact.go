package planner

import (
	"errors"
	"math"
	"math/bits"
	"sort"

	"github.com/vscope/vscope/dpg/cost"
)

// The exact solver: for each level and each choice of its parent, a
// dynamic programme over subsets of units gives the cheapest partition
// into groups (with the best leader of each) under the constraints that
// concern one group alone (its leader's capacity, its hosts' NICs). That
// is a lower bound of the true optimum; a branch and bound then
// enumerates partitions in the order of the bound, with every constraint
// checked on the loads of the whole plan (rack and site uplinks and the
// root are shared between groups and levels), and stops as soon as a
// complete plan meets the bound. Exhaustive, hence exact, for levels of
// up to maxExactUnits units.

const maxExactUnits = 16

var inf = math.Inf(1)

// errSearchLimit is returned when the branch and bound expands more than
// its node limit; the best plan found so far is returned with it.
var errSearchLimit = errors.New("exact search stopped at its node limit")

// exactLevel is a level with its parent candidates and DP tables.
type exactLevel struct {
	lv      *level
	flow    int32   // FlowTrees index, or -1
	flowIn  float64 // the flow's leaf summaries, for a flow root's fixed part
	parents []parentSpec
	pfixed  []float64 // fixed cost per parent candidate

	n         int
	free      uint32
	fixedMask []uint32
	sumOut    []float64   // [G]
	edge      [][]float64 // [j][G]: members of G to unit j's host
	efix      [][]float64 // [fixed][G]: members of G to the fixed leader
	best      [][]float64 // [pc][G]
	F         [][][]float64
	H         [][][]float64
	lb        []float64
	order     []int
	limited   bool // maxGroups applies
	C         int
}

type levelSol struct {
	pc     int
	groups []group
}

type exact struct {
	c           *costs
	levels      []*exactLevel
	constant    float64
	loads       *cost.Loads
	base        *cost.Loads
	constrained bool
	best        float64
	bestSol     []levelSol
	cur         []levelSol
	lbFrom      []float64
	nodes       int
	limit       int
	stop        bool
	hitLimit    bool
	// laterRoot[li] is the least the levels after li add to the root's
	// ingest (their flow roots' outputs).
	laterRoot []float64
	// remote[li][S] is the output of units of S not on host h, per
	// parent candidate: remote[li][pc][S].
	remote [][][]float64
}

// lookahead prepares the ingest look-ahead: whatever the grouping, the
// units still to place send a parent on host h at least min(their output
// from other hosts, an aggregator's cap), and every later flow root sends
// the root min(its flow's output, the cap) unless it sits on the root.
func (e *exact) lookahead() {
	n := len(e.levels)
	e.laterRoot = make([]float64, n+1)
	e.remote = make([][][]float64, n)
	root := e.c.m.In.Root
	for li := n - 1; li >= 0; li-- {
		el := e.levels[li]
		e.laterRoot[li] = e.laterRoot[li+1]
		if el.flow >= 0 {
			onRoot := false
			for _, p := range el.parents {
				onRoot = onRoot || p.host == root
			}
			if !onRoot {
				e.laterRoot[li] += e.c.aggOut(el.flowIn)
			}
		}
		e.remote[li] = make([][]float64, len(el.parents))
		size := 1 << el.n
		for pc, p := range el.parents {
			r := make([]float64, size)
			for G := 1; G < size; G++ {
				i := bits.TrailingZeros32(uint32(G))
				r[G] = r[G&(G-1)]
				if u := &el.lv.units[i]; u.host != p.host {
					r[G] += u.out
				}
			}
			e.remote[li][pc] = r
		}
	}
}

// ingestHopeless reports whether the units of S cannot be placed without
// breaking the parent's or the root's ingest capacity.
func (e *exact) ingestHopeless(li, pc int, S uint32) bool {
	if !e.constrained {
		return false
	}
	p := &e.levels[li].parents[pc]
	in := e.c.m.In
	root := in.Root
	add := e.c.aggOut(e.remote[li][pc][S])
	if p.host == root {
		return tooMuch(e.loads.Ingest[root]+add+e.laterRoot[li+1], in.Hosts[root].Ingest)
	}
	return tooMuch(e.loads.Ingest[p.host]+add, in.Hosts[p.host].Ingest) ||
		tooMuch(e.loads.Ingest[root]+e.laterRoot[li+1], in.Hosts[root].Ingest)
}

// solveExact solves levels exactly. constant is the cost every plan pays
// (base and delay). It returns the chosen parent index and groups per
// level, the cost, and whether the plan meets every constraint.
func solveExact(c *costs, levels []*exactLevel, constant float64, limit int) ([]levelSol, float64, bool, error) {
	var limitErr error
	for _, constrained := range []bool{true, false} {
		e := &exact{c: c, levels: levels, constant: constant, constrained: constrained, best: inf, limit: limit}
		e.loads = c.baseLoads()
		e.base = e.loads.Clone()
		for _, el := range levels {
			e.prepare(el)
		}
		e.lbFrom = make([]float64, len(levels)+1)
		for i := len(levels) - 1; i >= 0; i-- {
			e.lbFrom[i] = e.lbFrom[i+1] + levels[i].lb[levels[i].order[0]]
		}
		if math.IsInf(e.lbFrom[0], 1) {
			continue
		}
		e.cur = make([]levelSol, len(levels))
		e.lookahead()
		e.search(0, constant)
		if e.bestSol != nil {
			if e.hitLimit {
				limitErr = errSearchLimit
			}
			return e.bestSol, e.best, constrained, limitErr
		}
		if e.hitLimit {
			// No feasible plan found within the limit: fall through to
			// the best plan ignoring the constraints, to name them.
			limitErr = errSearchLimit
		}
	}
	return nil, inf, false, errors.New("no plan has this structure")
}

func (e *exact) tol() float64 {
	if math.IsInf(e.best, 1) {
		return 0
	}
	return 1e-9 * max(1, math.Abs(e.best))
}

// prepare fills el's DP tables.
func (e *exact) prepare(el *exactLevel) {
	lv := el.lv
	n := len(lv.units)
	el.n = n
	size := 1 << n
	el.free = uint32(size - 1)
	el.fixedMask = make([]uint32, len(lv.fixed))
	for j, f := range lv.fixed {
		for _, i := range f.members {
			el.fixedMask[j] |= 1 << i
			el.free &^= 1 << i
		}
	}
	m := e.c.m
	el.sumOut = make([]float64, size)
	el.edge = make([][]float64, n)
	for j := range n {
		el.edge[j] = make([]float64, size)
	}
	el.efix = make([][]float64, len(lv.fixed))
	for j := range lv.fixed {
		el.efix[j] = make([]float64, size)
	}
	for G := 1; G < size; G++ {
		i := bits.TrailingZeros32(uint32(G))
		prev := G & (G - 1)
		u := &lv.units[i]
		el.sumOut[G] = el.sumOut[prev] + u.out
		for j := range n {
			el.edge[j][G] = el.edge[j][prev] + m.EdgeCost(u.host, lv.units[j].host, u.out)
		}
		for j, f := range lv.fixed {
			el.efix[j][G] = el.efix[j][prev] + m.EdgeCost(u.host, f.host, u.out)
		}
	}
	el.C = lv.maxGroups
	el.limited = el.C > 0 && el.C < n
	np := len(el.parents)
	el.best = make([][]float64, np)
	el.F = make([][][]float64, np)
	el.H = make([][][]float64, np)
	el.lb = make([]float64, np)
	for pc := range np {
		p := &el.parents[pc]
		best := make([]float64, size)
		for G := 1; G < size; G++ {
			best[G] = inf
			if uint32(G)&^el.free != 0 {
				continue
			}
			pop := bits.OnesCount32(uint32(G))
			if pop == 1 {
				i := bits.TrailingZeros32(uint32(G))
				if e.localSingleOK(&lv.units[i], p) {
					best[G] = e.c.single(&lv.units[i], p)
				}
				continue
			}
			if lv.star || pop > lv.k {
				continue
			}
			for g := uint32(G); g != 0; g &= g - 1 {
				j := bits.TrailingZeros32(g)
				if c := e.groupCost(el, uint32(G), j, p); c < best[G] {
					best[G] = c
				}
			}
		}
		el.best[pc] = best
		el.F[pc] = computeF(best, el.free, el.limited, el.C, n)
		top := el.F[pc][len(el.F[pc])-1]
		A := len(lv.fixed)
		H := make([][]float64, A+1)
		H[A] = top
		for j := A - 1; j >= 0; j-- {
			H[j] = make([]float64, size)
			for S := range size {
				s := uint32(S)
				H[j][S] = inf
				if s&^el.free != 0 {
					continue
				}
				for T := s; ; T = (T - 1) & s {
					if bits.OnesCount32(T) <= lv.fixed[j].room {
						if c := e.fixedCost(el, j, T, p) + H[j+1][s^T]; c < H[j][S] {
							H[j][S] = c
						}
					}
					if T == 0 {
						break
					}
				}
			}
		}
		el.H[pc] = H
		el.lb[pc] = el.pfixed[pc] + H[0][el.free]
	}
	el.order = make([]int, np)
	for i := range el.order {
		el.order[i] = i
	}
	sort.SliceStable(el.order, func(a, b int) bool { return el.lb[el.order[a]] < el.lb[el.order[b]] })
}

// computeF is the cheapest cover of every S ⊆ free by groups: F[c][S] with
// at most c groups when limited, else one row.
func computeF(best []float64, free uint32, limited bool, C, n int) [][]float64 {
	size := 1 << n
	rows := 1
	if limited {
		rows = C + 1
	}
	F := make([][]float64, rows)
	for c := range rows {
		F[c] = make([]float64, size)
		for S := 1; S < size; S++ {
			F[c][S] = inf
			s := uint32(S)
			if s&^free != 0 || (limited && c == 0) {
				continue
			}
			prev := F[c]
			if limited {
				prev = F[c-1]
			}
			low := s & -s
			rest := s ^ low
			for sub := rest; ; sub = (sub - 1) & rest {
				G := low | sub
				if b := best[G]; b < inf {
					if v := b + prev[s^G]; v < F[c][S] {
						F[c][S] = v
					}
				}
				if sub == 0 {
					break
				}
			}
		}
	}
	return F
}

// frow is the F row for c groups left.
func (el *exactLevel) frow(pc, c int) []float64 {
	if !el.limited {
		return el.F[pc][0]
	}
	return el.F[pc][max(c, 0)]
}

// groupCost is the cost of group G (two or more units) led by unit j's
// host, or +Inf when the group alone breaks a constraint.
func (e *exact) groupCost(el *exactLevel, G uint32, j int, p *parentSpec) float64 {
	lv := el.lv
	leader := lv.units[j].host
	in := el.sumOut[G]
	if !e.localGroupOK(lv, G, leader, in, p) {
		return inf
	}
	return e.c.group(el.edge[j][G], in, leader, p)
}

// fixedCost is the cost of fixed group j with its fixed members and T.
func (e *exact) fixedCost(el *exactLevel, j int, T uint32, p *parentSpec) float64 {
	G := el.fixedMask[j] | T
	if G == 0 {
		return 0
	}
	leader := el.lv.fixed[j].host
	in := el.sumOut[G]
	if !e.localGroupOK(el.lv, G, leader, in, p) {
		return inf
	}
	return e.c.group(el.efix[j][G], in, leader, p)
}

// localSingleOK checks the constraints a unit sending straight to the
// parent breaks on its own: its NIC.
func (e *exact) localSingleOK(u *lunit, p *parentSpec) bool {
	if !e.constrained || u.host == p.host {
		return true
	}
	b := e.base
	return !tooMuch(b.Up[u.host]+u.out, b.Budget(u.host))
}

// localGroupOK checks the constraints a group breaks on its own: the
// leader's capacity, the leader's NIC, the members' NICs.
func (e *exact) localGroupOK(lv *level, G uint32, leader int32, in float64, p *parentSpec) bool {
	if !e.constrained {
		return true
	}
	b := e.base
	hi := &e.c.m.In.Hosts[leader]
	out, cpu, mem := e.c.merge(in)
	var remote float64
	for g := G; g != 0; g &= g - 1 {
		u := &lv.units[bits.TrailingZeros32(g)]
		if u.host != leader {
			remote += u.out
			if tooMuch(b.Up[u.host]+u.out, b.Budget(u.host)) {
				return false
			}
		}
	}
	if leader == p.host {
		cpu += p.cpuPerByte * out
		mem += p.memPerByte * out
	} else if tooMuch(b.Up[leader]+out, b.Budget(leader)) {
		return false
	}
	return !tooMuch(b.CPU[leader]+cpu, hi.CPU) && !tooMuch(b.Mem[leader]+mem, hi.Memory) &&
		!tooMuch(b.Ingest[leader]+remote, hi.Ingest) && !tooMuch(b.Down[leader]+remote, b.Budget(leader))
}

func tooMuch(used, limit float64) bool { return used > limit*(1+1e-9)+1e-12 }

type candidate struct {
	bound, cost float64
	G           uint32
	leader      int // unit index; -1 for a single unit
}

func (e *exact) search(li int, acc float64) {
	if e.stop {
		return
	}
	if li == len(e.levels) {
		if acc < e.best {
			e.best = acc
			e.bestSol = make([]levelSol, len(e.cur))
			for i, s := range e.cur {
				e.bestSol[i] = levelSol{pc: s.pc, groups: cloneGroups(s.groups)}
			}
			if e.best <= e.constant+e.lbFrom[0]+e.tol() {
				e.stop = true // the bound is met: nothing can be cheaper
			}
		}
		return
	}
	el := e.levels[li]
	for _, pc := range el.order {
		if acc+el.lb[pc]+e.lbFrom[li+1] >= e.best-e.tol() || e.stop {
			break
		}
		p := &el.parents[pc]
		if el.flow >= 0 {
			e.c.applyFlowRoot(e.loads, p.host, el.flowIn, 1)
			if e.constrained && !e.loads.PathOK(p.host, e.c.m.In.Root) {
				e.c.applyFlowRoot(e.loads, p.host, el.flowIn, -1)
				continue
			}
		}
		e.cur[li] = levelSol{pc: pc}
		e.fixedStage(li, pc, 0, el.free, acc+el.pfixed[pc])
		if el.flow >= 0 {
			e.c.applyFlowRoot(e.loads, p.host, el.flowIn, -1)
		}
	}
}

func (e *exact) fixedStage(li, pc, j int, S uint32, acc float64) {
	el := e.levels[li]
	lv := el.lv
	if j == len(lv.fixed) {
		e.groupStage(li, pc, S, el.C, acc)
		return
	}
	if e.count() || e.ingestHopeless(li, pc, S) {
		return
	}
	p := &el.parents[pc]
	var cands []candidate
	for T := S; ; T = (T - 1) & S {
		if bits.OnesCount32(T) <= lv.fixed[j].room {
			if c := e.fixedCost(el, j, T, p); c < inf {
				b := acc + c + el.H[pc][j+1][S^T] + e.lbFrom[li+1]
				if b < e.best-e.tol() {
					cands = append(cands, candidate{b, c, T, -1})
				}
			}
		}
		if T == 0 {
			break
		}
	}
	sort.Slice(cands, func(a, b int) bool { return cands[a].bound < cands[b].bound })
	for _, cd := range cands {
		if cd.bound >= e.best-e.tol() || e.stop {
			break
		}
		G := el.fixedMask[j] | cd.G
		var g *group
		if G != 0 {
			g = &group{members: maskMembers(G), leader: lv.fixed[j].host, agg: true, fixed: j}
			if !e.apply(lv, g, p) {
				continue
			}
			e.cur[li].groups = append(e.cur[li].groups, *g)
		}
		e.fixedStage(li, pc, j+1, S^cd.G, acc+cd.cost)
		if g != nil {
			e.cur[li].groups = e.cur[li].groups[:len(e.cur[li].groups)-1]
			e.c.applyGroup(e.loads, lv.units, g, p, -1)
		}
	}
}

func (e *exact) groupStage(li, pc int, S uint32, c int, acc float64) {
	if S == 0 {
		e.search(li+1, acc)
		return
	}
	if e.count() || e.ingestHopeless(li, pc, S) {
		return
	}
	el := e.levels[li]
	lv := el.lv
	p := &el.parents[pc]
	low := S & -S
	rest := S ^ low
	next := el.frow(pc, c-1)
	var cands []candidate
	add := func(G uint32, leader int, cost float64) {
		if cost == inf {
			return
		}
		if b := acc + cost + next[S^G] + e.lbFrom[li+1]; b < e.best-e.tol() {
			cands = append(cands, candidate{b, cost, G, leader})
		}
	}
	add(low, -1, el.best[pc][low])
	if !lv.star {
		for sub := rest; sub != 0; sub = (sub - 1) & rest {
			G := low | sub
			if bits.OnesCount32(G) > lv.k || el.best[pc][G] == inf {
				continue
			}
			for g := G; g != 0; g &= g - 1 {
				j := bits.TrailingZeros32(g)
				add(G, j, e.groupCost(el, G, j, p))
			}
		}
	}
	sort.Slice(cands, func(a, b int) bool { return cands[a].bound < cands[b].bound })
	for _, cd := range cands {
		if cd.bound >= e.best-e.tol() || e.stop {
			break
		}
		g := &group{members: maskMembers(cd.G), fixed: -1}
		if cd.leader >= 0 {
			g.leader, g.agg = lv.units[cd.leader].host, true
		} else {
			g.leader = lv.units[g.members[0]].host
		}
		if !e.apply(lv, g, p) {
			continue
		}
		e.cur[li].groups = append(e.cur[li].groups, *g)
		e.groupStage(li, pc, S^cd.G, c-1, acc+cd.cost)
		e.cur[li].groups = e.cur[li].groups[:len(e.cur[li].groups)-1]
		e.c.applyGroup(e.loads, lv.units, g, p, -1)
	}
}

// apply adds g's loads; when constrained and they break a constraint it
// takes them back and returns false.
func (e *exact) apply(lv *level, g *group, p *parentSpec) bool {
	e.c.applyGroup(e.loads, lv.units, g, p, 1)
	if e.constrained && !groupOK(e.loads, lv.units, g, p) {
		e.c.applyGroup(e.loads, lv.units, g, p, -1)
		return false
	}
	return true
}

// count counts a search node; it reports true when the limit is reached.
func (e *exact) count() bool {
	e.nodes++
	if e.limit > 0 && e.nodes > e.limit {
		e.stop, e.hitLimit = true, true
	}
	return e.stop
}

func maskMembers(G uint32) []int {
	out := make([]int, 0, bits.OnesCount32(G))
	for g := G; g != 0; g &= g - 1 {
		out = append(out, bits.TrailingZeros32(g))
	}
	return out
}

func cloneGroups(gs []group) []group {
	out := make([]group, len(gs))
	for i, g := range gs {
		out[i] = g
		out[i].members = append([]int(nil), g.members...)
	}
	return out
}
