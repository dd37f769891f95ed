package main

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vscope/vscope/agent"
	"github.com/vscope/vscope/agent/catalog"
	"github.com/vscope/vscope/agent/config"
)

func TestBenchPipelineCountsEveryEvent(t *testing.T) {
	const n = 25_000 // not a multiple of the batch: the last batch is short
	res, err := runPipelineBench(context.Background(), pipelineOpts{Events: n, Body: 100, Batch: 1000, Capacity: 10_000, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != n || res.SourceAccepted != n || res.ChannelTaken != n {
		t.Fatalf("drained %d, source accepted %d, channel took %d; want %d each", res.Events, res.SourceAccepted, res.ChannelTaken, n)
	}
	if res.Elapsed <= 0 || res.eventsPerSec() <= 0 {
		t.Fatalf("elapsed %v, %v events/s", res.Elapsed, res.eventsPerSec())
	}
	if got, want := res.mbPerSec(), res.eventsPerSec()*100/1e6; math.Abs(got-want) > 1e-9*want {
		t.Fatalf("MB/s %v, want %v", got, want)
	}
	// One slab per batch of 1000 bodies; the counters and polling add
	// nothing per event. A regression to an allocation per event shows.
	if a := res.allocsPerEvent(); a <= 0 || a > 0.5 {
		t.Fatalf("allocs/event %v, want in (0, 0.5]", a)
	}
	if res.PeakRSS <= 0 {
		t.Fatalf("peak RSS %d", res.PeakRSS)
	}
}

func TestBenchPipelineCommandPrintsBenchLine(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"bench", "pipeline", "--log-level", "error", "--events", "3000", "--batch", "100", "--capacity", "1000"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(out.String(), "\n")
	if !strings.HasPrefix(line, "BENCH tool=vscope ") {
		t.Fatalf("first line %q", line)
	}
	kv := map[string]string{}
	for _, f := range strings.Fields(line)[1:] {
		k, v, _ := strings.Cut(f, "=")
		kv[k] = v
	}
	if kv["events"] != "3000" || kv["body"] != "100" {
		t.Fatalf("events=%s body=%s in %q", kv["events"], kv["body"], line)
	}
	for _, k := range []string{"seconds", "events_per_s", "mb_per_s", "allocs_per_event", "peak_rss_mb"} {
		if v, err := strconv.ParseFloat(kv[k], 64); err != nil || v <= 0 {
			t.Errorf("%s=%q in %q", k, kv[k], line)
		}
	}
}

// TestBenchSendThroughNetcatRoll runs the agent of docs/bench/netcat-roll.conf
// in this process and checks that every line `bench send` writes arrives
// in the rolled files, intact.
func TestBenchSendThroughNetcatRoll(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	t.Setenv("BENCH_PORT", strconv.Itoa(port))
	t.Setenv("BENCH_DIR", dir)
	f := catalog.Default()
	cfg, err := config.LoadFile(filepath.Join("..", "..", "docs", "bench", "netcat-roll.conf"), "a1", f)
	if err != nil {
		t.Fatal(err)
	}
	a := agent.New("a1", f, agent.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := a.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(context.Background())

	const n, size = 30_001, 100
	res, err := runSend(context.Background(), sendOpts{Addr: "127.0.0.1:" + strconv.Itoa(port), Events: n, Size: size, Conns: 2, WaitDir: dir, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != n*(size+1) || res.Complete < res.Sent {
		t.Fatalf("bytes %d (want %d), sent after %v, complete after %v", res.Bytes, n*(size+1), res.Sent, res.Complete)
	}
	lines := 0
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fh, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if len(sc.Bytes()) != size || strings.Trim(sc.Text(), "0123456789") != "" {
				t.Fatalf("line %d is %q", lines, sc.Text())
			}
			lines++
		}
		fh.Close()
	}
	if lines != n {
		t.Fatalf("%d lines in %s, want %d", lines, dir, n)
	}
}
