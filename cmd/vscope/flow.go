package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vscope/vscope/datasets/faults"
	"github.com/vscope/vscope/datasets/replay"
)

// The local flow of vscope replay: a 3-tier flow on 127.0.0.1 whose
// agents are processes of this binary ("vscope replay member agent"),
// driven by the replay, with faults injected while it runs (package
// faults does the work).

// newReplayMemberCmd is the hidden entry point of the flow's processes:
// "vscope replay member agent ..." runs one agent of the flow (labelled
// with its host, sampling into the flow's store, with a control API for
// faults), "vscope replay member burn --threads N" is the busy neighbour
// of a CPU-interference fault.
func newReplayMemberCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "member agent|burn [flags]",
		Short:              "A process of the local flow (started by vscope replay)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return faults.MemberMain(args, cmd.ErrOrStderr())
		},
	}
}

// defaultRunDir is where a local flow's run directory goes without
// --run-dir: beside the default metric store.
func defaultRunDir() string {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		if home, err := os.UserHomeDir(); err == nil {
			base = filepath.Join(home, ".local", "share")
		} else {
			base = os.TempDir()
		}
	}
	return filepath.Join(base, "vscope", "runs", time.Now().Format("20060102-150405"))
}

// runLocalReplay replays f.dataset through a local flow with f.faults.
func runLocalReplay(ctx context.Context, stdout io.Writer, f replayFlags, speed float64) error {
	in, err := openReplaySource(f)
	if err != nil {
		return err
	}
	defer in.close()
	rep, err := newReporter(stdout, f.progress)
	if err != nil {
		return err
	}
	exe := f.exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("local flow: cannot find this executable to run the agents: %w", err)
		}
	}
	dir := f.runDir
	if dir == "" {
		dir = defaultRunDir()
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("--run-dir %s is not empty", dir)
	}
	if f.collectors <= 0 {
		return fmt.Errorf("--collectors %d: want at least 1", f.collectors)
	}
	sc := faults.Scenario{
		Flow: faults.FlowConfig{
			Dir: dir, Hosts: in.hosts, DefaultHost: in.defaultHost, Collectors: f.collectors,
			Channel: f.channel, GroupMode: f.groupMode, SampleInterval: f.sampleEvery,
			Command: []string{exe, "replay", "member"}, Retry: max(f.retry, time.Minute),
			Logger: slog.Default(),
		},
		Source: in.src, Origin: in.origin, Speed: speed, Faults: in.faults,
		Replay: replay.Options{BatchSize: f.batch, Window: f.window},
		Tail:   f.tail, Verify: !f.noVerify,
	}
	if rep != nil {
		sc.Replay.Progress = rep.Update
	}
	sc.OnStart = func(fl *faults.Flow) {
		fmt.Fprintf(stdout, "replaying %s\n  through a local flow %s: %s (%s, %s channel) -> %s (%s), %s\n",
			in.desc, fl.Dir(), plural(len(in.hosts), "tier-1 agent"), strings.Join(in.hosts, " "), f.channel,
			plural(f.collectors, "collector"), strings.Join(fl.Collectors(), " "), paceText(speed))
		for _, s := range in.faults {
			fmt.Fprintf(stdout, "  fault %s\n", s)
		}
	}
	res, runErr := faults.Run(ctx, sc)
	if res == nil {
		return runErr
	}
	st, rt := res.Replay, res.Route
	rate := 0.0
	if s := st.Elapsed.Seconds(); s > 0 {
		rate = float64(st.Sent) / s
	}
	fmt.Fprintf(stdout, "sent %d events (%.1f MB) in %v (%.0f/s): %d to the tier-1 agents, acked %d, refused %d; %d of other hosts skipped\n",
		st.Sent, float64(st.Bytes)/1e6, st.Elapsed.Round(time.Millisecond), rate, rt.Routed, rt.Acked, rt.Failed, rt.Skipped)
	printTiming(stdout, st, speed)
	fmt.Fprintf(stdout, "delivery to the agents: lag p99 %v, max %v\n", rt.P99Lag.Round(time.Millisecond), rt.MaxLag.Round(time.Millisecond))
	if d := res.Delivery; d != nil {
		fmt.Fprintf(stdout, "parquet: %d rows in %d files (", d.Rows, d.Files)
		for i, c := range sortedKeys(d.PerCollector) {
			if i > 0 {
				fmt.Fprint(stdout, ", ")
			}
			fmt.Fprintf(stdout, "%s %d", c, d.PerCollector[c])
		}
		fmt.Fprintf(stdout, "): lost %d, duplicates %d\n", d.Lost, d.Duplicates)
	}
	for _, t := range res.Truth {
		fmt.Fprintf(stdout, "truth: %-16s %-15s %s .. %s  %s\n", t.Kind, t.Endpoint,
			t.Start.Format("15:04:05.000"), t.End.Format("15:04:05.000"), t.Effect)
	}
	fmt.Fprintf(stdout, "events lost: %d\n", res.Lost())
	fmt.Fprintf(stdout, "metrics: %s\ntopology: %s\ntruth: %s\n", res.StorePath, res.TopologyPath, res.TruthPath)
	if !res.End.IsZero() {
		fmt.Fprintf(stdout, "diagnose: vscope diagnose --store %s --topology %s --at %s --window %v\n",
			res.StorePath, res.TopologyPath, res.End.UTC().Format(time.RFC3339), max(res.End.Sub(res.Start).Round(time.Second), time.Minute))
	}
	if f.truth != "" {
		if err := faults.WriteTruth(f.truth, res.Truth); err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("--truth: %w", err))
		}
	}
	if runErr != nil {
		return runErr
	}
	if lost := res.Lost(); lost > 0 {
		return fmt.Errorf("%d events lost", lost)
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
