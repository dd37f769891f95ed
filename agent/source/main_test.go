package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// pipe is a source's surroundings in a test: a real memory channel with
// its counters, and source settings whose processor puts into it.
type pipe struct {
	reg *monitor.Registry
	ch  *channel.Memory
	set component.SourceSettings
}

// newPipe builds a pipe around a memory channel of the given capacity
// (also its transactionCapacity) and keep-alive in seconds.
func newPipe(t testing.TB, typ string, capacity, keepAlive int) *pipe {
	t.Helper()
	reg := monitor.NewRegistry("a1")
	cfg := channel.NewMemoryConfig()
	cfg.Capacity, cfg.TxCapacity, cfg.KeepAlive = capacity, capacity, keepAlive
	ch := channel.NewMemory(*cfg, reg.Channel("c1", "memory"))
	if err := ch.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Stop(context.Background()) })
	return &pipe{reg: reg, ch: ch, set: component.SourceSettings{
		Settings:  component.Settings{Agent: "a1", Name: "r1", Type: typ},
		Counter:   reg.Source("r1", typ),
		Processor: component.ProcessorFunc(func(ctx context.Context, b []event.Event) error { return ch.Put(ctx, b) }),
	}}
}

// drain takes and commits everything in the channel, in order.
func (p *pipe) drain(t testing.TB) []event.Event {
	t.Helper()
	var out []event.Event
	for {
		tk, err := p.ch.Take(context.Background(), p.ch.Capacity())
		if err != nil {
			t.Fatal(err)
		}
		evs := tk.Events()
		out = append(out, evs...)
		if err := tk.Commit(); err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
	}
}

// bodies is the bodies of events as strings.
func bodies(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = string(e.Body)
	}
	return out
}

// metric is the current value of one of the source's Flume counters.
func (p *pipe) metric(t testing.TB, name string) float64 {
	t.Helper()
	for _, s := range p.reg.Samples() {
		if s.Kind == monitor.KindSource && s.Metric == name {
			return s.Value
		}
	}
	t.Fatalf("no source metric %s", name)
	return 0
}

// wantMetrics checks several source counters at once.
func (p *pipe) wantMetrics(t testing.TB, want map[string]float64) {
	t.Helper()
	for name, v := range want {
		if got := p.metric(t, name); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
}

// eventually polls cond until it holds or a generous deadline passes. It
// waits for conditions that have no notification, never for a fixed time.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// addrOf is the address a source listens on.
type addrOf interface{ Addr() net.Addr }

// TestLifecycle is the test every source type must pass: Stop without
// Start, Stop twice, and Start again after Stop.
func TestLifecycle(t *testing.T) {
	types := []struct {
		name string
		new  func(set component.SourceSettings) (component.Source, error)
	}{
		{"seq", func(set component.SourceSettings) (component.Source, error) {
			return NewSeq(set, *NewSeqConfig())
		}},
		{"netcat", func(set component.SourceSettings) (component.Source, error) {
			cfg := NewNetcatConfig()
			cfg.Bind = "127.0.0.1"
			return NewNetcat(set, *cfg)
		}},
		{"http", func(set component.SourceSettings) (component.Source, error) {
			return NewHTTP(set, *NewHTTPConfig())
		}},
	}
	for _, tc := range types {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := newPipe(t, tc.name, 100, 0)
			host := component.HostFunc(func(err error) { t.Errorf("ReportFatal(%v)", err) })

			s, err := tc.new(p.set)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Stop(ctx); err != nil {
				t.Fatalf("Stop without Start: %v", err)
			}
			for round := 0; round < 2; round++ {
				if err := s.Start(ctx, host); err != nil {
					t.Fatalf("Start (round %d): %v", round, err)
				}
				if a, ok := s.(addrOf); ok {
					if a.Addr() == nil {
						t.Fatal("Addr is nil while running")
					}
					// The port is really open.
					c, err := net.Dial("tcp", a.Addr().String())
					if err != nil {
						t.Fatal(err)
					}
					_ = c.Close()
					if err := s.Start(ctx, host); err == nil {
						t.Fatal("second Start succeeded")
					}
				}
				if err := s.Stop(ctx); err != nil {
					t.Fatalf("Stop: %v", err)
				}
				if err := s.Stop(ctx); err != nil {
					t.Fatalf("Stop twice: %v", err)
				}
				if a, ok := s.(addrOf); ok && a.Addr() != nil {
					t.Fatal("Addr is not nil after Stop")
				}
			}
		})
	}
}

// TestFactories decodes each type from Flume properties, under its short
// name and its Flume class name, and builds it.
func TestFactories(t *testing.T) {
	f := component.NewFactories(
		[]component.SourceFactory{SeqFactory(), NetcatFactory(), HTTPFactory()},
		[]component.ChannelFactory{channel.MemoryFactory()}, nil)
	f2 := func(typ, props string, check func(t *testing.T, cfg component.Config)) {
		t.Helper()
		t.Run(typ, func(t *testing.T) {
			text := "a1.sources = r1\na1.channels = c1\na1.sources.r1.channels = c1\na1.channels.c1.type = memory\n" +
				"a1.sources.r1.type = " + typ + "\n" + props
			ps, err := config.Parse(strings.NewReader(text), "test.conf")
			if err != nil {
				t.Fatal(err)
			}
			a, err := config.Load(ps, "test.conf", "a1", f, func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			src := a.Sources[0]
			check(t, src.Config)
			p := newPipe(t, typ, 100, 0)
			s, err := src.Factory.Create(p.set, src.Config)
			if err != nil || s == nil {
				t.Fatalf("Create: %v, %v", s, err)
			}
		})
	}
	f2("seq", "", func(t *testing.T, cfg component.Config) {
		if got, want := *cfg.(*SeqConfig), *NewSeqConfig(); got != want {
			t.Errorf("defaults %+v, want %+v", got, want)
		}
	})
	f2("org.apache.flume.source.SequenceGeneratorSource", "a1.sources.r1.totalEvents = 5\na1.sources.r1.batchSize = 2\na1.sources.r1.bodySize = 9\n",
		func(t *testing.T, cfg component.Config) {
			if got, want := *cfg.(*SeqConfig), (SeqConfig{TotalEvents: 5, Batch: 2, BodySize: 9}); got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	f2("netcat", "a1.sources.r1.bind = 127.0.0.1\na1.sources.r1.port = 0\n", func(t *testing.T, cfg component.Config) {
		want := NetcatConfig{Bind: "127.0.0.1", MaxLineLength: 512, AckEveryEvent: true, Batch: 100}
		if got := *cfg.(*NetcatConfig); got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	f2("org.apache.flume.source.NetcatSource", "a1.sources.r1.bind = 0.0.0.0\na1.sources.r1.port = 44444\n"+
		"a1.sources.r1.max-line-length = 80\na1.sources.r1.ack-every-event = false\na1.sources.r1.batchSize = 10\n",
		func(t *testing.T, cfg component.Config) {
			want := NetcatConfig{Bind: "0.0.0.0", Port: 44444, MaxLineLength: 80, AckEveryEvent: false, Batch: 10}
			if got := *cfg.(*NetcatConfig); got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	f2("http", "a1.sources.r1.port = 0\n", func(t *testing.T, cfg component.Config) {
		want := HTTPConfig{Bind: "127.0.0.1", Handler: JSONHandlerClass, MaxRequestBytes: 16 << 20}
		if got := *cfg.(*HTTPConfig); got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	f2("org.apache.flume.source.http.HTTPSource", "a1.sources.r1.port = 5140\na1.sources.r1.bind = 0.0.0.0\n"+
		"a1.sources.r1.handler = JSONHandler\na1.sources.r1.maxRequestBytes = 1024\n",
		func(t *testing.T, cfg component.Config) {
			want := HTTPConfig{Bind: "0.0.0.0", Port: 5140, Handler: "JSONHandler", MaxRequestBytes: 1024}
			if got := *cfg.(*HTTPConfig); got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
}

// TestBadConfig checks that bad properties are reported with their key.
func TestBadConfig(t *testing.T) {
	f := component.NewFactories(
		[]component.SourceFactory{SeqFactory(), NetcatFactory(), HTTPFactory()},
		[]component.ChannelFactory{channel.MemoryFactory()}, nil)
	f2 := func(props, want string) {
		t.Helper()
		text := "a1.sources = r1\na1.channels = c1\na1.sources.r1.channels = c1\na1.channels.c1.type = memory\n" + props
		ps, err := config.Parse(strings.NewReader(text), "bad.conf")
		if err != nil {
			t.Fatal(err)
		}
		_, err = config.Load(ps, "bad.conf", "a1", f, func(string) (string, bool) { return "", false })
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", props, err, want)
		}
	}
	f2("a1.sources.r1.type = seq\na1.sources.r1.batchSize = 0\n", "a1.sources.r1: batchSize must be positive")
	f2("a1.sources.r1.type = seq\na1.sources.r1.totalEvents = -1\n", "totalEvents must not be negative")
	f2("a1.sources.r1.type = seq\na1.sources.r1.bodySize = -1\n", "bodySize must not be negative")
	f2("a1.sources.r1.type = seq\na1.sources.r1.batchSize = 1000\n", "batchSize 1000 exceeds transactionCapacity 100")
	f2("a1.sources.r1.type = netcat\na1.sources.r1.port = 1\n", "a1.sources.r1.bind: required property is missing")
	f2("a1.sources.r1.type = netcat\na1.sources.r1.bind = localhost\n", "a1.sources.r1.port: required property is missing")
	f2("a1.sources.r1.type = netcat\na1.sources.r1.bind = localhost\na1.sources.r1.port = 70000\n", "port must be 0 to 65535")
	f2("a1.sources.r1.type = netcat\na1.sources.r1.bind = localhost\na1.sources.r1.port = 1\na1.sources.r1.max-line-length = 1\n", "max-line-length must be at least 2")
	f2("a1.sources.r1.type = netcat\na1.sources.r1.bind = localhost\na1.sources.r1.port = 1\na1.sources.r1.ack-every-event = yes\n", `"yes" is not true or false`)
	f2("a1.sources.r1.type = http\n", "a1.sources.r1.port: required property is missing")
	f2("a1.sources.r1.type = http\na1.sources.r1.port = 1\na1.sources.r1.handler = org.apache.flume.sink.solr.morphline.BlobHandler\n",
		`handler "org.apache.flume.sink.solr.morphline.BlobHandler" is not supported`)
	f2("a1.sources.r1.type = http\na1.sources.r1.port = 1\na1.sources.r1.maxRequestBytes = 0\n", "maxRequestBytes must be positive")
	f2("a1.sources.r1.type = http\na1.sources.r1.port = 1\na1.sources.r1.enableSSL = true\n", `unknown property "enableSSL"`)
}

// TestNewRequiresProcessor checks the constructors refuse settings
// without a processor instead of failing on the first event.
func TestNewRequiresProcessor(t *testing.T) {
	set := component.SourceSettings{}
	nc := NewNetcatConfig()
	nc.Bind = "127.0.0.1"
	for name, err := range map[string]error{
		"seq":    second(NewSeq(set, *NewSeqConfig())),
		"netcat": second(NewNetcat(set, *nc)),
		"http":   second(NewHTTP(set, *NewHTTPConfig())),
	} {
		if err == nil || !strings.Contains(err.Error(), "no processor") {
			t.Errorf("%s: error %v, want no processor", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// failN is a processor that fails its calls numbered in fail (from 0) and
// otherwise forwards to next.
func failN(next component.Processor, fail ...int) component.Processor {
	calls := 0
	return component.ProcessorFunc(func(ctx context.Context, b []event.Event) error {
		defer func() { calls++ }()
		for _, f := range fail {
			if f == calls {
				return fmt.Errorf("injected failure of call %d: %w", calls, errors.New("boom"))
			}
		}
		return next.Process(ctx, b)
	})
}
