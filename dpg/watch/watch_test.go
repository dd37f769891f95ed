package watch

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/monitor"
	"github.com/vscope/vscope/dpg/model"
)

const testKey = "0123456789abcdef0123"

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// gen produces one host's samples: a source, a channel and a sink of
// agent a1, and two host series, with Gaussian noise. From faultAt on,
// the sink's batch p99 is ten times its level (a slow sink).
type gen struct {
	host    string
	rng     *rand.Rand
	faultAt int64 // unix ms; 0: never
	// cpuAt (unix ms; 0: never) makes the host's CPU user time five
	// times its level from then on.
	cpuAt int64
}

func (g *gen) sample(ts int64) []monitor.Point {
	n := func(level, rel float64) float64 { return level * (1 + rel*g.rng.NormFloat64()) }
	p99 := n(0.004, 0.05)
	if g.faultAt != 0 && ts >= g.faultAt {
		p99 *= 10
	}
	cpu := n(20, 0.05)
	if g.cpuAt != 0 && ts >= g.cpuAt {
		cpu *= 5
	}
	pt := func(agent, comp, kind, metric string, v float64) monitor.Point {
		return monitor.Point{TS: ts, Host: g.host, Agent: agent, Component: comp, Kind: kind, Metric: metric, Value: v}
	}
	return []monitor.Point{
		pt("a1", "r1", "source", "EventAcceptedRate", n(1000, 0.03)),
		pt("a1", "r1", "source", "EventReceivedRate", n(1000, 0.03)),
		pt("a1", "c1", "channel", "ChannelFillPercentage", n(2, 0.1)),
		pt("a1", "c1", "channel", "ChannelCapacity", 1000),
		pt("a1", "k1", "sink", "EventDrainSuccessRate", n(1000, 0.03)),
		pt("a1", "k1", "sink", "batch_duration_p99_seconds", p99),
		pt("", "cpu", "host", "user_percent", cpu),
		pt("", "process", "process", "cpu_user_seconds_per_second", n(0.2, 0.05)),
	}
}

// tree builds root d.0 <- aggregator d.1 <- leaves d.2.. on hosts.
func tree(t *testing.T, m *Mesh, method string, hosts ...string) []*Node {
	t.Helper()
	root := &Peer{URL: "http://mesh", ID: "d.0"}
	agg := &Peer{URL: "http://mesh", ID: "d.1"}
	base := Spec{Deployment: "d", Key: testKey, Detect: DetectSpec{Method: method},
		Aggregate: AggregateSpec{Window: model.Duration(10 * time.Second)}}
	var nodes []*Node
	add := func(id string, s Spec) {
		n, err := m.Add(id, s)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	s := base
	s.Role, s.Node, s.Children = RoleRoot, 0, 1
	add("d.0", s)
	s = base
	s.Role, s.Node, s.Level, s.Parent, s.Children = RoleAggregator, 1, 1, root, len(hosts)
	add("d.1", s)
	for i, h := range hosts {
		s = base
		s.Role, s.Node, s.Level, s.Host, s.Parent, s.Root = RoleLeaf, 2+i, 2, h, agg, root
		add("d."+string(rune('2'+i)), s)
	}
	return nodes
}

func run(m *Mesh, leaves []*Node, gens []*gen, seconds int) {
	for i := range seconds {
		now := t0.Add(time.Duration(i) * time.Second)
		for j, l := range leaves {
			l.Observe(now.UnixMilli(), gens[j].sample(now.UnixMilli()))
		}
		m.Tick(now)
	}
}

func TestLeafAlarmEscalatesThroughTree(t *testing.T) {
	for _, method := range []string{MethodRobustZ, MethodEWMA, MethodSPE} {
		t.Run(method, func(t *testing.T) {
			m := NewMesh(time.Second)
			nodes := tree(t, m, method, "h1", "h2", "h3")
			fault := t0.Add(150 * time.Second).UnixMilli()
			gens := []*gen{
				{host: "h1", rng: rand.New(rand.NewPCG(1, 1))},
				{host: "h2", rng: rand.New(rand.NewPCG(2, 2)), faultAt: fault},
				{host: "h3", rng: rand.New(rand.NewPCG(3, 3))},
			}
			run(m, nodes[2:], gens, 176)
			root := nodes[0].Status()
			if len(root.Findings) == 0 {
				t.Fatalf("root found nothing: %+v", root)
			}
			f := root.Findings[0]
			if f.Host != "h2" || f.Component.Component != "k1" || f.Metric != "batch_duration_p99_seconds" {
				t.Fatalf("top finding %+v, want h2/a1/k1 batch_duration_p99_seconds; all %+v", f, root.Findings)
			}
			if f.First < fault || f.First > fault+5000 || f.Points == 0 {
				t.Errorf("finding onset %d (fault %d), %d raw points", f.First, fault, f.Points)
			}
			for _, f := range root.Findings {
				if f.Host != "h2" {
					t.Errorf("false alarm on %s: %+v", f.Host, f)
				}
			}
			if root.RawReceived == 0 || root.SummariesReceived < 16 || root.Window == nil || root.Window.Hosts != 3 {
				t.Fatalf("root: raw %d, summaries %d, window %+v", root.RawReceived, root.SummariesReceived, root.Window)
			}
			// The last window shows the slow sink on top and the key
			// metrics merged over the three hosts.
			w := root.Window
			if len(w.Top) == 0 || w.Top[0].Host != "h2" || w.Top[0].Component != "k1" {
				t.Errorf("last window top %+v", w.Top)
			}
			var drain *Stat
			for i := range w.Stats {
				if w.Stats[i].Series == "sink/EventDrainSuccessRate" {
					drain = &w.Stats[i]
				}
			}
			if drain == nil || drain.N != 3 || drain.Sum < 2700 || drain.Sum > 3300 {
				t.Errorf("merged drain rate %+v", drain)
			}
			leaf := nodes[3].Status()
			if !leaf.Warm || leaf.Components != 5 || leaf.Series != 8 || leaf.RawSent != 1 || leaf.Alarms != 1 {
				t.Errorf("faulty leaf %+v", leaf)
			}
			if q := nodes[2].Status(); q.Alarms != 0 || q.RawSent != 0 || q.SummariesSent < 17 {
				t.Errorf("quiet leaf %+v", q)
			}
			bytes, _ := m.Traffic()
			if bytes[KindSummary] == 0 || bytes[KindRaw] == 0 {
				t.Errorf("traffic %v", bytes)
			}
		})
	}
}

// One alarm per episode: a fault that persists raises one alarm, not
// one per sample or per window.
func TestAlarmOncePerEpisode(t *testing.T) {
	m := NewMesh(time.Second)
	nodes := tree(t, m, MethodRobustZ, "h1")
	g := &gen{host: "h1", rng: rand.New(rand.NewPCG(9, 9)), faultAt: t0.Add(100 * time.Second).UnixMilli()}
	run(m, nodes[2:], []*gen{g}, 160)
	if a := nodes[2].Status().Alarms; a != 1 {
		t.Fatalf("alarms %d, want 1 for one episode", a)
	}
}

// The escalation budget: with one raw window a minute and a burst of
// one, a second alarm within the minute is held and ships once the
// budget refills; the root gets both.
func TestEscalationBudget(t *testing.T) {
	m := NewMesh(time.Second)
	root := &Peer{URL: "http://mesh", ID: "b.0"}
	if _, err := m.Add("b.0", Spec{Deployment: "b", Role: RoleRoot, Key: testKey, Children: 1}); err != nil {
		t.Fatal(err)
	}
	leaf, err := m.Add("b.1", Spec{Deployment: "b", Node: 1, Level: 1, Role: RoleLeaf, Host: "h1", Key: testKey,
		Parent: root, Root: root, Forward: ForwardSpec{PerMinute: 1, Burst: 1}})
	if err != nil {
		t.Fatal(err)
	}
	g := &gen{host: "h1", rng: rand.New(rand.NewPCG(5, 5)), faultAt: t0.Add(100 * time.Second).UnixMilli(), cpuAt: t0.Add(110 * time.Second).UnixMilli()}
	run(m, []*Node{leaf}, []*gen{g}, 140)
	if st := leaf.Status(); st.Alarms != 2 || st.RawSent != 1 || st.RawHeld != 1 {
		t.Fatalf("after 140 s: alarms %d, raw sent %d, held %d", st.Alarms, st.RawSent, st.RawHeld)
	}
	for i := 140; i < 170; i++ { // the budget refills a minute after the first window shipped
		now := t0.Add(time.Duration(i) * time.Second)
		leaf.Observe(now.UnixMilli(), g.sample(now.UnixMilli()))
	}
	st := leaf.Status()
	if st.RawSent != 2 {
		t.Fatalf("held window not shipped after the refill: %+v", st)
	}
	n := m.nodes["b.0"]
	f := n.Findings()
	if len(f) != 2 || f[0].Points == 0 || f[1].Points == 0 {
		t.Fatalf("root findings %+v", f)
	}
}

// A centralized leaf ships every sample; the root detects on them and
// finds the same component.
func TestCentralizedRootDetects(t *testing.T) {
	m := NewMesh(time.Second)
	root := &Peer{URL: "http://mesh", ID: "c.0"}
	if _, err := m.Add("c.0", Spec{Deployment: "c", Role: RoleRoot, Key: testKey}); err != nil {
		t.Fatal(err)
	}
	var leaves []*Node
	var gens []*gen
	for i, h := range []string{"h1", "h2"} {
		n, err := m.Add("c."+h, Spec{Deployment: "c", Node: i + 1, Level: 1, Role: RoleLeaf, Host: h, Key: testKey,
			Parent: root, Root: root, Forward: ForwardSpec{EverySample: true}})
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, n)
		g := &gen{host: h, rng: rand.New(rand.NewPCG(uint64(i), 7))}
		if h == "h2" {
			g.faultAt = t0.Add(120 * time.Second).UnixMilli()
		}
		gens = append(gens, g)
	}
	run(m, leaves, gens, 160)
	n, _ := m.nodes["c.0"]
	st := n.Status()
	if len(st.Findings) == 0 || st.Findings[0].Host != "h2" || st.Findings[0].Component.Component != "k1" {
		t.Fatalf("centralized findings %+v", st.Findings)
	}
	if st.SamplesReceived != 320 || st.Points != 320*8 {
		t.Errorf("samples %d points %d", st.SamplesReceived, st.Points)
	}
}

func TestMergerLateAndGrace(t *testing.T) {
	m := NewMesh(time.Second)
	nodes := tree(t, m, MethodRobustZ, "h1", "h2")
	agg := nodes[1]
	sum := func(from int, start int64) []byte {
		b, _ := json.Marshal(Summary{Deployment: "d", From: from, Start: start, End: start + 10000, Hosts: 1, Components: 2})
		return b
	}
	start := t0.UnixMilli()
	// Only one child reports: the window waits for its grace, then goes up.
	if err := agg.Deliver(KindSummary, sum(2, start)); err != nil {
		t.Fatal(err)
	}
	agg.Tick(t0.Add(15 * time.Second))
	if s := nodes[0].Status(); s.SummariesReceived != 0 {
		t.Fatalf("window sent before its grace: %+v", s)
	}
	agg.Tick(t0.Add(20 * time.Second))
	if s := nodes[0].Status(); s.SummariesReceived != 1 || s.Window.Hosts != 1 {
		t.Fatalf("window not sent after its grace: %+v", s)
	}
	// The missing child's summary now comes too late.
	if err := agg.Deliver(KindSummary, sum(3, start)); err != nil {
		t.Fatal(err)
	}
	if s := agg.Status(); s.Late != 1 {
		t.Errorf("late %d", s.Late)
	}
	// Both children: sent at once.
	_ = agg.Deliver(KindSummary, sum(2, start+10000))
	_ = agg.Deliver(KindSummary, sum(3, start+10000))
	if s := nodes[0].Status(); s.SummariesReceived != 2 || s.Window.Hosts != 2 || s.Window.Components != 4 {
		t.Fatalf("complete window: %+v", s.Window)
	}
}

func TestDeliverBadInput(t *testing.T) {
	m := NewMesh(time.Second)
	nodes := tree(t, m, MethodRobustZ, "h1")
	f := func(n *Node, kind, body, want string) {
		t.Helper()
		err := n.Deliver(kind, []byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Deliver(%s, %s) = %v, want %q", kind, body, err, want)
		}
	}
	f(nodes[1], KindSummary, `{`, "bad message: summary")
	f(nodes[1], KindSummary, `{"start": 10, "end": 5}`, "window [10, 5) is empty")
	f(nodes[1], KindSummary, `{"start": 0, "end": 5, "hosts": -1}`, "negative count")
	f(nodes[1], KindRaw, `{"series":[{"ts":[1,2],"v":[1,2]}]}`, "not accepted by this node's role")
	f(nodes[0], KindRaw, `{"series":[{"ts":[1,2],"v":[1]}]}`, "series[0]: 2 timestamps, 1 values")
	f(nodes[2], KindSummary, `{"start": 0, "end": 5}`, "summary to a leaf")
	f(nodes[0], "bogus", `{}`, `unknown kind "bogus"`)
	if s := nodes[1].Status(); s.BadInput != 4 {
		t.Errorf("bad input counted %d", s.BadInput)
	}
}

func TestSpecErrorsNameFields(t *testing.T) {
	f := func(body string, want ...string) {
		t.Helper()
		_, err := ParseSpec([]byte(body))
		if err == nil {
			t.Fatalf("%s: accepted", body)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", body, err, w)
			}
		}
		if !errors.Is(err, ErrSpec) {
			t.Errorf("%v is not ErrSpec", err)
		}
	}
	f(`{"deployment": "d", "role": "leaf", "key": "`+testKey+`", "bogus": 1}`, `unknown field "bogus"`)
	f(`{"deployment": "d d", "role": "twig", "key": "short"}`, "deployment:", "role:", "key:")
	f(`{"deployment": "d", "role": "leaf", "key": "`+testKey+`"}`, "parent: required", "root: required")
	f(`{"deployment": "d", "role": "root", "key": "`+testKey+`", "detect": {"method": "pca", "window_samples": 3, "persist": -1}}`,
		"detect.method", "detect.window_samples", "detect.persist")
	f(`{"deployment": "d", "role": "root", "key": "`+testKey+`", "aggregate": {"window": "1ms", "metrics": ["x"]}, "filter": {"include": ["["]}}`,
		"aggregate.window", "aggregate.metrics[0]", "filter.include[0]")
	f(`{"deployment": "d", "role": "aggregator", "key": "`+testKey+`", "parent": {"url": "ftp://x", "id": "a b"}}`, "parent.url", "parent.id")
	s, err := ParseSpec([]byte(`{"deployment": "d", "role": "root", "key": "` + testKey + `"}`))
	if err != nil || s.Detect.Method != MethodRobustZ || s.Detect.WindowSamples != 60 || s.Aggregate.TopK != 8 {
		t.Fatalf("defaults: %+v %v", s, err)
	}
}

// recorder is a Sender that keeps what it was given.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Send(_ context.Context, to Peer, kind, key string, body []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, to.ID+" "+kind)
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// A Host samples its agent's registry for its leaves; a change keeps the
// leaf's history; a removed leaf stops.
func TestHostSamplesRegistry(t *testing.T) {
	reg := monitor.NewRegistry("a1")
	src := reg.Source("r1", "seq")
	ch := reg.Channel("c1", "memory")
	ch.SetCapacity(100)
	rec := &recorder{}
	h := NewHost(Options{Name: "web-01", Registries: []*monitor.Registry{reg}, Interval: time.Second, Sender: rec})
	spec := `{"deployment": "d", "node": 3, "level": 1, "role": "leaf", "key": "` + testKey + `",
		"parent": {"url": "http://127.0.0.1:1", "id": "d.0"}, "root": {"url": "http://127.0.0.1:1", "id": "d.0"},
		"detect": {"window_samples": 10}, "aggregate": {"window": "5s"},
		"filter": {"include": ["source/*/*", "channel/*/*", "sink/*/*"], "exclude": ["*/*/ChannelCapacity"]}}`
	st, created, err := h.Put("d.3", []byte(spec))
	if err != nil || !created || st.State != "running" || st.Host != "web-01" {
		t.Fatalf("put: %+v %v %v", st, created, err)
	}
	for i := range 30 {
		src.EventAccepted.Add(100 + i%3)
		h.Step(t0.Add(time.Duration(i) * time.Second))
	}
	st = h.Statuses()[0]
	if !st.Warm || st.Components != 2 || st.Series != 10+7 || st.SummariesSent < 5 {
		t.Fatalf("after 30 s: %+v", st)
	}
	// Messages are sent by the outbox's goroutine.
	deadline := time.Now().Add(5 * time.Second)
	for rec.count() < int(st.SummariesSent) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if rec.count() < int(st.SummariesSent) {
		t.Fatalf("recorded %d of %d summaries", rec.count(), st.SummariesSent)
	}
	st, created, err = h.Put("d.3", []byte(strings.Replace(spec, `"window": "5s"`, `"window": "10s"`, 1)))
	if err != nil || created || !st.Warm || st.Changed.Equal(st.Started) {
		t.Fatalf("change: %+v %v %v", st, created, err)
	}
	if _, _, err := h.Put("bad id", []byte(spec)); !errors.Is(err, ErrSpec) {
		t.Errorf("bad id: %v", err)
	}
	if _, err := h.Delete("d.3"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Delete("d.3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if len(h.Statuses()) != 0 {
		t.Errorf("left: %+v", h.Statuses())
	}
}
