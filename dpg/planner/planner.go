// Package planner chooses a DPG for a topology: it builds every option
// (topology x fan-out), places each option's watch nodes on hosts at
// least cost under the constraints, exactly for small instances and by a
// heuristic for large ones, evaluates every plan with the cost model, and
// explains why the cheapest feasible one wins.
//
// The options:
//
//	centralized      every leaf ships its raw samples to the root
//	hierarchical k   a tree of fan-out k (at most k children per node, the
//	                 root included) of depth ceil(log_k n): groups of at
//	                 most k units, each with an aggregator on one member
//	per-flow k       a tree per flow: a flow root on one of the flow's
//	                 hosts with at most k children, groups below it when
//	                 the flow has more than k hosts
//	reuse            the deployed DPG's aggregators keep their children;
//	                 other hosts join them (up to the reuse fan-out) or
//	                 form groups of their own
//
// Files: level.go (the placement problem both solvers share), exact.go
// (DP over subsets + branch and bound), heuristic.go (locality + local
// search), explain.go (the choice, in words), render.go (table, JSON,
// DOT).
package planner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vscope/vscope/dpg/cost"
)

// Errors of the planner.
var (
	// ErrInfeasible is wrapped when no option meets every constraint.
	ErrInfeasible = errors.New("no feasible DPG")
	// ErrBadOption is wrapped by ParseOption's errors.
	ErrBadOption = errors.New("bad option")
)

// Methods of placement.
const (
	MethodAuto      = "auto"
	MethodExact     = "exact"
	MethodHeuristic = "heuristic"
)

// Config is the cost model and the planner's own settings. Start from
// DefaultConfig; JSON decoded onto it keeps the defaults of keys left out.
type Config struct {
	cost.Config
	// FanOuts are the fan-outs tried for hierarchical and per-flow DPGs.
	FanOuts []int `json:"fan_outs"`
	// ReuseFanOut is the fan-out of the reuse option's aggregators (at
	// least the largest existing group).
	ReuseFanOut int `json:"reuse_fan_out"`
	// Method is auto (exact when every level has at most ExactMaxUnits
	// units and at most one level of aggregators, else the heuristic),
	// exact or heuristic.
	Method string `json:"method"`
	// ExactMaxUnits bounds the exact search (2^n tables, 3^n work).
	ExactMaxUnits int `json:"exact_max_units"`
	// ExactNodeLimit bounds the branch and bound's nodes per option.
	ExactNodeLimit int `json:"exact_node_limit"`
	// Options, when set, restricts planning to these options.
	Options []Option `json:"-"`
	// Workers plans options in parallel; 0 means GOMAXPROCS.
	Workers int `json:"-"`
}

// DefaultConfig returns the planner's defaults.
func DefaultConfig() Config {
	return Config{Config: cost.DefaultConfig(), FanOuts: []int{4, 8, 16, 32, 64, 128}, ReuseFanOut: 32,
		Method: MethodAuto, ExactMaxUnits: 12, ExactNodeLimit: 200000}
}

func (c *Config) normalize() error {
	var errs []error
	if err := c.Config.Normalize(); err != nil {
		errs = append(errs, err)
	}
	if len(c.FanOuts) == 0 {
		errs = append(errs, errors.New("fan_outs: empty"))
	}
	for _, k := range c.FanOuts {
		if k < 2 {
			errs = append(errs, fmt.Errorf("fan_outs: %d: want >= 2", k))
		}
	}
	if c.ReuseFanOut < 2 {
		errs = append(errs, fmt.Errorf("reuse_fan_out: %d: want >= 2", c.ReuseFanOut))
	}
	switch c.Method {
	case MethodAuto, MethodExact, MethodHeuristic:
	default:
		errs = append(errs, fmt.Errorf("method: %q: want auto, exact or heuristic", c.Method))
	}
	if c.ExactMaxUnits < 1 || c.ExactMaxUnits > maxExactUnits {
		errs = append(errs, fmt.Errorf("exact_max_units: %d: want 1..%d", c.ExactMaxUnits, maxExactUnits))
	}
	return errors.Join(errs...)
}

// Option is a topology with its fan-out (0 for centralized).
type Option struct {
	Kind   cost.Kind
	FanOut int
}

func (o Option) String() string {
	if o.Kind == cost.Centralized {
		return string(o.Kind)
	}
	return fmt.Sprintf("%s k=%d", o.Kind, o.FanOut)
}

// MarshalText writes the option as String does.
func (o Option) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// ParseOption reads "centralized", "hierarchical:8", "hierarchical k=8",
// "per-flow:16" or "reuse" (reuse takes the configured fan-out).
func ParseOption(s string) (Option, error) {
	s = strings.TrimSpace(s)
	kind, k, hasK := strings.Cut(strings.ReplaceAll(s, " k=", ":"), ":")
	o := Option{Kind: cost.Kind(kind)}
	switch o.Kind {
	case cost.Centralized:
		if hasK {
			return o, fmt.Errorf("%w: %q: centralized has no fan-out", ErrBadOption, s)
		}
		return o, nil
	case cost.Hierarchical, cost.PerFlow, cost.Reuse:
	default:
		return o, fmt.Errorf("%w: %q: want centralized, hierarchical:K, per-flow:K or reuse", ErrBadOption, s)
	}
	if !hasK {
		if o.Kind == cost.Reuse {
			return o, nil
		}
		return o, fmt.Errorf("%w: %q: %s needs a fan-out (%s:8)", ErrBadOption, s, kind, kind)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(k, "k="))
	if err != nil || n < 2 {
		return o, fmt.Errorf("%w: %q: fan-out %q: want an integer >= 2", ErrBadOption, s, k)
	}
	o.FanOut = n
	return o, nil
}

// Outcome is one option planned and evaluated.
type Outcome struct {
	Option Option
	// Depth is the tree depth of the option (hops from a leaf to the root).
	Depth int
	// Method is how the placement was found: exact or heuristic.
	Method string
	Plan   *cost.Plan
	Eval   *cost.Evaluation
	// Claimed is the solver's own figure of the cost, which Evaluate
	// must agree with (exact only).
	Claimed float64
	// Note says what else the planner knows (e.g. "search limit").
	Note    string
	Elapsed time.Duration
	// Err is set when the option could not be planned at all.
	Err error
}

// Feasible reports whether the outcome has a plan that meets every
// constraint.
func (o *Outcome) Feasible() bool { return o.Err == nil && o.Eval != nil && o.Eval.Feasible() }

// Result is every option with the chosen one.
type Result struct {
	Model    *cost.Model
	Outcomes []Outcome
	// Chosen indexes Outcomes; -1 when no option is feasible.
	Chosen int
	// Why explains the choice, one sentence per line.
	Why []string
}

// Best is the chosen outcome, or nil.
func (r *Result) Best() *Outcome {
	if r.Chosen < 0 {
		return nil
	}
	return &r.Outcomes[r.Chosen]
}

// Plan plans every option of cfg for m's topology and chooses the cheapest
// feasible one. When no option is feasible the result still lists them all,
// and the error (wrapping ErrInfeasible) names the constraints broken.
func Plan(ctx context.Context, m *cost.Model, cfg Config) (*Result, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if len(m.Units(cost.Hierarchical)) == 0 {
		return nil, errors.New("nothing to watch: no host emits metrics")
	}
	opts := cfg.Options
	if len(opts) == 0 {
		opts = Options(m, cfg)
	}
	res := &Result{Model: m, Outcomes: make([]Outcome, len(opts)), Chosen: -1}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for i, o := range opts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				res.Outcomes[i] = Outcome{Option: o, Err: ctx.Err()}
				return
			}
			res.Outcomes[i] = PlanOption(m, cfg, o)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := range res.Outcomes {
		o := &res.Outcomes[i]
		if o.Feasible() && (res.Chosen < 0 || o.Eval.Total < res.Outcomes[res.Chosen].Eval.Total) {
			res.Chosen = i
		}
	}
	res.Why = explain(res)
	if res.Chosen < 0 {
		return res, infeasible(res)
	}
	return res, nil
}

// Options lists the options for m: centralized; hierarchical and per-flow
// for each fan-out, leaving out fan-outs that give the same tree as a
// smaller one (k >= the number of units); reuse when a DPG is deployed.
func Options(m *cost.Model, cfg Config) []Option {
	out := []Option{{Kind: cost.Centralized}}
	ks := slices.Clone(cfg.FanOuts)
	sort.Ints(ks)
	ks = slices.Compact(ks)
	n := len(m.Units(cost.Hierarchical))
	maxFlow := 0
	for _, t := range flowUnits(m) {
		maxFlow = max(maxFlow, len(t))
	}
	for _, kind := range []cost.Kind{cost.Hierarchical, cost.PerFlow} {
		limit := n
		if kind == cost.PerFlow {
			limit = maxFlow
		}
		for _, k := range ks {
			out = append(out, Option{Kind: kind, FanOut: k})
			if k >= limit {
				break // larger fan-outs give the same trees
			}
		}
	}
	if hasReuse(m) {
		out = append(out, Option{Kind: cost.Reuse, FanOut: reuseFanOut(m, cfg)})
	}
	return out
}

func hasReuse(m *cost.Model) bool {
	units := m.Units(cost.Reuse)
	has := map[int32]bool{}
	for _, u := range units {
		has[u.Host] = true
	}
	for _, a := range m.In.ExistingAggs {
		for _, c := range a.Children {
			if has[c] {
				return true
			}
		}
	}
	return false
}

func reuseFanOut(m *cost.Model, cfg Config) int {
	k := cfg.ReuseFanOut
	for _, a := range m.In.ExistingAggs {
		k = max(k, len(a.Children))
	}
	return k
}

// flowUnits are the per-flow unit indices of each flow tree.
func flowUnits(m *cost.Model) [][]int32 {
	out := make([][]int32, len(m.In.FlowTrees))
	for i, u := range m.Units(cost.PerFlow) {
		out[u.Flow] = append(out[u.Flow], int32(i))
	}
	return out
}

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

// PlanOption plans one option and evaluates it.
func PlanOption(m *cost.Model, cfg Config, o Option) Outcome {
	start := time.Now()
	out := Outcome{Option: o}
	if err := cfg.normalize(); err != nil {
		out.Err = err
		return out
	}
	if o.Kind == cost.Reuse && o.FanOut == 0 {
		out.Option.FanOut = reuseFanOut(m, cfg)
		o = out.Option
	}
	pb, err := newProblem(m, cfg, o)
	if err != nil {
		out.Err = err
		return out
	}
	out.Depth = pb.depth
	useExact := cfg.Method == MethodExact || (cfg.Method == MethodAuto && pb.exactOK)
	if useExact && !pb.exactOK {
		out.Err = fmt.Errorf("%s: exact search needs at most %d units per level and one level of aggregators", o, cfg.ExactMaxUnits)
		return out
	}
	if useExact {
		out.Method = MethodExact
		out.Plan, out.Claimed, err = pb.exact(cfg.ExactNodeLimit)
		if errors.Is(err, errSearchLimit) {
			out.Note = "exact search stopped at its node limit: best plan found so far"
			err = nil
		}
	} else {
		out.Method = MethodHeuristic
		out.Plan = pb.heuristic()
	}
	if err == nil && out.Plan == nil {
		err = errors.New("no plan found")
	}
	if err == nil {
		out.Eval, err = cost.Evaluate(m, out.Plan)
	}
	out.Err = err
	out.Elapsed = time.Since(start)
	return out
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

// infeasible is the error of a result with no feasible option: it names
// the constraints the cheapest option breaks.
func infeasible(res *Result) error {
	best := -1
	for i := range res.Outcomes {
		o := &res.Outcomes[i]
		if o.Eval == nil {
			continue
		}
		if best < 0 || len(o.Eval.Violations) < len(res.Outcomes[best].Eval.Violations) ||
			(len(o.Eval.Violations) == len(res.Outcomes[best].Eval.Violations) && o.Eval.Total < res.Outcomes[best].Eval.Total) {
			best = i
		}
	}
	if best < 0 {
		var errs []error
		for _, o := range res.Outcomes {
			errs = append(errs, fmt.Errorf("%s: %w", o.Option, o.Err))
		}
		return fmt.Errorf("%w: %w", ErrInfeasible, errors.Join(errs...))
	}
	return &InfeasibleError{Option: res.Outcomes[best].Option, Violations: res.Outcomes[best].Eval.Violations, Options: len(res.Outcomes)}
}

// InfeasibleError says that no option meets every constraint, naming
// those the least-violating option breaks. It wraps ErrInfeasible.
type InfeasibleError struct {
	Option     Option
	Violations []cost.Violation
	Options    int
}

func (e *InfeasibleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no feasible DPG: each of the %d options breaks a constraint; the closest, %s, breaks %d: ", e.Options, e.Option, len(e.Violations))
	for i, v := range e.Violations {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Violations)-3)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInfeasible) true.
func (e *InfeasibleError) Unwrap() error { return ErrInfeasible }
