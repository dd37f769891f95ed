package model

// Topology is what the planner plans for: hosts in racks in sites, the
// agents and components on each host, the metric series each component
// emits, the flows between components, the network, and the watch nodes
// of a DPG already deployed. It is the JSON topology file (see doc.go for
// the format) and can be built in code; Compile checks it and indexes it.
type Topology struct {
	// Name labels the topology in reports.
	Name string `json:"name,omitempty"`
	// Root is the host of the analysis root: the metric store and the
	// diagnosis engine every DPG ends in.
	Root string `json:"root"`
	// Defaults fill in what hosts and components leave out.
	Defaults Defaults `json:"defaults,omitzero"`
	// Network describes the links: each host's NIC, each rack's uplink and
	// each site's uplink, with per-link overrides.
	Network Network `json:"network,omitzero"`
	// Hosts are the machines; the root must be one of them.
	Hosts []Host `json:"hosts"`
	// Flows say which component feeds which, across agents and hosts.
	Flows []Flow `json:"flows,omitempty"`
	// Existing lists watch nodes of a DPG already deployed; a plan that
	// reuses one pays less for it than for a new node.
	Existing []ExistingNode `json:"existing,omitempty"`
}

// Defaults are the values used where a host or component gives none.
type Defaults struct {
	// Capacity is every host's capacity for watch operators unless the
	// host sets its own (field by field). Left out: unlimited.
	Capacity Capacity `json:"capacity,omitzero"`
	// Metrics are the metric sources per component kind ("source",
	// "channel", "sink", "host" for a host's own /proc and runtime
	// metrics, or any other kind), with "*" applying to every kind.
	// Field by field: component, then its kind, then "*", then the
	// built-in defaults (DefaultMetrics).
	Metrics map[string]Metrics `json:"metrics,omitempty"`
}

// Capacity is what a host can give to watch operators. Zero fields are
// taken from the defaults; zero there means unlimited.
type Capacity struct {
	// CPU is the number of cores watch operators may use.
	CPU float64 `json:"cpu,omitempty"`
	// Memory is the memory watch operators may use.
	Memory Bytes `json:"memory,omitempty"`
	// Ingest is the monitoring data the host may receive from other hosts.
	Ingest ByteRate `json:"ingest,omitempty"`
}

// Metrics is a metric source: how many series a component emits, how
// often each is sampled and how many bytes a sample takes on the wire.
type Metrics struct {
	Series         int     `json:"series,omitempty"`
	RateHz         float64 `json:"rate_hz,omitempty"`
	BytesPerSample float64 `json:"bytes_per_sample,omitempty"`
}

// Host is a machine running agents.
type Host struct {
	Name string `json:"name"`
	// Rack and Site place the host in the network. An empty rack is
	// "default"; an empty site is the rack's (as another host of the rack
	// names it), else "default".
	Rack string `json:"rack,omitempty"`
	Site string `json:"site,omitempty"`
	// Capacity overrides Defaults.Capacity field by field.
	Capacity Capacity `json:"capacity,omitzero"`
	// Metrics is the host's own metric source (/proc, Go runtime); it
	// overrides the "host" kind defaults. Series -1 means none.
	Metrics Metrics `json:"metrics,omitzero"`
	Agents  []Agent `json:"agents,omitempty"`
}

// Agent is a vscope agent on a host.
type Agent struct {
	Name       string      `json:"name"`
	Components []Component `json:"components"`
}

// Component is a source, channel, sink or other component of an agent.
type Component struct {
	Name string `json:"name"`
	// Kind picks the metric defaults: source, channel, sink or another.
	Kind    string  `json:"kind"`
	Metrics Metrics `json:"metrics,omitzero"`
}

// Flow is a named flow of events: edges between components, written
// "host/agent/component".
type Flow struct {
	Name  string `json:"name"`
	Edges []Edge `json:"edges"`
}

// Edge says component From feeds component To.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Network is a tree: host NICs to rack switches, rack uplinks to the site
// core, site uplinks to the wide area. Traffic between two hosts crosses
// the NICs of both, and the rack and site uplinks between them. Links are
// full duplex: each direction has the whole bandwidth.
type Network struct {
	Host LinkSpec `json:"host,omitzero"`
	Rack LinkSpec `json:"rack,omitzero"`
	Site LinkSpec `json:"site,omitzero"`
	// Links override the level defaults for one host, rack or site.
	Links []LinkOverride `json:"links,omitempty"`
}

// LinkSpec describes a link; zero fields take the level's default.
type LinkSpec struct {
	Bandwidth ByteRate `json:"bandwidth,omitempty"`
	Latency   Duration `json:"latency,omitempty"`
	// Cost weighs each byte per second crossing the link (1 for a NIC, more
	// for scarcer links).
	Cost float64 `json:"cost,omitempty"`
}

// LinkOverride sets the uplink of the host, rack or site named Node.
type LinkOverride struct {
	Node string `json:"node"`
	LinkSpec
}

// Watch node roles in an existing DPG.
const (
	RoleLeaf       = "leaf"
	RoleAggregator = "aggregator"
	RoleFlowRoot   = "flow"
)

// ExistingNode is a watch node of a DPG already deployed.
type ExistingNode struct {
	// Name labels the node; optional.
	Name string `json:"name,omitempty"`
	Host string `json:"host"`
	// Role is "leaf" (watches the host's own components), "aggregator"
	// (merges the summaries of Children) or "flow" (the root of Flow's
	// per-flow tree).
	Role string `json:"role"`
	// Children are the hosts whose leaves feed an aggregator.
	Children []string `json:"children,omitempty"`
	// Flow names the flow of a "flow" node.
	Flow string `json:"flow,omitempty"`
}

// DefaultMetrics are the built-in metric sources per component kind when
// the topology gives none: Flume's counters plus latency histograms for
// sources, channels and sinks, and /proc plus Go runtime metrics for a host.
var DefaultMetrics = map[string]Metrics{
	"source":  {Series: 12, RateHz: 1, BytesPerSample: 16},
	"channel": {Series: 10, RateHz: 1, BytesPerSample: 16},
	"sink":    {Series: 10, RateHz: 1, BytesPerSample: 16},
	"host":    {Series: 60, RateHz: 1, BytesPerSample: 16},
	"*":       {Series: 10, RateHz: 1, BytesPerSample: 16},
}

// Network defaults, per level.
var (
	DefaultHostLink = LinkSpec{Bandwidth: 1.25e9, Latency: Duration(50e3), Cost: 1}  // 10 Gbit/s NIC, 50 µs
	DefaultRackLink = LinkSpec{Bandwidth: 5e9, Latency: Duration(100e3), Cost: 2}    // 40 Gbit/s uplink
	DefaultSiteLink = LinkSpec{Bandwidth: 1.25e9, Latency: Duration(20e6), Cost: 20} // 10 Gbit/s WAN, 20 ms
)
