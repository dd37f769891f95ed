package planner

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/vscope/vscope/dpg/cost"
	"github.com/vscope/vscope/dpg/model"
)

// explain says why the chosen option wins: against the runner-up term by
// term, against centralized in bytes, and which options are refused for
// which constraint.
func explain(res *Result) []string {
	var why []string
	var feasible []int
	for i := range res.Outcomes {
		if res.Outcomes[i].Feasible() {
			feasible = append(feasible, i)
		}
	}
	sort.SliceStable(feasible, func(a, b int) bool {
		return res.Outcomes[feasible[a]].Eval.Total < res.Outcomes[feasible[b]].Eval.Total
	})
	if res.Chosen < 0 {
		why = append(why, "No option meets every constraint.")
	} else {
		c := &res.Outcomes[res.Chosen]
		b := &c.Eval.Breakdown
		lead := fmt.Sprintf("%s is the cheapest of %d feasible options", c.Option, len(feasible))
		if len(feasible) == 1 {
			lead = fmt.Sprintf("%s is the only feasible option", c.Option)
		}
		why = append(why, fmt.Sprintf("%s: cost %s = bytes %s + CPU %s + memory %s + delay %s + nodes %s.",
			lead, num(b.Total), num(b.CostBytes), num(b.CostCPU), num(b.CostMemory), num(b.CostDelay), num(b.CostNodes)))
		if c.Option.Kind == cost.Hierarchical && b.Depth == 1 {
			why = append(why, fmt.Sprintf("With k=%d at least the %d watched hosts the tree is flat: every leaf detects and summarises locally and sends straight to the root.",
				c.Option.FanOut, len(res.Model.Units(cost.Hierarchical))))
		}
		// Options that cost the same (the same tree under another fan-out)
		// are named; the comparison is with the next cheaper one.
		var ties []string
		for _, i := range feasible {
			o := &res.Outcomes[i]
			if i == res.Chosen {
				continue
			}
			if o.Eval.Total <= b.Total*(1+1e-9) {
				ties = append(ties, o.Option.String())
				continue
			}
			why = append(why, compare(c, o, "the runner-up"))
			break
		}
		if len(ties) > 0 {
			why = append(why, fmt.Sprintf("%s cost the same (the same tree); the first listed is kept.", strings.Join(ties, ", ")))
		}
		for i := range res.Outcomes {
			o := &res.Outcomes[i]
			if o.Option.Kind == cost.Centralized && i != res.Chosen && o.Eval != nil && b.HostBytes > 0 {
				why = append(why, fmt.Sprintf("Against shipping every kept sample to the root (centralized), %.3gx fewer bytes leave the hosts (%s vs %s) and the root receives %.3gx less (%s vs %s).",
					o.Eval.HostBytes/b.HostBytes, model.FormatRate(b.HostBytes), model.FormatRate(o.Eval.HostBytes),
					o.Eval.RootIngest/math.Max(b.RootIngest, 1e-9), model.FormatRate(b.RootIngest), model.FormatRate(o.Eval.RootIngest)))
			}
		}
	}
	for i := range res.Outcomes {
		o := &res.Outcomes[i]
		switch {
		case o.Err != nil:
			why = append(why, fmt.Sprintf("%s could not be planned: %v.", o.Option, o.Err))
		case !o.Feasible():
			v := o.Eval.Violations
			more := ""
			if len(v) > 1 {
				more = fmt.Sprintf(" (and %d more)", len(v)-1)
			}
			why = append(why, fmt.Sprintf("%s is refused: %s%s.", o.Option, v[0], more))
		}
	}
	return why
}

// compare says how chosen beats other, term by term.
func compare(chosen, other *Outcome, label string) string {
	a, b := &chosen.Eval.Breakdown, &other.Eval.Breakdown
	type term struct {
		name   string
		ca, cb float64
		what   string
	}
	terms := []term{
		{"bytes", a.CostBytes, b.CostBytes, fmt.Sprintf("%s vs %s link-weighted", model.FormatRate(a.LinkBytes), model.FormatRate(b.LinkBytes))},
		{"CPU", a.CostCPU, b.CostCPU, fmt.Sprintf("%.3g vs %.3g cores", a.CPU, b.CPU)},
		{"memory", a.CostMemory, b.CostMemory, fmt.Sprintf("%s vs %s", model.FormatBytes(a.Memory), model.FormatBytes(b.Memory))},
		{"delay", a.CostDelay, b.CostDelay, fmt.Sprintf("%.3g s vs %.3g s", a.Delay, b.Delay)},
		{"nodes", a.CostNodes, b.CostNodes, fmt.Sprintf("%d new + %d reused vs %d + %d", a.NewNodes, a.ReusedNodes, b.NewNodes, b.ReusedNodes)},
	}
	sort.SliceStable(terms, func(i, j int) bool { return math.Abs(terms[i].cb-terms[i].ca) > math.Abs(terms[j].cb-terms[j].ca) })
	var gains, losses []string
	for _, t := range terms {
		d := t.cb - t.ca
		if math.Abs(d) < 1e-9*math.Max(1, math.Abs(b.Total)) {
			continue
		}
		s := fmt.Sprintf("%s %s (%s)", num(math.Abs(d)), t.name, t.what)
		if d > 0 {
			gains = append(gains, s)
		} else {
			losses = append(losses, s)
		}
	}
	pct := 100 * (b.Total - a.Total) / math.Max(a.Total, 1e-12)
	s := fmt.Sprintf("It beats %s, %s (cost %s, %.3g%% more)", label, other.Option, num(b.Total), pct)
	if len(gains) > 0 {
		s += ": it saves " + strings.Join(gains, ", ")
	}
	if len(losses) > 0 {
		s += "; it pays " + strings.Join(losses, ", ") + " more"
	}
	return s + "."
}

// num formats a cost with four significant digits.
func num(v float64) string {
	if v == 0 {
		return "0"
	}
	return fmt.Sprintf("%.4g", v)
}
