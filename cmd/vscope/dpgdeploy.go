package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vscope/vscope/dpg/deploy"
	"github.com/vscope/vscope/dpg/watch"
)

type dpgDeployFlags struct {
	inventory, name, keyFile, format string
	set                              []string
	partial                          bool
	parallel                         int
	timeout                          time.Duration
}

func (f *dpgDeployFlags) register(cmd *cobra.Command, withPlan bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.inventory, "inventory", "", "JSON file mapping the plan's hosts to control endpoints (required; format in dpg/deploy/inventory.go)")
	fl.StringVar(&f.name, "name", "dpg", "deployment name; operator ids are NAME.NODE")
	fl.StringVar(&f.format, "format", "table", "output: table or json")
	fl.IntVar(&f.parallel, "parallel", 16, "requests in flight at once")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "timeout of each request")
	if withPlan {
		fl.StringVar(&f.keyFile, "key-file", "", "data-plane key shared by the deployment's nodes (default: derived from the root host's control token)")
		fl.StringArrayVar(&f.set, "set", nil, "override a field of every node, e.g. detect.threshold=6 (repeatable; see dpg/deploy.SetField)")
		fl.BoolVar(&f.partial, "partial", false, "if some nodes fail, keep the ones that went up (default: remove them again)")
	}
	_ = cmd.MarkFlagRequired("inventory")
}

func (f *dpgDeployFlags) options() (deploy.Options, error) {
	o := deploy.Options{Name: f.name, Overrides: f.set, Partial: f.partial, Parallel: f.parallel, Timeout: f.timeout}
	if f.format != "table" && f.format != "json" {
		return o, fmt.Errorf("--format %q: want table or json", f.format)
	}
	if !watch.ValidID(f.name) && !(f.name == "*") {
		return o, fmt.Errorf("--name %q: want letters, digits, '.', '_' or '-'", f.name)
	}
	if f.keyFile != "" {
		b, err := os.ReadFile(f.keyFile)
		if err != nil {
			return o, fmt.Errorf("--key-file: %w", err)
		}
		o.Key = strings.TrimSpace(string(b))
		if len(o.Key) < 16 {
			return o, fmt.Errorf("--key-file %s: %d characters, want at least 16", f.keyFile, len(o.Key))
		}
	}
	return o, nil
}

// load is the options and the inventory of a command on deployed nodes.
func (f *dpgDeployFlags) load() (deploy.Options, *deploy.Inventory, error) {
	o, err := f.options()
	if err != nil {
		return o, nil, err
	}
	inv, err := deploy.LoadInventory(f.inventory)
	return o, inv, err
}

func newDPGDeployCmd() *cobra.Command {
	f := dpgDeployFlags{}
	cmd := &cobra.Command{
		Use:   "deploy PLAN --inventory FILE [--name NAME]",
		Short: "Run a plan's watch nodes in the agents, through their control APIs",
		Long: `Deploy the plan that 'vscope dpg plan --plan FILE' wrote: every watch node goes to the control API
of the agent process on its host (the inventory maps host names to endpoints; agents serve the API
with --control ADDR --control-token-file FILE). Every endpoint is checked first (reachable, token
accepted) and nothing changes if one fails. Then the nodes are added, or changed in place if the
deployment already has them, level by level from the root down; the deployment's operators that
the plan no longer has are removed. If a node fails, the nodes this run created are removed again
(--partial keeps them) and the error names each failed node, its host and endpoint; the exit
status is 1. Operators only read the agents' counters: no agent restarts, no event is touched.`,
		Example: `  vscope dpg plan --topology dc.json --plan plan.json
  vscope dpg deploy plan.json --inventory inventory.json
  vscope dpg deploy plan.json --inventory inventory.json --set detect.threshold=6 --set aggregate.window=5s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options()
			if err != nil {
				return err
			}
			plan, err := deploy.LoadPlan(args[0])
			if err != nil {
				return err
			}
			inv, err := deploy.LoadInventory(f.inventory)
			if err != nil {
				return err
			}
			rep, err := deploy.Deploy(cmd.Context(), plan, inv, o)
			if rep != nil {
				if werr := writeDeployReport(cmd.OutOrStdout(), f.format, rep, "deployed"); werr != nil {
					return werr
				}
			}
			return err
		},
	}
	f.register(cmd, true)
	return cmd
}

func newDPGUndeployCmd() *cobra.Command {
	f := dpgDeployFlags{}
	cmd := &cobra.Command{
		Use:   "undeploy --inventory FILE [--name NAME]",
		Short: "Remove a deployment's watch nodes from every agent of the inventory",
		Long: `Remove the operators of deployment --name from every endpoint of the inventory, leaves first,
then aggregators, then the root. Endpoints that do not answer and operators that could not be
removed are named, and the exit status is 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, inv, err := f.load()
			if err != nil {
				return err
			}
			rep, err := deploy.Undeploy(cmd.Context(), inv, o)
			if rep != nil {
				if werr := writeDeployReport(cmd.OutOrStdout(), f.format, rep, "removed"); werr != nil {
					return werr
				}
			}
			return err
		},
	}
	f.register(cmd, false)
	return cmd
}

func writeDeployReport(out io.Writer, format string, rep *deploy.Report, verb string) error {
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	var rows [][]string
	for _, r := range rep.Nodes {
		rows = append(rows, []string{r.ID, r.Role, strconv.Itoa(r.Level), r.Host, r.URL, r.Action, r.Error})
	}
	if len(rows) > 0 {
		if err := writeRows(out, "table", []string{"OPERATOR", "ROLE", "LEVEL", "HOST", "ENDPOINT", "ACTION", "ERROR"}, rows); err != nil {
			return err
		}
	}
	switch verb {
	case "deployed":
		fmt.Fprintf(out, "%s: %d of %d nodes up in %.0f ms", rep.Deployment, rep.Up, len(rep.Nodes), rep.ElapsedMs)
		if len(rep.Pruned) > 0 {
			fmt.Fprintf(out, "; removed %d operators no longer in the plan: %s", len(rep.Pruned), strings.Join(rep.Pruned, " "))
		}
		fmt.Fprintln(out)
	default:
		fmt.Fprintf(out, "%s: %d operators removed in %.0f ms\n", rep.Deployment, len(rep.Nodes)-rep.Up, rep.ElapsedMs)
	}
	return nil
}

func newDPGStatusCmd() *cobra.Command {
	f := dpgDeployFlags{}
	cmd := &cobra.Command{
		Use:   "status --inventory FILE [--name NAME|*]",
		Short: "Show the watch nodes running in the agents: state, alarms, summaries, bytes shipped",
		Long: `Ask every endpoint of the inventory for its watch operators (of deployment --name; "*" for all)
and print one row per node: role, level, host, state, alarms, summaries and raw windows sent and
received, bytes shipped, send errors. Then the root's findings (the components alarmed beneath it,
highest score first) and the endpoints that refused requests (wrong or missing token). Endpoints
that do not answer are named and the exit status is 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, inv, err := f.load()
			if err != nil {
				return err
			}
			rep, err := deploy.Status(cmd.Context(), inv, o)
			if rep != nil {
				if werr := writeStatusReport(cmd.OutOrStdout(), f.format, rep); werr != nil {
					return werr
				}
			}
			return err
		},
	}
	f.register(cmd, false)
	return cmd
}

func writeStatusReport(out io.Writer, format string, rep *deploy.StatusReport) error {
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	nodes := rep.Nodes()
	var rows [][]string
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, n := range nodes {
		state := n.State
		if n.Role == watch.RoleLeaf && !n.Warm && n.SamplesSent == 0 {
			state += fmt.Sprintf(" (fitted %d/%d)", n.Fitted, n.Components)
		}
		rows = append(rows, []string{n.ID, n.Role, strconv.Itoa(n.Level), n.Host, state, i64(n.Alarms),
			i64(n.SummariesSent) + "/" + i64(n.SummariesReceived), i64(n.RawSent) + "/" + i64(n.RawReceived),
			i64(n.BytesShipped), i64(n.SendErrors + n.Dropped), n.LastError})
	}
	if len(rows) > 0 {
		if err := writeRows(out, "table", []string{"OPERATOR", "ROLE", "LEVEL", "HOST", "STATE", "ALARMS", "SUMMARIES OUT/IN", "RAW OUT/IN", "BYTES SHIPPED", "SEND ERRORS", "LAST ERROR"}, rows); err != nil {
			return err
		}
	}
	running, shipped := 0, int64(0)
	for _, n := range nodes {
		if n.State == "running" {
			running++
		}
		shipped += n.BytesShipped
	}
	fmt.Fprintf(out, "%d operators, %d running, %d bytes shipped\n", len(nodes), running, shipped)
	for _, n := range nodes {
		if n.Role != watch.RoleRoot {
			continue
		}
		if len(n.Findings) == 0 {
			fmt.Fprintf(out, "root %s: no alarms\n", n.ID)
			continue
		}
		fmt.Fprintf(out, "root %s findings (highest score first):\n", n.ID)
		for i, f := range n.Findings {
			if i == 10 {
				fmt.Fprintf(out, "  ... %d more\n", len(n.Findings)-10)
				break
			}
			fmt.Fprintf(out, "  %s %s score %.1f, %d alarm(s) since %s, %d raw values\n", f.Key(), f.Metric, f.Score, f.Alarms,
				time.UnixMilli(f.First).UTC().Format(time.RFC3339), f.Points)
		}
	}
	for _, e := range rep.Endpoints {
		if e.Error != "" {
			fmt.Fprintf(out, "no answer: %s\n", e.Error)
		}
		if n := e.AuthFailures.Total(); n > 0 {
			fmt.Fprintf(out, "refused requests at %s (%s): %d missing token, %d malformed, %d wrong token\n",
				strings.Join(e.Hosts, ","), e.URL, e.AuthFailures.Missing, e.AuthFailures.Malformed, e.AuthFailures.Wrong)
		}
	}
	return nil
}

func newDPGNodeCmd() *cobra.Command {
	var (
		ctl           controlFlags
		loc, storeTok string
	)
	cmd := &cobra.Command{
		Use:   "node --control ADDR --control-token-file FILE [--store LOCATION]",
		Short: "Run a watch node host without an agent (the root on the store's host)",
		Long: `Serve the control API with no Flume agent in the process, for the hosts of a plan that run no
agent, typically the root on the metric store's host. With --store, the raw windows a root
receives (the alarmed components' recent history) are written to the metric store.`,
		Example: `  vscope dpg node --control :7070 --control-token-file /etc/vscope/token --watch-host store-1 \
      --store http://127.0.0.1:8429`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if ctl.addr == "" {
				return errors.New("--control ADDR is required")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var sink func(watch.RawWindow)
			stopSink := func() {}
			if loc != "" {
				var err error
				if sink, stopSink, err = storeRawSink(ctx, loc, storeTok); err != nil {
					return err
				}
			}
			stopControl, err := startControl(ctx, ctl, nil, nil, sink)
			if err != nil {
				stopSink()
				return err
			}
			<-ctx.Done()
			slog.Info("stopping watch node host")
			stopControl()
			stopSink()
			return nil
		},
	}
	ctl.register(cmd)
	cmd.Flags().StringVar(&loc, "store", "", "write the raw windows roots receive into this store: "+storeFlagHelp+", or http://COLLECTOR:PORT")
	cmd.Flags().StringVar(&storeTok, "store-token", "", "bearer token of a collector store (default $VSCOPE_STORE_TOKEN)")
	return cmd
}
