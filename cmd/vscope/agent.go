package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vscope/vscope/agent/catalog"
	"github.com/vscope/vscope/agent/monitor"
)

func newAgentCmd() *cobra.Command {
	var (
		file, name, httpAddr string
		confDir              string
		reload               time.Duration
		noReload             bool
		shutdown             time.Duration
		check, all           bool
		metricsTo, storeTok  string        // metric store (store.go)
		sampleEvery          time.Duration // metric sampling interval
		ctl                  controlFlags  // watch operators' control API (agentcontrol.go)
	)
	cmd := &cobra.Command{
		Use:   "agent -f FILE -n NAME[,NAME...]",
		Short: "Run a Flume agent from a Flume properties file",
		Long: `Run the named agent of a Flume properties file. The file is validated before anything
starts and every problem is reported with file:line and the key. While running, the file is
re-read every --reload-interval and a changed, valid configuration is applied without losing
events (unchanged channels keep their events). SIGINT or SIGTERM stops the sources, lets the
sinks drain the channels, then stops. Several agents of one file can run in one process
(-n a1,a2 or --all), each with its own components and counters, for local testing; they start
and stop in the order given, so list the senders before their collectors.`,
		Example: `  vscope agent -f flume.conf -n a1
  vscope agent -f flume.conf -n a1 --http :41414     # GET /metrics, /metrics.json on 127.0.0.1
  vscope agent -f flume.conf -n a1 --check           # validate only
  vscope agent -f tiers.conf --all --http :41414     # every agent of the file in one process
  vscope agent -f flume.conf -n a1 --control :7070 --control-token-file /etc/vscope/token   # vscope dpg deploy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := agentNames(file, name, all)
			if err != nil {
				return err
			}
			_ = confDir // accepted for flume-ng compatibility
			f := catalog.Default()
			cfgs, err := loadAgents(file, names, f)
			if err != nil {
				return fmt.Errorf("invalid configuration:\n%w", err)
			}
			if check {
				for _, cfg := range cfgs {
					for _, w := range cfg.Warnings {
						fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s: agent %s OK: %d sources, %d channels, %d sinks\n",
						file, cfg.Name, len(cfg.Sources), len(cfg.Channels), len(cfg.Sinks))
				}
				return nil
			}
			name = strings.Join(names, ",")
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			agents, err := startAgents(ctx, f, cfgs)
			if err != nil {
				return err
			}
			if httpAddr != "" {
				srv, addr, err := serveMonitoring(httpAddr, registries(agents)...)
				if err != nil {
					_ = stopAgents(context.Background(), agents)
					return err
				}
				defer srv.Close()
				slog.Info("monitoring", "url", "http://"+addr+"/metrics")
			}
			if metricsTo != "" {
				stopMetrics, err := startMetrics(ctx, metricsTo, storeTok, sampleEvery, registries(agents)...)
				if err != nil {
					_ = stopAgents(context.Background(), agents)
					return err
				}
				defer stopMetrics()
			}
			if ctl.addr != "" {
				stopControl, err := startControl(ctx, ctl, names, registries(agents), nil)
				if err != nil {
					_ = stopAgents(context.Background(), agents)
					return err
				}
				defer stopControl()
			}
			slog.Info("agent started", "agent", name, "file", file)
			if !noReload {
				for _, a := range agents {
					go a.WatchFile(ctx, file, reload)
				}
			}
			<-ctx.Done()
			slog.Info("stopping", "agent", name, "deadline", shutdown)
			sctx, cancel := context.WithTimeout(context.Background(), shutdown)
			defer cancel()
			return stopAgents(sctx, agents)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&file, "conf-file", "f", "", "Flume properties file")
	fl.StringVarP(&name, "name", "n", "", "name of the agent in the file; a comma-separated list runs several in this process")
	fl.BoolVar(&all, "all", false, "run every agent of the file in this process (for local testing)")
	fl.StringVarP(&confDir, "conf", "c", "", "configuration directory (accepted for flume-ng compatibility, unused)")
	fl.StringVar(&httpAddr, "http", "", "serve /metrics and /metrics.json on this address (\":PORT\" binds 127.0.0.1)")
	fl.DurationVar(&reload, "reload-interval", 30*time.Second, "how often to check the file for changes")
	fl.BoolVar(&noReload, "no-reload-conf", false, "do not reload the file when it changes")
	fl.DurationVar(&shutdown, "shutdown-timeout", 30*time.Second, "how long to let sinks drain on stop")
	fl.BoolVar(&check, "check", false, "validate the configuration and exit")
	fl.StringVar(&metricsTo, "store", "", "sample metrics into this store: a directory, a .duckdb file, http://COLLECTOR:PORT or vm+http://HOST:PORT (default: none)")
	fl.StringVar(&storeTok, "store-token", "", "bearer token for a collector store (default $VSCOPE_STORE_TOKEN)")
	fl.DurationVar(&sampleEvery, "sample-interval", time.Second, "how often metrics are sampled into --store")
	ctl.register(cmd)
	return cmd
}

// serveMonitoring starts the monitoring endpoint. An address without a host
// binds loopback only: exposing it wider must be asked for explicitly.
func serveMonitoring(addr string, regs ...*monitor.Registry) (*http.Server, string, error) {
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("monitoring endpoint: %w", err)
	}
	srv := &http.Server{Handler: monitor.Handler(regs...), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, ln.Addr().String(), nil
}
