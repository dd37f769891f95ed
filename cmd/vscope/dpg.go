package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vscope/vscope/dpg/cost"
	"github.com/vscope/vscope/dpg/model"
	"github.com/vscope/vscope/dpg/planner"
)

func newDPGCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dpg",
		Short: "Plan Distributed Processing Graphs of watch nodes on running flows",
		Long: `A DPG is a tree of watch nodes (filter, detect, aggregate, forward) placed on the hosts of the
flows, from every host's metrics to the analysis root. 'vscope dpg plan' chooses the topology and
placement that cost least under the hosts' and links' capacities, and says why. 'vscope dpg
deploy' runs a plan's watch nodes in the agents through their control APIs (vscope agent
--control), 'vscope dpg status' shows them, 'vscope dpg undeploy' removes them.`,
	}
	cmd.AddCommand(newDPGPlanCmd(), newDPGSynthCmd(), newDPGDeployCmd(), newDPGStatusCmd(), newDPGUndeployCmd(), newDPGNodeCmd(), newDPGSimulateCmd())
	return cmd
}

type dpgPlanFlags struct {
	topology, format, weights, config, method, planOut string
	fanOuts                                            []int
	options                                            []string
}

func newDPGPlanCmd() *cobra.Command {
	f := dpgPlanFlags{}
	cmd := &cobra.Command{
		Use:   "plan --topology FILE [--format table|json|dot] [--weights bytes=1,cpu=1,...]",
		Short: "Choose the DPG topology and placement of least cost, with the options' cost breakdown",
		Long: `Plan a DPG for a topology file (hosts, racks, sites, agents, components and their metric series,
flows, links, capacities, deployed watch nodes; the format is in dpg/doc.go and examples are in
dpg/testdata). Every option is planned: centralized (raw samples to the root), hierarchical with
fan-out k (summaries merged up a tree), per-flow with fan-out k (a tree per flow, alarms confirmed
by the flow's root), and reuse of the deployed DPG. Small instances (up to 12 hosts per tree) are
placed exactly, larger ones by a locality heuristic with local search.

The table lists, per option, its depth, watch nodes, the monitoring bytes leaving hosts and
entering the root, the weighted cost terms (bytes over links times their cost, CPU, memory,
detection delay, nodes) and the constraints it breaks; then why the chosen option wins. An option
that breaks a hard constraint (a host's CPU, memory or ingest capacity, a link's monitoring
budget) is refused, naming the constraint; when every option is refused the exit status is 1.

--format json prints the options and the chosen plan's nodes with their operators; --format dot
prints the chosen plan for Graphviz. --plan FILE also writes the chosen plan as JSON.

Weights: bytes (per MB/s times link cost), cpu (per core), memory (per GiB), delay (per second),
node (per watch node deployed). --config FILE is a JSON planner configuration (weights, operators,
link_share, reuse_factor, fan_outs, reuse_fan_out, method, exact_max_units); flags override it.`,
		Example: `  vscope dpg plan --topology dpg/testdata/two-tier.json
  vscope dpg plan --topology dc.json --weights delay=0.1,node=0 --format json
  vscope dpg plan --topology dc.json --format dot | dot -Tsvg > dpg.svg
  vscope dpg synth --hosts 1000 > dc.json && vscope dpg plan --topology dc.json --option hierarchical:32`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDPGPlan(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.topology, "topology", "", "JSON topology file (required)")
	fl.StringVar(&f.format, "format", "table", "output: table, json or dot")
	fl.StringVar(&f.weights, "weights", "", "cost weights, e.g. bytes=1,cpu=1,memory=0.1,delay=0.01,node=0.0005")
	fl.StringVar(&f.config, "config", "", "JSON planner configuration file")
	fl.StringVar(&f.method, "method", "", "placement: auto (exact when small), exact or heuristic")
	fl.IntSliceVar(&f.fanOuts, "fan-outs", nil, "fan-outs to try (default 4,8,16,32,64,128)")
	fl.StringArrayVar(&f.options, "option", nil, "plan only this option (repeatable): centralized, hierarchical:K, per-flow:K, reuse")
	fl.StringVar(&f.planOut, "plan", "", "also write the chosen plan as JSON to this file")
	_ = cmd.MarkFlagRequired("topology")
	return cmd
}

// dpgConfig builds the planner configuration from --config and the flags.
func dpgConfig(f dpgPlanFlags) (planner.Config, error) {
	cfg := planner.DefaultConfig()
	if f.config != "" {
		b, err := os.ReadFile(f.config)
		if err != nil {
			return cfg, err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("--config %s: %w", f.config, err)
		}
	}
	if f.weights != "" {
		if err := cost.ParseWeights(f.weights, &cfg.Weights); err != nil {
			return cfg, fmt.Errorf("--weights: %w", err)
		}
	}
	if f.method != "" {
		cfg.Method = f.method
	}
	if len(f.fanOuts) > 0 {
		cfg.FanOuts = f.fanOuts
	}
	for _, s := range f.options {
		o, err := planner.ParseOption(s)
		if err != nil {
			return cfg, fmt.Errorf("--option: %w", err)
		}
		cfg.Options = append(cfg.Options, o)
	}
	return cfg, nil
}

func runDPGPlan(ctx context.Context, out io.Writer, f dpgPlanFlags) error {
	switch f.format {
	case "table", "json", "dot":
	default:
		return fmt.Errorf("--format %q: want table, json or dot", f.format)
	}
	cfg, err := dpgConfig(f)
	if err != nil {
		return err
	}
	in, err := model.LoadFile(f.topology)
	if err != nil {
		return err
	}
	m, err := cost.NewModel(in, cfg.Config)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	res, planErr := planner.Plan(ctx, m, cfg)
	if res == nil {
		return planErr
	}
	switch f.format {
	case "table":
		err = res.WriteTable(out)
	case "json":
		err = res.WriteJSON(out)
	case "dot":
		if res.Best() != nil {
			err = res.WriteDOT(out)
		}
	}
	if err != nil {
		return err
	}
	if f.planOut != "" && res.Best() != nil {
		b, err := json.MarshalIndent(res.JSON().Plan, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.planOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return planErr
}

func newDPGSynthCmd() *cobra.Command {
	var spec model.SynthSpec
	var capacity, rootCapacity string
	cmd := &cobra.Command{
		Use:   "synth --hosts N [--seed S]",
		Short: "Print a synthetic data-centre topology (for planning at scale)",
		Long: `Print a synthetic topology as JSON: N hosts in racks of --hosts-per-rack, racks in sites of
--racks-per-site, every host running two agents (access and application logs: source, two
channels, two sinks, 10 components) shipping to a collector per --hosts-per-collector hosts, and a
store host as the root. --existing-racks gives that fraction of racks an aggregator already
deployed, for the reuse option.`,
		Example: `  vscope dpg synth --hosts 1000 > dc.json
  vscope dpg synth --hosts 10000 --existing-racks 0.3 --seed 2 > big.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if spec.Hosts < 1 {
				return errors.New("--hosts: want at least 1")
			}
			var err error
			if spec.Capacity, err = parseCapacity(capacity); err != nil {
				return fmt.Errorf("--capacity: %w", err)
			}
			if spec.RootCapacity, err = parseCapacity(rootCapacity); err != nil {
				return fmt.Errorf("--root-capacity: %w", err)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			return enc.Encode(model.Synth(spec))
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&spec.Hosts, "hosts", 0, "monitored hosts (required)")
	fl.IntVar(&spec.HostsPerRack, "hosts-per-rack", 40, "hosts per rack")
	fl.IntVar(&spec.RacksPerSite, "racks-per-site", 64, "racks per site")
	fl.IntVar(&spec.HostsPerCollector, "hosts-per-collector", 50, "hosts per collector")
	fl.Float64Var(&spec.ExistingRacks, "existing-racks", 0, "fraction of racks with a deployed aggregator")
	fl.Uint64Var(&spec.Seed, "seed", 1, "random seed")
	fl.StringVar(&capacity, "capacity", "", "host capacity cpu=0.25,memory=256MiB,ingest=5MB/s (the default)")
	fl.StringVar(&rootCapacity, "root-capacity", "", "root capacity cpu=8,memory=16GiB,ingest=50MB/s (the default)")
	return cmd
}

// parseCapacity reads "cpu=0.5,memory=1GiB,ingest=10MB/s"; empty is the
// zero capacity (defaults apply).
func parseCapacity(s string) (model.Capacity, error) {
	var c model.Capacity
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return c, fmt.Errorf("%q: want name=value", part)
		}
		switch k {
		case "cpu":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				return c, fmt.Errorf("%q: want a number of cores > 0", part)
			}
			c.CPU = f
		case "memory":
			f, err := model.ParseBytes(v)
			if err != nil {
				return c, err
			}
			c.Memory = model.Bytes(f)
		case "ingest":
			f, err := model.ParseByteRate(v)
			if err != nil {
				return c, err
			}
			c.Ingest = model.ByteRate(f)
		default:
			return c, fmt.Errorf("%q: unknown capacity %q (cpu, memory, ingest)", part, k)
		}
	}
	return c, nil
}
