package cost

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/vscope/vscope/dpg/model"
)

// ErrBadPlan is wrapped by Evaluate's errors about a plan's structure (a
// planner bug, not a constraint).
var ErrBadPlan = errors.New("malformed plan")

// Violation is a hard constraint a plan breaks.
type Violation struct {
	// Resource is "cpu", "memory", "ingest" or "link".
	Resource string
	// Where is "node h7" or "link rack r0003 uplink (up)".
	Where       string
	Limit, Used float64
}

func (v Violation) String() string {
	switch v.Resource {
	case "cpu":
		return fmt.Sprintf("%s CPU capacity %.3g cores exceeded: %.3g cores", v.Where, v.Limit, v.Used)
	case "memory":
		return fmt.Sprintf("%s memory capacity %s exceeded: %s", v.Where, model.FormatBytes(v.Limit), model.FormatBytes(v.Used))
	case "ingest":
		return fmt.Sprintf("%s ingest capacity %s exceeded: %s", v.Where, model.FormatRate(v.Limit), model.FormatRate(v.Used))
	case "link":
		return fmt.Sprintf("%s monitoring budget %s exceeded: %s", v.Where, model.FormatRate(v.Limit), model.FormatRate(v.Used))
	}
	return fmt.Sprintf("%s %s limit %g exceeded: %g", v.Where, v.Resource, v.Limit, v.Used)
}

// over reports used > limit beyond rounding.
func over(used, limit float64) bool { return used > limit*(1+1e-9)+1e-12 }

// Loads are the resources a plan uses: per host CPU, memory and ingest
// (bytes/s received from other hosts), per link the bytes/s in each
// direction. Not safe for concurrent use.
type Loads struct {
	in     *model.Instance
	budget []float64 // per link: bandwidth x share
	CPU    []float64
	Mem    []float64
	Ingest []float64
	Up     []float64
	Down   []float64
}

// NewLoads returns empty loads for m's topology.
func NewLoads(m *Model) *Loads {
	nh, nl := len(m.In.Hosts), m.In.NumLinks()
	l := &Loads{in: m.In, budget: make([]float64, nl),
		CPU: make([]float64, nh), Mem: make([]float64, nh), Ingest: make([]float64, nh),
		Up: make([]float64, nl), Down: make([]float64, nl)}
	for i, k := range m.In.Links {
		l.budget[i] = k.Bandwidth * m.Cfg.LinkShare
	}
	return l
}

// Clone returns a copy of l.
func (l *Loads) Clone() *Loads {
	c := *l
	c.CPU, c.Mem, c.Ingest = append([]float64(nil), l.CPU...), append([]float64(nil), l.Mem...), append([]float64(nil), l.Ingest...)
	c.Up, c.Down = append([]float64(nil), l.Up...), append([]float64(nil), l.Down...)
	return &c
}

// Edge adds bytes/s sent from host a to host b (negative to remove).
func (l *Loads) Edge(a, b int32, bytes float64) {
	if a == b || bytes == 0 {
		return
	}
	l.Ingest[b] += bytes
	l.in.Path(a, b, func(link int32, up bool) {
		if up {
			l.Up[link] += bytes
		} else {
			l.Down[link] += bytes
		}
	})
}

// Node adds a watch node's CPU and memory on host h (negative to remove).
func (l *Loads) Node(h int32, cpu, mem float64) {
	l.CPU[h] += cpu
	l.Mem[h] += mem
}

// Budget is link k's monitoring budget in bytes/s per direction.
func (l *Loads) Budget(k int32) float64 { return l.budget[k] }

// HostOK reports whether host h is within its capacity.
func (l *Loads) HostOK(h int32) bool {
	hi := &l.in.Hosts[h]
	return !over(l.CPU[h], hi.CPU) && !over(l.Mem[h], hi.Memory) && !over(l.Ingest[h], hi.Ingest)
}

// LinkOK reports whether link k is within its monitoring budget.
func (l *Loads) LinkOK(k int32) bool {
	return !over(l.Up[k], l.budget[k]) && !over(l.Down[k], l.budget[k])
}

// PathOK reports whether the links from a to b and host b are within
// their limits.
func (l *Loads) PathOK(a, b int32) bool {
	if a == b {
		return l.HostOK(b)
	}
	ok := l.HostOK(b)
	l.in.Path(a, b, func(k int32, _ bool) { ok = ok && l.LinkOK(k) })
	return ok
}

// HostViolations appends host h's violations to dst.
func (l *Loads) HostViolations(h int32, dst []Violation) []Violation {
	hi := &l.in.Hosts[h]
	if over(l.CPU[h], hi.CPU) {
		dst = append(dst, Violation{"cpu", "node " + hi.Name, hi.CPU, l.CPU[h]})
	}
	if over(l.Mem[h], hi.Memory) {
		dst = append(dst, Violation{"memory", "node " + hi.Name, hi.Memory, l.Mem[h]})
	}
	if over(l.Ingest[h], hi.Ingest) {
		dst = append(dst, Violation{"ingest", "node " + hi.Name, hi.Ingest, l.Ingest[h]})
	}
	return dst
}

// LinkViolations appends link k's violations to dst.
func (l *Loads) LinkViolations(k int32, dst []Violation) []Violation {
	if over(l.Up[k], l.budget[k]) {
		dst = append(dst, Violation{"link", "link " + l.in.Links[k].Name + " (up)", l.budget[k], l.Up[k]})
	}
	if over(l.Down[k], l.budget[k]) {
		dst = append(dst, Violation{"link", "link " + l.in.Links[k].Name + " (down)", l.budget[k], l.Down[k]})
	}
	return dst
}

// Violations is every constraint broken, the worst (used/limit) first.
func (l *Loads) Violations() []Violation {
	var v []Violation
	for h := range l.CPU {
		v = l.HostViolations(int32(h), v)
	}
	for k := range l.Up {
		v = l.LinkViolations(int32(k), v)
	}
	sort.SliceStable(v, func(i, j int) bool { return v[i].Used/v[i].Limit > v[j].Used/v[j].Limit })
	return v
}

// Breakdown is a plan's resource use, its cost term by term, and the
// constraints it breaks.
type Breakdown struct {
	Depth       int
	Nodes       int // watch nodes, the root included
	NewNodes    int
	ReusedNodes int
	Aggregators int // aggregators and flow roots
	// HostBytes is the monitoring bytes/s leaving hosts; RootIngest the
	// bytes/s the root receives from other hosts; LinkBytes the bytes/s
	// summed over every link crossed, each times its cost weight.
	HostBytes, RootIngest, LinkBytes float64
	CPU                              float64 // cores
	Memory                           float64 // bytes
	Delay                            float64 // seconds
	// The weighted terms and their sum.
	CostBytes, CostCPU, CostMemory, CostDelay, CostNodes, Total float64
	Violations                                                  []Violation
}

// Feasible reports whether no constraint is broken.
func (b *Breakdown) Feasible() bool { return len(b.Violations) == 0 }

// Evaluation is a plan's breakdown with the figures of each node.
type Evaluation struct {
	Breakdown
	// Per node: bytes/s in and out, CPU cores, memory bytes.
	In, Out, CPU, Mem []float64
	Children          []int32 // per node
	Loads             *Loads
}

// Evaluate computes what plan p costs and which constraints it breaks.
// It is the reference every planner's figures are checked against.
func Evaluate(m *Model, p *Plan) (*Evaluation, error) {
	units := m.Units(p.Kind)
	if units == nil && p.Kind != Centralized && p.Kind != Hierarchical && p.Kind != PerFlow && p.Kind != Reuse {
		return nil, fmt.Errorf("%w: unknown kind %q", ErrBadPlan, p.Kind)
	}
	n := len(p.Nodes)
	if n == 0 || p.Nodes[0].Role != RoleRoot || p.Nodes[0].Host != m.In.Root || p.Nodes[0].Parent != -1 {
		return nil, fmt.Errorf("%w: node 0 must be the root on the root host", ErrBadPlan)
	}
	e := &Evaluation{In: make([]float64, n), Out: make([]float64, n), CPU: make([]float64, n), Mem: make([]float64, n),
		Children: make([]int32, n), Loads: NewLoads(m)}
	seen := make([]bool, len(units))
	for i := 1; i < n; i++ {
		nd := &p.Nodes[i]
		if nd.Parent < 0 || int(nd.Parent) >= i {
			return nil, fmt.Errorf("%w: node %d: parent %d must come before it", ErrBadPlan, i, nd.Parent)
		}
		if nd.Host < 0 || int(nd.Host) >= len(m.In.Hosts) {
			return nil, fmt.Errorf("%w: node %d: no host %d", ErrBadPlan, i, nd.Host)
		}
		e.Children[nd.Parent]++
		switch nd.Role {
		case RoleLeaf:
			if nd.Unit < 0 || int(nd.Unit) >= len(units) || seen[nd.Unit] || units[nd.Unit].Host != nd.Host {
				return nil, fmt.Errorf("%w: node %d: bad or repeated unit %d", ErrBadPlan, i, nd.Unit)
			}
			seen[nd.Unit] = true
		case RoleAggregator:
		case RoleFlowRoot:
			if nd.Flow < 0 || int(nd.Flow) >= len(m.In.FlowTrees) {
				return nil, fmt.Errorf("%w: node %d: no flow %d", ErrBadPlan, i, nd.Flow)
			}
		default:
			return nil, fmt.Errorf("%w: node %d: role %v", ErrBadPlan, i, nd.Role)
		}
	}
	for u, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("%w: unit %d (host %s) has no leaf", ErrBadPlan, u, m.In.Hosts[units[u].Host].Name)
		}
	}
	ops := m.Ops()
	b := &e.Breakdown
	var alarms float64
	var raw model.Load
	// Children come after their parents: summing in reverse order gives
	// every node its complete input before it is used.
	for i := n - 1; i >= 1; i-- {
		nd := &p.Nodes[i]
		switch nd.Role {
		case RoleLeaf:
			if e.Children[i] > 0 {
				return nil, fmt.Errorf("%w: node %d: a leaf with children", ErrBadPlan, i)
			}
			u := &units[nd.Unit]
			e.Out[i], e.CPU[i], e.Mem[i] = u.Leaf.Summary, u.Leaf.CPU, u.Leaf.Memory
			e.Loads.Edge(nd.Host, m.In.Root, u.Leaf.Alarm)
			if nd.Host != m.In.Root {
				b.HostBytes += u.Leaf.Alarm
			}
			alarms += u.Leaf.Alarm
			raw = raw.Add(u.Load)
		case RoleAggregator:
			if e.Children[i] == 0 {
				return nil, fmt.Errorf("%w: node %d: aggregator without children", ErrBadPlan, i)
			}
			e.Out[i], e.CPU[i], e.Mem[i] = ops.Merge(e.In[i])
			b.Aggregators++
		case RoleFlowRoot:
			e.Out[i], e.CPU[i], e.Mem[i] = ops.FlowRoot(e.In[i])
			b.Aggregators++
		}
		par := p.Nodes[nd.Parent].Host
		e.In[nd.Parent] += e.Out[i]
		e.Loads.Edge(nd.Host, par, e.Out[i])
		if nd.Host != par {
			b.HostBytes += e.Out[i]
		}
		e.Loads.Node(nd.Host, e.CPU[i], e.Mem[i])
		if m.Reused(nd, units) {
			b.ReusedNodes++
		} else {
			b.NewNodes++
		}
	}
	// The root.
	rc, rm := m.RootInput(e.In[0])
	rc += ops.RootIngest(alarms)
	rm += float64(ops.NodeMemory)
	if p.Kind == Centralized {
		c, mm := ops.RootRaw(raw)
		rc, rm = rc+c, rm+mm
	}
	e.CPU[0], e.Mem[0] = rc, rm
	e.In[0] += alarms
	e.Loads.Node(m.In.Root, rc, rm)
	b.Nodes = n
	// Depth: parents come first.
	depth := make([]int, n)
	for i := 1; i < n; i++ {
		depth[i] = depth[p.Nodes[i].Parent] + 1
		if p.Nodes[i].Role == RoleLeaf {
			b.Depth = max(b.Depth, depth[i])
		}
	}
	for i := range n {
		b.CPU += e.CPU[i]
		b.Memory += e.Mem[i]
	}
	for k, l := range m.In.Links {
		b.LinkBytes += (e.Loads.Up[k] + e.Loads.Down[k]) * l.Cost
	}
	b.RootIngest = e.Loads.Ingest[m.In.Root]
	b.Delay = float64(b.Depth) * m.HopLatency(p.Kind)
	w := &m.Cfg.Weights
	b.CostBytes = w.Bytes * 1e-6 * b.LinkBytes
	b.CostCPU = w.CPU * b.CPU
	b.CostMemory = w.Memory * b.Memory / gib
	b.CostDelay = w.Delay * b.Delay
	b.CostNodes = w.Node * (float64(b.NewNodes) + m.Cfg.ReuseFactor*float64(b.ReusedNodes))
	b.Total = b.CostBytes + b.CostCPU + b.CostMemory + b.CostDelay + b.CostNodes
	b.Violations = e.Loads.Violations()
	if math.IsNaN(b.Total) {
		return nil, fmt.Errorf("%w: cost is NaN", ErrBadPlan)
	}
	return e, nil
}
