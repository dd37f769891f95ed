package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/spf13/cobra"

	"github.com/vscope/vscope/agent"
	"github.com/vscope/vscope/agent/catalog"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/monitor"
)

// demoConf is the flow the demo runs: a generator into a rolling file, and
// the two servers a Flume user meets first (netcat, HTTP/JSON) into a
// logger. Ports are filled in at run time.
const demoConf = `# vscope demo: two flows in one agent
demo.sources  = gen web nc
demo.channels = bulk ops
demo.sinks    = files console

# flow 1: a generator of 100-byte events into rolling files
demo.sources.gen.type        = seq
demo.sources.gen.totalEvents = %d
demo.sources.gen.batchSize   = 1000
demo.sources.gen.bodySize    = 100
demo.sources.gen.channels    = bulk
demo.channels.bulk.type                = memory
demo.channels.bulk.capacity            = 100000
demo.channels.bulk.transactionCapacity = 1000
demo.sinks.files.type              = file_roll
demo.sinks.files.channel           = bulk
demo.sinks.files.sink.directory    = %s
demo.sinks.files.sink.rollInterval = 1
demo.sinks.files.batchSize         = 1000

# flow 2: HTTP (Flume JSONHandler) and netcat into the log
demo.sources.web.type     = http
demo.sources.web.bind     = 127.0.0.1
demo.sources.web.port     = %d
demo.sources.web.channels = ops
demo.sources.nc.type     = netcat
demo.sources.nc.bind     = 127.0.0.1
demo.sources.nc.port     = %d
demo.sources.nc.channels = ops
demo.channels.ops.type = memory
demo.sinks.console.type    = logger
demo.sinks.console.channel = ops
`

func newDemoCmd() *cobra.Command {
	var (
		events int
		dir    string
		quiet  bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a self-contained flow on this machine and show what moved",
		Long: `Runs one agent with two flows on 127.0.0.1 (no server to install): a generator into
rolling files, and HTTP + netcat sources into a logger. It sends good and bad input to the
servers, then prints each component's Flume counters and the files written.`,
		Example: "  vscope demo\n  vscope demo --events 2000000 --dir /tmp/demo-out",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), events, dir, quiet)
		},
	}
	cmd.Flags().IntVar(&events, "events", 1000000, "events the generator emits")
	cmd.Flags().StringVar(&dir, "dir", "", "where the rolling files go (default: a new temporary directory)")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "do not print the logger sink's events")
	return cmd
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func runDemo(ctx context.Context, out io.Writer, events int, dir string, quiet bool) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "vscope-demo-")
		if err != nil {
			return err
		}
		dir = d
	}
	httpPort, err := freePort()
	if err != nil {
		return err
	}
	ncPort, err := freePort()
	if err != nil {
		return err
	}
	text := fmt.Sprintf(demoConf, events, dir, httpPort, ncPort)
	fmt.Fprintln(out, "== The configuration (Flume properties format) ==")
	fmt.Fprintln(out, text)

	props, err := config.Parse(strings.NewReader(text), "demo.conf")
	if err != nil {
		return err
	}
	f := catalog.Default()
	cfg, err := config.Load(props, "demo.conf", "demo", f, os.LookupEnv)
	if err != nil {
		return err
	}
	logLevel := slog.LevelInfo
	if quiet {
		logLevel = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: logLevel}))
	a := agent.New("demo", f, agent.Options{Logger: log})
	start := time.Now()
	if err := a.Apply(ctx, cfg); err != nil {
		return err
	}
	defer a.Stop(context.Background())

	fmt.Fprintln(out, "== Sending input to the servers ==")
	httpURL := fmt.Sprintf("http://127.0.0.1:%d/", httpPort)
	logged := 0 // events the servers accepted, which the logger must show
	for _, body := range []string{
		`[{"headers":{"host":"web-1","path":"/cart"},"body":"GET /cart 200 12ms"},{"headers":{"host":"web-2"},"body":"POST /checkout 201 48ms"}]`,
		`[{"headers":{"host":"web-1"},"body":"GET /product/42 200 9ms"}]`,
		`[{"headers":{"host":"web-3"},"body":broken json}]`,
	} {
		status, reply := post(ctx, httpURL, body)
		fmt.Fprintf(out, "POST %s -> %s %s\n", abbreviate(body, 60), status, strings.TrimSpace(reply))
		if strings.HasPrefix(status, "200") {
			logged += strings.Count(body, `"body"`)
		}
	}
	acked, err := netcatSend(ctx, fmt.Sprintf("127.0.0.1:%d", ncPort), []string{
		"hello from netcat",
		strings.Repeat("x", 600),
		"a line after the oversized one still arrives",
	}, out)
	if err != nil {
		fmt.Fprintln(out, "netcat:", err)
	}
	logged += acked

	// Wait until the generator's events are all in files and the servers'
	// events have been logged.
	want := map[string]float64{"files": float64(events), "console": float64(logged)}
	deadline := time.Now().Add(2 * time.Minute)
	for !drained(a.Registry(), want) {
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: events did not arrive within 2 minutes (want %v)", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "== What moved (Flume counters per component) ==")
	if err := counterTable(out, a.Registry()); err != nil {
		return err
	}
	fmt.Fprintln(out)
	files, lines, bytes := rolledFiles(dir)
	fmt.Fprintf(out, "The generator's %d events took %.2fs end to end (%.0f events/s) and landed in %d files under %s (%d lines, %.1f MB).\n",
		events, elapsed.Seconds(), float64(events)/elapsed.Seconds(), files, dir, lines, float64(bytes)/1e6)
	if int(lines) != events {
		return fmt.Errorf("demo: expected %d lines in %s, found %d", events, dir, lines)
	}
	fmt.Fprintln(out, "Bad input was answered (HTTP 400 with the reason, netcat FAILED line) and counted, and nothing accepted was lost.")
	return nil
}

func post(ctx context.Context, url, body string) (string, string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "error", err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.Status, string(b)
}

// netcatSend sends lines one at a time and returns how many were acked OK.
func netcatSend(ctx context.Context, addr string, lines []string, out io.Writer) (int, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	acked := 0
	for _, l := range lines {
		if _, err := fmt.Fprintf(conn, "%s\n", l); err != nil {
			return acked, err
		}
		reply, err := r.ReadString('\n')
		if err != nil {
			return acked, err
		}
		if strings.TrimSpace(reply) == "OK" {
			acked++
		}
		fmt.Fprintf(out, "netcat %q -> %s\n", abbreviate(l, 40), strings.TrimSpace(reply))
	}
	return acked, nil
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("...(%d bytes)", len(s))
}

func drained(reg *monitor.Registry, want map[string]float64) bool {
	got := map[string]float64{}
	for _, s := range reg.Samples() {
		if s.Kind == monitor.KindSink && s.Metric == "EventDrainSuccessCount" {
			got[s.Component] = s.Value
		}
	}
	for k, v := range want {
		if got[k] < v {
			return false
		}
	}
	return true
}

// counterTable prints the main Flume counters of every component.
func counterTable(out io.Writer, reg *monitor.Registry) error {
	cols := map[monitor.Kind][2]string{
		monitor.KindSource:  {"EventReceivedCount", "EventAcceptedCount"},
		monitor.KindChannel: {"EventPutSuccessCount", "EventTakeSuccessCount"},
		monitor.KindSink:    {"EventDrainAttemptCount", "EventDrainSuccessCount"},
	}
	type row struct {
		kind, name, typ string
		in, out         float64
		extra           []string
	}
	rows := map[string]*row{}
	var keys []string
	for _, s := range reg.Samples() {
		k := string(s.Kind) + "." + s.Component
		r, ok := rows[k]
		if !ok {
			r = &row{kind: string(s.Kind), name: s.Component, typ: s.Type}
			rows[k] = r
			keys = append(keys, k)
		}
		c := cols[s.Kind]
		switch {
		case s.Metric == c[0]:
			r.in = s.Value
		case s.Metric == c[1]:
			r.out = s.Value
		case s.Value != 0 && (strings.HasSuffix(s.Metric, "Fail") || s.Metric == "ChannelSize" || s.Metric == "BatchEmptyCount" || s.Metric == "EventRollbackCount"):
			r.extra = append(r.extra, fmt.Sprintf("%s=%.0f", s.Metric, s.Value))
		}
	}
	order := map[string]int{"SOURCE": 0, "CHANNEL": 1, "SINK": 2}
	sort.SliceStable(keys, func(i, j int) bool { return order[rows[keys[i]].kind] < order[rows[keys[j]].kind] })
	t := tablewriter.NewWriter(out)
	t.Header("Kind", "Component", "Type", "In", "Out", "Also")
	for _, k := range keys {
		r := rows[k]
		if err := t.Append(r.kind, r.name, r.typ, fmt.Sprintf("%.0f", r.in), fmt.Sprintf("%.0f", r.out), strings.Join(r.extra, " ")); err != nil {
			return err
		}
	}
	return t.Render()
}

func rolledFiles(dir string) (files int, lines, bytes int64) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		files++
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines++
			bytes += int64(len(sc.Bytes())) + 1
		}
		f.Close()
	}
	return files, lines, bytes
}
