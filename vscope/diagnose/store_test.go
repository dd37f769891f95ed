package diagnose

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var simStart = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

const (
	simBaseline = 3600 // seconds of baseline before the window
	simSecs     = simBaseline + 600
)

func runSim(t *testing.T, fault func(s *sim, sec int), topo *Topology) *Result {
	t.Helper()
	st := simStore(t, newSim(1), simStart, simSecs, fault)
	r, err := Run(context.Background(), st, Options{
		At:       simStart.Add(simSecs * time.Second),
		Window:   10 * time.Minute,
		Baseline: time.Hour,
		Topology: topo,
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, r); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.String())
	return r
}

func component(t *testing.T, r *Result, agent, comp string) ComponentResult {
	t.Helper()
	for _, c := range r.Components {
		if c.Agent == agent && c.Component == comp {
			return c
		}
	}
	t.Fatalf("component %s/%s not in the result", agent, comp)
	return ComponentResult{}
}

// TestCollectorSlowSink plants the fault of issue 7: the collector's sink
// slows down (batch latency x100, drain rate below the inflow), its channel
// fills, and once it is full the tier-1 sinks stall and the tier-1
// channels fill. The collector sink's latency must rank first, the sink be
// the cause and the channels symptoms, with the onset at the fault.
func TestCollectorSlowSink(t *testing.T) {
	const faultAt = simBaseline + 200 // 200 s into the window
	r := runSim(t, func(s *sim, sec int) {
		if sec == faultAt {
			s.drainCap[2], s.sinkLat[2] = 300, 0.5
		}
	}, simTopology())
	if r.Status != StatusAnomaly {
		t.Fatalf("status %q, want %q", r.Status, StatusAnomaly)
	}
	top := r.Ranking[0]
	if top.Agent != "col" || top.Component != "k1" || !strings.Contains(top.Metric, "batch_duration") {
		t.Fatalf("rank 1 is %s/%s %s, want the collector sink's batch latency", top.Agent, top.Component, top.Metric)
	}
	fault := simStart.Add(faultAt * time.Second)
	if top.Onset == nil || top.Onset.Sub(fault).Abs() > 2*time.Second {
		t.Errorf("rank 1 onset %v, want %v ± 2 s", top.Onset, fault)
	}
	sink := component(t, r, "col", "k1")
	if sink.Role != RoleCause {
		t.Errorf("col/k1 role %q (%s), want cause", sink.Role, sink.Why)
	}
	for _, c := range []struct{ agent, comp string }{{"col", "c1"}, {"t1", "c1"}, {"t2", "c1"}, {"t1", "k1"}, {"col", "r1"}} {
		got := component(t, r, c.agent, c.comp)
		if got.Role != RoleSymptom || got.CausedBy != "h3/col/k1" {
			t.Errorf("%s/%s: role %q caused by %q (%s), want a symptom of h3/col/k1", c.agent, c.comp, got.Role, got.CausedBy, got.Why)
		}
	}
	// The tier-1 channels fill only once the collector's is full (~65 s).
	t1c1 := component(t, r, "t1", "c1")
	if t1c1.Onset == nil || t1c1.Onset.Sub(fault) < 30*time.Second {
		t.Errorf("t1/c1 onset %v, want well after the fault at %v", t1c1.Onset, fault)
	}
	for _, c := range r.Components {
		if c.Role == RoleCause && !(c.Agent == "col" && c.Component == "k1") {
			t.Errorf("extra cause %s/%s/%s: %s", c.Host, c.Agent, c.Component, c.Why)
		}
	}
	if h := r.Hosts[0]; h.Host != "h3" || h.Role != RoleCause {
		t.Errorf("first host %s (%s), want h3 as the cause's host", h.Host, h.Role)
	}
	checkJSONKeys(t, r)
}

// TestHostInterference: on host h2 something else takes the CPU (user %
// from 20 to 85) and agent t2's throughput halves. The host's cpu is the
// cause, t2's components and the collector's intake symptoms, and t1 and
// its host unrelated.
func TestHostInterference(t *testing.T) {
	const faultAt = simBaseline + 300
	r := runSim(t, func(s *sim, sec int) {
		if sec == faultAt {
			s.cpuUser["h2"] = 85
			s.srcSlow[1] = 0.5
		}
	}, simTopology())
	if r.Status != StatusAnomaly {
		t.Fatalf("status %q, want %q", r.Status, StatusAnomaly)
	}
	cpu := component(t, r, "", "cpu")
	for _, c := range r.Components {
		if c.Agent == "" && c.Component == "cpu" && c.Host == "h2" {
			cpu = c
		}
	}
	if cpu.Host != "h2" || cpu.Role != RoleCause {
		t.Fatalf("h2's cpu: role %q (%s), want cause", cpu.Role, cpu.Why)
	}
	for _, c := range []string{"r1", "c1", "k1"} {
		if got := component(t, r, "t2", c); got.Role != RoleSymptom || got.CausedBy != "h2/cpu" {
			t.Errorf("t2/%s: role %q caused by %q (%s), want a symptom of h2/cpu", c, got.Role, got.CausedBy, got.Why)
		}
	}
	if got := component(t, r, "t1", "r1"); got.Role != RoleUnrelated {
		t.Errorf("t1/r1 role %q (%s), want unrelated", got.Role, got.Why)
	}
	if r.Hosts[0].Host != "h2" || r.Hosts[0].Role != RoleCause {
		t.Errorf("first host %+v, want h2 as cause", r.Hosts[0])
	}
	for _, h := range r.Hosts {
		if h.Host == "h1" && h.Role != RoleUnrelated {
			t.Errorf("h1 role %q (%s), want unrelated", h.Role, h.Why)
		}
	}
	if !strings.Contains(strings.Join(r.Summary, " "), "interference") {
		t.Errorf("no interference guidance in the summary: %q", r.Summary)
	}
	top := r.Ranking[0]
	if top.Host != "h2" || top.Component != "cpu" {
		t.Errorf("rank 1 is %s/%s/%s %s, want h2's cpu", top.Host, top.Agent, top.Component, top.Metric)
	}
}

// TestNoFault: an hour of normal operation, then ten more minutes of it.
func TestNoFault(t *testing.T) {
	r := runSim(t, nil, simTopology())
	if r.Status != StatusNoAnomaly {
		t.Fatalf("status %q, want %q: %q", r.Status, StatusNoAnomaly, r.Summary)
	}
	if !strings.HasPrefix(r.Summary[0], "No anomaly") {
		t.Errorf("summary %q does not start with No anomaly", r.Summary[0])
	}
	for _, c := range r.Components {
		if c.Role != RoleUnrelated {
			t.Errorf("%s/%s/%s is %s without a fault: %s", c.Host, c.Agent, c.Component, c.Role, c.Why)
		}
	}
	if len(r.AnomalousPoints) != 0 {
		t.Errorf("%d anomalous points without a fault", len(r.AnomalousPoints))
	}
}

// checkJSONKeys checks the stable keys of the JSON form.
func checkJSONKeys(t *testing.T, r *Result) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"window", "baseline", "anomalous_points", "ranking", "components", "hosts"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON has no %q", k)
		}
	}
	rk := m["ranking"].([]any)[0].(map[string]any)
	for _, k := range []string{"rank", "metric", "component", "agent", "host", "kind", "score", "onset", "evidence"} {
		if _, ok := rk[k]; !ok {
			t.Errorf("ranking entry has no %q", k)
		}
	}
	c := m["components"].([]any)[0].(map[string]any)
	for _, k := range []string{"component", "agent", "host", "score", "role", "why"} {
		if _, ok := c[k]; !ok {
			t.Errorf("component entry has no %q", k)
		}
	}
}
