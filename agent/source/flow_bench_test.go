package source_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vscope/vscope/agent"
	"github.com/vscope/vscope/agent/catalog"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/monitor"
)

// BenchmarkFlowSeqMemoryNull runs the flow seq -> memory -> null in a real
// agent, with its runners: seq with bodySize 100 and batchSize 1000, a
// memory channel of 100000 events, a null sink taking 1000 at a time. One
// op is one event; the target is 3 million events/s on 2 cores
// (go test -bench Flow -cpu 2 -benchtime 20000000x).
func BenchmarkFlowSeqMemoryNull(b *testing.B) {
	conf := fmt.Sprintf(`
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.totalEvents = %d
a1.sources.r1.batchSize = 1000
a1.sources.r1.bodySize = 100
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 100000
a1.channels.c1.transactionCapacity = 1000
a1.sinks.k1.type = null
a1.sinks.k1.batchSize = 1000
a1.sinks.k1.channel = c1
`, b.N)
	props, err := config.Parse(strings.NewReader(conf), "bench.conf")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(props, "bench.conf", "a1", catalog.Default(), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	a := agent.New("a1", catalog.Default(), agent.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	drained := func() float64 { return sample(a.Registry(), monitor.KindSink, "EventDrainSuccessCount") }
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := a.Apply(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	for drained() < float64(b.N) {
		time.Sleep(time.Millisecond) // polls a counter: the agent has no completion signal
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if err := a.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

func sample(reg *monitor.Registry, kind monitor.Kind, metric string) float64 {
	for _, s := range reg.Samples() {
		if s.Kind == kind && s.Metric == metric {
			return s.Value
		}
	}
	return 0
}
