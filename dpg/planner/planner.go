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
// Files: planner.go (options, Plan, results), problem.go (an option as
// trees of levels, wired to either solver), level.go (the placement
// problem both solvers share, plan assembly), exact.go (DP over subsets +
// branch and bound), heuristic.go (locality + local search), explain.go
// (the choice, in words), render.go (table, JSON, DOT).
package planner

import (
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
