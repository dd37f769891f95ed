package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vscope/vscope/dpg/planner"
)

// runDPG runs "vscope dpg ARGS" in process and returns its output.
func runDPG(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"dpg", "--log-level", "warn"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestDPGPlanTable(t *testing.T) {
	out, err := runDPG(t, "plan", "--topology", "../../dpg/testdata/two-tier.json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, w := range []string{"centralized", "hierarchical k=4", "per-flow k=8", "chosen", "is the cheapest of"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestDPGPlanJSONAndPlanFile(t *testing.T) {
	planFile := filepath.Join(t.TempDir(), "plan.json")
	out, err := runDPG(t, "plan", "--topology", "../../dpg/testdata/two-sites.json", "--format", "json",
		"--weights", "delay=0.001", "--option", "hierarchical:8", "--option", "reuse", "--plan", planFile)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var res planner.ResultJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(res.Options) != 2 || res.Weights.Delay != 0.001 || res.Plan == nil {
		t.Fatalf("options %d, weights %+v", len(res.Options), res.Weights)
	}
	b, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	var plan planner.PlanJSON
	if err := json.Unmarshal(b, &plan); err != nil || plan.Option != res.Chosen || len(plan.Nodes) != len(res.Plan.Nodes) {
		t.Fatalf("plan file: %v %q", err, plan.Option)
	}
	roles := map[string]int{}
	for _, n := range plan.Nodes {
		roles[n.Role]++
		if len(n.Operators) == 0 {
			t.Errorf("node %d has no operators", n.ID)
		}
	}
	if roles["root"] != 1 || roles["leaf"] != 38 || roles["aggregator"] == 0 {
		t.Errorf("roles %v", roles)
	}
}

func TestDPGPlanConfig(t *testing.T) {
	out, err := runDPG(t, "plan", "--topology", "../../dpg/testdata/two-sites.json", "--format", "json",
		"--config", "../../dpg/testdata/config/planner.json", "--weights", "node=0")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var res planner.ResultJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	// Centralized, fan-outs 8, 16, 32 for hierarchical and per-flow, reuse;
	// the flag overrides the file's node weight.
	if len(res.Options) != 8 || res.Weights.CPU != 2 || res.Weights.Node != 0 {
		t.Errorf("%d options, weights %+v", len(res.Options), res.Weights)
	}
	var ops string
	for _, n := range res.Plan.Nodes {
		if n.Role == "leaf" {
			b, _ := json.Marshal(n.Operators)
			ops = string(b)
			break
		}
	}
	if !strings.Contains(ops, `"method":"ewma"`) || !strings.Contains(ops, `"window":"30s"`) {
		t.Errorf("leaf operators %s", ops)
	}
	_, err = runDPG(t, "plan", "--topology", "../../dpg/testdata/two-sites.json", "--config", "../../dpg/testdata/bad/unknown-key.bad.json")
	if err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("bad config: %v", err)
	}
}

func TestDPGPlanDOT(t *testing.T) {
	out, err := runDPG(t, "plan", "--topology", "../../dpg/testdata/two-tier.json", "--format", "dot", "--option", "hierarchical:4")
	if err != nil || !strings.HasPrefix(out, "digraph dpg {") || !strings.Contains(out, "aggregate") {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestDPGPlanRefused(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("../../dpg/testdata/two-tier.json")
	if err != nil {
		t.Fatal(err)
	}
	// A store that takes 10 kB/s of monitoring: raw samples do not fit.
	small := strings.Replace(string(b), `"ingest": "50MB/s"`, `"ingest": "10kB/s"`, 1)
	topo := filepath.Join(dir, "small-store.json")
	if err := os.WriteFile(topo, []byte(small), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runDPG(t, "plan", "--topology", topo, "--option", "centralized")
	if err == nil || !strings.Contains(err.Error(), "node store-1 ingest capacity 10 kB/s exceeded: 15.9 kB/s") {
		t.Fatalf("err %v\n%s", err, out)
	}
	if !strings.Contains(out, "refused: node store-1 ingest capacity 10 kB/s exceeded") {
		t.Errorf("table lacks the refusal:\n%s", out)
	}
}

func TestDPGBadInput(t *testing.T) {
	f := func(want string, args ...string) {
		t.Helper()
		_, err := runDPG(t, args...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: err %v, want %q", args, err, want)
		}
	}
	f("required flag", "plan")
	f("--format", "plan", "--topology", "../../dpg/testdata/two-tier.json", "--format", "xml")
	f("unknown weight", "plan", "--topology", "../../dpg/testdata/two-tier.json", "--weights", "speed=1")
	f("bad option", "plan", "--topology", "../../dpg/testdata/two-tier.json", "--option", "ring:3")
	f("unknown key", "plan", "--topology", "../../dpg/testdata/bad/unknown-key.bad.json")
	f("--hosts", "synth")
}

func TestDPGSynth(t *testing.T) {
	dir := t.TempDir()
	out, err := runDPG(t, "synth", "--hosts", "120", "--existing-racks", "1", "--capacity", "cpu=0.5,ingest=2MB/s")
	if err != nil {
		t.Fatal(err)
	}
	topo := filepath.Join(dir, "dc.json")
	if err := os.WriteFile(topo, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runDPG(t, "plan", "--topology", topo, "--method", "heuristic")
	if err != nil || !strings.Contains(out, "reuse k=40") || !strings.Contains(out, "121 hosts, 1200 components") {
		t.Fatalf("%v\n%s", err, out)
	}
}
