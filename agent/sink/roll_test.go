package sink

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
)

// newRoll builds a file_roll sink over a fresh channel writing into dir.
func newRoll(t *testing.T, dir string, edit func(*RollConfig)) (*rig, *Roll) {
	t.Helper()
	r := newRig(t, "file_roll", 10000, 100)
	cfg := NewRollConfig()
	cfg.Directory = dir
	if edit != nil {
		edit(cfg)
	}
	s, err := NewRoll(r.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return r, s
}

// files lists the sink's files in dir in the order they were opened.
func files(t *testing.T, s *Roll, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	index := func(name string) int {
		rest, ok := strings.CutPrefix(name, s.cfg.Prefix+strconv.FormatInt(s.series, 10)+"-")
		if !ok {
			t.Fatalf("file %q is not named by the DEFAULT path manager", name)
		}
		if s.cfg.Extension != "" {
			rest = strings.TrimSuffix(rest, "."+s.cfg.Extension)
		}
		i, err := strconv.Atoi(rest)
		if err != nil {
			t.Fatalf("file %q: bad index: %v", name, err)
		}
		return i
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.SortFunc(names, func(a, b string) int { return index(a) - index(b) })
	return names
}

func readAll(t *testing.T, dir string, names []string) []string {
	t.Helper()
	out := make([]string, len(names))
	for i, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

// lines is what the TEXT serializer writes for bodies.
func lines(bodies []string) string {
	if len(bodies) == 0 {
		return ""
	}
	return strings.Join(bodies, "\n") + "\n"
}

func TestRollWritesEveryBodyOnceInOrder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet", "there")
	r, s := newRoll(t, dir, func(c *RollConfig) {
		c.RollInterval = 0
		c.Prefix = "web-"
		c.Extension = "log"
	})
	in := bodies(1050)
	r.put(t, 100, in...)
	drainAll(t, s, r.ch)

	// Every committed batch is already in the file, before Stop.
	names := files(t, s, dir)
	want := "web-" + strconv.FormatInt(s.series, 10) + "-1.log"
	if len(names) != 1 || names[0] != want {
		t.Fatalf("files %q, want [%s]", names, want)
	}
	if cur := s.CurrentFile(); cur != filepath.Join(dir, want) {
		t.Errorf("CurrentFile() = %q", cur)
	}
	if got := readAll(t, dir, names)[0]; got != lines(in) {
		t.Errorf("file holds %d bytes, want %d; first difference matters", len(got), len(lines(in)))
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cur := s.CurrentFile(); cur != "" {
		t.Errorf("CurrentFile() after Stop = %q", cur)
	}
	if got := readAll(t, dir, names)[0]; got != lines(in) {
		t.Error("file changed by Stop")
	}
	c := r.counter()
	counts(t, "EventDrainSuccess", c.EventDrainSuccess.Get(), 1050)
	counts(t, "ConnectionCreated", c.ConnectionCreated.Get(), 1)
	counts(t, "ConnectionClosed", c.ConnectionClosed.Get(), 1)
	counts(t, "BatchUnderflow", c.BatchUnderflow.Get(), 1)
	if st, err := s.Process(context.Background()); !errors.Is(err, component.ErrStopped) || st != component.Backoff {
		t.Errorf("Process after Stop = %v, %v; want BACKOFF, ErrStopped", st, err)
	}
}

func TestRollSerializers(t *testing.T) {
	f := func(serializer string, newline bool, want string) {
		t.Helper()
		dir := t.TempDir()
		r, s := newRoll(t, dir, func(c *RollConfig) {
			c.Serializer = serializer
			c.AppendNewline = newline
		})
		batch := []event.Event{
			{Body: []byte("one"), Headers: map[string]string{"host": "h1", "app": "web"}},
			{Body: []byte("two")},
		}
		if err := r.ch.Put(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		drainAll(t, s, r.ch)
		if got := strings.Join(readAll(t, dir, files(t, s, dir)), ""); got != want {
			t.Errorf("serializer %s appendNewline=%v wrote %q, want %q", serializer, newline, got, want)
		}
	}
	f("TEXT", true, "one\ntwo\n")
	f("text", false, "onetwo")
	f("org.apache.flume.serialization.BodyTextEventSerializer$Builder", true, "one\ntwo\n")
	f("header_and_text", true, "{app=web, host=h1} one\n{} two\n")
}

// fakeClock is a settable time source.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestRollRollsOnInterval(t *testing.T) {
	dir := t.TempDir()
	r, s := newRoll(t, dir, func(c *RollConfig) { c.RollInterval = 1 })
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	s.now = clock.now
	in := bodies(60)

	write := func(from, to int) {
		t.Helper()
		r.put(t, 100, in[from:to]...)
		drainAll(t, s, r.ch)
	}
	write(0, 10)                      // opens file 1
	clock.add(999 * time.Millisecond) // not yet
	write(10, 20)
	clock.add(time.Millisecond) // file 1 is 1 s old: roll
	write(20, 30)               // file 2
	clock.add(500 * time.Millisecond)
	write(30, 40)
	clock.add(500 * time.Millisecond)
	// An idle Process closes the old file and opens no new one.
	if st, err := s.Process(context.Background()); err != nil || st != component.Backoff {
		t.Fatalf("idle Process = %v, %v", st, err)
	}
	if cur := s.CurrentFile(); cur != "" {
		t.Errorf("file %s still open after its interval", cur)
	}
	clock.add(time.Hour) // idle for long: no empty files appear
	for i := 0; i < 3; i++ {
		if _, err := s.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	write(40, 60) // file 3

	names := files(t, s, dir)
	got := readAll(t, dir, names)
	want := []string{lines(in[0:20]), lines(in[20:40]), lines(in[40:60])}
	if !slices.Equal(got, want) {
		t.Errorf("files %q hold\n%q\nwant\n%q", names, got, want)
	}
	c := r.counter()
	counts(t, "ConnectionCreated", c.ConnectionCreated.Get(), 3)
	counts(t, "ConnectionClosed", c.ConnectionClosed.Get(), 2)
}

// TestRollRollsInRealTime runs with the real clock and rollInterval=1: it
// keeps a trickle of events flowing until a third file appears.
func TestRollRollsInRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about two seconds")
	}
	dir := t.TempDir()
	r, s := newRoll(t, dir, func(c *RollConfig) { c.RollInterval = 1 })
	var in []string
	deadline := time.Now().Add(10 * time.Second)
	for len(files(t, s, dir)) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no third file after 10 s; files %q", files(t, s, dir))
		}
		b := "tick-" + strconv.Itoa(len(in))
		in = append(in, b)
		r.put(t, 100, b)
		drainAll(t, s, r.ch)
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(readAll(t, dir, files(t, s, dir)), ""); got != lines(in) {
		t.Errorf("files hold %q, want %q", got, lines(in))
	}
}

// TestRollOpenFailureKeepsEvents points the sink at a directory that cannot
// exist (its parent is a regular file; chmod would not stop root), then
// fixes it: the events wait in the channel and are written once.
func TestRollOpenFailureKeepsEvents(t *testing.T) {
	base := t.TempDir()
	blocker := filepath.Join(base, "data")
	if err := os.WriteFile(blocker, []byte("a file, not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(blocker, "out")
	r, s := newRoll(t, dir, nil)
	if err := s.Start(context.Background(), nil); err != nil {
		t.Fatalf("Start with an unusable directory: %v", err)
	}
	in := bodies(150)
	r.put(t, 100, in...)
	for i := 0; i < 3; i++ {
		st, err := s.Process(context.Background())
		if err == nil || st != component.Backoff {
			t.Fatalf("Process #%d = %v, %v; want BACKOFF and an error", i+1, st, err)
		}
	}
	if n := r.ch.Len(); n != len(in) {
		t.Fatalf("channel holds %d events after failed writes, want %d", n, len(in))
	}
	c := r.counter()
	counts(t, "ConnectionFailed", c.ConnectionFailed.Get(), 3)
	counts(t, "EventDrainSuccess", c.EventDrainSuccess.Get(), 0)
	counts(t, "EventDrainAttempt", c.EventDrainAttempt.Get(), 300)

	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	drainAll(t, s, r.ch)
	if got := strings.Join(readAll(t, dir, files(t, s, dir)), ""); got != lines(in) {
		t.Errorf("after recovery files hold %d bytes, want %d", len(got), len(lines(in)))
	}
	counts(t, "EventDrainSuccess", c.EventDrainSuccess.Get(), 150)
}

// TestRollDirectoryReplacedByFile removes the directory between files and
// puts a regular file in its place.
func TestRollDirectoryReplacedByFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	r, s := newRoll(t, dir, func(c *RollConfig) { c.RollInterval = 1 })
	clock := &fakeClock{t: time.Unix(1700000000, 0)}
	s.now = clock.now
	in := bodies(40)
	r.put(t, 100, in[:20]...)
	drainAll(t, s, r.ch)
	first := readAll(t, dir, files(t, s, dir))

	clock.add(time.Second)
	if _, err := s.Process(context.Background()); err != nil { // closes file 1
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r.put(t, 100, in[20:]...)
	if _, err := s.Process(context.Background()); err == nil {
		t.Fatal("Process into a directory that is a file: no error")
	}
	if n := r.ch.Len(); n != 20 {
		t.Fatalf("channel holds %d events, want 20", n)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	drainAll(t, s, r.ch)
	if got := strings.Join(append(first, readAll(t, dir, files(t, s, dir))...), ""); got != lines(in) {
		t.Errorf("files hold %q, want %q", got, lines(in))
	}
}

// brokenFile fails every write after the first n bytes.
type brokenFile struct{ n int }

func (f *brokenFile) Write(p []byte) (int, error) {
	if len(p) <= f.n {
		f.n -= len(p)
		return len(p), nil
	}
	k := f.n
	f.n = 0
	return k, errors.New("no space left on device")
}
func (f *brokenFile) Sync() error  { return nil }
func (f *brokenFile) Close() error { return nil }

func TestRollWriteFailureRollsBack(t *testing.T) {
	dir := t.TempDir()
	r, s := newRoll(t, dir, nil)
	s.bufferSize = 64 // so a batch reaches the file in several writes
	in := bodies(100)
	r.put(t, 50, in...)
	s.open = func(string) (file, error) { return &brokenFile{n: 100}, nil }
	st, err := s.Process(context.Background())
	if err == nil || st != component.Backoff || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Process = %v, %v; want BACKOFF and the write error", st, err)
	}
	if n := r.ch.Len(); n != 100 {
		t.Fatalf("channel holds %d events, want 100", n)
	}
	if cur := s.CurrentFile(); cur != "" {
		t.Errorf("broken file %s kept open", cur)
	}
	c := r.counter()
	counts(t, "EventWriteFail", c.EventWriteFail.Get(), 1)
	counts(t, "EventDrainSuccess", c.EventDrainSuccess.Get(), 0)

	s.open = openFile
	drainAll(t, s, r.ch)
	names := files(t, s, dir)
	if len(names) != 1 || !strings.HasSuffix(names[0], "-2") {
		t.Errorf("files %q, want one file with index 2", names)
	}
	if got := readAll(t, dir, names)[0]; got != lines(in) {
		t.Errorf("after recovery the file holds %q", got)
	}
}

func TestRollNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	r, s := newRoll(t, dir, nil)
	taken := filepath.Join(dir, s.fileName(1))
	if err := os.WriteFile(taken, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.put(t, 100, "new")
	drainAll(t, s, r.ch)
	if b, _ := os.ReadFile(taken); string(b) != "keep me\n" {
		t.Errorf("existing file overwritten: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, s.fileName(2))); string(b) != "new\n" {
		t.Errorf("next file holds %q", b)
	}
}

func TestRollFsync(t *testing.T) {
	dir := t.TempDir()
	r, s := newRoll(t, dir, func(c *RollConfig) { c.Fsync = true })
	r.put(t, 100, bodies(5)...)
	drainAll(t, s, r.ch)
	if got := readAll(t, dir, files(t, s, dir))[0]; got != lines(bodies(5)) {
		t.Errorf("file holds %q", got)
	}
}

// TestRollStopDuringProcess runs Process in a loop, as a runner does, while
// Stop is called: under -race this checks the lock, and nothing taken is
// lost or written twice.
func TestRollStopDuringProcess(t *testing.T) {
	dir := t.TempDir()
	r, s := newRoll(t, dir, nil)
	in := bodies(5000)
	r.put(t, 100, in...)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if _, err := s.Process(context.Background()); errors.Is(err, component.ErrStopped) {
				return
			} else if err != nil {
				t.Errorf("Process: %v", err)
				return
			}
		}
	}()
	time.Sleep(time.Millisecond)
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	written := strings.Join(readAll(t, dir, files(t, s, dir)), "")
	left := r.ch.Len()
	if want := lines(in[:len(in)-left]); written != want {
		t.Errorf("%d bytes written with %d events left in the channel, want %d bytes", len(written), left, len(want))
	}
	t.Logf("stopped after %d of %d events", len(in)-left, len(in))
}

func TestRollStopHonoursDeadline(t *testing.T) {
	_, s := newRoll(t, t.TempDir(), nil)
	s.lock <- struct{}{} // a Process stuck in a write
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop while a write is stuck = %v, want deadline exceeded", err)
	}
	s.release()
}

// TestRollConfigDecode decodes Flume properties through package config.
func TestRollConfigDecode(t *testing.T) {
	decode := func(props map[string]string) (*RollConfig, error) {
		sec := config.Section{Prefix: "a1.sinks.k1.", Props: map[string]config.Prop{}}
		for k, v := range props {
			sec.Props[k] = config.Prop{Key: "a1.sinks.k1." + k, Value: v, File: "f.conf", Line: 1}
		}
		cfg := NewRollConfig()
		return cfg, config.Decode(sec, cfg, config.Prop{File: "f.conf", Line: 1}).Err()
	}
	ok := func(props map[string]string, check func(c *RollConfig) bool) {
		t.Helper()
		c, err := decode(props)
		if err != nil {
			t.Errorf("%v: %v", props, err)
		} else if !check(c) {
			t.Errorf("%v: decoded %+v", props, *c)
		}
	}
	bad := func(props map[string]string, want string) {
		t.Helper()
		_, err := decode(props)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want one containing %q", props, err, want)
		}
	}
	ok(map[string]string{"sink.directory": "/var/log/flume"}, func(c *RollConfig) bool {
		return c.Directory == "/var/log/flume" && c.RollInterval == 30 && c.AppendNewline && c.BatchSize() == 100 && !c.Fsync
	})
	ok(map[string]string{
		"sink.directory":                "/d",
		"sink.rollInterval":             "0",
		"sink.serializer":               "Text",
		"sink.serializer.appendNewline": "false",
		"sink.pathManager":              "default",
		"sink.pathManager.prefix":       "p-",
		"sink.pathManager.extension":    "txt",
		"sink.batchSize":                "7",
		"sink.fsync":                    "true",
	}, func(c *RollConfig) bool {
		return c.RollInterval == 0 && !c.AppendNewline && c.Prefix == "p-" && c.Extension == "txt" && c.BatchSize() == 7 && c.Fsync
	})
	ok(map[string]string{"sink.directory": "/d", "batchSize": "20"}, func(c *RollConfig) bool { return c.BatchSize() == 20 })
	ok(map[string]string{"sink.directory": "/d", "sink.pathManager": "org.apache.flume.formatter.output.DefaultPathManager$Builder"},
		func(c *RollConfig) bool { return true })
	bad(map[string]string{}, "required property is missing")
	bad(map[string]string{"sink.directory": "/d", "sink.serializer": "avro_event"}, `unknown sink.serializer "avro_event"`)
	bad(map[string]string{"sink.directory": "/d", "sink.pathManager": "ROLLTIME"}, `unknown sink.pathManager "ROLLTIME"`)
	bad(map[string]string{"sink.directory": "/d", "sink.rollInterval": "-1"}, "sink.rollInterval must not be negative")
	bad(map[string]string{"sink.directory": "/d", "sink.rollInterval": "30s"}, "not an integer")
	bad(map[string]string{"sink.directory": "/d", "batchSize": "0"}, "batchSize must be positive")
	bad(map[string]string{"sink.directory": "/d", "sink.serializer.syncIntervalBytes": "1"}, "unknown property")
	bad(map[string]string{"sink.directory": " "}, "sink.directory must not be empty")
}
