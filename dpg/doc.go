// Package dpg is VScope's answer to scale: instead of shipping every
// metric sample of every host to one store, place Distributed Processing
// Graphs of watch nodes (filter, detect, aggregate, forward) close to the
// data, and ship summaries up a tree and raw windows only when a detector
// alarms (VScope's watch -> scope -> query escalation).
//
// Sub-packages:
//
//	dpg/model     the topology: hosts in racks in sites, agents, components
//	              and their metric sources, flows, links, capacities, the
//	              watch nodes of a DPG already deployed; the JSON format
//	              below; Synth, a synthetic data centre of any size
//	dpg/operator  the watch operators as data: CPU and memory for their
//	              input, bytes per second out
//	dpg/cost      the cost model: a plan (watch nodes on hosts, a tree to
//	              the root) and what it costs: bytes over links times their
//	              cost, CPU, memory, detection delay (depth x per-hop
//	              latency), nodes; capacity and link constraints
//	dpg/planner   every option (topology x fan-out) placed exactly (small
//	              instances) or by heuristic (large), evaluated, explained;
//	              table, JSON and DOT output
//	dpg/watch     the watch operators as they run inside agents: leaves
//	              detect on the agent's own metrics, summaries merge up
//	              the tree, raw windows go to the root on alarm
//	dpg/deploy    a plan pushed to the agents' control APIs
//	              (agent/control), status, undeploy
//	dpg/sim       a simulated fleet monitored by a DPG and centrally, to
//	              measure the bytes each way ships
//	dpg/testdata  example topologies; bad/ holds invalid ones
//
// The commands are "vscope dpg plan --topology FILE" (cmd/vscope/dpg.go);
// "vscope dpg synth --hosts N" prints a synthetic topology; "vscope dpg
// deploy|status|undeploy" and "vscope dpg node" (cmd/vscope/dpgdeploy.go);
// "vscope dpg simulate" (cmd/vscope/dpgsim.go).
//
// # The topology file
//
// JSON, decoded strictly: an unknown key is an error naming its path, and
// every problem of a file is reported at once with its key path
// ("hosts[web-03].agents[a1].components[2].kind: required"). Rates are a
// number of bytes per second or a string with a unit ("10MB/s",
// "1Gbit/s", "512KiB/s"); sizes likewise without "/s" ("256MiB");
// latencies a Go duration ("50us", "20ms") or seconds.
//
//	{
//	  "name": "two tiers",                  // optional label
//	  "root": "store-1",                    // host of the analysis root (the store)
//	  "defaults": {
//	    "capacity": {"cpu": 0.25, "memory": "256MiB", "ingest": "5MB/s"},
//	    "metrics": {                        // per component kind; "*" for all;
//	      "host":    {"series": 60},        // "host" is a host's own /proc and
//	      "channel": {"series": 10},        // runtime metrics
//	      "*": {"rate_hz": 1, "bytes_per_sample": 16}
//	    }
//	  },
//	  "network": {                          // a tree: NIC, rack uplink, site uplink
//	    "host": {"bandwidth": "10Gbit/s", "latency": "50us", "cost": 1},
//	    "rack": {"bandwidth": "40Gbit/s", "latency": "100us", "cost": 2},
//	    "site": {"bandwidth": "10Gbit/s", "latency": "20ms", "cost": 20},
//	    "links": [{"node": "rack-b", "bandwidth": "1Gbit/s", "cost": 4}]
//	  },
//	  "hosts": [
//	    {"name": "web-01", "rack": "rack-a", "site": "dc1",
//	     "capacity": {"cpu": 0.5},          // overrides the default field by field
//	     "metrics": {"series": 80},         // the host's own metrics; -1: none
//	     "agents": [{"name": "a1", "components": [
//	       {"name": "r1", "kind": "source"},
//	       {"name": "c1", "kind": "channel", "metrics": {"series": 12}},
//	       {"name": "k1", "kind": "sink"}]}]},
//	    {"name": "web-02", "rack": "rack-a", "agents": [{"name": "a1", "components": [
//	       {"name": "r1", "kind": "source"}, {"name": "k1", "kind": "sink"}]}]},
//	    {"name": "col-1", "rack": "rack-b", "site": "dc1", "agents": [{"name": "a1", "components": [
//	       {"name": "r1", "kind": "source"}, {"name": "k1", "kind": "sink"}]}]},
//	    {"name": "store-1", "rack": "rack-c", "site": "dc1", "metrics": {"series": -1},
//	     "capacity": {"cpu": 8, "memory": "16GiB", "ingest": "50MB/s"}}
//	  ],
//	  "flows": [                            // which component feeds which
//	    {"name": "weblogs", "edges": [
//	      {"from": "web-01/a1/r1", "to": "web-01/a1/c1"},
//	      {"from": "web-01/a1/c1", "to": "web-01/a1/k1"},
//	      {"from": "web-01/a1/k1", "to": "col-1/a1/r1"},
//	      {"from": "web-02/a1/k1", "to": "col-1/a1/r1"}]}
//	  ],
//	  "existing": [                         // a DPG already deployed
//	    {"name": "agg-a", "host": "web-01", "role": "aggregator", "children": ["web-01", "web-02"]},
//	    {"host": "col-1", "role": "leaf"},
//	    {"host": "col-1", "role": "flow", "flow": "weblogs"}
//	  ]
//	}
//
// Defaults, field by field: a component's metrics, then its kind's in
// "defaults", then "*", then the built-in defaults (model.DefaultMetrics:
// sources 12 series, channels and sinks 10, a host 60, at 1 Hz and 16
// bytes a sample). A capacity left out is the default's; left out there
// too, unlimited. Rack and site default to "default". Network levels
// default to a 10 Gbit/s NIC of cost 1 and 50 µs, a 40 Gbit/s rack uplink
// of cost 2 and 100 µs, a 10 Gbit/s site uplink of cost 20 and 20 ms; a
// link override names the host, rack or site whose uplink it sets.
// Traffic between two hosts crosses both NICs, both rack uplinks when the
// racks differ and both site uplinks when the sites differ; links are
// full duplex. Components in no flow (and a host's own metrics) join, in
// a per-flow DPG, the first flow that touches their host, or the tree
// "(no flow)".
//
// # The cost model
//
// Each host with metrics gets a leaf watch node (per flow, in a per-flow
// DPG). Leaves of a centralized DPG forward their filtered raw samples
// to the root, which detects on all of them; leaves of the others filter,
// detect (robust z by default), summarise per component per window (128
// bytes per 10 s by default) and forward raw windows to the root only on
// alarms (alarm rate x raw window x scope). Aggregators merge summaries:
// their output is capped (merged sketches plus the top-k components), so
// it does not grow with the number of inputs. Per-flow roots also run SPE
// over the flow and confirm alarms before raw windows are shipped.
//
// A plan costs
//
//	bytes  x sum over links of (bytes/s in both directions x link cost) / 1e6
//	+ cpu    x cores of every watch node, the root's included
//	+ memory x GiB of every watch node
//	+ delay  x depth x (summary window + worst host-to-root latency)
//	+ node   x (new nodes + reuse_factor x reused nodes of the deployed DPG)
//
// subject to hard constraints: each host's CPU, memory and ingest (bytes
// received from other hosts) capacity, each link's monitoring budget
// (link_share of its bandwidth, per direction). A plan that breaks one is
// refused with the constraint named: "node h7 ingest capacity 50 MB/s
// exceeded: 73 MB/s".
//
// # The planner
//
// Options: centralized; hierarchical k (a tree of fan-out k, depth
// ceil(log_k n)); per-flow k (a tree per flow, rooted on one of the flow's
// hosts); reuse (the deployed aggregators keep their children, others
// join them or form groups). Placement is a partition of each level's
// units into groups of at most k, each led by an aggregator on one of its
// members' hosts. Exact (at most 12 units per level, one level of
// aggregators): a dynamic programme over subsets for every choice of
// parent gives the optimum under the constraints local to a group, and a
// branch and bound ordered by that bound checks the shared ones (rack and
// site uplinks, the root). Heuristic: locality-greedy groups (by site,
// rack, host), the cheapest feasible leader, then local search (move,
// swap, re-lead, merge, absorb), iterated on small levels. See
// docs/bench/dpg.md for how close the heuristic comes to the optimum and
// how long 10,000 hosts take.
package dpg
