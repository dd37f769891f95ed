package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vscope/vscope/datasets/faults"
	"github.com/vscope/vscope/datasets/scenario"
)

// suiteOptions are the flags of `vscope eval suite`.
type suiteOptions struct {
	format     string
	quick      bool
	runs       int
	seeds      []uint
	kinds      []string
	placements []string
	speed      float64
	webHosts   int
	collectors int
	dir        string
	keep       bool
	noTTD      bool
	pairs      bool
	exe        string
	rescore    string
}

func newEvalSuiteCmd() *cobra.Command {
	var o suiteOptions
	cmd := &cobra.Command{
		Use:   "suite",
		Short: "Run the fault-injection scenario suite and score the diagnosis against the truth",
		Long: `suite runs scenarios of fault kind x placement (tier1: on web-01, collector: on col-01) x seed.
Each starts the local 3-tier flow (--web-hosts web servers -> --collectors collectors, 2 and 2
by default, agents as processes, as vscope replay --flow local), replays web store logs at --speed (2m of baseline, the fault for 2m,
30s after), then diagnoses the fault window with the stretch before it as baseline and compares
with the fault's truth: AC@1 and AC@3 for the root-cause component (host/agent/component as the
truth names it, or one of its accepted alternatives), Avg@5 and HitRate@150% for the ranked
metrics against the truth's expected metrics that moved in the run, by signal (p50 and p99 of
one histogram, a source's received and accepted events count once; avg5_series: every expected
metric by series name), and the time from the fault's start to a correct top-1 (diagnoses over
growing windows). A run takes about 20-40 s.

--quick runs 8 kinds (the ones acting on the flow) at the collector placement with seed 1.
Without it: every kind at both placements (flash_crowd and error_storm only on a web server,
collector_crash only on a collector) for each of --seeds. --runs N stops after N runs.

--pairs injects two faults in each run: the case's own on web-01 or col-01, and a second one of
another kind on web-02 or col-02, 30 s of log time later (each kind meets other partners under
other seeds). AC@1 is then whether the first component is either fault's cause, AC@3 the share
of the two found among the first three components; the metrics are scored against both truths.`,
		Example: `  vscope eval suite --quick
  vscope eval suite --seeds 1,2,3 --format json > suite.json
  vscope eval suite --kinds slow_sink,gc_storm --placements collector
  vscope eval suite --web-hosts 3 --collectors 3 --seeds 7
  vscope eval suite --pairs --seeds 4 --keep --dir /tmp/pairs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvalSuite(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	f.BoolVar(&o.quick, "quick", false, "8 fault kinds x the collector placement x seed 1")
	f.IntVar(&o.runs, "runs", 0, "stop after this many runs (0: all)")
	f.UintSliceVar(&o.seeds, "seeds", []uint{1, 2, 3}, "web store seeds")
	f.StringSliceVar(&o.kinds, "kinds", nil, "fault kinds (default: all)")
	f.StringSliceVar(&o.placements, "placements", []string{scenario.Tier1, scenario.Collector}, "placements: tier1, collector")
	f.Float64Var(&o.speed, "speed", 10, "replay speed")
	f.IntVar(&o.webHosts, "web-hosts", 2, "web servers (tier-1 agents) in the flow")
	f.IntVar(&o.collectors, "collectors", 2, "collectors in the flow")
	f.StringVar(&o.dir, "dir", "", "parent of the run directories (default: a new one under the temp dir)")
	f.BoolVar(&o.keep, "keep", false, "keep the run directories (stores, truth, topology)")
	f.BoolVar(&o.noTTD, "no-ttd", false, "skip the time to a correct top-1 (the growing-window diagnoses)")
	f.BoolVar(&o.pairs, "pairs", false, "two faults per run: a second of another kind on the second host (web-02, col-02)")
	f.StringVar(&o.exe, "exe", "", "binary run as the flow's agents (default: this one)")
	f.StringVar(&o.rescore, "rescore", "", "diagnose the runs kept under this directory (--keep) again instead of running new ones")
	_ = f.MarkHidden("exe")
	return cmd
}

func runEvalSuite(ctx context.Context, out, msg io.Writer, o suiteOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.format != "table" && o.format != "json" {
		return fmt.Errorf("--format %q: want table or json", o.format)
	}
	if o.rescore != "" {
		return rescoreSuite(ctx, out, msg, o)
	}
	kinds := faults.Kinds
	placements := o.placements
	seeds := make([]uint64, len(o.seeds))
	for i, s := range o.seeds {
		seeds[i] = uint64(s)
	}
	if len(o.kinds) > 0 {
		kinds = nil
		for _, k := range o.kinds {
			kind := faults.Kind(strings.TrimSpace(k))
			if !kindKnown(kind) {
				return fmt.Errorf("--kinds: unknown kind %q", k)
			}
			kinds = append(kinds, kind)
		}
	}
	for _, p := range placements {
		if p != scenario.Tier1 && p != scenario.Collector {
			return fmt.Errorf("--placements: %q: want tier1 or collector", p)
		}
	}
	if o.quick {
		kinds = faults.Kinds[:8]
		placements = []string{scenario.Collector}
		seeds = []uint64{1}
	}
	cases := scenario.Cases(kinds, placements, seeds)
	if o.pairs {
		cases = scenario.Pairs(kinds, placements, seeds)
	}
	if o.runs > 0 && o.runs < len(cases) {
		cases = cases[:o.runs]
	}
	if len(cases) == 0 {
		return fmt.Errorf("no scenario: kinds %v x placements %v", kinds, placements)
	}
	exe := o.exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("cannot find this executable to run the agents: %w", err)
		}
	}
	dir := o.dir
	if dir == "" {
		dir = scenario.RunDir()
	}
	if o.webHosts < 1 || o.collectors < 1 {
		return fmt.Errorf("--web-hosts %d, --collectors %d: want at least 1 of each", o.webHosts, o.collectors)
	}
	cfg := scenario.Config{Command: []string{exe, "replay", "member"}, Dir: dir, Speed: o.speed,
		WebHosts: o.webHosts, Collectors: o.collectors, Logger: slog.New(slog.DiscardHandler)}
	if o.noTTD {
		cfg.TTDStep = -1
	}
	fmt.Fprintf(msg, "suite: %d runs under %s\n", len(cases), dir)
	var runs []scenario.Run
	for i, c := range cases {
		if ctx.Err() != nil {
			break
		}
		r := scenario.RunCase(ctx, cfg, c)
		runs = append(runs, r)
		mark := "miss"
		if r.Correct {
			mark = "ok"
		}
		fmt.Fprintf(msg, "[%d/%d] %-30s truth %-16s top3 %s  %s (%.0fs)%s\n", i+1, len(cases), c, runTruth(r),
			strings.Join(r.Top3, " "), mark, r.Seconds, errSuffix(r.Err))
		if !o.keep && r.Dir != "" {
			os.RemoveAll(r.Dir)
			r.Dir = ""
			runs[len(runs)-1].Dir = ""
		}
	}
	if !o.keep {
		os.Remove(dir)
	}
	return writeSuite(out, o.format, scenario.Summarize(runs))
}

// runTruth is a run's truth for a progress line: its endpoint, or a
// pair's two with the rank each was found at.
func runTruth(r scenario.Run) string {
	if len(r.Truths) < 2 {
		return r.Truth
	}
	var parts []string
	for i, t := range r.Truths {
		parts = append(parts, fmt.Sprintf("%s(#%d)", t, r.Ranks[i]))
	}
	return strings.Join(parts, " ")
}

// rescoreSuite diagnoses the kept runs under o.rescore again.
func rescoreSuite(ctx context.Context, out, msg io.Writer, o suiteOptions) error {
	dirs, err := scenario.KeptRuns(o.rescore)
	if err != nil {
		return fmt.Errorf("--rescore: %w", err)
	}
	if len(dirs) == 0 {
		return fmt.Errorf("--rescore %s: no kept runs (directories with %s) there", o.rescore, "scenario.json")
	}
	cfg := scenario.Config{Speed: o.speed}
	if o.noTTD {
		cfg.TTDStep = -1
	}
	var runs []scenario.Run
	for i, d := range dirs {
		if ctx.Err() != nil {
			break
		}
		r := scenario.Rescore(ctx, cfg, d)
		runs = append(runs, r)
		mark := "miss"
		if r.Correct {
			mark = "ok"
		}
		fmt.Fprintf(msg, "[%d/%d] %-30s truth %-16s top3 %s  %s%s\n", i+1, len(dirs), filepath.Base(d), runTruth(r),
			strings.Join(r.Top3, " "), mark, errSuffix(r.Err))
	}
	return writeSuite(out, o.format, scenario.Summarize(runs))
}

func writeSuite(out io.Writer, format string, s scenario.Summary) error {
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	fmt.Fprintf(out, "%-17s %-9s %4s  %-18s %-50s %4s %5s %5s %6s\n", "fault", "placement", "seed", "truth", "top-3 components", "rank", "avg5", "hr150", "ttd_s")
	for _, r := range s.Details {
		fmt.Fprintf(out, "%-17s %-9s %4d  %-18s %-50s %4d %5.2f %5.2f %6.1f%s\n", r.Fault, r.Placement, r.Seed, runTruth(r),
			strings.Join(r.Top3, " "), r.Rank, r.Avg5, r.HitRate150, r.TTD, errSuffix(r.Err))
	}
	fmt.Fprintf(out, "runs %d (errors %d): AC@1 %.3f  AC@3 %.3f  Avg@5 %.3f (by series name %.3f)  HitRate@150%% %.3f  time to a correct top-1: median %.1fs (%d runs)\n",
		s.Runs, s.Errors, s.AC1, s.AC3, s.Avg5, s.Avg5Series, s.HitRate150, s.TTDMedian, s.TTDFound)
	return nil
}

func kindKnown(k faults.Kind) bool {
	for _, x := range faults.Kinds {
		if x == k {
			return true
		}
	}
	return false
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	if len(e) > 120 {
		e = e[:120] + "..."
	}
	return "  error: " + e
}
