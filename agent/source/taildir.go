package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// TaildirConfig is the configuration of a TAILDIR source (Flume's
// TaildirSource), with Flume's property names and defaults. Durations are
// in milliseconds, as in Flume.
type TaildirConfig struct {
	// FileGroups names the file groups, space separated. Required.
	FileGroups []string `prop:"filegroups,required"`
	// Patterns is filegroups.<name>: the absolute path of the group's
	// files. The directory part is a plain path; the file name part is a
	// regular expression that must match the whole name (Go RE2 syntax,
	// which covers what Flume users write: ".*", "[0-9]+", "\\.log$").
	Patterns map[string]string `prop:"filegroups.*"`
	// PositionFile is where the committed position of every file is kept,
	// in Flume's JSON shape: [{"inode":2496272,"pos":12,"file":"/x/a.log"}].
	// Default ~/.flume/taildir_position.json.
	PositionFile string `prop:"positionFile"`
	// Headers is headers.<group>.<key> = value: headers added to every
	// event of the group's files.
	Headers map[string]string `prop:"headers.*"`
	// ByteOffsetHeader adds the byte offset of each line in its file as
	// the header "byteoffset". Default false.
	ByteOffsetHeader bool `prop:"byteOffsetHeader"`
	// SkipToEnd starts files that are not in the position file at their
	// end instead of their start, for the files present when the source
	// starts (files created later are read from the start). Default false.
	SkipToEnd bool `prop:"skipToEnd"`
	// IdleTimeout (ms) closes a file that has not grown for this long; it
	// is reopened when it grows. Default 120000.
	IdleTimeout int64 `prop:"idleTimeout"`
	// WritePosInterval (ms) is how often the position file is written
	// (only when a position changed). Default 3000. vscope extension: 0
	// writes it after every committed batch.
	WritePosInterval int64 `prop:"writePosInterval"`
	// Batch is the most lines put as one batch. Default 100.
	Batch int `prop:"batchSize"`
	// MaxBatchCount is the most batches read from one file before the
	// source moves on to the next file. Default unlimited.
	MaxBatchCount int64 `prop:"maxBatchCount"`
	// BackoffSleepIncrement and MaxBackoffSleep (ms) are the wait after
	// a poll that found nothing to read: it grows by the increment up to
	// the maximum and resets when lines are read. Defaults 1000 and 5000.
	BackoffSleepIncrement int64 `prop:"backoffSleepIncrement"`
	MaxBackoffSleep       int64 `prop:"maxBackoffSleep"`
	// CachePatternMatching lists a group's directory again only when the
	// directory changed (or changed in the last two seconds, because
	// modification times are coarse). Default true.
	CachePatternMatching bool `prop:"cachePatternMatching"`
	// FileHeader adds the file's absolute path under FileHeaderKey
	// (default "file"). Default false.
	FileHeader    bool   `prop:"fileHeader"`
	FileHeaderKey string `prop:"fileHeaderKey"`
	// MaxLineLength is a vscope extension: the longest event body, in
	// bytes. A longer line is split into events of at most this many
	// bytes, counted once in EventReadFail and logged. Default 1 MiB.
	// (Flume has no limit.)
	MaxLineLength int `prop:"maxLineLength"`
}

// DefaultTaildirPositionFile is Flume's default position file, under the
// home directory.
const DefaultTaildirPositionFile = "~/.flume/taildir_position.json"

// NewTaildirConfig returns Flume's defaults.
func NewTaildirConfig() *TaildirConfig {
	return &TaildirConfig{
		PositionFile:          DefaultTaildirPositionFile,
		IdleTimeout:           120000,
		WritePosInterval:      3000,
		Batch:                 100,
		MaxBatchCount:         math.MaxInt64,
		BackoffSleepIncrement: 1000,
		MaxBackoffSleep:       5000,
		CachePatternMatching:  true,
		FileHeaderKey:         "file",
		MaxLineLength:         1 << 20,
	}
}

// Validate checks the groups, their patterns and headers, and the bounds.
func (c *TaildirConfig) Validate() error {
	var errs []error
	listed := map[string]bool{}
	if len(c.FileGroups) == 0 {
		errs = append(errs, errors.New("filegroups must name at least one file group"))
	}
	for _, g := range c.FileGroups {
		if listed[g] {
			errs = append(errs, fmt.Errorf("filegroups lists %q twice", g))
		}
		listed[g] = true
		p, ok := c.Patterns[g]
		if !ok || strings.TrimSpace(p) == "" {
			errs = append(errs, fmt.Errorf("filegroups.%s: file group %q has no path", g, g))
			continue
		}
		if _, _, err := splitTailPattern(p); err != nil {
			errs = append(errs, fmt.Errorf("filegroups.%s: %w", g, err))
		}
	}
	for _, g := range sortedKeys(c.Patterns) {
		if !listed[g] {
			errs = append(errs, fmt.Errorf("filegroups.%s is set but %q is not listed in filegroups", g, g))
		}
	}
	for _, k := range sortedKeys(c.Headers) {
		g, key, ok := strings.Cut(k, ".")
		switch {
		case !ok || key == "":
			errs = append(errs, fmt.Errorf("headers.%s: expected headers.<filegroup>.<header>", k))
		case !listed[g]:
			errs = append(errs, fmt.Errorf("headers.%s: %q is not listed in filegroups", k, g))
		}
	}
	switch {
	case strings.TrimSpace(c.PositionFile) == "":
		errs = append(errs, errors.New("positionFile must not be empty"))
	case c.IdleTimeout <= 0:
		errs = append(errs, fmt.Errorf("idleTimeout must be positive, got %d", c.IdleTimeout))
	case c.WritePosInterval < 0:
		errs = append(errs, fmt.Errorf("writePosInterval must not be negative, got %d", c.WritePosInterval))
	case c.Batch <= 0:
		errs = append(errs, fmt.Errorf("batchSize must be positive, got %d", c.Batch))
	case c.MaxBatchCount <= 0:
		errs = append(errs, fmt.Errorf("maxBatchCount must be positive, got %d", c.MaxBatchCount))
	case c.BackoffSleepIncrement <= 0:
		errs = append(errs, fmt.Errorf("backoffSleepIncrement must be positive, got %d", c.BackoffSleepIncrement))
	case c.MaxBackoffSleep < c.BackoffSleepIncrement:
		errs = append(errs, fmt.Errorf("maxBackoffSleep %d must be at least backoffSleepIncrement %d", c.MaxBackoffSleep, c.BackoffSleepIncrement))
	case c.FileHeader && c.FileHeaderKey == "":
		errs = append(errs, errors.New("fileHeaderKey must not be empty"))
	case c.MaxLineLength <= 0:
		errs = append(errs, fmt.Errorf("maxLineLength must be positive, got %d", c.MaxLineLength))
	}
	return errors.Join(errs...)
}

// BatchSize implements component.BatchSizer.
func (c *TaildirConfig) BatchSize() int { return c.Batch }

// SetBatchSize lowers a default batch size to fit the channel.
func (c *TaildirConfig) SetBatchSize(n int) { c.Batch = n }

// splitTailPattern splits a file group's path into its directory and the
// compiled, fully anchored regular expression of the file name.
func splitTailPattern(p string) (dir string, re *regexp.Regexp, err error) {
	p = strings.TrimSpace(p)
	dir, name := filepath.Dir(p), filepath.Base(p)
	if name == "" || name == "." || name == string(filepath.Separator) {
		return "", nil, fmt.Errorf("path %q has no file name part", p)
	}
	re, err = regexp.Compile(`^(?:` + name + `)$`)
	if err != nil {
		return "", nil, fmt.Errorf("file name pattern %q: %w", name, err)
	}
	return dir, re, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// expandHome replaces a leading "~/" with the home directory.
func expandHome(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("expand %s: %w", p, err)
	}
	return filepath.Join(home, strings.TrimPrefix(p, "~")), nil
}

// Taildir is an event-driven source that follows the files of its file
// groups line by line, like Flume's TAILDIR source, and records how far
// each file has been committed in a position file.
//
// One goroutine polls: it lists each group's directory, reads new lines
// from every file in batches, puts each batch and, only once it is
// committed, advances the file's position. Files are keyed by device and
// inode, so a file renamed within its group keeps its position. The
// position file is written every writePosInterval when a position changed
// and when the source stops; it holds only committed positions, so a
// source stopped and started again on the same position file neither
// loses nor repeats a line. After a crash of the agent, lines committed
// since the last position write are read again (at most writePosInterval
// of them; writePosInterval = 0 narrows that to the last batch).
//
// Rotation:
//
//   - By rename (logrotate's default, log4j, ...): a file renamed out of
//     its group's pattern stays open and is read to its end, also when the
//     rename happened while the source was stopped (it is found again by
//     inode in its directory). It is closed after idleTimeout without
//     growth; its last line is delivered then even without a newline.
//     Files are read oldest modification first and renamed-away files
//     before the others, so lines keep their order across a rotation.
//   - By copytruncate: a file that became shorter than its position, or
//     whose fingerprinted bytes changed, is read again from the start.
//     The lines after its position are first recovered from the copy: a
//     file in the same directory, matched by no group, that holds the
//     same fingerprinted bytes. Lines written between the copy and the
//     truncation are lost; that window is copytruncate's own. The copies
//     must not match the group's pattern (they would be read again from
//     their start).
//
// A file rotated away twice before the source saw the first rotation
// (for example while the agent was down) loses the generation in between
// when only the live name matches; matching the rotated names too
// (app\.log(\.[0-9]+)?) avoids that for rename rotation.
//
// Beside the position file the source keeps <positionFile>.vscope with a
// fingerprint of each file: a hash of up to 512 bytes already seen (those
// before its position, or the first ones of a file not read yet). It
// tells a file that was truncated and grew back past its position, and a
// reused inode, from the file the position was for. The position file
// stays readable by Flume, and a Flume position file (without the
// sidecar) is read.
//
// Bad input never stops the source: a file that cannot be opened or read
// is counted (GenericProcessingFail) and logged once and tried again later;
// binary data passes as is, as in Flume; a line longer than maxLineLength
// is split, counted (EventReadFail) and logged.
type Taildir struct {
	cfg     TaildirConfig
	set     component.SourceSettings
	groups  []*tailGroup
	posPath string // resolved at Start

	mu  sync.Mutex // protects run
	run *tailRun   // nil when not running
}

// tailGroup is one file group: a directory and a file name pattern.
type tailGroup struct {
	name    string
	dir     string
	re      *regexp.Regexp
	headers map[string]string

	// Listing cache, owned by the run goroutine.
	cached    bool
	cacheTime time.Time // modification time of dir at the cached listing
	names     []string
	listErr   bool // a listing error was logged
}

// NewTaildir builds a TAILDIR source. set.Processor is required; a nil
// Logger or Counter is replaced by a discarding logger or private counters.
func NewTaildir(set component.SourceSettings, cfg TaildirConfig) (*Taildir, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Processor == nil {
		return nil, errors.New("TAILDIR: no processor")
	}
	t := &Taildir{cfg: cfg, set: withDefaults(set)}
	for _, name := range cfg.FileGroups {
		dir, re, _ := splitTailPattern(cfg.Patterns[name])
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs // file headers and the position file name absolute paths
		}
		g := &tailGroup{name: name, dir: dir, re: re}
		for k, v := range cfg.Headers {
			if gn, key, _ := strings.Cut(k, "."); gn == name {
				if g.headers == nil {
					g.headers = map[string]string{}
				}
				g.headers[key] = v
			}
		}
		t.groups = append(t.groups, g)
	}
	return t, nil
}

// Start resolves and creates the position file's directory and starts the
// polling goroutine. Directories of the file groups need not exist yet.
func (t *Taildir) Start(_ context.Context, _ component.Host) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.run != nil {
		return errors.New("TAILDIR: already started")
	}
	pos, err := expandHome(strings.TrimSpace(t.cfg.PositionFile))
	if err != nil {
		return fmt.Errorf("TAILDIR: positionFile: %w", err)
	}
	if pos, err = filepath.Abs(pos); err != nil {
		return fmt.Errorf("TAILDIR: positionFile: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(pos), 0o755); err != nil {
		return fmt.Errorf("TAILDIR: positionFile directory: %w", err)
	}
	t.posPath = pos
	for _, g := range t.groups {
		g.cached, g.names, g.listErr = false, nil, false
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &tailRun{
		src:    t,
		cfg:    &t.cfg,
		log:    t.set.Logger,
		ctx:    ctx,
		cancel: cancel,
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		files:  map[fileKey]*tailFile{},
		warn:   newLogLimiter(t.set.Logger, 5*time.Second),
		now:    time.Now,
	}
	r.lr = lineReader{max: t.cfg.MaxLineLength, stripCR: true, initial: tailReadBuffer}
	t.run = r
	t.set.Counter.MarkStarted()
	t.set.Logger.Info("TAILDIR source started", "positionFile", pos, "filegroups", strings.Join(t.cfg.FileGroups, " "))
	go r.loop()
	return nil
}

// Stop ends polling: the batch being put is finished (or cancelled when
// ctx ends first), the committed positions are written and the files
// closed. Safe without Start and twice.
func (t *Taildir) Stop(ctx context.Context) error {
	t.mu.Lock()
	r := t.run
	t.run = nil
	t.mu.Unlock()
	if r == nil {
		return nil
	}
	err := stopLoop(ctx, "TAILDIR", r.quit, r.done, r.cancel)
	t.set.Counter.MarkStopped()
	if r.err != nil {
		err = errors.Join(err, r.err)
	}
	return err
}

// Positions returns the position file's path and the committed position of
// every tracked file as last written, keyed by path. It is meant for tests
// and tools; it reads the file.
func (t *Taildir) Positions() (string, map[string]int64, error) {
	t.mu.Lock()
	path := t.posPath
	t.mu.Unlock()
	entries, err := readTailPositions(path)
	out := map[string]int64{}
	for _, e := range entries {
		out[e.File] = e.Pos
	}
	return path, out, err
}

// tailReadBuffer is the initial read buffer of a TAILDIR source; it grows
// up to maxLineLength for long lines.
const tailReadBuffer = 512 << 10

// fpMax is how many bytes a fingerprint covers.
const fpMax = 512

// fileKey identifies a file by device and inode.
type fileKey struct{ dev, ino uint64 }

// keyOf is the device and inode of fi.
func keyOf(fi fs.FileInfo) (fileKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}

// fingerprint is a hash of the n bytes of a file that end at offset pos:
// the bytes before the committed position, or, for a file not read yet,
// its first bytes. Files only grow, so these bytes change only when the
// file is truncated or rewritten, and a copy of the file holds them too.
type fingerprint struct {
	pos int64
	n   int
	sum uint64
}

// fnv64a is the FNV-1a hash of b.
func fnv64a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// takeFingerprint reads the (up to fpMax) bytes before pos from f and
// hashes them.
func takeFingerprint(f io.ReaderAt, pos int64) (fingerprint, error) {
	n := int(min(pos, fpMax))
	if n == 0 {
		return fingerprint{}, nil
	}
	var b [fpMax]byte
	if _, err := f.ReadAt(b[:n], pos-int64(n)); err != nil {
		return fingerprint{}, err
	}
	return fingerprint{pos: pos, n: n, sum: fnv64a(b[:n])}, nil
}

// matches reports whether f holds the fingerprinted bytes.
func (fp fingerprint) matches(f io.ReaderAt) bool {
	var b [fpMax]byte
	if _, err := f.ReadAt(b[:fp.n], fp.pos-int64(fp.n)); err != nil {
		return false
	}
	return fnv64a(b[:fp.n]) == fp.sum
}

// matchesFile opens path and checks the fingerprint against it.
func (fp fingerprint) matchesFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return fp.matches(f)
}

// tailFile is one tracked file. Owned by the run goroutine.
type tailFile struct {
	key        fileKey
	path       string
	group      *tailGroup // nil for a file whose group is unknown
	matched    bool       // matched by a group at the last scan
	f          *os.File   // nil when closed
	pos        int64      // committed position
	size       int64      // size at the last stat
	mtime      time.Time
	lastChange time.Time   // last growth, read or open
	fp         fingerprint // of bytes already seen, see fingerprint
	checked    int64       // size at the last fingerprint check
	openFailed bool        // an open failure was counted and logged
	drainNow   bool        // a copytruncate copy: drop once read to its end
	idleClosed bool        // closed for idleness at size closedSize
	closedSize int64
}

// tailRun is one Start..Stop of a Taildir. Everything but quit, done, ctx
// and err is owned by its goroutine.
type tailRun struct {
	src    *Taildir
	cfg    *TaildirConfig
	log    *slog.Logger
	ctx    context.Context // of puts; cancelled when Stop runs out of time
	cancel context.CancelFunc
	quit   chan struct{}
	done   chan struct{}
	err    error // written before done is closed
	now    func() time.Time

	files     map[fileKey]*tailFile
	lr        lineReader
	lrOwner   *tailFile
	dirty     bool // a position changed since the last write
	lastWrite time.Time
	retry     time.Duration // wait after a failed put
	warn      *logLimiter

	// Reused per batch.
	ends   []int   // end offset of each line in the slab
	starts []int64 // file offset of each line (byteOffsetHeader)
	evs    []event.Event
	slab   int // size of the last slab, to size the next
}

func (r *tailRun) stopping() bool {
	select {
	case <-r.quit:
		return true
	default:
		return false
	}
}

// sleep waits d or until Stop; it reports false on Stop.
func (r *tailRun) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.quit:
		return false
	case <-t.C:
		return true
	}
}

func (r *tailRun) loop() {
	defer close(r.done)
	r.load()
	r.lastWrite = r.now()
	interval := time.Duration(r.cfg.WritePosInterval) * time.Millisecond
	inc := time.Duration(r.cfg.BackoffSleepIncrement) * time.Millisecond
	maxWait := time.Duration(r.cfg.MaxBackoffSleep) * time.Millisecond
	idle := 0
	for startup := true; !r.stopping(); startup = false {
		worked := r.round(startup)
		if r.dirty && r.now().Sub(r.lastWrite) >= interval {
			r.writePositions()
		}
		if worked {
			idle = 0
			continue
		}
		idle++
		d := min(time.Duration(idle)*inc, maxWait)
		if r.dirty && interval > 0 {
			d = max(min(d, interval-r.now().Sub(r.lastWrite)), time.Millisecond)
		}
		if !r.sleep(d) {
			break
		}
	}
	if err := r.writePositions(); err != nil {
		r.err = err
	}
	for _, tf := range r.files {
		r.closeFile(tf)
	}
}

// round scans the groups and reads every file once. It reports whether
// any line was committed or a file's state changed.
func (r *tailRun) round(startup bool) bool {
	r.scan(startup)
	worked := false
	for _, tf := range r.ordered() {
		if r.stopping() {
			return worked
		}
		if r.process(tf) {
			worked = true
		}
	}
	r.closeIdle()
	return worked
}

// ordered is the files in reading order: files no longer matched
// (renamed away, copies) first, then by modification time, then path.
func (r *tailRun) ordered() []*tailFile {
	list := make([]*tailFile, 0, len(r.files))
	for _, tf := range r.files {
		list = append(list, tf)
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.matched != b.matched {
			return !a.matched
		}
		if !a.mtime.Equal(b.mtime) {
			return a.mtime.Before(b.mtime)
		}
		return a.path < b.path
	})
	return list
}

// list returns the names in g's directory that match its pattern.
func (r *tailRun) list(g *tailGroup) []string {
	now := r.now()
	fi, err := os.Stat(g.dir)
	if err != nil {
		if !g.listErr && !errors.Is(err, fs.ErrNotExist) {
			r.src.set.Counter.GenericProcessFail.Inc()
			r.log.Warn("TAILDIR cannot list file group directory", "group", g.name, "dir", g.dir, "err", err)
		}
		g.listErr = true
		g.cached, g.names = false, nil
		return nil
	}
	// Modification times are coarse: a directory changed in the last two
	// seconds may change again without a new time.
	if r.cfg.CachePatternMatching && g.cached && fi.ModTime().Equal(g.cacheTime) && now.Sub(fi.ModTime()) > 2*time.Second {
		return g.names
	}
	ents, err := os.ReadDir(g.dir)
	if err != nil {
		if !g.listErr {
			r.src.set.Counter.GenericProcessFail.Inc()
			r.log.Warn("TAILDIR cannot list file group directory", "group", g.name, "dir", g.dir, "err", err)
		}
		g.listErr = true
		return g.names
	}
	g.listErr = false
	g.names = g.names[:0]
	for _, e := range ents {
		if !e.IsDir() && g.re.MatchString(e.Name()) {
			g.names = append(g.names, e.Name())
		}
	}
	g.cached, g.cacheTime = true, fi.ModTime()
	return g.names
}

// matchedByGroup reports whether path would be tailed by some group.
func (r *tailRun) matchedByGroup(path string) bool {
	return r.groupOf(path) != nil
}

// groupOf is the first group whose directory and pattern match path.
func (r *tailRun) groupOf(path string) *tailGroup {
	dir, name := filepath.Dir(path), filepath.Base(path)
	for _, g := range r.src.groups {
		if filepath.Clean(g.dir) == dir && g.re.MatchString(name) {
			return g
		}
	}
	return nil
}

// scan updates the tracked files from the groups' directories: new files
// are tracked (from their start, or their end with skipToEnd at start-up),
// renamed ones get their new path, and files that left every group are
// followed by inode until they are read to their end.
func (r *tailRun) scan(startup bool) {
	now := r.now()
	seen := map[fileKey]bool{}
	for _, g := range r.src.groups {
		for _, name := range r.list(g) {
			path := filepath.Join(g.dir, name)
			fi, err := os.Stat(path)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			key, ok := keyOf(fi)
			if !ok || seen[key] {
				continue
			}
			seen[key] = true
			tf := r.files[key]
			if tf == nil {
				tf = &tailFile{key: key, path: path, lastChange: now, size: fi.Size()}
				if startup && r.cfg.SkipToEnd {
					tf.pos = fi.Size()
				}
				r.files[key] = tf
				r.dirty = true
			}
			if tf.path != path {
				r.log.Info("TAILDIR file renamed", "from", tf.path, "to", path)
				tf.path = path
				r.dirty = true
			}
			tf.group, tf.matched = g, true
			if fi.Size() != tf.size {
				tf.lastChange = now
			}
			tf.size, tf.mtime = fi.Size(), fi.ModTime()
		}
	}
	for key, tf := range r.files {
		if seen[key] || !tf.matched {
			continue
		}
		// It left its group: renamed away or deleted. Follow it by inode.
		tf.matched = false
		r.relocate(tf)
		if tf.f == nil && !r.open(tf) {
			r.log.Info("TAILDIR stopped following a file that left its group", "file", tf.path)
			r.drop(tf)
			continue
		}
		r.log.Info("TAILDIR file left its group; reading it to its end", "file", tf.path)
	}
}

// relocate finds tf's current path by its inode in its directory. The old
// path is kept when the file is not there (deleted or moved elsewhere).
func (r *tailRun) relocate(tf *tailFile) {
	if path, _, ok := findInode(tf.path, tf.key); ok && path != tf.path {
		tf.path = path
		r.dirty = true
	}
}

// findInode looks for the file with key at path, then in path's directory.
func findInode(path string, key fileKey) (string, fs.FileInfo, bool) {
	if fi, err := os.Stat(path); err == nil {
		if k, ok := keyOf(fi); ok && k == key && fi.Mode().IsRegular() {
			return path, fi, true
		}
	}
	dir := filepath.Dir(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, false
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if k, ok := keyOf(fi); ok && k == key {
			return filepath.Join(dir, e.Name()), fi, true
		}
	}
	return "", nil, false
}

// open opens tf by its path and checks it is still the same inode.
func (r *tailRun) open(tf *tailFile) bool {
	f, err := os.Open(tf.path)
	if err == nil {
		var fi fs.FileInfo
		if fi, err = f.Stat(); err == nil {
			if k, ok := keyOf(fi); !ok || k != tf.key {
				_ = f.Close()
				return false // replaced under the same name; the next scan sees it
			}
		}
	}
	if err != nil {
		if f != nil {
			_ = f.Close()
		}
		if errors.Is(err, fs.ErrNotExist) {
			return false // renamed or deleted since the scan; the next scan sees it
		}
		if !tf.openFailed {
			tf.openFailed = true
			r.src.set.Counter.GenericProcessFail.Inc()
			r.log.Warn("TAILDIR cannot open file; will retry", "file", tf.path, "err", err)
		}
		return false
	}
	tf.openFailed, tf.idleClosed = false, false
	tf.f = f
	tf.lastChange = r.now()
	return true
}

func (r *tailRun) closeFile(tf *tailFile) {
	if tf.f != nil {
		_ = tf.f.Close()
		tf.f = nil
	}
	if r.lrOwner == tf {
		r.lrOwner = nil
	}
}

func (r *tailRun) drop(tf *tailFile) {
	r.closeFile(tf)
	delete(r.files, tf.key)
	r.dirty = true
}

// process reads and puts what is new in tf. It reports whether anything
// was committed or the file's state changed.
func (r *tailRun) process(tf *tailFile) bool {
	if tf.f == nil {
		if !tf.matched || tf.size == tf.pos || (tf.idleClosed && tf.size == tf.closedSize) {
			return false
		}
		if !r.open(tf) {
			return false
		}
	}
	fi, err := tf.f.Stat()
	if err != nil {
		r.src.set.Counter.GenericProcessFail.Inc()
		r.warn.log("TAILDIR cannot stat file", "file", tf.path, "err", err)
		return false
	}
	size := fi.Size()
	if size != tf.size {
		tf.lastChange = r.now()
	}
	tf.size, tf.mtime = size, fi.ModTime()
	if size < tf.pos || r.rewritten(tf, size) {
		r.truncated(tf, size)
		return true
	}
	worked := false
	for n := int64(0); n < r.cfg.MaxBatchCount && tf.pos < tf.size && !r.stopping(); n++ {
		lines, next := r.readBatch(tf, tf.drainNow)
		if lines == 0 {
			break
		}
		if !r.put(tf) {
			return worked
		}
		r.commit(tf, next)
		worked = true
		if lines < r.cfg.Batch {
			break
		}
	}
	if tf.drainNow && tf.pos >= tf.size {
		r.log.Info("TAILDIR recovered the lines of a copytruncate copy", "file", tf.path)
		r.drop(tf)
		worked = true
	}
	return worked
}

// rewritten reports whether the bytes before tf's fingerprinted position
// changed: the file was truncated and grew past its position again.
func (r *tailRun) rewritten(tf *tailFile, size int64) bool {
	if tf.fp.n == 0 || size == tf.checked {
		return false
	}
	tf.checked = size
	return !tf.fp.matches(tf.f)
}

// truncated handles a file that was truncated (copytruncate) or rewritten:
// the lines after its position are recovered from the copy if there is
// one, and the file is read again from its start. The copy is read first
// (files that left their group come first in reading order).
func (r *tailRun) truncated(tf *tailFile, size int64) {
	r.log.Info("TAILDIR file was truncated; reading it again from the start", "file", tf.path, "pos", tf.pos, "size", size)
	if c := r.findCopy(tf); c != nil {
		r.log.Info("TAILDIR found the copy of a truncated file", "file", tf.path, "copy", c.path, "from", c.pos)
		r.files[c.key] = c
	}
	tf.pos, tf.fp, tf.checked = 0, fingerprint{}, 0
	if r.lrOwner == tf {
		r.lrOwner = nil
	}
	r.dirty = true
	if r.cfg.WritePosInterval == 0 {
		r.writePositions()
	}
}

// findCopy looks in tf's directory for the copy copytruncate made of it:
// an untracked regular file, matched by no group, longer than tf's
// position, that holds tf's fingerprinted bytes. The newest such file is
// returned, open and positioned at tf's position.
func (r *tailRun) findCopy(tf *tailFile) *tailFile {
	if tf.fp.n == 0 {
		return nil
	}
	dir := filepath.Dir(tf.path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var best *tailFile
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || fi.Size() <= tf.pos {
			continue
		}
		key, ok := keyOf(fi)
		if !ok || key == tf.key || r.files[key] != nil || r.matchedByGroup(path) {
			continue
		}
		if best != nil && !fi.ModTime().After(best.mtime) {
			continue
		}
		if !tf.fp.matchesFile(path) {
			continue
		}
		best = &tailFile{key: key, path: path, group: tf.group, pos: tf.pos, size: fi.Size(), mtime: fi.ModTime(), fp: tf.fp, drainNow: true}
	}
	if best == nil || !r.open(best) {
		return nil
	}
	return best
}

// readBatch reads up to batchSize lines of tf from its position into
// r.evs. With final, a last line without a newline is included. It
// returns the number of lines and the position after them.
func (r *tailRun) readBatch(tf *tailFile, final bool) (int, int64) {
	lr := &r.lr
	if r.lrOwner != tf || lr.off != tf.pos {
		lr.reset(tf.pos)
		r.lrOwner = tf
	}
	r.ends, r.starts = r.ends[:0], r.starts[:0]
	slab := make([]byte, 0, max(r.slab, 4096))
	eof := false
	for len(r.ends) < r.cfg.Batch {
		start := lr.off
		line, split, ok := lr.next()
		if !ok {
			if eof {
				if final {
					if rest := lr.rest(); len(rest) > 0 {
						slab = append(slab, rest...)
						r.ends = append(r.ends, len(slab))
						r.starts = append(r.starts, start)
					}
				}
				break
			}
			_, err := lr.fill(func(p []byte) (int, error) { return tf.f.ReadAt(p, lr.off+int64(lr.hi-lr.lo)) })
			if err != nil {
				if !errors.Is(err, io.EOF) {
					r.src.set.Counter.GenericProcessFail.Inc()
					r.warn.log("TAILDIR read failed", "file", tf.path, "err", err)
					break
				}
				eof = true
			}
			continue
		}
		if split {
			r.src.set.Counter.EventReadFail.Inc()
			r.warn.log("TAILDIR line exceeds maxLineLength; split into several events", "file", tf.path, "offset", start, "maxLineLength", r.cfg.MaxLineLength)
		}
		slab = append(slab, line...)
		r.ends = append(r.ends, len(slab))
		r.starts = append(r.starts, start)
	}
	r.slab = cap(slab)
	r.evs = r.evs[:0]
	prev := 0
	for i, end := range r.ends {
		e := event.Event{Body: slab[prev:end:end]}
		prev = end
		if h := r.headers(tf, r.starts[i]); h != nil {
			e.Headers = h
		}
		r.evs = append(r.evs, e)
	}
	return len(r.ends), lr.off
}

// headers builds the headers of one event of tf, or nil when there are
// none. Each event gets its own map: interceptors may change it.
func (r *tailRun) headers(tf *tailFile, offset int64) map[string]string {
	var gh map[string]string
	if tf.group != nil {
		gh = tf.group.headers
	}
	if len(gh) == 0 && !r.cfg.FileHeader && !r.cfg.ByteOffsetHeader {
		return nil
	}
	h := make(map[string]string, len(gh)+2)
	for k, v := range gh {
		h[k] = v
	}
	if r.cfg.FileHeader {
		h[r.cfg.FileHeaderKey] = tf.path
	}
	if r.cfg.ByteOffsetHeader {
		h["byteoffset"] = strconv.FormatInt(offset, 10)
	}
	return h
}

// put puts r.evs. On failure it waits (1 s doubling to 5 s, as Flume) and
// reports false; the lines are read again from the committed position.
func (r *tailRun) put(tf *tailFile) bool {
	err := deliver(r.ctx, &r.src.set, r.evs)
	clear(r.evs)
	if err == nil {
		r.retry = 0
		return true
	}
	r.retry = min(max(2*r.retry, time.Second), 5*time.Second)
	r.warn.log("TAILDIR put failed; will read the lines again", "file", tf.path, "events", len(r.evs), "retry_in", r.retry, "err", err)
	r.lrOwner = nil
	r.sleep(r.retry)
	return false
}

// commit advances tf's committed position after a put and keeps a
// fingerprint of the bytes before it when they are still buffered.
func (r *tailRun) commit(tf *tailFile, next int64) {
	tf.pos = next
	tf.lastChange = r.now()
	r.dirty = true
	lr := &r.lr
	if n := int(min(next, fpMax)); lr.lo >= n && lr.off == next {
		tf.fp = fingerprint{pos: next, n: n, sum: fnv64a(lr.buf[lr.lo-n : lr.lo])}
		tf.checked = tf.size
	}
	if r.cfg.WritePosInterval == 0 {
		r.writePositions()
	}
}

// closeIdle closes files that have not changed for idleTimeout. A file
// that left its group is read to its very end (a last line without a
// newline included) and forgotten.
func (r *tailRun) closeIdle() {
	idle := time.Duration(r.cfg.IdleTimeout) * time.Millisecond
	now := r.now()
	for _, tf := range r.files {
		if tf.f == nil || now.Sub(tf.lastChange) < idle {
			continue
		}
		if tf.matched {
			r.closeFile(tf)
			tf.idleClosed, tf.closedSize = true, tf.size
			continue
		}
		for tf.pos < tf.size && !r.stopping() {
			lines, next := r.readBatch(tf, true)
			if lines == 0 || !r.put(tf) {
				break
			}
			r.commit(tf, next)
		}
		if tf.pos < tf.size {
			continue // try again at the next round
		}
		r.log.Info("TAILDIR finished a file that left its group", "file", tf.path)
		r.drop(tf)
	}
}

// tailPosition is one entry of the position file, in Flume's shape.
type tailPosition struct {
	Inode uint64 `json:"inode"`
	Pos   int64  `json:"pos"`
	File  string `json:"file"`
}

// tailSidecar is the content of <positionFile>.vscope.
type tailSidecar struct {
	Version      int             `json:"version"`
	Fingerprints []tailSidecarFP `json:"fingerprints"`
}

type tailSidecarFP struct {
	Inode uint64 `json:"inode"`
	Dev   uint64 `json:"dev"`
	Pos   int64  `json:"pos"`
	Len   int    `json:"len"`
	Sum   string `json:"sum"` // hex FNV-1a 64
}

func readTailPositions(path string) ([]tailPosition, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var entries []tailPosition
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return entries, nil
}

// load reads the position file and its sidecar and tracks the files they
// name: by inode among the files the groups match now (a file renamed
// within its group keeps its position), else by inode at its recorded
// path or in that directory (a file renamed away while the source was
// stopped is read to its end).
func (r *tailRun) load() {
	path := r.src.posPath
	entries, err := readTailPositions(path)
	if err != nil {
		r.src.set.Counter.GenericProcessFail.Inc()
		r.log.Error("TAILDIR cannot read the position file; files are read from their start", "positionFile", path, "err", err)
		entries = nil
	}
	fps := map[fileKey]fingerprint{}
	if data, err := os.ReadFile(path + ".vscope"); err == nil {
		var sc tailSidecar
		if json.Unmarshal(data, &sc) == nil {
			for _, f := range sc.Fingerprints {
				if sum, err := strconv.ParseUint(f.Sum, 16, 64); err == nil && f.Len > 0 && f.Len <= fpMax && int64(f.Len) <= f.Pos {
					fps[fileKey{f.Dev, f.Inode}] = fingerprint{pos: f.Pos, n: f.Len, sum: sum}
				}
			}
		}
	}
	// What the groups match now, by inode.
	type match struct {
		path string
		fi   fs.FileInfo
		key  fileKey
		g    *tailGroup
	}
	byIno := map[uint64][]match{}
	for _, g := range r.src.groups {
		for _, name := range r.list(g) {
			p := filepath.Join(g.dir, name)
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if k, ok := keyOf(fi); ok {
				byIno[k.ino] = append(byIno[k.ino], match{p, fi, k, g})
			}
		}
	}
	now := r.now()
	for _, e := range entries {
		var hit *match
		for i, m := range byIno[e.Inode] {
			if hit == nil || m.path == e.File {
				hit = &byIno[e.Inode][i]
			}
		}
		if hit != nil {
			if r.files[hit.key] != nil {
				continue
			}
			fp := fps[hit.key]
			if hit.path != e.File && !sameFile(hit.path, hit.fi.Size(), e.Pos, fp) {
				continue // a reused inode: the file is new
			}
			r.files[hit.key] = &tailFile{key: hit.key, path: hit.path, group: hit.g, matched: true, pos: e.Pos,
				size: hit.fi.Size(), mtime: hit.fi.ModTime(), lastChange: now, fp: fp}
			continue
		}
		// Not matched: look for it where it was.
		var found fs.FileInfo
		var key fileKey
		p := e.File
		if fi, err := os.Stat(p); err == nil {
			if k, ok := keyOf(fi); ok && k.ino == e.Inode && fi.Mode().IsRegular() {
				found, key = fi, k
			}
		}
		if found == nil {
			if ents, err := os.ReadDir(filepath.Dir(e.File)); err == nil {
				for _, de := range ents {
					fi, err := de.Info()
					if err != nil || !fi.Mode().IsRegular() {
						continue
					}
					if k, ok := keyOf(fi); ok && k.ino == e.Inode {
						found, key, p = fi, k, filepath.Join(filepath.Dir(e.File), de.Name())
						break
					}
				}
			}
		}
		if found == nil || r.files[key] != nil {
			r.log.Info("TAILDIR file in the position file is gone", "file", e.File, "inode", e.Inode)
			continue
		}
		fp := fps[key]
		if !sameFile(p, found.Size(), e.Pos, fp) {
			continue
		}
		tf := &tailFile{key: key, path: p, group: r.groupOf(e.File), pos: e.Pos, size: found.Size(), mtime: found.ModTime(), lastChange: now, fp: fp}
		if !r.open(tf) {
			continue
		}
		r.log.Info("TAILDIR file left its group while stopped; reading it to its end", "file", p, "from", e.Pos)
		r.files[key] = tf
	}
	r.dirty = true
}

// headFingerprint fingerprints the first bytes of a file nothing was
// committed from yet, so that a copytruncate before its first read is
// noticed and its lines recovered from the copy.
func (r *tailRun) headFingerprint(tf *tailFile) {
	f := tf.f
	if f == nil {
		var err error
		if f, err = os.Open(tf.path); err != nil {
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return
		}
		if k, ok := keyOf(fi); !ok || k != tf.key {
			return
		}
	}
	if fp, err := takeFingerprint(f, min(tf.size, fpMax)); err == nil {
		tf.fp = fp
	}
}

// sameFile decides whether the file at path of the given size is the one a
// position entry meant: by the fingerprint when there is one, else by it
// being long enough.
func sameFile(path string, size, pos int64, fp fingerprint) bool {
	if fp.n > 0 {
		return size >= fp.pos && fp.matchesFile(path)
	}
	return size >= pos
}

// writePositions writes the committed positions in Flume's JSON shape,
// and the fingerprints to the sidecar, each atomically (a temporary file
// renamed over the old one). Only after a change.
func (r *tailRun) writePositions() error {
	if !r.dirty {
		return nil
	}
	list := make([]*tailFile, 0, len(r.files))
	for _, tf := range r.files {
		list = append(list, tf)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].path < list[j].path })
	pos := make([]tailPosition, 0, len(list))
	sc := tailSidecar{Version: 1, Fingerprints: []tailSidecarFP{}}
	for _, tf := range list {
		pos = append(pos, tailPosition{Inode: tf.key.ino, Pos: tf.pos, File: tf.path})
		switch {
		case tf.f != nil && tf.pos > 0 && tf.fp.pos != tf.pos:
			if fp, err := takeFingerprint(tf.f, tf.pos); err == nil {
				tf.fp = fp
			}
		case tf.pos == 0 && tf.fp.n == 0 && tf.size > 0:
			r.headFingerprint(tf)
		}
		if tf.fp.n > 0 {
			sc.Fingerprints = append(sc.Fingerprints, tailSidecarFP{Inode: tf.key.ino, Dev: tf.key.dev, Pos: tf.fp.pos, Len: tf.fp.n, Sum: strconv.FormatUint(tf.fp.sum, 16)})
		}
	}
	main, err := marshalNoEscape(pos)
	if err != nil {
		return err
	}
	side, err := marshalNoEscape(sc)
	if err != nil {
		return err
	}
	path := r.src.posPath
	if err := errors.Join(writeFileAtomic(path+".vscope", side), writeFileAtomic(path, main)); err != nil {
		r.src.set.Counter.GenericProcessFail.Inc()
		r.warn.log("TAILDIR cannot write the position file", "positionFile", path, "err", err)
		return fmt.Errorf("TAILDIR: write position file: %w", err)
	}
	r.dirty = false
	r.lastWrite = r.now()
	return nil
}

// marshalNoEscape is json.Marshal without HTML escaping and without the
// trailing newline.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// writeFileAtomic replaces path with data: it writes a temporary file in
// the same directory and renames it over path, so a reader (or a restart
// after a crash) sees the old content or the new, never a mix.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// TaildirFactory is the factory of `type = TAILDIR`.
func TaildirFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:      "TAILDIR",
		Aliases:   []string{"org.apache.flume.source.taildir.TaildirSource"},
		NewConfig: func() component.Config { return NewTaildirConfig() },
		Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			s, err := NewTaildir(set, *cfg.(*TaildirConfig))
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}

// The helpers below are shared by the file and process sources (exec,
// spooldir, TAILDIR) and netcatudp.

// lineReader cuts lines out of a byte stream read into a reusable buffer.
// Lines end with '\n' (and a '\r' before it with stripCR). A line longer
// than max bytes is split into chunks of at most max bytes (at a UTF-8
// rune boundary with runes).
type lineReader struct {
	buf     []byte
	lo, hi  int   // unread bytes are buf[lo:hi]
	off     int64 // stream offset of buf[lo]
	max     int
	stripCR bool
	runes   bool
	long    bool // inside a line that was split
	initial int  // first buffer size
}

// reset empties the buffer and sets the stream offset.
func (r *lineReader) reset(off int64) {
	r.lo, r.hi, r.off, r.long = 0, 0, off, false
}

// next returns the next line without its terminator, or ok false when no
// complete line is buffered. split reports the first chunk of an
// over-long line. The line aliases the buffer until the next fill.
func (r *lineReader) next() (line []byte, split, ok bool) {
	data := r.buf[r.lo:r.hi]
	window := data
	if len(window) > r.max+2 {
		window = window[:r.max+2]
	}
	if i := bytes.IndexByte(window, '\n'); i >= 0 {
		end := i
		if r.stripCR && end > 0 && data[end-1] == '\r' {
			end--
		}
		if end <= r.max {
			r.lo += i + 1
			r.off += int64(i + 1)
			r.long = false
			return data[:end:end], false, true
		}
	}
	if len(data) <= r.max {
		return nil, false, false
	}
	cut := r.max
	if r.runes {
		for k := 0; k < utf8.UTFMax-1 && cut > 1 && !utf8.RuneStart(data[cut]); k++ {
			cut--
		}
		if !utf8.RuneStart(data[cut]) {
			cut = r.max
		}
	}
	split = !r.long
	r.long = true
	r.lo += cut
	r.off += int64(cut)
	return data[:cut:cut], split, true
}

// rest returns and consumes what is buffered: a last line without a
// terminator at the end of the stream.
func (r *lineReader) rest() []byte {
	data := r.buf[r.lo:r.hi]
	r.lo = r.hi
	r.off += int64(len(data))
	r.long = false
	return data
}

// fill reads more bytes with read into the buffer, compacting it or
// growing it (up to what a line of max bytes needs) when it is full.
func (r *lineReader) fill(read func([]byte) (int, error)) (int, error) {
	if r.buf == nil {
		r.buf = make([]byte, max(min(r.initial, r.max+2), 4096))
	}
	if r.lo == r.hi {
		r.lo, r.hi = 0, 0
	}
	if r.hi == len(r.buf) {
		if r.lo > 0 {
			r.hi = copy(r.buf, r.buf[r.lo:r.hi])
			r.lo = 0
		} else {
			nb := make([]byte, max(min(2*len(r.buf), r.max+2), len(r.buf)+1))
			copy(nb, r.buf[:r.hi])
			r.buf = nb
		}
	}
	n, err := read(r.buf[r.hi:])
	r.hi += n
	return n, err
}

// logLimiter logs a warning at most once per interval and says how many
// were suppressed in between, so bad input cannot flood the log.
type logLimiter struct {
	logger *slog.Logger
	every  time.Duration

	mu         sync.Mutex // protects last and suppressed
	last       time.Time
	suppressed int
}

func newLogLimiter(log *slog.Logger, every time.Duration) *logLimiter {
	return &logLimiter{logger: log, every: every}
}

func (l *logLimiter) log(msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.logger.Warn(msg, args...)
}
