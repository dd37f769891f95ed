package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vscope/vscope/agent/monitor"
	"github.com/vscope/vscope/dpg/sim"
	"github.com/vscope/vscope/vscope/store"
)

func newDPGSimulateCmd() *cobra.Command {
	var (
		cfg    sim.Config
		format string
	)
	cmd := &cobra.Command{
		Use:   "simulate --hosts N [--duration 5m] [--fault-host I]",
		Short: "Measure the bytes a DPG ships against shipping every sample, on a simulated fleet with a planted fault",
		Long: `Simulate N hosts of 'vscope dpg synth' (two log-shipping agents each, 161 series per host, sampled
every second) with a slow sink planted on one host's app agent (its batch p99 eight times its level,
its drain rate 30% down) after two thirds of the run. The same samples are monitored twice, through
the watch operators' own code and message encoding (dpg/watch in a mesh that counts every message):
with the DPG the planner chooses (or --option), and centralized, every sample shipped to the root,
which runs the leaves' detector on all of them. Also measured: the metric store's wire format for
every sample (Arrow IPC, one batch per host per second, as agents post with --store http://), and
a floor of 16 bytes a sample. Prints each path's bytes, whether its root names the planted
component first, the detection delay, and the false alarms.`,
		Example: `  vscope dpg simulate --hosts 1000
  vscope dpg simulate --hosts 200 --duration 10m --option hierarchical:16 --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Hosts < 2 {
				return fmt.Errorf("--hosts %d: want at least 2", cfg.Hosts)
			}
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			if cfg.Duration < 2*time.Minute {
				return fmt.Errorf("--duration %v: want at least 2m (the detectors fit on the first minute)", cfg.Duration)
			}
			if cfg.FaultHost < 0 {
				cfg.FaultHost = cfg.Hosts * 417 / 1000
			}
			cfg.Store = storeRoundTrip()
			dpgPlan, central, err := sim.Plans(cmd.Context(), cfg.Hosts, cfg.Option, cfg.Seed)
			if err != nil {
				return err
			}
			res, err := sim.Run(cmd.Context(), cfg, dpgPlan, central)
			if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return writeSimTable(cmd.OutOrStdout(), res)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&cfg.Hosts, "hosts", 1000, "simulated hosts")
	fl.DurationVar(&cfg.Duration, "duration", 5*time.Minute, "simulated time")
	fl.DurationVar(&cfg.FaultAfter, "fault-after", 0, "when the slow sink starts (default two thirds of --duration)")
	fl.IntVar(&cfg.FaultHost, "fault-host", -1, "index of the faulty host (default 41.7% of --hosts)")
	fl.StringVar(&cfg.Option, "option", "", "DPG option, e.g. hierarchical:32 (default: the planner's choice)")
	fl.StringArrayVar(&cfg.Overrides, "set", nil, "override a field of every watch node, e.g. detect.threshold=6")
	fl.Uint64Var(&cfg.Seed, "seed", 1, "random seed of the topology and the samples")
	fl.StringVar(&format, "format", "table", "table or json")
	return cmd
}

// storeRoundTrip ships one host's sample as agents ship it to a
// collector store: one Arrow IPC stream per sample interval, as --store
// http:// posts. Every 100th stream is also decoded as the collector does
// and checked against what was sent; the root sees the points as sent
// (decoding all of them would double the run for no information: the
// format is lossless, which the checks confirm).
func storeRoundTrip() func([]monitor.Point) (int, []monitor.Point, error) {
	var buf bytes.Buffer
	b := &store.Batch{}
	n := 0
	return func(pts []monitor.Point) (int, []monitor.Point, error) {
		b.Reset()
		for _, p := range pts {
			b.Add(b.SeriesRef(store.Series{Host: p.Host, Agent: p.Agent, Component: p.Component, Kind: p.Kind, Metric: p.Metric}), p.TS, p.Value)
		}
		buf.Reset()
		if err := store.EncodeIPC(&buf, b); err != nil {
			return 0, nil, err
		}
		if n++; n%100 == 1 {
			got, err := store.DecodeIPCBytes(buf.Bytes())
			if err != nil {
				return 0, nil, err
			}
			back := got.Points()
			if len(back) != len(pts) {
				return 0, nil, fmt.Errorf("store round trip: %d points sent, %d decoded", len(pts), len(back))
			}
			for i, p := range back {
				if monitor.Point(p) != pts[i] {
					return 0, nil, fmt.Errorf("store round trip: point %d sent %+v, decoded %+v", i, pts[i], p)
				}
			}
		}
		return buf.Len(), pts, nil
	}
}

func writeSimTable(out io.Writer, r *sim.Result) error {
	hostSec := float64(r.Hosts) * r.Seconds
	fmt.Fprintf(out, "%d hosts x %d series, %.0f s simulated: %d samples; fault: slow sink %s/%s/%s from %s\n\n",
		r.Hosts, r.Series, r.Seconds, r.Samples, r.Fault.Host, r.Fault.Agent, r.Fault.Component,
		time.UnixMilli(r.Fault.At).UTC().Format("15:04:05"))
	var rows [][]string
	for _, p := range []sim.Path{r.Central, r.DPG} {
		var kinds []string
		for _, k := range []string{"store", "samples", "summary", "raw"} {
			if b, ok := p.Bytes[k]; ok {
				kinds = append(kinds, fmt.Sprintf("%s %s in %d", k, humanBytes(b), p.Messages[k]))
			}
		}
		top := "none"
		if len(p.Findings) > 0 {
			f := p.Findings[0]
			top = fmt.Sprintf("%s %s (%.0f)", f.Key(), f.Metric, f.Score)
		}
		found := "no"
		if p.Found {
			found = fmt.Sprintf("yes, after %.0f s", p.DelaySeconds)
		}
		rows = append(rows, []string{p.Name, p.Plan, strconv.Itoa(p.Nodes), strings.Join(kinds, ", "), humanBytes(p.Total),
			fmt.Sprintf("%.1f", p.PerHostPerSecond), top, found, strconv.Itoa(p.FalseAlarms), fmt.Sprintf("%.1f", p.WallSeconds)})
	}
	if err := writeRows(out, "table", []string{"PATH", "PLAN", "NODES", "MESSAGES", "BYTES", "B/HOST/S", "ROOT'S TOP FINDING", "FAULT FOUND", "FALSE ALARMS", "WALL S"}, rows); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nevery sample to one store: Arrow IPC as agents post it %s (%.0f B/host/s); floor at 16 B/sample %s (%.0f B/host/s)\n",
		humanBytes(r.StoreWire), float64(r.StoreWire)/hostSec, humanBytes(r.Floor16), float64(r.Floor16)/hostSec)
	fmt.Fprintf(out, "DPG ships %.1fx less than the store's wire format, %.1fx less than the 16 B/sample floor\n", r.Ratio, r.RatioFloor)
	return nil
}

func humanBytes(b int64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(b)/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.2f MB", float64(b)/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(b)/1e3)
	}
	return fmt.Sprintf("%d B", b)
}
