package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vscope/vscope/datasets/faults"
	"github.com/vscope/vscope/datasets/loghub"
	"github.com/vscope/vscope/datasets/replay"
	"github.com/vscope/vscope/datasets/webstore"
)

// replayFlags are the options of vscope replay.
type replayFlags struct {
	dataset, speed, to string
	batch              int
	window             time.Duration
	progress           string
	noAck              bool
	retry              time.Duration

	// webstore
	seed         uint64
	duration     time.Duration
	start        string
	sessions     float64
	web, app, db int
	faults       []string
	truth        string
	// loghub
	loghubDir string
	// plain file
	layout, regex, host, tier string

	// the local flow (flow.go)
	flow        string
	runDir      string
	collectors  int
	channel     string
	groupMode   string
	sampleEvery time.Duration
	tail        time.Duration
	noVerify    bool
	// exe runs the flow's member processes (default this executable);
	// tests set the built binary.
	exe string
}

func newReplayCmd() *cobra.Command {
	f := replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay --dataset webstore|loghub:SYSTEM|FILE [--to URL] [--speed 60x] [--fault KIND@TARGET,start=+2m,dur=3m]",
		Short: "Replay data-centre logs through a local 3-tier flow or into a running agent, paced by their own timestamps",
		Long: `Replay logs at the pace of their timestamps, sped up by --speed: a line stamped t is sent
(t - t0)/speed after the first. The logs are

  webstore          the web-store data centre generator: NGINX access/error logs of the web
                    servers, service logs of the app servers, PostgreSQL logs of the database
                    tier, with sessions, a daily load curve, and --fault flash crowds or error
                    storms (their ground truth goes to --truth as JSON)
  loghub:SYSTEM     a loghub 2k sample (HDFS, Hadoop, Spark, Zookeeper, OpenStack, BGL) from
                    --loghub-dir, in time order
  FILE              a plain log file; the timestamp format is detected from the first lines,
                    or given with --time-layout (a Go layout) and optionally --time-regex

Without --to (--flow local) the replay starts a real flow on 127.0.0.1 and drives it: a tier-1
agent per web server (http source -> --channel -> forward sink to the group "collectors",
through a proxy per link that a network fault can slow down), --collectors collectors (forward
source -> file channel -> Parquet files), every agent a process of its own, labelled with its
host (web-01, col-01, ...), sampling its metrics every --sample-interval into the run directory's
store. Each web server's lines go to its own agent. Lines of the app and database tiers are
skipped (a loghub sample or a FILE goes to one agent named after it). Afterwards the Parquet files
are read back and every line the tier-1 agents accepted is looked for. The run directory holds
metrics.duckdb (vscope diagnose --store), topology.json (--topology), truth.json, the agents'
configurations, logs and data.

--fault KIND@TARGET,start=+2m,dur=3m[,PARAM=VALUE...] (repeatable) injects a fault into the
running flow; start and dur are log time from the first line (at --speed max, wall time):

  slow_sink@HOST[/k1]           delay=200ms added to every batch the sink commits
  cpu_interference@HOST         threads=2 busy threads pinned with the agent to one CPU, counted
                                as the host's (its cgroup)
  net_delay@WEB>COL|WEB|COL     delay=100ms each way on those links, jitter=, bw= (bytes/s), loss=
  net_loss@WEB>COL|WEB|COL      loss=0.05: a lost chunk costs rto=200ms (TCP's retransmission)
  tiny_channel@HOST[/c1]        capacity=200, by a reload of the agent's configuration
  gc_storm@HOST                 rate=200MB/s of garbage over live=64MB with gogc=20
  collector_crash@HOST          SIGKILL at the start, restarted at the end (file channel only)
  disk_full@HOST[/c1]           the file channel's disk (a tmpfs; root) filled to free=4MiB,
                                below its minimumRequiredSpace
  flash_crowd@WEB|*             factor=5 times the sessions, generated into the web store's logs
  error_storm@WEB               rate=0.5 of the requests fail, generated into the logs

The ground truth of every fault (where, when on the store's clock, the metrics an expert would
look at) goes to the run directory's truth.json and to --truth. The web store's older form
KIND:HOST@AT+FOR[:PARAM] (flash_crowd:web-02@10m+5m:x8) is read too.

--to sends into a running agent instead: http://HOST:PORT for an http source (Flume JSONHandler;
every event gets the headers host, tier and timestamp in epoch ms), tcp://HOST:PORT for a netcat
source (one line per event; each OK/FAILED reply is counted, so set ack-every-event = true, the
default, or pass --no-ack), or - for standard output; only the generated faults apply there.

At the end it reports the events sent, acked and lost, and how well the timing was kept; any lost
event makes the exit status 1.

A progress bar (events, rate, ETA) is drawn when the output is a terminal, plain lines otherwise.`,
		Example: `  vscope replay --dataset webstore --speed 60x          # through a local 3-tier flow
  vscope replay --dataset webstore --duration 30m --speed 10x --run-dir run1 \
      --fault slow_sink@col-01/k1,start=+15m,dur=5m,delay=500ms --truth truth.json
  vscope replay --dataset webstore --fault net_delay@web-02>col-01,start=+5m,dur=3m,delay=80ms
  vscope replay --dataset webstore --speed 60x --to http://127.0.0.1:41414
  vscope replay --dataset webstore --duration 2h --fault error_storm:web-02@30m+5m:0.4 \
      --truth truth.json --to tcp://127.0.0.1:44444
  vscope replay --dataset loghub:HDFS --speed 3600x --to tcp://127.0.0.1:44444
  vscope replay --dataset /var/log/app.log --time-layout "2006-01-02 15:04:05,000" --speed max --to -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runReplay(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	cmd.AddCommand(newReplayMemberCmd())
	fl := cmd.Flags()
	fl.StringVar(&f.dataset, "dataset", "", "webstore, loghub:SYSTEM or a log file (required)")
	fl.StringVar(&f.speed, "speed", "60x", "log time per wall time: 60x, 1x, 0.5x, or max (no pacing)")
	fl.StringVar(&f.to, "to", "", "a running agent instead of a local flow: http://HOST:PORT (http source), tcp://HOST:PORT (netcat source), or - (stdout)")
	fl.IntVar(&f.batch, "batch-size", 100, "most events per request; keep it within the source's channel transactionCapacity")
	fl.DurationVar(&f.window, "window", 5*time.Millisecond, "events due within this wall time of each other travel together")
	fl.StringVar(&f.progress, "progress", "auto", "auto (a bar on a terminal, else plain lines), bar, plain, or none")
	fl.BoolVar(&f.noAck, "no-ack", false, "netcat: do not read replies (for a source with ack-every-event = false)")
	fl.DurationVar(&f.retry, "retry", 30*time.Second, "how long a batch is retried while the agent is busy or unreachable")
	fl.Uint64Var(&f.seed, "seed", 1, "webstore: random seed (the same seed gives the same logs)")
	fl.DurationVar(&f.duration, "duration", 10*time.Minute, "webstore: log time to generate")
	fl.StringVar(&f.start, "start", "", "webstore: log time of the first line, RFC 3339 (default 2025-11-03T00:00:00Z)")
	fl.Float64Var(&f.sessions, "sessions", 20, "webstore: sessions per second, averaged over a day")
	fl.IntVar(&f.web, "web-hosts", 4, "webstore: web servers")
	fl.IntVar(&f.app, "app-hosts", 6, "webstore: app servers")
	fl.IntVar(&f.db, "db-hosts", 2, "webstore: database servers")
	fl.StringArrayVar(&f.faults, "fault", nil, "KIND@TARGET,start=+2m,dur=3m[,PARAM=VALUE...] (see above; repeatable)")
	fl.StringVar(&f.truth, "truth", "", "write the faults' ground truth to this JSON file")
	fl.StringVar(&f.loghubDir, "loghub-dir", "", "loghub: the samples' directory (default $VSCOPE_LOGHUB, else ../shared/datasets/loghub)")
	fl.StringVar(&f.layout, "time-layout", "", `FILE: Go time layout of the stamps, e.g. "2006-01-02 15:04:05,000", or unix, unix_ms`)
	fl.StringVar(&f.regex, "time-regex", "", "FILE: regular expression whose first group is the stamp (default: the layout at the start of the line)")
	fl.StringVar(&f.host, "host", "", "FILE: host header of the events (default the file's name)")
	fl.StringVar(&f.tier, "tier", "file", "FILE: tier header of the events")
	fl.StringVar(&f.flow, "flow", "", "local: start a 3-tier flow on 127.0.0.1 and replay through it (the default without --to); none")
	fl.StringVar(&f.runDir, "run-dir", "", "local flow: run directory (default $XDG_DATA_HOME/vscope/runs/TIME)")
	fl.IntVar(&f.collectors, "collectors", 2, "local flow: collectors")
	fl.StringVar(&f.channel, "channel", "memory", "local flow: tier-1 channel, memory or file (collectors use file)")
	fl.StringVar(&f.groupMode, "group-mode", "round_robin", "local flow: the forward group's mode, round_robin, least_loaded or fan_out")
	fl.DurationVar(&f.sampleEvery, "sample-interval", time.Second, "local flow: how often every agent samples its metrics")
	fl.DurationVar(&f.tail, "tail", 3*time.Second, "local flow: keep the flow running this long after the last line")
	fl.BoolVar(&f.noVerify, "no-verify", false, "local flow: do not read the Parquet files back to look for every line")
	return cmd
}

// replayInput is an opened dataset.
type replayInput struct {
	src   replay.Source
	desc  string
	close func()

	// For a local flow: the tier-1 hosts, the host whose agent takes
	// the lines of the others (none: they are skipped), the log time the
	// generated faults count from, and the faults.
	hosts       []string
	defaultHost string
	origin      time.Time
	faults      []faults.Spec
	// generatorTruth is the web store's own truth (log times), for --to.
	generatorTruth func() any
}

// parseFaults reads the --fault flags.
func parseFaults(list []string) ([]faults.Spec, error) {
	var out []faults.Spec
	for _, s := range list {
		sp, err := faults.ParseSpec(s)
		if err != nil {
			return nil, fmt.Errorf("--fault: %w", err)
		}
		out = append(out, sp)
	}
	return out, nil
}

// openReplaySource opens the dataset named by f.dataset.
func openReplaySource(f replayFlags) (*replayInput, error) {
	specs, err := parseFaults(f.faults)
	if err != nil {
		return nil, err
	}
	if f.dataset != "webstore" {
		for _, s := range specs {
			if s.Kind.Generated() {
				return nil, fmt.Errorf("--fault %s: generated into the logs, needs --dataset webstore", s.Kind)
			}
		}
	}
	switch {
	case f.dataset == "":
		return nil, errors.New("--dataset is required: webstore, loghub:SYSTEM or a log file")
	case f.dataset == "webstore":
		cfg := webstore.NewConfig(f.duration)
		cfg.Seed = f.seed
		cfg.SessionsPerSecond = f.sessions
		cfg.WebHosts, cfg.AppHosts, cfg.DBHosts = f.web, f.app, f.db
		if f.start != "" {
			t, err := time.Parse(time.RFC3339, f.start)
			if err != nil {
				return nil, fmt.Errorf("--start: %w", err)
			}
			cfg.Start = t
		}
		gen, err := faults.GeneratorFaults(specs)
		if err != nil {
			return nil, fmt.Errorf("--fault: %w", err)
		}
		cfg.Faults = append(cfg.Faults, gen...)
		g, err := webstore.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("webstore: %w", err)
		}
		c := g.Config()
		desc := fmt.Sprintf("webstore (seed %d, %v of logs from %s, %d web / %d app / %d db hosts, %g sessions/s",
			c.Seed, c.Duration, c.Start.Format(time.RFC3339), c.WebHosts, c.AppHosts, c.DBHosts, c.SessionsPerSecond)
		for _, s := range f.faults {
			desc += ", " + s
		}
		return &replayInput{src: replay.Webstore(g), desc: desc + ")", close: func() {},
			hosts: faults.WebHosts(c.WebHosts), origin: c.Start, faults: specs,
			generatorTruth: func() any { return g.Truth() }}, nil
	case strings.HasPrefix(f.dataset, "loghub:"):
		sys := strings.TrimPrefix(f.dataset, "loghub:")
		dir := f.loghubDir
		if dir == "" {
			dir = os.Getenv("VSCOPE_LOGHUB")
		}
		if dir == "" {
			dir = filepath.Join("..", "shared", "datasets", "loghub")
		}
		lg, err := loghub.Load(dir, sys)
		if err != nil {
			return nil, fmt.Errorf("loghub (--loghub-dir %s): %w", dir, err)
		}
		first, last := lg.Span()
		desc := fmt.Sprintf("loghub %s (%d lines, %s to %s)", lg.System, len(lg.Lines),
			first.Format(time.RFC3339), last.Format(time.RFC3339))
		host := strings.ToLower(lg.System)
		return &replayInput{src: replay.Loghub(lg), desc: desc, close: func() {},
			hosts: []string{host}, defaultHost: host, origin: first, faults: specs}, nil
	default:
		var pat *loghub.Pattern
		if f.layout != "" {
			p, err := loghub.NewPattern(f.layout, f.regex, nil)
			if err != nil {
				return nil, err
			}
			pat = p
		} else if f.regex != "" {
			return nil, errors.New("--time-regex needs --time-layout")
		}
		file, err := loghub.OpenFile(f.dataset, pat)
		if err != nil {
			return nil, err
		}
		host := f.host
		if host == "" {
			host = strings.TrimSuffix(filepath.Base(f.dataset), filepath.Ext(f.dataset))
		}
		desc := fmt.Sprintf("%s (timestamps: %s)", f.dataset, file.Pattern().Name)
		return &replayInput{src: replay.Lines(file, host, f.tier), desc: desc, close: func() { file.Close() },
			hosts: []string{host}, defaultHost: host, faults: specs}, nil
	}
}

// replayOutput is an opened destination.
type replayOutput struct {
	sink  replay.Sink
	desc  string
	close func()
}

// openReplaySink opens the destination named by f.to. Without --to, the
// replay goes through a local flow instead (runLocalReplay).
func openReplaySink(f replayFlags, stdout io.Writer) (*replayOutput, error) {
	switch {
	case f.to == "":
		return nil, errors.New("--to is required with --flow none: http://HOST:PORT for an agent's http source, tcp://HOST:PORT for a netcat source, or - for standard output")
	case f.to == "-":
		return &replayOutput{sink: replay.NewWriterSink(stdout), desc: "standard output", close: func() {}}, nil
	case strings.HasPrefix(f.to, "http://") || strings.HasPrefix(f.to, "https://"):
		s := replay.NewHTTPSink(f.to)
		s.Retry = f.retry
		return &replayOutput{sink: s, desc: "http source " + f.to, close: func() {}}, nil
	case strings.HasPrefix(f.to, "tcp://"):
		s := replay.NewNetcatSink(strings.TrimPrefix(f.to, "tcp://"))
		s.Ack = !f.noAck
		s.Retry = f.retry
		return &replayOutput{sink: s, desc: "netcat source " + f.to, close: func() { s.Close() }}, nil
	}
	return nil, fmt.Errorf("--to %q: want http://HOST:PORT, tcp://HOST:PORT or -", f.to)
}

func runReplay(ctx context.Context, stdout, stderr io.Writer, f replayFlags) error {
	speed, err := replay.ParseSpeed(f.speed)
	if err != nil {
		return fmt.Errorf("--speed: %w", err)
	}
	switch {
	case f.flow == "local" && f.to != "":
		return errors.New("--flow local and --to exclude each other: the flow is the destination")
	case f.flow == "local" || (f.flow == "" && f.to == ""):
		return runLocalReplay(ctx, stdout, f, speed)
	case f.flow != "" && f.flow != "none":
		return fmt.Errorf("--flow %q: want local or none", f.flow)
	}
	out, err := openReplaySink(f, stdout)
	if err != nil {
		return err
	}
	defer out.close()
	in, err := openReplaySource(f)
	if err != nil {
		return err
	}
	defer in.close()
	for _, s := range in.faults {
		if !s.Kind.Generated() {
			return fmt.Errorf("--fault %s acts on a running flow: leave out --to (--flow local)", s.Kind)
		}
	}
	if f.truth != "" && in.generatorTruth != nil {
		data, err := json.MarshalIndent(in.generatorTruth(), "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.truth, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("--truth: %w", err)
		}
	}

	// Messages go where the lines do not: stderr when the lines go to
	// stdout.
	msg := stdout
	if f.to == "-" {
		msg = stderr
	}
	rep, err := newReporter(msg, f.progress)
	if err != nil {
		return err
	}
	pace := paceText(speed)
	fmt.Fprintf(msg, "replaying %s\n  to %s %s\n", in.desc, out.desc, pace)

	opt := replay.Options{Speed: speed, BatchSize: f.batch, Window: f.window}
	if rep != nil {
		opt.Progress = rep.Update
	}
	st, runErr := replay.Run(ctx, in.src, out.sink, opt)

	rate := 0.0
	if s := st.Elapsed.Seconds(); s > 0 {
		rate = float64(st.Sent) / s
	}
	fmt.Fprintf(msg, "sent %d events (%.1f MB) in %v (%.0f/s): acked %d, lost %d\n",
		st.Sent, float64(st.Bytes)/1e6, st.Elapsed.Round(time.Millisecond), rate, st.Acked, st.Lost())
	printTiming(msg, st, speed)
	if runErr != nil {
		return runErr
	}
	if lost := st.Lost(); lost > 0 {
		return fmt.Errorf("%d events lost", lost)
	}
	return nil
}

// newReporter is the progress display asked for by --progress.
func newReporter(msg io.Writer, mode string) (*replay.Reporter, error) {
	switch mode {
	case "auto":
		tty := false
		if file, ok := msg.(*os.File); ok {
			tty = replay.IsTerminal(file)
		}
		return replay.NewReporter(msg, tty), nil
	case "bar":
		return replay.NewReporter(msg, true), nil
	case "plain":
		return replay.NewReporter(msg, false), nil
	case "none":
		return nil, nil
	}
	return nil, fmt.Errorf("--progress %q: want auto, bar, plain or none", mode)
}

func paceText(speed float64) string {
	if speed > 0 {
		return fmt.Sprintf("at %gx", speed)
	}
	return "as fast as it takes them"
}

// printTiming reports how well the replay kept the logs' pace.
func printTiming(msg io.Writer, st replay.Stats, speed float64) {
	if speed > 0 && st.Ideal > 0 {
		fmt.Fprintf(msg, "timing: %v for %v of logs at %gx, schedule %v (error %.2f%%); lag mean %v, p99 %v, max %v\n",
			st.Elapsed.Round(time.Millisecond), st.LogEnd.Sub(st.LogStart), speed, st.Ideal.Round(time.Millisecond),
			100*st.TimingError(), st.MeanLag.Round(10*time.Microsecond), st.P99Lag, st.MaxLag.Round(10*time.Microsecond))
	}
}
