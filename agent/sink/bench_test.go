package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// benchPipeline puts b.N events into a memory channel from a producer
// goroutine (a stand-in for the seq source) while s drains it the way a
// sink runner does, and reports events/s through the whole pipeline.
func benchPipeline(b *testing.B, r *rig, s component.Sink, body []byte) {
	benchPipelineThen(b, r, s, body, nil, 100, nil)
}

// benchPipelineThen is benchPipeline with headers on every event, batches
// of batch events, and finish (when set) run inside the timing after the
// channel is drained, for sinks whose work is not done at commit.
func benchPipelineThen(b *testing.B, r *rig, s component.Sink, body []byte, headers map[string]string, batch int, finish func()) {
	events := make([]event.Event, batch)
	for i := range events {
		events[i] = event.Event{Body: body, Headers: headers}
	}
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for left := b.N; left > 0; left -= batch {
			for {
				err := r.ch.Put(ctx, events[:min(batch, left)])
				if err == nil {
					break
				}
				if !errors.Is(err, component.ErrChannelFull) {
					b.Error(err)
					return
				}
			}
		}
	}()
	drained := func() bool { return r.counter().EventDrainSuccess.Get() >= uint64(b.N) }
	for !drained() {
		st, err := s.Process(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if st == component.Backoff && !drained() {
			select {
			case <-r.ch.Notify():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	if finish != nil {
		finish()
	}
	elapsed := time.Since(start)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	// CPU time of the whole process (producer included) per event: on a
	// shared machine it is steadier than the wall clock.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/event")
}

// cpuTime is the user + system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkNull is memory -> null with 100-event batches; target 3 million
// events/s on 2 cores (go test -bench Null -cpu 2).
func BenchmarkNull(b *testing.B) {
	r := newRig(b, "null", 10000, 100)
	s, err := NewNull(r.set, *NewNullConfig())
	if err != nil {
		b.Fatal(err)
	}
	benchPipeline(b, r, s, []byte("0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"))
}

// BenchmarkRoll is memory -> file_roll (TEXT, no fsync) with 100-byte bodies.
func BenchmarkRoll(b *testing.B) {
	r := newRig(b, "file_roll", 10000, 100)
	cfg := NewRollConfig()
	cfg.Directory = b.TempDir()
	cfg.RollInterval = 0
	s, err := NewRoll(r.set, *cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop(context.Background())
	benchPipeline(b, r, s, []byte(strings.Repeat("x", 99)))
}

// BenchmarkRollFsync is BenchmarkRoll with sink.fsync = true: one fsync per
// 100-event batch.
func BenchmarkRollFsync(b *testing.B) {
	r := newRig(b, "file_roll", 10000, 100)
	cfg := NewRollConfig()
	cfg.Directory = b.TempDir()
	cfg.RollInterval = 0
	cfg.Fsync = true
	s, err := NewRoll(r.set, *cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Stop(context.Background())
	benchPipeline(b, r, s, []byte(strings.Repeat("x", 99)))
}

// BenchmarkParquet is memory -> parquet (snappy, map column of three
// headers, no fsync) with 100-event batches and 64 MiB of bodies per
// file. The conversion of every file to Parquet, including the last at
// Stop, is inside the timing; MB/s counts body bytes.
func BenchmarkParquet(b *testing.B) {
	for _, size := range []int{100, 1024} {
		for _, batch := range []int{100, 1000} {
			b.Run(fmt.Sprintf("body=%d/batch=%d", size, batch), func(b *testing.B) {
				r := newRig(b, "parquet", 10*batch, batch)
				cfg := NewParquetConfig()
				cfg.Path = b.TempDir()
				cfg.RollInterval, cfg.RollCount, cfg.RollSize = 0, 0, 64<<20
				cfg.SinkBatch = batch
				s, err := NewParquet(r.set, *cfg)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Start(context.Background(), nil); err != nil {
					b.Fatal(err)
				}
				stop := func() {
					if err := s.Stop(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				headers := map[string]string{"timestamp": "1700000000000", "host": "web-17.example.com", "app": "checkout"}
				benchPipelineThen(b, r, s, []byte(strings.Repeat("x", size-1)+"\n"), headers, batch, stop)
			})
		}
	}
}
