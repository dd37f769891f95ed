package planner

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/vscope/vscope/dpg/cost"
	"github.com/vscope/vscope/dpg/model"
	"github.com/vscope/vscope/dpg/operator"
)

// WriteTable writes the options table (one row per option: resource use,
// the weighted cost terms, the status) and the explanation.
func (r *Result) WriteTable(w io.Writer) error {
	in := r.Model.In
	fmt.Fprintf(w, "%s: %d hosts, %d components, %d flows, root %s; weights %s\n\n",
		orName(in.Name), len(in.Hosts), in.Components, len(in.Flows), in.Hosts[in.Root].Name, r.Model.Cfg.Weights)
	t := tablewriter.NewWriter(w).Options(tablewriter.WithHeaderAutoFormat(tw.Off))
	t.Header("option", "method", "depth", "watch nodes", "off-host", "root in", "bytes", "cpu", "memory", "delay", "nodes", "total", "status")
	for i := range r.Outcomes {
		o := &r.Outcomes[i]
		if o.Eval == nil {
			if err := t.Append([]string{o.Option.String(), o.Method, "", "", "", "", "", "", "", "", "", "", "error: " + errString(o.Err)}); err != nil {
				return err
			}
			continue
		}
		b := &o.Eval.Breakdown
		nodes := fmt.Sprint(b.Nodes)
		if b.ReusedNodes > 0 {
			nodes = fmt.Sprintf("%d (%d reused)", b.Nodes, b.ReusedNodes)
		}
		status := "ok"
		switch {
		case i == r.Chosen:
			status = "chosen"
		case !b.Feasible():
			status = "refused: " + b.Violations[0].String()
			if len(b.Violations) > 1 {
				status += fmt.Sprintf(" (+%d)", len(b.Violations)-1)
			}
		}
		method := o.Method
		if o.Note != "" {
			method += "*"
		}
		if err := t.Append([]string{o.Option.String(), method, fmt.Sprint(b.Depth), nodes,
			model.FormatRate(b.HostBytes), model.FormatRate(b.RootIngest),
			num(b.CostBytes), num(b.CostCPU), num(b.CostMemory), fmt.Sprintf("%s (%.3gs)", num(b.CostDelay), b.Delay),
			num(b.CostNodes), num(b.Total), status}); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nbytes, cpu, memory, delay, nodes: weighted cost terms; off-host: monitoring bytes leaving hosts; root in: bytes into the root")
	for i := range r.Outcomes {
		if r.Outcomes[i].Note != "" {
			fmt.Fprintf(w, "* %s: %s\n", r.Outcomes[i].Option, r.Outcomes[i].Note)
		}
	}
	fmt.Fprintln(w)
	for _, s := range r.Why {
		fmt.Fprintln(w, s)
	}
	if b := r.Best(); b != nil {
		fmt.Fprintf(w, "\nchosen: %s — %d watch nodes (%d aggregators), depth %d, %s leave the hosts\n",
			b.Option, b.Eval.Nodes, b.Eval.Aggregators, b.Eval.Depth, model.FormatRate(b.Eval.HostBytes))
	}
	return nil
}

func orName(s string) string {
	if s == "" {
		return "topology"
	}
	return s
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// OptionJSON is one option in the JSON output.
type OptionJSON struct {
	Option      string   `json:"option"`
	Kind        string   `json:"kind"`
	FanOut      int      `json:"fan_out,omitempty"`
	Method      string   `json:"method,omitempty"`
	Depth       int      `json:"depth,omitempty"`
	Nodes       int      `json:"nodes,omitempty"`
	NewNodes    int      `json:"new_nodes,omitempty"`
	ReusedNodes int      `json:"reused_nodes,omitempty"`
	Aggregators int      `json:"aggregators,omitempty"`
	HostBytes   float64  `json:"host_bytes_per_sec"`
	RootIngest  float64  `json:"root_ingest_bytes_per_sec"`
	LinkBytes   float64  `json:"link_weighted_bytes_per_sec"`
	CPU         float64  `json:"cpu_cores"`
	Memory      float64  `json:"memory_bytes"`
	Delay       float64  `json:"delay_seconds"`
	Cost        CostJSON `json:"cost"`
	Feasible    bool     `json:"feasible"`
	Violations  []string `json:"violations,omitempty"`
	Note        string   `json:"note,omitempty"`
	Error       string   `json:"error,omitempty"`
	ElapsedMs   float64  `json:"elapsed_ms"`
}

// CostJSON is the weighted cost terms.
type CostJSON struct {
	Bytes  float64 `json:"bytes"`
	CPU    float64 `json:"cpu"`
	Memory float64 `json:"memory"`
	Delay  float64 `json:"delay"`
	Nodes  float64 `json:"nodes"`
	Total  float64 `json:"total"`
}

// NodeJSON is a watch node of the chosen plan, as a deployer needs it.
type NodeJSON struct {
	ID        int           `json:"id"`
	Role      string        `json:"role"`
	Host      string        `json:"host"`
	Flow      string        `json:"flow,omitempty"`
	Parent    int           `json:"parent"`
	Children  int           `json:"children,omitempty"`
	Operators []operator.Op `json:"operators"`
	In        float64       `json:"in_bytes_per_sec"`
	Out       float64       `json:"out_bytes_per_sec"`
	CPU       float64       `json:"cpu_cores"`
	Memory    float64       `json:"memory_bytes"`
	Reused    bool          `json:"reused,omitempty"`
}

// PlanJSON is a plan with its nodes.
type PlanJSON struct {
	Option string     `json:"option"`
	Nodes  []NodeJSON `json:"nodes"`
}

// ResultJSON is the JSON output of a planning run.
type ResultJSON struct {
	Topology   string       `json:"topology,omitempty"`
	Hosts      int          `json:"hosts"`
	Components int          `json:"components"`
	Flows      int          `json:"flows"`
	Root       string       `json:"root"`
	Weights    cost.Weights `json:"weights"`
	Options    []OptionJSON `json:"options"`
	Chosen     string       `json:"chosen,omitempty"`
	Why        []string     `json:"why"`
	Plan       *PlanJSON    `json:"plan,omitempty"`
}

// JSON is the result as ResultJSON, with the chosen plan's nodes.
func (r *Result) JSON() *ResultJSON {
	in := r.Model.In
	out := &ResultJSON{Topology: in.Name, Hosts: len(in.Hosts), Components: in.Components, Flows: len(in.Flows),
		Root: in.Hosts[in.Root].Name, Weights: r.Model.Cfg.Weights, Why: r.Why}
	for i := range r.Outcomes {
		o := &r.Outcomes[i]
		j := OptionJSON{Option: o.Option.String(), Kind: string(o.Option.Kind), FanOut: o.Option.FanOut, Method: o.Method,
			Depth: o.Depth, Note: o.Note, Error: errString(o.Err), ElapsedMs: float64(o.Elapsed.Microseconds()) / 1000}
		if o.Eval != nil {
			b := &o.Eval.Breakdown
			j.Depth, j.Nodes, j.NewNodes, j.ReusedNodes, j.Aggregators = b.Depth, b.Nodes, b.NewNodes, b.ReusedNodes, b.Aggregators
			j.HostBytes, j.RootIngest, j.LinkBytes, j.CPU, j.Memory, j.Delay = b.HostBytes, b.RootIngest, b.LinkBytes, b.CPU, b.Memory, b.Delay
			j.Cost = CostJSON{b.CostBytes, b.CostCPU, b.CostMemory, b.CostDelay, b.CostNodes, b.Total}
			j.Feasible = b.Feasible()
			for _, v := range b.Violations {
				j.Violations = append(j.Violations, v.String())
			}
		}
		out.Options = append(out.Options, j)
	}
	if b := r.Best(); b != nil {
		out.Chosen = b.Option.String()
		out.Plan = r.planJSON(b)
	}
	return out
}

func (r *Result) planJSON(o *Outcome) *PlanJSON {
	m := r.Model
	in := m.In
	ops := m.Ops()
	units := m.Units(o.Plan.Kind)
	pj := &PlanJSON{Option: o.Option.String()}
	for i, n := range o.Plan.Nodes {
		nj := NodeJSON{ID: i, Role: n.Role.String(), Host: in.Hosts[n.Host].Name, Parent: int(n.Parent),
			Children: int(o.Eval.Children[i]), In: o.Eval.In[i], Out: o.Eval.Out[i], CPU: o.Eval.CPU[i], Memory: o.Eval.Mem[i],
			Reused: i > 0 && m.Reused(&o.Plan.Nodes[i], units)}
		if n.Flow >= 0 {
			nj.Flow = in.FlowTrees[n.Flow].Name
		}
		switch n.Role {
		case cost.RoleRoot:
			nj.Operators = ops.RootOps(o.Plan.Kind == cost.Centralized)
		case cost.RoleLeaf:
			if o.Plan.Kind == cost.Centralized {
				nj.Operators = ops.RawLeafOps()
			} else {
				nj.Operators = ops.LeafOps(o.Plan.Kind == cost.PerFlow)
			}
		case cost.RoleAggregator:
			nj.Operators = ops.MergeOps()
		case cost.RoleFlowRoot:
			nj.Operators = ops.FlowRootOps()
		}
		pj.Nodes = append(pj.Nodes, nj)
	}
	return pj
}

// WriteJSON writes r.JSON() indented.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.JSON())
}

// dotMaxLeaves is the number of leaves above which DOT shows each
// parent's leaves as one box.
const dotMaxLeaves = 200

// WriteDOT writes the chosen plan as a Graphviz digraph: the root, the
// aggregators and flow roots, and the leaves (one box per parent when
// there are many), edges labelled with bytes/s; leaves are clustered by
// rack.
func (r *Result) WriteDOT(w io.Writer) error {
	o := r.Best()
	if o == nil {
		return fmt.Errorf("%w: nothing to draw", ErrInfeasible)
	}
	in := r.Model.In
	p, e := o.Plan, o.Eval
	var b strings.Builder
	fmt.Fprintf(&b, "digraph dpg {\n  label=%q;\n  labelloc=t;\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=8];\n",
		fmt.Sprintf("%s: %s, cost %s", orName(in.Name), o.Option, num(e.Total)))
	leaves := 0
	for _, n := range p.Nodes {
		if n.Role == cost.RoleLeaf {
			leaves++
		}
	}
	collapse := leaves > dotMaxLeaves
	byRack := map[int32][]int{}
	type agg struct {
		n   int
		out float64
	}
	collapsed := map[int32]*agg{}
	for i, n := range p.Nodes {
		if n.Role == cost.RoleLeaf {
			if collapse {
				a := collapsed[n.Parent]
				if a == nil {
					a = &agg{}
					collapsed[n.Parent] = a
				}
				a.n++
				a.out += e.Out[i]
				continue
			}
			byRack[in.Hosts[n.Host].Rack] = append(byRack[in.Hosts[n.Host].Rack], i)
			continue
		}
		shape, label := "box", ""
		switch n.Role {
		case cost.RoleRoot:
			shape, label = "doubleoctagon", "root\n"+in.Hosts[n.Host].Name
		case cost.RoleAggregator:
			shape, label = "ellipse", "aggregate\n"+in.Hosts[n.Host].Name
		case cost.RoleFlowRoot:
			shape, label = "hexagon", "flow "+in.FlowTrees[n.Flow].Name+"\n"+in.Hosts[n.Host].Name
		}
		fmt.Fprintf(&b, "  n%d [shape=%s, label=%q];\n", i, shape, label)
	}
	for _, r := range slices.Sorted(maps.Keys(byRack)) {
		ids := byRack[r]
		fmt.Fprintf(&b, "  subgraph cluster_rack%d {\n    label=%q;\n    style=dashed;\n", r, "rack "+in.Racks[r])
		for _, i := range ids {
			fmt.Fprintf(&b, "    n%d [shape=box, label=%q];\n", i, "leaf\n"+in.Hosts[p.Nodes[i].Host].Name)
		}
		b.WriteString("  }\n")
	}
	for i, n := range p.Nodes {
		if i == 0 || (collapse && n.Role == cost.RoleLeaf) {
			continue
		}
		fmt.Fprintf(&b, "  n%d -> n%d [label=%q];\n", i, n.Parent, model.FormatRate(e.Out[i]))
	}
	for _, parent := range slices.Sorted(maps.Keys(collapsed)) {
		a := collapsed[parent]
		fmt.Fprintf(&b, "  leaves%d [shape=box3d, label=%q];\n  leaves%d -> n%d [label=%q];\n",
			parent, fmt.Sprintf("%d leaves", a.n), parent, parent, model.FormatRate(a.out))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}
