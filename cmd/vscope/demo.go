package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"

	"github.com/vscope/vscope/datasets/faults"
	"github.com/vscope/vscope/datasets/scenario"
	"github.com/vscope/vscope/datasets/webstore"
	"github.com/vscope/vscope/vscope/diagnose"
)

// demoOptions are the flags of vscope demo.
type demoOptions struct {
	format   string
	fault    string
	speed    float64
	dir      string
	html     string
	seed     uint64
	progress string
	exe      string
}

// The demo's timeline, in log time: the agents settle, the baseline, the
// fault, a little after.
const (
	demoWarmup = time.Minute
	demoLead   = 4 * time.Minute
	demoFault  = 3 * time.Minute
	demoAfter  = 30 * time.Second
)

func newDemoCmd() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Replay web store logs through a local 3-tier flow, break something, and diagnose it",
		Long: `demo runs the whole story on this machine, on embedded defaults (no server, no flags):

  1. a 3-tier flow on 127.0.0.1, every agent a process of its own: 2 web servers' agents
     (http source -> memory channel -> forward sink) -> 2 collectors (forward source -> file
     channel -> Parquet files), sampling their metrics every 250 ms into a DuckDB store;
  2. 8m30s of the web store data centre's logs replayed through it at 10x (about 50 s);
  3. one fault injected into the running flow (default: col-01's Parquet sink slowed by 300 ms
     per batch) from 5m to 8m of log time, written down as ground truth;
  4. vscope diagnose over the fault's window with the 4 minutes before it as baseline: the
     ranked metrics and components, the truth beside them, and an HTML report.

--fault takes any fault of vscope replay --fault (without start and dur: the demo sets them), e.g.
cpu_interference@web-01, tiny_channel@col-02, gc_storm@web-02, net_delay@web-01,delay=150ms.
--format json prints the truth, the ranking and the components as JSON.`,
		Example: `  vscope demo
  vscope demo --fault gc_storm@web-02
  vscope demo --format json | jq '.truth.component, .ranking[0]'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "table", "output: table or json")
	f.StringVar(&o.fault, "fault", "slow_sink@col-01/k1,delay=300ms", "the fault injected (vscope replay --fault, without start and dur)")
	f.Float64Var(&o.speed, "speed", 10, "replay speed (log time per wall time)")
	f.StringVar(&o.dir, "dir", "", "run directory (default: a new one under the temp dir; kept)")
	f.StringVar(&o.html, "html", "", "HTML report (default: report.html in the run directory)")
	f.Uint64Var(&o.seed, "seed", 1, "web store seed")
	f.StringVar(&o.progress, "progress", "auto", "replay progress: auto (a bar on a terminal), bar, lines or none")
	f.StringVar(&o.exe, "exe", "", "binary run as the flow's agents (default: this one)")
	_ = f.MarkHidden("exe")
	return cmd
}

// demoSpec is the fault of --fault with the demo's start and duration.
func demoSpec(s string) (faults.Spec, error) {
	if strings.Contains(s, "start=") || strings.Contains(s, "dur=") {
		return faults.Spec{}, fmt.Errorf("--fault %q: leave out start and dur, the demo sets them (+%v, %v)", s, demoWarmup+demoLead, demoFault)
	}
	kind, rest, _ := strings.Cut(s, "@")
	target, params, _ := strings.Cut(rest, ",")
	spec := fmt.Sprintf("%s@%s,start=+%v,dur=%v", kind, target, demoWarmup+demoLead, demoFault)
	if params != "" {
		spec += "," + params
	}
	sp, err := faults.ParseSpec(spec)
	if err != nil {
		return faults.Spec{}, fmt.Errorf("--fault: %w", err)
	}
	return sp, nil
}

// demoResult is the JSON of vscope demo --format json.
type demoResult struct {
	Truth      faults.Truth               `json:"truth"`
	Correct    bool                       `json:"correct"`
	Rank       int                        `json:"rank"`
	Ranking    []demoMetric               `json:"ranking"`
	Components []diagnose.ComponentResult `json:"components"`
	Summary    []string                   `json:"summary"`
	Events     demoEvents                 `json:"events"`
	Report     string                     `json:"report"`
	Dir        string                     `json:"dir"`
	Seconds    float64                    `json:"seconds"`
}

type demoMetric struct {
	Rank      int     `json:"rank"`
	Metric    string  `json:"metric"`
	Component string  `json:"component"`
	Agent     string  `json:"agent"`
	Host      string  `json:"host"`
	Score     float64 `json:"score"`
	Role      string  `json:"role"`
	Expected  bool    `json:"expected"` // among the truth's metrics
}

type demoEvents struct {
	Sent       int64 `json:"sent"`
	Acked      int64 `json:"acked"`
	Parquet    int64 `json:"parquet_rows"`
	Lost       int64 `json:"lost"`
	Duplicates int64 `json:"duplicates"`
}

func runDemo(ctx context.Context, out, msg io.Writer, o demoOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	t0 := time.Now()
	if o.format != "table" && o.format != "json" {
		return fmt.Errorf("--format %q: want table or json", o.format)
	}
	if o.speed <= 0 {
		return fmt.Errorf("--speed %g: want more than 0", o.speed)
	}
	spec, err := demoSpec(o.fault)
	if err != nil {
		return err
	}
	exe := o.exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("cannot find this executable to run the agents: %w", err)
		}
	}
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "vscope-demo-"); err != nil {
			return err
		}
	} else if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("--dir %s is not empty", dir)
	}
	report := o.html
	if report == "" {
		report = filepath.Join(dir, "report.html")
	}
	// In JSON mode the story goes to stderr, so stdout is only the JSON.
	say := out
	if o.format == "json" {
		say = msg
	}
	progress := o.progress
	if o.format == "json" && progress == "auto" {
		progress = "none"
	}
	rep, err := newReporter(say, progress)
	if err != nil {
		return err
	}

	total := demoWarmup + demoLead + demoFault + demoAfter
	ws := webstore.NewConfig(total)
	ws.Seed = o.seed
	ws.WebHosts = 2
	cfg := scenario.Config{Warmup: demoWarmup, Lead: demoLead, Dur: demoFault, After: demoAfter, Speed: o.speed}
	sc := faults.Scenario{
		Flow: faults.FlowConfig{
			Dir: dir, Collectors: 2, Command: []string{exe, "replay", "member"},
			SampleInterval: 250 * time.Millisecond, Retry: time.Minute, Logger: slog.New(slog.DiscardHandler),
		},
		Webstore: &ws, Speed: o.speed, Faults: []faults.Spec{spec}, Verify: true,
	}
	if rep != nil {
		sc.Replay.Progress = rep.Update
	}
	sc.OnStart = func(fl *faults.Flow) {
		fmt.Fprintf(say, "vscope demo: a 3-tier flow on 127.0.0.1, every agent its own process\n")
		fmt.Fprintf(say, "  web servers %s (http -> memory -> forward) -> collectors %s (forward -> file channel -> Parquet)\n",
			strings.Join(faults.WebHosts(ws.WebHosts), " "), strings.Join(fl.Collectors(), " "))
		fmt.Fprintf(say, "  replaying %v of web store logs (seed %d) at %gx: about %v\n", total, o.seed, o.speed,
			time.Duration(float64(total)/o.speed).Round(time.Second))
		fmt.Fprintf(say, "  fault at +%v for %v: %s\n", demoWarmup+demoLead, demoFault, spec)
		fmt.Fprintf(say, "  run directory %s\n\n", fl.Dir())
	}
	res, runErr := faults.Run(ctx, sc)
	if res == nil {
		return runErr
	}
	if len(res.Truth) == 0 {
		return errors.Join(runErr, errors.New("the fault was not injected: no truth recorded"))
	}
	tr := res.Truth[0]
	ev := demoEvents{Sent: res.Replay.Sent, Acked: res.Route.Acked, Lost: res.Lost()}
	if d := res.Delivery; d != nil {
		ev.Parquet, ev.Duplicates = d.Rows, d.Duplicates
	}
	d, err := scenario.Diagnose(ctx, cfg, res, tr)
	if err != nil {
		return errors.Join(runErr, err)
	}
	var run scenario.Run
	scenario.Score(d, []faults.Truth{tr}, tr.Metrics, &run)
	if err := writeReport(report, d); err != nil {
		return errors.Join(runErr, err)
	}
	dr := demoResult{
		Truth: tr, Correct: run.Correct, Rank: run.Rank, Components: d.Components, Summary: d.Summary,
		Events: ev, Report: report, Dir: res.Dir,
	}
	expected := map[string]bool{}
	for _, m := range tr.Metrics {
		expected[m.Host+"/"+m.Agent+"/"+m.Component+"/"+m.Metric] = true
	}
	for _, m := range d.Ranking {
		dr.Ranking = append(dr.Ranking, demoMetric{Rank: m.Rank, Metric: m.Metric, Component: m.Component, Agent: m.Agent,
			Host: m.Host, Score: m.Score, Role: m.Role, Expected: expected[m.Host+"/"+m.Agent+"/"+m.Component+"/"+m.Metric]})
	}
	dr.Seconds = time.Since(t0).Round(100 * time.Millisecond).Seconds()
	if o.format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(dr); err != nil {
			return err
		}
	} else {
		writeDemo(out, d, dr)
	}
	if runErr != nil {
		return runErr
	}
	if ev.Lost > 0 {
		return fmt.Errorf("%d events lost", ev.Lost)
	}
	return nil
}

func writeReport(path string, d *diagnose.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	if err := diagnose.WriteHTML(f, d); err != nil {
		f.Close()
		return fmt.Errorf("--html %s: %w", path, err)
	}
	return f.Close()
}

// writeDemo prints the diagnosis with the truth beside it.
func writeDemo(w io.Writer, d *diagnose.Result, dr demoResult) {
	ev := dr.Events
	fmt.Fprintf(w, "\nreplayed %d log lines: %d acknowledged by the web servers' agents, %d rows in the Parquet files, %d lost, %d duplicates\n\n",
		ev.Sent, ev.Acked, ev.Parquet, ev.Lost, ev.Duplicates)
	fmt.Fprintf(w, "vscope diagnose: window %s .. %s (the fault's %v of log time), baseline the %v before\n\n",
		d.Window.From.Format("15:04:05"), d.Window.To.Format("15:04:05"), demoFault, demoLead)
	for _, s := range d.Summary {
		fmt.Fprintf(w, "  %s\n", s)
	}
	fmt.Fprintln(w)
	t := demoTable(w)
	t.Header("Rank", "Component", "Host", "Role", "Score", "Onset", "Why")
	rows := min(len(d.Components), 5)
	for i, c := range d.Components[:rows] {
		mark := ""
		if scenario.Matches(dr.Truth, c) {
			mark = "  <- the injected fault"
		}
		onset := "-"
		if c.Onset != nil {
			onset = c.Onset.Format("15:04:05")
		}
		_ = t.Append([]string{fmt.Sprint(i + 1), componentLabel(c.Agent, c.Component) + mark, c.Host, c.Role, fmt.Sprintf("%.1f", c.Score), onset, c.Why})
	}
	_ = t.Render()
	fmt.Fprintln(w)
	m := demoTable(w)
	m.Header("Rank", "Metric", "Component", "Host", "Score", "Truth")
	for _, r := range dr.Ranking[:min(len(dr.Ranking), 10)] {
		exp := ""
		if r.Expected {
			exp = "expected"
		}
		_ = m.Append([]string{fmt.Sprint(r.Rank), r.Metric, componentLabel(r.Agent, r.Component),
			r.Host, fmt.Sprintf("%.1f", r.Score), exp})
	}
	_ = m.Render()
	tr := dr.Truth
	fmt.Fprintf(w, "\ntruth:   %s on %s, %s .. %s: %s\n", tr.Kind, tr.Endpoint, tr.Start.Format("15:04:05"), tr.End.Format("15:04:05"), tr.Effect)
	switch {
	case dr.Rank == 1:
		fmt.Fprintf(w, "verdict: right, the injected fault's component is ranked first\n")
	case dr.Rank > 1:
		fmt.Fprintf(w, "verdict: the injected fault's component is ranked %d\n", dr.Rank)
	default:
		fmt.Fprintf(w, "verdict: the injected fault's component is not among the %d ranked\n", len(d.Components))
	}
	fmt.Fprintf(w, "report:  %s\n", dr.Report)
	fmt.Fprintf(w, "again:   vscope diagnose --store %s --topology %s --at %s --window %v --baseline %v --step 250ms\n",
		filepath.Join(dr.Dir, "metrics.duckdb"), filepath.Join(dr.Dir, "topology.json"),
		tr.End.UTC().Format(time.RFC3339Nano), tr.End.Sub(tr.Start).Round(time.Millisecond), d.Window.From.Sub(d.Baseline.From).Round(time.Millisecond))
	fmt.Fprintf(w, "took %.0f s\n", dr.Seconds)
}

func componentLabel(agent, component string) string {
	if agent == "" {
		return component
	}
	return agent + "/" + component
}

// demoTable is a table whose long cells wrap at 60 columns.
func demoTable(w io.Writer) *tablewriter.Table {
	return tablewriter.NewWriter(w).Options(tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNormal), tablewriter.WithRowMaxWidth(60))
}
