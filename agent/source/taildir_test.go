package source

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// tailConfig is a TAILDIR configuration that polls fast, with groups
// given as "name=path" pairs.
func tailConfig(posFile string, groups ...string) *TaildirConfig {
	cfg := NewTaildirConfig()
	cfg.PositionFile = posFile
	cfg.BackoffSleepIncrement, cfg.MaxBackoffSleep = 2, 10
	cfg.Patterns = map[string]string{}
	for _, g := range groups {
		name, path, _ := strings.Cut(g, "=")
		cfg.FileGroups = append(cfg.FileGroups, name)
		cfg.Patterns[name] = path
	}
	return cfg
}

// startTail builds and starts a TAILDIR source; it is stopped when the
// test ends (again: Stop is safe twice).
func startTail(t *testing.T, p *pipe, cfg *TaildirConfig) *Taildir {
	t.Helper()
	s, err := NewTaildir(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopTail(t, s) })
	return s
}

func stopTail(t *testing.T, s *Taildir) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// appendFile appends text to path, creating it.
func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(f, text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// accepted is the source's EventAcceptedCount.
func (p *pipe) accepted(t *testing.T) int {
	return int(p.metric(t, "EventAcceptedCount"))
}

func TestTaildirGroupsHeadersAndPositionFile(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	pos := filepath.Join(t.TempDir(), "flume", "taildir_position.json") // the directory is created
	ex := filepath.Join(d1, "example.log")
	appendFile(t, ex, "e0\ne1\r\n")
	appendFile(t, filepath.Join(d2, "a.log"), "a0\n")
	appendFile(t, filepath.Join(d2, "c.log.1"), "c0\n")
	appendFile(t, filepath.Join(d2, "b.txt"), "not matched\n")
	if err := os.Mkdir(filepath.Join(d2, "dir.log"), 0o755); err != nil { // a directory that matches is ignored
		t.Fatal(err)
	}
	cfg := tailConfig(pos, "f1="+ex, "f2="+d2+"/.*log.*")
	cfg.Headers = map[string]string{"f1.headerKey1": "value1", "f2.headerKey1": "value2", "f2.headerKey2": "value2-2"}
	cfg.FileHeader, cfg.ByteOffsetHeader = true, true
	p := newPipe(t, "TAILDIR", 100, 0)
	s := startTail(t, p, cfg)
	eventually(t, "4 lines", func() bool { return p.accepted(t) == 4 })

	// A line is delivered only once its newline is written.
	appendFile(t, ex, "partial")
	appendFile(t, filepath.Join(d2, "a.log"), "a1\n")
	eventually(t, "a1", func() bool { return p.accepted(t) == 5 })
	appendFile(t, ex, " line\n")
	eventually(t, "the completed line", func() bool { return p.accepted(t) == 6 })
	stopTail(t, s)

	byBody := map[string]event.Event{}
	for _, e := range p.drain(t) {
		byBody[string(e.Body)] = e
	}
	f := func(body, file, offset string, kv ...string) {
		t.Helper()
		e, ok := byBody[body]
		if !ok {
			t.Fatalf("no event %q in %v", body, byBody)
		}
		want := map[string]string{"file": file, "byteoffset": offset}
		for i := 0; i < len(kv); i += 2 {
			want[kv[i]] = kv[i+1]
		}
		if fmt.Sprint(e.Headers) != fmt.Sprint(want) {
			t.Errorf("%q: headers %v, want %v", body, e.Headers, want)
		}
	}
	f("e0", ex, "0", "headerKey1", "value1")
	f("e1", ex, "3", "headerKey1", "value1") // the \r is stripped
	f("partial line", ex, "7", "headerKey1", "value1")
	f("a0", filepath.Join(d2, "a.log"), "0", "headerKey1", "value2", "headerKey2", "value2-2")
	f("a1", filepath.Join(d2, "a.log"), "3", "headerKey1", "value2", "headerKey2", "value2-2")
	f("c0", filepath.Join(d2, "c.log.1"), "0", "headerKey1", "value2", "headerKey2", "value2-2")
	if len(byBody) != 6 {
		t.Errorf("%d events: %v", len(byBody), byBody)
	}

	// The position file is Flume's JSON, byte for byte: sorted by path here.
	data, err := os.ReadFile(pos)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{ex, filepath.Join(d2, "a.log"), filepath.Join(d2, "c.log.1")}
	sort.Strings(paths)
	var want []string
	for _, path := range paths {
		want = append(want, fmt.Sprintf(`{"inode":%d,"pos":%d,"file":"%s"}`, inode(t, path), fileSize(t, path), path))
	}
	if got := string(data); got != "["+strings.Join(want, ",")+"]" {
		t.Errorf("position file\n%s\nwant\n[%s]", got, strings.Join(want, ","))
	}
}

func TestTaildirSkipToEnd(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.log")
	appendFile(t, old, "skipped 1\nskipped 2\n")
	cfg := tailConfig(filepath.Join(t.TempDir(), "pos.json"), "g="+dir+"/.*\\.log")
	cfg.SkipToEnd = true
	cfg.WritePosInterval = 0
	p := newPipe(t, "TAILDIR", 100, 0)
	s := startTail(t, p, cfg)
	eventually(t, "the first scan", func() bool { _, m, _ := s.Positions(); return m[old] > 0 })
	appendFile(t, old, "new 1\n")
	appendFile(t, filepath.Join(dir, "created.log"), "created 1\n") // created after the start: read from its start
	eventually(t, "2 lines", func() bool { return p.accepted(t) == 2 })
	got := bodies(p.drain(t))
	sort.Strings(got)
	if strings.Join(got, "|") != "created 1|new 1" {
		t.Errorf("got %q", got)
	}
}

// A position file written by Flume (no .vscope sidecar) is followed.
func TestTaildirReadsFlumePositionFile(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	appendFile(t, log, lines("l", 10))
	pos := filepath.Join(t.TempDir(), "taildir_position.json")
	offset := len(lines("l", 4))
	flume := fmt.Sprintf(`[{"inode":%d,"pos":%d,"file":"%s"},{"inode":1,"pos":12,"file":"/nonexistent/x.log"}]`, inode(t, log), offset, log)
	if err := os.WriteFile(pos, []byte(flume), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newPipe(t, "TAILDIR", 100, 0)
	startTail(t, p, tailConfig(pos, "g="+log))
	eventually(t, "6 lines", func() bool { return p.accepted(t) == 6 })
	if got := bodies(p.drain(t)); strings.Join(got, "|") != strings.Join(lineList("l", 10)[4:], "|") {
		t.Errorf("got %q", got)
	}

	// A damaged position file is counted and logged; files are read from
	// their start.
	if err := os.WriteFile(pos, []byte(`[{"inode":`), 0o644); err != nil {
		t.Fatal(err)
	}
	p2 := newPipe(t, "TAILDIR", 100, 0)
	startTail(t, p2, tailConfig(pos, "g="+log))
	eventually(t, "10 lines", func() bool { return p2.accepted(t) == 10 })
	p2.wantMetrics(t, map[string]float64{"GenericProcessingFail": 1})
}

// rotWriter appends numbered lines to a log file and rotates it.
type rotWriter struct {
	t    *testing.T
	id   string
	path string
	f    *os.File
	next int // number of the next line
	keep int // rotated files kept (path.1 .. path.keep)
}

func newRotWriter(t *testing.T, id, path string) *rotWriter {
	w := &rotWriter{t: t, id: id, path: path, keep: 5}
	w.open()
	t.Cleanup(func() { _ = w.f.Close() })
	return w
}

func (w *rotWriter) open() {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	w.f = f
}

// write appends n lines, one write each, like a logger.
func (w *rotWriter) write(n int) {
	for i := 0; i < n; i++ {
		line := fmt.Sprintf("%s %07d %s\n", w.id, w.next, strings.Repeat("x", w.next%97))
		if _, err := w.f.WriteString(line); err != nil {
			w.t.Fatal(err)
		}
		w.next++
	}
}

// shift renames path.i to path.i+1, dropping the oldest.
func (w *rotWriter) shift() {
	_ = os.Remove(fmt.Sprintf("%s.%d", w.path, w.keep))
	for i := w.keep - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", w.path, i), fmt.Sprintf("%s.%d", w.path, i+1))
	}
}

// rename rotates like logrotate's default: rename, then a new file.
func (w *rotWriter) rename() {
	w.shift()
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		w.t.Fatal(err)
	}
	_ = w.f.Close()
	w.open()
}

// copyTruncate rotates like logrotate's copytruncate: copy, then
// truncate the file the writer keeps appending to.
func (w *rotWriter) copyTruncate() {
	w.shift()
	src, err := os.Open(w.path)
	if err != nil {
		w.t.Fatal(err)
	}
	dst, err := os.Create(w.path + ".1")
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		w.t.Fatal(err)
	}
	_ = src.Close()
	_ = dst.Close()
	if err := w.f.Truncate(0); err != nil {
		w.t.Fatal(err)
	}
}

// checkLines checks that evs hold every line the writers wrote exactly
// once; for the writers in ordered, also in the order written.
func checkLines(t *testing.T, evs []event.Event, ordered map[string]bool, writers ...*rotWriter) {
	t.Helper()
	seqs := map[string][]int{}
	for _, e := range evs {
		f := strings.Fields(string(e.Body))
		if len(f) < 2 {
			t.Fatalf("bad line %q", e.Body)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("bad line %q", e.Body)
		}
		seqs[f[0]] = append(seqs[f[0]], n)
	}
	for _, w := range writers {
		got := seqs[w.id]
		if !ordered[w.id] {
			sort.Ints(got)
		}
		for i, n := range got {
			if n != i {
				t.Fatalf("%s: line %d is %d (of %d delivered, %d written): lost, repeated or out of order; around it: %v",
					w.id, i, n, len(got), w.next, got[max(0, i-3):min(len(got), i+4)])
			}
		}
		if len(got) != w.next {
			t.Fatalf("%s: %d lines delivered, %d written", w.id, len(got), w.next)
		}
	}
}

// The acceptance test of TAILDIR: files rotated by rename (the pattern
// matches only the live name: the renamed file is followed by inode), by
// copytruncate, and by rename within the pattern, while the source runs
// and while it is stopped; the source is stopped and started again on the
// same position file many times, at arbitrary points. Every line is
// delivered exactly once, and in order for the first two.
func TestTaildirRotationAndRestartNoLossNoDuplicate(t *testing.T) {
	steps := 16
	if os.Getenv("VSCOPE_TEST_LONG") == "1" {
		steps = 120
	}
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("VSCOPE_TEST_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (VSCOPE_TEST_SEED repeats a run)", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	dir := t.TempDir()
	pos := filepath.Join(t.TempDir(), "pos.json")
	app := newRotWriter(t, "app", filepath.Join(dir, "app.log"))
	ct := newRotWriter(t, "ct", filepath.Join(dir, "ct.log"))
	svc := newRotWriter(t, "svc", filepath.Join(dir, "svc.log"))
	writers := []*rotWriter{app, ct, svc}
	cfg := tailConfig(pos, "fa="+dir+`/app\.log`, "fc="+dir+`/ct\.log`, "fs="+dir+`/svc\.log(\.[0-9]+)?`)
	cfg.IdleTimeout = 200 // renamed-away files are finished and forgotten quickly
	p := newPipe(t, "TAILDIR", 1_000_000, 1)
	log := captureLog(p)
	var got []event.Event

	total := func() int { return app.next + ct.next + svc.next }
	// A file generation the source may not have seen yet (the first ones,
	// and the one after a rotation): rotating it away before the source
	// saw it loses it, which is inherent to tailing, so the test waits.
	unseen := map[*rotWriter]bool{app: true, ct: true, svc: true}
	rotate := func(w *rotWriter) {
		if unseen[w] && w != svc {
			return
		}
		unseen[w] = true
		switch w {
		case ct:
			w.copyTruncate()
		default:
			w.rename()
		}
	}
	writeSome := func() {
		for _, w := range writers {
			w.write(rng.IntN(400))
			if rng.IntN(2) == 0 {
				rotate(w)
			}
			w.write(1 + rng.IntN(400)) // a catch-up then means the new generation was read
		}
	}
	catchUp := func() {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for p.accepted(t) < total() {
			if time.Now().After(deadline) {
				evs := append(got, p.drain(t)...)
				t.Logf("%d of %d lines accepted", p.accepted(t), total())
				checkLines(t, evs, map[string]bool{"app": true, "ct": true}, writers...)
				t.Fatal("timed out waiting for the source to catch up")
			}
			time.Sleep(time.Millisecond)
		}
		clear(unseen)
	}
	for step := 0; step < steps; step++ {
		s := startTail(t, p, cfg)
		writeSome()
		if rng.IntN(2) == 0 {
			catchUp()
		}
		stopTail(t, s) // often in the middle of reading
		got = append(got, p.drain(t)...)
		writeSome() // while stopped
	}
	s := startTail(t, p, cfg)
	catchUp()
	stopTail(t, s)
	got = append(got, p.drain(t)...)
	checkLines(t, got, map[string]bool{"app": true, "ct": true}, writers...)
	p.wantMetrics(t, map[string]float64{"ChannelWriteFail": 0, "EventReadFail": 0, "GenericProcessingFail": 0})
	if t.Failed() {
		t.Logf("source log:\n%s", log)
	}
}

// copytruncate while the source is stopped, and the file grows past the
// old position before the source starts again: the fingerprint in the
// sidecar tells, and the lines after the position come from the copy.
func TestTaildirCopyTruncateWhileStoppedRegrown(t *testing.T) {
	dir := t.TempDir()
	pos := filepath.Join(t.TempDir(), "pos.json")
	w := newRotWriter(t, "ct", filepath.Join(dir, "ct.log"))
	cfg := tailConfig(pos, "g="+w.path)
	p := newPipe(t, "TAILDIR", 10000, 0)
	w.write(100)
	s := startTail(t, p, cfg)
	eventually(t, "100 lines", func() bool { return p.accepted(t) == 100 })
	stopTail(t, s)
	before := fileSize(t, w.path)
	w.write(50) // not read before the rotation
	w.copyTruncate()
	w.write(400) // the file grows past the old position
	if fileSize(t, w.path) <= before {
		t.Fatal("test setup: the file did not grow past the position")
	}
	startTail(t, p, cfg)
	eventually(t, "550 lines", func() bool { return p.accepted(t) >= 550 })
	checkLines(t, p.drain(t), map[string]bool{"ct": true}, w)
}

// copytruncate of a file nothing was committed from yet (the channel
// refused every batch): the fingerprint of its first bytes finds the copy.
func TestTaildirCopyTruncateBeforeFirstRead(t *testing.T) {
	dir := t.TempDir()
	pos := filepath.Join(t.TempDir(), "pos.json")
	w := newRotWriter(t, "ct", filepath.Join(dir, "ct.log"))
	w.write(100)
	cfg := tailConfig(pos, "g="+w.path)
	cfg.WritePosInterval = 10
	p := newPipe(t, "TAILDIR", 10000, 0)
	refuse := p.set
	refuse.Processor = component.ProcessorFunc(func(context.Context, []event.Event) error { return component.ErrChannelFull })
	s, err := NewTaildir(refuse, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the sidecar with a fingerprint", func() bool {
		data, _ := os.ReadFile(pos + ".vscope")
		return strings.Contains(string(data), `"len":`)
	})
	stopTail(t, s)
	w.write(50)
	w.copyTruncate()
	w.write(400)
	startTail(t, p, cfg)
	eventually(t, "550 lines", func() bool { return p.accepted(t) >= 550 })
	checkLines(t, p.drain(t), map[string]bool{"ct": true}, w)
}

// rename while the source is stopped: the renamed file is found by inode
// and read to its end before the new file.
func TestTaildirRenameWhileStopped(t *testing.T) {
	dir := t.TempDir()
	pos := filepath.Join(t.TempDir(), "pos.json")
	w := newRotWriter(t, "app", filepath.Join(dir, "app.log"))
	cfg := tailConfig(pos, "g="+w.path)
	cfg.IdleTimeout = 50
	p := newPipe(t, "TAILDIR", 10000, 0)
	w.write(100)
	s := startTail(t, p, cfg)
	eventually(t, "100 lines", func() bool { return p.accepted(t) == 100 })
	stopTail(t, s)
	w.write(50)
	w.rename()
	w.write(70)
	s = startTail(t, p, cfg)
	eventually(t, "220 lines", func() bool { return p.accepted(t) >= 220 })
	// Once idle, the renamed file is forgotten: the position file holds
	// only app.log.
	eventually(t, "app.log.1 forgotten", func() bool {
		_, m, _ := s.Positions()
		_, has := m[w.path+".1"]
		return !has && len(m) == 1
	})
	checkLines(t, p.drain(t), map[string]bool{"app": true}, w)
}

// openFDs counts this process's descriptors open on path.
func openFDs(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == path {
			n++
		}
	}
	return n
}

func TestTaildirIdleTimeoutClosesAndReopens(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "a.log")
	appendFile(t, log, "1\n")
	cfg := tailConfig(filepath.Join(t.TempDir(), "pos.json"), "g="+log)
	cfg.IdleTimeout = 30
	p := newPipe(t, "TAILDIR", 100, 0)
	startTail(t, p, cfg)
	eventually(t, "the line", func() bool { return p.accepted(t) == 1 })
	eventually(t, "the file closed", func() bool { return openFDs(t, log) == 0 })
	appendFile(t, log, "2\n")
	eventually(t, "the new line", func() bool { return p.accepted(t) == 2 })
	if got := bodies(p.drain(t)); strings.Join(got, "|") != "1|2" {
		t.Errorf("got %q", got)
	}
}

// writePosInterval = 0 writes the position after every commit.
func TestTaildirWritePosIntervalZero(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "a.log")
	appendFile(t, log, lines("l", 250))
	cfg := tailConfig(filepath.Join(t.TempDir(), "pos.json"), "g="+log)
	cfg.WritePosInterval = 0
	p := newPipe(t, "TAILDIR", 1000, 0)
	s := startTail(t, p, cfg)
	eventually(t, "the position", func() bool {
		_, m, _ := s.Positions()
		return m[log] == fileSize(t, log)
	})
	appendFile(t, log, "one more\n")
	eventually(t, "the new position", func() bool {
		_, m, _ := s.Positions()
		return m[log] == fileSize(t, log)
	})
}

func TestTaildirPutFailureRereads(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "a.log")
	appendFile(t, log, lines("l", 1000))
	p := newPipe(t, "TAILDIR", 2000, 0)
	p.set.Processor = failN(p.set.Processor, 1, 4, 5)
	startTail(t, p, tailConfig(filepath.Join(t.TempDir(), "pos.json"), "g="+log))
	eventually(t, "1000 lines", func() bool { return p.accepted(t) == 1000 })
	if got := bodies(p.drain(t)); strings.Join(got, "|") != strings.Join(lineList("l", 1000), "|") {
		t.Fatalf("got %d lines", len(got))
	}
	p.wantMetrics(t, map[string]float64{"ChannelWriteFail": 3})
}

func TestTaildirBadInput(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "a.log")
	bin := "\x00\xff\xfe binary \x01\n"
	appendFile(t, log, strings.Repeat("z", 2500)+"\n"+bin)
	cfg := tailConfig(filepath.Join(t.TempDir(), "pos.json"), "g="+dir+"/.*")
	cfg.MaxLineLength = 1000
	p := newPipe(t, "TAILDIR", 100, 0)
	var locked string
	if os.Geteuid() != 0 {
		locked = filepath.Join(dir, "locked")
		appendFile(t, locked, "secret\n")
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
	}
	startTail(t, p, cfg)
	eventually(t, "4 events", func() bool { return p.accepted(t) == 4 })
	want := []string{strings.Repeat("z", 1000), strings.Repeat("z", 1000), strings.Repeat("z", 500), strings.TrimSuffix(bin, "\n")}
	if got := bodies(p.drain(t)); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q", got)
	}
	p.wantMetrics(t, map[string]float64{"EventReadFail": 1})
	if locked != "" {
		eventually(t, "the unreadable file counted", func() bool { return p.metric(t, "GenericProcessingFail") == 1 })
	}
}

// A file deleted while it is read is read to its end through the open
// descriptor.
func TestTaildirDeletedWhileOpen(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "a.log")
	appendFile(t, log, "1\n")
	cfg := tailConfig(filepath.Join(t.TempDir(), "pos.json"), "g="+log)
	p := newPipe(t, "TAILDIR", 100, 0)
	startTail(t, p, cfg)
	eventually(t, "the line", func() bool { return p.accepted(t) == 1 })
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("2\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the line written after the delete", func() bool { return p.accepted(t) == 2 })
}

func TestTaildirLifecycle(t *testing.T) {
	dir := t.TempDir()
	lifecycle(t, "TAILDIR", func(set component.SourceSettings) (component.Source, error) {
		return NewTaildir(set, *tailConfig(filepath.Join(dir, "pos.json"), "g="+dir+"/.*"))
	})
}

// The TAILDIR example of the Flume user guide, with its paths pointed at
// temporary directories. Its last line sets a property of source "ri",
// a typo for r1: Flume ignores it with a warning, vscope refuses the file
// (a key of an unlisted component is an error). Corrected, it runs.
func TestTaildirFlumeExample(t *testing.T) {
	d1, d2, d3 := t.TempDir(), t.TempDir(), t.TempDir()
	appendFile(t, filepath.Join(d1, "example.log"), "one\n")
	appendFile(t, filepath.Join(d2, "web.log"), "two\n")
	appendFile(t, filepath.Join(d2, "other.txt"), "not matched\n")
	example := fmt.Sprintf(`
a1.sources = r1
a1.channels = c1
a1.sources.r1.type = TAILDIR
a1.sources.r1.channels = c1
a1.sources.r1.positionFile = %s/taildir_position.json
a1.sources.r1.filegroups = f1 f2
a1.sources.r1.filegroups.f1 = %s/example.log
a1.sources.r1.headers.f1.headerKey1 = value1
a1.sources.r1.filegroups.f2 = %s/.*log.*
a1.sources.r1.headers.f2.headerKey1 = value2
a1.sources.r1.headers.f2.headerKey2 = value2-2
a1.sources.r1.fileHeader = true
a1.sources.ri.maxBatchCount = 1000
a1.channels.c1.type = memory
`, d3, d1, d2)
	if msg := loadExampleErr(t, example); !strings.Contains(msg, "ri") {
		t.Errorf("error %q does not name source ri", msg)
	}
	a := runExample(t, strings.Replace(example, "a1.sources.ri.", "a1.sources.r1.", 1))
	evs := takeN(t, a.Channel("c1"), 2)
	sort.Slice(evs, func(i, j int) bool { return string(evs[i].Body) < string(evs[j].Body) })
	if fmt.Sprint(bodies(evs)) != "[one two]" {
		t.Fatalf("got %q", bodies(evs))
	}
	if h := evs[0].Headers; h["headerKey1"] != "value1" || h["file"] != filepath.Join(d1, "example.log") || len(h) != 2 {
		t.Errorf("f1 headers %v", h)
	}
	if h := evs[1].Headers; h["headerKey1"] != "value2" || h["headerKey2"] != "value2-2" || len(h) != 3 {
		t.Errorf("f2 headers %v", h)
	}
}

func TestTaildirConfig(t *testing.T) {
	cfg := loadSourceConfig(t, "org.apache.flume.source.taildir.TaildirSource", `a1.sources.r1.filegroups = f1 f2
a1.sources.r1.filegroups.f1 = /var/log/test1/example.log
a1.sources.r1.filegroups.f2 = /var/log/test2/.*log.*
a1.sources.r1.positionFile = /p.json
a1.sources.r1.headers.f1.k = v
a1.sources.r1.byteOffsetHeader = true
a1.sources.r1.skipToEnd = true
a1.sources.r1.idleTimeout = 1000
a1.sources.r1.writePosInterval = 0
a1.sources.r1.batchSize = 500
a1.sources.r1.maxBatchCount = 10
a1.sources.r1.backoffSleepIncrement = 100
a1.sources.r1.maxBackoffSleep = 200
a1.sources.r1.cachePatternMatching = false
a1.sources.r1.fileHeader = true
a1.sources.r1.fileHeaderKey = path
a1.sources.r1.maxLineLength = 4096
`).(*TaildirConfig)
	want := fmt.Sprintf("%+v", TaildirConfig{FileGroups: []string{"f1", "f2"},
		Patterns:     map[string]string{"f1": "/var/log/test1/example.log", "f2": "/var/log/test2/.*log.*"},
		PositionFile: "/p.json", Headers: map[string]string{"f1.k": "v"}, ByteOffsetHeader: true, SkipToEnd: true,
		IdleTimeout: 1000, WritePosInterval: 0, Batch: 500, MaxBatchCount: 10, BackoffSleepIncrement: 100,
		MaxBackoffSleep: 200, CachePatternMatching: false, FileHeader: true, FileHeaderKey: "path", MaxLineLength: 4096})
	if got := fmt.Sprintf("%+v", *cfg); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	def := loadSourceConfig(t, "TAILDIR", "a1.sources.r1.filegroups = f\na1.sources.r1.filegroups.f = /x/y\n").(*TaildirConfig)
	if def.PositionFile != "~/.flume/taildir_position.json" || def.Batch != 100 || def.IdleTimeout != 120000 ||
		def.WritePosInterval != 3000 || !def.CachePatternMatching || def.FileHeaderKey != "file" {
		t.Errorf("defaults %+v", *def)
	}
	base := "a1.sources.r1.type = taildir\n" // type names are case-insensitive
	badSourceConfig(t, base, "a1.sources.r1.filegroups: required property is missing")
	badSourceConfig(t, base+"a1.sources.r1.filegroups = f\n", "filegroups.f: file group \"f\" has no path")
	badSourceConfig(t, base+"a1.sources.r1.filegroups = f\na1.sources.r1.filegroups.f = /x/(\n", "filegroups.f: file name pattern")
	badSourceConfig(t, base+"a1.sources.r1.filegroups = f\na1.sources.r1.filegroups.f = /x/y\na1.sources.r1.filegroups.g = /z\n", `"g" is not listed in filegroups`)
	badSourceConfig(t, base+"a1.sources.r1.filegroups = f\na1.sources.r1.filegroups.f = /x/y\na1.sources.r1.headers.g.k = v\n", `headers.g.k: "g" is not listed`)
	badSourceConfig(t, base+"a1.sources.r1.filegroups = f\na1.sources.r1.filegroups.f = /x/y\na1.sources.r1.headers.f = v\n", "expected headers.<filegroup>.<header>")
	badSourceConfig(t, base+"a1.sources.r1.filegroups = f\na1.sources.r1.filegroups.f = /x/y\na1.sources.r1.batchSize = 0\n", "batchSize must be positive")
	badSourceConfig(t, base+"a1.sources.r1.filegroups = f\na1.sources.r1.filegroups.f = /x/y\na1.sources.r1.batchSize = 1000\n", "exceeds transactionCapacity")
	badSourceConfig(t, base+"a1.sources.r1.filegroups = f\na1.sources.r1.filegroups.f = /x/y\na1.sources.r1.idleTimeout = 0\n", "idleTimeout must be positive")
}

func TestLineReader(t *testing.T) {
	f := func(in string, max int, stripCR, runes bool, want ...string) {
		t.Helper()
		r := lineReader{max: max, stripCR: stripCR, runes: runes, initial: 3}
		src := strings.NewReader(in)
		var got []string
		splits := 0
		for {
			_, err := r.fill(src.Read)
			for {
				line, split, ok := r.next()
				if !ok {
					break
				}
				if split {
					splits++
				}
				got = append(got, string(line))
			}
			if err != nil {
				if rest := r.rest(); len(rest) > 0 {
					got = append(got, "rest:"+string(rest))
				}
				break
			}
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%q max %d: got %q, want %q", in, max, got, want)
		}
		if r.off != int64(len(in)) {
			t.Errorf("%q: offset %d, want %d", in, r.off, len(in))
		}
	}
	f("a\nbb\n\nccc", 10, false, false, "a", "bb", "", "rest:ccc")
	f("a\r\nb\r\n", 10, true, false, "a", "b")
	f("a\r\nb\r\n", 10, false, false, "a\r", "b\r")
	f("abcdefgh\nxy\n", 3, false, false, "abc", "def", "gh", "xy")
	f("abc\n", 3, false, false, "abc")            // exactly max
	f("abc\r\n", 3, true, false, "abc")           // exactly max before \r\n
	f("abcd\n", 3, false, false, "abc", "d")      // one over
	f("aéé\n", 4, false, true, "aé", "é")         // no rune cut in two
	f("aéé\n", 4, false, false, "aé\xc3", "\xa9") // bytes
}

// BenchmarkTaildir reads b.N 200-byte lines from one file through the
// source alone (the processor only counts). One op is one line.
func BenchmarkTaildir(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "a.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 199) + "\n")
	buf := make([]byte, 0, 1<<20)
	for i := 0; i < b.N; i++ {
		buf = append(buf, line...)
		if len(buf) > 1<<20-len(line) {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
			buf = buf[:0]
		}
	}
	if _, err := f.Write(buf); err != nil {
		b.Fatal(err)
	}
	_ = f.Close()
	var n atomic.Int64
	done := make(chan struct{})
	set := component.SourceSettings{Processor: component.ProcessorFunc(func(_ context.Context, evs []event.Event) error {
		if n.Add(int64(len(evs))) == int64(b.N) {
			close(done)
		}
		return nil
	})}
	cfg := tailConfig(filepath.Join(dir, "pos.json"), "g="+path)
	cfg.Batch = 1000
	s, err := NewTaildir(set, *cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(200)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := s.Start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	if err := s.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lines/s")
}
