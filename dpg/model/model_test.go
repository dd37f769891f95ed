package model_test

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vscope/vscope/dpg/model"
)

func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../testdata/*.json")
	if err != nil || len(files) < 2 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		in, err := model.LoadFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(in.Hosts) == 0 || in.Components == 0 || len(in.FlowTrees) == 0 {
			t.Errorf("%s: %d hosts, %d components, %d flow trees", f, len(in.Hosts), in.Components, len(in.FlowTrees))
		}
	}
}

// TestBadTopologies checks each testdata/bad file against the problems it
// must report, all of them, with their key paths.
func TestBadTopologies(t *testing.T) {
	f := func(file string, want ...string) {
		t.Helper()
		_, err := model.LoadFile(filepath.Join("../testdata/bad", file))
		if err == nil {
			t.Errorf("%s: no error", file)
			return
		}
		if !errors.Is(err, model.ErrInvalid) {
			t.Errorf("%s: %v does not wrap ErrInvalid", file, err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error\n%v\nlacks %q", file, err, w)
			}
		}
	}
	f("unknown-key.bad.json", "hosts[h1].capacity.cpus: unknown key")
	f("syntax.bad.json", "line 3:", "invalid character '}'")
	f("unknown-root.bad.json", `root: unknown host "store"`)
	f("flow-edge.bad.json", `flows[f].edges[0].to: "h1/a1/zz": no such component`)
	f("rack-two-sites.bad.json", `hosts[h2].site: rack "r1" is in site "east", not "west"`)
	f("existing.bad.json", `existing[a].children[1]: unknown host "h9"`, `existing[b].role: "collector": want leaf, aggregator or flow`)
	f("many.bad.json", "7 problems",
		"hosts[h1].capacity.cpu: -1: must be >= 0",
		"hosts[h1].agents[a1].components[r1].kind: required",
		`hosts[h1].agents[a1].components[r1].name: duplicate component "r1"`,
		`hosts[h1].name: duplicate host "h1"`,
		"hosts[h1].metrics.series: -5: must be >= 0",
		"hosts[h1].metrics.rate_hz: -1: must be >= 0",
		`network.links[0].node: "nowhere" is no host, rack or site`)
	f("units.bad.json", `defaults.capacity.ingest: "5 furlongs/s": unknown unit "furlongs"`)
}

func TestUnits(t *testing.T) {
	f := func(s string, rate bool, want float64) {
		t.Helper()
		var got float64
		var err error
		if rate {
			got, err = model.ParseByteRate(s)
		} else {
			got, err = model.ParseBytes(s)
		}
		if err != nil || math.Abs(got-want) > 1e-9*want {
			t.Errorf("parse %q = %v, %v; want %v", s, got, err, want)
		}
	}
	f("10MB/s", true, 10e6)
	f("10 MB/s", true, 10e6)
	f("1Gbit/s", true, 1.25e8)
	f("512KiB/s", true, 512*1024)
	f("2000", true, 2000)
	f("256MiB", false, 256<<20)
	f("1.5GB", false, 1.5e9)
	for _, bad := range []string{"10 MB/h", "ten MB/s", "-1MB/s"} {
		if _, err := model.ParseByteRate(bad); err == nil {
			t.Errorf("parse %q: no error", bad)
		}
	}
	g := func(v float64, want string) {
		t.Helper()
		if got := model.FormatRate(v); got != want {
			t.Errorf("FormatRate(%v) = %q, want %q", v, got, want)
		}
	}
	g(73e6, "73 MB/s")
	g(50e6, "50 MB/s")
	g(812, "812 B/s")
	g(1.25e9, "1.25 GB/s")
	g(999.7, "1 kB/s")
	// Round trip through JSON.
	var c model.Capacity
	if err := json.Unmarshal([]byte(`{"cpu": 0.5, "memory": "1GiB", "ingest": "5MB/s"}`), &c); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(c)
	if string(b) != `{"cpu":0.5,"memory":"1 GiB","ingest":"5 MB/s"}` {
		t.Errorf("capacity JSON %s", b)
	}
}

func TestNetworkPaths(t *testing.T) {
	topo := &model.Topology{Root: "s", Hosts: []model.Host{
		{Name: "a", Rack: "r1", Site: "x"}, {Name: "b", Rack: "r1", Site: "x"},
		{Name: "c", Rack: "r2", Site: "x"}, {Name: "s", Rack: "r3", Site: "y"},
	}, Network: model.Network{
		Host:  model.LinkSpec{Cost: 1, Latency: model.Duration(1e6)},
		Rack:  model.LinkSpec{Cost: 2, Latency: model.Duration(2e6)},
		Site:  model.LinkSpec{Cost: 10, Latency: model.Duration(10e6)},
		Links: []model.LinkOverride{{Node: "r2", LinkSpec: model.LinkSpec{Cost: 5}}},
	}}
	in, err := model.Compile(topo)
	if err != nil {
		t.Fatal(err)
	}
	idx := func(n string) int32 { i, _ := in.HostIndex(n); return i }
	f := func(a, b string, cost, latency float64, links int) {
		t.Helper()
		n := 0
		in.Path(idx(a), idx(b), func(int32, bool) { n++ })
		if got := in.PathCost(idx(a), idx(b)); got != cost {
			t.Errorf("cost %s->%s = %v, want %v", a, b, got, cost)
		}
		if got := in.PathLatency(idx(a), idx(b)); math.Abs(got-latency) > 1e-12 {
			t.Errorf("latency %s->%s = %v, want %v", a, b, got, latency)
		}
		if n != links {
			t.Errorf("%s->%s crosses %d links, want %d", a, b, n, links)
		}
	}
	f("a", "a", 0, 0, 0)
	f("a", "b", 2, 0.002, 2)       // two NICs
	f("a", "c", 1+2+5+1, 0.006, 4) // NICs and both rack uplinks (r2 overridden)
	f("a", "s", 1+2+10+10+2+1, 0.026, 6)
	if math.Abs(in.MaxRootLatency()-0.026) > 1e-12 {
		t.Errorf("max root latency %v", in.MaxRootLatency())
	}
}

func TestLoadsAndFlowTrees(t *testing.T) {
	topo := &model.Topology{Root: "s",
		Defaults: model.Defaults{Metrics: map[string]model.Metrics{"host": {Series: 10}, "*": {RateHz: 2, BytesPerSample: 10}}},
		Hosts: []model.Host{
			{Name: "a", Agents: []model.Agent{{Name: "x", Components: []model.Component{
				{Name: "r", Kind: "source"}, {Name: "k", Kind: "sink", Metrics: model.Metrics{Series: 4}}}}}},
			{Name: "b", Metrics: model.Metrics{Series: -1}, Agents: []model.Agent{{Name: "x", Components: []model.Component{{Name: "r", Kind: "source"}}}}},
			{Name: "c"},
			{Name: "s", Metrics: model.Metrics{Series: -1}},
		},
		Flows: []model.Flow{{Name: "f", Edges: []model.Edge{{From: "a/x/r", To: "b/x/r"}}}},
	}
	in, err := model.Compile(topo)
	if err != nil {
		t.Fatal(err)
	}
	// a: host 10 series + source 12 (built-in) + sink 4, at 2 Hz x 10 B.
	a := in.Hosts[0].Load
	if a.Series != 26 || a.Components != 2 || a.Samples != 52 || a.Bytes != 520 {
		t.Errorf("load of a: %+v", a)
	}
	if len(in.FlowTrees) != 2 || in.FlowTrees[1].Name != "(no flow)" {
		t.Fatalf("flow trees: %+v", in.FlowTrees)
	}
	// Flow f holds a's source plus a's unflowed sink and host metrics, and
	// b's source; c is in "(no flow)"; s emits nothing.
	f := in.FlowTrees[0]
	if len(f.Hosts) != 2 || f.Loads[0].Series != 26 || f.Loads[1].Series != 12 {
		t.Errorf("flow f: %+v", f)
	}
	if nf := in.FlowTrees[1]; len(nf.Hosts) != 1 || in.Hosts[nf.Hosts[0]].Name != "c" {
		t.Errorf("(no flow): %+v", nf)
	}
}

func TestSynth(t *testing.T) {
	topo := model.Synth(model.SynthSpec{Hosts: 500, Seed: 3, ExistingRacks: 0.5})
	in, err := model.Compile(topo)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Hosts) != 501 || in.Components != 5000 || len(in.Flows) != 20 || len(in.ExistingAggs) == 0 {
		t.Errorf("synth: %d hosts, %d components, %d flows, %d existing", len(in.Hosts), in.Components, len(in.Flows), len(in.ExistingAggs))
	}
	if s := in.Hosts[0].Load.Series; s != 164 {
		t.Errorf("series per host %v, want 164", s)
	}
	// Same seed, same topology; JSON round trip compiles to the same.
	b1, _ := json.Marshal(model.Synth(model.SynthSpec{Hosts: 500, Seed: 3, ExistingRacks: 0.5}))
	b2, _ := json.Marshal(topo)
	if string(b1) != string(b2) {
		t.Error("synth is not deterministic")
	}
	back, err := model.Parse(b1)
	if err != nil {
		t.Fatal(err)
	}
	in2, err := model.Compile(back)
	if err != nil {
		t.Fatal(err)
	}
	if in2.TotalLoad() != in.TotalLoad() {
		t.Errorf("round trip load %+v vs %+v", in2.TotalLoad(), in.TotalLoad())
	}
}

// TestDocExample parses the example of dpg/doc.go, comments removed.
func TestDocExample(t *testing.T) {
	b, err := os.ReadFile("../doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var js []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		l, ok := strings.CutPrefix(line, "//\t")
		switch {
		case ok && l == "{":
			in = true
		case !ok:
			in = false
		}
		if in {
			if i := strings.Index(l, "  //"); i >= 0 {
				l = l[:i]
			}
			js = append(js, l)
		}
		if ok && l == "}" && in {
			break
		}
	}
	topo, err := model.Parse([]byte(strings.Join(js, "\n")))
	if err != nil {
		t.Fatalf("%v\n%s", err, strings.Join(js, "\n"))
	}
	inst, err := model.Compile(topo)
	if err != nil {
		t.Fatal(err)
	}
	if len(inst.Hosts) != 4 || len(inst.Flows) != 1 || len(inst.ExistingAggs) != 1 || len(inst.Links) != 4+3+1 {
		t.Errorf("doc example: %d hosts, %d flows, %d aggregators, %d links", len(inst.Hosts), len(inst.Flows), len(inst.ExistingAggs), len(inst.Links))
	}
}
