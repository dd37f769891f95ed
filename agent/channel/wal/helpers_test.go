package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/vscope/vscope/agent/event"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// logBuf collects what a queue logs, for tests that check a report names
// the file and offset.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testOpts returns options over fresh directories under base with ndata
// data directories, small segments and no periodic checkpoints (tests
// checkpoint explicitly).
func testOpts(t testing.TB, ndata int) (Options, *logBuf) {
	t.Helper()
	base := t.TempDir()
	lb := &logBuf{}
	o := Options{
		CheckpointDir:     filepath.Join(base, "checkpoint"),
		MaxFileSize:       64 << 10,
		CheckpointOnClose: true,
		Logger:            slog.New(slog.NewTextHandler(io.MultiWriter(lb, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for i := 0; i < ndata; i++ {
		o.DataDirs = append(o.DataDirs, filepath.Join(base, fmt.Sprintf("data%d", i)))
	}
	return o, lb
}

// testWriter sends log lines to t.Log, so a failing test shows them.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func mustOpen(t testing.TB, o Options) *Queue {
	t.Helper()
	q, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// crash closes q the way a killed process leaves it: what was written
// stays, no checkpoint is written, locks are released.
func crash(q *Queue) { _ = q.close(false) }

// mkEvent returns an event whose body starts with id; odd ids carry
// headers so header encoding is exercised too.
func mkEvent(id uint64, size int) event.Event {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(b, id)
	for i := 8; i < len(b); i++ {
		b[i] = byte(id + uint64(i))
	}
	e := event.Event{Body: b}
	if id%2 == 1 {
		e.Headers = map[string]string{"id": fmt.Sprint(id), "host": "h1"}
	}
	return e
}

func mkBatch(first uint64, n, size int) []event.Event {
	b := make([]event.Event, n)
	for i := range b {
		b[i] = mkEvent(first+uint64(i), size)
	}
	return b
}

// checkEvent verifies an event is exactly what mkEvent made.
func checkEvent(t testing.TB, e event.Event, size int) uint64 {
	t.Helper()
	if len(e.Body) < 8 {
		t.Fatalf("short body %q", e.Body)
	}
	id := binary.BigEndian.Uint64(e.Body)
	want := mkEvent(id, size)
	if !bytes.Equal(e.Body, want.Body) || len(e.Headers) != len(want.Headers) {
		t.Fatalf("event %d: body or headers differ: %v vs %v", id, e.Headers, want.Headers)
	}
	for k, v := range want.Headers {
		if e.Headers[k] != v {
			t.Fatalf("event %d: header %s=%q, want %q", id, k, e.Headers[k], v)
		}
	}
	return id
}

func seqIDs(first uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = first + uint64(i)
	}
	return out
}

func mustPut(t testing.TB, q *Queue, batch []event.Event) {
	t.Helper()
	if err := q.Put(batch); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// takeAll takes and commits everything queued and returns the ids.
func takeAll(t testing.TB, q *Queue, size int) []uint64 {
	t.Helper()
	var out []uint64
	for {
		tx, err := q.Take(37)
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		evs := tx.Events()
		for _, e := range evs {
			out = append(out, checkEvent(t, e, size))
		}
		if err := tx.Commit(); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if len(evs) == 0 && tx.Dropped() == 0 {
			return out
		}
	}
}

// peekAll takes everything and rolls it back.
func peekAll(t testing.TB, q *Queue, size int) []uint64 {
	t.Helper()
	tx, err := q.Take(1 << 30)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	var out []uint64
	for _, e := range tx.Events() {
		out = append(out, checkEvent(t, e, size))
	}
	if err := tx.Rollback(); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	return out
}

func equalIDs(t testing.TB, what string, got, want []uint64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %d ids %v\nwant %d ids %v", what, len(got), abbrev(got), len(want), abbrev(want))
	}
}

func abbrev(ids []uint64) string {
	if len(ids) <= 40 {
		return fmt.Sprint(ids)
	}
	return fmt.Sprintf("%v ... %v", ids[:20], ids[len(ids)-20:])
}

// segFiles lists the segment files of dir, oldest first.
func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, segPrefix+"*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// recordOffsets returns the offset of every intact record of a segment.
func recordOffsets(t testing.TB, path string) []int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	var offs []int64
	_, bad, err := scanRecords(f, fi.Size(), segHeaderSize, func(off int64, h recHeader, p []byte) error {
		offs = append(offs, off)
		return nil
	})
	if err != nil || len(bad) > 0 {
		t.Fatalf("scan %s: %v, bad %v", path, err, bad)
	}
	return offs
}

// copyTree copies the directory tree src to dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o640)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// flipByte inverts one byte of a file.
func flipByte(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xFF
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
