package sink

import (
	"bufio"
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
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// Serializer and path manager names accepted by file_roll.
const (
	serializerText          = "TEXT"
	serializerHeaderAndText = "HEADER_AND_TEXT"
	pathManagerDefault      = "DEFAULT"
)

// Flume class names that mean the same as the short names.
var rollAliases = map[string]string{
	"org.apache.flume.serialization.BodyTextEventSerializer$Builder":          serializerText,
	"org.apache.flume.serialization.HeaderAndBodyTextEventSerializer$Builder": serializerHeaderAndText,
	"org.apache.flume.formatter.output.DefaultPathManager$Builder":            pathManagerDefault,
}

// rollBufferSize is the size of the write buffer in front of each file.
const rollBufferSize = 64 << 10

// RollConfig is the configuration of a file_roll sink, with Flume's
// property names and defaults.
type RollConfig struct {
	Directory string `prop:"sink.directory,required"` // created if missing
	// RollInterval is seconds between rolls; 0 never rolls.
	RollInterval int `prop:"sink.rollInterval"`
	// Serializer is TEXT (the body) or HEADER_AND_TEXT (Java's map
	// printing of the headers, a blank, then the body), any case, or
	// Flume's builder class name for either.
	Serializer    string `prop:"sink.serializer"`
	AppendNewline bool   `prop:"sink.serializer.appendNewline"`
	PathManager   string `prop:"sink.pathManager"` // DEFAULT
	Extension     string `prop:"sink.pathManager.extension"`
	Prefix        string `prop:"sink.pathManager.prefix"`
	// Batch is events per take. Flume reads sink.batchSize; batchSize is
	// accepted too, like the other sinks. A positive sink.batchSize wins.
	Batch     int `prop:"batchSize"`
	SinkBatch int `prop:"sink.batchSize"`
	// Fsync syncs each file to disk after a batch is written and before it
	// is committed (vscope extension). Without it a batch is flushed to
	// the operating system before commit, which survives a crash of the
	// agent but not of the machine.
	Fsync bool `prop:"sink.fsync"`
}

// NewRollConfig returns Flume's defaults. Directory has none.
func NewRollConfig() *RollConfig {
	return &RollConfig{
		RollInterval:  30,
		Serializer:    serializerText,
		AppendNewline: true,
		PathManager:   pathManagerDefault,
		Batch:         defaultBatchSize,
	}
}

// canonical maps a serializer or path manager name to its short upper-case
// name: Flume upper-cases short names and also takes builder class names.
func canonical(name string) string {
	if c, ok := rollAliases[name]; ok {
		return c
	}
	return strings.ToUpper(name)
}

// Validate checks the configuration.
func (c *RollConfig) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Directory) == "" {
		errs = append(errs, errors.New("sink.directory must not be empty"))
	}
	if c.RollInterval < 0 {
		errs = append(errs, fmt.Errorf("sink.rollInterval must not be negative, got %d", c.RollInterval))
	}
	switch canonical(c.Serializer) {
	case serializerText, serializerHeaderAndText:
	default:
		errs = append(errs, fmt.Errorf("unknown sink.serializer %q (supported: TEXT, HEADER_AND_TEXT)", c.Serializer))
	}
	if canonical(c.PathManager) != pathManagerDefault {
		errs = append(errs, fmt.Errorf("unknown sink.pathManager %q (supported: DEFAULT)", c.PathManager))
	}
	if c.SinkBatch < 0 {
		errs = append(errs, fmt.Errorf("sink.batchSize must not be negative, got %d", c.SinkBatch))
	}
	if c.Batch <= 0 {
		errs = append(errs, fmt.Errorf("batchSize must be positive, got %d", c.Batch))
	}
	return errors.Join(errs...)
}

// BatchSize implements component.BatchSizer.
func (c *RollConfig) BatchSize() int {
	if c.SinkBatch > 0 {
		return c.SinkBatch
	}
	return c.Batch
}

// SetBatchSize lowers a default batch size to fit the channel.
func (c *RollConfig) SetBatchSize(n int) { c.Batch = n }

// file is what Roll writes to; *os.File in production.
type file interface {
	io.Writer
	Sync() error
	Close() error
}

// openFile creates path for writing, failing if it exists.
func openFile(path string) (file, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

// Roll is Flume's RollingFileSink. Files are named as Flume's DEFAULT path
// manager names them: prefix, the series start time in Unix milliseconds,
// "-", an index counting from 1, and "."+extension if one is set. A name
// that already exists is skipped, never overwritten.
//
// Each batch is written through a buffer that is flushed (and, with
// sink.fsync, synced) before the take is committed, so no committed event
// is held only in memory. A failed open or write rolls the take back.
//
// Rolling is checked at each Process: when the current file has been open
// for rollInterval it is closed, and the next batch opens the next file.
// Unlike Flume, a file is opened only when there is a batch to write, so
// an idle sink leaves no empty files behind; an idle sink still closes its
// file once the interval has passed, at its next Process.
type Roll struct {
	set        component.SinkSettings
	cfg        RollConfig
	log        *slog.Logger
	d          drainer
	headers    bool          // HEADER_AND_TEXT serializer
	interval   time.Duration // 0 never rolls
	series     int64         // Unix millis naming this sink's files
	now        func() time.Time
	open       func(path string) (file, error)
	scratch    []byte // header formatting, under lock
	bufferSize int

	// lock is held by Process and Stop and guards every field below. It is
	// a one-slot channel rather than a mutex so that Stop can give up at
	// its ctx deadline while a write is stuck.
	lock    chan struct{}
	stopped bool
	f       file          // open file, or nil
	w       *bufio.Writer // buffers f
	path    string        // path of f
	opened  time.Time     // when f was opened
	index   int           // index of the last file opened
}

// NewRoll builds a file_roll sink. The directory is created on Start or at
// the first write, not here.
func NewRoll(set component.SinkSettings, cfg RollConfig) (*Roll, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, err := newDrainer(set, cfg.BatchSize())
	if err != nil {
		return nil, err
	}
	return &Roll{
		set:        set,
		cfg:        cfg,
		log:        loggerOr(set.Logger),
		d:          d,
		headers:    canonical(cfg.Serializer) == serializerHeaderAndText,
		interval:   time.Duration(cfg.RollInterval) * time.Second,
		series:     time.Now().UnixMilli(),
		now:        time.Now,
		open:       openFile,
		bufferSize: rollBufferSize,
		lock:       make(chan struct{}, 1),
	}, nil
}

func (s *Roll) acquire(ctx context.Context) error {
	select {
	case s.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Roll) release() { <-s.lock }

// Start creates the directory if it is missing. A directory that cannot be
// created is logged, not fatal: Process retries at every batch and counts
// each failure as ConnectionFailed, so the condition is visible and heals
// on its own.
func (s *Roll) Start(ctx context.Context, _ component.Host) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	s.stopped = false
	s.release()
	if err := os.MkdirAll(s.cfg.Directory, 0o755); err != nil {
		s.log.Warn("file_roll directory is not usable yet; will retry at each batch", "dir", s.cfg.Directory, "err", err)
	}
	s.set.Counter.MarkStarted()
	return nil
}

// Stop flushes and closes the current file. It waits for a Process in
// progress, at most until ctx is done. Safe without Start and twice.
func (s *Roll) Stop(ctx context.Context) error {
	if err := s.acquire(ctx); err != nil {
		return fmt.Errorf("stop file_roll %s: %w", s.set.Name, err)
	}
	defer s.release()
	s.stopped = true
	s.set.Counter.MarkStopped()
	if s.f == nil {
		return nil
	}
	return s.closeFile()
}

// CurrentFile is the path of the file being written, or "" when none is
// open.
func (s *Roll) CurrentFile() string {
	s.lock <- struct{}{}
	defer s.release()
	return s.path
}

// Process rolls the file if its interval has passed, then takes a batch,
// writes it, flushes it and commits. After Stop it returns ErrStopped
// without taking anything.
func (s *Roll) Process(ctx context.Context) (component.Status, error) {
	if err := s.acquire(ctx); err != nil {
		return component.Backoff, err
	}
	defer s.release()
	if s.stopped {
		return component.Backoff, component.ErrStopped
	}
	if s.f != nil && s.interval > 0 && s.now().Sub(s.opened) >= s.interval {
		if err := s.closeFile(); err != nil {
			// The batches in it were flushed before they were committed;
			// a failed close loses nothing we acknowledged.
			s.log.Warn("file_roll close on roll failed", "file", s.path, "err", err)
		}
	}
	return s.d.drain(ctx, s.write)
}

// write delivers one batch to the current file, opening one if needed.
func (s *Roll) write(events []event.Event) error {
	if s.f == nil {
		if err := s.openNext(); err != nil {
			s.set.Counter.ConnectionFailed.Inc()
			return err
		}
	}
	for i := range events {
		e := &events[i]
		if s.headers {
			s.scratch = appendHeaders(s.scratch[:0], e.Headers)
			s.scratch = append(s.scratch, ' ')
			s.w.Write(s.scratch) // errors are sticky; Flush reports them
		}
		s.w.Write(e.Body)
		if s.cfg.AppendNewline {
			s.w.WriteByte('\n')
		}
	}
	err := s.w.Flush()
	if err == nil && s.cfg.Fsync {
		err = s.f.Sync()
	}
	if err != nil {
		s.set.Counter.EventWriteFail.Inc()
		path := s.path
		// The file may hold part of the batch, and the buffer keeps the
		// error: give both up. The batch is retried into the next file.
		s.w.Reset(io.Discard)
		if cerr := s.f.Close(); cerr != nil {
			s.set.Counter.ConnectionFailed.Inc()
		} else {
			s.set.Counter.ConnectionClosed.Inc()
		}
		s.f, s.path = nil, ""
		return fmt.Errorf("write %d events to %s: %w", len(events), path, err)
	}
	return nil
}

// openNext creates the directory if needed and opens the next file of the
// series, skipping names that exist.
func (s *Roll) openNext() error {
	if err := os.MkdirAll(s.cfg.Directory, 0o755); err != nil {
		return fmt.Errorf("create directory %s: %w", s.cfg.Directory, err)
	}
	const maxSkips = 1000
	for i := s.index + 1; i <= s.index+maxSkips; i++ {
		path := filepath.Join(s.cfg.Directory, s.fileName(i))
		f, err := s.open(path)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		s.index = i
		s.f, s.path, s.opened = f, path, s.now()
		if s.w == nil {
			s.w = bufio.NewWriterSize(f, s.bufferSize)
		} else {
			s.w.Reset(f)
		}
		s.set.Counter.ConnectionCreated.Inc()
		return nil
	}
	return fmt.Errorf("open next file in %s: %d names after index %d exist: %w", s.cfg.Directory, maxSkips, s.index, fs.ErrExist)
}

// fileName is the DEFAULT path manager's name of file i.
func (s *Roll) fileName(i int) string {
	name := s.cfg.Prefix + strconv.FormatInt(s.series, 10) + "-" + strconv.Itoa(i)
	if s.cfg.Extension != "" {
		name += "." + s.cfg.Extension
	}
	return name
}

// closeFile flushes and closes the current file; the file is given up
// even when that fails.
func (s *Roll) closeFile() error {
	err := s.w.Flush()
	if err == nil && s.cfg.Fsync {
		err = s.f.Sync()
	}
	err = errors.Join(err, s.f.Close())
	if err != nil {
		s.set.Counter.ConnectionFailed.Inc()
		err = fmt.Errorf("close %s: %w", s.path, err)
	} else {
		s.set.Counter.ConnectionClosed.Inc()
	}
	s.w.Reset(io.Discard)
	s.f, s.path = nil, ""
	return err
}

// RollFactory is the factory of `type = file_roll`.
func RollFactory() component.SinkFactory {
	return component.SinkFactory{
		Type:      "file_roll",
		Aliases:   []string{"org.apache.flume.sink.RollingFileSink"},
		NewConfig: func() component.Config { return NewRollConfig() },
		Create: func(set component.SinkSettings, cfg component.Config) (component.Sink, error) {
			return NewRoll(set, *cfg.(*RollConfig))
		},
	}
}
