package source

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vscope/vscope/agent"
	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
)

// The helpers in this file are shared by the exec, spooldir, TAILDIR and
// netcatudp tests.

// logBuffer is a slog handler target that tests can read while the
// source writes to it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLog makes p's source log into a buffer the test can read.
func captureLog(p *pipe) *logBuffer {
	b := &logBuffer{}
	p.set.Logger = slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return b
}

// collector drains a pipe's channel in the background, so a source can
// put more than the channel holds; stop returns what it took, in order.
type collector struct {
	mu   sync.Mutex
	evs  []event.Event
	quit chan struct{}
	done chan struct{}
}

func collect(t *testing.T, p *pipe) *collector {
	t.Helper()
	c := &collector{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			tk, err := p.ch.Take(context.Background(), p.ch.Capacity())
			if err != nil {
				t.Error(err)
				return
			}
			evs := tk.Events()
			c.mu.Lock()
			c.evs = append(c.evs, evs...)
			c.mu.Unlock()
			if err := tk.Commit(); err != nil {
				t.Error(err)
				return
			}
			if len(evs) > 0 {
				continue
			}
			select {
			case <-c.quit:
				return
			case <-p.ch.Notify():
			}
		}
	}()
	t.Cleanup(func() { c.stop() })
	return c
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evs)
}

// stop ends the collection and returns the events taken.
func (c *collector) stop() []event.Event {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.evs
}

// lifecycle is the shared lifecycle test of a source type: Stop without
// Start, Stop twice, Start again after Stop.
func lifecycle(t *testing.T, typ string, newSrc func(set component.SourceSettings) (component.Source, error)) {
	t.Helper()
	ctx := context.Background()
	p := newPipe(t, typ, 100, 0)
	host := component.HostFunc(func(err error) { t.Errorf("ReportFatal(%v)", err) })
	s, err := newSrc(p.set)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop without Start: %v", err)
	}
	for round := 0; round < 2; round++ {
		if err := s.Start(ctx, host); err != nil {
			t.Fatalf("Start (round %d): %v", round, err)
		}
		if err := s.Start(ctx, host); err == nil {
			t.Fatal("second Start succeeded")
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("Stop twice: %v", err)
		}
	}
}

// issue3Factories are the factories the Flume example configurations of
// these sources need.
func issue3Factories() component.Factories {
	return component.NewFactories(
		[]component.SourceFactory{ExecFactory(), SpoolDirFactory(), TaildirFactory(), NetcatUDPFactory()},
		[]component.ChannelFactory{channel.MemoryFactory()}, nil)
}

// runExample loads a Flume configuration for agent a1 and runs it until
// the test ends. The Flume guide's examples define no sink: the events
// stay in the channel, where takeN finds them.
func runExample(t *testing.T, conf string) *agent.Agent {
	t.Helper()
	f := issue3Factories()
	props, err := config.Parse(strings.NewReader(conf), "flume.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(props, "flume.conf", "a1", f, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	a := agent.New("a1", f, agent.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := a.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Stop(context.Background()); err != nil {
			t.Errorf("agent stop: %v", err)
		}
	})
	return a
}

// loadExampleErr loads a configuration that must fail and returns the
// error text.
func loadExampleErr(t *testing.T, conf string) string {
	t.Helper()
	props, err := config.Parse(strings.NewReader(conf), "flume.conf")
	if err != nil {
		return err.Error()
	}
	_, err = config.Load(props, "flume.conf", "a1", issue3Factories(), os.LookupEnv)
	if err == nil {
		t.Fatal("configuration loaded")
	}
	return err.Error()
}

// takeN takes events from ch until it has n of them.
func takeN(t *testing.T, ch component.Channel, n int) []event.Event {
	t.Helper()
	var out []event.Event
	eventually(t, fmt.Sprintf("%d events in the channel", n), func() bool {
		tk, err := ch.Take(context.Background(), n-len(out))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tk.Events()...)
		if err := tk.Commit(); err != nil {
			t.Fatal(err)
		}
		return len(out) >= n
	})
	return out
}

// startExec builds an exec source from the defaults changed by edit and
// starts it; it is stopped when the test ends.
func startExec(t *testing.T, p *pipe, edit func(*ExecConfig)) *Exec {
	t.Helper()
	cfg := NewExecConfig()
	edit(cfg)
	e, err := NewExec(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return e
}

func seqBodies(from, to int) []string {
	out := make([]string, 0, to-from+1)
	for i := from; i <= to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

func TestExecSeqThroughShellAndDirect(t *testing.T) {
	f := func(shell, command string) {
		t.Helper()
		p := newPipe(t, "exec", 2000, 0)
		startExec(t, p, func(c *ExecConfig) { c.Shell, c.Command = shell, command })
		evs := takeN(t, p.ch, 1000)
		if got, want := strings.Join(bodies(evs), ","), strings.Join(seqBodies(1, 1000), ","); got != want {
			t.Fatalf("%q %q: bodies differ from seq 1 1000:\n%.200s", shell, command, got)
		}
		for i, e := range evs {
			if e.Headers != nil || cap(e.Body) != len(e.Body) {
				t.Fatalf("event %d: headers %v, cap %d len %d", i, e.Headers, cap(e.Body), len(e.Body))
			}
		}
		// batchSize 20: the command ends after 50 full batches.
		eventually(t, "50 batches", func() bool { return p.metric(t, "AppendBatchAcceptedCount") == 50 })
		p.wantMetrics(t, map[string]float64{"EventReceivedCount": 1000, "EventAcceptedCount": 1000, "ChannelWriteFail": 0})
	}
	f("/bin/sh -c", "seq 1 1000")
	f("", "seq 1 1000")
	f("", "  seq   1\t1000 ") // split at any white space, as Flume
}

func TestExecBatchTimeout(t *testing.T) {
	p := newPipe(t, "exec", 100, 0)
	startExec(t, p, func(c *ExecConfig) {
		c.Shell, c.Command = "/bin/sh -c", "echo first; echo second; exec sleep 60"
		c.BatchTimeout = 50
	})
	// The batch of 20 never fills: the two lines go after batchTimeout,
	// while the command still runs.
	if got := bodies(takeN(t, p.ch, 2)); strings.Join(got, ",") != "first,second" {
		t.Fatalf("got %q", got)
	}
}

func TestExecStopEndsTheProcessGroup(t *testing.T) {
	p := newPipe(t, "exec", 100, 0)
	cfg := NewExecConfig()
	cfg.Shell, cfg.Command = "/bin/sh -c", "sleep 60 & sleep 60; wait"
	e, err := NewExec(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	var pid int
	eventually(t, "the command to run", func() bool {
		e.run.mu.Lock()
		defer e.run.mu.Unlock()
		if e.run.proc != nil {
			pid = e.run.proc.Pid
		}
		return pid != 0
	})
	start := time.Now()
	if err := e.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > execKillGrace {
		t.Errorf("Stop took %v: SIGTERM did not reach the group", d)
	}
	// Nothing of the group is left running.
	eventually(t, "the process group to end", func() bool { return !groupRunning(pid) })
}

// groupRunning reports whether a process of group pgid runs (zombies
// waiting for their parent do not count).
func groupRunning(pgid int) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		rest := string(data[bytes.LastIndexByte(data, ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			return true
		}
	}
	return false
}

func TestExecRestartAndThrottle(t *testing.T) {
	p := newPipe(t, "exec", 1000, 0)
	var mu sync.Mutex
	var times []time.Time
	inner := p.set.Processor
	p.set.Processor = component.ProcessorFunc(func(ctx context.Context, b []event.Event) error {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		return inner.Process(ctx, b)
	})
	const throttle = 150 * time.Millisecond
	startExec(t, p, func(c *ExecConfig) {
		c.Command = "echo run"
		c.Restart = true
		c.RestartThrottle = throttle.Milliseconds()
	})
	evs := takeN(t, p.ch, 4)
	for _, e := range evs {
		if string(e.Body) != "run" {
			t.Fatalf("body %q", e.Body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < throttle {
			t.Errorf("run %d came %v after run %d, less than restartThrottle %v", i, gap, i-1, throttle)
		}
	}
}

func TestExecNoRestart(t *testing.T) {
	p := newPipe(t, "exec", 100, 0)
	log := captureLog(p)
	e := startExec(t, p, func(c *ExecConfig) {
		c.Shell, c.Command = "/bin/sh -c", "printf 'a\\nlast without newline'; exit 3"
	})
	if got := bodies(takeN(t, p.ch, 2)); strings.Join(got, "|") != "a|last without newline" {
		t.Fatalf("got %q", got)
	}
	<-e.run.done // the run ends with the command
	if !strings.Contains(log.String(), "exit status 3") {
		t.Errorf("exit status not logged:\n%s", log)
	}
	if evs := p.drain(t); len(evs) != 0 {
		t.Errorf("command ran again: %q", bodies(evs))
	}
}

func TestExecLogStdErr(t *testing.T) {
	for _, logIt := range []bool{true, false} {
		p := newPipe(t, "exec", 100, 0)
		log := captureLog(p)
		e := startExec(t, p, func(c *ExecConfig) {
			c.Shell, c.Command = "/bin/sh -c", "echo out; echo err-line-1 >&2; echo err-line-2 >&2"
			c.LogStdErr = logIt
		})
		if got := bodies(takeN(t, p.ch, 1)); got[0] != "out" {
			t.Fatalf("got %q", got)
		}
		<-e.run.done
		text := log.String()
		for _, want := range []string{"line=err-line-1", "line=err-line-2"} {
			if strings.Contains(text, want) != logIt {
				t.Errorf("logStdErr=%v: log has %q: %v\n%s", logIt, want, !logIt, text)
			}
		}
	}
}

func TestExecBadCommandIsCountedAndRetried(t *testing.T) {
	p := newPipe(t, "exec", 100, 0)
	startExec(t, p, func(c *ExecConfig) {
		c.Command = "/nonexistent/command --flag"
		c.Restart, c.RestartThrottle = true, 10
	})
	eventually(t, "3 failed starts", func() bool { return p.metric(t, "GenericProcessingFail") >= 3 })
}

func TestExecLongLinesAndBadUTF8(t *testing.T) {
	p := newPipe(t, "exec", 100, 0)
	dir := t.TempDir()
	in := strings.Repeat("x", 2500) + "\n" + "ok\r\n" + "bad \xff\xfe byte\n" + "latin \xe9\n"
	path := dir + "/in.txt"
	if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	startExec(t, p, func(c *ExecConfig) {
		c.Command = "cat " + path
		c.MaxLineLength = 1000
	})
	got := bodies(takeN(t, p.ch, 6))
	// Each malformed byte becomes one U+FFFD, as Java's decoder does.
	want := []string{strings.Repeat("x", 1000), strings.Repeat("x", 1000), strings.Repeat("x", 500), "ok", "bad \uFFFD\uFFFD byte", "latin \uFFFD"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q", got)
	}
	p.wantMetrics(t, map[string]float64{"EventReadFail": 1})

	// The same file read as ISO-8859-1.
	p2 := newPipe(t, "exec", 100, 0)
	startExec(t, p2, func(c *ExecConfig) { c.Command, c.Charset = "tail -n 1 "+path, "ISO-8859-1" })
	if got := bodies(takeN(t, p2.ch, 1)); got[0] != "latin é" {
		t.Errorf("latin-1: got %q", got)
	}
}

// A channel too small for the command's output slows the command down
// instead of losing lines.
func TestExecFullChannelPushesBack(t *testing.T) {
	p := newPipe(t, "exec", 100, 1)
	startExec(t, p, func(c *ExecConfig) { c.Command, c.Batch = "seq 1 20000", 100 })
	c := collect(t, p)
	eventually(t, "20000 lines", func() bool { return c.len() >= 20000 })
	if got := bodies(c.stop()); strings.Join(got, ",") != strings.Join(seqBodies(1, 20000), ",") {
		t.Fatalf("lines lost, repeated or out of order (%d lines)", len(got))
	}
}

func TestExecLifecycle(t *testing.T) {
	lifecycle(t, "exec", func(set component.SourceSettings) (component.Source, error) {
		cfg := NewExecConfig()
		cfg.Command = "sleep 60"
		return NewExec(set, *cfg)
	})
}

// The exec examples of the Flume user guide run unchanged (their paths
// pointed at a temporary directory; the guide leaves the channel type and
// the sink out).
func TestExecFlumeExamples(t *testing.T) {
	// tail -F of a file that does not exist: loads, runs, stops.
	runExample(t, `
a1.sources = r1
a1.channels = c1
a1.sources.r1.type = exec
a1.sources.r1.command = tail -F /var/log/secure
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
`)

	dir := t.TempDir()
	for i, text := range []string{"one\ntwo\n", "three\n"} {
		if err := os.WriteFile(fmt.Sprintf("%s/%d.txt", dir, i), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a := runExample(t, fmt.Sprintf(`
a1.sources = tailsource-1
a1.channels = c1
a1.sources.tailsource-1.type = exec
a1.sources.tailsource-1.shell = /bin/bash -c
a1.sources.tailsource-1.command = for i in %s/*.txt; do cat $i; done
a1.sources.tailsource-1.channels = c1
a1.channels.c1.type = memory
`, dir))
	if got := bodies(takeN(t, a.Channel("c1"), 3)); strings.Join(got, ",") != "one,two,three" {
		t.Errorf("got %q", got)
	}

	// Flume's class name as the type.
	a = runExample(t, `
a1.sources = r1
a1.channels = c1
a1.sources.r1.type = org.apache.flume.source.ExecSource
a1.sources.r1.command = echo hi
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
`)
	if got := bodies(takeN(t, a.Channel("c1"), 1)); got[0] != "hi" {
		t.Errorf("got %q", got)
	}
}

func TestExecConfig(t *testing.T) {
	props := "a1.sources.r1.command = tail -F x\na1.sources.r1.shell = /bin/sh -c\na1.sources.r1.restart = true\n" +
		"a1.sources.r1.restartThrottle = 500\na1.sources.r1.batchSize = 50\na1.sources.r1.batchTimeout = 100\n" +
		"a1.sources.r1.logStdErr = true\na1.sources.r1.charset = ISO-8859-1\na1.sources.r1.maxLineLength = 10\n"
	cfg := loadSourceConfig(t, "exec", props).(*ExecConfig)
	want := ExecConfig{Command: "tail -F x", Shell: "/bin/sh -c", Restart: true, RestartThrottle: 500, Batch: 50,
		BatchTimeout: 100, LogStdErr: true, Charset: "ISO-8859-1", MaxLineLength: 10}
	if *cfg != want {
		t.Errorf("got %+v, want %+v", *cfg, want)
	}
	if got := loadSourceConfig(t, "exec", "a1.sources.r1.command = x\n").(*ExecConfig); *got != (ExecConfig{Command: "x", RestartThrottle: 10000, Batch: 20, BatchTimeout: 3000, Charset: "UTF-8", MaxLineLength: 1 << 20}) {
		t.Errorf("defaults %+v", *got)
	}
	badSourceConfig(t, "a1.sources.r1.type = exec\n", "a1.sources.r1.command: required property is missing")
	badSourceConfig(t, "a1.sources.r1.type = exec\na1.sources.r1.command = \n", "command must not be empty")
	badSourceConfig(t, "a1.sources.r1.type = exec\na1.sources.r1.command = x\na1.sources.r1.charset = EBCDIC\n", `charset "EBCDIC" is not supported`)
	badSourceConfig(t, "a1.sources.r1.type = exec\na1.sources.r1.command = x\na1.sources.r1.batchTimeout = 0\n", "batchTimeout must be positive")
	badSourceConfig(t, "a1.sources.r1.type = exec\na1.sources.r1.command = x\na1.sources.r1.batchSize = 500\n", "batchSize 500 exceeds transactionCapacity 100")
}

// loadSourceConfig decodes source r1 of type typ with props.
func loadSourceConfig(t *testing.T, typ, props string) component.Config {
	t.Helper()
	text := "a1.sources = r1\na1.channels = c1\na1.sources.r1.channels = c1\na1.channels.c1.type = memory\n" +
		"a1.channels.c1.capacity = 1000\na1.channels.c1.transactionCapacity = 1000\n" +
		"a1.sources.r1.type = " + typ + "\n" + props
	ps, err := config.Parse(strings.NewReader(text), "test.conf")
	if err != nil {
		t.Fatal(err)
	}
	a, err := config.Load(ps, "test.conf", "a1", issue3Factories(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return a.Sources[0].Config
}

// badSourceConfig checks that props fail to load with want in the error.
func badSourceConfig(t *testing.T, props, want string) {
	t.Helper()
	text := "a1.sources = r1\na1.channels = c1\na1.sources.r1.channels = c1\na1.channels.c1.type = memory\n" + props
	ps, err := config.Parse(strings.NewReader(text), "bad.conf")
	if err != nil {
		t.Fatal(err)
	}
	_, err = config.Load(ps, "bad.conf", "a1", issue3Factories(), func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%q: error %v, want it to contain %q", props, err, want)
	}
}

var _ io.Writer = (*logBuffer)(nil)
