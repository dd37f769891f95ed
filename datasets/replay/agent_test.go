package replay

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vscope/vscope/agent"
	"github.com/vscope/vscope/agent/catalog"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/datasets/loghub"
	"github.com/vscope/vscope/datasets/webstore"
)

// agentConf is a real flow: an http source and a netcat source, each
// through a memory channel into rolling files.
const agentConf = `
a1.sources  = web nc
a1.channels = c1 c2
a1.sinks    = k1 k2

a1.sources.web.type     = http
a1.sources.web.bind     = 127.0.0.1
a1.sources.web.port     = %d
a1.sources.web.channels = c1
a1.channels.c1.type                = memory
a1.channels.c1.capacity            = 100000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type              = file_roll
a1.sinks.k1.channel           = c1
a1.sinks.k1.sink.directory    = %s
a1.sinks.k1.sink.rollInterval = 0
a1.sinks.k1.sink.serializer   = HEADER_AND_TEXT
a1.sinks.k1.batchSize         = 1000

a1.sources.nc.type            = netcat
a1.sources.nc.bind            = 127.0.0.1
a1.sources.nc.port            = %d
a1.sources.nc.max-line-length = %d
a1.sources.nc.channels        = c2
a1.channels.c2.type                = memory
a1.channels.c2.capacity            = 100000
a1.channels.c2.transactionCapacity = 1000
a1.sinks.k2.type              = file_roll
a1.sinks.k2.channel           = c2
a1.sinks.k2.sink.directory    = %s
a1.sinks.k2.sink.rollInterval = 0
a1.sinks.k2.batchSize         = 1000
`

type testAgent struct {
	a               *agent.Agent
	httpURL, ncAddr string
	httpDir, ncDir  string
	stopped         bool
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startAgent runs agentConf in this process.
func startAgent(t testing.TB, maxLine int) *testAgent {
	t.Helper()
	ta := &testAgent{httpDir: t.TempDir(), ncDir: t.TempDir()}
	hp, np := freePort(t), freePort(t)
	text := fmt.Sprintf(agentConf, hp, ta.httpDir, np, maxLine, ta.ncDir)
	props, err := config.Parse(strings.NewReader(text), "replay.conf")
	if err != nil {
		t.Fatal(err)
	}
	f := catalog.Default()
	cfg, err := config.Load(props, "replay.conf", "a1", f, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	ta.a = agent.New("a1", f, agent.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := ta.a.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ta.stop(t) })
	ta.httpURL = fmt.Sprintf("http://127.0.0.1:%d/", hp)
	ta.ncAddr = fmt.Sprintf("127.0.0.1:%d", np)
	return ta
}

// stop stops the agent, which drains the channels into the files.
func (ta *testAgent) stop(t testing.TB) {
	t.Helper()
	if ta.stopped {
		return
	}
	ta.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ta.a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// readLines returns every line of every file in dir.
func readLines(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		f.Close()
	}
	return lines
}

// TestReplayWebstoreIntoAgentHTTP replays two minutes of the web store at
// 60x into a real agent's http source: every line arrives once, with its
// host, tier and timestamp headers, on time.
func TestReplayWebstoreIntoAgentHTTP(t *testing.T) {
	ta := startAgent(t, 512)
	cfg := webstore.NewConfig(2 * time.Minute)
	cfg.SessionsPerSecond = 3
	cfg.Seed = 11
	g, err := webstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := NewHTTPSink(ta.httpURL)
	st, err := Run(context.Background(), Webstore(g), sink, Options{Speed: 60})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d lines in %v (schedule %v, error %.3f%%), lag mean %v p99 %v max %v, %d requests",
		st.Sent, st.Elapsed, st.Ideal, 100*st.TimingError(), st.MeanLag, st.P99Lag, st.MaxLag, sink.Sent)
	if st.Lost() != 0 || st.Failed != 0 || st.Acked != g.Stats().Lines {
		t.Fatalf("%+v, generated %d", st, g.Stats().Lines)
	}
	// The 1% timing target is asserted in make test-long (see
	// checkTiming); here other packages' tests share the two cores.
	if limit := timingLimit(); st.TimingError() > limit {
		t.Errorf("duration error %.2f%% > %.0f%%", 100*st.TimingError(), 100*limit)
	}
	ta.stop(t)

	// What arrived, against a second run of the same config.
	got := map[string]int{}
	for _, l := range readLines(t, ta.httpDir) {
		got[l]++
	}
	g2, _ := webstore.New(cfg)
	n := 0
	for {
		r, ok := g2.Next()
		if !ok {
			break
		}
		n++
		want := fmt.Sprintf("{host=%s, tier=%s, timestamp=%d} %s", r.Host, r.Tier, r.Time.UnixMilli(), r.Line)
		if got[want] == 0 {
			t.Fatalf("line %d never arrived: %s", n, want)
		}
		got[want]--
	}
	for l, c := range got {
		if c != 0 {
			t.Fatalf("%d extra copies of %s", c, l)
		}
	}
	if n < 3000 {
		t.Errorf("only %d lines", n)
	}
}

// loghubDir is the loghub samples beside the repository, or "".
func loghubDir() string {
	dir := os.Getenv("VSCOPE_LOGHUB")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "datasets", "loghub")
	}
	if _, err := os.Stat(filepath.Join(dir, "HDFS", "HDFS_2k.log")); err != nil {
		return ""
	}
	return dir
}

// TestReplayLoghubIntoAgentNetcat replays every loghub sample as fast as
// the agent's netcat source takes it: all 12000 lines arrive. With the
// source's default max-line-length of 512, exactly the longer lines are
// refused and counted lost.
func TestReplayLoghubIntoAgentNetcat(t *testing.T) {
	dir := loghubDir()
	if dir == "" {
		t.Skip("loghub samples not found at ../../../shared/datasets/loghub (set VSCOPE_LOGHUB)")
	}
	for _, maxLine := range []int{8192, 512} {
		t.Run("max-line-length="+strconv.Itoa(maxLine), func(t *testing.T) {
			ta := startAgent(t, maxLine)
			sink := NewNetcatSink(ta.ncAddr)
			defer sink.Close()
			var want []string
			var total, long int64
			for _, sys := range loghub.Systems {
				lg, err := loghub.Load(dir, sys)
				if err != nil {
					t.Fatal(err)
				}
				for _, ln := range lg.Lines {
					if len(ln.Raw)+1 > maxLine {
						long++
					} else {
						want = append(want, ln.Raw)
					}
				}
				st, err := Run(context.Background(), Loghub(lg), sink, Options{})
				if err != nil {
					t.Fatal(err)
				}
				total += st.Read
				if st.Sent != 2000 || st.Acked+st.Failed != 2000 {
					t.Fatalf("%s: %+v", sys, st)
				}
				if maxLine == 8192 && st.Lost() != 0 {
					t.Fatalf("%s: %d lost: %s", sys, st.Lost(), sink.LastFailure)
				}
			}
			ta.stop(t)
			got := readLines(t, ta.ncDir)
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("%d lines arrived, want %d", len(got), len(want))
			}
			if maxLine == 512 && (long == 0 || int64(len(got)) != total-long ||
				!strings.Contains(sink.LastFailure, "FAILED: Event exceeds the maximum length")) {
				t.Errorf("%d long lines, %d arrived of %d; last failure %q", long, len(got), total, sink.LastFailure)
			}
			t.Logf("%d of %d lines arrived (%d longer than %d)", len(got), total, long, maxLine)
		})
	}
}

// TestNetcatSinkReconnects: the lines unanswered when the connection
// breaks are sent again on a new one.
func TestNetcatSinkReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for conn := 0; ; conn++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			for i := 0; ; i++ {
				line, err := br.ReadString('\n')
				if err != nil {
					break
				}
				if conn == 0 && i == 2 {
					break // the first connection dies before answering line 3
				}
				got <- strings.TrimSpace(line)
				fmt.Fprint(c, "OK\n")
			}
			c.Close()
		}
	}()
	s := NewNetcatSink(ln.Addr().String())
	batch := []Record{{Line: []byte("a")}, {Line: []byte("b")}, {Line: []byte("c\nmore")}, {Line: []byte("d")}}
	if err := s.Send(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ln.Close()
	<-done
	close(got)
	var lines []string
	for l := range got {
		lines = append(lines, l)
	}
	if strings.Join(lines, ",") != "a,b,c more,d" {
		t.Errorf("server got %v", lines)
	}
}

// limited stops a source after n records.
type limited struct {
	Source
	n int
}

func (l *limited) Next() (Record, bool) {
	if l.n <= 0 {
		return Record{}, false
	}
	l.n--
	return l.Source.Next()
}

// BenchmarkReplayIntoAgent replays web-store lines with no pacing into a
// real agent's http and netcat sources (memory channel, file_roll sink)
// and reports the events per second acked.
func BenchmarkReplayIntoAgent(b *testing.B) {
	for _, kind := range []string{"http", "netcat"} {
		b.Run(kind, func(b *testing.B) {
			ta := startAgent(b, 4096)
			cfg := webstore.NewConfig(7 * 24 * time.Hour)
			cfg.SessionsPerSecond = 200
			g, err := webstore.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			g.Next() // the warm-up
			var sink Sink = NewHTTPSink(ta.httpURL)
			if kind == "netcat" {
				nc := NewNetcatSink(ta.ncAddr)
				defer nc.Close()
				sink = nc
			}
			b.ResetTimer()
			start := time.Now()
			st, err := Run(context.Background(), &limited{Source: Webstore(g), n: b.N}, sink, Options{BatchSize: 500})
			if err != nil {
				b.Fatal(err)
			}
			el := time.Since(start).Seconds()
			b.StopTimer()
			if st.Acked != int64(b.N) {
				b.Fatalf("%+v", st)
			}
			b.ReportMetric(float64(st.Acked)/el, "events/s")
			b.ReportMetric(float64(st.Bytes)/el/1e6, "MB/s")
		})
	}
}
