package diagnose

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"

	"github.com/vscope/vscope/agent/config"
)

// Endpoint names a component of the flow: agent and component, and the
// host when agent names repeat across hosts (empty: any host).
type Endpoint struct {
	Host, Agent, Component string
}

// String is host/agent/component, or agent/component without a host.
func (e Endpoint) String() string {
	if e.Host == "" {
		return e.Agent + "/" + e.Component
	}
	return e.Host + "/" + e.Agent + "/" + e.Component
}

// ParseEndpoint reads "agent/component" or "host/agent/component".
func ParseEndpoint(s string) (Endpoint, error) {
	parts := strings.Split(strings.TrimSpace(s), "/")
	for _, p := range parts {
		if p == "" {
			return Endpoint{}, fmt.Errorf("endpoint %q: want agent/component or host/agent/component", s)
		}
	}
	switch len(parts) {
	case 2:
		return Endpoint{Agent: parts[0], Component: parts[1]}, nil
	case 3:
		return Endpoint{Host: parts[0], Agent: parts[1], Component: parts[2]}, nil
	}
	return Endpoint{}, fmt.Errorf("endpoint %q: want agent/component or host/agent/component", s)
}

// Edge is one flow edge: events move From -> To (a source into its
// channel, a channel to its sink, a forward sink to a collector's source).
type Edge struct {
	From, To Endpoint
}

// Topology is the flow graph between components, as far as it is known.
// Edges within an agent that are not given are inferred from the metric
// names (every source feeds every channel, every channel every sink of the
// agent); edges between agents come only from here.
type Topology struct {
	Edges []Edge
	// Machine maps a host to the physical machine it shares with other
	// hosts (virtual machines or containers on one node, or the emulated
	// hosts of a local flow): their components compete for its CPUs, so
	// one host's busy CPU can slow another's. Hosts not in it are
	// machines of their own.
	Machine map[string]string
	// Source says where the edges came from ("file", "config").
	Source []string
}

// Merge adds o's edges and sources.
func (t *Topology) Merge(o *Topology) {
	if o == nil {
		return
	}
	t.Edges = append(t.Edges, o.Edges...)
	for h, m := range o.Machine {
		if t.Machine == nil {
			t.Machine = map[string]string{}
		}
		t.Machine[h] = m
	}
	for _, s := range o.Source {
		if !contains(t.Source, s) {
			t.Source = append(t.Source, s)
		}
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// topologyFile is the JSON form: edges, or paths (chains of endpoints),
// and the machines that hosts share.
//
//	{"edges": [{"from": "a1/k1", "to": "col/r1"}],
//	 "paths": [["a1/r1", "a1/c1", "a1/k1", "col/r1", "col/c1", "col/k1"]],
//	 "machines": {"node-7": ["web-01", "col-01"]}}
type topologyFile struct {
	Edges []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"edges"`
	Paths    [][]string          `json:"paths"`
	Machines map[string][]string `json:"machines"`
}

// ParseTopology reads the JSON topology form (see ReadTopologyFile).
func ParseTopology(data []byte) (*Topology, error) {
	var f topologyFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	t := &Topology{Source: []string{"file"}}
	var errs []string
	add := func(a, b string) {
		from, err1 := ParseEndpoint(a)
		to, err2 := ParseEndpoint(b)
		for _, err := range []error{err1, err2} {
			if err != nil {
				errs = append(errs, err.Error())
			}
		}
		if err1 == nil && err2 == nil {
			t.Edges = append(t.Edges, Edge{from, to})
		}
	}
	for _, e := range f.Edges {
		add(e.From, e.To)
	}
	for _, p := range f.Paths {
		for i := 1; i < len(p); i++ {
			add(p[i-1], p[i])
		}
	}
	names := make([]string, 0, len(f.Machines))
	for m := range f.Machines {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		for _, h := range f.Machines[m] {
			switch prev, dup := t.Machine[h]; {
			case strings.TrimSpace(h) == "" || strings.Contains(h, "/"):
				errs = append(errs, fmt.Sprintf("machines.%s: host %q: want a host name", m, h))
			case dup:
				errs = append(errs, fmt.Sprintf("machines.%s: host %s is already on machine %s", m, h, prev))
			default:
				if t.Machine == nil {
					t.Machine = map[string]string{}
				}
				t.Machine[h] = m
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("topology: %s", strings.Join(errs, "; "))
	}
	return t, nil
}

// ReadTopologyFile reads a JSON topology file:
//
//	{"edges": [{"from": "a1/k1", "to": "col/r1"}, ...],
//	 "paths": [["a1/r1", "a1/c1", "a1/k1", "col/r1"], ...],
//	 "machines": {"node-7": ["web-01", "col-01"]}}
//
// An endpoint is agent/component, or host/agent/component when agent
// names repeat across hosts. Machines (optional) lists the hosts that
// share one physical machine's CPUs.
func ReadTopologyFile(path string) (*Topology, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := ParseTopology(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// forwardTypes are the type names of the forward source and sink (the
// avro role), lower-cased.
var forwardTypes = map[string]bool{
	"forward": true, "avro": true,
	"org.apache.flume.source.avrosource": true, "org.apache.flume.sink.avrosink": true,
}

// TopologyFromFlume reads the flow graph from Flume properties files:
// every agent's source -> channel and channel -> sink edges, and forward
// (avro) sinks to the forward sources listening on the port they send to
// (hostname/port, or the members of their group). Only the graph is read;
// the files need not validate (${VAR}s left unset stay as written).
func TopologyFromFlume(paths ...string) (*Topology, error) {
	t := &Topology{Source: []string{"config"}}
	type listener struct {
		ep   Endpoint
		host string
	}
	byPort := map[string][]listener{}
	type target struct {
		ep    Endpoint
		addrs []string
	}
	var targets []target
	for _, path := range paths {
		props, err := config.ParseFile(path)
		if err != nil {
			return nil, err
		}
		// Unset variables stay as written: the graph rarely depends on them.
		props, _ = config.Substitute(props, os.LookupEnv)
		kv := map[string]string{}
		agents := map[string]bool{}
		for _, p := range props {
			kv[p.Key] = strings.TrimSpace(p.Value)
			parts := strings.SplitN(p.Key, ".", 3)
			if len(parts) == 3 && (parts[1] == "sources" || parts[1] == "sinks" || parts[1] == "channels") {
				agents[parts[0]] = true
			}
		}
		names := make([]string, 0, len(agents))
		for a := range agents {
			names = append(names, a)
		}
		sort.Strings(names)
		for _, a := range names {
			for _, r := range strings.Fields(kv[a+".sources"]) {
				pre := a + ".sources." + r + "."
				for _, c := range strings.Fields(kv[pre+"channels"]) {
					t.Edges = append(t.Edges, Edge{Endpoint{Agent: a, Component: r}, Endpoint{Agent: a, Component: c}})
				}
				if forwardTypes[strings.ToLower(kv[pre+"type"])] && kv[pre+"port"] != "" {
					byPort[kv[pre+"port"]] = append(byPort[kv[pre+"port"]], listener{Endpoint{Agent: a, Component: r}, kv[pre+"bind"]})
				}
			}
			for _, k := range strings.Fields(kv[a+".sinks"]) {
				pre := a + ".sinks." + k + "."
				if c := kv[pre+"channel"]; c != "" {
					t.Edges = append(t.Edges, Edge{Endpoint{Agent: a, Component: c}, Endpoint{Agent: a, Component: k}})
				}
				if !forwardTypes[strings.ToLower(kv[pre+"type"])] {
					continue
				}
				tg := target{ep: Endpoint{Agent: a, Component: k}}
				if h, p := kv[pre+"hostname"], kv[pre+"port"]; p != "" {
					tg.addrs = append(tg.addrs, net.JoinHostPort(h, p))
				}
				if g := kv[pre+"group"]; g != "" {
					tg.addrs = append(tg.addrs, strings.Fields(strings.ReplaceAll(kv[pre+"groups."+g+".members"], ",", " "))...)
				}
				targets = append(targets, tg)
			}
		}
	}
	for _, tg := range targets {
		for _, addr := range tg.addrs {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				continue
			}
			ls := byPort[port]
			// Prefer a listener bound to the host sent to; else any on
			// that port (0.0.0.0, or names that resolve alike).
			var match []listener
			for _, l := range ls {
				if l.host == host {
					match = append(match, l)
				}
			}
			if len(match) == 0 {
				match = ls
			}
			for _, l := range match {
				t.Edges = append(t.Edges, Edge{tg.ep, l.ep})
			}
		}
	}
	return t, nil
}
