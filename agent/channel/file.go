package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vscope/vscope/agent/channel/wal"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

// Flume's FileChannel limits: maxFileSize is capped at its default, and
// minimumRequiredSpace is raised to at least 1 MB, as Flume does.
const (
	fileMaxFileSizeCap     = 2146435071
	fileMinRequiredSpace   = 1 << 20
	fileMinFileSize        = 1024
	fileDefaultMinRequired = 524288000
)

// FileConfig is the configuration of a file channel, with Flume's property
// names, units and defaults.
type FileConfig struct {
	// CheckpointDir holds the checkpoint. Default:
	// <data home>/vscope/file-channel/<agent>/<channel>/checkpoint (see
	// DefaultFileDir; Flume's is ~/.flume/file-channel/checkpoint).
	CheckpointDir string `prop:"checkpointDir"`
	// UseDualCheckpoints keeps a copy of every checkpoint in
	// BackupCheckpointDir, used if the primary is unreadable.
	UseDualCheckpoints  bool   `prop:"useDualCheckpoints"`
	BackupCheckpointDir string `prop:"backupCheckpointDir"`
	// DataDirs is a comma-separated list of directories for the log; all
	// are written in parallel (put them on different disks). Default:
	// <data home>/vscope/file-channel/<agent>/<channel>/data.
	DataDirs   string `prop:"dataDirs"`
	Capacity   int    `prop:"capacity"`            // events held at most (1000000)
	TxCapacity int    `prop:"transactionCapacity"` // events per put or take at most (10000)
	// CheckpointInterval is the time between checkpoints in milliseconds
	// (30000).
	CheckpointInterval int64 `prop:"checkpointInterval"`
	// MaxFileSize is the size of one log segment in bytes (2146435071,
	// also the largest allowed, as in Flume).
	MaxFileSize int64 `prop:"maxFileSize"`
	// MinimumRequiredSpace: below this many free bytes in any of the
	// directories puts are refused (524288000; at least 1 MB, as in Flume).
	MinimumRequiredSpace int64 `prop:"minimumRequiredSpace"`
	// KeepAlive is how many seconds a put waits for room (3).
	KeepAlive int `prop:"keep-alive"`
	// CheckpointOnClose writes a checkpoint when the channel stops (true).
	CheckpointOnClose bool `prop:"checkpointOnClose"`
	// UseLogReplayV1 and UseFastReplay are accepted for compatibility:
	// replay here always reads only the log written after the checkpoint.
	UseLogReplayV1 bool `prop:"use-log-replay-v1"`
	UseFastReplay  bool `prop:"use-fast-replay"`
}

// NewFileConfig returns Flume's defaults.
func NewFileConfig() *FileConfig {
	return &FileConfig{
		Capacity:             1000000,
		TxCapacity:           10000,
		CheckpointInterval:   30000,
		MaxFileSize:          fileMaxFileSizeCap,
		MinimumRequiredSpace: fileDefaultMinRequired,
		KeepAlive:            3,
		CheckpointOnClose:    true,
	}
}

// Validate checks the bounds.
func (c *FileConfig) Validate() error {
	switch {
	case c.Capacity <= 0:
		return fmt.Errorf("capacity must be positive, got %d", c.Capacity)
	case c.TxCapacity <= 0:
		return fmt.Errorf("transactionCapacity must be positive, got %d", c.TxCapacity)
	case c.TxCapacity > c.Capacity:
		return fmt.Errorf("transactionCapacity %d exceeds capacity %d", c.TxCapacity, c.Capacity)
	case c.CheckpointInterval <= 0:
		return fmt.Errorf("checkpointInterval must be positive (milliseconds), got %d", c.CheckpointInterval)
	case c.MaxFileSize < fileMinFileSize:
		return fmt.Errorf("maxFileSize must be at least %d bytes, got %d", fileMinFileSize, c.MaxFileSize)
	case c.MinimumRequiredSpace < 0:
		return fmt.Errorf("minimumRequiredSpace must not be negative, got %d", c.MinimumRequiredSpace)
	case c.KeepAlive < 0:
		return fmt.Errorf("keep-alive must not be negative, got %d", c.KeepAlive)
	case c.UseDualCheckpoints && c.BackupCheckpointDir == "":
		return errors.New("useDualCheckpoints is true but backupCheckpointDir is not set")
	}
	dirs := c.dataDirs()
	if c.DataDirs != "" && len(dirs) == 0 {
		return fmt.Errorf("dataDirs %q names no directory", c.DataDirs)
	}
	seen := map[string]string{}
	check := func(what, d string) error {
		if d == "" {
			return nil
		}
		d = filepath.Clean(d)
		if other, dup := seen[d]; dup {
			return fmt.Errorf("%s %s is also the %s; each directory must be distinct", what, d, other)
		}
		seen[d] = what
		return nil
	}
	if err := check("checkpointDir", c.CheckpointDir); err != nil {
		return err
	}
	if c.UseDualCheckpoints {
		if err := check("backupCheckpointDir", c.BackupCheckpointDir); err != nil {
			return err
		}
	}
	for _, d := range dirs {
		if err := check("data directory", d); err != nil {
			return err
		}
	}
	return nil
}

// TransactionCapacity implements component.TxCapacity.
func (c *FileConfig) TransactionCapacity() int { return c.TxCapacity }

// dataDirs splits DataDirs on commas (Flume's separator) and blanks.
func (c *FileConfig) dataDirs() []string {
	return strings.FieldsFunc(c.DataDirs, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// DefaultFileDir is where the file channel named channel of agent keeps
// its checkpoint and data when checkpointDir or dataDirs are not set:
// $XDG_DATA_HOME/vscope/file-channel/<agent>/<channel>, with
// $XDG_DATA_HOME defaulting to ~/.local/share (on macOS ~/Library/Application
// Support). Flume uses ~/.flume/file-channel for every channel alike; the
// agent and channel names here keep two channels from colliding.
func DefaultFileDir(agent, channel string) (string, error) {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no home directory for the default file channel directories (set checkpointDir and dataDirs): %w", err)
		}
		base = filepath.Join(home, ".local", "share")
		if runtime.GOOS == "darwin" {
			base = filepath.Join(home, "Library", "Application Support")
		}
	}
	if agent == "" {
		agent = "agent"
	}
	if channel == "" {
		channel = "channel"
	}
	return filepath.Join(base, "vscope", "file-channel", agent, channel), nil
}

// fileState is where a File is in its life.
type fileState int

const (
	fileNew     fileState = iota // not opened yet: the first Start, Put or Take opens it
	fileOpen                     // the WAL is open
	fileStopped                  // Stop was called; Start opens it again
)

// File is Flume's durable file channel: every committed put is in the
// write-ahead log (fsynced) before Put returns, a take that is not
// committed comes back after Rollback or a crash, and a restart replays
// only what was logged since the last checkpoint. The storage is package
// wal; File adds capacity, keep-alive, counters and the lifecycle.
//
// The WAL is opened by Start, or by the first Put or Take before Start
// (so a reload can move events into a replacement before it starts). A
// stopped channel refuses puts and takes; Start opens it again.
//
// mu protects the fields below it. It may be held while calling the WAL's
// Len and Size, never across a WAL Put, Take or Close.
type File struct {
	cfg     FileConfig
	opts    wal.Options
	counter *monitor.ChannelCounter
	log     *slog.Logger

	mu           sync.Mutex
	state        fileState
	q            *wal.Queue
	gen          int // incremented at each open; stale takes and puts do not count
	host         component.Host
	pending      int           // events of puts admitted but not yet applied
	space        chan struct{} // closed when room may have been freed; replaced after
	spaceWaiters int
	data         chan struct{} // closed when events are put or rolled back; replaced after
}

// NewFile builds a file channel from cfg. Nothing is opened until Start
// (or a first Put or Take).
func NewFile(set component.ChannelSettings, cfg FileConfig) (*File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Counter == nil {
		set.Counter = monitor.NewRegistry(set.Agent).Channel(set.Name, "file")
	}
	log := set.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ck, data := cfg.CheckpointDir, cfg.dataDirs()
	if ck == "" || len(data) == 0 {
		base, err := DefaultFileDir(set.Agent, set.Name)
		if err != nil {
			return nil, err
		}
		if ck == "" {
			ck = filepath.Join(base, "checkpoint")
		}
		if len(data) == 0 {
			data = []string{filepath.Join(base, "data")}
		}
	}
	f := &File{
		cfg:     cfg,
		counter: set.Counter,
		log:     log,
		space:   make(chan struct{}),
		data:    make(chan struct{}),
	}
	f.opts = wal.Options{
		CheckpointDir:      ck,
		DataDirs:           data,
		MaxFileSize:        min(cfg.MaxFileSize, fileMaxFileSizeCap),
		CheckpointInterval: time.Duration(cfg.CheckpointInterval) * time.Millisecond,
		CheckpointOnClose:  cfg.CheckpointOnClose,
		MinFreeSpace:       max(cfg.MinimumRequiredSpace, fileMinRequiredSpace),
		Logger:             log,
		OnSize:             set.Counter.SetSize,
		OnFatal:            f.fatal,
	}
	if cfg.UseDualCheckpoints {
		f.opts.BackupCheckpointDir = cfg.BackupCheckpointDir
	}
	set.Counter.SetCapacity(cfg.Capacity)
	return f, nil
}

// Dirs returns the checkpoint directory and the data directories in use.
func (f *File) Dirs() (checkpoint string, data []string) {
	return f.opts.CheckpointDir, append([]string(nil), f.opts.DataDirs...)
}

// Start opens the WAL (recovering what it holds) unless a Put or Take
// already did.
func (f *File) Start(_ context.Context, host component.Host) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.host = host
	if f.state == fileStopped {
		f.state = fileNew
	}
	if err := f.openLocked(); err != nil {
		return err
	}
	f.counter.MarkStarted()
	return nil
}

func (f *File) openLocked() error {
	switch f.state {
	case fileOpen:
		return nil
	case fileStopped:
		return component.ErrStopped
	}
	q, err := wal.Open(f.opts)
	if err != nil {
		return fmt.Errorf("open file channel: %w", err)
	}
	f.q, f.state, f.pending = q, fileOpen, 0
	f.gen++
	st := q.Stats()
	f.log.Info("file channel open", "checkpointDir", f.opts.CheckpointDir, "dataDirs", f.opts.DataDirs,
		"queued", st.Queued, "checkpoint", st.Checkpoint, "replayed_records", st.ReplayRecords, "replay_time", st.ReplayTime)
	if st.Queued > 0 {
		f.signalDataLocked()
	}
	return nil
}

// fatal is the WAL's OnFatal: the supervisor restarts the channel, which
// reopens the WAL from what is on disk.
func (f *File) fatal(err error) {
	f.mu.Lock()
	host := f.host
	f.mu.Unlock()
	if host != nil {
		host.ReportFatal(fmt.Errorf("file channel: %w", err))
	}
}

// Stop refuses further puts and takes, wakes blocked putters, and closes
// the WAL (writing a checkpoint if checkpointOnClose). Uncommitted takes
// come back when the channel is opened again. Safe without Start and safe
// twice.
func (f *File) Stop(ctx context.Context) error {
	f.mu.Lock()
	q := f.q
	f.q, f.state = nil, fileStopped
	close(f.space)
	f.space = make(chan struct{})
	f.mu.Unlock()
	defer f.counter.MarkStopped()
	if q == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- q.Close() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("file channel close (still running): %w", ctx.Err())
	}
}

// Durable reports that the channel's events survive a restart, so the
// agent need not drain it on shutdown.
func (f *File) Durable() bool { return true }

// SharesStorage reports whether other is a file channel that uses any of
// f's directories. A reload that replaces a file channel by one on the
// same directories lets the new one recover the events from disk instead
// of moving them.
func (f *File) SharesStorage(other component.Channel) bool {
	o, ok := other.(*File)
	if !ok {
		return false
	}
	mine := map[string]bool{}
	for _, d := range f.allDirs() {
		mine[d] = true
	}
	for _, d := range o.allDirs() {
		if mine[d] {
			return true
		}
	}
	return false
}

func (f *File) allDirs() []string {
	var out []string
	for _, d := range append([]string{f.opts.CheckpointDir, f.opts.BackupCheckpointDir}, f.opts.DataDirs...) {
		if d == "" {
			continue
		}
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		out = append(out, d)
	}
	return out
}

// Len is the number of queued events, not counting uncommitted takes.
func (f *File) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.q == nil {
		return 0
	}
	return f.q.Len()
}

// Capacity is the configured capacity in events.
func (f *File) Capacity() int { return f.cfg.Capacity }

// Stats returns the WAL's state and counters (zero before it is open).
func (f *File) Stats() wal.Stats {
	f.mu.Lock()
	q := f.q
	f.mu.Unlock()
	if q == nil {
		return wal.Stats{}
	}
	return q.Stats()
}

// Put implements component.Channel. It returns once the batch is fsynced.
// It waits up to keep-alive for room in capacity; below
// minimumRequiredSpace it fails at once with an error wrapping both
// component.ErrChannelFull and wal.ErrLowSpace.
func (f *File) Put(ctx context.Context, batch []event.Event) error {
	n := len(batch)
	if n == 0 {
		return nil
	}
	f.counter.EventPutAttempt.Add(n)
	if n > f.cfg.TxCapacity {
		return fmt.Errorf("put %d events, transactionCapacity %d: %w", n, f.cfg.TxCapacity, component.ErrTooLarge)
	}
	q, gen, err := f.reserve(ctx, n)
	if err != nil {
		return err
	}
	err = q.Put(batch)
	f.mu.Lock()
	if f.gen == gen {
		f.pending -= n
		if f.spaceWaiters > 0 {
			f.signalSpaceLocked()
		}
	}
	if err == nil {
		f.signalDataLocked()
	}
	f.mu.Unlock()
	if err != nil {
		return mapErr(err)
	}
	f.counter.EventPutSuccess.Add(n)
	return nil
}

// reserve opens the WAL if needed and waits up to keep-alive until n more
// events fit in capacity, then counts them as pending.
func (f *File) reserve(ctx context.Context, n int) (*wal.Queue, int, error) {
	var timer *time.Timer
	f.mu.Lock()
	for {
		if err := f.openLocked(); err != nil {
			f.mu.Unlock()
			return nil, 0, err
		}
		if f.q.Size()+f.pending+n <= f.cfg.Capacity {
			break
		}
		if timer == nil {
			timer = time.NewTimer(time.Duration(f.cfg.KeepAlive) * time.Second)
			defer timer.Stop()
		}
		space := f.space
		f.spaceWaiters++
		f.mu.Unlock()
		var err error
		select {
		case <-space:
		case <-timer.C:
			err = fmt.Errorf("no room for %d events within keep-alive %ds (capacity %d): %w", n, f.cfg.KeepAlive, f.cfg.Capacity, component.ErrChannelFull)
		case <-ctx.Done():
			err = ctx.Err()
		}
		f.mu.Lock()
		f.spaceWaiters--
		if err != nil {
			f.mu.Unlock()
			return nil, 0, err
		}
	}
	f.pending += n
	q, gen := f.q, f.gen
	f.mu.Unlock()
	return q, gen, nil
}

func (f *File) signalSpaceLocked() {
	close(f.space)
	f.space = make(chan struct{})
}

func (f *File) signalDataLocked() {
	close(f.data)
	f.data = make(chan struct{})
}

// mapErr turns the WAL's errors into the channel contract's.
func mapErr(err error) error {
	switch {
	case errors.Is(err, wal.ErrLowSpace):
		return fmt.Errorf("%w: %w", component.ErrChannelFull, err)
	case errors.Is(err, wal.ErrClosed):
		return fmt.Errorf("%w: %w", component.ErrStopped, err)
	case errors.Is(err, wal.ErrTooLarge):
		return fmt.Errorf("%w: %w", component.ErrTooLarge, err)
	case errors.Is(err, wal.ErrTxDone):
		return component.ErrTxDone
	}
	return err
}

// Notify implements component.Channel.
func (f *File) Notify() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.q != nil && f.q.Len() > 0 {
		return closedChan
	}
	return f.data
}

// Take implements component.Channel. The events are read back from the
// log; events of a record found corrupt are skipped and reported (see
// package wal).
func (f *File) Take(_ context.Context, max int) (component.Take, error) {
	if max < 0 {
		max = 0
	}
	if max > f.cfg.TxCapacity {
		max = f.cfg.TxCapacity
	}
	f.counter.EventTakeAttempt.Add(max)
	f.mu.Lock()
	err := f.openLocked()
	q := f.q
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	tx, err := q.Take(max)
	if err != nil {
		return nil, mapErr(err)
	}
	return &fileTake{f: f, tx: tx}, nil
}

type fileTake struct {
	f  *File
	tx *wal.TakeTx
}

func (t *fileTake) Events() []event.Event { return t.tx.Events() }

// Commit writes and fsyncs the take record. If that fails the events go
// back to the channel and the error is returned.
func (t *fileTake) Commit() error {
	n := len(t.tx.Events())
	if err := t.tx.Commit(); err != nil {
		if !errors.Is(err, wal.ErrTxDone) && n > 0 {
			t.f.counter.EventRollback.Add(n)
		}
		return mapErr(err)
	}
	if n == 0 && t.tx.Dropped() == 0 {
		return nil
	}
	t.f.counter.EventTakeSuccess.Add(n)
	t.f.mu.Lock()
	if t.f.spaceWaiters > 0 {
		t.f.signalSpaceLocked()
	}
	t.f.mu.Unlock()
	return nil
}

func (t *fileTake) Rollback() error {
	n := len(t.tx.Events())
	if err := t.tx.Rollback(); err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return nil
	}
	t.f.counter.EventRollback.Add(n)
	t.f.mu.Lock()
	t.f.signalDataLocked()
	t.f.mu.Unlock()
	return nil
}

// FileFactory is the factory of `type = file`.
func FileFactory() component.ChannelFactory {
	return component.ChannelFactory{
		Type:      "file",
		Aliases:   []string{"org.apache.flume.channel.file.FileChannel"},
		NewConfig: func() component.Config { return NewFileConfig() },
		Create: func(set component.ChannelSettings, cfg component.Config) (component.Channel, error) {
			return NewFile(set, *cfg.(*FileConfig))
		},
	}
}
