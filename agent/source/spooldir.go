package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// Values of the spooldir enumerations (compared case-insensitively).
const (
	spoolDeleteNever     = "never"
	spoolDeleteImmediate = "immediate"
	spoolTrackRename     = "rename"
	spoolTrackDir        = "tracker_dir"
	spoolOrderOldest     = "oldest"
	spoolOrderYoungest   = "youngest"
	spoolOrderRandom     = "random"
	spoolLineDeser       = "LINE"
	spoolLineDeserClass  = "org.apache.flume.serialization.LineDeserializer$Builder"
	// spoolFailedSuffix marks a file set aside because it could not be
	// decoded under decodeErrorPolicy FAIL.
	spoolFailedSuffix = ".FAILED"
	// spoolMetaName is the file in trackerDir that holds the position of
	// the file being read.
	spoolMetaName = ".vscope-spool-main.json"
)

// SpoolDirConfig is the configuration of a spooldir source (Flume's
// SpoolDirectorySource), with Flume's property names and defaults.
// Durations are in milliseconds, as in Flume.
type SpoolDirConfig struct {
	// SpoolDir is the directory to read files from. Required.
	SpoolDir string `prop:"spoolDir,required"`
	// FileSuffix is appended to a file's name once all its events are
	// committed (trackingPolicy rename). Default ".COMPLETED".
	FileSuffix string `prop:"fileSuffix"`
	// DeletePolicy is "never" (default) or "immediate": delete a file
	// once its events are committed instead of marking it.
	DeletePolicy string `prop:"deletePolicy"`
	// FileHeader adds the file's absolute path under FileHeaderKey
	// (default "file"). Default false.
	FileHeader    bool   `prop:"fileHeader"`
	FileHeaderKey string `prop:"fileHeaderKey"`
	// BasenameHeader adds the file's name under BasenameHeaderKey
	// (default "basename"). Default false.
	BasenameHeader    bool   `prop:"basenameHeader"`
	BasenameHeaderKey string `prop:"basenameHeaderKey"`
	// IncludePattern and IgnorePattern are regular expressions on file
	// names (whole-name matches, as Java's matches()): a file is read
	// when it matches the first and not the second. Defaults "^.*$" and
	// "^$". Hidden files (a leading '.') and files ending in fileSuffix
	// or ".FAILED" are never read.
	IncludePattern string `prop:"includePattern"`
	IgnorePattern  string `prop:"ignorePattern"`
	// TrackerDir holds the source's metadata: the position in the file
	// being read and, with trackingPolicy tracker_dir, the completion
	// markers. Relative to spoolDir unless absolute. Default ".flumespool".
	TrackerDir string `prop:"trackerDir"`
	// TrackingPolicy is "rename" (default: rename a finished file to
	// name+fileSuffix) or "tracker_dir" (leave it and create the empty
	// marker trackerDir/<name>+fileSuffix).
	TrackingPolicy string `prop:"trackingPolicy"`
	// ConsumeOrder is "oldest" (default), "youngest" or "random", by
	// modification time, ties by name.
	ConsumeOrder string `prop:"consumeOrder"`
	// PollDelay (ms) is the wait between directory polls that found no
	// file. Default 500.
	PollDelay int64 `prop:"pollDelay"`
	// RecursiveDirectorySearch reads files in subdirectories too (hidden
	// directories and trackerDir excluded). Default false.
	RecursiveDirectorySearch bool `prop:"recursiveDirectorySearch"`
	// MaxBackoff (ms) is the longest wait between retries of a put the
	// channel refused; the wait starts at 250 and doubles. Default 4000.
	MaxBackoff int64 `prop:"maxBackoff"`
	// Batch is the most lines put as one batch. Default 100.
	Batch int `prop:"batchSize"`
	// InputCharset is the files' encoding: UTF-8 (default), ISO-8859-1 or
	// US-ASCII. Event bodies are UTF-8.
	InputCharset string `prop:"inputCharset"`
	// DecodeErrorPolicy is what to do with input that is not valid in
	// inputCharset: FAIL (default), REPLACE (with U+FFFD) or IGNORE (drop
	// the bytes). Under FAIL the lines before the bad one are delivered,
	// then the file is set aside: renamed to name+".FAILED" (with
	// trackingPolicy tracker_dir: marked by trackerDir/<name>.FAILED),
	// counted (EventReadFail) and logged; the source goes on with the
	// next file. (Flume stops the source.)
	DecodeErrorPolicy string `prop:"decodeErrorPolicy"`
	// Deserializer is LINE (default; Flume's builder class name is
	// accepted too), the only one supported.
	Deserializer string `prop:"deserializer"`
	// MaxLineLength is the LINE deserializer's longest event body, in
	// bytes (Flume counts characters). A longer line is split: the rest
	// follows as further events, as in Flume; counted once in
	// EventReadFail and logged. Default 2048.
	MaxLineLength int `prop:"deserializer.maxLineLength"`
	// OutputCharset is the LINE deserializer's output encoding: UTF-8
	// only.
	OutputCharset string `prop:"deserializer.outputCharset"`
	// BufferMaxLines and BufferMaxLineLength are Flume's obsolete
	// properties, accepted and ignored so that old files load.
	BufferMaxLines      int `prop:"bufferMaxLines"`
	BufferMaxLineLength int `prop:"bufferMaxLineLength"`
}

// NewSpoolDirConfig returns Flume's defaults.
func NewSpoolDirConfig() *SpoolDirConfig {
	return &SpoolDirConfig{
		FileSuffix:        ".COMPLETED",
		DeletePolicy:      spoolDeleteNever,
		FileHeaderKey:     "file",
		BasenameHeaderKey: "basename",
		IncludePattern:    "^.*$",
		IgnorePattern:     "^$",
		TrackerDir:        ".flumespool",
		TrackingPolicy:    spoolTrackRename,
		ConsumeOrder:      spoolOrderOldest,
		PollDelay:         500,
		MaxBackoff:        4000,
		Batch:             100,
		InputCharset:      "UTF-8",
		DecodeErrorPolicy: "FAIL",
		Deserializer:      spoolLineDeser,
		MaxLineLength:     2048,
		OutputCharset:     "UTF-8",
	}
}

// Validate checks the enumerations, patterns and bounds.
func (c *SpoolDirConfig) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(c.SpoolDir) == "" {
		add("spoolDir must not be empty")
	}
	if c.FileSuffix == "" {
		add("fileSuffix must not be empty")
	}
	if d := strings.ToLower(c.DeletePolicy); d != spoolDeleteNever && d != spoolDeleteImmediate {
		add("deletePolicy must be never or immediate, got %q", c.DeletePolicy)
	}
	if t := strings.ToLower(c.TrackingPolicy); t != spoolTrackRename && t != spoolTrackDir {
		add("trackingPolicy must be rename or tracker_dir, got %q", c.TrackingPolicy)
	}
	if o := strings.ToLower(c.ConsumeOrder); o != spoolOrderOldest && o != spoolOrderYoungest && o != spoolOrderRandom {
		add("consumeOrder must be oldest, youngest or random, got %q", c.ConsumeOrder)
	}
	if _, err := regexp.Compile(`^(?:` + c.IncludePattern + `)$`); err != nil {
		add("includePattern: %v", err)
	}
	if _, err := regexp.Compile(`^(?:` + c.IgnorePattern + `)$`); err != nil {
		add("ignorePattern: %v", err)
	}
	if strings.TrimSpace(c.TrackerDir) == "" {
		add("trackerDir must not be empty")
	}
	if c.FileHeader && c.FileHeaderKey == "" {
		add("fileHeaderKey must not be empty")
	}
	if c.BasenameHeader && c.BasenameHeaderKey == "" {
		add("basenameHeaderKey must not be empty")
	}
	if c.PollDelay <= 0 {
		add("pollDelay must be positive, got %d", c.PollDelay)
	}
	if c.MaxBackoff <= 0 {
		add("maxBackoff must be positive, got %d", c.MaxBackoff)
	}
	if c.Batch <= 0 {
		add("batchSize must be positive, got %d", c.Batch)
	}
	if _, err := parseCharset(c.InputCharset); err != nil {
		add("inputCharset: %v", err)
	}
	if _, err := parseDecodePolicy(c.DecodeErrorPolicy); err != nil {
		add("%v", err)
	}
	if d := strings.TrimSpace(c.Deserializer); !strings.EqualFold(d, spoolLineDeser) && d != spoolLineDeserClass {
		add("deserializer %q is not supported; the only deserializer is LINE", c.Deserializer)
	}
	if c.MaxLineLength <= 0 {
		add("deserializer.maxLineLength must be positive, got %d", c.MaxLineLength)
	}
	if cs, err := parseCharset(c.OutputCharset); err != nil || cs != charsetUTF8 {
		add("deserializer.outputCharset must be UTF-8, got %q", c.OutputCharset)
	}
	return errors.Join(errs...)
}

// BatchSize implements component.BatchSizer.
func (c *SpoolDirConfig) BatchSize() int { return c.Batch }

// SetBatchSize lowers a default batch size to fit the channel.
func (c *SpoolDirConfig) SetBatchSize(n int) { c.Batch = n }

// SpoolDir is an event-driven source that reads the files dropped into a
// directory, line by line, like Flume's spooldir source. Files must be
// complete and not change once they are in the directory.
//
// One goroutine picks a file (by consumeOrder), reads it in batches and,
// after each batch is committed, records the file's identity (device and
// inode) and position in trackerDir/.vscope-spool-main.json (replaced
// atomically). When every line is committed the file is marked done
// (renamed to name+fileSuffix, or marked in trackerDir, or deleted), then
// the position record is removed.
//
// Guarantee: every line is delivered at least once, and a crash of the
// agent at any point repeats at most the last batch committed before it:
//
//   - a crash after a batch commits and before its position is recorded
//     repeats that batch;
//   - a crash after the last position is recorded and before the file is
//     marked done (between commit and rename) repeats nothing: on restart
//     the position is at the file's end, so the file is only marked done;
//   - a crash after the mark and before the record is removed repeats
//     nothing: the record names a file that is no longer there.
//
// The position record is not synced to disk, so this holds for a crash of
// the agent, not of the machine.
//
// Bad input never stops the source: a file that cannot be opened is
// counted (GenericProcessingFail), logged and skipped until it changes;
// see DecodeErrorPolicy for undecodable input and MaxLineLength for long
// lines. Lines end with "\n" only, as in Flume's LINE deserializer (a
// '\r' stays in the body); a last line without a newline is delivered.
type SpoolDir struct {
	cfg     SpoolDirConfig
	set     component.SourceSettings
	include *regexp.Regexp
	ignore  *regexp.Regexp
	cs      charset
	policy  decodePolicy

	// hooks are called by the reading goroutine, for tests that simulate
	// a crash: returning false ends the run at once, writing nothing more.
	hooks spoolHooks

	mu  sync.Mutex // protects run
	run *spoolRun  // nil when not running
}

type spoolHooks struct {
	afterCommit    func(path string, pos int64) bool // after a commit, before its position is recorded
	beforeComplete func(path string) bool            // after the last position is recorded, before the mark
}

// errSpoolCrash ends a run from a test hook as a crash would.
var errSpoolCrash = errors.New("spooldir: simulated crash")

// NewSpoolDir builds a spooldir source. set.Processor is required; a nil
// Logger or Counter is replaced by a discarding logger or private counters.
func NewSpoolDir(set component.SourceSettings, cfg SpoolDirConfig) (*SpoolDir, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Processor == nil {
		return nil, errors.New("spooldir: no processor")
	}
	s := &SpoolDir{cfg: cfg, set: withDefaults(set)}
	s.include = regexp.MustCompile(`^(?:` + cfg.IncludePattern + `)$`) // checked by Validate
	s.ignore = regexp.MustCompile(`^(?:` + cfg.IgnorePattern + `)$`)
	s.cs, _ = parseCharset(cfg.InputCharset)
	s.policy, _ = parseDecodePolicy(cfg.DecodeErrorPolicy)
	return s, nil
}

// spoolRun is one Start..Stop of a SpoolDir. Everything but the channels
// and ctx is owned by its goroutine.
type spoolRun struct {
	src     *SpoolDir
	dir     string // absolute spoolDir
	tracker string // absolute trackerDir
	ctx     context.Context
	cancel  context.CancelFunc
	quit    chan struct{}
	done    chan struct{}
	warn    *logLimiter

	cur     *spoolFile
	lr      lineReader
	skipped map[string]spoolStamp // files not to read again until they change
	backoff time.Duration

	ends []int
	evs  []event.Event
	slab int
}

// spoolFile is the file being read.
type spoolFile struct {
	path string
	key  fileKey
	f    *os.File
	pos  int64 // committed
	grew bool  // warned that it changed while being read
}

// spoolStamp is what a skipped file looked like when it was skipped.
type spoolStamp struct {
	key   fileKey
	size  int64
	mtime time.Time
}

// spoolMeta is the position record.
type spoolMeta struct {
	File  string `json:"file"`
	Inode uint64 `json:"inode"`
	Dev   uint64 `json:"dev"`
	Pos   int64  `json:"pos"`
}

// Start checks the spool directory, creates trackerDir and starts reading.
func (s *SpoolDir) Start(_ context.Context, _ component.Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != nil {
		return errors.New("spooldir: already started")
	}
	dir, err := filepath.Abs(strings.TrimSpace(s.cfg.SpoolDir))
	if err != nil {
		return fmt.Errorf("spooldir: spoolDir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("spooldir: spoolDir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("spooldir: spoolDir %s is not a directory", dir)
	}
	tracker := strings.TrimSpace(s.cfg.TrackerDir)
	if !filepath.IsAbs(tracker) {
		tracker = filepath.Join(dir, tracker)
	}
	if err := os.MkdirAll(tracker, 0o755); err != nil {
		return fmt.Errorf("spooldir: trackerDir: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &spoolRun{
		src: s, dir: dir, tracker: filepath.Clean(tracker), ctx: ctx, cancel: cancel,
		quit: make(chan struct{}), done: make(chan struct{}),
		warn:    newLogLimiter(s.set.Logger, 5*time.Second),
		skipped: map[string]spoolStamp{},
		lr:      lineReader{max: s.cfg.MaxLineLength, runes: s.cs == charsetUTF8, initial: 256 << 10},
	}
	s.run = r
	s.set.Counter.MarkStarted()
	s.set.Logger.Info("spooldir source started", "spoolDir", dir)
	go r.loop()
	return nil
}

// Stop ends reading: the batch being put is finished (or cancelled when
// ctx ends first) and its position recorded. Safe without Start and twice.
func (s *SpoolDir) Stop(ctx context.Context) error {
	s.mu.Lock()
	r := s.run
	s.run = nil
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	err := stopLoop(ctx, "spooldir", r.quit, r.done, r.cancel)
	s.set.Counter.MarkStopped()
	return err
}

func (r *spoolRun) stopping() bool {
	select {
	case <-r.quit:
		return true
	default:
		return false
	}
}

func (r *spoolRun) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.quit:
		return false
	case <-t.C:
		return true
	}
}

func (r *spoolRun) loop() {
	defer close(r.done)
	defer func() {
		if r.cur != nil {
			_ = r.cur.f.Close()
		}
	}()
	r.resume()
	poll := time.Duration(r.src.cfg.PollDelay) * time.Millisecond
	for !r.stopping() {
		if r.cur == nil {
			r.cur = r.next()
		}
		if r.cur == nil {
			r.sleep(poll)
			continue
		}
		if err := r.consume(); errors.Is(err, errSpoolCrash) {
			return
		}
	}
}

func (r *spoolRun) metaPath() string { return filepath.Join(r.tracker, spoolMetaName) }

// resume continues the file named by the position record, if it is still
// there.
func (r *spoolRun) resume() {
	data, err := os.ReadFile(r.metaPath())
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var m spoolMeta
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		r.src.set.Counter.GenericProcessFail.Inc()
		r.src.set.Logger.Error("spooldir: cannot read the position record; removing it", "file", r.metaPath(), "err", err)
		_ = os.Remove(r.metaPath())
		return
	}
	f, err := os.Open(m.File)
	if err == nil {
		fi, serr := f.Stat()
		if k, ok := keyOf(fi); serr == nil && ok && k == (fileKey{m.Dev, m.Inode}) {
			pos := m.Pos
			if fi.Size() < pos {
				r.src.set.Logger.Warn("spooldir: file is shorter than its recorded position; reading it from the start", "file", m.File)
				pos = 0
			}
			r.cur = &spoolFile{path: m.File, key: k, f: f, pos: pos}
			r.lr.reset(pos)
			r.src.set.Logger.Info("spooldir resuming file", "file", m.File, "pos", pos)
			return
		}
		_ = f.Close()
	}
	// The file was marked done (or removed) after its last commit.
	_ = os.Remove(r.metaPath())
}

// next picks the next file to read by consumeOrder and opens it.
func (r *spoolRun) next() *spoolFile {
	for {
		cands := r.candidates()
		if len(cands) == 0 {
			return nil
		}
		best := 0
		switch strings.ToLower(r.src.cfg.ConsumeOrder) {
		case spoolOrderRandom:
			best = rand.IntN(len(cands))
		case spoolOrderYoungest:
			for i, c := range cands {
				if c.mtime.After(cands[best].mtime) || c.mtime.Equal(cands[best].mtime) && c.path < cands[best].path {
					best = i
				}
			}
		default:
			for i, c := range cands {
				if c.mtime.Before(cands[best].mtime) || c.mtime.Equal(cands[best].mtime) && c.path < cands[best].path {
					best = i
				}
			}
		}
		c := cands[best]
		f, err := os.Open(c.path)
		var fi fs.FileInfo
		if err == nil {
			fi, err = f.Stat()
		}
		if err != nil {
			if f != nil {
				_ = f.Close()
			}
			r.skip(c.path, c.stamp)
			r.src.set.Counter.GenericProcessFail.Inc()
			r.src.set.Logger.Warn("spooldir: cannot open file; skipping it until it changes", "file", c.path, "err", err)
			continue
		}
		key, _ := keyOf(fi)
		r.lr.reset(0)
		r.src.set.Logger.Info("spooldir reading file", "file", c.path)
		return &spoolFile{path: c.path, key: key, f: f}
	}
}

func (r *spoolRun) skip(path string, st spoolStamp) { r.skipped[path] = st }

type spoolCand struct {
	path  string
	mtime time.Time
	stamp spoolStamp
}

// candidates lists the files that may be read next.
func (r *spoolRun) candidates() []spoolCand {
	cfg := &r.src.cfg
	var out []spoolCand
	trackDir := strings.EqualFold(cfg.TrackingPolicy, spoolTrackDir)
	var walk func(dir string)
	walk = func(dir string) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			r.src.set.Counter.GenericProcessFail.Inc()
			r.warn.log("spooldir: cannot list directory", "dir", dir, "err", err)
			return
		}
		for _, e := range ents {
			name := e.Name()
			path := filepath.Join(dir, name)
			if strings.HasPrefix(name, ".") || path == r.tracker {
				continue
			}
			fi, err := os.Stat(path)
			if err != nil {
				continue
			}
			if fi.IsDir() {
				if cfg.RecursiveDirectorySearch {
					walk(path)
				}
				continue
			}
			if !fi.Mode().IsRegular() || strings.HasSuffix(name, cfg.FileSuffix) || strings.HasSuffix(name, spoolFailedSuffix) ||
				!r.src.include.MatchString(name) || r.src.ignore.MatchString(name) {
				continue
			}
			key, _ := keyOf(fi)
			st := spoolStamp{key: key, size: fi.Size(), mtime: fi.ModTime()}
			if old, ok := r.skipped[path]; ok {
				if old == st {
					continue
				}
				delete(r.skipped, path)
			}
			if trackDir {
				if _, err := os.Stat(r.marker(path, cfg.FileSuffix)); err == nil {
					continue
				}
				if _, err := os.Stat(r.marker(path, spoolFailedSuffix)); err == nil {
					continue
				}
			}
			out = append(out, spoolCand{path: path, mtime: fi.ModTime(), stamp: st})
		}
	}
	walk(r.dir)
	return out
}

// marker is the tracker_dir marker of path with suffix.
func (r *spoolRun) marker(path, suffix string) string {
	rel, err := filepath.Rel(r.dir, path)
	if err != nil {
		rel = filepath.Base(path)
	}
	return filepath.Join(r.tracker, rel+suffix)
}

// consume reads the current file in batches until its end, then marks it
// done. It returns early when the source stops or a put fails.
func (r *spoolRun) consume() error {
	cur := r.cur
	cfg := &r.src.cfg
	for !r.stopping() {
		lines, next, eof, bad, rerr := r.readBatch(cur)
		if lines > 0 {
			if !r.put(cur) {
				return nil
			}
			cur.pos = next
			if h := r.src.hooks.afterCommit; h != nil && !h(cur.path, next) {
				return errSpoolCrash
			}
			if err := r.writeMeta(cur); err != nil {
				r.src.set.Counter.GenericProcessFail.Inc()
				r.warn.log("spooldir: cannot record the position", "file", r.metaPath(), "err", err)
			}
		}
		if bad {
			r.setAside(cur)
			return nil
		}
		if rerr != nil {
			// Keep the record: a restart resumes at the committed position.
			s := r.src
			s.set.Logger.Error("spooldir: cannot read file; skipping it until it changes", "file", cur.path, "offset", cur.pos, "err", rerr)
			_ = cur.f.Close()
			r.cur = nil
			if fi, serr := os.Stat(cur.path); serr == nil {
				r.skip(cur.path, spoolStamp{key: cur.key, size: fi.Size(), mtime: fi.ModTime()})
			}
			return nil
		}
		if !eof || lines == cfg.Batch {
			continue
		}
		fi, err := cur.f.Stat()
		if err == nil && fi.Size() > cur.pos {
			if !cur.grew {
				cur.grew = true
				r.src.set.Logger.Warn("spooldir: file changed while being read; spooled files must not change", "file", cur.path)
			}
			continue
		}
		if h := r.src.hooks.beforeComplete; h != nil && !h(cur.path) {
			return errSpoolCrash
		}
		r.complete(cur)
		return nil
	}
	return nil
}

// readBatch reads up to batchSize lines of cur from its position into
// r.evs. eof reports that the file's end was reached; bad that a line
// could not be decoded under policy FAIL (next is then its start).
func (r *spoolRun) readBatch(cur *spoolFile) (lines int, next int64, eof, bad bool, rerr error) {
	s := r.src
	lr := &r.lr
	if lr.off != cur.pos {
		lr.reset(cur.pos)
	}
	r.ends = r.ends[:0]
	slab := make([]byte, 0, max(r.slab, 4096))
	for len(r.ends) < s.cfg.Batch {
		start := lr.off
		line, split, ok := lr.next()
		if !ok {
			if eof {
				rest := lr.rest()
				if len(rest) == 0 {
					break
				}
				line, start = rest, lr.off-int64(len(rest))
			} else {
				_, err := lr.fill(func(p []byte) (int, error) { return cur.f.ReadAt(p, lr.off+int64(lr.hi-lr.lo)) })
				if err != nil {
					if !errors.Is(err, io.EOF) {
						s.set.Counter.GenericProcessFail.Inc()
						rerr = err
						break
					}
					eof = true
				}
				continue
			}
		}
		if split {
			s.set.Counter.EventReadFail.Inc()
			r.warn.log("spooldir: line exceeds deserializer.maxLineLength; split into several events", "file", cur.path, "offset", start, "maxLineLength", s.cfg.MaxLineLength)
		}
		var malformed bool
		n := len(slab)
		slab, malformed = decodeText(slab, line, s.cs, s.policy)
		if malformed && s.policy == decodeFail {
			slab = slab[:n]
			lr.reset(start)
			bad = true
			break
		}
		if malformed {
			what := "replaced by U+FFFD"
			if s.policy == decodeIgnore {
				what = "dropped"
			}
			r.warn.log("spooldir: input is not valid "+s.cfg.InputCharset+"; malformed bytes "+what, "file", cur.path, "offset", start)
		}
		r.ends = append(r.ends, len(slab))
	}
	r.slab = cap(slab)
	r.evs = r.evs[:0]
	prev := 0
	for _, end := range r.ends {
		e := event.Event{Body: slab[prev:end:end]}
		prev = end
		if s.cfg.FileHeader || s.cfg.BasenameHeader {
			e.Headers = make(map[string]string, 2)
			if s.cfg.FileHeader {
				e.Headers[s.cfg.FileHeaderKey] = cur.path
			}
			if s.cfg.BasenameHeader {
				e.Headers[s.cfg.BasenameHeaderKey] = filepath.Base(cur.path)
			}
		}
		r.evs = append(r.evs, e)
	}
	return len(r.ends), lr.off, eof && lr.lo == lr.hi, bad, rerr
}

// put puts r.evs; on failure it waits (250 ms doubling to maxBackoff) and
// reports false, and the lines are read again from the committed position.
func (r *spoolRun) put(cur *spoolFile) bool {
	err := deliver(r.ctx, &r.src.set, r.evs)
	clear(r.evs)
	if err == nil {
		r.backoff = 0
		return true
	}
	r.backoff = min(max(2*r.backoff, 250*time.Millisecond), time.Duration(r.src.cfg.MaxBackoff)*time.Millisecond)
	r.warn.log("spooldir put failed; will read the lines again", "file", cur.path, "retry_in", r.backoff, "err", err)
	r.lr.reset(cur.pos)
	r.sleep(r.backoff)
	return false
}

// writeMeta records cur's committed position.
func (r *spoolRun) writeMeta(cur *spoolFile) error {
	data, err := json.Marshal(spoolMeta{File: cur.path, Inode: cur.key.ino, Dev: cur.key.dev, Pos: cur.pos})
	if err != nil {
		return err
	}
	return writeFileAtomic(r.metaPath(), data)
}

// complete marks cur done (rename, tracker marker or delete) and removes
// the position record.
func (r *spoolRun) complete(cur *spoolFile) {
	s := r.src
	_ = cur.f.Close()
	r.cur = nil
	var err error
	switch {
	case strings.EqualFold(s.cfg.DeletePolicy, spoolDeleteImmediate):
		err = os.Remove(cur.path)
	case strings.EqualFold(s.cfg.TrackingPolicy, spoolTrackDir):
		err = touch(r.marker(cur.path, s.cfg.FileSuffix))
	default:
		err = r.renameDone(cur.path, cur.path+s.cfg.FileSuffix)
	}
	if err != nil {
		// Keep the record (at the file's end): a restart only retries the
		// mark. Do not read the file again in this run.
		s.set.Counter.GenericProcessFail.Inc()
		s.set.Logger.Error("spooldir: cannot mark file done; it will not be read again", "file", cur.path, "err", err)
		if fi, serr := os.Stat(cur.path); serr == nil {
			r.skip(cur.path, spoolStamp{key: cur.key, size: fi.Size(), mtime: fi.ModTime()})
		}
		return
	}
	if err := os.Remove(r.metaPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.set.Logger.Warn("spooldir: cannot remove the position record", "file", r.metaPath(), "err", err)
	}
	s.set.Logger.Info("spooldir finished file", "file", cur.path)
}

// renameDone renames a finished file. When the target exists (a name was
// reused), an identical target means the file was already delivered and
// it is removed, as in Flume; otherwise the file gets a unique name that
// still ends with the suffix.
func (r *spoolRun) renameDone(path, dest string) error {
	if _, err := os.Lstat(dest); errors.Is(err, fs.ErrNotExist) {
		return os.Rename(path, dest)
	}
	if same, err := sameContent(path, dest); err == nil && same {
		r.src.set.Logger.Warn("spooldir: completed file already exists with the same content; removing the new one", "file", path)
		return os.Remove(path)
	}
	suffix := r.src.cfg.FileSuffix
	alt := strings.TrimSuffix(dest, suffix) + "." + strconv.FormatInt(time.Now().UnixNano(), 10) + suffix
	r.src.set.Counter.GenericProcessFail.Inc()
	r.src.set.Logger.Warn("spooldir: file name reused; the completed file gets a unique name", "file", path, "as", alt)
	return os.Rename(path, alt)
}

// setAside moves a file that cannot be decoded out of the way.
func (r *spoolRun) setAside(cur *spoolFile) {
	s := r.src
	_ = cur.f.Close()
	r.cur = nil
	s.set.Counter.EventReadFail.Inc()
	var err error
	if strings.EqualFold(s.cfg.TrackingPolicy, spoolTrackDir) {
		err = touch(r.marker(cur.path, spoolFailedSuffix))
	} else {
		err = os.Rename(cur.path, cur.path+spoolFailedSuffix)
	}
	s.set.Logger.Error("spooldir: file holds input that is not valid "+s.cfg.InputCharset+" (decodeErrorPolicy FAIL); lines before it were delivered, the file is set aside",
		"file", cur.path, "offset", cur.pos, "setAsideErr", err)
	if err != nil {
		if fi, serr := os.Stat(cur.path); serr == nil {
			r.skip(cur.path, spoolStamp{key: cur.key, size: fi.Size(), mtime: fi.ModTime()})
		}
		return
	}
	_ = os.Remove(r.metaPath())
}

// touch creates an empty file and its directories.
func touch(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// sameContent compares two files byte by byte.
func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ia, err := fa.Stat()
	if err != nil {
		return false, err
	}
	ib, err := fb.Stat()
	if err != nil {
		return false, err
	}
	if ia.Size() != ib.Size() {
		return false, nil
	}
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea != nil || eb != nil {
			return errors.Is(ea, io.EOF) || errors.Is(ea, io.ErrUnexpectedEOF), nil
		}
	}
}

// SpoolDirFactory is the factory of `type = spooldir`.
func SpoolDirFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:      "spooldir",
		Aliases:   []string{"org.apache.flume.source.SpoolDirectorySource"},
		NewConfig: func() component.Config { return NewSpoolDirConfig() },
		Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			s, err := NewSpoolDir(set, *cfg.(*SpoolDirConfig))
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}

// charset is an input encoding the file and process sources decode.
type charset int

const (
	charsetUTF8 charset = iota
	charsetLatin1
	charsetASCII
)

// parseCharset accepts the Java names of the supported encodings.
func parseCharset(name string) (charset, error) {
	switch strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(name), "_", "-")) {
	case "UTF-8", "UTF8":
		return charsetUTF8, nil
	case "ISO-8859-1", "ISO8859-1", "LATIN1", "ISO-LATIN-1":
		return charsetLatin1, nil
	case "US-ASCII", "ASCII":
		return charsetASCII, nil
	}
	return 0, fmt.Errorf("charset %q is not supported (supported: UTF-8, ISO-8859-1, US-ASCII)", name)
}

// decodePolicy is what decodeText does with malformed input.
type decodePolicy int

const (
	decodeFail decodePolicy = iota
	decodeReplace
	decodeIgnore
)

func parseDecodePolicy(name string) (decodePolicy, error) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "FAIL":
		return decodeFail, nil
	case "REPLACE":
		return decodeReplace, nil
	case "IGNORE":
		return decodeIgnore, nil
	}
	return 0, fmt.Errorf("decodeErrorPolicy must be FAIL, REPLACE or IGNORE, got %q", name)
}

// decodeText appends the UTF-8 form of src, in encoding cs, to dst and
// reports whether src held malformed input. Under decodeFail it stops at
// the first malformed byte; otherwise malformed bytes are replaced by
// U+FFFD or dropped.
func decodeText(dst, src []byte, cs charset, policy decodePolicy) ([]byte, bool) {
	switch cs {
	case charsetLatin1:
		for _, b := range src {
			if b < utf8.RuneSelf {
				dst = append(dst, b)
			} else {
				dst = utf8.AppendRune(dst, rune(b))
			}
		}
		return dst, false
	case charsetASCII:
		i := 0
		for i < len(src) && src[i] < utf8.RuneSelf {
			i++
		}
		if i == len(src) {
			return append(dst, src...), false
		}
	default:
		if utf8.Valid(src) {
			return append(dst, src...), false
		}
	}
	malformed := false
	for len(src) > 0 {
		r, size := rune(src[0]), 1
		if cs == charsetUTF8 && src[0] >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(src)
		}
		ok := r < utf8.RuneSelf || cs == charsetUTF8 && !(r == utf8.RuneError && size == 1)
		if !ok {
			malformed = true
		}
		switch {
		case ok:
			dst = append(dst, src[:size]...)
		case policy == decodeFail:
			return dst, true
		case policy == decodeReplace:
			dst = utf8.AppendRune(dst, utf8.RuneError)
		}
		src = src[size:]
	}
	return dst, malformed
}
