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
}

func newReplayCmd() *cobra.Command {
	f := replayFlags{}
	cmd := &cobra.Command{
		Use:   "replay --dataset webstore|loghub:SYSTEM|FILE --to URL [--speed 60x]",
		Short: "Replay data-centre logs into a running agent, paced by their own timestamps",
		Long: `Replay logs into a running agent at the pace of their timestamps, sped up by --speed: a line
stamped t is sent (t - t0)/speed after the first. The logs are

  webstore          the web-store data centre generator: NGINX access/error logs of the web
                    servers, service logs of the app servers, PostgreSQL logs of the database
                    tier, with sessions, a daily load curve, and --fault flash crowds or error
                    storms (their ground truth goes to --truth as JSON)
  loghub:SYSTEM     a loghub 2k sample (HDFS, Hadoop, Spark, Zookeeper, OpenStack, BGL) from
                    --loghub-dir, in time order
  FILE              a plain log file; the timestamp format is detected from the first lines,
                    or given with --time-layout (a Go layout) and optionally --time-regex

--to is the agent's source: http://HOST:PORT for an http source (Flume JSONHandler; every event
gets the headers host, tier and timestamp in epoch ms), tcp://HOST:PORT for a netcat source (one
line per event; each OK/FAILED reply is counted, so set ack-every-event = true, the default, or
pass --no-ack), or - for standard output. At the end it reports the events sent, acked and lost,
and how well the timing was kept; any lost event makes the exit status 1.

A progress bar (events, rate, ETA) is drawn when the output is a terminal, plain lines otherwise.`,
		Example: `  vscope replay --dataset webstore --speed 60x --to http://127.0.0.1:41414
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
	fl := cmd.Flags()
	fl.StringVar(&f.dataset, "dataset", "", "webstore, loghub:SYSTEM or a log file (required)")
	fl.StringVar(&f.speed, "speed", "60x", "log time per wall time: 60x, 1x, 0.5x, or max (no pacing)")
	fl.StringVar(&f.to, "to", "", "http://HOST:PORT (http source), tcp://HOST:PORT (netcat source), or - (stdout)")
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
	fl.StringArrayVar(&f.faults, "fault", nil, "webstore: KIND:HOST@AT+FOR[:PARAM], e.g. flash_crowd:web-02@10m+5m:x8, error_storm:web-01@20m+3m:0.4 (repeatable)")
	fl.StringVar(&f.truth, "truth", "", "webstore: write the faults' ground truth to this JSON file")
	fl.StringVar(&f.loghubDir, "loghub-dir", "", "loghub: the samples' directory (default $VSCOPE_LOGHUB, else ../shared/datasets/loghub)")
	fl.StringVar(&f.layout, "time-layout", "", `FILE: Go time layout of the stamps, e.g. "2006-01-02 15:04:05,000", or unix, unix_ms`)
	fl.StringVar(&f.regex, "time-regex", "", "FILE: regular expression whose first group is the stamp (default: the layout at the start of the line)")
	fl.StringVar(&f.host, "host", "", "FILE: host header of the events (default the file's name)")
	fl.StringVar(&f.tier, "tier", "file", "FILE: tier header of the events")
	return cmd
}

// replayInput is an opened dataset.
type replayInput struct {
	src   replay.Source
	desc  string
	close func()
}

// openReplaySource opens the dataset named by f.dataset.
func openReplaySource(f replayFlags) (*replayInput, error) {
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
		for _, s := range f.faults {
			ft, err := webstore.ParseFault(s)
			if err != nil {
				return nil, fmt.Errorf("--fault: %w", err)
			}
			cfg.Faults = append(cfg.Faults, ft)
		}
		g, err := webstore.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("webstore: %w", err)
		}
		if f.truth != "" {
			data, err := json.MarshalIndent(g.Truth(), "", "  ")
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(f.truth, append(data, '\n'), 0o644); err != nil {
				return nil, fmt.Errorf("--truth: %w", err)
			}
		}
		c := g.Config()
		desc := fmt.Sprintf("webstore (seed %d, %v of logs from %s, %d web / %d app / %d db hosts, %g sessions/s",
			c.Seed, c.Duration, c.Start.Format(time.RFC3339), c.WebHosts, c.AppHosts, c.DBHosts, c.SessionsPerSecond)
		for _, s := range f.faults {
			desc += ", " + s
		}
		return &replayInput{src: replay.Webstore(g), desc: desc + ")", close: func() {}}, nil
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
		return &replayInput{src: replay.Loghub(lg), desc: desc, close: func() {}}, nil
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
		return &replayInput{src: replay.Lines(file, host, f.tier), desc: desc, close: func() { file.Close() }}, nil
	}
}

// replayOutput is an opened destination.
type replayOutput struct {
	sink  replay.Sink
	desc  string
	close func()
}

// openReplaySink opens the destination named by f.to. (A later mode will
// start a local tiered flow and replay into its first tier instead.)
func openReplaySink(f replayFlags, stdout io.Writer) (*replayOutput, error) {
	switch {
	case f.to == "":
		return nil, errors.New("--to is required: http://HOST:PORT for an agent's http source, tcp://HOST:PORT for a netcat source, or - for standard output")
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

	// Messages go where the lines do not: stderr when the lines go to
	// stdout.
	msg := stdout
	if f.to == "-" {
		msg = stderr
	}
	var rep *replay.Reporter
	switch f.progress {
	case "auto":
		tty := false
		if file, ok := msg.(*os.File); ok {
			tty = replay.IsTerminal(file)
		}
		rep = replay.NewReporter(msg, tty)
	case "bar":
		rep = replay.NewReporter(msg, true)
	case "plain":
		rep = replay.NewReporter(msg, false)
	case "none":
	default:
		return fmt.Errorf("--progress %q: want auto, bar, plain or none", f.progress)
	}
	pace := "as fast as it takes them"
	if speed > 0 {
		pace = fmt.Sprintf("at %gx", speed)
	}
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
	if speed > 0 && st.Ideal > 0 {
		fmt.Fprintf(msg, "timing: %v for %v of logs at %gx, schedule %v (error %.2f%%); lag mean %v, p99 %v, max %v\n",
			st.Elapsed.Round(time.Millisecond), st.LogEnd.Sub(st.LogStart), speed, st.Ideal.Round(time.Millisecond),
			100*st.TimingError(), st.MeanLag.Round(10*time.Microsecond), st.P99Lag, st.MaxLag.Round(10*time.Microsecond))
	}
	if runErr != nil {
		return runErr
	}
	if lost := st.Lost(); lost > 0 {
		return fmt.Errorf("%d events lost", lost)
	}
	return nil
}
