package forward

import (
	"context"
	"encoding/binary"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

// hop is one agent -> collector hop in a process: a memory channel drained
// by a forward sink (driven like a sink runner: Process, and wait on the
// channel when it has nothing) over loopback TCP into a forward source
// that puts into a second memory channel, which a consumer drains.
// onCommit runs after each put into the collector's channel committed.
type hop struct {
	in, out *channel.Memory
	sink    *Sink
	src     *Source
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

func benchMemory(name string) *channel.Memory {
	cfg := channel.NewMemoryConfig()
	cfg.Capacity, cfg.TxCapacity, cfg.ByteCapacity, cfg.KeepAlive = 100000, 1000, 1<<30, 3
	ch := channel.NewMemory(*cfg, monitor.NewRegistry("bench").Channel(name, "memory"))
	_ = ch.Start(context.Background(), nil)
	return ch
}

func newHop(b *testing.B, codec string, batch int, onCommit func(evs []event.Event)) *hop {
	b.Helper()
	h := &hop{in: benchMemory("in"), out: benchMemory("out")}
	reg := monitor.NewRegistry("bench")
	scfg := NewSourceConfig()
	scfg.Bind, scfg.Batch = "127.0.0.1", batch
	src, err := NewSource(component.SourceSettings{
		Settings: component.Settings{Agent: "collector", Name: "r1", Type: "forward"},
		Counter:  reg.Source("r1", "forward"),
		Processor: component.ProcessorFunc(func(ctx context.Context, evs []event.Event) error {
			if err := h.out.Put(ctx, evs); err != nil {
				return err
			}
			if onCommit != nil {
				onCommit(evs)
			}
			return nil
		}),
	}, *scfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := src.Start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	h.src = src
	_, port, _ := net.SplitHostPort(src.Addr().String())
	kcfg := NewSinkConfig()
	kcfg.Hostname = "127.0.0.1"
	kcfg.Port, _ = strconv.Atoi(port)
	kcfg.Batch, kcfg.Compression = batch, codec
	sink, err := NewSink(component.SinkSettings{
		Settings: component.Settings{Agent: "agent", Name: "k1", Type: "forward"},
		Counter:  reg.Sink("k1", "forward"), Channel: h.in}, *kcfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := sink.Start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	h.sink = sink
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.wg.Add(2)
	go func() { // the sink runner
		defer h.wg.Done()
		for ctx.Err() == nil {
			wake := h.in.Notify()
			st, err := sink.Process(ctx)
			if err == nil && st == component.Ready {
				continue
			}
			select {
			case <-ctx.Done():
			case <-wake:
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	go func() { // the collector's sink: drain and discard
		defer h.wg.Done()
		for ctx.Err() == nil {
			wake := h.out.Notify()
			tk, _ := h.out.Take(ctx, batch)
			n := len(tk.Events())
			_ = tk.Commit()
			if n == 0 {
				select {
				case <-ctx.Done():
				case <-wake:
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	}()
	return h
}

func (h *hop) close() {
	h.cancel()
	h.wg.Wait()
	_ = h.sink.Stop(context.Background())
	_ = h.src.Stop(context.Background())
	_ = h.in.Stop(context.Background())
	_ = h.out.Stop(context.Background())
}

// bodies1K returns n events of 1 KB bodies; the first 8 bytes of each are
// set by stamp.
func bodies1K(n int) []event.Event {
	slab := make([]byte, n*1024)
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i].Body = slab[i*1024 : (i+1)*1024 : (i+1)*1024]
		for j := 8; j < 1024; j++ {
			evs[i].Body[j] = byte('a' + (i+j)%26)
		}
	}
	return evs
}

// BenchmarkForwardThroughput moves b.N events of 1 KB through one hop as
// fast as it goes: events/s and MB/s of bodies, from the first put to the
// last commit on the collector.
func BenchmarkForwardThroughput(b *testing.B) {
	for _, codec := range []string{"none", "snappy"} {
		b.Run("codec="+codec, func(b *testing.B) {
			var mu sync.Mutex
			got := 0
			done := make(chan struct{})
			target := b.N
			h := newHop(b, codec, 1000, func(evs []event.Event) {
				mu.Lock()
				got += len(evs)
				if got == target {
					close(done)
				}
				mu.Unlock()
			})
			defer h.close()
			evs := bodies1K(1000)
			b.SetBytes(1024)
			b.ResetTimer()
			start := time.Now()
			for sent := 0; sent < target; {
				n := min(1000, target-sent)
				if err := h.in.Put(context.Background(), evs[:n]); err != nil {
					b.Fatal(err)
				}
				sent += n
			}
			<-done
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(target)/secs, "events/s")
		})
	}
}

// BenchmarkForwardLatency offers 1 KB events at a fixed rate (batches put
// every millisecond) for two seconds and reports the latency from the put
// into the agent's channel to the commit into the collector's channel.
// Run it with -benchtime 1x: the duration is fixed.
func BenchmarkForwardLatency(b *testing.B) {
	for _, rate := range []int{10000, 50000} {
		b.Run("rate="+strconv.Itoa(rate), func(b *testing.B) {
			var mu sync.Mutex
			var lat []time.Duration
			h := newHop(b, "none", 1000, func(evs []event.Event) {
				now := time.Now().UnixNano()
				mu.Lock()
				for i := range evs {
					lat = append(lat, time.Duration(now-int64(binary.BigEndian.Uint64(evs[i].Body))))
				}
				mu.Unlock()
			})
			defer h.close()
			perTick := rate / 1000
			evs := bodies1K(perTick)
			const runFor = 2 * time.Second
			b.ResetTimer()
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			start := time.Now()
			sent := 0
			for time.Since(start) < runFor {
				<-t.C
				// Catch up after a late tick so the offered rate holds.
				due := int(time.Since(start).Seconds()*float64(rate)) - sent
				for due > 0 {
					n := min(due, perTick)
					now := uint64(time.Now().UnixNano())
					for i := range evs[:n] {
						binary.BigEndian.PutUint64(evs[i].Body, now)
					}
					if err := h.in.Put(context.Background(), evs[:n]); err != nil {
						b.Fatal(err)
					}
					sent += n
					due -= n
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				mu.Lock()
				n := len(lat)
				mu.Unlock()
				if n >= sent || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			mu.Lock()
			defer mu.Unlock()
			if len(lat) < sent {
				b.Fatalf("%d of %d events arrived", len(lat), sent)
			}
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
			b.ReportMetric(float64(sent)/runFor.Seconds(), "events/s")
			b.ReportMetric(q(0.5), "p50_us")
			b.ReportMetric(q(0.99), "p99_us")
			b.ReportMetric(q(1), "max_us")
		})
	}
}
