//go:build linux

package channel

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

// benchDir is where the file channel benchmarks write: $VSCOPE_BENCH_DIR
// (to measure a given disk) or the test's temp dir.
func benchDir(b *testing.B) string {
	if d := os.Getenv("VSCOPE_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "filechannel-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// benchBatch is the events per put: Flume's default batch size.
const benchBatch = 100

// BenchmarkFileChannelPut measures durable puts (each returns after its
// fsync) of 100-event batches from 1, 4 and 16 concurrent committers,
// and, in the same run on the same disk, the physical limit: a loop that
// appends the same bytes and fdatasyncs, with the batches of all
// committers in one write per fsync (perfect grouping). It reports
// events/s and MB/s of event bodies for both and their ratio.
func BenchmarkFileChannelPut(b *testing.B) {
	for _, size := range []int{256, 4096} {
		for _, committers := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("event=%dB/committers=%d", size, committers), func(b *testing.B) {
				benchFilePut(b, size, committers)
			})
		}
	}
}

// The disk under test may be shared, throttled and noisy, so the channel
// and the raw loop alternate in short slices (in ABBA blocks): each sums
// its slices, and the ratio is also taken per block, whose median is
// robust to the disk's swings.
const (
	benchSlice  = 100 * time.Millisecond
	benchRounds = 20
)

func benchFilePut(b *testing.B, size, committers int) {
	dir := benchDir(b)
	cfg := *NewFileConfig()
	cfg.CheckpointDir = filepath.Join(dir, "checkpoint")
	cfg.DataDirs = filepath.Join(dir, "data")
	cfg.Capacity = 50_000_000
	cfg.TxCapacity = benchBatch
	f, err := NewFile(component.ChannelSettings{Counter: monitor.NewRegistry("a1").Channel("c1", "file")}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	defer f.Stop(context.Background())
	batches := make([][]event.Event, committers)
	for i := range batches {
		batches[i] = make([]event.Event, benchBatch)
		for j := range batches[i] {
			batches[i][j] = event.Event{Body: make([]byte, size)}
		}
	}
	raw := newRawLoop(b, dir, size*benchBatch*committers)
	var events int64
	var chTime time.Duration
	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// ABBA blocks: the slot order alternates, so a disk that favours
		// whatever runs first (or second) in a block favours neither.
		for r := 0; r < benchRounds; r += 2 {
			var chBytes, rawBytes int64
			var chD, rawD time.Duration
			for _, rawFirst := range []bool{false, true} {
				if rawFirst {
					rb, rd := raw.run(benchSlice)
					rawBytes, rawD = rawBytes+rb, rawD+rd
				}
				n, d := putFor(b, f, batches, benchSlice)
				events, chTime = events+n, chTime+d
				chBytes, chD = chBytes+n*int64(size), chD+d
				if !rawFirst {
					rb, rd := raw.run(benchSlice)
					rawBytes, rawD = rawBytes+rb, rawD+rd
				}
			}
			ratios = append(ratios, (float64(chBytes)/chD.Seconds())/(float64(rawBytes)/rawD.Seconds()))
		}
	}
	b.StopTimer()
	st := f.Stats()
	rate := float64(events) / chTime.Seconds()
	rawRate := raw.bytesPerSec()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(rate*float64(size)/1e6, "MB/s")
	b.ReportMetric(rawRate/float64(size), "raw_events/s")
	b.ReportMetric(rawRate/1e6, "raw_MB/s")
	b.ReportMetric(rate*float64(size)/rawRate, "ratio")
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "median_ratio")
	b.ReportMetric(float64(st.Records)/float64(max(st.Fsyncs, 1)), "puts/fsync")
}

// putFor runs one committer per batch, putting it over and over for d,
// and returns the events put and the time taken.
func putFor(b *testing.B, f *File, batches [][]event.Event, d time.Duration) (int64, time.Duration) {
	var wg sync.WaitGroup
	var events atomic.Int64
	errs := make(chan error, len(batches))
	start := time.Now()
	deadline := start.Add(d)
	for _, batch := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := f.Put(context.Background(), batch); err != nil {
					errs <- err
					return
				}
				events.Add(int64(len(batch)))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return events.Load(), elapsed
}

// rawLoop is the physical limit: append chunk bytes to a file and
// fdatasync, over and over.
type rawLoop struct {
	b       *testing.B
	fd      *os.File
	buf     []byte
	written int64
	took    time.Duration
}

func newRawLoop(b *testing.B, dir string, chunk int) *rawLoop {
	path := filepath.Join(dir, "raw.dat")
	fd, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = fd.Close()
		_ = os.Remove(path)
	})
	return &rawLoop{b: b, fd: fd, buf: make([]byte, chunk)}
}

// run appends and syncs for d and returns the bytes and the time taken.
func (r *rawLoop) run(d time.Duration) (int64, time.Duration) {
	start := time.Now()
	var written int64
	for time.Since(start) < d {
		n, err := r.fd.Write(r.buf)
		if err != nil {
			r.b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(r.fd.Fd())); err != nil {
			r.b.Fatal(err)
		}
		written += int64(n)
	}
	took := time.Since(start)
	r.written, r.took = r.written+written, r.took+took
	return written, took
}

func (r *rawLoop) bytesPerSec() float64 { return float64(r.written) / r.took.Seconds() }
