package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vscope/vscope/agent"
	"github.com/vscope/vscope/agent/catalog"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/monitor"
	"github.com/vscope/vscope/agent/sink"
	"github.com/vscope/vscope/vscope/diagnose"
	"github.com/vscope/vscope/vscope/store"
)

// slowSink drains its channel like the null sink but holds every batch
// for delay between take and commit: a sink whose downstream got slow.
type slowSink struct {
	set   component.SinkSettings
	batch int
	delay *atomic.Int64 // nanoseconds
}

func (s *slowSink) Start(context.Context, component.Host) error {
	s.set.Counter.MarkStarted()
	return nil
}

func (s *slowSink) Stop(context.Context) error {
	s.set.Counter.MarkStopped()
	return nil
}

func (s *slowSink) Process(ctx context.Context) (component.Status, error) {
	start := time.Now()
	tx, err := s.set.Channel.Take(ctx, s.batch)
	if err != nil {
		return component.Backoff, err
	}
	n := len(tx.Events())
	s.set.Counter.CountBatch(n, s.batch)
	if n == 0 {
		return component.Backoff, tx.Commit()
	}
	s.set.Counter.EventDrainAttempt.Add(n)
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			_ = tx.Rollback()
			return component.Backoff, ctx.Err()
		}
	}
	if err := tx.Commit(); err != nil {
		return component.Backoff, err
	}
	s.set.Counter.EventDrainSuccess.Add(n)
	s.set.Counter.BatchDuration.UpdateDuration(start)
	return component.Ready, nil
}

// slowFactory is `type = slow`, configured like the null sink.
func slowFactory(delay *atomic.Int64) component.SinkFactory {
	null := sink.NullFactory()
	return component.SinkFactory{
		Type:      "slow",
		NewConfig: null.NewConfig,
		Create: func(set component.SinkSettings, cfg component.Config) (component.Sink, error) {
			return &slowSink{set: set, batch: cfg.(*sink.NullConfig).Batch, delay: delay}, nil
		},
	}
}

// TestDiagnoseEndToEnd: a real tier-1 agent process (netcat -> memory ->
// forward) samples its metrics every 100 ms into a real store collector
// process; it forwards to a collector agent (forward -> memory -> sink)
// run in this process with the real agent runtime, whose sink is made
// slow at a known time (300 ms per batch of 100: a third of the inflow)
// and whose metrics are sampled into the same store. Then `vscope
// diagnose` over the store file must name the collector's sink as the
// cause, its latency first, and the tier-1 channel that fills later as a
// symptom.
func TestDiagnoseEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 25 s")
	}
	dir := t.TempDir()
	sport, ncPort, fwdPort := freeTestPort(t), freeTestPort(t), freeTestPort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", sport)
	coll := startVscope(t, "store", "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", sport), "--store", dir)
	waitHTTP(t, url+store.IngestPath)

	conf := writeConf(t, fmt.Sprintf(`t1.sources = r1
t1.channels = c1
t1.sinks = k1
t1.sources.r1.type = netcat
t1.sources.r1.bind = 127.0.0.1
t1.sources.r1.port = %[1]d
t1.sources.r1.channels = c1
t1.channels.c1.type = memory
t1.channels.c1.capacity = 20000
t1.channels.c1.transactionCapacity = 1000
t1.sinks.k1.type = forward
t1.sinks.k1.channel = c1
t1.sinks.k1.hostname = 127.0.0.1
t1.sinks.k1.port = %[2]d
t1.sinks.k1.batch-size = 100
col.sources = r1
col.channels = c1
col.sinks = k1
col.sources.r1.type = forward
col.sources.r1.bind = 127.0.0.1
col.sources.r1.port = %[2]d
col.sources.r1.channels = c1
col.channels.c1.type = memory
col.channels.c1.capacity = 2000
col.channels.c1.transactionCapacity = 1000
col.sinks.k1.type = slow
col.sinks.k1.channel = c1
col.sinks.k1.batchSize = 100
`, ncPort, fwdPort))

	// The collector agent, in this process, with the slow sink.
	var delay atomic.Int64
	f := catalog.Default()
	f.Sinks["slow"] = slowFactory(&delay)
	cfg, err := config.LoadFile(conf, "col", f)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	col := agent.New("col", f, agent.Options{})
	if err := col.Apply(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	sctx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := store.NewClient(url, "", nil)
		b := &store.Batch{}
		monitor.NewSampler("colhost", col.Registry()).Run(sctx, 100*time.Millisecond, func(points []monitor.Point) {
			b.Reset()
			for _, p := range points {
				b.Add(b.SeriesRef(store.Series{Host: p.Host, Agent: p.Agent, Component: p.Component, Kind: p.Kind, Metric: p.Metric}), p.TS, p.Value)
			}
			_ = client.Append(context.Background(), b)
		})
	}()
	stopCol := func() {
		stopSampling()
		wg.Wait()
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		delay.Store(0)
		_ = col.Stop(sctx)
	}
	defer stopCol()

	t1 := startVscope(t, "agent", "-f", conf, "-n", "t1", "--no-reload-conf", "--store", url, "--sample-interval", "100ms")
	dialWhenUp(t, fmt.Sprintf("127.0.0.1:%d", ncPort)).Close()
	src := &paced{src: "t1", addr: fmt.Sprintf("127.0.0.1:%d", ncPort), rate: 1000}
	stopSend := make(chan struct{})
	sent := make(chan struct{})
	go func() { defer close(sent); src.run(stopSend) }()

	time.Sleep(3 * time.Second) // warm-up, not in the baseline
	time.Sleep(12 * time.Second)
	faultAt := time.Now()
	delay.Store(int64(300 * time.Millisecond))
	time.Sleep(9 * time.Second)
	end := time.Now()

	close(stopSend)
	_ = t1.cmd.Process.Kill() // its channel holds thousands of events: no drain
	<-t1.done
	t1.done <- nil
	<-sent
	stopCol()
	coll.stop(t)
	if src.err != nil {
		t.Logf("sender: %v", src.err)
	}

	at := strconv.FormatInt(end.UnixMilli(), 10)
	html := filepath.Join(t.TempDir(), "report.html")
	args := []string{"diagnose", "--store", dir, "--at", at, "--window", "12s", "--baseline", "9s",
		"--step", "100ms", "--conf", conf}
	// Everything, host and process metrics too, into the HTML report. The
	// host metrics of this shared machine move with other sessions' work
	// (a disk flush at the wrong moment is, to diagnose, interference on
	// the host), so the assertions below look at the agents' flow
	// components only (r1, c1, k1: component=[rck][0-9]*
	// leaves out the host-wide series and the agent processes' own).
	table := runVscope(t, append(args, "--html", html)...)
	t.Logf("fault at %s, everything:\n%s", faultAt.UTC().Format("15:04:05.000"), table)
	args = append(args, "--filter", "component=[rck][0-9]*")
	t.Logf("the agents' components:\n%s", runVscope(t, args...))
	out := runVscope(t, append(args, "--format", "json")...)
	var r diagnose.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if r.Status != diagnose.StatusAnomaly {
		t.Fatalf("status %q: %q", r.Status, r.Summary)
	}
	top := r.Ranking[0]
	if top.Agent != "col" || top.Component != "k1" || !strings.Contains(top.Metric, "batch_duration") {
		t.Errorf("rank 1 is %s/%s %s, want the collector sink's batch latency", top.Agent, top.Component, top.Metric)
	}
	if top.Onset == nil || top.Onset.Sub(faultAt).Abs() > time.Second {
		t.Errorf("rank 1 onset %v, want within 1 s of the fault at %v", top.Onset, faultAt.UTC())
	}
	roles := map[string]diagnose.ComponentResult{}
	for _, c := range r.Components {
		roles[c.Agent+"/"+c.Component] = c
	}
	if c := roles["col/k1"]; c.Role != diagnose.RoleCause {
		t.Errorf("col/k1: %s (%s), want cause", c.Role, c.Why)
	}
	if c := roles["t1/c1"]; c.Role != diagnose.RoleSymptom || c.CausedBy != "colhost/col/k1" {
		t.Errorf("t1/c1: %s caused by %q (%s), want a symptom of colhost/col/k1", c.Role, c.CausedBy, c.Why)
	}
	if b, err := os.ReadFile(html); err != nil || !strings.Contains(string(b), `id="chart-series"`) {
		t.Errorf("html report: %v", err)
	}
	// Before the fault the collector is not blamed. (The tier-1 agent may
	// show a real stall of this loaded machine, so it is not checked.)
	quiet := runVscope(t, "diagnose", "--store", dir, "--at", strconv.FormatInt(faultAt.Add(-time.Second).UnixMilli(), 10),
		"--window", "4s", "--baseline", "7s", "--step", "100ms", "--conf", conf, "--format", "json", "--filter", "component=[rck][0-9]*")
	var q diagnose.Result
	if err := json.Unmarshal([]byte(quiet), &q); err != nil {
		t.Fatal(err)
	}
	for _, c := range q.Components {
		if c.Agent == "col" && c.Role == diagnose.RoleCause {
			t.Errorf("before the fault, %s/%s is a cause: %s", c.Agent, c.Component, c.Why)
		}
	}
	if o, err := exec.Command(vscopeBin, "diagnose", "--store", dir, "--format", "xml").CombinedOutput(); err == nil || !strings.Contains(string(o), "--format") {
		t.Errorf("bad --format: %v %s", err, o)
	}
}

func TestParseAt(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := func(in string, want time.Time, bad bool) {
		t.Helper()
		got, err := parseAt(in, now)
		if (err != nil) != bad || (!bad && !got.Equal(want)) {
			t.Errorf("parseAt(%q) = %v, %v; want %v (error %v)", in, got, err, want, bad)
		}
	}
	f("", now, false)
	f("5m", now.Add(-5*time.Minute), false)
	f("-90s", now.Add(-90*time.Second), false)
	f("2026-01-01T10:00:00Z", time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), false)
	f("2026-01-01 10:00:00", time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), false)
	f("1767261600000", time.UnixMilli(1767261600000), false)
	f("yesterday", time.Time{}, true)
}
