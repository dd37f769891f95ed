package model

import (
	"fmt"
	"math/rand/v2"
)

// SynthSpec describes a synthetic data centre of log-shipping agents: a
// tier of hosts shipping two streams (access and application logs) to a
// tier of collectors, racks of hosts grouped in sites, and one store host
// (the root) in a rack of its own. Zero fields take the defaults noted.
type SynthSpec struct {
	// Hosts is the number of monitored hosts, collectors included.
	Hosts int
	// HostsPerRack (40) and RacksPerSite (64) shape the network.
	HostsPerRack, RacksPerSite int
	// HostsPerCollector (50): every such block of hosts has a collector;
	// a host ships to the collector of its block, or with probability
	// CrossRack (0.1) to a random one.
	HostsPerCollector int
	CrossRack         float64
	// Capacity of each host for watch operators (0.25 cores, 256 MiB,
	// 5 MB/s ingest) and of the root (8 cores, 16 GiB, 50 MB/s).
	Capacity, RootCapacity Capacity
	// ExistingRacks is the fraction of racks with an aggregator already
	// deployed (on the rack's first host, over the whole rack).
	ExistingRacks float64
	// Seed makes the topology reproducible.
	Seed uint64
}

// Synth builds the data centre of spec. Every host runs two agents of five
// components each (source, two channels, two sinks: one to the collector,
// one to local files), so N hosts have 10N components; with the host's own
// metrics a host emits 164 series.
func Synth(spec SynthSpec) *Topology {
	if spec.HostsPerRack <= 0 {
		spec.HostsPerRack = 40
	}
	if spec.RacksPerSite <= 0 {
		spec.RacksPerSite = 64
	}
	if spec.HostsPerCollector <= 0 {
		spec.HostsPerCollector = 50
	}
	if spec.CrossRack == 0 {
		spec.CrossRack = 0.1
	}
	if spec.Capacity == (Capacity{}) {
		spec.Capacity = Capacity{CPU: 0.25, Memory: 256 << 20, Ingest: 5e6}
	}
	if spec.RootCapacity == (Capacity{}) {
		spec.RootCapacity = Capacity{CPU: 8, Memory: 16 << 30, Ingest: 50e6}
	}
	rng := rand.New(rand.NewPCG(spec.Seed, 0x5eed))
	t := &Topology{
		Name:     fmt.Sprintf("synthetic data centre, %d hosts", spec.Hosts),
		Root:     "store-1",
		Defaults: Defaults{Capacity: spec.Capacity},
	}
	name := func(i int) string { return fmt.Sprintf("h%05d", i) }
	rackOf := func(i int) string { return fmt.Sprintf("r%04d", i/spec.HostsPerRack) }
	siteOf := func(i int) string { return fmt.Sprintf("dc%d", i/spec.HostsPerRack/spec.RacksPerSite+1) }
	collectors := (spec.Hosts + spec.HostsPerCollector - 1) / spec.HostsPerCollector
	t.Hosts = make([]Host, 0, spec.Hosts+1)
	for i := range spec.Hosts {
		h := Host{Name: name(i), Rack: rackOf(i), Site: siteOf(i)}
		for _, a := range []string{"access", "app"} {
			h.Agents = append(h.Agents, Agent{Name: a, Components: []Component{
				{Name: "r1", Kind: "source"},
				{Name: "c1", Kind: "channel"}, {Name: "c2", Kind: "channel"},
				{Name: "k1", Kind: "sink"}, {Name: "k2", Kind: "sink"},
			}})
		}
		t.Hosts = append(t.Hosts, h)
	}
	t.Hosts = append(t.Hosts, Host{Name: "store-1", Rack: "store", Site: "dc1", Capacity: spec.RootCapacity, Metrics: Metrics{Series: -1}})
	// A collector is the middle host of its block, so that most hosts
	// ship within their rack or the next one.
	collector := func(c int) int { return min(c*spec.HostsPerCollector+spec.HostsPerCollector/2, spec.Hosts-1) }
	flows := make([][2][]Edge, collectors)
	for i := range spec.Hosts {
		c := i / spec.HostsPerCollector
		if rng.Float64() < spec.CrossRack {
			c = rng.IntN(collectors)
		}
		col := name(collector(c))
		for s, a := range []string{"access", "app"} {
			p := name(i) + "/" + a + "/"
			e := []Edge{{p + "r1", p + "c1"}, {p + "r1", p + "c2"}, {p + "c1", p + "k1"}, {p + "c2", p + "k2"}}
			if name(i) != col {
				e = append(e, Edge{p + "k1", col + "/" + a + "/r1"})
			}
			flows[c][s] = append(flows[c][s], e...)
		}
	}
	for c := range collectors {
		for s, a := range []string{"access", "app"} {
			if len(flows[c][s]) > 0 {
				t.Flows = append(t.Flows, Flow{Name: fmt.Sprintf("%s-%s", a, name(collector(c))), Edges: flows[c][s]})
			}
		}
	}
	racks := (spec.Hosts + spec.HostsPerRack - 1) / spec.HostsPerRack
	for r := range racks {
		if rng.Float64() >= spec.ExistingRacks {
			continue
		}
		lo, hi := r*spec.HostsPerRack, min((r+1)*spec.HostsPerRack, spec.Hosts)
		e := ExistingNode{Name: "agg-" + rackOf(lo), Host: name(lo), Role: RoleAggregator}
		for i := lo; i < hi; i++ {
			e.Children = append(e.Children, name(i))
		}
		t.Existing = append(t.Existing, e)
	}
	return t
}
