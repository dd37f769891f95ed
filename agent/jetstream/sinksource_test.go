package jetstream

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

func memChannel(t *testing.T) *channel.Memory {
	cfg := channel.NewMemoryConfig()
	cfg.Capacity, cfg.TxCapacity, cfg.KeepAlive = 10000, 1000, 0
	ch := channel.NewMemory(*cfg, monitor.NewRegistry("m").Channel("c", "memory"))
	_ = ch.Start(context.Background(), nil)
	t.Cleanup(func() { _ = ch.Stop(context.Background()) })
	return ch
}

// memory -> jetstream sink -> stream -> jetstream source -> memory: every
// event arrives once, in order; a refused put is offered again.
func TestSinkToSource(t *testing.T) {
	ns := startNATS(t, t.TempDir(), 0)
	ctx := context.Background()
	cfg := NewEndpointConfig()
	cfg.Servers, cfg.Stream, cfg.Subject, cfg.Batch = ns.url, "LOGS", "logs.in", 50
	in, out := memChannel(t), memChannel(t)
	reg := monitor.NewRegistry("a1")
	sink, err := NewSink(component.SinkSettings{Settings: component.Settings{Agent: "a1", Name: "k1", Type: "jetstream"},
		Counter: reg.Sink("k1", "jetstream"), Channel: in}, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Start(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer sink.Stop(ctx)
	refuse := 2
	src, err := NewSource(component.SourceSettings{Settings: component.Settings{Agent: "c1", Name: "r1", Type: "jetstream"},
		Counter: reg.Source("r1", "jetstream"),
		Processor: component.ProcessorFunc(func(ctx context.Context, evs []event.Event) error {
			if refuse > 0 {
				refuse--
				return component.ErrChannelFull
			}
			return out.Put(ctx, evs)
		})}, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < 10; i++ {
		evs := events("j", i*50, 50)
		want = append(want, bodies(evs)...)
		if err := in.Put(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
	for in.Len() > 0 {
		if _, err := sink.Process(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.Start(ctx, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for out.Len() < len(want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := src.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	tk, _ := out.Take(ctx, 1000)
	got := bodies(tk.Events())
	_ = tk.Commit()
	tk, _ = out.Take(ctx, 1000)
	if n := len(tk.Events()); n > 0 {
		got = append(got, bodies(tk.Events())...)
	}
	_ = tk.Commit()
	if !slices.Equal(got, want) {
		t.Fatalf("got %d events, want %d in order (first %v)", len(got), len(want), got[:min(5, len(got))])
	}
	if refuse != 0 {
		t.Fatal("the refusals were not exercised")
	}
}

func TestEndpointFactories(t *testing.T) {
	f := component.NewFactories([]component.SourceFactory{SourceFactory()},
		[]component.ChannelFactory{channel.MemoryFactory()}, []component.SinkFactory{SinkFactory()})
	text := "a1.sources = r1\na1.channels = c1\na1.sinks = k1\na1.channels.c1.type = memory\n" +
		"a1.sources.r1.type = jetstream\na1.sources.r1.channels = c1\na1.sources.r1.servers = nats://x:4222\n" +
		"a1.sources.r1.stream = S\na1.sources.r1.subject = s.in\n" +
		"a1.sinks.k1.type = jetstream\na1.sinks.k1.channel = c1\na1.sinks.k1.servers = nats://x:4222\na1.sinks.k1.stream = S\n"
	ps, _ := config.Parse(strings.NewReader(text), "t.conf")
	_, err := config.Load(ps, "t.conf", "a1", f, func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), "a1.sinks.k1.subject: required property is missing") {
		t.Fatalf("error %v", err)
	}
	ps, _ = config.Parse(strings.NewReader(text+"a1.sinks.k1.subject = s.in\n"), "t.conf")
	a, err := config.Load(ps, "t.conf", "a1", f, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Sinks[0].Config.(*EndpointConfig).Batch; got != 100 {
		t.Fatal(fmt.Sprint("batch ", got))
	}
}
