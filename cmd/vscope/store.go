package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/spf13/cobra"

	"github.com/vscope/vscope/agent/monitor"
	"github.com/vscope/vscope/vscope/store"
)

const storeFlagHelp = "metric store: a directory (default $XDG_DATA_HOME/vscope), a .duckdb file, or vm+http://HOST:PORT (VictoriaMetrics)"

// startMetrics samples the registries every interval into the store at
// location: a local DuckDB store, VictoriaMetrics, or a collector
// (http://HOST:PORT, Arrow IPC posts). Samples that cannot be written are
// dropped and the failure is logged once until writing works again; the
// agent's events are never held up by its metrics. stop ends sampling and
// closes the store.
func startMetrics(ctx context.Context, location, token string, interval time.Duration, regs ...*monitor.Registry) (stop func(), err error) {
	if interval <= 0 {
		return nil, fmt.Errorf("--sample-interval %v: want a positive duration", interval)
	}
	loc, err := store.ParseLocation(location)
	if err != nil {
		return nil, err
	}
	if token == "" {
		token = os.Getenv("VSCOPE_STORE_TOKEN")
	}
	var app store.Appender
	var closer io.Closer
	switch loc.Kind {
	case "collector":
		c := store.NewClient(loc.URL, token, &http.Client{Timeout: max(5*interval, 10*time.Second)})
		app, closer = c, c
	default:
		s, err := store.Open(ctx, location, store.Options{RetainEvery: time.Minute})
		if err != nil {
			return nil, err
		}
		app, closer = s, s
	}
	slog.Info("sampling metrics", "to", location, "interval", interval)
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sampler := monitor.NewSampler("", regs...)
		b := &store.Batch{}
		failing, dropped := false, 0
		sampler.Run(sctx, interval, func(points []monitor.Point) {
			b.Reset()
			for _, p := range points {
				sp := store.Point(p)
				b.Add(b.SeriesRef(store.Series{Host: sp.Host, Agent: sp.Agent, Component: sp.Component, Kind: sp.Kind, Metric: sp.Metric}), sp.TS, sp.Value)
			}
			// Not sctx: a post under way when the agent stops completes.
			actx, cancel := context.WithTimeout(context.Background(), max(5*interval, 10*time.Second))
			err := app.Append(actx, b)
			cancel()
			switch {
			case err != nil:
				dropped++
				if !failing {
					slog.Error("metrics not stored; dropping samples until the store works", "to", location, "err", err)
				}
				failing = true
			case failing:
				slog.Info("metrics stored again", "to", location, "dropped_samples", dropped)
				failing, dropped = false, 0
			}
		})
	}()
	return func() {
		cancel()
		wg.Wait()
		if err := closer.Close(); err != nil {
			slog.Error("closing metric store", "err", err)
		}
	}, nil
}

func newStoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "The metric store: run a collector that agents post their metrics to",
	}
	cmd.AddCommand(newStoreServeCmd(), newStoreBenchCmd())
	return cmd
}

func newStoreServeCmd() *cobra.Command {
	var (
		listen, loc, token string
		opts               store.Options
		maxBody            int64
	)
	cmd := &cobra.Command{
		Use:   "serve --listen ADDR --store DIR",
		Short: "Accept agents' metrics (Arrow IPC over HTTP) into a store",
		Long: `Serve POST /api/v1/ingest: a body of Content-Type application/vnd.apache.arrow.stream holding
points (ts, host, agent, component, kind, metric, value) is written to the store as one batch.
Agents post to it with --store http://ADDR. A malformed stream is refused with 400 and the reason;
nothing of it is written. While it runs it holds the store file, so readers ask it: vscope sql and
vscope metrics ls with --store http://ADDR (POST /api/v1/sql: one SELECT; the collector's
DuckDB reads no other files). With --token (or VSCOPE_STORE_TOKEN), requests need
"Authorization: Bearer TOKEN". Raw points older than --raw-retention are downsampled to
--downsample-step (avg, min, max, count), kept for --downsampled-retention.`,
		Example: `  vscope store serve --listen 127.0.0.1:8429 --store /var/lib/vscope
  vscope agent -f flume.conf -n a1 --store http://127.0.0.1:8429`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if token == "" {
				token = os.Getenv("VSCOPE_STORE_TOKEN")
			}
			if strings.HasPrefix(listen, ":") {
				listen = "127.0.0.1" + listen
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if l, err := store.ParseLocation(loc); err == nil && l.Kind == "collector" {
				return fmt.Errorf("--store %s: a collector cannot store into another collector; give a directory or vm+http://", loc)
			}
			opts.RetainEvery = time.Minute
			opts.NoFileAccess = true // it serves SQL to remote readers
			s, err := store.Open(ctx, loc, opts)
			if err != nil {
				return err
			}
			defer s.Close()
			hopts := store.HandlerOptions{Token: token, MaxBytes: maxBody}
			if d, ok := s.(*store.DuckDB); ok {
				hopts.SQL = d
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			srv := &http.Server{Handler: store.Handler(s, hopts), ReadHeaderTimeout: 10 * time.Second}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			slog.Info("store serving", "url", "http://"+ln.Addr().String()+store.IngestPath, "store", loc, "auth", token != "")
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return err
			}
			return s.Close()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&listen, "listen", "127.0.0.1:8429", "address to serve on (\":PORT\" binds 127.0.0.1)")
	fl.StringVar(&loc, "store", "", storeFlagHelp)
	fl.StringVar(&token, "token", "", "require this bearer token (default $VSCOPE_STORE_TOKEN; empty: no auth)")
	fl.DurationVar(&opts.RawRetention, "raw-retention", 7*24*time.Hour, "keep raw points this long, then downsample (negative: forever)")
	fl.DurationVar(&opts.DownsampleStep, "downsample-step", time.Minute, "resolution of downsampled points")
	fl.DurationVar(&opts.DownsampledRetention, "downsampled-retention", 90*24*time.Hour, "keep downsampled points this long (negative: forever)")
	fl.Int64Var(&maxBody, "max-body", 64<<20, "largest request body in bytes")
	return cmd
}

// openDuckDB opens the DuckDB store at a --store location for a command
// that needs SQL; the file must exist.
func openDuckDB(ctx context.Context, location string, readOnly bool) (*store.DuckDB, error) {
	loc, err := store.ParseLocation(location)
	if err != nil {
		return nil, err
	}
	if loc.Kind == "collector" {
		return nil, fmt.Errorf("--store %s: this command needs the store file, which the collector holds: run it where the file is once the collector stops, or query through the collector with vscope sql --store %s --format csv", location, location)
	}
	if loc.Kind != "duckdb" {
		return nil, fmt.Errorf("--store %s: this command needs a DuckDB store (a directory or .duckdb file)", location)
	}
	if _, err := os.Stat(loc.Path); err != nil {
		return nil, fmt.Errorf("no metric store at %s (run an agent with --store, or vscope store serve): %w", loc.Path, err)
	}
	return store.OpenDuckDB(ctx, loc.Path, store.Options{ReadOnly: readOnly})
}

func newMetricsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "Look at the metric store",
	}
	cmd.AddCommand(newMetricsLsCmd())
	return cmd
}

func newMetricsLsCmd() *cobra.Command {
	var loc, filter, format, token string
	var series bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the stored series: cardinality per component, or every series with --series",
		Example: `  vscope metrics ls
  vscope metrics ls --filter agent=a1,kind=channel --series
  vscope metrics ls --store vm+http://127.0.0.1:8428 --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := store.ParseFilter(filter)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			infos, err := listSeries(ctx, loc, token, f)
			if err != nil {
				return err
			}
			header := []string{"HOST", "AGENT", "COMPONENT", "KIND", "SERIES", "POINTS"}
			var rows [][]string
			if series {
				header = []string{"HOST", "AGENT", "COMPONENT", "KIND", "METRIC", "POINTS"}
				for _, x := range infos {
					rows = append(rows, []string{x.Host, x.Agent, x.Component, x.Kind, x.Metric, points(x.Points)})
				}
			} else {
				for _, c := range store.CardinalityOf(infos) {
					rows = append(rows, []string{c.Host, c.Agent, c.Component, c.Kind, strconv.Itoa(c.Series), points(c.Points)})
				}
			}
			if err := writeRows(cmd.OutOrStdout(), format, header, rows); err != nil {
				return err
			}
			if format == "table" {
				fmt.Fprintf(cmd.OutOrStdout(), "%d series\n", len(infos))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&loc, "store", "", storeFlagHelp)
	fl.StringVar(&token, "token", "", "bearer token of a collector (default $VSCOPE_STORE_TOKEN)")
	fl.StringVar(&filter, "filter", "", "host=,agent=,component=,kind=,metric= globs, comma-separated")
	fl.BoolVar(&series, "series", false, "list every series instead of the count per component")
	fl.StringVar(&format, "format", "table", "table, csv or json")
	return cmd
}

// listSeries lists the series of a store: a DuckDB file (read-only), a
// collector (through its SQL endpoint) or VictoriaMetrics.
func listSeries(ctx context.Context, location, token string, f store.Filter) ([]store.SeriesInfo, error) {
	loc, err := store.ParseLocation(location)
	if err != nil {
		return nil, err
	}
	switch loc.Kind {
	case "duckdb":
		s, err := openDuckDB(ctx, location, true)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		return s.Series(ctx, f)
	case "collector":
		c := store.NewClient(loc.URL, envToken(token), nil)
		defer c.Close()
		t, err := c.Select(ctx, store.SeriesSQL)
		if err != nil {
			return nil, err
		}
		return store.SeriesFromTable(t, f)
	}
	s, err := store.Open(ctx, location, store.Options{})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Series(ctx, f)
}

func envToken(token string) string {
	if token == "" {
		return os.Getenv("VSCOPE_STORE_TOKEN")
	}
	return token
}

func points(n int64) string {
	if n < 0 {
		return "?"
	}
	return strconv.FormatInt(n, 10)
}

// writeRows prints rows of strings as a table, CSV or a JSON array of
// objects keyed by the header.
func writeRows(out io.Writer, format string, header []string, rows [][]string) error {
	switch format {
	case "table":
		t := tablewriter.NewWriter(out).Options(tablewriter.WithHeaderAutoFormat(tw.Off))
		h := make([]any, len(header))
		for i, x := range header {
			h[i] = x
		}
		t.Header(h...)
		for _, r := range rows {
			if err := t.Append(r); err != nil {
				return err
			}
		}
		return t.Render()
	case "csv":
		w := csv.NewWriter(out)
		_ = w.Write(header)
		_ = w.WriteAll(rows)
		return w.Error()
	case "json":
		objs := make([]json.RawMessage, len(rows))
		for i, r := range rows {
			var sb strings.Builder
			sb.WriteByte('{')
			for j, h := range header {
				if j > 0 {
					sb.WriteByte(',')
				}
				k, _ := json.Marshal(strings.ToLower(h))
				v, _ := json.Marshal(r[j])
				sb.Write(k)
				sb.WriteByte(':')
				sb.Write(v)
			}
			sb.WriteByte('}')
			objs[i] = json.RawMessage(sb.String())
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(objs)
	}
	return fmt.Errorf("--format %q: want table, csv or json", format)
}

func newExportCmd() *cobra.Command {
	var loc, format, out, fromS, toS string
	var window time.Duration
	cmd := &cobra.Command{
		Use:   "export --out FILE [--window 10m | --from T --to T]",
		Short: "Write the stored samples to a Parquet or CSV file",
		Long: `Write the samples of the DuckDB store (time, host, agent, component, kind, metric, value,
resolution) to a Parquet (zstd) or CSV file, ordered by time. --window takes the last stretch up to
now; --from/--to take RFC 3339 times or unix milliseconds; neither: everything.`,
		Example: `  vscope export --format parquet --out metrics.parquet --window 10m
  vscope export --out day.csv --from 2026-01-02T00:00:00Z --to 2026-01-03T00:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			if format == "" {
				format = strings.TrimPrefix(filepath.Ext(out), ".")
			}
			if format != "parquet" && format != "csv" {
				return fmt.Errorf("--format %q: want parquet or csv", format)
			}
			var from, to time.Time
			var err error
			switch {
			case window > 0 && (fromS != "" || toS != ""):
				return errors.New("give --window or --from/--to, not both")
			case window > 0:
				to = time.Now()
				from = to.Add(-window)
			default:
				if from, err = parseTime(fromS); err != nil {
					return fmt.Errorf("--from: %w", err)
				}
				if to, err = parseTime(toS); err != nil {
					return fmt.Errorf("--to: %w", err)
				}
			}
			s, err := openDuckDB(cmd.Context(), loc, true)
			if err != nil {
				return err
			}
			defer s.Close()
			n, err := s.Export(cmd.Context(), format, out, from, to)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d samples\n", out, n)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&loc, "store", "", storeFlagHelp)
	fl.StringVar(&format, "format", "", "parquet or csv (default: from the --out extension)")
	fl.StringVar(&out, "out", "", "file to write")
	fl.DurationVar(&window, "window", 0, "the last stretch of time up to now, e.g. 10m")
	fl.StringVar(&fromS, "from", "", "start (inclusive): RFC 3339 or unix ms")
	fl.StringVar(&toS, "to", "", "end (exclusive): RFC 3339 or unix ms")
	return cmd
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
