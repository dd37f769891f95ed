package source

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// runSeq calls Process until it returns Backoff with no error, and
// returns the statuses it saw before that.
func runSeq(t *testing.T, s *Seq) (ready int) {
	t.Helper()
	for i := 0; ; i++ {
		st, err := s.Process(context.Background())
		if err != nil {
			t.Fatalf("Process %d: %v", i, err)
		}
		if st == component.Backoff {
			return ready
		}
		ready++
	}
}

func TestSeqBodiesAndCounts(t *testing.T) {
	f := func(cfg SeqConfig, wantBatches int, body func(i int64) string) {
		t.Helper()
		p := newPipe(t, "seq", 10000, 0)
		s, err := NewSeq(p.set, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := runSeq(t, s); got != wantBatches {
			t.Errorf("%+v: %d Ready batches, want %d", cfg, got, wantBatches)
		}
		// totalEvents reached: it stays Backoff.
		if st, err := s.Process(context.Background()); st != component.Backoff || err != nil {
			t.Errorf("after the end: %v, %v", st, err)
		}
		evs := p.drain(t)
		if int64(len(evs)) != cfg.TotalEvents {
			t.Fatalf("%+v: %d events, want %d", cfg, len(evs), cfg.TotalEvents)
		}
		for i, e := range evs {
			if want := body(int64(i)); string(e.Body) != want {
				t.Fatalf("%+v: event %d body %q, want %q", cfg, i, e.Body, want)
			}
			if cap(e.Body) != len(e.Body) {
				t.Fatalf("event %d: body cap %d > len %d: appending to it would overwrite the next body", i, cap(e.Body), len(e.Body))
			}
			if e.Headers != nil {
				t.Fatalf("event %d has headers %v", i, e.Headers)
			}
		}
		n := float64(cfg.TotalEvents)
		p.wantMetrics(t, map[string]float64{
			"AppendBatchReceivedCount": float64(wantBatches), "AppendBatchAcceptedCount": float64(wantBatches),
			"EventReceivedCount": n, "EventAcceptedCount": n, "ChannelWriteFail": 0,
		})
	}
	decimal := func(i int64) string { return strconv.FormatInt(i, 10) }
	f(SeqConfig{TotalEvents: 25, Batch: 1}, 25, decimal)
	f(SeqConfig{TotalEvents: 25, Batch: 7}, 4, decimal)
	f(SeqConfig{TotalEvents: 2500, Batch: 1000}, 3, decimal) // crosses 10, 100, 1000 inside a batch
	f(SeqConfig{TotalEvents: 1234, Batch: 100, BodySize: 6}, 13, func(i int64) string { return fmt.Sprintf("%06d", i) })
	f(SeqConfig{TotalEvents: 300, Batch: 64, BodySize: 40}, 5, func(i int64) string { return fmt.Sprintf("%040d", i) })
	// Narrower than the number: the low-order digits, still exactly bodySize bytes.
	f(SeqConfig{TotalEvents: 1050, Batch: 100, BodySize: 2}, 11, func(i int64) string { return fmt.Sprintf("%02d", i%100) })
	f(SeqConfig{TotalEvents: 0, Batch: 10}, 0, decimal)
}

// TestSeqLargeNumbers checks the digits carry correctly near the top of
// the int64 range.
func TestSeqLargeNumbers(t *testing.T) {
	p := newPipe(t, "seq", 100, 0)
	s, err := NewSeq(p.set, SeqConfig{TotalEvents: math.MaxInt64, Batch: 10})
	if err != nil {
		t.Fatal(err)
	}
	start := int64(math.MaxInt64 - 15)
	s.setNext(start)
	runSeq(t, s)
	evs := p.drain(t)
	if len(evs) != 15 {
		t.Fatalf("%d events, want 15", len(evs))
	}
	for i, e := range evs {
		if want := strconv.FormatInt(start+int64(i), 10); string(e.Body) != want {
			t.Fatalf("event %d: %q, want %q", i, e.Body, want)
		}
	}
}

// TestSeqPutFailure checks a failed put returns Backoff with the error,
// counts ChannelWriteFail, and regenerates the same numbers next time, so
// the sequence has neither gaps nor duplicates.
func TestSeqPutFailure(t *testing.T) {
	p := newPipe(t, "seq", 1000, 0)
	p.set.Processor = failN(p.set.Processor, 1, 2)
	s, err := NewSeq(p.set, SeqConfig{TotalEvents: 40, Batch: 10, BodySize: 3})
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for i := 0; i < 7; i++ {
		st, err := s.Process(context.Background())
		statuses = append(statuses, fmt.Sprint(st, err != nil))
	}
	want := "[READY false BACKOFF true BACKOFF true READY false READY false READY false BACKOFF false]"
	if got := fmt.Sprint(statuses); got != want {
		t.Errorf("statuses %s, want %s", got, want)
	}
	got := bodies(p.drain(t))
	for i, b := range got {
		if want := fmt.Sprintf("%03d", i); b != want {
			t.Fatalf("event %d: %q, want %q (all: %v)", i, b, want, got)
		}
	}
	if len(got) != 40 {
		t.Fatalf("%d events, want 40", len(got))
	}
	p.wantMetrics(t, map[string]float64{
		"ChannelWriteFail": 2, "AppendBatchReceivedCount": 6, "AppendBatchAcceptedCount": 4,
		"EventReceivedCount": 60, "EventAcceptedCount": 40,
	})
}

// TestSeqChannelFull runs seq into a small channel that nobody drains.
func TestSeqChannelFull(t *testing.T) {
	p := newPipe(t, "seq", 10, 0)
	s, err := NewSeq(p.set, SeqConfig{TotalEvents: 100, Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if st, err := s.Process(context.Background()); st != component.Ready || err != nil {
			t.Fatalf("Process %d: %v %v", i, st, err)
		}
	}
	st, err := s.Process(context.Background())
	if st != component.Backoff || !errors.Is(err, component.ErrChannelFull) {
		t.Fatalf("full channel: %v %v, want BACKOFF and ErrChannelFull", st, err)
	}
	if s.Next() != 8 {
		t.Errorf("Next = %d, want 8", s.Next())
	}
	p.drain(t)
	if st, err := s.Process(context.Background()); st != component.Ready || err != nil {
		t.Fatalf("after drain: %v %v", st, err)
	}
	if got := bodies(p.drain(t)); strings.Join(got, ",") != "8,9,10,11" {
		t.Errorf("after drain got %v, want 8..11", got)
	}
	p.wantMetrics(t, map[string]float64{"ChannelWriteFail": 1, "EventAcceptedCount": 12})
}

// nullProcessor accepts every batch and drops it.
var nullProcessor = component.ProcessorFunc(func(context.Context, []event.Event) error { return nil })

// BenchmarkSeq measures generation alone: seq into a processor that drops.
func BenchmarkSeq(b *testing.B) {
	for _, size := range []int{0, 100} {
		b.Run(fmt.Sprintf("bodySize=%d/batchSize=1000", size), func(b *testing.B) {
			p := newPipe(b, "seq", 1, 0)
			p.set.Processor = nullProcessor
			s, err := NewSeq(p.set, SeqConfig{TotalEvents: math.MaxInt64, Batch: 1000, BodySize: size})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			start := time.Now()
			for s.Next() < int64(b.N) {
				if _, err := s.Process(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(s.Next())/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkSeqMemoryNull is the flow seq -> memory -> null: the benchmark
// goroutine is the source runner, another goroutine is a null sink that
// takes and commits batches of 1000. One op is one event.
func BenchmarkSeqMemoryNull(b *testing.B) {
	const batch = 1000
	pp := newPipe(b, "seq", 10*batch, 3)
	s, err := NewSeq(pp.set, SeqConfig{TotalEvents: int64(b.N), Batch: batch, BodySize: 100})
	if err != nil {
		b.Fatal(err)
	}
	sinkDone := make(chan int64)
	go func() {
		var taken int64
		for taken < int64(b.N) {
			<-pp.ch.Notify()
			tk, err := pp.ch.Take(context.Background(), batch)
			if err != nil {
				panic(err)
			}
			taken += int64(len(tk.Events()))
			_ = tk.Commit()
		}
		sinkDone <- taken
	}()
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for {
		st, err := s.Process(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if st == component.Backoff {
			break
		}
	}
	taken := <-sinkDone
	b.ReportMetric(float64(taken)/time.Since(start).Seconds(), "events/s")
}
