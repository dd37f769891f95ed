package channel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vscope/vscope/agent"
	"github.com/vscope/vscope/agent/channel/wal"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/monitor"
	"github.com/vscope/vscope/agent/sink"
	"github.com/vscope/vscope/agent/source"
)

// testFileConfig is a small file channel in fresh directories under dir.
func testFileConfig(dir string) FileConfig {
	cfg := *NewFileConfig()
	cfg.CheckpointDir = filepath.Join(dir, "checkpoint")
	cfg.DataDirs = filepath.Join(dir, "data1") + "," + filepath.Join(dir, "data2")
	cfg.Capacity = 1000
	cfg.TxCapacity = 100
	cfg.MaxFileSize = 64 << 10
	cfg.MinimumRequiredSpace = 0
	cfg.KeepAlive = 1
	return cfg
}

// newTestFile builds and starts a file channel; it is stopped when the
// test ends.
func newTestFile(t testing.TB, cfg FileConfig) (*File, *monitor.ChannelCounter) {
	t.Helper()
	c := monitor.NewRegistry("a1").Channel("c1", "file")
	f, err := NewFile(component.ChannelSettings{Settings: component.Settings{Agent: "a1", Name: "c1", Type: "file"}, Counter: c}, cfg)
	if err != nil {
		t.Fatalf("NewFile: %v", err)
	}
	if err := f.Start(context.Background(), nil); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return f, c
}

func TestFileConfigValidate(t *testing.T) {
	f := func(mod func(c *FileConfig), want string) {
		t.Helper()
		c := NewFileConfig()
		mod(c)
		err := c.Validate()
		if want == "" {
			if err != nil {
				t.Errorf("%+v: %v", c, err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", c, err, want)
		}
	}
	f(func(c *FileConfig) {}, "")
	f(func(c *FileConfig) { c.Capacity = 0 }, "capacity must be positive")
	f(func(c *FileConfig) { c.TxCapacity = 0 }, "transactionCapacity must be positive")
	f(func(c *FileConfig) { c.TxCapacity = c.Capacity + 1 }, "exceeds capacity")
	f(func(c *FileConfig) { c.CheckpointInterval = 0 }, "checkpointInterval")
	f(func(c *FileConfig) { c.MaxFileSize = 100 }, "maxFileSize")
	f(func(c *FileConfig) { c.MinimumRequiredSpace = -1 }, "minimumRequiredSpace")
	f(func(c *FileConfig) { c.KeepAlive = -1 }, "keep-alive")
	f(func(c *FileConfig) { c.UseDualCheckpoints = true }, "backupCheckpointDir is not set")
	f(func(c *FileConfig) { c.DataDirs = " , " }, "names no directory")
	f(func(c *FileConfig) { c.CheckpointDir = "/x"; c.DataDirs = "/y,/x/" }, "distinct")
	f(func(c *FileConfig) {
		c.CheckpointDir, c.UseDualCheckpoints, c.BackupCheckpointDir = "/x", true, "/x"
	}, "distinct")
}

// A Flume user's file channel configuration loads unchanged, under the
// type name and the Java class name; unknown keys (encryption) are errors.
func TestFileFactoryFlumeConfig(t *testing.T) {
	dir := t.TempDir()
	fs := component.NewFactories([]component.SourceFactory{source.SeqFactory()},
		[]component.ChannelFactory{FileFactory()}, []component.SinkFactory{sink.NullFactory()})
	load := func(extra string) (*config.Agent, error) {
		text := fmt.Sprintf(`a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.channels = c1
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
a1.channels.c1.checkpointDir = %[1]s/checkpoint
a1.channels.c1.dataDirs = %[1]s/d1, %[1]s/d2
%s
`, dir, extra)
		props, err := config.Parse(strings.NewReader(text), "flume.conf")
		if err != nil {
			t.Fatal(err)
		}
		return config.Load(props, "flume.conf", "a1", fs, func(string) (string, bool) { return "", false })
	}
	a, err := load(`a1.channels.c1.type = org.apache.flume.channel.file.FileChannel
a1.channels.c1.capacity = 200000
a1.channels.c1.transactionCapacity = 1000
a1.channels.c1.checkpointInterval = 5000
a1.channels.c1.maxFileSize = 104857600
a1.channels.c1.minimumRequiredSpace = 1000
a1.channels.c1.useDualCheckpoints = true
a1.channels.c1.backupCheckpointDir = ` + dir + `/backup
a1.channels.c1.keep-alive = 5
a1.channels.c1.use-fast-replay = false`)
	if err != nil {
		t.Fatal(err)
	}
	cfg := a.Channels[0].Config.(*FileConfig)
	if cfg.Capacity != 200000 || cfg.TxCapacity != 1000 || cfg.CheckpointInterval != 5000 || cfg.MaxFileSize != 104857600 ||
		cfg.KeepAlive != 5 || !cfg.UseDualCheckpoints || !cfg.CheckpointOnClose {
		t.Fatalf("decoded %+v", cfg)
	}
	ch, err := a.Channels[0].Factory.Create(component.ChannelSettings{Settings: component.Settings{Agent: "a1", Name: "c1"},
		Counter: monitor.NewRegistry("a1").Channel("c1", "file")}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fc := ch.(*File)
	if ck, data := fc.Dirs(); ck != dir+"/checkpoint" || len(data) != 2 || data[1] != dir+"/d2" {
		t.Fatalf("dirs %s %v", ck, data)
	}
	if fc.opts.MinFreeSpace != 1<<20 || fc.opts.CheckpointInterval != 5*time.Second || fc.opts.BackupCheckpointDir != dir+"/backup" {
		t.Fatalf("options %+v", fc.opts)
	}
	_ = ch.Stop(context.Background())
	if _, err := load("a1.channels.c1.type = file\na1.channels.c1.encryption.activeKey = key-0"); err == nil ||
		!strings.Contains(err.Error(), `unknown property "encryption.activeKey"`) {
		t.Fatalf("encryption accepted: %v", err)
	}
	if _, err := load("a1.channels.c1.type = FILE\na1.channels.c1.transactionCapacity = 10\na1.sources.r1.batchSize = 50"); err == nil ||
		!strings.Contains(err.Error(), "exceeds transactionCapacity") {
		t.Fatalf("batch over transactionCapacity accepted: %v", err)
	}
}

func TestFileDefaultDirs(t *testing.T) {
	base := t.TempDir()
	t.Setenv("XDG_DATA_HOME", base)
	cfg := *NewFileConfig()
	f, err := NewFile(component.ChannelSettings{Settings: component.Settings{Agent: "a1", Name: "c1"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ck, data := f.Dirs()
	want := filepath.Join(base, "vscope", "file-channel", "a1", "c1")
	if ck != filepath.Join(want, "checkpoint") || len(data) != 1 || data[0] != filepath.Join(want, "data") {
		t.Fatalf("default dirs %s %v, want under %s", ck, data, want)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", base)
	if d, err := DefaultFileDir("a", "c"); err != nil || d != filepath.Join(base, ".local", "share", "vscope", "file-channel", "a", "c") {
		t.Fatalf("DefaultFileDir with HOME: %s %v", d, err)
	}
}

// The shared lifecycle: Stop is safe without Start and twice; a stopped
// channel refuses work; Start after Stop reopens it with its events.
func TestFileLifecycle(t *testing.T) {
	cfg := testFileConfig(t.TempDir())
	f, err := NewFile(component.ChannelSettings{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Stop(context.Background()); err != nil {
		t.Fatalf("Stop without Start: %v", err)
	}
	if err := f.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := f.Put(context.Background(), mkBatch(0, 1, 10)); !errors.Is(err, component.ErrStopped) {
		t.Fatalf("Put after Stop: %v", err)
	}
	if _, err := f.Take(context.Background(), 1); !errors.Is(err, component.ErrStopped) {
		t.Fatalf("Take after Stop: %v", err)
	}
	if err := f.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Put(context.Background(), mkBatch(0, 5, 10)); err != nil {
		t.Fatal(err)
	}
	tx, _ := f.Take(context.Background(), 2)
	if err := f.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); !errors.Is(err, component.ErrStopped) {
		t.Fatalf("Commit of a take from before Stop: %v", err)
	}
	if err := f.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer f.Stop(context.Background())
	if f.Len() != 5 {
		t.Fatalf("Len %d after restart, want 5 (the uncommitted take is back)", f.Len())
	}
}

func TestFilePutTakeFIFOAndCounters(t *testing.T) {
	f, c := newTestFile(t, testFileConfig(t.TempDir()))
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := f.Put(ctx, mkBatch(uint64(i*20), 20, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if c.Size() != 100 || f.Len() != 100 {
		t.Fatalf("size %d len %d", c.Size(), f.Len())
	}
	select {
	case <-f.Notify():
	default:
		t.Fatal("Notify not ready with events queued")
	}
	tx, _ := f.Take(ctx, 30)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); !errors.Is(err, component.ErrTxDone) {
		t.Fatalf("second Rollback: %v", err)
	}
	var got []uint64
	for {
		tx, err := f.Take(ctx, 1000) // clamped to transactionCapacity
		if err != nil {
			t.Fatal(err)
		}
		evs := tx.Events()
		if len(evs) > 100 {
			t.Fatalf("take of %d events over transactionCapacity", len(evs))
		}
		got = append(got, ids(evs)...)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
	}
	if !equalSeq(got, seq(0, 100)) {
		t.Fatalf("order %v", got)
	}
	if c.EventPutSuccess.Get() != 100 || c.EventTakeSuccess.Get() != 100 || c.EventRollback.Get() != 30 || c.Size() != 0 {
		t.Fatalf("counters put %d take %d rollback %d size %d", c.EventPutSuccess.Get(), c.EventTakeSuccess.Get(), c.EventRollback.Get(), c.Size())
	}
	if err := f.Put(ctx, mkBatch(0, 101, 10)); !errors.Is(err, component.ErrTooLarge) {
		t.Fatalf("put over transactionCapacity: %v", err)
	}
}

func equalSeq(a, b []uint64) bool {
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

// A full channel makes Put wait keep-alive, then fail with ErrChannelFull;
// a commit wakes a waiting put at once.
func TestFileKeepAliveAndCapacity(t *testing.T) {
	cfg := testFileConfig(t.TempDir())
	cfg.Capacity, cfg.TxCapacity, cfg.KeepAlive = 100, 50, 1
	f, _ := newTestFile(t, cfg)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := f.Put(ctx, mkBatch(uint64(i*50), 50, 10)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	err := f.Put(ctx, mkBatch(100, 1, 10))
	if !errors.Is(err, component.ErrChannelFull) || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("put into a full channel: %v after %v", err, time.Since(start))
	}
	// An open take keeps its room; its commit frees it and wakes the put.
	tx, _ := f.Take(ctx, 10)
	done := make(chan error, 1)
	go func() { done <- f.Put(ctx, mkBatch(100, 5, 10)) }()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the put was not woken by the commit")
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- f.Put(cctx, mkBatch(200, 50, 10)) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled put: %v", err)
	}
}

// Below minimumRequiredSpace puts fail at once with ErrChannelFull (and
// wal.ErrLowSpace), takes go on, and puts resume when space returns.
func TestFileLowSpace(t *testing.T) {
	cfg := testFileConfig(t.TempDir())
	cfg.MinimumRequiredSpace = 10 << 20
	c := monitor.NewRegistry("a1").Channel("c1", "file")
	f, err := NewFile(component.ChannelSettings{Counter: c}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var free atomic.Int64
	free.Store(1 << 30)
	f.opts.FreeSpace = func(string) (int64, error) { return free.Load(), nil }
	if err := f.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer f.Stop(context.Background())
	ctx := context.Background()
	if err := f.Put(ctx, mkBatch(0, 10, 10)); err != nil {
		t.Fatal(err)
	}
	free.Store(5 << 20)
	var perr error
	deadline := time.Now().Add(waitTimeout)
	for perr == nil && time.Now().Before(deadline) { // the reading is cached for 100 ms
		perr = f.Put(ctx, mkBatch(10, 1, 10))
	}
	if !errors.Is(perr, component.ErrChannelFull) || !errors.Is(perr, wal.ErrLowSpace) ||
		!strings.Contains(perr.Error(), "minimumRequiredSpace is 10485760") {
		t.Fatalf("put below minimumRequiredSpace: %v", perr)
	}
	tx, err := f.Take(ctx, 100)
	if err != nil || len(tx.Events()) == 0 {
		t.Fatalf("take below minimumRequiredSpace: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit below minimumRequiredSpace: %v", err)
	}
	free.Store(1 << 30)
	deadline = time.Now().Add(waitTimeout)
	for perr != nil && time.Now().Before(deadline) {
		perr = f.Put(ctx, mkBatch(20, 1, 10))
	}
	if perr != nil {
		t.Fatalf("puts did not resume when space returned: %v", perr)
	}
	if f.Stats().LowSpaceRefusals == 0 {
		t.Fatal("refusals not counted")
	}
}

// Restarting the channel (a new instance on the same directories) keeps
// every queued event and every uncommitted take, in order.
func TestFileRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	cfg := testFileConfig(dir)
	ctx := context.Background()
	f, _ := newTestFile(t, cfg)
	for i := 0; i < 10; i++ {
		if err := f.Put(ctx, mkBatch(uint64(i*10), 10, 200)); err != nil {
			t.Fatal(err)
		}
	}
	tx, _ := f.Take(ctx, 25)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	open, _ := f.Take(ctx, 15) // not committed when the channel stops
	_ = open
	if err := f.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	f2, c2 := newTestFile(t, cfg)
	if f2.Len() != 75 || c2.Size() != 75 {
		t.Fatalf("after restart Len %d size %d", f2.Len(), c2.Size())
	}
	var got []uint64
	for f2.Len() > 0 {
		tx, _ := f2.Take(ctx, 30)
		got = append(got, ids(tx.Events())...)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if !equalSeq(got, seq(25, 75)) {
		t.Fatalf("after restart %v", got)
	}
	if st := f2.Stats(); st.Checkpoint != "primary" || st.ReplayRecords != 0 {
		t.Fatalf("a clean restart replayed the log: %+v", st)
	}
}

// A fatal write error is reported to the host, whose supervisor restarts
// the channel; the restart recovers from disk.
func TestFileFatalReportsToHost(t *testing.T) {
	cfg := testFileConfig(t.TempDir())
	f, err := NewFile(component.ChannelSettings{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fatal := make(chan error, 1)
	if err := f.Start(context.Background(), component.HostFunc(func(err error) { fatal <- err })); err != nil {
		t.Fatal(err)
	}
	defer f.Stop(context.Background())
	f.fatal(errors.New("sync segment x: input/output error"))
	select {
	case err := <-fatal:
		if !strings.Contains(err.Error(), "file channel: sync segment x") {
			t.Fatalf("host got %v", err)
		}
	default:
		t.Fatal("the host was not told")
	}
}

// Many putters and takers at once: every event is taken exactly once.
func TestFileConcurrent(t *testing.T) {
	cfg := testFileConfig(t.TempDir())
	cfg.Capacity = 500
	f, _ := newTestFile(t, cfg)
	ctx := context.Background()
	const putters, batches, per = 4, 30, 10
	var wg sync.WaitGroup
	errs := make(chan error, putters+2)
	for p := 0; p < putters; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				if err := f.Put(ctx, mkBatch(uint64(p*100000+b*per), per, 50)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var mu sync.Mutex
	seen := map[uint64]int{}
	var taken atomic.Int64
	stop := make(chan struct{})
	var twg sync.WaitGroup
	for k := 0; k < 2; k++ {
		twg.Add(1)
		go func() {
			defer twg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-f.Notify():
				}
				tx, err := f.Take(ctx, 17)
				if err != nil {
					errs <- err
					return
				}
				evs := tx.Events()
				if n%5 == 4 {
					_ = tx.Rollback()
					continue
				}
				mu.Lock()
				for _, id := range ids(evs) {
					seen[id]++
				}
				mu.Unlock()
				if err := tx.Commit(); err != nil {
					errs <- err
					return
				}
				taken.Add(int64(len(evs)))
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(waitTimeout)
	for taken.Load() < putters*batches*per && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling a counter the takers advance
	}
	close(stop)
	twg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != putters*batches*per {
		t.Fatalf("%d distinct events taken, want %d", len(seen), putters*batches*per)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %d taken %d times", id, n)
		}
	}
}

// An agent reload that changes a file channel's properties keeps its
// events on disk for the replacement (same directories); one that moves
// it to other directories moves the events over. Nothing is lost either
// way, and the first reload logs no error.
func TestFileReloadKeepsEvents(t *testing.T) {
	dir := t.TempDir()
	fs := component.NewFactories([]component.SourceFactory{source.SeqFactory()},
		[]component.ChannelFactory{FileFactory()}, nil)
	conf := func(total int, capacity int, sub string) *config.Agent {
		text := fmt.Sprintf(`a1.sources = r1
a1.channels = c1
a1.sources.r1.type = seq
a1.sources.r1.totalEvents = %d
a1.sources.r1.batchSize = 50
a1.sources.r1.channels = c1
a1.channels.c1.type = file
a1.channels.c1.capacity = %d
a1.channels.c1.transactionCapacity = 100
a1.channels.c1.minimumRequiredSpace = 0
a1.channels.c1.checkpointDir = %[4]s/%[5]s/checkpoint
a1.channels.c1.dataDirs = %[4]s/%[5]s/data
`, total, capacity, 0, dir, sub)
		props, err := config.Parse(strings.NewReader(text), "flume.conf")
		if err != nil {
			t.Fatal(err)
		}
		a, err := config.Load(props, "flume.conf", "a1", fs, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	a := agent.New("a1", fs, agent.Options{Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))})
	ctx := context.Background()
	defer a.Stop(ctx)
	waitLen := func(want int) {
		t.Helper()
		deadline := time.Now().Add(waitTimeout)
		for {
			ch, _ := a.Channel("c1").(*File)
			if ch != nil && ch.Len() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("channel never held %d events", want)
			}
			time.Sleep(5 * time.Millisecond) // the seq source fills the channel on its own schedule
		}
	}
	if err := a.Apply(ctx, conf(1000, 5000, "one")); err != nil {
		t.Fatal(err)
	}
	waitLen(1000)
	if err := a.Apply(ctx, conf(0, 6000, "one")); err != nil {
		t.Fatal(err)
	}
	waitLen(1000)
	logMu.Lock()
	if strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "recovers its events from its own storage") {
		t.Fatalf("reload on the same directories:\n%s", logs.String())
	}
	logMu.Unlock()
	if err := a.Apply(ctx, conf(0, 6000, "two")); err != nil {
		t.Fatal(err)
	}
	waitLen(1000)
	got := a.Channel("c1").(*File)
	if ck, _ := got.Dirs(); !strings.Contains(ck, "/two/") {
		t.Fatalf("channel on %s", ck)
	}
	var bodies []string
	for got.Len() > 0 {
		tx, err := got.Take(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tx.Events() {
			bodies = append(bodies, string(e.Body))
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range bodies {
		if b != fmt.Sprint(i) {
			t.Fatalf("event %d is %q after two reloads", i, b)
		}
	}
	if len(bodies) != 1000 {
		t.Fatalf("%d events after two reloads", len(bodies))
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
