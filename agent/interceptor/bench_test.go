package interceptor

import (
	"testing"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// benchBatch runs ic over batches of 1000 events, as a source hands them
// over, and reports events/s. The headers maps are made once and reused,
// so what is measured is the interceptor, not the test's allocations.
func benchBatch(b *testing.B, ic component.Interceptor) {
	const size = 1000
	batch := make([]event.Event, size)
	for i := range batch {
		batch[i] = event.Event{Headers: map[string]string{}, Body: []byte("2012-10-18 18:47:57,614 some log line")}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if out := ic.Intercept(batch); len(out) != size {
			b.Fatalf("%d events out", len(out))
		}
	}
	b.ReportMetric(float64(b.N)*size/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkTimestamp(b *testing.B) {
	benchBatch(b, mustInterceptor(b, TimestampFactory(), nil))
}

func BenchmarkUUID(b *testing.B) {
	// preserveExisting=false, so every event gets a new id every round.
	benchBatch(b, mustInterceptor(b, UUIDFactory(), map[string]string{"preserveExisting": "false"}))
}
