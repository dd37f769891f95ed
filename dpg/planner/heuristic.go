package planner

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/vscope/vscope/dpg/cost"
	"github.com/vscope/vscope/dpg/model"
)

// The heuristic: groups by locality (units sorted by site, rack, host;
// each rack's run cut into balanced groups of at most k; adjacent groups
// merged while there are more than the parent may take), the cheapest
// feasible leader of each group, then local search until nothing
// improves: move a unit to another group or out on its own, re-choose a
// leader, merge two groups. Small levels (at most fullN units) try three
// starts (rack groups, single units, site groups) and search every group
// for every move; large ones search the groups led from the unit's rack
// and its neighbours, for a few passes. Every accepted move keeps the
// constraints the plan met.

// heur places levels on shared loads.
type heur struct {
	c      *costs
	loads  *cost.Loads
	fullN  int
	acc    edgeAcc
	lcands []leaderCand // scratch of chooseLeader
}

type leaderCand struct {
	host       int32
	cost, edge float64
}

func newHeur(c *costs, loads *cost.Loads, fullN int) *heur {
	return &heur{c: c, loads: loads, fullN: fullN, acc: newEdgeAcc(c.m)}
}

// hgroup is a group under local search.
type hgroup struct {
	members []int
	leader  int32
	fixed   int
	size    int // capacity: k, or a fixed group's members plus room
	in      float64
	edge    float64 // members' edges to the leader
}

func (g *hgroup) agg() bool { return g.fixed >= 0 || len(g.members) >= 2 }

func (g *hgroup) toGroup() group {
	return group{members: g.members, leader: g.leader, agg: g.agg(), fixed: g.fixed}
}

// lsearch is the local search state of one level.
type lsearch struct {
	h  *heur
	lv *level
	p  *parentSpec
	gs []*hgroup // nil: removed
	of []int     // unit -> group
	n  int       // groups with members
}

func (s *lsearch) live() int { return s.n }

func (s *lsearch) recount() {
	s.n = 0
	for _, g := range s.gs {
		if g != nil && len(g.members) > 0 {
			s.n++
		}
	}
}

// cost of a group in its current state.
func (s *lsearch) cost(g *hgroup) float64 {
	return s.costOf(g, len(g.members), g.in, g.edge, -1)
}

// costOf is the cost of g with count members, input in and edge sum edge;
// only is the single remaining unit when count == 1 (or -1 to find it).
func (s *lsearch) costOf(g *hgroup, count int, in, edge float64, only int) float64 {
	c := s.h.c
	switch {
	case count == 0:
		return 0
	case count == 1 && g.fixed < 0:
		if only < 0 {
			only = g.members[0]
		}
		return c.single(&s.lv.units[only], s.p)
	}
	return c.group(edge, in, g.leader, s.p)
}

func (s *lsearch) total() float64 {
	var t float64
	for _, g := range s.gs {
		if g != nil {
			t += s.cost(g)
		}
	}
	return t
}

func (s *lsearch) edgeTo(i int, leader int32) float64 {
	u := &s.lv.units[i]
	return s.h.c.m.EdgeCost(u.host, leader, u.out)
}

func (s *lsearch) apply(g *hgroup, sign float64) {
	if len(g.members) == 0 {
		return
	}
	gg := g.toGroup()
	s.h.c.applyGroup(s.h.loads, s.lv.units, &gg, s.p, sign)
}

func (s *lsearch) ok(g *hgroup) bool {
	if len(g.members) == 0 {
		return true
	}
	gg := g.toGroup()
	return groupOK(s.h.loads, s.lv.units, &gg, s.p)
}

// newGroup makes a group of members with its cheapest leader.
func (s *lsearch) newGroup(members []int) *hgroup {
	g := &hgroup{members: members, fixed: -1, size: s.lv.k}
	for _, i := range members {
		g.in += s.lv.units[i].out
	}
	s.chooseLeader(g, false)
	return g
}

// chooseLeader sets g's leader to the member host of least cost; with
// feasible, it tries them in order of cost against the loads (g's own
// loads not applied) and takes the first that fits.
func (s *lsearch) chooseLeader(g *hgroup, feasible bool) bool {
	if g.fixed >= 0 {
		return true
	}
	if len(g.members) == 1 {
		g.leader, g.edge = s.lv.units[g.members[0]].host, 0
		return !feasible || s.tryFit(g)
	}
	a := &s.h.acc
	a.reset()
	for _, i := range g.members {
		a.add(s.lv.units[i].host, s.lv.units[i].out)
	}
	cands := s.h.lcands[:0]
	for _, i := range g.members {
		h := s.lv.units[i].host
		e := a.to(h)
		cands = append(cands, leaderCand{h, s.h.c.group(e, g.in, h, s.p), e})
	}
	a.reset()
	slices.SortStableFunc(cands, func(x, y leaderCand) int { return cmp.Compare(x.cost, y.cost) })
	s.h.lcands = cands
	if !feasible {
		g.leader, g.edge = cands[0].host, cands[0].edge
		return true
	}
	for i, cd := range cands {
		if i > 0 && cd.host == cands[i-1].host {
			continue
		}
		g.leader, g.edge = cd.host, cd.edge
		if s.tryFit(g) {
			return true
		}
	}
	g.leader, g.edge = cands[0].host, cands[0].edge
	return false
}

// tryFit applies g's loads and keeps them if they fit; otherwise it takes
// them back.
func (s *lsearch) tryFit(g *hgroup) bool {
	s.apply(g, 1)
	if s.ok(g) {
		s.apply(g, -1)
		return true
	}
	s.apply(g, -1)
	return false
}

// solveLevel places lv's units below parent p, applies the groups' loads
// and returns the groups with their cost.
func (h *heur) solveLevel(lv *level, p *parentSpec) ([]group, float64) {
	order := make([]int, 0, len(lv.units))
	fixed := make([]bool, len(lv.units))
	for _, f := range lv.fixed {
		for _, i := range f.members {
			fixed[i] = true
		}
	}
	for i := range lv.units {
		if !fixed[i] {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(lv.units[a].key, lv.units[b].key) })
	starts := []int{startRacks}
	small := len(lv.units) <= h.fullN
	if small && !lv.star {
		starts = append(starts, startSingles, startSites)
	}
	var best *lsearch
	bestCost := inf
	bestOK := false
	for _, st := range starts {
		s := &lsearch{h: h, lv: lv, p: p}
		if !s.build(order, st) {
			continue
		}
		for _, g := range s.gs {
			s.apply(g, 1)
		}
		s.repair()
		s.improve(small)
		if small && len(lv.units) <= ilsUnits && !lv.star {
			s.iterate()
		}
		c, ok := s.total(), s.allOK()
		for _, g := range s.gs {
			if g != nil {
				s.apply(g, -1)
			}
		}
		if best == nil || (ok && !bestOK) || (ok == bestOK && c < bestCost-1e-12) {
			best, bestCost, bestOK = s, c, ok
		}
	}
	var out []group
	for _, g := range best.gs {
		if g != nil && len(g.members) > 0 {
			best.apply(g, 1)
			out = append(out, g.toGroup())
		}
	}
	return out, bestCost
}

func (s *lsearch) allOK() bool {
	for _, g := range s.gs {
		if g != nil && !s.ok(g) {
			return false
		}
	}
	return true
}

// Starts of the construction.
const (
	startRacks = iota
	startSingles
	startSites
)

// build makes the first groups: fixed groups, then the free units in
// order, joined to a fixed group nearby or grouped by rack (or site, or
// not at all).
func (s *lsearch) build(order []int, start int) bool {
	lv := s.lv
	s.of = make([]int, len(lv.units))
	for j, f := range lv.fixed {
		g := &hgroup{members: append([]int(nil), f.members...), leader: f.host, fixed: j, size: len(f.members) + f.room}
		for _, i := range f.members {
			g.in += lv.units[i].out
			g.edge += s.edgeTo(i, f.host)
			s.of[i] = j
		}
		s.gs = append(s.gs, g)
	}
	rest := order
	if len(lv.fixed) > 0 && start != startSingles {
		rest = s.joinFixed(order)
	}
	var chunks [][]int
	switch {
	case lv.star || start == startSingles:
		for _, i := range rest {
			chunks = append(chunks, []int{i})
		}
	case start == startSites:
		chunks = s.chunk(rest, func(i int) int32 { return s.h.c.m.In.Hosts[lv.units[i].host].Site })
	default:
		chunks = s.chunk(rest, func(i int) int32 { return s.h.c.m.In.Hosts[lv.units[i].host].Rack })
	}
	if lv.maxGroups > 0 {
		var ok bool
		if chunks, ok = s.fitGroups(chunks, rest); !ok {
			return false
		}
	}
	for _, ch := range chunks {
		g := s.newGroup(ch)
		for _, i := range ch {
			s.of[i] = len(s.gs)
		}
		s.gs = append(s.gs, g)
	}
	s.recount()
	return true
}

// joinFixed puts each unit into the fixed group where it costs least, if
// that is less than sending on its own; it returns the others.
func (s *lsearch) joinFixed(order []int) []int {
	var rest []int
	for _, i := range order {
		u := &s.lv.units[i]
		best, bestD := -1, s.h.c.single(u, s.p)
		for j, g := range s.gs[:len(s.lv.fixed)] {
			if len(g.members) >= g.size {
				continue
			}
			if !s.small() && s.h.c.m.In.Hosts[g.leader].Site != s.h.c.m.In.Hosts[u.host].Site {
				continue
			}
			d := s.costOf(g, len(g.members)+1, g.in+u.out, g.edge+s.edgeTo(i, g.leader), -1) - s.cost(g)
			if d < bestD {
				best, bestD = j, d
			}
		}
		if best < 0 {
			rest = append(rest, i)
			continue
		}
		g := s.gs[best]
		g.members = append(g.members, i)
		g.in += u.out
		g.edge += s.edgeTo(i, g.leader)
		s.of[i] = best
	}
	return rest
}

func (s *lsearch) small() bool { return len(s.lv.units) <= s.h.fullN }

// chunk cuts runs of units with the same key into balanced groups of at
// most k.
func (s *lsearch) chunk(order []int, key func(int) int32) [][]int {
	var out [][]int
	k := s.lv.k
	for lo := 0; lo < len(order); {
		hi := lo + 1
		for hi < len(order) && key(order[hi]) == key(order[lo]) {
			hi++
		}
		n := hi - lo
		parts := (n + k - 1) / k
		for p := range parts {
			a, b := lo+n*p/parts, lo+n*(p+1)/parts
			out = append(out, append([]int(nil), order[a:b]...))
		}
		lo = hi
	}
	return out
}

// fitGroups merges adjacent groups, smallest pair first, until at most
// maxGroups remain (fixed groups count); when no merge fits it cuts all
// units into equal groups.
func (s *lsearch) fitGroups(chunks [][]int, all []int) ([][]int, bool) {
	lv := s.lv
	limit := lv.maxGroups - len(lv.fixed)
	if limit <= 0 {
		return nil, len(all) == 0
	}
	for len(chunks) > limit {
		bi, bs := -1, math.MaxInt
		for i := 0; i+1 < len(chunks); i++ {
			if n := len(chunks[i]) + len(chunks[i+1]); n <= lv.k && n < bs {
				bi, bs = i, n
			}
		}
		if bi < 0 {
			break
		}
		chunks[bi] = append(chunks[bi], chunks[bi+1]...)
		chunks = slices.Delete(chunks, bi+1, bi+2)
	}
	if len(chunks) <= limit {
		return chunks, true
	}
	parts := (len(all) + lv.k - 1) / lv.k
	if parts > limit {
		return nil, false
	}
	chunks = chunks[:0]
	for p := range parts {
		a, b := len(all)*p/parts, len(all)*(p+1)/parts
		chunks = append(chunks, append([]int(nil), all[a:b]...))
	}
	return chunks, true
}

// repair moves the leaders of groups that break a constraint to members
// that fit, and splits groups no leader fits while the parent takes more.
func (s *lsearch) repair() {
	for gi := 0; gi < len(s.gs); gi++ {
		g := s.gs[gi]
		if g == nil || s.ok(g) || g.fixed >= 0 {
			continue
		}
		s.apply(g, -1)
		if s.chooseLeader(g, true) {
			s.apply(g, 1)
			continue
		}
		if len(g.members) >= 2 && (s.lv.maxGroups == 0 || s.live() < s.lv.maxGroups) {
			half := len(g.members) / 2
			a, b := s.newGroup(g.members[:half:half]), s.newGroup(append([]int(nil), g.members[half:]...))
			s.gs[gi] = a
			s.gs = append(s.gs, b)
			for _, i := range b.members {
				s.of[i] = len(s.gs) - 1
			}
			s.chooseLeader(a, true)
			s.chooseLeader(b, true)
			s.apply(a, 1)
			s.apply(b, 1)
			s.recount()
			gi-- // look at a again
			continue
		}
		s.apply(g, 1)
	}
}

// improve runs local search until a pass improves nothing.
func (s *lsearch) improve(small bool) {
	passes := 3
	if small {
		passes = 100
	}
	for range passes {
		improved := false
		if !s.lv.star {
			improved = s.relocate(small) || improved
			improved = s.releader() || improved
			improved = s.merge(small) || improved
			improved = s.absorb(small) || improved
			if small {
				improved = s.swap() || improved
			}
		}
		if !improved {
			return
		}
	}
}

const eps = 1e-12

// candidates are the groups a unit on host h (or a group led from h) may
// join: all of them on a small level, else those led from h's rack and
// the racks next to it.
func (s *lsearch) candidates(h int32, byRack map[int32][]int, small bool, dst []int) []int {
	dst = dst[:0]
	if small {
		for gi, g := range s.gs {
			if g != nil && len(g.members) > 0 {
				dst = append(dst, gi)
			}
		}
		return dst
	}
	in := s.h.c.m.In
	r := in.Hosts[h].Rack
	for _, rr := range []int32{r, r - 1, r + 1} {
		if rr < 0 || int(rr) >= len(in.Racks) || in.RackSite[rr] != in.RackSite[r] {
			continue
		}
		dst = append(dst, byRack[rr]...)
	}
	return dst
}

func (s *lsearch) byRack() map[int32][]int {
	m := map[int32][]int{}
	in := s.h.c.m.In
	for gi, g := range s.gs {
		if g != nil && len(g.members) > 0 {
			r := in.Hosts[g.leader].Rack
			m[r] = append(m[r], gi)
		}
	}
	return m
}

// relocate moves units to the group where they cost least, or out on
// their own.
func (s *lsearch) relocate(small bool) bool {
	improved := false
	var byRack map[int32][]int
	if !small {
		byRack = s.byRack()
	}
	var cands []int
	for i := range s.lv.units {
		ai := s.of[i]
		A := s.gs[ai]
		u := &s.lv.units[i]
		if A.fixed >= 0 && slices.Contains(s.lv.fixed[A.fixed].members, i) {
			continue
		}
		if A.fixed < 0 && len(A.members) >= 2 && u.host == A.leader {
			continue // a leader stays; releader moves it
		}
		eA := s.edgeTo(i, A.leader)
		only := -1
		if len(A.members) == 2 {
			only = A.members[0]
			if only == i {
				only = A.members[1]
			}
		}
		dA := s.costOf(A, len(A.members)-1, A.in-u.out, A.edge-eA, only) - s.cost(A)
		bestB, bestD := -1, -eps*max(1, math.Abs(dA))
		if len(A.members) >= 2 && (s.lv.maxGroups == 0 || s.live() < s.lv.maxGroups) {
			if d := dA + s.h.c.single(u, s.p); d < bestD {
				bestB, bestD = -2, d
			}
		}
		cands = s.candidates(u.host, byRack, small, cands)
		for _, bi := range cands {
			B := s.gs[bi]
			if B == nil || bi == ai || len(B.members) >= B.size {
				continue // removed since the candidates were listed, or full
			}
			d := dA + s.costOf(B, len(B.members)+1, B.in+u.out, B.edge+s.edgeTo(i, B.leader), -1) - s.cost(B)
			if d < bestD {
				bestB, bestD = bi, d
			}
		}
		if bestB == -1 {
			continue
		}
		if s.move(i, bestB) {
			improved = true
		}
	}
	return improved
}

// move moves unit i to group bi (-2: a new group of its own), keeping the
// constraints the touched groups met; it reports whether it moved.
func (s *lsearch) move(i, bi int) bool {
	ai := s.of[i]
	A := s.gs[ai]
	var B *hgroup
	if bi >= 0 {
		B = s.gs[bi]
	}
	okBefore := s.ok(A) && (B == nil || s.ok(B))
	bWasEmpty := B == nil || len(B.members) == 0
	u := &s.lv.units[i]
	s.apply(A, -1)
	if B != nil {
		s.apply(B, -1)
	}
	oldA := *A
	oldA.members = slices.Clone(A.members)
	A.members = slices.DeleteFunc(A.members, func(x int) bool { return x == i })
	A.in -= u.out
	A.edge -= s.edgeTo(i, A.leader)
	if len(A.members) == 1 && A.fixed < 0 {
		A.leader, A.edge = s.lv.units[A.members[0]].host, 0
	}
	if B == nil {
		B = &hgroup{members: []int{i}, leader: u.host, fixed: -1, size: s.lv.k, in: u.out}
	} else {
		B.members = append(B.members, i)
		B.in += u.out
		B.edge += s.edgeTo(i, B.leader)
	}
	s.apply(A, 1)
	s.apply(B, 1)
	if okBefore && !(s.ok(A) && s.ok(B)) {
		s.apply(A, -1)
		s.apply(B, -1)
		*A = oldA
		if bi >= 0 {
			B.members = B.members[:len(B.members)-1]
			B.in -= u.out
			B.edge -= s.edgeTo(i, B.leader)
			if len(B.members) == 1 && B.fixed < 0 {
				B.edge = 0
			}
			s.apply(B, 1)
		}
		s.apply(A, 1)
		return false
	}
	if bi < 0 {
		s.gs = append(s.gs, B)
		bi = len(s.gs) - 1
	}
	s.of[i] = bi
	if len(A.members) == 0 && A.fixed < 0 {
		s.gs[ai] = nil
	}
	s.recountMove(len(oldA.members), len(A.members), bWasEmpty)
	return true
}

// absorb lets a group take several units that send on their own at once:
// an aggregator's output does not grow past its cap, so one unit may not
// pay for the hop while several do. The units are taken in the order of
// what each saves alone, and the best prefix that fits is kept.
func (s *lsearch) absorb(small bool) bool {
	var singles []int
	for i := range s.lv.units {
		g := s.gs[s.of[i]]
		if g.fixed < 0 && len(g.members) == 1 {
			singles = append(singles, i)
		}
	}
	if len(singles) < 2 {
		return false
	}
	improved := false
	type cand struct {
		i    int
		gain float64
	}
	var cands []cand
	for gi, g := range s.gs {
		if g == nil || len(g.members) == 0 || (!g.agg() && len(singles) < 3) {
			continue
		}
		room := g.size - len(g.members)
		if room < 2 {
			continue
		}
		cands = cands[:0]
		for _, i := range singles {
			if s.of[i] == gi {
				continue
			}
			if !small && s.h.c.m.In.Hosts[s.lv.units[i].host].Rack != s.h.c.m.In.Hosts[g.leader].Rack {
				continue
			}
			cands = append(cands, cand{i, s.edgeTo(i, g.leader) - s.h.c.single(&s.lv.units[i], s.p)})
		}
		if len(cands) < 2 {
			continue
		}
		sort.Slice(cands, func(a, b int) bool { return cands[a].gain < cands[b].gain })
		base := s.cost(g)
		in, edge, singlesCost := g.in, g.edge, 0.0
		bestM, bestD := 0, -eps*max(1, math.Abs(base))
		for m, cd := range cands[:min(room, len(cands))] {
			u := &s.lv.units[cd.i]
			in += u.out
			edge += s.edgeTo(cd.i, g.leader)
			singlesCost += s.h.c.single(u, s.p)
			if d := s.costOf(g, len(g.members)+m+1, in, edge, -1) - base - singlesCost; d < bestD {
				bestM, bestD = m+1, d
			}
		}
		if bestM < 2 {
			continue // one unit is relocate's job
		}
		// Move them one by one; each move keeps the constraints.
		moved := false
		for _, cd := range cands[:bestM] {
			if s.gs[s.of[cd.i]] != nil && len(s.gs[s.of[cd.i]].members) == 1 && s.of[cd.i] != gi && len(g.members) < g.size {
				moved = s.move(cd.i, gi) || moved
			}
		}
		if moved {
			improved = true
			singles = singles[:0]
			for i := range s.lv.units {
				if h := s.gs[s.of[i]]; h.fixed < 0 && len(h.members) == 1 {
					singles = append(singles, i)
				}
			}
		}
	}
	return improved
}

// ilsUnits is the size of level below which local search is iterated
// from perturbed plans; ilsRounds the number of perturbations.
const (
	ilsUnits  = 24
	ilsRounds = 40
)

// iterate is iterated local search: move two or three random units to
// random groups, search again, keep the result if it is better, else go
// back to the best plan. Seeded by the level, so runs repeat.
func (s *lsearch) iterate() {
	rng := rand.New(rand.NewPCG(uint64(len(s.lv.units)), uint64(len(s.gs))))
	best, bestC, bestOK := s.snapshot(), s.total(), s.allOK()
	for range ilsRounds {
		for range 2 + rng.IntN(2) {
			i := rng.IntN(len(s.lv.units))
			if !s.movable(i) {
				continue
			}
			var targets []int
			for gi, g := range s.gs {
				if g != nil && len(g.members) > 0 && gi != s.of[i] && len(g.members) < g.size {
					targets = append(targets, gi)
				}
			}
			if len(s.gs[s.of[i]].members) >= 2 && (s.lv.maxGroups == 0 || s.live() < s.lv.maxGroups) {
				targets = append(targets, -2)
			}
			if len(targets) > 0 {
				s.move(i, targets[rng.IntN(len(targets))])
			}
		}
		s.improve(true)
		c, ok := s.total(), s.allOK()
		if (ok && !bestOK) || (ok == bestOK && c < bestC-eps*max(1, math.Abs(bestC))) {
			best, bestC, bestOK = s.snapshot(), c, ok
		} else {
			s.restore(best)
		}
	}
}

// snap is a copy of a level's groups.
type snap struct {
	gs []*hgroup
	of []int
	n  int
}

func (s *lsearch) snapshot() snap {
	c := snap{gs: make([]*hgroup, len(s.gs)), of: slices.Clone(s.of), n: s.n}
	for i, g := range s.gs {
		if g != nil {
			x := *g
			x.members = slices.Clone(g.members)
			c.gs[i] = &x
		}
	}
	return c
}

// restore goes back to a snapshot, loads included.
func (s *lsearch) restore(c snap) {
	for _, g := range s.gs {
		if g != nil {
			s.apply(g, -1)
		}
	}
	s.gs = make([]*hgroup, len(c.gs))
	for i, g := range c.gs {
		if g != nil {
			x := *g
			x.members = slices.Clone(g.members)
			s.gs[i] = &x
		}
	}
	s.of, s.n = slices.Clone(c.of), c.n
	for _, g := range s.gs {
		if g != nil {
			s.apply(g, 1)
		}
	}
}

// movable reports whether unit i may leave its group: not a fixed
// member, not the leader of a group of two or more.
func (s *lsearch) movable(i int) bool {
	g := s.gs[s.of[i]]
	if g.fixed >= 0 {
		return !slices.Contains(s.lv.fixed[g.fixed].members, i)
	}
	return len(g.members) == 1 || s.lv.units[i].host != g.leader
}

// without is the cost of g without unit i and with unit j (-1: none).
func (s *lsearch) exchanged(g *hgroup, i, j int) float64 {
	ui := &s.lv.units[i]
	count, in, edge := len(g.members)-1, g.in-ui.out, g.edge-s.edgeTo(i, g.leader)
	only := -1
	if j >= 0 {
		uj := &s.lv.units[j]
		count, in, edge = count+1, in+uj.out, edge+s.edgeTo(j, g.leader)
		if count == 1 && g.fixed < 0 {
			return s.h.c.single(uj, s.p)
		}
	} else if count == 1 {
		for _, x := range g.members {
			if x != i {
				only = x
			}
		}
	}
	return s.costOf(g, count, in, edge, only)
}

// swap exchanges two units of different groups when that costs less.
func (s *lsearch) swap() bool {
	improved := false
	n := len(s.lv.units)
	for i := range n {
		if !s.movable(i) {
			continue
		}
		for j := i + 1; j < n; j++ {
			ai, bi := s.of[i], s.of[j]
			if ai == bi || !s.movable(j) {
				continue
			}
			A, B := s.gs[ai], s.gs[bi]
			base := s.cost(A) + s.cost(B)
			d := s.exchanged(A, i, j) + s.exchanged(B, j, i) - base
			if d >= -eps*max(1, math.Abs(base)) {
				continue
			}
			if s.exchange(i, j) {
				improved = true
			}
		}
	}
	return improved
}

// exchange swaps units i and j between their groups, keeping the
// constraints the two groups met.
func (s *lsearch) exchange(i, j int) bool {
	ai, bi := s.of[i], s.of[j]
	A, B := s.gs[ai], s.gs[bi]
	okBefore := s.ok(A) && s.ok(B)
	s.apply(A, -1)
	s.apply(B, -1)
	oldA, oldB := *A, *B
	oldA.members, oldB.members = slices.Clone(A.members), slices.Clone(B.members)
	ui, uj := &s.lv.units[i], &s.lv.units[j]
	swapIn := func(g *hgroup, out, in int, uo, ui *lunit) {
		for k, x := range g.members {
			if x == out {
				g.members[k] = in
			}
		}
		if len(g.members) == 1 && g.fixed < 0 {
			g.leader, g.edge, g.in = ui.host, 0, ui.out
			return
		}
		g.in += ui.out - uo.out
		g.edge += s.edgeTo(in, g.leader) - s.edgeTo(out, g.leader)
	}
	swapIn(A, i, j, ui, uj)
	swapIn(B, j, i, uj, ui)
	s.apply(A, 1)
	s.apply(B, 1)
	if okBefore && !(s.ok(A) && s.ok(B)) {
		s.apply(A, -1)
		s.apply(B, -1)
		*A, *B = oldA, oldB
		s.apply(A, 1)
		s.apply(B, 1)
		return false
	}
	s.of[i], s.of[j] = bi, ai
	return true
}

// recountMove updates the count of groups after a move: A went from
// before to after members; created tells whether B is new.
func (s *lsearch) recountMove(before, after int, created bool) {
	if before > 0 && after == 0 {
		s.n--
	}
	if created {
		s.n++
	}
}

// releader moves each group's aggregator to the member where it costs
// least and fits.
func (s *lsearch) releader() bool {
	improved := false
	for _, g := range s.gs {
		if g == nil || g.fixed >= 0 || len(g.members) < 2 {
			continue
		}
		before := s.cost(g)
		wasOK := s.ok(g)
		old, oldEdge := g.leader, g.edge
		s.apply(g, -1)
		s.chooseLeader(g, wasOK)
		if g.leader != old && s.cost(g) < before-eps*max(1, math.Abs(before)) {
			improved = true
		} else {
			g.leader, g.edge = old, oldEdge
		}
		s.apply(g, 1)
	}
	return improved
}

// merge joins pairs of groups when one group costs less than two. A pair
// is first priced with the aggregator on either group's leader; the
// merged group then gets its best leader.
func (s *lsearch) merge(small bool) bool {
	improved := false
	var byRack map[int32][]int
	if !small {
		byRack = s.byRack()
	}
	var cands []int
	for ai := range s.gs {
		A := s.gs[ai]
		if A == nil || len(A.members) == 0 {
			continue
		}
		cands = s.candidates(A.leader, byRack, small, cands)
		bestB, bestD := -1, 0.0
		for _, bi := range cands {
			B := s.gs[bi]
			if bi == ai || B == nil || len(B.members) == 0 || (A.fixed >= 0 && B.fixed >= 0) {
				continue
			}
			size := s.lv.k
			if A.fixed >= 0 {
				size = A.size
			} else if B.fixed >= 0 {
				size = B.size
			}
			if len(A.members)+len(B.members) > size {
				continue
			}
			base := s.cost(A) + s.cost(B)
			c := inf
			if B.fixed < 0 {
				c = min(c, s.h.c.group(A.edge+s.edgesTo(B, A.leader), A.in+B.in, A.leader, s.p))
			}
			if A.fixed < 0 {
				c = min(c, s.h.c.group(B.edge+s.edgesTo(A, B.leader), A.in+B.in, B.leader, s.p))
			}
			if d := c - base; d < bestD-eps*max(1, math.Abs(base)) {
				bestB, bestD = bi, d
			}
		}
		if bestB < 0 {
			continue
		}
		B := s.gs[bestB]
		U := &hgroup{members: append(slices.Clone(A.members), B.members...), fixed: -1, size: s.lv.k, in: A.in + B.in}
		if F := fixedOf(A, B); F != nil {
			U.fixed, U.leader, U.size = F.fixed, F.leader, F.size
			U.edge = A.edge + B.edge
			if F == A {
				U.edge = A.edge + s.edgesTo(B, A.leader)
			} else {
				U.edge = B.edge + s.edgesTo(A, B.leader)
			}
		} else {
			s.chooseLeader(U, false)
		}
		okBefore := s.ok(A) && s.ok(B)
		s.apply(A, -1)
		s.apply(B, -1)
		s.apply(U, 1)
		if okBefore && !s.ok(U) {
			s.apply(U, -1)
			s.apply(A, 1)
			s.apply(B, 1)
			continue
		}
		keep, drop := ai, bestB
		if B.fixed >= 0 {
			keep, drop = bestB, ai
		}
		s.gs[keep] = U
		s.gs[drop] = nil
		s.n--
		for _, i := range U.members {
			s.of[i] = keep
		}
		improved = true
	}
	return improved
}

func fixedOf(a, b *hgroup) *hgroup {
	if a.fixed >= 0 {
		return a
	}
	if b.fixed >= 0 {
		return b
	}
	return nil
}

// edgesTo is the cost of g's members' edges to host h.
func (s *lsearch) edgesTo(g *hgroup, h int32) float64 {
	var e float64
	for _, i := range g.members {
		e += s.edgeTo(i, h)
	}
	return e
}

// edgeAcc sums the weighted cost of bytes from many hosts to one host in
// constant time per destination, using the tree shape of the network:
// the cost from a to b is both NICs, plus both rack uplinks when the racks
// differ, plus both site uplinks when the sites differ.
type edgeAcc struct {
	in                  *model.Instance
	wb                  float64
	nic, rup, sup       []float64 // link cost per host, rack, site
	W, A, B, C          float64
	hostW, hostX        []float64
	rackW, rackX        []float64
	siteW, siteX        []float64
	hosts, racks, sites []int32
}

func newEdgeAcc(m *cost.Model) edgeAcc {
	in := m.In
	a := edgeAcc{in: in, wb: m.Cfg.Weights.Bytes * 1e-6,
		hostW: make([]float64, len(in.Hosts)), hostX: make([]float64, len(in.Hosts)),
		rackW: make([]float64, len(in.Racks)), rackX: make([]float64, len(in.Racks)),
		siteW: make([]float64, len(in.Sites)), siteX: make([]float64, len(in.Sites))}
	nh, nr := len(in.Hosts), len(in.Racks)
	for i := range in.Hosts {
		a.nic = append(a.nic, in.Links[i].Cost)
	}
	for r := range in.Racks {
		a.rup = append(a.rup, in.Links[nh+r].Cost)
	}
	for s := range in.Sites {
		a.sup = append(a.sup, in.Links[nh+nr+s].Cost)
	}
	return a
}

func (a *edgeAcc) add(h int32, w float64) {
	hi := &a.in.Hosts[h]
	r, s := hi.Rack, hi.Site
	if a.hostW[h] == 0 && a.hostX[h] == 0 {
		a.hosts = append(a.hosts, h)
	}
	if a.rackW[r] == 0 && a.rackX[r] == 0 {
		a.racks = append(a.racks, r)
	}
	if a.siteW[s] == 0 && a.siteX[s] == 0 {
		a.sites = append(a.sites, s)
	}
	a.W += w
	a.A += w * a.nic[h]
	a.B += w * a.rup[r]
	a.C += w * a.sup[s]
	a.hostW[h] += w
	a.hostX[h] += w * a.nic[h]
	a.rackW[r] += w
	a.rackX[r] += w * a.rup[r]
	a.siteW[s] += w
	a.siteX[s] += w * a.sup[s]
}

// to is the summed EdgeCost of everything added, sent to host h.
func (a *edgeAcc) to(h int32) float64 {
	hi := &a.in.Hosts[h]
	r, s := hi.Rack, hi.Site
	c := (a.A - a.hostX[h]) + (a.W-a.hostW[h])*a.nic[h] +
		(a.B - a.rackX[r]) + (a.W-a.rackW[r])*a.rup[r] +
		(a.C - a.siteX[s]) + (a.W-a.siteW[s])*a.sup[s]
	return a.wb * c
}

func (a *edgeAcc) reset() {
	for _, h := range a.hosts {
		a.hostW[h], a.hostX[h] = 0, 0
	}
	for _, r := range a.racks {
		a.rackW[r], a.rackX[r] = 0, 0
	}
	for _, s := range a.sites {
		a.siteW[s], a.siteX[s] = 0, 0
	}
	a.hosts, a.racks, a.sites = a.hosts[:0], a.racks[:0], a.sites[:0]
	a.W, a.A, a.B, a.C = 0, 0, 0, 0
}
