package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vscope/vscope/vscope/diagnose"
	"github.com/vscope/vscope/vscope/store"
)

// diagnoseOptions are the flags of `vscope diagnose`.
type diagnoseOptions struct {
	store, filter, at string
	topology          string
	confs             []string
	format, html      string
	o                 diagnose.Options
	alpha             float64
}

func newDiagnoseCmd() *cobra.Command {
	var d diagnoseOptions
	cmd := &cobra.Command{
		Use:   "diagnose [--window 10m] [--at TIME] [--filter agent=...]",
		Short: "Rank what is anomalous in a window of the metric store, and why",
		Long: `diagnose reads a window of metrics (default: the last 10 minutes) and a baseline (default: the
hour before it) from the metric store, learns normal behaviour from the baseline (PCA normal
subspace plus robust per-metric statistics), flags the time points beyond the SPE, T² and
largest-residual limits, and ranks the metrics most responsible, each with its score, the time it
left its normal range (onset) and the evidence.

Metrics are grouped into components (source, channel, sink of an agent; a host's cpu, memory,
disks; the agent process) and hosts. The flow topology separates cause from symptom: of the
anomalous components connected along the flow or on the same host, the one that changed first is
the cause; when two changed together, back-pressure (latency, channel fill, failures rising)
travels upstream, rate changes travel downstream, and a busy host slows what runs on it. The
topology within an agent is inferred from the metric names; between agents give it with --conf
(the agents' Flume files: forward/avro sinks are matched to the forward sources on their ports) or
--topology (JSON: {"edges": [{"from": "a1/k1", "to": "col/r1"}], "paths": [["a1/r1", "a1/c1",
"a1/k1", "col/r1"]]}; endpoints are agent/component or host/agent/component). Hosts that share
one machine's CPUs (VMs or containers on one node) are listed under "machines":
{"node-7": ["web-01", "col-01"]}; a host whose CPU use rose by a quarter of the machine then
explains the slowdown of the others' components (contention), after its own.

With fewer than --min-baseline points of baseline it falls back to robust z-scores per metric
and says so. The store file is opened read-only; while an agent or collector holds it for
writing, run diagnose once it stops (DuckDB allows one writer or many readers).`,
		Example: `  vscope diagnose --window 10m
  vscope diagnose --window 5m --at 2026-01-01T11:10:00Z --filter host=web-*
  vscope diagnose --conf tiers.conf --format json
  vscope diagnose --topology flow.json --html report.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiagnose(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), d)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&d.store, "store", "", storeFlagHelp)
	fl.DurationVar(&d.o.Window, "window", 10*time.Minute, "span diagnosed, ending at --at")
	fl.StringVar(&d.at, "at", "", "end of the window: RFC 3339, \"2006-01-02 15:04:05\" (UTC), unix ms, or a duration ago such as 5m (default now)")
	fl.DurationVar(&d.o.Baseline, "baseline", time.Hour, "span before the window that defines normal")
	fl.DurationVar(&d.o.Step, "step", time.Second, "alignment step of the window and baseline")
	fl.StringVar(&d.filter, "filter", "", "series to read: host=,agent=,component=,kind=,metric= globs, comma-separated")
	fl.StringVar(&d.topology, "topology", "", "flow topology, JSON file (see above)")
	fl.StringArrayVar(&d.confs, "conf", nil, "the agents' Flume properties files, for the flow topology (repeatable)")
	fl.StringVar(&d.format, "format", "table", "output: table or json")
	fl.StringVar(&d.html, "html", "", "also write a self-contained HTML report to this file")
	fl.IntVar(&d.o.Top, "top", 20, "ranked metrics to report")
	fl.IntVar(&d.o.BaselineRows, "baseline-rows", 0, "baseline points read and fitted: 0 = auto (all while points x series <= 4M, else at least 600 in evenly spread slices), -1 = all")
	fl.IntVar(&d.o.MinBaselineRows, "min-baseline", 30, "fewest baseline points for the multivariate model (below: univariate guidance)")
	fl.Float64Var(&d.alpha, "alpha", 0.01, "significance of the per-point limits")
	cmd.AddCommand(newDiagnoseGenCmd())
	return cmd
}

func runDiagnose(ctx context.Context, out, errOut io.Writer, d diagnoseOptions) error {
	switch d.format {
	case "table", "json":
	default:
		return fmt.Errorf("--format %q: want table or json", d.format)
	}
	o := d.o
	o.Analysis.Alpha = d.alpha
	var err error
	if o.Filter, err = store.ParseFilter(d.filter); err != nil {
		return fmt.Errorf("--filter: %w", err)
	}
	if o.At, err = parseAt(d.at, time.Now()); err != nil {
		return fmt.Errorf("--at %q: %w", d.at, err)
	}
	if d.topology != "" || len(d.confs) > 0 {
		o.Topology = &diagnose.Topology{}
	}
	if d.topology != "" {
		t, err := diagnose.ReadTopologyFile(d.topology)
		if err != nil {
			return fmt.Errorf("--topology: %w", err)
		}
		o.Topology.Merge(t)
	}
	if len(d.confs) > 0 {
		t, err := diagnose.TopologyFromFlume(d.confs...)
		if err != nil {
			return fmt.Errorf("--conf: %w", err)
		}
		o.Topology.Merge(t)
	}
	if err := o.Validate(); err != nil {
		return err
	}
	st, err := openStoreForDiagnose(ctx, d.store)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := diagnose.Run(ctx, st, o)
	if err != nil {
		return err
	}
	if d.html != "" {
		if err := writeFileWith(d.html, func(w io.Writer) error { return diagnose.WriteHTML(w, r) }); err != nil {
			return fmt.Errorf("--html: %w", err)
		}
	}
	if d.format == "json" {
		err = diagnose.WriteJSON(out, r)
	} else {
		err = diagnose.WriteTable(out, r)
	}
	return err
}

// openStoreForDiagnose opens a --store location for reading windows.
func openStoreForDiagnose(ctx context.Context, location string) (store.Store, error) {
	loc, err := store.ParseLocation(location)
	if err != nil {
		return nil, err
	}
	switch loc.Kind {
	case "collector":
		return nil, fmt.Errorf("--store %s: a collector only accepts points; diagnose reads the store file (once the collector stops) or VictoriaMetrics (vm+http://)", location)
	case "duckdb":
		if _, err := os.Stat(loc.Path); err != nil {
			return nil, fmt.Errorf("no metric store at %s (run an agent with --store, or vscope store serve): %w", loc.Path, err)
		}
		// A diagnosis only reads windows: DuckDB's own threads would only
		// spin beside the store's connections (docs/bench/diagnose.md).
		return store.OpenDuckDB(ctx, loc.Path, store.Options{ReadOnly: true, Threads: 1})
	}
	return store.Open(ctx, location, store.Options{ReadOnly: true})
}

// parseAt reads --at: empty is now; RFC 3339; "2006-01-02 15:04:05" in
// UTC; unix milliseconds; or a duration before now ("5m", "-5m").
func parseAt(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return now, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("want RFC 3339, \"2006-01-02 15:04:05\", unix ms, or a duration ago")
}

// writeFileWith writes a file through f, removing it if f fails.
func writeFileWith(path string, f func(io.Writer) error) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f(file); err != nil {
		file.Close()
		os.Remove(path)
		return err
	}
	return file.Close()
}

// newDiagnoseGenCmd is `vscope diagnose gen` (hidden): a synthetic store for
// docs/bench/diagnose.sh, shaped like the sampler's output.
func newDiagnoseGenCmd() *cobra.Command {
	var g diagnoseGen
	var end string
	cmd := &cobra.Command{
		Use:    "gen --store FILE --series N --end TIME",
		Short:  "Write a synthetic metric store to benchmark diagnose (bench only)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseAt(end, time.Now())
			if err != nil {
				return fmt.Errorf("--end %q: %w", end, err)
			}
			g.end = t
			return g.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&g.store, "store", "", "DuckDB file to create (must not exist)")
	fl.IntVar(&g.series, "series", 10000, "flow series (20 per agent; host series come on top: 6 per host of 5 agents)")
	fl.DurationVar(&g.span, "span", 70*time.Minute, "time covered, ending at --end")
	fl.StringVar(&end, "end", "", "end of the data (default now)")
	fl.DurationVar(&g.faultBefore, "fault-before-end", 400*time.Second, "agent 0's sink slows down this long before --end (0: no fault)")
	fl.Uint64Var(&g.seed, "seed", 1, "random seed")
	return cmd
}

type diagnoseGen struct {
	store       string
	series      int
	span        time.Duration
	end         time.Time
	faultBefore time.Duration
	seed        uint64
}

// run writes one sample per second: per agent a source, a channel and a
// sink with the sampler's metric names (rates following a shared daily
// load and a per-host drift, quantised latency quantiles, a constant
// capacity), per host cpu, memory and load.
func (g diagnoseGen) run(ctx context.Context, out io.Writer) error {
	if g.store == "" {
		return errors.New("--store: give a .duckdb file")
	}
	if _, err := os.Stat(g.store); err == nil {
		return fmt.Errorf("--store %s exists", g.store)
	}
	st, err := store.OpenDuckDB(ctx, g.store, store.Options{RawRetention: -1})
	if err != nil {
		return err
	}
	defer st.Close()
	agents := max(1, g.series/20)
	hosts := (agents + 4) / 5
	rng := rand.New(rand.NewPCG(g.seed, 99))
	b := &store.Batch{}
	names := []struct{ comp, kind, metric string }{
		{"r1", "source", "EventReceivedRate"}, {"r1", "source", "EventAcceptedRate"},
		{"r1", "source", "AppendBatchReceivedRate"}, {"r1", "source", "AppendBatchAcceptedRate"},
		{"r1", "source", "put_duration_p50_seconds"}, {"r1", "source", "put_duration_p99_seconds"},
		{"c1", "channel", "ChannelSize"}, {"c1", "channel", "ChannelFillPercentage"},
		{"c1", "channel", "ChannelCapacity"}, {"c1", "channel", "EventPutAttemptRate"},
		{"c1", "channel", "EventPutSuccessRate"}, {"c1", "channel", "EventTakeAttemptRate"},
		{"c1", "channel", "EventTakeSuccessRate"},
		{"k1", "sink", "EventDrainAttemptRate"}, {"k1", "sink", "EventDrainSuccessRate"},
		{"k1", "sink", "BatchCompleteRate"}, {"k1", "sink", "BatchEmptyRate"},
		{"k1", "sink", "ConnectionFailedRate"},
		{"k1", "sink", "batch_duration_p50_seconds"}, {"k1", "sink", "batch_duration_p99_seconds"},
	}
	hostNames := []struct{ comp, metric string }{
		{"cpu", "user_percent"}, {"cpu", "system_percent"}, {"cpu", "idle_percent"},
		{"cpu", "iowait_percent"}, {"memory", "used_bytes"}, {"load", "load1"},
	}
	base := make([]float64, agents)
	for a := range base {
		base[a] = 200 + 1800*rng.Float64()
	}
	drift := make([]float64, hosts)
	size := make([]float64, agents)
	secs := int(g.span / time.Second)
	start := g.end.Add(-g.span).Truncate(time.Second)
	faultAt := -1
	if g.faultBefore > 0 {
		faultAt = secs - int(g.faultBefore/time.Second)
	}
	bucket := func(v float64) float64 { // the sampler's histogram bounds, 18 per decade
		if v <= 0 {
			return 0
		}
		e := math.Pow(10, math.Floor(math.Log10(v)))
		step := e / 18 * 10
		return math.Ceil(v/step) * step
	}
	const capacity = 10000.0
	points := 0
	t0 := time.Now()
	for sec := range secs {
		ts := start.Add(time.Duration(sec)*time.Second).UnixMilli() + int64(rng.IntN(4))
		day := 1 + 0.3*math.Sin(2*math.Pi*float64(sec)/86400*24) // a compressed day: one cycle an hour
		for h := range drift {
			drift[h] += 0.002 * rng.NormFloat64()
			drift[h] *= 0.999
		}
		for a := range agents {
			host := fmt.Sprintf("host%04d", a/5)
			agent := fmt.Sprintf("a%05d", a)
			load := base[a] * day * (1 + drift[a/5])
			in := math.Max(0, load*(1+0.03*rng.NormFloat64()))
			lat := 0.004 * (1 + 0.2*load/2000)
			drain := in
			if faultAt >= 0 && a == 0 && sec >= faultAt {
				lat, drain = 0.5, 0.3*load
			}
			size[a] = math.Min(capacity, math.Max(0, size[a]+in-drain))
			if size[a] >= capacity {
				in = drain
			}
			fill := size[a] + 20*rng.Float64()
			vals := [20]float64{
				in, in, in / 100, in / 100, bucket(0.0004 * (1 + 0.3*rng.Float64())), bucket(0.0009 * (1 + 0.5*rng.Float64())),
				math.Round(fill), 100 * fill / capacity, capacity, in, in, drain * 1.1, drain,
				drain, drain, drain / 100, 0.5 * rng.Float64(), 0,
				bucket(lat * (0.5 + 0.1*rng.Float64())), bucket(lat * (1 + 0.3*rng.Float64())),
			}
			for i, n := range names {
				b.Add(b.SeriesRef(store.Series{Host: host, Agent: agent, Component: n.comp, Kind: n.kind, Metric: n.metric}), ts, vals[i])
			}
		}
		for h := range hosts {
			host := fmt.Sprintf("host%04d", h)
			u := math.Max(0, 25*day*(1+drift[h])+3*rng.NormFloat64())
			vals := [6]float64{u, 5 + rng.Float64(), math.Max(0, 95-u-5), rng.Float64(), 4e9 + 1e7*rng.NormFloat64(), 1 + u/25 + 0.1*rng.NormFloat64()}
			for i, n := range hostNames {
				b.Add(b.SeriesRef(store.Series{Host: host, Component: n.comp, Kind: "host", Metric: n.metric}), ts, vals[i])
			}
		}
		if b.Len() >= 1_000_000 || sec == secs-1 {
			if err := st.Append(ctx, b); err != nil {
				return err
			}
			points += b.Len()
			b.Reset()
		}
	}
	if err := st.Checkpoint(ctx); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(out, "wrote %d points of %d series (%d agents, %d hosts) from %s to %s in %.1f s\n",
		points, agents*len(names)+hosts*len(hostNames), agents, hosts, start.UTC().Format(time.RFC3339),
		g.end.UTC().Format(time.RFC3339), time.Since(t0).Seconds())
	return nil
}
