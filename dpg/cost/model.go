package cost

import (
	"fmt"

	"github.com/vscope/vscope/dpg/model"
	"github.com/vscope/vscope/dpg/operator"
)

// Kind is a DPG topology.
type Kind string

// Topologies.
const (
	// Centralized: every leaf ships its (filtered) raw samples to the root,
	// which detects on all of them.
	Centralized Kind = "centralized"
	// Hierarchical: leaves detect and summarise; a tree of fan-out k merges
	// the summaries up to the root.
	Hierarchical Kind = "hierarchical"
	// PerFlow: a tree per flow; each flow's root runs SPE over the flow's
	// summaries and confirms alarms before raw windows are shipped.
	PerFlow Kind = "per-flow"
	// Reuse: the deployed DPG's aggregators keep their children; other
	// hosts join them or new groups.
	Reuse Kind = "reuse"
)

// Unit is what one leaf watches: a host's components (one unit per host)
// or, in a per-flow DPG, the components of one flow on one host.
type Unit struct {
	Host int32
	Flow int32 // FlowTrees index in a per-flow DPG, else -1
	Load model.Load
	// Leaf is the leaf's cost and output for the DPG's kind.
	Leaf operator.Leaf
	// Existing is true when the host already runs a leaf watch node.
	Existing bool
}

// Model is a compiled topology with a cost configuration: the units of
// each topology, and the per-unit and per-edge costs the planner and
// Evaluate share. Read-only once built; safe for concurrent use.
type Model struct {
	In  *model.Instance
	Cfg Config

	units map[Kind][]Unit
	// hopLatency per kind: the summary (or sample) interval plus the
	// worst network latency from a host to the root.
	maxLatency float64
	// base is the cost every plan of a kind pays whatever its placement:
	// the leaves, their alarm windows to the root, the root's fixed part.
	base map[Kind]float64
	// aggAt marks hosts with an aggregator of the deployed DPG.
	aggAt []bool
}

// NewModel normalises cfg and builds the model of in.
func NewModel(in *model.Instance, cfg Config) (*Model, error) {
	if err := cfg.Normalize(); err != nil {
		return nil, err
	}
	m := &Model{In: in, Cfg: cfg, units: map[Kind][]Unit{}, base: map[Kind]float64{}}
	m.maxLatency = in.MaxRootLatency()
	m.aggAt = make([]bool, len(in.Hosts))
	for _, a := range in.ExistingAggs {
		m.aggAt[a.Host] = true
	}
	ops := &m.Cfg.Operators
	var host []Unit
	for h := range in.Hosts {
		hi := &in.Hosts[h]
		if hi.Load.Series <= 0 {
			continue
		}
		host = append(host, Unit{Host: int32(h), Flow: -1, Load: hi.Load, Existing: in.ExistingLeaf[h]})
	}
	for _, k := range []Kind{Centralized, Hierarchical, Reuse} {
		us := append([]Unit(nil), host...)
		for i := range us {
			if k == Centralized {
				us[i].Leaf = ops.RawLeaf(us[i].Load)
			} else {
				us[i].Leaf = ops.WatchLeaf(us[i].Load, false)
			}
		}
		m.units[k] = us
	}
	var pf []Unit
	for f, tr := range in.FlowTrees {
		for i, h := range tr.Hosts {
			l := tr.Loads[i]
			if l.Series <= 0 {
				continue
			}
			pf = append(pf, Unit{Host: h, Flow: int32(f), Load: l, Leaf: ops.WatchLeaf(l, true), Existing: in.ExistingLeaf[h]})
		}
	}
	m.units[PerFlow] = pf
	for _, k := range []Kind{Centralized, Hierarchical, PerFlow, Reuse} {
		m.base[k] = m.baseCost(k)
	}
	return m, nil
}

// Units returns the leaves' units of a topology; do not modify.
func (m *Model) Units(k Kind) []Unit { return m.units[k] }

// Ops is the operator configuration.
func (m *Model) Ops() *operator.Set { return &m.Cfg.Operators }

const gib = 1 << 30

// EdgeCost is the weighted cost of bytes/s from host a to host b.
func (m *Model) EdgeCost(a, b int32, bytes float64) float64 {
	return m.Cfg.Weights.Bytes * 1e-6 * bytes * m.In.PathCost(a, b)
}

// NodeCost is the weighted cost of a watch node using cpu cores and mem
// bytes, new or reused.
func (m *Model) NodeCost(cpu, mem float64, reused bool) float64 {
	w := &m.Cfg.Weights
	n := w.Node
	if reused {
		n *= m.Cfg.ReuseFactor
	}
	return w.CPU*cpu + w.Memory*mem/gib + n
}

// ResourceCost is the weighted cost of cpu cores and mem bytes.
func (m *Model) ResourceCost(cpu, mem float64) float64 {
	return m.Cfg.Weights.CPU*cpu + m.Cfg.Weights.Memory*mem/gib
}

// RootInput is the analysis root's CPU and memory per in bytes/s of
// summaries received: it decodes them and keeps one window.
func (m *Model) RootInput(in float64) (cpu, mem float64) {
	return m.Cfg.Operators.RootIngest(in), in * m.Cfg.Operators.Aggregate.Window.Seconds()
}

// HopLatency is the per-hop delay of a kind: the interval at which a node
// emits (samples for centralized, summary windows otherwise) plus the
// worst network latency from a host to the root.
func (m *Model) HopLatency(k Kind) float64 {
	if k == Centralized {
		return m.Cfg.Operators.SampleInterval.Seconds() + m.maxLatency
	}
	return m.Cfg.Operators.Aggregate.Window.Seconds() + m.maxLatency
}

// DelayCost is the weighted cost of a tree of the given depth.
func (m *Model) DelayCost(k Kind, depth int) float64 {
	return m.Cfg.Weights.Delay * float64(depth) * m.HopLatency(k)
}

// BaseCost is what every plan of kind k pays whatever its tree: the leaves
// (their CPU, memory and node cost), their alarm windows to the root and
// the root's handling of them, the root node's own memory and, for
// centralized, the root's detection on raw samples. Delay is not included.
func (m *Model) BaseCost(k Kind) float64 { return m.base[k] }

func (m *Model) baseCost(k Kind) float64 {
	root := m.In.Root
	var c, alarms float64
	var raw model.Load
	for _, u := range m.units[k] {
		c += m.NodeCost(u.Leaf.CPU, u.Leaf.Memory, u.Existing)
		c += m.EdgeCost(u.Host, root, u.Leaf.Alarm)
		alarms += u.Leaf.Alarm
		raw = raw.Add(u.Load)
	}
	ops := &m.Cfg.Operators
	c += m.ResourceCost(ops.RootIngest(alarms), float64(ops.NodeMemory))
	if k == Centralized {
		c += m.ResourceCost(ops.RootRaw(raw))
	}
	return c
}

// Role is a watch node's role in a plan.
type Role uint8

// Roles.
const (
	RoleRoot Role = iota
	RoleLeaf
	RoleAggregator
	RoleFlowRoot
)

func (r Role) String() string {
	switch r {
	case RoleRoot:
		return "root"
	case RoleLeaf:
		return "leaf"
	case RoleAggregator:
		return "aggregator"
	case RoleFlowRoot:
		return "flow-root"
	}
	return fmt.Sprintf("role(%d)", r)
}

// Node is a watch node placed on a host.
type Node struct {
	Role Role
	Host int32
	// Parent is the index of the node this one sends to; -1 for the root.
	Parent int32
	// Unit is a leaf's unit (index into Model.Units(kind)); -1 otherwise.
	Unit int32
	// Flow is the FlowTrees index of a per-flow node; -1 otherwise.
	Flow int32
}

// Plan is a DPG: watch nodes on hosts forming a tree from the leaves to
// the analysis root. Nodes[0] is the root; every node comes after its
// parent.
type Plan struct {
	Kind   Kind
	FanOut int
	Nodes  []Node
}

// Reused reports whether node n of the plan runs on a watch node the
// deployed DPG already has.
func (m *Model) Reused(n *Node, units []Unit) bool {
	switch n.Role {
	case RoleLeaf:
		return units[n.Unit].Existing
	case RoleAggregator:
		return m.hasExistingAgg(n.Host)
	case RoleFlowRoot:
		return m.In.ExistingFlowRoot[[2]int32{n.Flow, n.Host}]
	}
	return false
}

func (m *Model) hasExistingAgg(h int32) bool { return m.aggAt[h] }

// ExistingAggAt reports whether the deployed DPG has an aggregator on h.
func (m *Model) ExistingAggAt(h int32) bool { return m.hasExistingAgg(h) }
