package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoJSON runs vscope demo as a user would script it (a process, its
// --format json on stdout) at a higher speed than the default, and checks
// the form the issue fixes (truth.component, truth.host, ranking with
// metric, component, host, score), that nothing was lost, that the report
// was written, and that the injected fault is found. At rank 1 strictly
// with VSCOPE_TEST_LONG=1; within the first three otherwise (this test
// shares 2 CPUs with the rest of the suite, and a stalled machine moves
// every metric).
func TestDemoJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-tier flow for about 20 s")
	}
	dir := filepath.Join(t.TempDir(), "run")
	cmd := exec.Command(vscopeBin, "--log-level", "warn", "demo", "--format", "json", "--speed", "25", "--dir", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vscope demo: %v\nstderr:\n%s", err, stderr.String())
	}
	var got struct {
		Truth struct {
			Component, Host, Agent, Endpoint string
		}
		Rank    int
		Ranking []struct {
			Metric, Component, Host string
			Score                   *float64
		}
		Components []struct{ Component, Host string }
		Events     struct{ Sent, Acked, Lost int64 }
		Report     string
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not the JSON result: %v\n%s", err, stdout.String())
	}
	if got.Truth.Component != "k1" || got.Truth.Host != "col-01" || got.Truth.Endpoint != "col-01/col/k1" {
		t.Errorf("truth %+v, want the default fault's sink col-01/col/k1", got.Truth)
	}
	if len(got.Ranking) == 0 {
		t.Fatal("empty ranking")
	}
	for i, m := range got.Ranking {
		if m.Metric == "" || m.Component == "" || m.Host == "" || m.Score == nil {
			t.Fatalf("ranking[%d] = %+v: metric, component, host and score are required", i, m)
		}
	}
	if got.Events.Sent == 0 || got.Events.Acked == 0 || got.Events.Lost != 0 {
		t.Errorf("events %+v: want some sent and acknowledged, none lost", got.Events)
	}
	if b, err := os.ReadFile(got.Report); err != nil || !strings.Contains(string(b), "k1") {
		t.Errorf("report %s: %v (or it does not name k1)", got.Report, err)
	}
	want := 3
	if os.Getenv("VSCOPE_TEST_LONG") != "" {
		want = 1
	}
	if got.Rank < 1 || got.Rank > want {
		t.Errorf("the injected fault's component is at rank %d, want 1..%d; components %+v\nstderr:\n%s", got.Rank, want, got.Components, stderr.String())
	}
	if !strings.Contains(stderr.String(), "fault at +5m0s for 3m0s: slow_sink@col-01/k1") {
		t.Errorf("the story on stderr does not name the fault:\n%s", stderr.String())
	}
}

func TestDemoRefusesBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--fault", "slow_sink@col-01/k1,start=+1m"}, "leave out start and dur"},
		{[]string{"--fault", "nonsense@x"}, "--fault"},
		{[]string{"--format", "xml"}, `--format "xml"`},
	} {
		out, err := exec.Command(vscopeBin, append([]string{"demo"}, c.args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), c.want) {
			t.Errorf("demo %v: %v, output %q; want an error with %q", c.args, err, out, c.want)
		}
	}
}
