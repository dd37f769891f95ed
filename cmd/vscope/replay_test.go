package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vscope/vscope/agent"
	"github.com/vscope/vscope/agent/catalog"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/datasets/webstore"
)

// replayAgentConf: an http and a netcat source, each into rolling files.
const replayAgentConf = `
r.sources  = web nc
r.channels = c1 c2
r.sinks    = k1 k2
r.sources.web.type     = http
r.sources.web.port     = %d
r.sources.web.channels = c1
r.channels.c1.type                = memory
r.channels.c1.capacity            = 100000
r.channels.c1.transactionCapacity = 1000
r.sinks.k1.type              = file_roll
r.sinks.k1.channel           = c1
r.sinks.k1.sink.directory    = %s
r.sinks.k1.sink.rollInterval = 0
r.sinks.k1.batchSize         = 1000
r.sources.nc.type            = netcat
r.sources.nc.bind            = 127.0.0.1
r.sources.nc.port            = %d
r.sources.nc.max-line-length = 4096
r.sources.nc.channels        = c2
r.channels.c2.type                = memory
r.channels.c2.capacity            = 100000
r.channels.c2.transactionCapacity = 1000
r.sinks.k2.type              = file_roll
r.sinks.k2.channel           = c2
r.sinks.k2.sink.directory    = %s
r.sinks.k2.sink.rollInterval = 0
r.sinks.k2.batchSize         = 1000
`

// countLines counts the lines of every file in dir.
func countLines(t *testing.T, dir string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	n := 0
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		n += bytes.Count(data, []byte("\n"))
	}
	return n
}

func TestReplayCommandIntoAgent(t *testing.T) {
	httpDir, ncDir := t.TempDir(), t.TempDir()
	hp, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	np, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(replayAgentConf, hp, httpDir, np, ncDir)
	props, err := config.Parse(strings.NewReader(text), "replay.conf")
	if err != nil {
		t.Fatal(err)
	}
	fac := catalog.Default()
	cfg, err := config.Load(props, "replay.conf", "r", fac, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	a := agent.New("r", fac, agent.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := a.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := a.Stop(ctx); err != nil {
				t.Error(err)
			}
		}
	}
	defer stop()

	// The web store at 60x into the http source, with a fault and its
	// ground truth.
	truth := filepath.Join(t.TempDir(), "truth.json")
	f := replayFlags{dataset: "webstore", speed: "60x", to: fmt.Sprintf("http://127.0.0.1:%d", hp), batch: 100,
		window: 5 * time.Millisecond, progress: "plain", retry: 10 * time.Second, seed: 5, duration: time.Minute,
		sessions: 4, web: 3, app: 2, db: 1, faults: []string{"error_storm:web-02@20s+20s:0.5"}, truth: truth, tier: "file"}
	var out bytes.Buffer
	if err := runReplay(context.Background(), &out, &out, f); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	t.Log(s)
	for _, want := range []string{"replaying webstore (seed 5, 1m0s of logs", "error_storm:web-02@20s+20s:0.5",
		"to http source http://127.0.0.1:", "at 60x", ", lost 0\n", "timing: ", "replay: 100.0% "} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	var tr []webstore.Truth
	if data, err := os.ReadFile(truth); err != nil || json.Unmarshal(data, &tr) != nil || len(tr) != 1 || tr[0].Host != "web-02" {
		t.Errorf("truth file: %v %+v", err, tr)
	}

	// The HDFS sample as fast as the netcat source takes it.
	dir := filepath.Join("..", "..", "..", "shared", "datasets", "loghub")
	hdfs := 0
	if _, err := os.Stat(filepath.Join(dir, "HDFS")); err == nil {
		out.Reset()
		f = replayFlags{dataset: "loghub:hdfs", loghubDir: dir, speed: "max", to: fmt.Sprintf("tcp://127.0.0.1:%d", np),
			batch: 100, progress: "none", retry: 10 * time.Second}
		if err := runReplay(context.Background(), &out, &out, f); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		if s := out.String(); !strings.Contains(s, "sent 2000 events") || !strings.Contains(s, "acked 2000, lost 0") {
			t.Errorf("loghub output:\n%s", s)
		}
		hdfs = 2000
	}
	stop()
	g, _ := webstore.New(webstore.Config{Seed: 5, Duration: time.Minute, SessionsPerSecond: 4, WebHosts: 3, AppHosts: 2, DBHosts: 1,
		Faults: []webstore.Fault{{Kind: webstore.ErrorStorm, Host: "web-02", At: 20 * time.Second, For: 20 * time.Second, ErrorRate: 0.5}}})
	lines := 0
	for _, ok := g.Next(); ok; _, ok = g.Next() {
		lines++
	}
	if got := countLines(t, httpDir); got != lines {
		t.Errorf("%d lines arrived by http, want %d", got, lines)
	}
	if got := countLines(t, ncDir); got != hdfs {
		t.Errorf("%d lines arrived by netcat, want %d", got, hdfs)
	}
}

// TestReplayCommandStdout: the binary writes the generator's exact bytes
// to stdout and its messages to stderr.
func TestReplayCommandStdout(t *testing.T) {
	cmd := exec.Command(vscopeBin, "replay", "--dataset", "webstore", "--duration", "30s", "--seed", "9", "--speed", "max", "--to", "-")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	cfg := webstore.NewConfig(30 * time.Second)
	cfg.Seed = 9
	g, err := webstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if _, err := g.WriteTo(&want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), want.Bytes()) {
		t.Errorf("stdout has %d bytes, the generator %d", stdout.Len(), want.Len())
	}
	if s := stderr.String(); !strings.Contains(s, "replaying webstore") || !strings.Contains(s, "lost 0") || !strings.Contains(s, "replay: ") {
		t.Errorf("stderr:\n%s", s)
	}
}

func TestReplayCommandFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	var b strings.Builder
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "%s INFO worker %d\n", t0.Add(time.Duration(i)*20*time.Millisecond).Format("2006-01-02 15:04:05,000"), i)
		if i%10 == 0 {
			b.WriteString("\tat com.example.Worker.run(Worker.java:42)\n")
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, layout := range []string{"", "2006-01-02 15:04:05,000"} {
		var stdout, stderr bytes.Buffer
		f := replayFlags{dataset: path, speed: "1x", to: "-", batch: 100, window: 5 * time.Millisecond, progress: "none",
			layout: layout, tier: "file", retry: time.Second}
		start := time.Now()
		if err := runReplay(context.Background(), &stdout, &stderr, f); err != nil {
			t.Fatal(err)
		}
		// 49 gaps of 20 ms at 1x: about a second.
		if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
			t.Errorf("took %v", d)
		}
		if stdout.String() != b.String() {
			t.Errorf("layout %q: stdout\n%s", layout, stdout.String())
		}
		if !strings.Contains(stderr.String(), "sent 55 events") {
			t.Errorf("stderr: %s", stderr.String())
		}
	}
}

func TestReplayCommandErrors(t *testing.T) {
	f := func(mod func(*replayFlags), want string) {
		t.Helper()
		fl := replayFlags{dataset: "webstore", speed: "60x", to: "-", batch: 100, progress: "none", duration: time.Minute,
			sessions: 1, web: 1, app: 1, db: 1}
		mod(&fl)
		var out bytes.Buffer
		err := runReplay(context.Background(), &out, &out, fl)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	f(func(fl *replayFlags) { fl.to = ""; fl.flow = "none" }, "--to is required")
	f(func(fl *replayFlags) { fl.flow = "local" }, "exclude each other")
	f(func(fl *replayFlags) { fl.flow = "remote" }, "want local or none")
	f(func(fl *replayFlags) { fl.faults = []string{"slow_sink@col-01,start=+1m,dur=1m"} }, "acts on a running flow")
	f(func(fl *replayFlags) { fl.faults = []string{"slow_sink@col-01"} }, "start= and dur= are required")
	f(func(fl *replayFlags) {
		fl.dataset = "/nonexistent/file.log"
		fl.faults = []string{"flash_crowd@web-01,start=+1m,dur=1m"}
	}, "needs --dataset webstore")
	f(func(fl *replayFlags) { fl.to = "udp://x" }, "want http://HOST:PORT")
	f(func(fl *replayFlags) { fl.dataset = "" }, "--dataset is required")
	f(func(fl *replayFlags) { fl.speed = "fast" }, "--speed")
	f(func(fl *replayFlags) { fl.dataset = "loghub:Windows" }, "unknown system")
	f(func(fl *replayFlags) { fl.dataset = "/nonexistent/file.log" }, "no such file")
	f(func(fl *replayFlags) { fl.faults = []string{"error_storm:web-07@1m+1m"} }, "not a web server")
	f(func(fl *replayFlags) { fl.progress = "fancy" }, "--progress")
	f(func(fl *replayFlags) { fl.to = "tcp://127.0.0.1:1"; fl.retry = 100 * time.Millisecond }, "netcat 127.0.0.1:1")
}

// TestReplayCommandLocalFlow: without --to the binary starts a 3-tier flow
// of its own processes, replays through it with a fault, and reports every
// line delivered, the fault's truth, and where the evidence is.
func TestReplayCommandLocalFlow(t *testing.T) {
	dir := t.TempDir()
	run, truth := filepath.Join(dir, "run"), filepath.Join(dir, "truth.json")
	cmd := exec.Command(vscopeBin, "replay", "--dataset", "webstore", "--duration", "1m", "--web-hosts", "2", "--speed", "30x",
		"--run-dir", run, "--sample-interval", "250ms", "--tail", "500ms", "--progress", "none", "--truth", truth,
		"--fault", "slow_sink@col-01/k1,start=+20s,dur=20s,delay=100ms", "--fault", "flash_crowd:web-02@30s+20s:x4")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Log(out)
	for _, want := range []string{"through a local flow " + run + ": 2 tier-1 agents (web-01 web-02, memory channel) -> 2 collectors (col-01 col-02), at 30x",
		"refused 0;", "lost 0, duplicates 0", "events lost: 0", "truth: slow_sink        col-01/col/k1",
		"truth: flash_crowd      web-02/web/r1", "metrics: " + filepath.Join(run, "metrics.duckdb"), "diagnose: vscope diagnose --store "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	var tr []map[string]any
	if data, err := os.ReadFile(truth); err != nil || json.Unmarshal(data, &tr) != nil || len(tr) != 2 {
		t.Fatalf("truth file: %v %s", err, data)
	}
	for _, name := range []string{"metrics.duckdb", "topology.json", "truth.json", "conf/web-01.conf", "conf/col-02.conf", "logs/col-01.log"} {
		if _, err := os.Stat(filepath.Join(run, name)); err != nil {
			t.Error(err)
		}
	}
	// The store has every agent under its host.
	q := exec.Command(vscopeBin, "sql", "--store", filepath.Join(run, "metrics.duckdb"), "--format", "csv",
		"SELECT host, agent, count(*) > 0 FROM samples WHERE kind = 'sink' AND metric = 'EventDrainSuccessRate' GROUP BY ALL ORDER BY host")
	b, err := q.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "host,agent,(count_star() > 0)\ncol-01,col,true\ncol-02,col,true\nweb-01,web,true\nweb-02,web,true\n"; got != want {
		t.Errorf("store hosts:\n%s\nwant\n%s", got, want)
	}
}
