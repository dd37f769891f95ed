package wal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPutTakeRollbackCommitReopen(t *testing.T) {
	o, _ := testOpts(t, 1)
	q := mustOpen(t, o)
	mustPut(t, q, mkBatch(0, 10, 100))
	mustPut(t, q, mkBatch(10, 10, 100))
	if q.Len() != 20 {
		t.Fatalf("Len %d, want 20", q.Len())
	}
	// A rolled-back partial take comes back at the head, in order.
	tx, err := q.Take(15)
	if err != nil || len(tx.Events()) != 15 {
		t.Fatalf("Take: %v, %d events", err, len(tx.Events()))
	}
	if q.Len() != 5 || q.Size() != 20 {
		t.Fatalf("Len %d Size %d during the take", q.Len(), q.Size())
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); !errors.Is(err, ErrTxDone) {
		t.Fatalf("Commit after Rollback: %v", err)
	}
	// Commit the first 5, leave 5 open across a clean close.
	tx, _ = q.Take(5)
	equalIDs(t, "first take", ids(t, tx), seqIDs(0, 5))
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	open, _ := q.Take(5)
	equalIDs(t, "open take", ids(t, open), seqIDs(5, 5))
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := open.Commit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Close: %v, want ErrClosed", err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	q = mustOpen(t, o)
	if st := q.Stats(); st.Checkpoint != "primary" || st.ReplayRecords != 0 {
		t.Fatalf("clean reopen: %+v, want the primary checkpoint and nothing replayed", st)
	}
	equalIDs(t, "after reopen", takeAll(t, q, 100), seqIDs(5, 15))
}

func ids(t testing.TB, tx *TakeTx) []uint64 {
	t.Helper()
	var out []uint64
	for _, e := range tx.Events() {
		out = append(out, checkEvent(t, e, 100))
	}
	return out
}

// After a crash (no checkpoint on close) every acknowledged put and no
// committed take is back, whether the records are before or after the
// last checkpoint, over several data directories and many segments.
func TestCrashRecoversExactly(t *testing.T) {
	o, _ := testOpts(t, 3)
	o.MaxFileSize = 8 << 10
	q := mustOpen(t, o)
	for i := uint64(0); i < 40; i++ {
		mustPut(t, q, mkBatch(i*10, 10, 100))
	}
	equalIDs(t, "first round", takeAll(t, q, 100), seqIDs(0, 400))
	// Put again, checkpoint half way.
	for i := uint64(40); i < 80; i++ {
		mustPut(t, q, mkBatch(i*10, 10, 100))
		if i == 60 {
			if err := q.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	tx, _ := q.Take(55)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Take(20); err != nil { // never committed: must come back
		t.Fatal(err)
	}
	crash(q)
	q = mustOpen(t, o)
	st := q.Stats()
	if st.TornTails != 0 || st.CorruptRecords != 0 {
		t.Fatalf("clean crash reported damage: %+v", st)
	}
	equalIDs(t, "after crash", takeAll(t, q, 100), seqIDs(455, 345))
	for _, d := range o.DataDirs {
		if len(segFiles(t, d)) == 0 {
			t.Fatalf("data directory %s holds no segment: puts were not spread", d)
		}
	}
}

// Truncating the log at every offset inside its last record (a torn write
// at the moment of a crash) loses exactly that record, which no Put had
// returned for, and the log keeps working after the cut.
func TestTornLastRecordEveryOffset(t *testing.T) {
	for _, lastKind := range []string{"put", "take"} {
		t.Run(lastKind, func(t *testing.T) {
			o, _ := testOpts(t, 1)
			q := mustOpen(t, o)
			mustPut(t, q, mkBatch(0, 4, 20))
			mustPut(t, q, mkBatch(4, 4, 20))
			wantLost := seqIDs(0, 8)
			if lastKind == "put" {
				mustPut(t, q, mkBatch(8, 3, 20))
			} else {
				tx, _ := q.Take(3)
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			crash(q)
			segs := segFiles(t, o.DataDirs[0])
			path := segs[len(segs)-1]
			offs := recordOffsets(t, path)
			start := offs[len(offs)-1]
			fi, _ := os.Stat(path)
			end := fi.Size()
			base := filepath.Dir(o.CheckpointDir)
			for cut := start; cut < end; cut++ {
				dst := filepath.Join(t.TempDir(), "copy")
				copyTree(t, base, dst)
				co := o
				co.CheckpointDir = filepath.Join(dst, "checkpoint")
				co.DataDirs = []string{filepath.Join(dst, "data0")}
				cpath := filepath.Join(co.DataDirs[0], filepath.Base(path))
				if err := os.Truncate(cpath, cut); err != nil {
					t.Fatal(err)
				}
				cq, err := Open(co)
				if err != nil {
					t.Fatalf("cut at %d: Open: %v", cut, err)
				}
				st := cq.Stats()
				wantTorn := int64(0)
				if cut > start {
					wantTorn = 1
				}
				if st.TornTails != wantTorn || st.CorruptRecords != 0 {
					t.Fatalf("cut at %d (record %d..%d): torn %d corrupt %d, want torn %d corrupt 0",
						cut, start, end, st.TornTails, st.CorruptRecords, wantTorn)
				}
				want := wantLost
				if lastKind == "put" {
					want = seqIDs(0, 8) // the torn put is gone
				}
				if got := peekAllSize(t, cq, 20); !equalU(got, want) {
					t.Fatalf("cut at %d: queue %v, want %v", cut, got, want)
				}
				if (cut-start)%8 != 0 && cut != end-1 {
					crash(cq)
					continue
				}
				// The log continues after the cut (checked at every 8th
				// offset: each check costs a few fsyncs).
				if err := cq.Put(mkBatch(100, 2, 20)); err != nil {
					t.Fatalf("cut at %d: Put after recovery: %v", cut, err)
				}
				crash(cq)
				cq, err = Open(co)
				if err != nil {
					t.Fatalf("cut at %d: second Open: %v", cut, err)
				}
				if st := cq.Stats(); st.TornTails != 0 || st.CorruptRecords != 0 {
					t.Fatalf("cut at %d: second recovery found damage: %+v", cut, st)
				}
				if got := peekAllSize(t, cq, 20); !equalU(got, append(append([]uint64{}, want...), 100, 101)) {
					t.Fatalf("cut at %d: after a put and a crash: %v", cut, got)
				}
				_ = cq.Close()
			}
			t.Logf("%s: cut the last record (%d bytes) at each of its offsets: recovered every time", lastKind, end-start)
		})
	}
}

func peekAllSize(t testing.TB, q *Queue, size int) []uint64 { return peekAll(t, q, size) }

func equalU(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A corrupt record in the middle of the log is skipped, reported with its
// file and offset, counted and quarantined; everything around it is
// recovered and the channel runs on.
func TestCorruptMiddleRecord(t *testing.T) {
	for _, where := range []string{"payload", "header", "length"} {
		t.Run(where, func(t *testing.T) {
			o, lb := testOpts(t, 1)
			q := mustOpen(t, o)
			for i := uint64(0); i < 5; i++ {
				mustPut(t, q, mkBatch(i*10, 10, 50))
			}
			crash(q)
			path := segFiles(t, o.DataDirs[0])[0]
			offs := recordOffsets(t, path)
			bad := offs[2]
			switch where {
			case "payload":
				flipByte(t, path, bad+recHeaderSize+100)
			case "header":
				flipByte(t, path, bad+9) // seq
			case "length":
				flipByte(t, path, bad+5)
			}
			q = mustOpen(t, o)
			st := q.Stats()
			if st.CorruptRecords != 1 || st.TornTails != 0 {
				t.Fatalf("stats %+v, want one corrupt region and no torn tail", st)
			}
			want := append(seqIDs(0, 20), seqIDs(30, 20)...)
			equalIDs(t, "recovered", peekAll(t, q, 50), want)
			logs := lb.String()
			if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, path) || !strings.Contains(logs, fmt.Sprintf("offset=%d", bad)) {
				t.Fatalf("no ERROR naming %s offset %d in the log:\n%s", path, bad, logs)
			}
			qfile := filepath.Join(o.DataDirs[0], "quarantine", fmt.Sprintf("%s@%d", filepath.Base(path), bad))
			if fi, err := os.Stat(qfile); err != nil || fi.Size() != offs[3]-bad {
				t.Fatalf("quarantine copy %s: %v (want %d bytes)", qfile, err, offs[3]-bad)
			}
			// It keeps working, and a clean restart reports nothing more.
			mustPut(t, q, mkBatch(1000, 3, 50))
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			q = mustOpen(t, o)
			if st := q.Stats(); st.CorruptRecords != 0 {
				t.Fatalf("the corruption was reported again after a checkpoint: %+v", st)
			}
			equalIDs(t, "after restart", takeAll(t, q, 50), append(want, 1000, 1001, 1002))
		})
	}
}

// A record that was checkpointed and is found corrupt only when a take
// reads it is dropped from the take, reported with file and offset, and
// removed for good when the take commits.
func TestCorruptRecordFoundByTake(t *testing.T) {
	o, lb := testOpts(t, 1)
	q := mustOpen(t, o)
	for i := uint64(0); i < 3; i++ {
		mustPut(t, q, mkBatch(i*10, 10, 50))
	}
	if err := q.Close(); err != nil { // checkpoint: nothing is replayed
		t.Fatal(err)
	}
	path := segFiles(t, o.DataDirs[0])[0]
	bad := recordOffsets(t, path)[1]
	flipByte(t, path, bad+recHeaderSize+7)
	q = mustOpen(t, o)
	tx, err := q.Take(100)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, e := range tx.Events() {
		got = append(got, checkEvent(t, e, 50))
	}
	equalIDs(t, "take", got, append(seqIDs(0, 10), seqIDs(20, 10)...))
	if tx.Dropped() != 10 {
		t.Fatalf("Dropped %d, want 10", tx.Dropped())
	}
	if !strings.Contains(lb.String(), fmt.Sprintf("offset=%d", bad)) || !strings.Contains(lb.String(), path) {
		t.Fatalf("log does not name %s offset %d:\n%s", path, bad, lb.String())
	}
	// Rolled back, the good events come back and the bad ones do not.
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	equalIDs(t, "after rollback", takeAll(t, q, 50), append(seqIDs(0, 10), seqIDs(20, 10)...))
	if st := q.Stats(); st.DroppedEvents != 10 || st.CorruptRecords != 1 {
		t.Fatalf("stats %+v", st)
	}
	crash(q)
	q = mustOpen(t, o)
	if q.Len() != 0 || q.Stats().CorruptRecords != 0 {
		t.Fatalf("after restart: %d queued, %+v", q.Len(), q.Stats())
	}
}

// A checkpoint interrupted between its write and its rename leaves the
// previous checkpoint in force; recovery removes the partial file and
// replays from the previous position.
func TestCheckpointInterruptedBeforeRename(t *testing.T) {
	o, lb := testOpts(t, 2)
	crashNow := atomic.Bool{}
	o.hooks.ckCrashAt = func(tmp string) error {
		if crashNow.Load() {
			return errors.New("simulated crash before rename")
		}
		return nil
	}
	q := mustOpen(t, o)
	for i := uint64(0); i < 10; i++ {
		mustPut(t, q, mkBatch(i*10, 10, 100))
	}
	if err := q.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	tx, _ := q.Take(35)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	mustPut(t, q, mkBatch(100, 10, 100))
	crashNow.Store(true)
	if err := q.Checkpoint(); err == nil {
		t.Fatal("the interrupted checkpoint reported success")
	}
	if _, err := os.Stat(filepath.Join(o.CheckpointDir, ckTmpName)); err != nil {
		t.Fatalf("the interrupted checkpoint left no tmp file: %v", err)
	}
	crash(q)
	crashNow.Store(false)
	q = mustOpen(t, o)
	if _, err := os.Stat(filepath.Join(o.CheckpointDir, ckTmpName)); !os.IsNotExist(err) {
		t.Fatalf("recovery left the tmp file: %v", err)
	}
	if !strings.Contains(lb.String(), "interrupted") {
		t.Fatalf("recovery did not report the interrupted checkpoint:\n%s", lb.String())
	}
	st := q.Stats()
	if st.Checkpoint != "primary" || st.ReplayRecords != 2 {
		t.Fatalf("stats %+v, want the primary and 2 records replayed", st)
	}
	equalIDs(t, "recovered", takeAll(t, q, 100), seqIDs(35, 75))
}

// A truncated checkpoint file (a torn write of the file itself) is
// detected by its length and checksum.
func TestCheckpointTornFile(t *testing.T) {
	o, lb := testOpts(t, 1)
	q := mustOpen(t, o)
	mustPut(t, q, mkBatch(0, 10, 100))
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(o.CheckpointDir, ckName)
	b, _ := os.ReadFile(ck)
	for _, cut := range []int{0, 7, 16, len(b) / 2, len(b) - 1} {
		if _, err := decodeCheckpoint(b[:cut]); err == nil {
			t.Fatalf("a checkpoint cut at %d of %d decoded", cut, len(b))
		}
	}
	if err := os.WriteFile(ck, b[:len(b)-3], 0o640); err != nil {
		t.Fatal(err)
	}
	q = mustOpen(t, o)
	if st := q.Stats(); st.Checkpoint != "none" || st.BadCheckpoints != 1 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(lb.String(), ck) {
		t.Fatalf("the bad checkpoint is not named in the log:\n%s", lb.String())
	}
	equalIDs(t, "full replay", takeAll(t, q, 100), seqIDs(0, 10))
}

// With dual checkpoints, a corrupt primary falls back to the backup; with
// both corrupt, every segment is replayed. Nothing committed is lost.
func TestDualCheckpoints(t *testing.T) {
	for _, corrupt := range []string{"primary", "both"} {
		t.Run(corrupt, func(t *testing.T) {
			o, _ := testOpts(t, 2)
			o.BackupCheckpointDir = filepath.Join(filepath.Dir(o.CheckpointDir), "backup")
			o.MaxFileSize = 4 << 10
			q := mustOpen(t, o)
			for i := uint64(0); i < 30; i++ {
				mustPut(t, q, mkBatch(i*10, 10, 100))
			}
			tx, _ := q.Take(120)
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(o.CheckpointDir, ckName)
			bk := filepath.Join(o.BackupCheckpointDir, ckName)
			pb, _ := os.ReadFile(p)
			bb, _ := os.ReadFile(bk)
			if string(pb) != string(bb) {
				t.Fatal("backup checkpoint differs from the primary")
			}
			flipByte(t, p, int64(len(pb)/2))
			if corrupt == "both" {
				flipByte(t, bk, int64(len(bb)/2))
			}
			q = mustOpen(t, o)
			st := q.Stats()
			want := map[string]string{"primary": "backup", "both": "none"}[corrupt]
			if st.Checkpoint != want {
				t.Fatalf("recovered from %q, want %q (%+v)", st.Checkpoint, want, st)
			}
			got := takeAll(t, q, 100)
			if corrupt == "primary" {
				equalIDs(t, "from the backup", got, seqIDs(120, 180))
				return
			}
			// Without any checkpoint, takes whose records were in deleted
			// segments cannot be known: at least once, never lost.
			seen := map[uint64]bool{}
			for _, id := range got {
				seen[id] = true
			}
			for _, id := range seqIDs(120, 180) {
				if !seen[id] {
					t.Fatalf("event %d lost in a full replay", id)
				}
			}
		})
	}
}

// Segments are deleted once every event in them is taken and a checkpoint
// says so; the data directory does not grow with the traffic.
func TestSegmentDeletion(t *testing.T) {
	o, _ := testOpts(t, 1)
	o.MaxFileSize = 4 << 10
	q := mustOpen(t, o)
	for i := uint64(0); i < 50; i++ {
		mustPut(t, q, mkBatch(i*10, 10, 100))
	}
	n := len(segFiles(t, o.DataDirs[0]))
	if n < 10 {
		t.Fatalf("only %d segments for 50 KB at 4 KB each", n)
	}
	tx, _ := q.Take(250)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := q.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	half := len(segFiles(t, o.DataDirs[0]))
	if half >= n || half < n/3 {
		t.Fatalf("%d segments after taking half of %d segments' events", half, n)
	}
	takeAll(t, q, 100)
	if err := q.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if left := len(segFiles(t, o.DataDirs[0])); left > 2 {
		t.Fatalf("%d segments left after taking everything", left)
	}
	if st := q.Stats(); st.SegmentsDeleted < int64(n-2) {
		t.Fatalf("SegmentsDeleted %d of %d", st.SegmentsDeleted, n)
	}
}

// Concurrent committers share fsyncs, and every one's batches keep their
// order.
func TestGroupCommit(t *testing.T) {
	o, _ := testOpts(t, 1)
	o.MaxFileSize = 1 << 20
	q := mustOpen(t, o)
	const committers, puts = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, committers)
	for c := 0; c < committers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < puts; i++ {
				if err := q.Put(mkBatch(uint64(c*1000+i*10), 10, 64)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := q.Stats()
	if st.Records != committers*puts {
		t.Fatalf("%d records, want %d", st.Records, committers*puts)
	}
	if st.Fsyncs >= st.Records {
		t.Fatalf("%d fsyncs for %d records: no commit was shared", st.Fsyncs, st.Records)
	}
	t.Logf("%d committers x %d puts: %d fsyncs for %d records (%.1f records per fsync)",
		committers, puts, st.Fsyncs, st.Records, float64(st.Records)/float64(st.Fsyncs))
	last := map[uint64]int{}
	for _, id := range takeAll(t, q, 64) {
		c, i := id/1000, int(id%1000)
		if prev, ok := last[c]; ok && i != prev+1 {
			t.Fatalf("committer %d: event %d after %d", c, i, prev)
		}
		last[c] = i
	}
}

// Put does not return before its record is fsynced.
func TestPutReturnsAfterSync(t *testing.T) {
	o, _ := testOpts(t, 1)
	reached := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	o.hooks.beforeSync = func(string) error {
		once.Do(func() {
			close(reached)
			<-release
		})
		return nil
	}
	q := mustOpen(t, o)
	done := make(chan error, 1)
	go func() { done <- q.Put(mkBatch(0, 1, 10)) }()
	<-reached
	select {
	case err := <-done:
		t.Fatalf("Put returned (%v) before its fsync", err)
	default:
	}
	if q.Len() != 0 {
		t.Fatal("the event is visible before its fsync")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if q.Len() != 1 {
		t.Fatalf("Len %d after Put returned", q.Len())
	}
}

// A failed fsync is fatal for the open queue: puts are refused, OnFatal is
// called, and reopening recovers every acknowledged put.
func TestFatalSyncError(t *testing.T) {
	o, _ := testOpts(t, 1)
	var fail atomic.Bool
	o.hooks.beforeSync = func(path string) error {
		if fail.Load() {
			return fmt.Errorf("sync segment %s: input/output error", path)
		}
		return nil
	}
	fatal := make(chan error, 1)
	o.OnFatal = func(err error) { fatal <- err }
	q := mustOpen(t, o)
	mustPut(t, q, mkBatch(0, 5, 10))
	fail.Store(true)
	if err := q.Put(mkBatch(5, 5, 10)); err == nil {
		t.Fatal("Put succeeded through a failed fsync")
	}
	if err := <-fatal; !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("OnFatal got %v", err)
	}
	fail.Store(false)
	if err := q.Put(mkBatch(10, 5, 10)); err == nil || errors.Is(err, ErrLowSpace) {
		t.Fatalf("Put after a fatal error: %v, want a failure", err)
	}
	// Takes still read what is there.
	equalIDs(t, "take after failure", peekAll(t, q, 10), seqIDs(0, 5))
	_ = q.Close()
	q = mustOpen(t, o)
	got := takeAll(t, q, 10)
	// The record whose fsync failed may or may not be back: at least once.
	if !equalU(got, seqIDs(0, 5)) && !equalU(got, seqIDs(0, 10)) {
		t.Fatalf("after reopen: %v", got)
	}
}

// Below MinFreeSpace puts are refused with ErrLowSpace, takes go on, and
// puts work again as soon as space returns.
func TestLowSpaceInjected(t *testing.T) {
	o, _ := testOpts(t, 2)
	var free atomic.Int64
	free.Store(1 << 30)
	o.MinFreeSpace = 1 << 20
	o.FreeSpace = func(string) (int64, error) { return free.Load(), nil }
	q := mustOpen(t, o)
	mustPut(t, q, mkBatch(0, 10, 100))
	free.Store(1<<20 - 1)
	q.space.refresh()
	err := q.Put(mkBatch(10, 10, 100))
	if !errors.Is(err, ErrLowSpace) || !strings.Contains(err.Error(), "minimumRequiredSpace") {
		t.Fatalf("Put below the minimum: %v", err)
	}
	equalIDs(t, "takes go on", takeAll(t, q, 100), seqIDs(0, 10))
	free.Store(2 << 20)
	q.space.refresh()
	mustPut(t, q, mkBatch(10, 10, 100))
	if st := q.Stats(); st.LowSpaceRefusals != 1 {
		t.Fatalf("LowSpaceRefusals %d", st.LowSpaceRefusals)
	}
	// The estimate counts what was written since the last reading.
	q.space.ttl = time.Hour
	free.Store(1<<20 + 2000)
	q.space.refresh()
	mustPut(t, q, mkBatch(20, 10, 300)) // reads 1 MiB + 2000, then writes ~3 KB
	if err := q.Put(mkBatch(30, 10, 100)); !errors.Is(err, ErrLowSpace) {
		t.Fatalf("second put within the TTL: %v, want ErrLowSpace from the estimate", err)
	}
}

// mountTmpfs mounts a tmpfs of size bytes under the test's temp dir.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := runCmd("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir)
	if err != nil {
		t.Skipf("cannot mount a tmpfs to simulate a full disk (%v: %s); TestLowSpaceInjected covers the logic", err, out)
	}
	t.Cleanup(func() {
		if out, err := runCmd("umount", dir); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// On a real, small file system: puts are refused once free space drops
// below the minimum; takes go on; when the taken segments are deleted the
// channel accepts puts again by itself. With no minimum at all, a write
// that hits ENOSPC is cut off at the last whole record and refused, and
// recovery finds exactly the acknowledged puts.
func TestDiskFullTmpfs(t *testing.T) {
	for _, mode := range []string{"minimumRequiredSpace", "ENOSPC"} {
		t.Run(mode, func(t *testing.T) {
			dir := mountTmpfs(t, "4m")
			filler := filepath.Join(dir, "filler")
			if err := os.WriteFile(filler, make([]byte, 512<<10), 0o640); err != nil {
				t.Fatal(err)
			}
			o, _ := testOpts(t, 1)
			o.CheckpointDir = filepath.Join(dir, "checkpoint")
			o.DataDirs = []string{filepath.Join(dir, "data")}
			o.MaxFileSize = 256 << 10
			if mode == "minimumRequiredSpace" {
				o.MinFreeSpace = 1 << 20
			}
			q := mustOpen(t, o)
			var acked uint64
			var err error
			for ; acked < 10000; acked += 8 {
				if err = q.Put(mkBatch(acked, 8, 8<<10)); err != nil {
					break
				}
			}
			if !errors.Is(err, ErrLowSpace) {
				t.Fatalf("after %d events: %v, want ErrLowSpace", acked, err)
			}
			if mode == "ENOSPC" && !strings.Contains(err.Error(), "no space left") {
				t.Fatalf("want the ENOSPC named: %v", err)
			}
			t.Logf("refused after %d events of 8 KB: %v", acked, err)
			if mode == "ENOSPC" {
				crash(q)
				q = mustOpen(t, o)
				if st := q.Stats(); st.TornTails != 0 || st.CorruptRecords != 0 {
					t.Fatalf("recovery after ENOSPC found damage: %+v", st)
				}
				equalIDs(t, "after ENOSPC and a crash", peekAll(t, q, 8<<10), seqIDs(0, int(acked)))
			}
			// Takes go on.
			tx, terr := q.Take(int(acked))
			if terr != nil || len(tx.Events()) != int(acked) {
				t.Fatalf("Take on a full disk: %v, %d events", terr, len(tx.Events()))
			}
			if err := tx.Commit(); err != nil {
				if mode == "minimumRequiredSpace" {
					t.Fatalf("Commit below the minimum: %v", err)
				}
				// With no headroom at all even a take record may not fit;
				// the events came back. Free some space and retry.
				t.Logf("take commit on a 100%% full disk: %v", err)
				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
				tx, _ = q.Take(int(acked))
				if err := tx.Commit(); err != nil {
					t.Fatalf("Commit with space: %v", err)
				}
			}
			if mode == "ENOSPC" {
				// With no headroom at all, make room for the checkpoint.
				_ = os.Remove(filler)
			}
			if err := q.Checkpoint(); err != nil {
				t.Fatalf("checkpoint: %v", err)
			}
			q.space.refresh()
			if err := q.Put(mkBatch(50000, 8, 8<<10)); err != nil {
				t.Fatalf("Put once the segments were deleted: %v", err)
			}
			crash(q)
			q = mustOpen(t, o)
			equalIDs(t, "final", peekAll(t, q, 8<<10), seqIDs(50000, 8))
		})
	}
}

func runCmd(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

func TestDirectoryLocked(t *testing.T) {
	o, _ := testOpts(t, 2)
	q := mustOpen(t, o)
	if _, err := Open(o); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), lockName) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q2 := mustOpen(t, o)
	_ = q2.Close()
}

func TestOptionsRejectSharedDirectories(t *testing.T) {
	o, _ := testOpts(t, 2)
	o.DataDirs[1] = o.DataDirs[0] + "/"
	if _, err := Open(o); err == nil || !strings.Contains(err.Error(), "distinct") {
		t.Fatalf("Open with a repeated directory: %v", err)
	}
	o, _ = testOpts(t, 1)
	o.DataDirs = append(o.DataDirs, o.CheckpointDir)
	if _, err := Open(o); err == nil {
		t.Fatal("Open with the checkpoint directory as a data directory succeeded")
	}
}

// A checkpoint that names segments no data directory holds is refused
// with their names, not silently treated as empty.
func TestMissingSegmentRefused(t *testing.T) {
	o, _ := testOpts(t, 1)
	o.MaxFileSize = 2 << 10
	q := mustOpen(t, o)
	for i := uint64(0); i < 10; i++ {
		mustPut(t, q, mkBatch(i*10, 10, 100))
	}
	_ = q.Close()
	segs := segFiles(t, o.DataDirs[0])
	if err := os.Remove(segs[0]); err != nil {
		t.Fatal(err)
	}
	_, err := Open(o)
	if err == nil || !strings.Contains(err.Error(), filepath.Base(segs[0])) {
		t.Fatalf("Open with a missing segment: %v", err)
	}
}

// A random sequence of puts, takes, commits, rollbacks, checkpoints and
// crashes against a model: after every crash the queue holds exactly the
// acknowledged puts less the committed takes.
func TestModelWithCrashes(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	o, _ := testOpts(t, 2)
	o.MaxFileSize = 3 << 10
	q := mustOpen(t, o)
	model := map[uint64]bool{} // acknowledged, not committed as taken
	var open []*TakeTx
	next := uint64(0)
	steps := 500
	if os.Getenv("VSCOPE_TEST_LONG") == "1" {
		steps = 5000
	}
	for step := 0; step < steps; step++ {
		switch r := rng.IntN(100); {
		case r < 40:
			n := 1 + rng.IntN(12)
			mustPut(t, q, mkBatch(next, n, 8+rng.IntN(200)))
			for i := 0; i < n; i++ {
				model[next+uint64(i)] = true
			}
			next += uint64(n)
		case r < 60:
			tx, err := q.Take(1 + rng.IntN(20))
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, tx)
		case r < 85 && len(open) > 0:
			i := rng.IntN(len(open))
			tx := open[i]
			open = append(open[:i], open[i+1:]...)
			if rng.IntN(3) == 0 {
				if err := tx.Rollback(); err != nil {
					t.Fatal(err)
				}
			} else {
				var taken []uint64
				for _, e := range tx.Events() {
					taken = append(taken, checkEvent(t, e, len(e.Body)))
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				for _, id := range taken {
					delete(model, id)
				}
			}
		case r < 90:
			if err := q.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		case r < 95:
			crash(q)
			open = nil
			q = mustOpen(t, o)
			checkModel(t, q, model, fmt.Sprintf("step %d (crash)", step))
		default:
			_ = q.Close()
			open = nil
			q = mustOpen(t, o)
			checkModel(t, q, model, fmt.Sprintf("step %d (close)", step))
		}
	}
}

func checkModel(t *testing.T, q *Queue, model map[uint64]bool, when string) {
	t.Helper()
	tx, err := q.Take(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]bool{}
	for _, e := range tx.Events() {
		if len(e.Body) < 8 {
			t.Fatalf("%s: short body", when)
		}
		id := checkEvent(t, e, len(e.Body))
		if got[id] {
			t.Fatalf("%s: event %d queued twice", when, id)
		}
		got[id] = true
	}
	_ = tx.Rollback()
	for id := range model {
		if !got[id] {
			t.Fatalf("%s: acknowledged event %d lost (queue %d, model %d)", when, id, len(got), len(model))
		}
	}
	for id := range got {
		if !model[id] {
			t.Fatalf("%s: event %d is back although its take was committed", when, id)
		}
	}
}
