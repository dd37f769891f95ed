package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vscope/vscope/vscope/diagnose"
	"github.com/vscope/vscope/vscope/store"
	"github.com/vscope/vscope/vscope/ui"
)

// uiOptions are the flags of `vscope ui`.
type uiOptions struct {
	store, listen, token   string
	storeToken             string
	filter, topology       string
	confs                  []string
	span, refresh, every   time.Duration
	window, baseline, step time.Duration
}

func newUICmd() *cobra.Command {
	var u uiOptions
	cmd := &cobra.Command{
		Use:   "ui --store STORE [--listen 127.0.0.1:8431]",
		Short: "A local web view of live flows: throughput, channel fill, the latest diagnosis",
		Long: `ui serves a web page (on 127.0.0.1 unless told otherwise) that shows, from the metric store,
throughput (events/s accepted by each source, drained by each sink) and channel fill per
component over the last --span, read again every --refresh; each agent's latest values; the
latest diagnosis with its culprit at the top and its full report below; and a form (or a drag
across the throughput chart) to diagnose a chosen window.

The store is a DuckDB file (opened read-only only while a request needs it: while an agent
or collector holds it for writing it cannot be read), a collector (http://HOST:PORT: vscope
store serve, which agents post to; the view reads through its SQL endpoint, the way to watch
flows live) or VictoriaMetrics (vm+http://). --topology and --conf give the flow topology
between agents as for vscope diagnose. The newest window is diagnosed at start and then every
--every (0: at start only; negative: only on request).`,
		Example: `  vscope ui --store metrics.duckdb
  vscope store serve --listen 127.0.0.1:8429 --store /var/lib/vscope &
  vscope ui --store http://127.0.0.1:8429 --conf tier1.conf --conf collectors.conf --every 1m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runUI(ctx, cmd.OutOrStdout(), u)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&u.store, "store", "", "metric store: a directory (default $XDG_DATA_HOME/vscope), a .duckdb file, http://COLLECTOR:PORT, or vm+http://HOST:PORT")
	fl.StringVar(&u.listen, "listen", "127.0.0.1:8431", "address to serve on (\":PORT\" binds 127.0.0.1; port 0 picks one)")
	fl.StringVar(&u.token, "token", "", "require this token of the page's requests (default $VSCOPE_UI_TOKEN; empty: none)")
	fl.StringVar(&u.storeToken, "store-token", "", "bearer token of a collector (default $VSCOPE_STORE_TOKEN)")
	fl.DurationVar(&u.span, "span", 10*time.Minute, "time the live charts show")
	fl.DurationVar(&u.refresh, "refresh", 5*time.Second, "how often the page reads the live data")
	fl.DurationVar(&u.every, "every", 0, "diagnose the newest window this often (0: once at start; negative: only on request)")
	fl.DurationVar(&u.window, "window", 10*time.Minute, "window of a diagnosis (the page can change it)")
	fl.DurationVar(&u.baseline, "baseline", time.Hour, "baseline of a diagnosis (the page can change it)")
	fl.DurationVar(&u.step, "step", time.Second, "alignment step of a diagnosis")
	fl.StringVar(&u.filter, "filter", "", "series a diagnosis reads by default: host=,agent=,component=,kind=,metric= globs")
	fl.StringVar(&u.topology, "topology", "", "flow topology, JSON file (see vscope diagnose --help)")
	fl.StringArrayVar(&u.confs, "conf", nil, "the agents' Flume properties files, for the flow topology (repeatable)")
	return cmd
}

func runUI(ctx context.Context, out io.Writer, u uiOptions) error {
	o := diagnose.Options{Window: u.window, Baseline: u.baseline, Step: u.step}
	var err error
	if o.Filter, err = store.ParseFilter(u.filter); err != nil {
		return fmt.Errorf("--filter: %w", err)
	}
	if u.topology != "" || len(u.confs) > 0 {
		o.Topology = &diagnose.Topology{}
	}
	if u.topology != "" {
		t, err := diagnose.ReadTopologyFile(u.topology)
		if err != nil {
			return fmt.Errorf("--topology: %w", err)
		}
		o.Topology.Merge(t)
	}
	if len(u.confs) > 0 {
		t, err := diagnose.TopologyFromFlume(u.confs...)
		if err != nil {
			return fmt.Errorf("--conf: %w", err)
		}
		o.Topology.Merge(t)
	}
	token := u.token
	if token == "" {
		token = os.Getenv("VSCOPE_UI_TOKEN")
	}
	stores, err := ui.NewStores(u.store, envToken(u.storeToken))
	if err != nil {
		return err
	}
	defer stores.Close()
	srv, err := ui.New(ui.Config{Stores: stores, Diagnose: o, Span: u.span, Refresh: u.refresh, Every: u.every, Token: token})
	if err != nil {
		return err
	}
	listen := u.listen
	if strings.HasPrefix(listen, ":") {
		listen = "127.0.0.1" + listen
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		slog.Warn("vscope ui listens beyond this machine: anyone who can reach it can read the store's metrics", "addr", ln.Addr().String(), "token", token != "")
	}
	url := "http://" + ln.Addr().String() + "/"
	if token != "" {
		url += "?token=" + token
	}
	fmt.Fprintf(out, "vscope ui: %s (store %s)\n", url, stores)
	return srv.Run(ctx, ln)
}
