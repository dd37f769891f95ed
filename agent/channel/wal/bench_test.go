package wal

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vscope/vscope/agent/event"
)

// replayEvents is the queue size the replay benchmark restarts with.
const replayEvents = 1_000_000

// BenchmarkWALReplay measures how long Open takes to recover a queue of one
// million 256-byte events (10 000 puts of 100), in three situations:
//
//   - checkpointed: the previous process stopped cleanly (checkpoint on
//     close); recovery reads the checkpoint and nothing of the log;
//   - after-crash: the process was killed with the whole queue written
//     after the last checkpoint, so recovery reads and checksums all of it
//     (about 280 MB) from the page cache;
//   - after-crash-cold: the same with the page cache dropped first, so the
//     log is read from the disk. Dropping the cache affects the whole
//     machine, so it runs only with VSCOPE_BENCH_DROP_CACHES=1 (and root).
//
// It reports ms/replay and replayed events/s.
func BenchmarkWALReplay(b *testing.B) {
	base := b.TempDir()
	if d := os.Getenv("VSCOPE_BENCH_DIR"); d != "" {
		var err error
		if base, err = os.MkdirTemp(d, "replay-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.RemoveAll(base) })
	}
	o := Options{
		CheckpointDir: filepath.Join(base, "checkpoint"),
		DataDirs:      []string{filepath.Join(base, "data")},
		MaxFileSize:   256 << 20,
	}
	q, err := Open(o)
	if err != nil {
		b.Fatal(err)
	}
	// Fill with 16 committers so group commit keeps the set-up short.
	const per = 100
	var wg sync.WaitGroup
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]event.Event, per)
			for i := range batch {
				batch[i] = event.Event{Body: make([]byte, 256)}
			}
			for i := c; i < replayEvents/per; i += 16 {
				if err := q.Put(batch); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	crash(q) // the checkpoint is the one Open wrote: an empty queue
	ckPath := filepath.Join(o.CheckpointDir, ckName)
	crashCk, err := os.ReadFile(ckPath)
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, prepare func(), checkpointed bool) {
		var total float64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			prepare()
			b.StartTimer()
			q, err := Open(o)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			st := q.Stats()
			if st.Queued != replayEvents {
				b.Fatalf("recovered %d events, want %d", st.Queued, replayEvents)
			}
			if checkpointed != (st.ReplayRecords == 0) {
				b.Fatalf("replayed %d records", st.ReplayRecords)
			}
			total += st.ReplayTime.Seconds()
			if checkpointed {
				_ = q.Close()
			} else {
				crash(q)
			}
		}
		b.ReportMetric(total*1000/float64(b.N), "ms/replay")
		b.ReportMetric(replayEvents*float64(b.N)/total, "events/s")
	}
	restoreCrashCk := func() {
		if err := os.WriteFile(ckPath, crashCk, 0o640); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("after-crash", func(b *testing.B) { run(b, restoreCrashCk, false) })
	b.Run("after-crash-cold", func(b *testing.B) {
		if os.Getenv("VSCOPE_BENCH_DROP_CACHES") != "1" {
			b.Skip("set VSCOPE_BENCH_DROP_CACHES=1 to drop the page cache (machine-wide, root only)")
		}
		if err := dropCaches(); err != nil {
			b.Skipf("cannot drop the page cache: %v", err)
		}
		run(b, func() {
			restoreCrashCk()
			if err := dropCaches(); err != nil {
				b.Fatal(err)
			}
		}, false)
	})
	// A clean stop writes the checkpoint the next start uses.
	restoreCrashCk()
	q, err = Open(o)
	if err != nil {
		b.Fatal(err)
	}
	if err := q.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("checkpointed", func(b *testing.B) { run(b, func() {}, true) })
}

// dropCaches writes dirty pages and empties the page cache (root only).
func dropCaches() error {
	if err := syncAll(); err != nil {
		return err
	}
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0)
}
