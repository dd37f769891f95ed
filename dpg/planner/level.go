package planner

import (
	"github.com/vscope/vscope/dpg/cost"
	"github.com/vscope/vscope/dpg/model"
)

// A level is one placement problem both solvers share: units (leaves, or
// the groups of the level below) are partitioned into groups of at most k;
// a group of two or more gets an aggregator on one of its members' hosts
// (its leader); groups and single units send to the parent (the root or a
// flow root). At most maxGroups groups may send to the parent.
type level struct {
	units     []lunit
	k         int
	maxGroups int  // 0: unlimited
	star      bool // only single units: every unit sends to the parent
	// fixed are aggregators of the deployed DPG (reuse): leader fixed,
	// some members fixed, room for more.
	fixed []fixedGroup
}

// lunit is a unit of a level.
type lunit struct {
	host int32
	out  float64 // bytes/s it sends up
	leaf int32   // model unit index of a leaf; -1 for a group below
	// below is the index of the group of the level below; -1 for a leaf.
	below int32
	// key orders units by locality: site, rack, host.
	key uint64
}

// fixedGroup is an existing aggregator.
type fixedGroup struct {
	host    int32
	members []int // unit indices fixed to it
	room    int   // how many more units it may take
}

// parentSpec is the node a level sends to, with its marginal cost per byte
// received.
type parentSpec struct {
	host int32
	// Per byte/s received: CPU cores, memory bytes, weighted cost.
	cpuPerByte, memPerByte, costPerByte float64
}

// group is a solved group: members (unit indices of its level) and the
// leader's host; agg says whether it has an aggregator node (two or more
// members, or a fixed group).
type group struct {
	members []int
	leader  int32
	agg     bool
	fixed   int // fixedGroup index, or -1
}

// tree is a solved tree below one parent: levels[0] groups units that are
// leaves, levels[i] groups the groups of levels[i-1].
type tree struct {
	parent parentSpec
	flow   int32 // FlowTrees index of a per-flow tree, else -1
	levels [][]group
	units  [][]lunit // the units of each level
}

// costs bundles the cost functions of one plan kind.
type costs struct {
	m    *cost.Model
	kind cost.Kind
	cap  float64 // an aggregator's largest output
	// An aggregator's CPU and memory per input byte/s, and its fixed
	// memory (as operator.Set.Merge).
	cpuPB, memPB, mem0 float64
}

func newCosts(m *cost.Model, kind cost.Kind) *costs {
	_, c1, m1 := m.Ops().Merge(1)
	_, _, m0 := m.Ops().Merge(0)
	return &costs{m: m, kind: kind, cap: m.Ops().MergeCap(), cpuPB: c1, memPB: m1 - m0, mem0: m0}
}

// merge is an aggregator's output, CPU and memory for in bytes/s.
func (c *costs) merge(in float64) (out, cpu, mem float64) {
	return min(in, c.cap), c.cpuPB * in, c.mem0 + c.memPB*in
}

// rootParent is the analysis root as a parent.
func (c *costs) rootParent() parentSpec {
	cpu, mem := c.m.RootInput(1)
	return parentSpec{host: c.m.In.Root, cpuPerByte: cpu, memPerByte: mem, costPerByte: c.m.ResourceCost(cpu, mem)}
}

// flowParent is a flow root on host h as a parent.
func (c *costs) flowParent(h int32) parentSpec {
	_, c0, m0 := c.m.Ops().FlowRoot(0)
	_, c1, m1 := c.m.Ops().FlowRoot(1)
	cpu, mem := c1-c0, m1-m0
	return parentSpec{host: h, cpuPerByte: cpu, memPerByte: mem, costPerByte: c.m.ResourceCost(cpu, mem)}
}

// single is the cost of unit u sending straight to the parent.
func (c *costs) single(u *lunit, p *parentSpec) float64 {
	return c.m.EdgeCost(u.host, p.host, u.out) + p.costPerByte*u.out
}

// aggOut is what an aggregator receiving in bytes/s emits.
func (c *costs) aggOut(in float64) float64 { return min(in, c.cap) }

// group is the cost of a group with an aggregator on leader: edgeSum is
// the members' edges to the leader, in their bytes/s.
func (c *costs) group(edgeSum, in float64, leader int32, p *parentSpec) float64 {
	out, cpu, mem := c.merge(in)
	return edgeSum + c.m.NodeCost(cpu, mem, c.m.ExistingAggAt(leader)) + c.m.EdgeCost(leader, p.host, out) + p.costPerByte*out
}

// applyGroup adds (sign 1) or removes (sign -1) a group's loads: the
// members' edges, the aggregator, its edge to the parent and the parent's
// marginal load.
func (c *costs) applyGroup(l *cost.Loads, units []lunit, g *group, p *parentSpec, sign float64) {
	if !g.agg {
		u := &units[g.members[0]]
		l.Edge(u.host, p.host, sign*u.out)
		l.Node(p.host, sign*p.cpuPerByte*u.out, sign*p.memPerByte*u.out)
		return
	}
	var in float64
	for _, i := range g.members {
		u := &units[i]
		l.Edge(u.host, g.leader, sign*u.out)
		in += u.out
	}
	out, cpu, mem := c.merge(in)
	l.Node(g.leader, sign*cpu, sign*mem)
	l.Edge(g.leader, p.host, sign*out)
	l.Node(p.host, sign*p.cpuPerByte*out, sign*p.memPerByte*out)
}

// groupOK checks the resources a group's loads touch.
func groupOK(l *cost.Loads, units []lunit, g *group, p *parentSpec) bool {
	if !g.agg {
		return l.PathOK(units[g.members[0]].host, p.host)
	}
	for _, i := range g.members {
		if !l.PathOK(units[i].host, g.leader) {
			return false
		}
	}
	return l.PathOK(g.leader, p.host)
}

// groupOut is a group's output.
func (c *costs) groupOut(units []lunit, g *group) float64 {
	if !g.agg {
		return units[g.members[0]].out
	}
	var in float64
	for _, i := range g.members {
		in += units[i].out
	}
	return c.aggOut(in)
}

// baseLoads are the loads every plan of the kind has: leaves, their alarm
// windows to the root, the root's fixed part (as in cost.Evaluate).
func (c *costs) baseLoads() *cost.Loads {
	m := c.m
	l := cost.NewLoads(m)
	ops := m.Ops()
	var alarms float64
	var raw model.Load
	for _, u := range m.Units(c.kind) {
		l.Node(u.Host, u.Leaf.CPU, u.Leaf.Memory)
		l.Edge(u.Host, m.In.Root, u.Leaf.Alarm)
		alarms += u.Leaf.Alarm
		raw = raw.Add(u.Load)
	}
	l.Node(m.In.Root, ops.RootIngest(alarms), float64(ops.NodeMemory))
	if c.kind == cost.Centralized {
		cpu, mem := ops.RootRaw(raw)
		l.Node(m.In.Root, cpu, mem)
	}
	return l
}

// flowRootFixed is the fixed part of a flow root on host h for flow f
// whose leaves emit in bytes/s in all: its node, its edge to the root,
// the root's load for it.
func (c *costs) flowRootFixed(f int32, h int32, in float64) float64 {
	m := c.m
	out := c.aggOut(in)
	_, cpu, mem := m.Ops().FlowRoot(0)
	rp := c.rootParent()
	return m.NodeCost(cpu, mem, m.In.ExistingFlowRoot[[2]int32{f, h}]) + m.EdgeCost(h, m.In.Root, out) + rp.costPerByte*out
}

// applyFlowRoot adds or removes a flow root's fixed loads.
func (c *costs) applyFlowRoot(l *cost.Loads, h int32, in float64, sign float64) {
	m := c.m
	out := c.aggOut(in)
	_, cpu, mem := m.Ops().FlowRoot(0)
	rp := c.rootParent()
	l.Node(h, sign*cpu, sign*mem)
	l.Edge(h, m.In.Root, sign*out)
	l.Node(m.In.Root, sign*rp.cpuPerByte*out, sign*rp.memPerByte*out)
}

// assemble turns solved trees into a plan. Trees with flow >= 0 get a
// flow root node on their parent's host.
func assemble(kind cost.Kind, k int, root int32, trees []*tree) *cost.Plan {
	p := &cost.Plan{Kind: kind, FanOut: k}
	p.Nodes = append(p.Nodes, cost.Node{Role: cost.RoleRoot, Host: root, Parent: -1, Unit: -1, Flow: -1})
	for _, t := range trees {
		parent := int32(0)
		if t.flow >= 0 {
			p.Nodes = append(p.Nodes, cost.Node{Role: cost.RoleFlowRoot, Host: t.parent.host, Parent: 0, Unit: -1, Flow: t.flow})
			parent = int32(len(p.Nodes) - 1)
		}
		top := len(t.levels) - 1
		for gi := range t.levels[top] {
			addGroup(p, t, top, gi, parent)
		}
	}
	return p
}

// addGroup adds group gi of level lv and everything below it.
func addGroup(p *cost.Plan, t *tree, lv, gi int, parent int32) {
	g := &t.levels[lv][gi]
	if g.agg {
		p.Nodes = append(p.Nodes, cost.Node{Role: cost.RoleAggregator, Host: g.leader, Parent: parent, Unit: -1, Flow: t.flow})
		parent = int32(len(p.Nodes) - 1)
	}
	for _, i := range g.members {
		u := &t.units[lv][i]
		if u.leaf >= 0 {
			p.Nodes = append(p.Nodes, cost.Node{Role: cost.RoleLeaf, Host: u.host, Parent: parent, Unit: u.leaf, Flow: t.flow})
		} else {
			addGroup(p, t, lv-1, int(u.below), parent)
		}
	}
}

// leafUnits are the level units of the model units with the given
// indices, ordered by locality.
func leafUnits(m *cost.Model, kind cost.Kind, idx []int32) []lunit {
	us := m.Units(kind)
	out := make([]lunit, len(idx))
	for i, x := range idx {
		u := &us[x]
		out[i] = lunit{host: u.Host, out: u.Leaf.Summary, leaf: x, below: -1, key: localityKey(m, u.Host)}
	}
	return out
}

func localityKey(m *cost.Model, h int32) uint64 {
	hi := &m.In.Hosts[h]
	return uint64(hi.Site)<<42 | uint64(hi.Rack)<<21 | uint64(h)
}
