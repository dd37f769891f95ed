package planner_test

import (
	"testing"

	"github.com/vscope/vscope/dpg/cost"
	"github.com/vscope/vscope/dpg/planner"
)

// checkShape checks what Evaluate does not: the tree has the option's
// shape. Fan-out at most k (the root too in a hierarchical DPG; a reuse
// aggregator may keep more children than k, the ones it had), the
// option's depth, every aggregator on the host of one of the leaves below
// it, flow roots on a host of their flow.
func checkShape(t *testing.T, m *cost.Model, o *planner.Outcome) {
	t.Helper()
	p, e := o.Plan, o.Eval
	k := o.Option.FanOut
	hostsBelow := make([]map[int32]bool, len(p.Nodes))
	for i := len(p.Nodes) - 1; i >= 0; i-- {
		n := &p.Nodes[i]
		if hostsBelow[i] == nil {
			hostsBelow[i] = map[int32]bool{}
		}
		if n.Role == cost.RoleLeaf {
			hostsBelow[i][n.Host] = true
		}
		if i > 0 {
			if hostsBelow[n.Parent] == nil {
				hostsBelow[n.Parent] = map[int32]bool{}
			}
			for h := range hostsBelow[i] {
				hostsBelow[n.Parent][h] = true
			}
		}
	}
	for i, n := range p.Nodes {
		c := int(e.Children[i])
		switch {
		case n.Role == cost.RoleAggregator && o.Option.Kind != cost.Reuse && c > k,
			n.Role == cost.RoleFlowRoot && c > k,
			n.Role == cost.RoleRoot && o.Option.Kind == cost.Hierarchical && c > k:
			t.Errorf("%s: node %d (%v) has %d children, fan-out %d", o.Option, i, n.Role, c, k)
		}
		if (n.Role == cost.RoleAggregator || n.Role == cost.RoleFlowRoot) && !hostsBelow[i][n.Host] {
			t.Errorf("%s: node %d (%v) on %s, which has no leaf below it", o.Option, i, n.Role, m.In.Hosts[n.Host].Name)
		}
	}
	if e.Depth != o.Depth {
		t.Errorf("%s: depth %d, the option's is %d", o.Option, e.Depth, o.Depth)
	}
}
