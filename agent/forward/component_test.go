package forward

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

func testFactories() component.Factories {
	return component.NewFactories(
		[]component.SourceFactory{SourceFactory()},
		[]component.ChannelFactory{channel.MemoryFactory()},
		[]component.SinkFactory{SinkFactory()})
}

func load(t *testing.T, text string) (*config.Agent, error) {
	t.Helper()
	ps, err := config.Parse(strings.NewReader(text), "test.conf")
	if err != nil {
		t.Fatal(err)
	}
	return config.Load(ps, "test.conf", "a1", testFactories(), func(string) (string, bool) { return "", false })
}

const flowHead = "a1.sources = r1\na1.channels = c1\na1.sinks = k1\na1.channels.c1.type = memory\n" +
	"a1.channels.c1.capacity = 1000\na1.channels.c1.transactionCapacity = 500\n" +
	"a1.sources.r1.channels = c1\na1.sinks.k1.channel = c1\n"

// Flume's avro source and sink examples load as forward components.
func TestFlumeAvroConfig(t *testing.T) {
	a, err := load(t, flowHead+`
a1.sources.r1.type = avro
a1.sources.r1.bind = 0.0.0.0
a1.sources.r1.port = 4141
a1.sources.r1.threads = 8
a1.sources.r1.compression-type = deflate
a1.sinks.k1.type = avro
a1.sinks.k1.hostname = 10.10.10.10
a1.sinks.k1.port = 4545
a1.sinks.k1.batch-size = 200
a1.sinks.k1.connect-timeout = 5000
a1.sinks.k1.request-timeout = 7000
a1.sinks.k1.reset-connection-interval = 600
a1.sinks.k1.compression-type = deflate
a1.sinks.k1.compression-level = 9
a1.sinks.k1.maxIoWorkers = 4
`)
	if err != nil {
		t.Fatal(err)
	}
	src := a.Sources[0].Config.(*SourceConfig)
	if src.Bind != "0.0.0.0" || src.Port != 4141 || src.Threads != 8 || src.Batch != 500 || src.Compression != "deflate" {
		t.Errorf("source %+v", src)
	}
	sk := a.Sinks[0].Config.(*SinkConfig)
	if sk.Hostname != "10.10.10.10" || sk.Port != 4545 || sk.BatchSize() != 200 || sk.ConnectTimeout != 5000 ||
		sk.RequestTimeout != 7000 || sk.ResetConnectionInterval != 600 || sk.CompressionLevel != 9 {
		t.Errorf("sink %+v", sk)
	}
	gc, err := sk.groupConfig()
	if err != nil || gc.Members[0] != "10.10.10.10:4545" || gc.Client.Codec != CodecDeflate || gc.ResetInterval != 10*time.Minute {
		t.Errorf("group %+v %v", gc, err)
	}

	a, err = load(t, flowHead+`
a1.sources.r1.type = forward
a1.sources.r1.bind = 127.0.0.1
a1.sources.r1.port = 0
a1.sources.r1.group = collectors
a1.sinks.k1.type = forward
a1.sinks.k1.group = collectors
a1.sinks.k1.groups.collectors.members = c1:4545 c2:4545
a1.sinks.k1.groups.collectors.mode = least_loaded
a1.sinks.k1.groups.collectors.backoff = 250
a1.sinks.k1.groups.collectors.maxBackoff = 4000
`)
	if err != nil {
		t.Fatal(err)
	}
	sk = a.Sinks[0].Config.(*SinkConfig)
	if sk.BatchSize() != 100 {
		t.Errorf("default batch-size %d", sk.BatchSize())
	}
	gc, err = sk.groupConfig()
	if err != nil || !slices.Equal(gc.Members, []string{"c1:4545", "c2:4545"}) || gc.Mode != LeastLoaded ||
		gc.Backoff != 250*time.Millisecond || gc.MaxBackoff != 4*time.Second || gc.Client.Group != "collectors" {
		t.Errorf("group %+v %v", gc, err)
	}
}

func TestBadConfig(t *testing.T) {
	f := func(props, want string) {
		t.Helper()
		_, err := load(t, flowHead+"a1.sources.r1.type = forward\na1.sources.r1.bind = 127.0.0.1\na1.sources.r1.port = 0\n"+
			"a1.sinks.k1.type = forward\n"+props)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", props, err, want)
		}
	}
	f("", "set hostname and port (one collector) or group")
	f("a1.sinks.k1.hostname = h\na1.sinks.k1.port = 1\na1.sinks.k1.group = g\na1.sinks.k1.groups.g.members = h:1\n", "not both")
	f("a1.sinks.k1.hostname = h\n", "port must be 1 to 65535")
	f("a1.sinks.k1.group = g\n", `group "g" is not defined`)
	f("a1.sinks.k1.group = g\na1.sinks.k1.groups.g.members = h:1\na1.sinks.k1.groups.h.members = h:2\n", `group "h" is defined but the sink does not use it`)
	f("a1.sinks.k1.group = g\na1.sinks.k1.groups.g.members = nohost\n", `member "nohost" is not host:port`)
	f("a1.sinks.k1.group = g\na1.sinks.k1.groups.g.members = h:1\na1.sinks.k1.groups.g.weight = 2\n", `unknown group property "weight"`)
	f("a1.sinks.k1.group = g\na1.sinks.k1.groups.g.members = h:1\na1.sinks.k1.groups.g.mode = random\n", `unknown mode "random"`)
	f("a1.sinks.k1.group = g\na1.sinks.k1.groups.g.members = h:1\na1.sinks.k1.groups.g.file = /x\n", "not both")
	f("a1.sinks.k1.group = g\na1.sinks.k1.groups.g.members = h:1\na1.sinks.k1.groups.g.backoff = soon\n", "not a positive number of milliseconds")
	f("a1.sinks.k1.hostname = h\na1.sinks.k1.port = 1\na1.sinks.k1.compression-type = lz4\n", `unknown compression-type "lz4"`)
	f("a1.sinks.k1.hostname = h\na1.sinks.k1.port = 1\na1.sinks.k1.ssl = true\na1.sinks.k1.truststore = /x.jks\n", "vscope reads PEM files, set ssl.ca")
	f("a1.sinks.k1.hostname = h\na1.sinks.k1.port = 1\na1.sinks.k1.ssl.ca = /ca.pem\n", "need ssl = true")
	f("a1.sinks.k1.hostname = h\na1.sinks.k1.port = 1\na1.sinks.k1.exclude-protocols = TLSv1.2 TLSv1.3\n", "no TLS version")
	f("a1.sinks.k1.hostname = h\na1.sinks.k1.port = 1\na1.sinks.k1.ipFilter = true\n", `unknown property "ipFilter"`)
	g := func(props, want string) {
		t.Helper()
		_, err := load(t, flowHead+"a1.sinks.k1.type = forward\na1.sinks.k1.hostname = h\na1.sinks.k1.port = 1\n"+
			"a1.sources.r1.type = avro\n"+props)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", props, err, want)
		}
	}
	g("a1.sources.r1.port = 1\n", "a1.sources.r1.bind: required property is missing")
	g("a1.sources.r1.bind = x\na1.sources.r1.port = 1\na1.sources.r1.ssl = true\n", "ssl needs ssl.cert and ssl.key")
	g("a1.sources.r1.bind = x\na1.sources.r1.port = 1\na1.sources.r1.ssl = true\na1.sources.r1.keystore = /k.jks\n", "set ssl.cert and ssl.key")
	g("a1.sources.r1.bind = x\na1.sources.r1.port = 1\na1.sources.r1.ssl.verify-client = true\n", "ssl.verify-client needs ssl = true and ssl.ca")
	g("a1.sources.r1.bind = x\na1.sources.r1.port = 1\na1.sources.r1.max-frame-size = 10\n", "max-frame-size must be at least 1024")
	g("a1.sources.r1.bind = x\na1.sources.r1.port = 1\na1.sources.r1.batchSize = 501\n", "501 exceeds transactionCapacity 500")
}

// pair is a forward sink draining channel in into a forward source that
// puts into channel out, through put (which may fail on purpose).
type pair struct {
	in, out *channel.Memory
	src     *Source
	sink    *Sink
	reg     *monitor.Registry
}

func newPair(t *testing.T, put func(ctx context.Context, ch *channel.Memory, evs []event.Event) error, edit func(*SinkConfig)) *pair {
	t.Helper()
	p := &pair{in: newMemory(t, 100000), out: newMemory(t, 100000), reg: monitor.NewRegistry("a1")}
	scfg := NewSourceConfig()
	scfg.Bind, scfg.Batch = "127.0.0.1", 100
	src, err := NewSource(component.SourceSettings{
		Settings: component.Settings{Agent: "col", Name: "r1", Type: "forward"},
		Counter:  p.reg.Source("r1", "forward"),
		Processor: component.ProcessorFunc(func(ctx context.Context, evs []event.Event) error {
			return put(ctx, p.out, evs)
		}),
	}, *scfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Stop(context.Background()) })
	p.src = src
	kcfg := NewSinkConfig()
	kcfg.Group = "g"
	kcfg.Groups = map[string]string{"g.members": src.Addr().String(), "g.backoff": "10", "g.maxBackoff": "50"}
	kcfg.SetBatchSize(250)
	if edit != nil {
		edit(kcfg)
	}
	sink, err := NewSink(component.SinkSettings{
		Settings: component.Settings{Agent: "a1", Name: "k1", Type: "forward"},
		Counter:  p.reg.Sink("k1", "forward"), Channel: p.in}, *kcfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Stop(context.Background()) })
	p.sink = sink
	return p
}

func (p *pair) metric(kind monitor.Kind, name string) float64 {
	for _, s := range p.reg.Samples() {
		if s.Kind == kind && s.Metric == name {
			return s.Value
		}
	}
	return -1
}

// The sink commits its take only after the collector committed the batch:
// with a collector that refuses a fifth of its puts, every event arrives
// exactly once and in order, and the refused batches are retried.
func TestSinkToSourceExactlyOnceThroughNacks(t *testing.T) {
	var refused atomic.Int64
	rng := rand.New(rand.NewPCG(1, 2))
	p := newPair(t, func(ctx context.Context, ch *channel.Memory, evs []event.Event) error {
		if rng.IntN(5) == 0 {
			refused.Add(1)
			return fmt.Errorf("injected: %w", component.ErrChannelFull)
		}
		return ch.Put(ctx, evs)
	}, func(c *SinkConfig) { c.Compression = "zstd" })
	const n = 5000
	want := make([]string, 0, n)
	for i := 0; i < n; i += 100 {
		evs := makeEvents("e", i, 100)
		want = append(want, bodies(evs)...)
		if err := p.in.Put(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for p.in.Len() > 0 {
		if _, err := p.sink.Process(ctx); err != nil {
			if !strings.Contains(err.Error(), "injected") && !errors.Is(err, ErrNoMember) {
				t.Fatal(err)
			}
			time.Sleep(12 * time.Millisecond) // the member's back-off
		}
	}
	var got []string
	for {
		tk, _ := p.out.Take(ctx, 1000)
		evs := tk.Events()
		got = append(got, bodies(evs)...)
		_ = tk.Commit()
		if len(evs) == 0 {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %d events, want %d, in order", len(got), len(want))
	}
	if refused.Load() == 0 {
		t.Fatal("no put was refused")
	}
	if v := p.metric(monitor.KindSink, "EventDrainSuccessCount"); v != n {
		t.Errorf("EventDrainSuccessCount %v", v)
	}
	if v := p.metric(monitor.KindSource, "EventAcceptedCount"); v != n {
		t.Errorf("EventAcceptedCount %v", v)
	}
	if v := p.metric(monitor.KindSource, "ChannelWriteFail"); v != float64(refused.Load()) {
		t.Errorf("ChannelWriteFail %v, refused %d", v, refused.Load())
	}
	if v := p.metric(monitor.KindSink, "ConnectionCreatedCount"); v < 1 {
		t.Errorf("ConnectionCreatedCount %v", v)
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	p := newPair(t, func(ctx context.Context, ch *channel.Memory, evs []event.Event) error { return ch.Put(ctx, evs) }, nil)
	for _, c := range []component.Component{p.sink, p.src} {
		for round := 0; round < 2; round++ {
			if err := c.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Stop(ctx); err != nil {
				t.Fatalf("Stop twice: %v", err)
			}
			if err := c.Start(ctx, nil); err != nil {
				t.Fatalf("Start after Stop: %v", err)
			}
		}
	}
	if _, err := p.sink.Process(ctx); err != nil {
		t.Fatal(err)
	}
	_ = p.sink.Stop(ctx)
	if _, err := p.sink.Process(ctx); !errors.Is(err, component.ErrStopped) {
		t.Fatalf("Process after Stop: %v", err)
	}
	if p.src.Addr() == nil {
		t.Fatal("source not listening")
	}
	_ = p.src.Stop(ctx)
	if p.src.Addr() != nil {
		t.Fatal("Addr after Stop")
	}
}
