package sink

import (
	"bufio"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // parquet.timeZone works without the system's zoneinfo

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// ParquetConfig is the configuration of a parquet sink. Property names are
// those of Flume's HDFS sink with "parquet." for "hdfs.", and so are the
// defaults, except fileSuffix (.parquet) and inUseSuffix (.tmp).
type ParquetConfig struct {
	// Path is the directory, with escapes (%Y %m %d %H ..., %{header});
	// a local path, optionally file://.
	Path string `prop:"parquet.path,required"`
	// FilePrefix starts every file name; it may hold escapes too.
	FilePrefix  string `prop:"parquet.filePrefix"`
	FileSuffix  string `prop:"parquet.fileSuffix"`
	InUsePrefix string `prop:"parquet.inUsePrefix"`
	InUseSuffix string `prop:"parquet.inUseSuffix"`
	// RollInterval is seconds a file stays open; 0 never rolls by time.
	RollInterval int `prop:"parquet.rollInterval"`
	// RollSize rolls a file once its bodies reach this many bytes (Flume
	// counts body bytes, not file bytes); 0 never rolls by size.
	RollSize int64 `prop:"parquet.rollSize"`
	// RollCount rolls a file once it holds this many events; 0 never.
	RollCount int64 `prop:"parquet.rollCount"`
	// IdleTimeout closes a file after this many seconds without events;
	// 0 never.
	IdleTimeout int `prop:"parquet.idleTimeout"`
	// MaxOpenFiles bounds the files open at once; opening one more closes
	// the least recently written.
	MaxOpenFiles int `prop:"parquet.maxOpenFiles"`
	// Batch is events per take: parquet.batchSize, or batchSize like the
	// other sinks. A positive parquet.batchSize wins.
	Batch     int `prop:"batchSize"`
	SinkBatch int `prop:"parquet.batchSize"`
	// Round rounds the time the escapes see down to RoundValue RoundUnits
	// (second, minute, hour).
	Round      bool   `prop:"parquet.round"`
	RoundValue int    `prop:"parquet.roundValue"`
	RoundUnit  string `prop:"parquet.roundUnit"`
	// TimeZone names the zone of the time escapes (an IANA name such as
	// America/Los_Angeles); empty means local time.
	TimeZone string `prop:"parquet.timeZone"`
	// UseLocalTimeStamp makes the escapes use the time of writing instead
	// of the event's timestamp header.
	UseLocalTimeStamp bool `prop:"parquet.useLocalTimeStamp"`
	// Compression is snappy, zstd, gzip or none.
	Compression string `prop:"parquet.compression"`
	// Headers lists the headers that become columns; empty means one map
	// column of all headers.
	Headers []string `prop:"parquet.headers"`
	// RowGroupSize is raw event bytes per Parquet row group; a file being
	// finished holds about one row group in memory.
	RowGroupSize int `prop:"parquet.rowGroupSize"`
	// ThreadsPoolSize is how many closed files are turned into Parquet at
	// once, in the background (Flume's hdfs.threadsPoolSize sizes the
	// HDFS sink's I/O pool the same way).
	ThreadsPoolSize int `prop:"parquet.threadsPoolSize"`
	// Fsync syncs the in-use file after every batch, before the commit,
	// and each finished file and its directory before and after it is
	// named. Without it a committed batch survives a crash of the agent
	// but not of the machine.
	Fsync bool `prop:"parquet.fsync"`
}

// NewParquetConfig returns the defaults. Path has none.
func NewParquetConfig() *ParquetConfig {
	return &ParquetConfig{
		FilePrefix:      "FlumeData",
		FileSuffix:      ".parquet",
		InUseSuffix:     ".tmp",
		RollInterval:    30,
		RollSize:        1024,
		RollCount:       10,
		MaxOpenFiles:    5000,
		Batch:           defaultBatchSize,
		RoundValue:      1,
		RoundUnit:       roundSecond,
		Compression:     "snappy",
		RowGroupSize:    32 << 20,
		ThreadsPoolSize: 2,
	}
}

// localPath strips file:// from p.
func localPath(p string) string {
	return strings.TrimPrefix(strings.TrimSpace(p), "file://")
}

// Validate checks the configuration.
func (c *ParquetConfig) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	path := localPath(c.Path)
	switch {
	case path == "":
		add("parquet.path must not be empty")
	case strings.Contains(path, "://"):
		add("parquet.path %q: only local paths are supported (file:// or none)", c.Path)
	default:
		if _, err := compilePattern(path, true); err != nil {
			add("parquet.path: %v", err)
		}
	}
	if _, err := compilePattern(c.FilePrefix, true); err != nil {
		add("parquet.filePrefix: %v", err)
	}
	for _, p := range []struct{ name, v string }{
		{"parquet.filePrefix", c.FilePrefix}, {"parquet.fileSuffix", c.FileSuffix},
		{"parquet.inUsePrefix", c.InUsePrefix}, {"parquet.inUseSuffix", c.InUseSuffix},
	} {
		if strings.ContainsAny(p.v, "/\x00") {
			add("%s %q must not contain / (use parquet.path for directories)", p.name, p.v)
		}
	}
	if c.InUsePrefix == "" && c.InUseSuffix == "" {
		add("parquet.inUsePrefix and parquet.inUseSuffix must not both be empty: files in progress need a name of their own")
	}
	for _, n := range []struct {
		name string
		v    int64
	}{
		{"parquet.rollInterval", int64(c.RollInterval)}, {"parquet.rollSize", c.RollSize},
		{"parquet.rollCount", c.RollCount}, {"parquet.idleTimeout", int64(c.IdleTimeout)},
		{"parquet.batchSize", int64(c.SinkBatch)},
	} {
		if n.v < 0 {
			add("%s must not be negative, got %d", n.name, n.v)
		}
	}
	if c.MaxOpenFiles <= 0 {
		add("parquet.maxOpenFiles must be positive, got %d", c.MaxOpenFiles)
	}
	if c.Batch <= 0 {
		add("batchSize must be positive, got %d", c.Batch)
	}
	if c.RowGroupSize <= 0 {
		add("parquet.rowGroupSize must be positive, got %d", c.RowGroupSize)
	}
	if c.ThreadsPoolSize <= 0 {
		add("parquet.threadsPoolSize must be positive, got %d", c.ThreadsPoolSize)
	}
	if err := checkRound(c.RoundValue, strings.ToLower(c.RoundUnit)); err != nil {
		add("parquet.roundValue/roundUnit: %v", err)
	}
	if c.TimeZone != "" {
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			add("parquet.timeZone: %v", err)
		}
	}
	if _, ok := codecs[strings.ToLower(c.Compression)]; !ok {
		add("unknown parquet.compression %q (supported: snappy, zstd, gzip, none)", c.Compression)
	}
	seen := map[string]bool{}
	for _, h := range c.Headers {
		switch {
		case h == colTimestamp || h == colBody:
			add("parquet.headers: %q is a column of its own and cannot be a header column", h)
		case seen[h]:
			add("parquet.headers: %q is listed twice", h)
		}
		seen[h] = true
	}
	return errors.Join(errs...)
}

// BatchSize implements component.BatchSizer.
func (c *ParquetConfig) BatchSize() int {
	if c.SinkBatch > 0 {
		return c.SinkBatch
	}
	return c.Batch
}

// SetBatchSize lowers a default batch size to fit the channel.
func (c *ParquetConfig) SetBatchSize(n int) { c.Batch = n }

// walBufferSize is the write buffer of each in-use file; small because
// there may be thousands of them, and each batch is flushed anyway.
const walBufferSize = 16 << 10

// retryInterval is how long a file that failed to finish waits before the
// next attempt.
const retryInterval = 10 * time.Second

// walFile is one in-use file.
type walFile struct {
	path   string // in-use name
	final  string // the name it gets when complete
	f      *os.File
	w      *bufio.Writer
	bucket *bucket // nil once sealed
	opened time.Time

	size, mark           int64 // bytes written; bytes up to the last batch end
	events, markEvents   int64
	bodyBytes, markBytes int64
	touched              bool      // written in the current batch
	retryAt              time.Time // after a failed finish
	lastWrite            time.Time
}

// bucket is one directory + file prefix the escapes produced, with the
// file it is writing.
type bucket struct {
	key  string
	dir  string
	name string // expanded file prefix
	file *walFile
	elem *list.Element // in Parquet.lru
}

// Parquet is a columnar rolling file sink in place of Flume's HDFS sink:
// events go to Parquet files under a path with escapes, one open file per
// distinct directory and prefix (a bucket), each rolled by interval, body
// bytes and event count, and closed when idle or when too many are open.
//
// Files appear complete or not at all. While a file is in use its events
// are appended to a log under the in-use name (inUsePrefix + name +
// inUseSuffix), flushed to the operating system (and with parquet.fsync
// synced) before the take is committed. A closed file is handed to a pool
// of finishers (parquet.threadsPoolSize) that convert the log into Parquet
// under a second in-progress name (".part" before the in-use suffix) and
// then give it its final name with a hard link that never replaces an
// existing file; the sink waits for them only when they fall behind. Start
// recovers what a crash left: every in-use log under the path's fixed root
// that no live sink holds is converted the same way, up to its last
// complete batch.
//
// So a committed event is never lost by a crash of the agent (and, with
// parquet.fsync, of the machine); an event may be written twice when the
// agent dies between writing a batch and committing its take, or when a
// batch fails after part of it went to a file that rolled mid-batch (both
// are redelivered by the channel): at least once, as Flume's HDFS sink.
type Parquet struct {
	set      component.SinkSettings
	cfg      ParquetConfig
	log      *slog.Logger
	d        drainer
	dirPat   *pathPattern
	namePat  *pathPattern
	needTime bool
	loc      *time.Location
	layout   *pqLayout
	root     string // the fixed part of the path, where recovery looks
	interval time.Duration
	idle     time.Duration
	now      func() time.Time

	// lock is held by Start, Process and Stop and guards every field
	// below; a one-slot channel so Stop can give up at its ctx deadline.
	lock        chan struct{}
	stopped     bool
	buckets     map[string]*bucket
	lru         list.List          // *bucket, most recently written first
	sealed      []*walFile         // no longer written, to be finished
	touched     []*walFile         // written in the current batch
	lastCounter int64              // the last file counter handed out
	nextCheck   time.Time          // earliest roll or idle deadline; zero: none
	rec, key    []byte             // scratch
	queue       chan *walFile      // to the finishers; nil when none run
	cancel      context.CancelFunc // stops the finishers
	finishers   sync.WaitGroup

	// fmu guards failed, files whose finish failed, retried after
	// retryInterval; the finishers add to it. Lock order: lock, then fmu.
	fmu    sync.Mutex
	failed []*walFile
	// inflight counts files handed to the finishers and not yet done.
	inflight atomic.Int64
	// abandoned counts files the finishers gave up at Stop's deadline.
	abandoned atomic.Int64
}

// errNoTimestamp is returned when the escapes need an event's time and
// its timestamp header is missing or not a number.
var errNoTimestamp = errors.New("the path escapes need the event's timestamp header (milliseconds), " +
	"but it is missing or not a number: add a timestamp interceptor or set parquet.useLocalTimeStamp = true")

// NewParquet builds a parquet sink. Nothing is touched on disk until Start.
func NewParquet(set component.SinkSettings, cfg ParquetConfig) (*Parquet, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, err := newDrainer(set, cfg.BatchSize())
	if err != nil {
		return nil, err
	}
	cfg.Path = localPath(cfg.Path)
	cfg.Compression = strings.ToLower(cfg.Compression)
	cfg.RoundUnit = strings.ToLower(cfg.RoundUnit)
	dirPat, err := compilePattern(cfg.Path, true)
	if err != nil {
		return nil, err
	}
	namePat, err := compilePattern(cfg.FilePrefix, true)
	if err != nil {
		return nil, err
	}
	loc := time.Local
	if cfg.TimeZone != "" {
		if loc, err = time.LoadLocation(cfg.TimeZone); err != nil {
			return nil, err
		}
	}
	root := filepath.Clean(cfg.Path)
	if !dirPat.static() {
		root = filepath.Dir(dirPat.literalPrefix() + "x")
	}
	return &Parquet{
		set:      set,
		cfg:      cfg,
		log:      loggerOr(set.Logger),
		d:        d,
		dirPat:   dirPat,
		namePat:  namePat,
		needTime: dirPat.needTime || namePat.needTime,
		loc:      loc,
		layout:   newLayout(&cfg),
		root:     root,
		interval: time.Duration(cfg.RollInterval) * time.Second,
		idle:     time.Duration(cfg.IdleTimeout) * time.Second,
		now:      time.Now,
		lock:     make(chan struct{}, 1),
		buckets:  map[string]*bucket{},
	}, nil
}

// acquire takes the lock, preferring it to a done ctx so Stop with an
// expired deadline still closes what it can.
func (s *Parquet) acquire(ctx context.Context) error {
	select {
	case s.lock <- struct{}{}:
		return nil
	default:
	}
	select {
	case s.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Parquet) release() { <-s.lock }

// Start recovers the in-use files a crash left under the path's fixed
// root, then accepts batches. A file that cannot be recovered is logged and
// left for the next Start; it does not stop the sink.
func (s *Parquet) Start(ctx context.Context, _ component.Host) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	s.stopped = false
	s.recoverAll(ctx)
	if s.queue == nil {
		s.queue = make(chan *walFile, s.cfg.ThreadsPoolSize)
		var wctx context.Context
		wctx, s.cancel = context.WithCancel(context.Background())
		for range s.cfg.ThreadsPoolSize {
			s.finishers.Add(1)
			go s.finisher(wctx, s.queue)
		}
	}
	s.set.Counter.MarkStarted()
	return nil
}

// finisher turns the files it receives into Parquet until q is closed.
// A file that fails goes on the failed list for a later retry; one cut
// short by Stop's deadline is left in use for the next Start to recover.
func (s *Parquet) finisher(ctx context.Context, q <-chan *walFile) {
	defer s.finishers.Done()
	for f := range q {
		err := s.finish(ctx, f)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			_ = f.f.Close()
			s.abandoned.Add(1)
		default:
			s.set.Counter.ConnectionFailed.Inc()
			s.log.Warn("parquet file not finished; will retry", "file", f.path, "err", err)
			f.retryAt = s.now().Add(retryInterval)
			s.fmu.Lock()
			s.failed = append(s.failed, f)
			s.fmu.Unlock()
		}
		s.inflight.Add(-1)
	}
}

// Stop closes every open file, turning it into its final Parquet file. It
// waits for a Process in progress, at most until ctx is done; files it
// could not finish by then stay under their in-use names and are recovered
// by the next Start. Safe without Start and twice.
func (s *Parquet) Stop(ctx context.Context) error {
	if err := s.acquire(ctx); err != nil {
		return fmt.Errorf("stop parquet %s: %w", s.set.Name, err)
	}
	defer s.release()
	s.stopped = true
	s.set.Counter.MarkStopped()
	for _, b := range s.buckets {
		s.dropBucket(b)
	}
	s.nextCheck = time.Time{}
	var errs []error
	if s.queue != nil {
		if err := s.handOff(ctx, true); err != nil {
			errs = append(errs, err)
		}
		close(s.queue)
		s.queue = nil
		done := make(chan struct{})
		go func() { s.finishers.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.cancel() // finishers give up at their next row group
			<-done
		}
		s.cancel()
	}
	// Without finishers (never started, or out of time): what is left is
	// tried here once more, then left in use for the next Start.
	s.fmu.Lock()
	s.sealed = append(s.sealed, s.failed...)
	s.failed = nil
	s.fmu.Unlock()
	if err := s.finishSealed(ctx, true); err != nil {
		errs = append(errs, err)
	}
	n := len(s.sealed) + int(s.abandoned.Swap(0))
	for _, f := range s.sealed {
		_ = f.f.Close()
	}
	s.sealed = nil
	if n > 0 {
		err := errors.Join(errs...)
		s.log.Warn("parquet files left in use; the next start recovers them", "sink", s.set.Name, "files", n, "err", err)
		return fmt.Errorf("stop parquet %s: %d files left in use for recovery: %w", s.set.Name, n, err)
	}
	return nil
}

// handOff gives the sealed files, and the failed ones due for a retry
// (all of them with force), to the finishers. It waits while they are
// busy, which slows the sink to the pace Parquet files can be written,
// and gives up when ctx is done; what is left stays sealed.
func (s *Parquet) handOff(ctx context.Context, force bool) error {
	s.fmu.Lock()
	if len(s.failed) > 0 {
		now := s.now()
		keep := s.failed[:0]
		for _, f := range s.failed {
			if force || !now.Before(f.retryAt) {
				s.sealed = append(s.sealed, f)
			} else {
				keep = append(keep, f)
			}
		}
		clear(s.failed[len(keep):])
		s.failed = keep
	}
	s.fmu.Unlock()
	for len(s.sealed) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		f := s.sealed[0]
		s.inflight.Add(1)
		select {
		case s.queue <- f:
			s.sealed[0] = nil
			s.sealed = s.sealed[1:]
		case <-ctx.Done():
			s.inflight.Add(-1)
			return ctx.Err()
		}
	}
	s.sealed = nil
	return nil
}

// InUseFiles lists the in-use files being written, for tests and tools.
func (s *Parquet) InUseFiles() []string {
	s.lock <- struct{}{}
	defer s.release()
	var out []string
	for e := s.lru.Front(); e != nil; e = e.Next() {
		if f := e.Value.(*bucket).file; f != nil {
			out = append(out, f.path)
		}
	}
	return out
}

// Process closes the files whose roll interval or idle timeout passed,
// takes a batch, writes it to the in-use files of its buckets, flushes
// them and commits; then it hands the files that were closed to the
// finishers, which turn them into Parquet in the background. After Stop it
// returns ErrStopped without taking anything.
func (s *Parquet) Process(ctx context.Context) (component.Status, error) {
	if err := s.acquire(ctx); err != nil {
		return component.Backoff, err
	}
	defer s.release()
	if s.stopped {
		return component.Backoff, component.ErrStopped
	}
	s.closeExpired(s.now())
	st, err := s.d.drain(ctx, s.write)
	finish := s.finishSealed
	if s.queue != nil {
		finish = s.handOff
	}
	if ferr := finish(ctx, false); ferr != nil {
		st, err = component.Backoff, errors.Join(err, ferr)
	}
	return st, err
}

// eventTime returns the event's timestamp header in milliseconds.
func eventTime(h map[string]string) (int64, bool) {
	v, ok := h["timestamp"]
	if !ok {
		return 0, false
	}
	ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return ms, err == nil
}

// write delivers one batch: each event goes to its bucket's in-use file;
// then every file written gets a batch-end record and is flushed (and
// synced). On any failure the files are cut back to where the batch began.
func (s *Parquet) write(events []event.Event) error {
	now := s.now()
	nowMs := now.UnixMilli()
	s.touched = s.touched[:0]
	for i := range events {
		e := &events[i]
		ms, ok := eventTime(e.Headers)
		if !ok {
			ms = nowMs
		}
		var t time.Time
		tms := ms
		if s.needTime {
			switch {
			case s.cfg.UseLocalTimeStamp:
				t, tms = now, nowMs
			case !ok:
				s.abort()
				s.set.Counter.EventWriteFail.Inc()
				return fmt.Errorf("event %d of %d (timestamp header %q): %w", i+1, len(events), e.Headers["timestamp"], errNoTimestamp)
			default:
				t = time.UnixMilli(ms)
			}
			t = t.In(s.loc)
			if s.cfg.Round {
				t = roundDown(t, s.cfg.RoundValue, s.cfg.RoundUnit)
			}
		}
		key := s.dirPat.expand(s.key[:0], e.Headers, t, tms)
		dirLen := len(key)
		key = append(key, '/')
		key = s.namePat.expand(key, e.Headers, t, tms)
		s.key = key
		b := s.buckets[string(key)]
		if b == nil {
			b = s.newBucket(string(key), dirLen)
		} else {
			s.lru.MoveToFront(b.elem)
		}
		if err := s.append(b, now, ms, e); err != nil {
			s.abort()
			return err
		}
	}
	return s.endBatch(now)
}

// newBucket adds a bucket, first closing the least recently written one
// if maxOpenFiles are open.
func (s *Parquet) newBucket(key string, dirLen int) *bucket {
	for len(s.buckets) >= s.cfg.MaxOpenFiles {
		s.dropBucket(s.lru.Back().Value.(*bucket))
	}
	b := &bucket{key: key, dir: filepath.Clean(key[:dirLen]), name: key[dirLen+1:]}
	b.elem = s.lru.PushFront(b)
	s.buckets[key] = b
	return b
}

// dropBucket removes b, sealing its file.
func (s *Parquet) dropBucket(b *bucket) {
	if b.file != nil {
		s.seal(b.file)
	}
	s.lru.Remove(b.elem)
	delete(s.buckets, b.key)
}

// seal stops writes to f; it is finished (turned into Parquet) after the
// current batch.
func (s *Parquet) seal(f *walFile) {
	if f.bucket != nil {
		f.bucket.file = nil
		f.bucket = nil
	}
	s.sealed = append(s.sealed, f)
}

// shouldRoll is Flume's BucketWriter.shouldRotate: checked before each
// event, so a file holds at most rollCount events.
func (s *Parquet) shouldRoll(f *walFile) bool {
	return s.cfg.RollCount > 0 && f.events >= s.cfg.RollCount ||
		s.cfg.RollSize > 0 && f.bodyBytes >= s.cfg.RollSize
}

// append writes one event to b's file, rolling or opening it first.
func (s *Parquet) append(b *bucket, now time.Time, ms int64, e *event.Event) error {
	f := b.file
	if f != nil && s.shouldRoll(f) {
		s.seal(f)
		f = nil
	}
	if f == nil {
		var err error
		if f, err = s.openFile(b, now); err != nil {
			s.set.Counter.ConnectionFailed.Inc()
			return err
		}
	}
	s.rec = appendWALEvent(s.rec[:0], ms, e)
	if _, err := f.w.Write(s.rec); err != nil {
		s.set.Counter.EventWriteFail.Inc()
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	f.size += int64(len(s.rec))
	f.events++
	f.bodyBytes += int64(len(e.Body))
	f.lastWrite = now
	if !f.touched {
		f.touched = true
		s.touched = append(s.touched, f)
	}
	return nil
}

// fileName is Flume's name: prefix "." counter suffix.
func (s *Parquet) fileName(prefix string, counter int64) string {
	c := strconv.FormatInt(counter, 10)
	if prefix == "" {
		return c + s.cfg.FileSuffix
	}
	return prefix + "." + c + s.cfg.FileSuffix
}

// openFile creates b's next in-use file. Its counter starts from the
// current Unix milliseconds, as in Flume, and grows by one per file of the
// sink; names that exist, final or in use, are skipped.
func (s *Parquet) openFile(b *bucket, now time.Time) (*walFile, error) {
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create directory %s: %w", b.dir, err)
	}
	const maxSkips = 1000
	for i := 0; i < maxSkips; i++ {
		c := now.UnixMilli()
		if c <= s.lastCounter {
			c = s.lastCounter + 1
		}
		s.lastCounter = c
		final := s.fileName(b.name, c)
		if exists(filepath.Join(b.dir, final)) {
			continue
		}
		path := filepath.Join(b.dir, s.cfg.InUsePrefix+final+s.cfg.InUseSuffix)
		fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
		f, err := s.initFile(fh, path, final)
		if errors.Is(err, errLostFile) {
			_ = fh.Close()
			continue
		}
		if errors.Is(err, errFinalExists) {
			_ = os.Remove(path)
			_ = fh.Close()
			continue
		}
		if err != nil {
			_ = fh.Close()
			_ = os.Remove(path)
			return nil, err
		}
		f.bucket, f.opened, f.lastWrite = b, now, now
		b.file = f
		if s.interval > 0 {
			s.noteDeadline(now.Add(s.interval))
		}
		if s.idle > 0 {
			s.noteDeadline(now.Add(s.idle))
		}
		s.set.Counter.ConnectionCreated.Inc()
		return f, nil
	}
	return nil, fmt.Errorf("open next file in %s: %d names in a row exist: %w", b.dir, maxSkips, fs.ErrExist)
}

// errLostFile means a newly created in-use file was removed by a recovery
// before the writer could lock it.
var errLostFile = errors.New("in-use file removed before it was locked")

// initFile locks a newly created in-use file and writes its header. A
// recovery may lock it first, find no header and remove it: then the name
// no longer leads to the file and errLostFile says to try the next name.
func (s *Parquet) initFile(fh *os.File, path, final string) (*walFile, error) {
	if err := lockFileWait(fh); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// A recovery that locked the file first removed it as an orphan.
	if fi, err := fh.Stat(); err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	} else if cur, err := os.Stat(path); err != nil || !os.SameFile(fi, cur) {
		return nil, errLostFile
	}
	// Checked again now that the in-use name is ours: another sink sharing
	// the directory and prefix may have published this name after our
	// first check and before we created its in-use file. From here on only
	// we can publish it, which lets recovery take an existing final file
	// as proof that its in-use file was already converted.
	if exists(filepath.Join(filepath.Dir(path), final)) {
		return nil, errFinalExists
	}
	hdr := appendWALHeader(nil, final)
	if _, err := fh.Write(hdr); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if s.cfg.Fsync {
		if err := fh.Sync(); err != nil {
			return nil, fmt.Errorf("sync %s: %w", path, err)
		}
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("sync directory of %s: %w", path, err)
		}
	}
	n := int64(len(hdr))
	return &walFile{
		path: path, final: final, f: fh, w: bufio.NewWriterSize(fh, walBufferSize),
		size: n, mark: n,
	}, nil
}

// endBatch ends the batch in every file it wrote: a batch-end record, a
// flush and, with parquet.fsync, a sync. Only then may the take commit.
func (s *Parquet) endBatch(now time.Time) error {
	for _, f := range s.touched {
		s.rec = appendWALCommit(s.rec[:0])
		_, _ = f.w.Write(s.rec) // errors are sticky; Flush reports them
		f.size += int64(len(s.rec))
		if err := f.w.Flush(); err != nil {
			s.set.Counter.EventWriteFail.Inc()
			s.abort()
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	if s.cfg.Fsync {
		for _, f := range s.touched {
			if err := f.f.Sync(); err != nil {
				s.set.Counter.EventWriteFail.Inc()
				s.abort()
				return fmt.Errorf("sync %s: %w", f.path, err)
			}
		}
	}
	for _, f := range s.touched {
		f.mark, f.markEvents, f.markBytes = f.size, f.events, f.bodyBytes
		f.touched = false
	}
	s.touched = s.touched[:0]
	if s.idle > 0 {
		s.noteDeadline(now.Add(s.idle))
	}
	return nil
}

// abort cuts every file the batch wrote back to where the batch began, so
// a rolled-back batch leaves nothing behind. A file that cannot be cut
// back is sealed: its finish stops at the last batch end anyway. A file
// left with no events is sealed too, and its finish just removes it.
func (s *Parquet) abort() {
	for _, f := range s.touched {
		f.touched = false
		f.w.Reset(f.f)
		err := f.f.Truncate(f.mark)
		if err == nil {
			_, err = f.f.Seek(f.mark, io.SeekStart)
		}
		f.size, f.events, f.bodyBytes = f.mark, f.markEvents, f.markBytes
		if b := f.bucket; b != nil && (err != nil || f.events == 0) {
			s.dropBucket(b)
		}
	}
	s.touched = s.touched[:0]
}

// noteDeadline makes the next Process look at the open files at t.
func (s *Parquet) noteDeadline(t time.Time) {
	if s.nextCheck.IsZero() || t.Before(s.nextCheck) {
		s.nextCheck = t
	}
}

// closeExpired seals the files whose roll interval or idle timeout has
// passed and works out when to look again.
func (s *Parquet) closeExpired(now time.Time) {
	if s.nextCheck.IsZero() || now.Before(s.nextCheck) {
		return
	}
	s.nextCheck = time.Time{}
	for _, b := range s.buckets {
		f := b.file
		if f == nil {
			continue
		}
		rollAt := f.opened.Add(s.interval)
		idleAt := f.lastWrite.Add(s.idle)
		if s.interval > 0 && !now.Before(rollAt) || s.idle > 0 && !now.Before(idleAt) {
			s.dropBucket(b)
			continue
		}
		if s.interval > 0 {
			s.noteDeadline(rollAt)
		}
		if s.idle > 0 {
			s.noteDeadline(idleAt)
		}
	}
}

// finishSealed finishes the sealed files here, when no finishers run.
// Files that fail are kept and retried after retryInterval, or at once
// when force is set (Stop).
func (s *Parquet) finishSealed(ctx context.Context, force bool) error {
	if len(s.sealed) == 0 {
		return nil
	}
	now := s.now()
	var errs []error
	keep := s.sealed[:0]
	for _, f := range s.sealed {
		if ctx.Err() != nil || !force && now.Before(f.retryAt) {
			keep = append(keep, f)
			continue
		}
		if err := s.finish(ctx, f); err != nil {
			s.set.Counter.ConnectionFailed.Inc()
			f.retryAt = now.Add(retryInterval)
			errs = append(errs, err)
			keep = append(keep, f)
		}
	}
	clear(s.sealed[len(keep):])
	s.sealed = keep
	if err := ctx.Err(); err != nil && len(keep) > 0 {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// finish turns a sealed in-use file into its final Parquet file (up to its
// last batch end) and removes it; a file without events is just removed.
func (s *Parquet) finish(ctx context.Context, f *walFile) error {
	rf, err := os.Open(f.path)
	if err != nil {
		return fmt.Errorf("finish %s: %w", f.path, err)
	}
	defer rf.Close()
	final, r, err := openWAL(rf)
	if err != nil {
		return fmt.Errorf("finish %s: %w", f.path, err)
	}
	dir := filepath.Dir(f.path)
	rows, err := s.layout.convert(ctx, r, f.mark, walPartPath(f.path, s.cfg.InUseSuffix), filepath.Join(dir, final))
	if err != nil {
		return fmt.Errorf("finish %s: %w", f.path, err)
	}
	// Remove while still locked, so no recovery can take the file for an
	// orphan in between.
	err = os.Remove(f.path)
	_ = f.f.Close()
	if err != nil {
		return fmt.Errorf("remove %s after writing %s: %w", f.path, final, err)
	}
	s.set.Counter.ConnectionClosed.Inc()
	s.log.Debug("parquet file complete", "file", filepath.Join(dir, final), "rows", rows)
	return nil
}

// recoverAll converts the orphaned in-use files under the root.
func (s *Parquet) recoverAll(ctx context.Context) {
	if _, err := os.Stat(s.root); err != nil {
		return
	}
	pre, suf := s.cfg.InUsePrefix, s.cfg.InUseSuffix
	err := filepath.WalkDir(s.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			s.log.Warn("parquet recovery cannot read a directory", "path", path, "err", err)
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		name := d.Name()
		if !d.Type().IsRegular() || len(name) <= len(pre)+len(suf) ||
			!strings.HasPrefix(name, pre) || !strings.HasSuffix(name, suf) ||
			strings.HasSuffix(strings.TrimSuffix(name, suf), ".part") {
			return nil
		}
		if err := s.recoverFile(ctx, path); err != nil {
			s.log.Warn("parquet recovery failed; the file stays for the next start", "file", path, "err", err)
		}
		return nil
	})
	if err != nil {
		s.log.Warn("parquet recovery stopped", "root", s.root, "err", err)
	}
}

// recoverFile converts one in-use file if it is the parquet sink's and no
// live writer holds it.
func (s *Parquet) recoverFile(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	locked, err := lockFile(f)
	if err != nil || !locked {
		return err // a live writer's file
	}
	// The writer may have finished and removed the file between our open
	// and our lock.
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if cur, err := os.Stat(path); err != nil || !os.SameFile(fi, cur) {
		return nil
	}
	final, r, err := openWAL(f)
	if errors.Is(err, errWALHeader) {
		if _, serr := f.Seek(0, io.SeekStart); serr == nil && partialWALHeader(f) {
			// Created, but the writer died before its header was whole:
			// it never held an event.
			return os.Remove(path)
		}
		return nil // not ours
	}
	if err != nil {
		return err
	}
	if final != filepath.Base(final) || final == "." || final == ".." {
		return fmt.Errorf("names a bad final file %q", final)
	}
	finalPath := filepath.Join(filepath.Dir(path), final)
	part := walPartPath(path, s.cfg.InUseSuffix)
	if err := os.Remove(part); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if exists(finalPath) {
		// Published before the crash; only the removal was missing.
		return os.Remove(path)
	}
	end := r.committedEnd()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, r, err = openWAL(f); err != nil {
		return err
	}
	rows, err := s.layout.convert(ctx, r, end, part, finalPath)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	s.log.Info("parquet sink recovered an in-use file", "sink", s.set.Name, "from", path, "file", finalPath, "rows", rows)
	return nil
}

// ParquetFactory is the factory of `type = parquet`.
func ParquetFactory() component.SinkFactory {
	return component.SinkFactory{
		Type:      "parquet",
		NewConfig: func() component.Config { return NewParquetConfig() },
		Create: func(set component.SinkSettings, cfg component.Config) (component.Sink, error) {
			return NewParquet(set, *cfg.(*ParquetConfig))
		},
	}
}
