package model

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Load is what a set of components emits: the number of components, of
// series, of samples per second and of bytes per second.
type Load struct {
	Components float64
	Series     float64
	Samples    float64
	Bytes      float64
}

// Add returns l + o.
func (l Load) Add(o Load) Load {
	return Load{l.Components + o.Components, l.Series + o.Series, l.Samples + o.Samples, l.Bytes + o.Bytes}
}

// Link levels.
const (
	LevelHost = iota // a host's NIC
	LevelRack        // a rack's uplink
	LevelSite        // a site's uplink
)

// Link is one link of the network tree, with its bandwidth (bytes/s in
// each direction), latency (seconds) and cost weight.
type Link struct {
	Name      string
	Level     int
	Bandwidth float64
	Latency   float64
	Cost      float64
}

// HostInfo is a host, indexed.
type HostInfo struct {
	Name       string
	Rack, Site int32
	// CPU (cores), Memory (bytes) and Ingest (bytes/s) capacity for watch
	// operators; +Inf when unlimited.
	CPU, Memory, Ingest float64
	// Load is everything the host emits: its components and its own
	// metrics.
	Load Load
}

// FlowInfo is a flow, indexed: the hosts it touches and, per host, the
// load of its components there.
type FlowInfo struct {
	Name  string
	Hosts []int32
	Loads []Load
}

// ExistingAgg is an aggregator of a deployed DPG.
type ExistingAgg struct {
	Name     string
	Host     int32
	Children []int32
}

// Instance is a compiled topology: names resolved to indices, defaults
// applied, loads summed per host and per flow. Read-only once built; safe
// for concurrent use.
type Instance struct {
	Name     string
	Hosts    []HostInfo
	Racks    []string
	RackSite []int32
	Sites    []string
	// Links are indexed: host h's NIC is h, rack r's uplink is
	// len(Hosts)+r, site s's uplink is len(Hosts)+len(Racks)+s.
	Links []Link
	Root  int32
	// Flows are the topology's flows.
	Flows []FlowInfo
	// FlowTrees are the flows as the per-flow topology watches them: every
	// component in some tree. A host's components in no flow, and its own
	// metrics, join the first flow (in file order) that touches the host;
	// hosts no flow touches form the tree "(no flow)".
	FlowTrees []FlowInfo
	// Existing DPG: leaves by host, aggregators, flow roots by
	// (FlowTrees index, host).
	ExistingLeaf     []bool
	ExistingAggs     []ExistingAgg
	ExistingFlowRoot map[[2]int32]bool
	// Components is the number of components (host metrics not counted).
	Components int

	hostIndex map[string]int32
}

// HostIndex returns the index of the named host.
func (in *Instance) HostIndex(name string) (int32, bool) {
	i, ok := in.hostIndex[name]
	return i, ok
}

// NumLinks is the number of links.
func (in *Instance) NumLinks() int { return len(in.Links) }

func (in *Instance) rackLink(r int32) int32 { return int32(len(in.Hosts)) + r }
func (in *Instance) siteLink(s int32) int32 { return int32(len(in.Hosts)+len(in.Racks)) + s }

// Path calls fn for every link a byte from host a to host b crosses, with
// up true when it goes from the host side to the core side. Nothing is
// crossed when a == b.
func (in *Instance) Path(a, b int32, fn func(link int32, up bool)) {
	if a == b {
		return
	}
	ha, hb := &in.Hosts[a], &in.Hosts[b]
	fn(a, true)
	if ha.Rack != hb.Rack {
		fn(in.rackLink(ha.Rack), true)
		if ha.Site != hb.Site {
			fn(in.siteLink(ha.Site), true)
			fn(in.siteLink(hb.Site), false)
		}
		fn(in.rackLink(hb.Rack), false)
	}
	fn(b, false)
}

// PathCost is the sum of the cost weights of the links from a to b.
func (in *Instance) PathCost(a, b int32) float64 {
	if a == b {
		return 0
	}
	ha, hb := &in.Hosts[a], &in.Hosts[b]
	c := in.Links[a].Cost + in.Links[b].Cost
	if ha.Rack != hb.Rack {
		c += in.Links[in.rackLink(ha.Rack)].Cost + in.Links[in.rackLink(hb.Rack)].Cost
		if ha.Site != hb.Site {
			c += in.Links[in.siteLink(ha.Site)].Cost + in.Links[in.siteLink(hb.Site)].Cost
		}
	}
	return c
}

// PathLatency is the latency from a to b in seconds.
func (in *Instance) PathLatency(a, b int32) float64 {
	var l float64
	in.Path(a, b, func(link int32, _ bool) { l += in.Links[link].Latency })
	return l
}

// MaxRootLatency is the largest latency from a host to the root.
func (in *Instance) MaxRootLatency() float64 {
	var m float64
	for h := range in.Hosts {
		m = max(m, in.PathLatency(int32(h), in.Root))
	}
	return m
}

// TotalLoad is the load of every host.
func (in *Instance) TotalLoad() Load {
	var l Load
	for i := range in.Hosts {
		l = l.Add(in.Hosts[i].Load)
	}
	return l
}

// Compile checks t and indexes it. Every problem is reported, each with
// its key path, in one Problems error.
func Compile(t *Topology) (*Instance, error) {
	c := compiler{t: t, in: &Instance{Name: t.Name, hostIndex: map[string]int32{}, ExistingFlowRoot: map[[2]int32]bool{}}}
	c.hosts()
	c.network()
	c.flows()
	c.existing()
	if len(c.probs) > 0 {
		return nil, c.probs
	}
	return c.in, nil
}

type compiler struct {
	t     *Topology
	in    *Instance
	probs Problems
	// comps maps "host/agent/component" to its host and load.
	comps map[string]compRef
	// inFlow marks components that are in at least one flow.
	inFlow map[string]bool
}

type compRef struct {
	host int32
	load Load
}

func (c *compiler) errf(path, format string, args ...any) {
	c.probs = append(c.probs, path+": "+fmt.Sprintf(format, args...))
}

func (c *compiler) hosts() {
	t, in := c.t, c.in
	c.comps = map[string]compRef{}
	rackIdx, siteIdx := map[string]int32{}, map[string]int32{}
	defCap := t.Defaults.Capacity
	c.capacity("defaults.capacity", defCap)
	for k, m := range t.Defaults.Metrics {
		c.metrics("defaults.metrics["+k+"]", m)
	}
	if len(t.Hosts) == 0 {
		c.errf("hosts", "no hosts")
	}
	// A host that names no site is in its rack's site, if another host of
	// the rack names one.
	rackSite := map[string]string{}
	for _, h := range t.Hosts {
		if h.Site != "" {
			if _, ok := rackSite[orDefault(h.Rack)]; !ok {
				rackSite[orDefault(h.Rack)] = h.Site
			}
		}
	}
	for i, h := range t.Hosts {
		path := fmt.Sprintf("hosts[%d]", i)
		if h.Name == "" {
			c.errf(path+".name", "required")
		} else {
			path = "hosts[" + h.Name + "]"
			if strings.Contains(h.Name, "/") {
				c.errf(path+".name", "%q: must not contain /", h.Name)
			}
			if _, dup := in.hostIndex[h.Name]; dup {
				c.errf(path+".name", "duplicate host %q", h.Name)
			}
		}
		rack, site := orDefault(h.Rack), h.Site
		if site == "" {
			site = orDefault(rackSite[rack])
		}
		si, ok := siteIdx[site]
		if !ok {
			si = int32(len(in.Sites))
			siteIdx[site] = si
			in.Sites = append(in.Sites, site)
		}
		ri, ok := rackIdx[rack]
		if !ok {
			ri = int32(len(in.Racks))
			rackIdx[rack] = ri
			in.Racks = append(in.Racks, rack)
			in.RackSite = append(in.RackSite, si)
		} else if in.RackSite[ri] != si {
			c.errf(path+".site", "rack %q is in site %q, not %q", rack, in.Sites[in.RackSite[ri]], site)
		}
		c.capacity(path+".capacity", h.Capacity)
		hi := HostInfo{
			Name: h.Name, Rack: ri, Site: si,
			CPU:    capOf(h.Capacity.CPU, defCap.CPU),
			Memory: capOf(float64(h.Capacity.Memory), float64(defCap.Memory)),
			Ingest: capOf(float64(h.Capacity.Ingest), float64(defCap.Ingest)),
		}
		idx := int32(len(in.Hosts))
		if h.Name != "" {
			if _, dup := in.hostIndex[h.Name]; !dup {
				in.hostIndex[h.Name] = idx
			}
		}
		c.metrics(path+".metrics", h.Metrics)
		hl := c.resolve("host", h.Metrics)
		c.comps[h.Name+"//host"] = compRef{idx, hl} // the host's own metrics: in no flow
		hi.Load = hl
		agents := map[string]bool{}
		for j, a := range h.Agents {
			apath := fmt.Sprintf("%s.agents[%d]", path, j)
			if a.Name == "" {
				c.errf(apath+".name", "required")
			} else {
				apath = path + ".agents[" + a.Name + "]"
				if agents[a.Name] {
					c.errf(apath+".name", "duplicate agent %q", a.Name)
				}
				agents[a.Name] = true
			}
			if len(a.Components) == 0 {
				c.errf(apath+".components", "no components")
			}
			comps := map[string]bool{}
			for k, comp := range a.Components {
				cpath := fmt.Sprintf("%s.components[%d]", apath, k)
				if comp.Name == "" {
					c.errf(cpath+".name", "required")
				} else {
					cpath = apath + ".components[" + comp.Name + "]"
					if comps[comp.Name] {
						c.errf(cpath+".name", "duplicate component %q", comp.Name)
					}
					comps[comp.Name] = true
				}
				if comp.Kind == "" {
					c.errf(cpath+".kind", "required (source, channel, sink, ...)")
				}
				c.metrics(cpath+".metrics", comp.Metrics)
				l := c.resolve(comp.Kind, comp.Metrics)
				l.Components = 1
				c.comps[h.Name+"/"+a.Name+"/"+comp.Name] = compRef{idx, l}
				hi.Load = hi.Load.Add(l)
				in.Components++
			}
		}
		in.Hosts = append(in.Hosts, hi)
	}
	if t.Root == "" {
		c.errf("root", "required: the host of the analysis root (the metric store)")
	} else if r, ok := in.hostIndex[t.Root]; !ok {
		c.errf("root", "unknown host %q", t.Root)
	} else {
		in.Root = r
	}
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

func capOf(v, def float64) float64 {
	if v > 0 {
		return v
	}
	if def > 0 {
		return def
	}
	return math.Inf(1)
}

func (c *compiler) capacity(path string, cp Capacity) {
	if cp.CPU < 0 || math.IsNaN(cp.CPU) {
		c.errf(path+".cpu", "%v: must be >= 0", cp.CPU)
	}
}

func (c *compiler) metrics(path string, m Metrics) {
	if m.Series < -1 {
		c.errf(path+".series", "%d: must be >= 0 (or -1 for none)", m.Series)
	}
	if m.RateHz < 0 || math.IsNaN(m.RateHz) {
		c.errf(path+".rate_hz", "%v: must be >= 0", m.RateHz)
	}
	if m.BytesPerSample < 0 || math.IsNaN(m.BytesPerSample) {
		c.errf(path+".bytes_per_sample", "%v: must be >= 0", m.BytesPerSample)
	}
}

// resolve fills m field by field from the defaults of kind, then "*",
// then the built-in defaults, and returns its load.
func (c *compiler) resolve(kind string, m Metrics) Load {
	chain := []Metrics{m, c.t.Defaults.Metrics[kind], c.t.Defaults.Metrics["*"], DefaultMetrics[kind], DefaultMetrics["*"]}
	var r Metrics
	for _, x := range chain {
		if r.Series == 0 {
			r.Series = x.Series
		}
		if r.RateHz == 0 {
			r.RateHz = x.RateHz
		}
		if r.BytesPerSample == 0 {
			r.BytesPerSample = x.BytesPerSample
		}
	}
	if r.Series < 0 {
		r.Series = 0
	}
	s := float64(r.Series)
	return Load{Series: s, Samples: s * r.RateHz, Bytes: s * r.RateHz * r.BytesPerSample}
}

func (c *compiler) network() {
	t, in := c.t, c.in
	nh, nr := len(in.Hosts), len(in.Racks)
	in.Links = make([]Link, nh+nr+len(in.Sites))
	host := fillLink(t.Network.Host, DefaultHostLink)
	rack := fillLink(t.Network.Rack, DefaultRackLink)
	site := fillLink(t.Network.Site, DefaultSiteLink)
	for _, x := range []struct {
		path string
		s    LinkSpec
	}{{"network.host", t.Network.Host}, {"network.rack", t.Network.Rack}, {"network.site", t.Network.Site}} {
		c.linkSpec(x.path, x.s)
	}
	for i, h := range in.Hosts {
		in.Links[i] = mkLink(h.Name+" NIC", LevelHost, host)
	}
	for i, r := range in.Racks {
		in.Links[nh+i] = mkLink("rack "+r+" uplink", LevelRack, rack)
	}
	for i, s := range in.Sites {
		in.Links[nh+nr+i] = mkLink("site "+s+" uplink", LevelSite, site)
	}
	rackIdx, siteIdx := map[string]int{}, map[string]int{}
	for i, r := range in.Racks {
		rackIdx[r] = i
	}
	for i, s := range in.Sites {
		siteIdx[s] = i
	}
	seen := map[string]bool{}
	for i, o := range t.Network.Links {
		path := fmt.Sprintf("network.links[%d]", i)
		c.linkSpec(path, o.LinkSpec)
		if seen[o.Node] {
			c.errf(path+".node", "duplicate override for %q", o.Node)
		}
		seen[o.Node] = true
		var idx []int
		if h, ok := in.hostIndex[o.Node]; ok {
			idx = append(idx, int(h))
		}
		if r, ok := rackIdx[o.Node]; ok {
			idx = append(idx, nh+r)
		}
		if s, ok := siteIdx[o.Node]; ok {
			idx = append(idx, nh+nr+s)
		}
		switch len(idx) {
		case 0:
			c.errf(path+".node", "%q is no host, rack or site", o.Node)
			continue
		case 1:
		default:
			c.errf(path+".node", "%q names more than one of host, rack and site", o.Node)
			continue
		}
		l := &in.Links[idx[0]]
		if o.Bandwidth > 0 {
			l.Bandwidth = float64(o.Bandwidth)
		}
		if o.Latency > 0 {
			l.Latency = o.Latency.Seconds()
		}
		if o.Cost > 0 {
			l.Cost = o.Cost
		}
	}
}

func (c *compiler) linkSpec(path string, s LinkSpec) {
	if s.Cost < 0 || math.IsNaN(s.Cost) {
		c.errf(path+".cost", "%v: must be >= 0", s.Cost)
	}
}

func fillLink(s, def LinkSpec) LinkSpec {
	if s.Bandwidth == 0 {
		s.Bandwidth = def.Bandwidth
	}
	if s.Latency == 0 {
		s.Latency = def.Latency
	}
	if s.Cost == 0 {
		s.Cost = def.Cost
	}
	return s
}

func mkLink(name string, level int, s LinkSpec) Link {
	return Link{Name: name, Level: level, Bandwidth: float64(s.Bandwidth), Latency: s.Latency.Seconds(), Cost: s.Cost}
}

func (c *compiler) flows() {
	t, in := c.t, c.in
	c.inFlow = map[string]bool{}
	names := map[string]bool{}
	for i, f := range t.Flows {
		path := fmt.Sprintf("flows[%d]", i)
		if f.Name == "" {
			c.errf(path+".name", "required")
		} else {
			path = "flows[" + f.Name + "]"
			if names[f.Name] {
				c.errf(path+".name", "duplicate flow %q", f.Name)
			}
			names[f.Name] = true
		}
		if len(f.Edges) == 0 {
			c.errf(path+".edges", "no edges")
		}
		members := map[string]bool{}
		var order []string
		for j, e := range f.Edges {
			epath := fmt.Sprintf("%s.edges[%d]", path, j)
			for _, end := range []struct{ key, ref string }{{"from", e.From}, {"to", e.To}} {
				if _, ok := c.comps[end.ref]; !ok || strings.Contains(end.ref, "//") {
					c.errf(epath+"."+end.key, "%q: no such component (want host/agent/component)", end.ref)
					continue
				}
				if !members[end.ref] {
					members[end.ref] = true
					order = append(order, end.ref)
				}
			}
			if e.From == e.To && e.From != "" {
				c.errf(epath, "%q feeds itself", e.From)
			}
		}
		fi := FlowInfo{Name: f.Name}
		pos := map[int32]int{}
		for _, ref := range order {
			cr := c.comps[ref]
			c.inFlow[ref] = true
			p, ok := pos[cr.host]
			if !ok {
				p = len(fi.Hosts)
				pos[cr.host] = p
				fi.Hosts = append(fi.Hosts, cr.host)
				fi.Loads = append(fi.Loads, Load{})
			}
			fi.Loads[p] = fi.Loads[p].Add(cr.load)
		}
		in.Flows = append(in.Flows, fi)
	}
	if len(c.probs) > 0 {
		return
	}
	// The per-flow view: fold each host's unflowed load into its first flow.
	trees := make([]FlowInfo, len(in.Flows))
	first := make([]int, len(in.Hosts)) // flow index + 1; 0: none
	for i, f := range in.Flows {
		trees[i] = FlowInfo{Name: f.Name, Hosts: append([]int32(nil), f.Hosts...), Loads: append([]Load(nil), f.Loads...)}
		for _, h := range f.Hosts {
			if first[h] == 0 {
				first[h] = i + 1
			}
		}
	}
	unflowed := make([]Load, len(in.Hosts))
	refs := make([]string, 0, len(c.comps))
	for ref := range c.comps {
		refs = append(refs, ref)
	}
	sort.Strings(refs) // a fixed order of float sums
	for _, ref := range refs {
		if !c.inFlow[ref] {
			cr := c.comps[ref]
			unflowed[cr.host] = unflowed[cr.host].Add(cr.load)
		}
	}
	none := FlowInfo{Name: "(no flow)"}
	for h := range in.Hosts {
		if unflowed[h] == (Load{}) {
			continue
		}
		if f := first[h]; f > 0 {
			tr := &trees[f-1]
			for p, x := range tr.Hosts {
				if x == int32(h) {
					tr.Loads[p] = tr.Loads[p].Add(unflowed[h])
				}
			}
		} else {
			none.Hosts = append(none.Hosts, int32(h))
			none.Loads = append(none.Loads, unflowed[h])
		}
	}
	if len(none.Hosts) > 0 {
		trees = append(trees, none)
	}
	in.FlowTrees = trees
}

func (c *compiler) existing() {
	t, in := c.t, c.in
	in.ExistingLeaf = make([]bool, len(in.Hosts))
	childOf := map[int32]string{}
	treeIdx := map[string]int32{} // FlowTrees[i] is Flows[i] for every flow
	for i, f := range in.Flows {
		treeIdx[f.Name] = int32(i)
	}
	for i, e := range t.Existing {
		path := fmt.Sprintf("existing[%d]", i)
		if e.Name != "" {
			path = "existing[" + e.Name + "]"
		}
		h, ok := in.hostIndex[e.Host]
		if !ok {
			c.errf(path+".host", "unknown host %q", e.Host)
			continue
		}
		switch e.Role {
		case RoleLeaf:
			in.ExistingLeaf[h] = true
		case RoleAggregator:
			if len(e.Children) == 0 {
				c.errf(path+".children", "an aggregator needs children")
			}
			agg := ExistingAgg{Name: e.Name, Host: h}
			if agg.Name == "" {
				agg.Name = "agg@" + e.Host
			}
			for j, ch := range e.Children {
				x, ok := in.hostIndex[ch]
				if !ok {
					c.errf(fmt.Sprintf("%s.children[%d]", path, j), "unknown host %q", ch)
					continue
				}
				if prev, dup := childOf[x]; dup {
					c.errf(fmt.Sprintf("%s.children[%d]", path, j), "host %q already feeds %s", ch, prev)
					continue
				}
				if x == in.Root {
					c.errf(fmt.Sprintf("%s.children[%d]", path, j), "%q is the root", ch)
					continue
				}
				childOf[x] = agg.Name
				agg.Children = append(agg.Children, x)
				in.ExistingLeaf[x] = true
			}
			in.ExistingAggs = append(in.ExistingAggs, agg)
		case RoleFlowRoot:
			f, ok := treeIdx[e.Flow]
			if !ok {
				c.errf(path+".flow", "unknown flow %q", e.Flow)
				continue
			}
			in.ExistingFlowRoot[[2]int32{f, h}] = true
		default:
			c.errf(path+".role", "%q: want leaf, aggregator or flow", e.Role)
		}
	}
}
