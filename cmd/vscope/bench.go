package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/vscope/vscope/agent"
	"github.com/vscope/vscope/agent/catalog"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/monitor"
)

// The bench commands are tools for measuring throughput; docs/bench/run.sh
// drives them next to Benthos and docs/BENCHMARKS.md records the results.
// Every command prints one machine-readable line starting with "BENCH "
// (space-separated key=value pairs) followed by a line for people.

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput: in-process pipelines and a TCP load generator",
		Long: `Tools for measuring throughput, used by 'make bench' (docs/bench/run.sh) and recorded in
docs/BENCHMARKS.md. Each subcommand prints one line "BENCH key=value ..." for scripts and one
line for people.`,
		Example: `  vscope bench pipeline --events 20000000 --body 100 --batch 1000
  vscope bench send --addr 127.0.0.1:44444 --events 2000000 --size 100 --wait-dir /tmp/out`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newBenchPipelineCmd(), newBenchSendCmd(), newBenchFreePortCmd())
	return cmd
}

// benchPipelineConf is seq -> memory -> null; the transaction capacity
// equals the batch size, so both ends move whole batches.
const benchPipelineConf = `a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.totalEvents = %d
a1.sources.r1.batchSize = %d
a1.sources.r1.bodySize = %d
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = %d
a1.channels.c1.transactionCapacity = %d
a1.sinks.k1.type = null
a1.sinks.k1.batchSize = %d
a1.sinks.k1.channel = c1
`

// pipelineOpts are the parameters of one in-process pipeline run.
type pipelineOpts struct {
	Events   int64
	Body     int
	Batch    int
	Capacity int
	// ConfFile, if set, replaces the built-in flow; Name is its agent.
	// The run ends when the sinks together drained Events events.
	// Body then only converts events/s into MB/s.
	ConfFile string
	Name     string
	Timeout  time.Duration
}

// pipelineResult is what one run measured.
type pipelineResult struct {
	Events         int64         // events the sinks drained
	Elapsed        time.Duration // from Apply until the sinks drained Events
	Mallocs        uint64        // heap allocations during the run
	AllocBytes     uint64        // heap bytes allocated during the run
	GCs            uint32        // garbage collections during the run
	PeakRSS        int64         // VmHWM of this process, bytes; -1 unknown
	Body           int           // body size, bytes
	SourceAccepted int64         // EventAcceptedCount of the sources
	ChannelTaken   int64         // EventTakeSuccessCount of the channels
}

func (r pipelineResult) eventsPerSec() float64 { return float64(r.Events) / r.Elapsed.Seconds() }
func (r pipelineResult) mbPerSec() float64 {
	return float64(r.Events) * float64(r.Body) / 1e6 / r.Elapsed.Seconds()
}
func (r pipelineResult) allocsPerEvent() float64 { return float64(r.Mallocs) / float64(r.Events) }

func newBenchPipelineCmd() *cobra.Command {
	o := pipelineOpts{}
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Run seq -> memory -> null in this process and report events/s, MB/s, allocs/event, peak RSS",
		Long: `Runs a real agent (the same code as 'vscope agent') on seq -> memory -> null, or on the
flow of --conf, and times it from the start of the flow until the sinks' EventDrainSuccessCount
reaches --events. Allocations are the Go runtime's heap allocation count over the run divided by
the events; peak RSS is the process's VmHWM. Logging is off.`,
		Example: `  vscope bench pipeline --events 20000000 --body 100 --batch 1000
  vscope bench pipeline --conf my.conf --name a1 --events 1000000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := runPipelineBench(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			flow, batch := "seq-memory-null", o.Batch
			if o.ConfFile != "" {
				flow, batch = filepath.Base(o.ConfFile), 0 // the file sets its batches
			}
			fmt.Fprintf(out, "BENCH tool=vscope flow=%s events=%d body=%d batch=%d seconds=%.6f events_per_s=%.0f mb_per_s=%.2f allocs_per_event=%.4f bytes_per_event=%.2f gcs=%d peak_rss_mb=%.1f\n",
				flow, res.Events, res.Body, batch, res.Elapsed.Seconds(), res.eventsPerSec(), res.mbPerSec(),
				res.allocsPerEvent(), float64(res.AllocBytes)/float64(res.Events), res.GCs, float64(res.PeakRSS)/1e6)
			fmt.Fprintf(out, "%s: %d events of %d bytes in %.3fs: %.2f M events/s, %.1f MB/s, %.4f allocs/event, %d GCs, peak RSS %.1f MB\n",
				flow, res.Events, res.Body, res.Elapsed.Seconds(), res.eventsPerSec()/1e6, res.mbPerSec(),
				res.allocsPerEvent(), res.GCs, float64(res.PeakRSS)/1e6)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.Int64Var(&o.Events, "events", 10_000_000, "events to move")
	fl.IntVar(&o.Body, "body", 100, "body size in bytes (seq's bodySize; with --conf, only used to compute MB/s)")
	fl.IntVar(&o.Batch, "batch", 1000, "batch size of the source and the sink, and the channel's transactionCapacity")
	fl.IntVar(&o.Capacity, "capacity", 100_000, "memory channel capacity in events")
	fl.StringVar(&o.ConfFile, "conf", "", "run this Flume properties file instead (its sources must stop after --events)")
	fl.StringVar(&o.Name, "name", "a1", "agent name in --conf")
	fl.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "give up after this long")
	return cmd
}

// runPipelineBench runs one flow in this process until its sinks drained
// o.Events events.
func runPipelineBench(ctx context.Context, o pipelineOpts) (pipelineResult, error) {
	var res pipelineResult
	if o.Events <= 0 {
		return res, errors.New("--events must be positive")
	}
	if o.Name == "" {
		o.Name = "a1"
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	f := catalog.Default()
	var cfg *config.Agent
	var err error
	if o.ConfFile != "" {
		cfg, err = config.LoadFile(o.ConfFile, o.Name, f)
	} else {
		if o.Body <= 0 || o.Batch <= 0 || o.Capacity < o.Batch {
			return res, fmt.Errorf("need --body > 0, --batch > 0 and --capacity >= --batch (got %d, %d, %d)", o.Body, o.Batch, o.Capacity)
		}
		text := fmt.Sprintf(benchPipelineConf, o.Events, o.Batch, o.Body, o.Capacity, o.Batch, o.Batch)
		var props []config.Prop
		props, err = config.Parse(strings.NewReader(text), "bench-pipeline.conf")
		if err == nil {
			cfg, err = config.Load(props, "bench-pipeline.conf", o.Name, f, func(string) (string, bool) { return "", false })
		}
	}
	if err != nil {
		return res, fmt.Errorf("bench configuration:\n%w", err)
	}
	if len(cfg.Sinks) == 0 {
		return res, errors.New("bench configuration has no sink")
	}
	res.Body = o.Body

	a := agent.New(o.Name, f, agent.Options{Logger: slog.New(slog.DiscardHandler)})
	reg := a.Registry()
	// Take the counters once: polling them allocates nothing, so the
	// allocation count below is the flow's own.
	sinks := make([]*monitor.SinkCounter, len(cfg.Sinks))
	for i, ks := range cfg.Sinks {
		sinks[i] = reg.Sink(ks.Name, ks.Type)
	}
	drained := func() int64 {
		var n int64
		for _, c := range sinks {
			n += int64(c.EventDrainSuccess.Get())
		}
		return n
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	if err := a.Apply(ctx, cfg); err != nil {
		return res, err
	}
	deadline := start.Add(o.Timeout)
	tick := time.NewTicker(time.Millisecond)
	var n int64
	for n = drained(); n < o.Events; n = drained() {
		if time.Now().After(deadline) {
			tick.Stop()
			_ = a.Stop(context.Background())
			return res, fmt.Errorf("bench: %d of %d events drained after %s", n, o.Events, o.Timeout)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			tick.Stop()
			_ = a.Stop(context.Background())
			return res, ctx.Err()
		}
	}
	res.Elapsed = time.Since(start)
	tick.Stop()
	runtime.ReadMemStats(&after)
	res.Events = n
	res.Mallocs = after.Mallocs - before.Mallocs
	res.AllocBytes = after.TotalAlloc - before.TotalAlloc
	res.GCs = after.NumGC - before.NumGC

	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Stop(sctx); err != nil {
		return res, fmt.Errorf("bench: stop: %w", err)
	}
	for _, s := range reg.Samples() {
		switch {
		case s.Kind == monitor.KindSource && s.Metric == "EventAcceptedCount":
			res.SourceAccepted += int64(s.Value)
		case s.Kind == monitor.KindChannel && s.Metric == "EventTakeSuccessCount":
			res.ChannelTaken += int64(s.Value)
		}
	}
	res.PeakRSS = peakRSS("self")
	return res, nil
}

// peakRSS is VmHWM of /proc/PID/status in bytes, or -1.
func peakRSS(pid string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fs := strings.Fields(rest)
			if len(fs) >= 1 {
				if kb, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
					return kb * 1024
				}
			}
		}
	}
	return -1
}

// sendOpts are the parameters of the TCP load generator.
type sendOpts struct {
	Addr    string
	Events  int64
	Size    int
	Conns   int
	WaitDir string // if set, wait until the files under it hold every line
	Timeout time.Duration
}

// sendResult is what one load run measured.
type sendResult struct {
	Events   int64
	Sent     time.Duration // until every byte was written and the connections closed
	Complete time.Duration // until WaitDir held every line; 0 without WaitDir
	Bytes    int64         // bytes found under WaitDir
}

func newBenchSendCmd() *cobra.Command {
	o := sendOpts{}
	cmd := &cobra.Command{
		Use:   "send --addr HOST:PORT",
		Short: "TCP load generator: write newline-terminated lines as fast as possible",
		Long: `Connects --conns times to --addr and writes --events lines in total, each exactly --size
bytes plus a newline, as fast as the connections take them. Anything the server answers is read
and discarded, so acks never block the sender. With --wait-dir it then waits until the regular
files under that directory hold every line (events x (size+1) bytes) and reports the time from
the first byte sent until then: the end-to-end time of a TCP -> file flow.`,
		Example: `  vscope bench send --addr 127.0.0.1:44444 --events 2000000 --size 100
  vscope bench send --addr 127.0.0.1:44444 --events 2000000 --size 100 --wait-dir /tmp/out`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := runSend(cmd.Context(), o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			secs := res.Sent.Seconds()
			if o.WaitDir != "" {
				secs = res.Complete.Seconds()
			}
			eps := float64(res.Events) / secs
			fmt.Fprintf(out, "BENCH tool=send events=%d size=%d conns=%d send_seconds=%.6f send_events_per_s=%.0f seconds=%.6f events_per_s=%.0f mb_per_s=%.2f bytes_found=%d\n",
				res.Events, o.Size, o.Conns, res.Sent.Seconds(), float64(res.Events)/res.Sent.Seconds(),
				secs, eps, eps*float64(o.Size)/1e6, res.Bytes)
			if o.WaitDir != "" {
				fmt.Fprintf(out, "sent %d lines of %d bytes in %.3fs (%.2f M lines/s); all in %s after %.3fs: %.2f M events/s end to end, %.1f MB/s\n",
					res.Events, o.Size, res.Sent.Seconds(), float64(res.Events)/res.Sent.Seconds()/1e6, o.WaitDir, secs, eps/1e6, eps*float64(o.Size)/1e6)
			} else {
				fmt.Fprintf(out, "sent %d lines of %d bytes in %.3fs: %.2f M lines/s, %.1f MB/s\n",
					res.Events, o.Size, secs, eps/1e6, eps*float64(o.Size)/1e6)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Addr, "addr", "", "HOST:PORT to send to (required)")
	fl.Int64Var(&o.Events, "events", 1_000_000, "lines to send in total")
	fl.IntVar(&o.Size, "size", 100, "bytes per line, not counting the newline")
	fl.IntVar(&o.Conns, "conns", 1, "parallel connections; the lines are split between them")
	fl.StringVar(&o.WaitDir, "wait-dir", "", "wait until the files under this directory hold every line")
	fl.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "give up after this long")
	return cmd
}

// sendChunk is about how many bytes one Write carries.
const sendChunk = 256 << 10

// runSend sends the lines and, with WaitDir, waits for them to land.
func runSend(ctx context.Context, o sendOpts) (sendResult, error) {
	res := sendResult{Events: o.Events}
	switch {
	case o.Addr == "":
		return res, errors.New("--addr is required")
	case o.Events <= 0:
		return res, errors.New("--events must be positive")
	case o.Size <= 0:
		return res, errors.New("--size must be positive")
	case o.Conns <= 0:
		return res, errors.New("--conns must be positive")
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	// One chunk of whole lines: digits padded to size, then '\n'.
	perChunk := max(1, sendChunk/(o.Size+1))
	chunk := make([]byte, 0, perChunk*(o.Size+1))
	for i := 0; i < perChunk; i++ {
		line := strconv.Itoa(i)
		if len(line) > o.Size {
			line = line[len(line)-o.Size:]
		}
		chunk = append(chunk, bytes.Repeat([]byte{'0'}, o.Size-len(line))...)
		chunk = append(chunk, line...)
		chunk = append(chunk, '\n')
	}

	start := time.Now()
	// written ends when every line is written and the connections are
	// half-closed; closed when the servers closed their side too (or 10 s
	// later). Waiting for the files overlaps with waiting for the closes.
	var written, closed sync.WaitGroup
	errs := make([]error, o.Conns)
	for i := 0; i < o.Conns; i++ {
		n := o.Events / int64(o.Conns)
		if i == 0 {
			n += o.Events % int64(o.Conns)
		}
		written.Add(1)
		closed.Add(1)
		go func() {
			defer closed.Done()
			errs[i] = sendLines(ctx, o.Addr, n, o.Size, chunk, written.Done)
		}()
	}
	written.Wait()
	res.Sent = time.Since(start)
	defer closed.Wait()
	if o.WaitDir == "" {
		closed.Wait()
		return res, errors.Join(errs...)
	}
	want := o.Events * int64(o.Size+1)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		res.Bytes = dirBytes(o.WaitDir)
		if res.Bytes >= want {
			res.Complete = time.Since(start)
			if res.Bytes > want {
				return res, fmt.Errorf("%s holds %d bytes, more than the %d sent", o.WaitDir, res.Bytes, want)
			}
			closed.Wait()
			return res, errors.Join(errs...)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			closed.Wait()
			return res, errors.Join(fmt.Errorf("%s holds %d of %d bytes after %s: %w", o.WaitDir, res.Bytes, want, time.Since(start).Round(time.Millisecond), ctx.Err()), errors.Join(errs...))
		}
	}
}

// sendLines writes n lines over one connection, half-closes it and calls
// written (exactly once, also on failure), then waits for the server to
// close its side, at most 10 s: closing while the server still has unread
// data or replies in flight would reset the connection and lose lines.
func sendLines(ctx context.Context, addr string, n int64, size int, chunk []byte, written func()) error {
	once := sync.OnceFunc(written)
	defer once()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	// Replies (acks) are read and dropped so they never fill the socket
	// buffers and block the server, and through it the sender.
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		_, _ = io.Copy(io.Discard, c)
	}()
	perChunk := int64(len(chunk) / (size + 1))
	for n > 0 {
		k := min(n, perChunk)
		if _, err := c.Write(chunk[:k*int64(size+1)]); err != nil {
			return fmt.Errorf("send to %s: %w", addr, err)
		}
		n -= k
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	once()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-readDone:
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// dirBytes is the total size of the regular files under dir.
func dirBytes(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			total += fi.Size()
		}
		return nil
	})
	return total
}

func newBenchFreePortCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "free-port",
		Short: "Print a TCP port on 127.0.0.1 that is free right now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			defer ln.Close()
			fmt.Fprintln(cmd.OutOrStdout(), ln.Addr().(*net.TCPAddr).Port)
			return nil
		},
	}
}
