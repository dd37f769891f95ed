package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vscope/vscope/agent/event"
)

// Errors of the queue. A put refused for lack of space wraps ErrLowSpace
// and is retryable; ErrClosed and a write failure are not.
var (
	// ErrClosed means the queue was closed. Its state is on disk; open the
	// directories again to continue.
	ErrClosed = errors.New("WAL closed")
	// ErrLocked means another queue (in this process or another) has a
	// directory open; its in_use.lock file is locked.
	ErrLocked = errors.New("directory in use by another file channel (in_use.lock is locked)")
	// ErrLowSpace means free space in a directory is below MinFreeSpace,
	// or the file system reported itself full. Puts are refused until
	// space returns; takes go on.
	ErrLowSpace = errors.New("not enough free disk space")
	// ErrTooLarge means one batch encodes to more than a record may hold
	// (1 GiB).
	ErrTooLarge = errors.New("batch too large for one WAL record")
	// ErrTxDone means Commit or Rollback was called on a finished take.
	ErrTxDone = errors.New("take already committed or rolled back")
)

// CorruptError describes a record that failed its checksum or could not
// be decoded. Its events are skipped (see the recovery policy in doc.go).
type CorruptError struct {
	Path   string // segment file
	Offset int64  // of the record, or of the first bad byte
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt WAL record in %s at offset %d: %s", e.Path, e.Offset, e.Reason)
}

// Options configure a Queue.
type Options struct {
	// CheckpointDir holds the checkpoint file. Required.
	CheckpointDir string
	// BackupCheckpointDir, if set, receives a second copy of every
	// checkpoint, used when the primary cannot be read.
	BackupCheckpointDir string
	// DataDirs hold the segment files; each has its own active segment and
	// syncer, and commits are spread over them round-robin. Required.
	DataDirs []string
	// MaxFileSize is the size at which a segment is sealed and the next
	// one started (a bigger record gets a segment of its own).
	MaxFileSize int64
	// CheckpointInterval is the time between checkpoints; 0 disables
	// periodic checkpoints.
	CheckpointInterval time.Duration
	// CheckpointOnClose writes a checkpoint on Close, so the next Open
	// replays nothing.
	CheckpointOnClose bool
	// MinFreeSpace: puts are refused (ErrLowSpace) while a directory has
	// less free space than this. 0 disables the check.
	MinFreeSpace int64
	// FreeSpace returns the free bytes of the file system holding dir;
	// nil uses statfs(2). Tests inject their own.
	FreeSpace func(dir string) (int64, error)
	// Logger receives recovery reports and errors; nil discards.
	Logger *slog.Logger
	// OnSize, if set, is called with the number of queued events (not
	// counting open takes) whenever it changes, under the queue's lock:
	// it must be quick and must not call the queue.
	OnSize func(queued int)
	// OnFatal, if set, is called once when a write or fsync fails for a
	// reason other than a full disk. The queue refuses puts afterwards;
	// close and reopen it to recover from what is on disk.
	OnFatal func(error)

	hooks hooks
}

// hooks let tests stop the queue at the points a crash matters.
type hooks struct {
	beforeSync func(path string) error // after a group's write, before its fsync
	ckCrashAt  func(tmp string) error  // after a checkpoint's write, before its rename
}

func (o *Options) check() error {
	if o.CheckpointDir == "" {
		return errors.New("no checkpoint directory")
	}
	if len(o.DataDirs) == 0 {
		return errors.New("no data directories")
	}
	if o.MaxFileSize <= segHeaderSize {
		return fmt.Errorf("MaxFileSize %d is too small", o.MaxFileSize)
	}
	seen := map[string]string{}
	add := func(what, dir string) error {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, dir, err)
		}
		if other, dup := seen[abs]; dup {
			return fmt.Errorf("%s %s is also the %s: every directory must be distinct", what, dir, other)
		}
		seen[abs] = what
		return nil
	}
	if err := add("checkpoint directory", o.CheckpointDir); err != nil {
		return err
	}
	if o.BackupCheckpointDir != "" {
		if err := add("backup checkpoint directory", o.BackupCheckpointDir); err != nil {
			return err
		}
	}
	for _, d := range o.DataDirs {
		if err := add("data directory", d); err != nil {
			return err
		}
	}
	return nil
}

// Queue is a durable FIFO of events: a write-ahead log of segment files in
// one or more data directories plus periodic checkpoints of the queue. Put
// returns once its batch is fsynced; Take hands out events that come back
// after Rollback, after a failed Commit, or after a crash, until their
// take is committed. See doc.go for the formats and the recovery policy.
//
// Lock order: ckMu before mu; a stream's mu is never held with mu.
type Queue struct {
	opts    Options
	log     *slog.Logger
	locks   []*os.File
	streams []*stream
	rr      atomic.Uint64 // round-robin over streams
	seq     atomic.Uint64 // last record sequence number handed out
	nextSeg atomic.Uint32 // last segment id handed out
	space   *spaceCheck
	stats   stats
	pool    sync.Pool // *[]byte record buffers

	ckMu   sync.Mutex // serialises checkpoints
	stopCk chan struct{}
	ckDone chan struct{}

	closeOnce sync.Once
	closeErr  error

	mu        sync.Mutex // protects the fields below
	dq        deque      // queued spans, oldest first
	queued    int        // events in dq
	inflight  map[uint64]*TakeTx
	inflightN int // events in open takes
	nextTx    uint64
	segs      map[uint32]*segment // every live segment by id
	closing   bool                // Close began: no new takes or puts
	closed    bool                // files are closed
	failed    error
	ckSource  string // which checkpoint recovery used
	replayDur time.Duration
}

// stats are the queue's counters.
type stats struct {
	fsyncs, records                 atomic.Int64
	corruptRecords, corruptBytes    atomic.Int64
	droppedEvents, tornTails        atomic.Int64
	checkpoints, checkpointErrors   atomic.Int64
	badCheckpoints, segmentsDeleted atomic.Int64
	lowSpace, replayRecords         atomic.Int64
}

// Stats is a snapshot of the queue's state and counters.
type Stats struct {
	Queued   int // events waiting to be taken
	InFlight int // events in open takes
	Segments int // segment files
	// Fsyncs counts group commits; Records the records they wrote.
	Fsyncs, Records int64
	// CorruptRecords counts bad byte ranges found by recovery plus corrupt
	// records found by takes; CorruptBytes their size (recovery only).
	CorruptRecords, CorruptBytes int64
	// DroppedEvents counts events of corrupt records that takes skipped.
	DroppedEvents int64
	// TornTails counts torn records cut off the end of a stream.
	TornTails int64
	// Checkpoints counts checkpoints written; CheckpointErrors the failed
	// ones; BadCheckpoints checkpoint files recovery could not use.
	Checkpoints, CheckpointErrors, BadCheckpoints int64
	SegmentsDeleted                               int64
	// LowSpaceRefusals counts puts refused for lack of disk space.
	LowSpaceRefusals int64
	// ReplayRecords is how many records recovery read after the checkpoint;
	// ReplayTime how long recovery took; Checkpoint which file it used
	// ("primary", "backup" or "none").
	ReplayRecords int64
	ReplayTime    time.Duration
	Checkpoint    string
}

// Stats returns the current state and counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	st := Stats{Queued: q.queued, InFlight: q.inflightN, Segments: len(q.segs), Checkpoint: q.ckSource, ReplayTime: q.replayDur}
	q.mu.Unlock()
	st.Fsyncs, st.Records = q.stats.fsyncs.Load(), q.stats.records.Load()
	st.CorruptRecords, st.CorruptBytes = q.stats.corruptRecords.Load(), q.stats.corruptBytes.Load()
	st.DroppedEvents, st.TornTails = q.stats.droppedEvents.Load(), q.stats.tornTails.Load()
	st.Checkpoints, st.CheckpointErrors = q.stats.checkpoints.Load(), q.stats.checkpointErrors.Load()
	st.BadCheckpoints, st.SegmentsDeleted = q.stats.badCheckpoints.Load(), q.stats.segmentsDeleted.Load()
	st.LowSpaceRefusals, st.ReplayRecords = q.stats.lowSpace.Load(), q.stats.replayRecords.Load()
	return st
}

// Len is the number of queued events, not counting open takes.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.queued
}

// Size is the number of events the queue holds: queued plus open takes.
func (q *Queue) Size() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.queued + q.inflightN
}

func (q *Queue) onSizeLocked() {
	if q.opts.OnSize != nil {
		q.opts.OnSize(q.queued)
	}
}

// usable returns why the queue takes no writes, or nil.
func (q *Queue) usable() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return ErrClosed
	}
	return q.failed
}

// fail records a write failure: puts are refused from now on.
func (q *Queue) fail(err error) {
	q.mu.Lock()
	first := q.failed == nil
	if first {
		q.failed = fmt.Errorf("WAL failed, reopen to recover: %w", err)
	}
	q.mu.Unlock()
	if first {
		q.log.Error("WAL write failed; refusing puts until reopened", "err", err)
		if q.opts.OnFatal != nil {
			q.opts.OnFatal(err)
		}
	}
}

func (q *Queue) pick() *stream {
	return q.streams[q.rr.Add(1)%uint64(len(q.streams))]
}

func (q *Queue) getBuf(n int) *[]byte {
	if p, ok := q.pool.Get().(*[]byte); ok && cap(*p) >= n {
		return p
	}
	b := make([]byte, 0, n)
	return &b
}

func (q *Queue) putBuf(p *[]byte) {
	if cap(*p) <= 4<<20 {
		q.pool.Put(p)
	}
}

// Put appends batch as one record and returns once it is durable (written
// and fsynced) and visible to takers. A nil error means the batch survives
// a crash; an error means it was not queued (though after a failed fsync
// it may still reappear on reopen: at least once, never lost).
func (q *Queue) Put(batch []event.Event) error {
	if len(batch) == 0 {
		return nil
	}
	if err := q.usable(); err != nil {
		return err
	}
	if err := q.space.check(); err != nil {
		q.stats.lowSpace.Add(1)
		return err
	}
	bp := q.getBuf(recHeaderSize + putPayloadSize(batch))
	rec := appendPut((*bp)[:recHeaderSize], batch)
	if len(rec)-recHeaderSize > maxPayload {
		*bp = rec[:0]
		q.putBuf(bp)
		return fmt.Errorf("put of %d events encodes to %d bytes: %w", len(batch), len(rec)-recHeaderSize, ErrTooLarge)
	}
	g, idx, err := q.pick().append(rec, kindPut, uint32(len(batch)), nil)
	*bp = rec[:0]
	q.putBuf(bp)
	if err != nil {
		return err
	}
	return g.wait(idx)
}

// apply makes a synced group visible: puts join the queue, takes end.
// It also advances the stream's applied position, atomically with the
// queue state, which is what a checkpoint records.
func (q *Queue) apply(s *stream, recs []pendingRec) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range recs {
		r := &recs[i]
		switch r.kind {
		case kindPut:
			q.dq.pushBack(span{seg: r.seg, off: r.off, len: uint32(r.end - r.start - recHeaderSize), n: r.n, first: 0, last: r.n})
			q.queued += int(r.n)
		case kindTake:
			if _, ok := q.inflight[r.tx.id]; ok {
				delete(q.inflight, r.tx.id)
				q.inflightN -= r.tx.n
			}
		}
	}
	last := &recs[len(recs)-1]
	s.applied = pos{last.seg, last.off + int64(last.end-last.start)}
	q.onSizeLocked()
}

// TakeTx is an open take. Exactly one of Commit or Rollback must be
// called; the events must not be used afterwards.
type TakeTx struct {
	q       *Queue
	id      uint64
	spans   []span
	n       int    // events in spans
	dropped []bool // per span: its record was corrupt; nil if none was
	dropN   int
	events  []event.Event
	done    bool
}

// Events returns the taken events, in queue order.
func (t *TakeTx) Events() []event.Event { return t.events }

// Dropped is the number of events the take skipped because their record
// was corrupt. They are removed for good when the take finishes.
func (t *TakeTx) Dropped() int { return t.dropN }

// Take removes up to max events from the head of the queue. It does not
// wait; the take may be empty. Event bodies are read from the segment
// files; a record that fails its checksum is reported, counted and
// skipped (Dropped).
func (q *Queue) Take(max int) (*TakeTx, error) {
	t := &TakeTx{q: q}
	q.mu.Lock()
	if q.closing {
		q.mu.Unlock()
		return nil, ErrClosed
	}
	for need := max; need > 0 && q.dq.len() > 0; {
		f := q.dq.front()
		k := min(f.events(), need)
		p := *f
		p.last = p.first + uint32(k)
		if k == f.events() {
			q.dq.popFront()
		} else {
			f.first += uint32(k)
		}
		t.spans = append(t.spans, p)
		t.n += k
		need -= k
	}
	if t.n == 0 {
		q.mu.Unlock()
		return t, nil
	}
	q.nextTx++
	t.id = q.nextTx
	q.inflight[t.id] = t
	q.queued -= t.n
	q.inflightN += t.n
	q.onSizeLocked()
	segs := make([]*segment, len(t.spans))
	for i, sp := range t.spans {
		segs[i] = q.segs[sp.seg]
	}
	q.mu.Unlock()

	t.events = make([]event.Event, 0, t.n)
	for i, sp := range t.spans {
		evs, err := q.readSpan(segs[i], sp)
		var ce *CorruptError
		if errors.As(err, &ce) {
			q.reportCorrupt(ce, segs[i], sp)
			if t.dropped == nil {
				t.dropped = make([]bool, len(t.spans))
			}
			t.dropped[i] = true
			t.dropN += sp.events()
			continue
		}
		if err != nil {
			t.done = true
			q.restore(t, true)
			return nil, err
		}
		t.events = append(t.events, evs...)
	}
	return t, nil
}

// readSpan reads and decodes the events of sp.
func (q *Queue) readSpan(seg *segment, sp span) ([]event.Event, error) {
	if seg == nil {
		return nil, &CorruptError{Path: segName(sp.seg), Offset: sp.off, Reason: "segment file is missing"}
	}
	buf := make([]byte, recHeaderSize+int(sp.len))
	n, err := seg.f.ReadAt(buf, sp.off)
	if err == io.EOF && n < len(buf) {
		return nil, &CorruptError{Path: seg.path, Offset: sp.off, Reason: fmt.Sprintf("file ends %d bytes into a %d-byte record", n, len(buf))}
	} else if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s at offset %d: %w", seg.path, sp.off, err)
	}
	h, ok := parseHeader(buf)
	switch {
	case !ok:
		return nil, &CorruptError{Path: seg.path, Offset: sp.off, Reason: "bad record header"}
	case h.kind != kindPut || h.length != sp.len:
		return nil, &CorruptError{Path: seg.path, Offset: sp.off, Reason: "record header does not match the queue"}
	case crc(buf[recHeaderSize:]) != h.crc:
		return nil, &CorruptError{Path: seg.path, Offset: sp.off, Reason: "payload checksum mismatch"}
	}
	evs, err := decodePut(buf[recHeaderSize:], sp.first, sp.last)
	if err != nil {
		return nil, &CorruptError{Path: seg.path, Offset: sp.off, Reason: err.Error()}
	}
	return evs, nil
}

// reportCorrupt logs and counts a corrupt record found by a take and keeps
// a copy of its bytes in the data directory's quarantine.
func (q *Queue) reportCorrupt(ce *CorruptError, seg *segment, sp span) {
	q.stats.corruptRecords.Add(1)
	q.stats.droppedEvents.Add(int64(sp.events()))
	qpath := ""
	if seg != nil {
		qpath = q.quarantine(seg, sp.off, int64(recHeaderSize)+int64(sp.len))
	}
	q.log.Error("corrupt WAL record: its events are dropped", "file", ce.Path, "offset", ce.Offset,
		"reason", ce.Reason, "events", sp.events(), "quarantine", qpath)
}

// quarantine copies n bytes at off of seg (at most 64 MiB) to
// <data dir>/quarantine/<segment>@<offset> and returns that path.
func (q *Queue) quarantine(seg *segment, off, n int64) string {
	dir := filepath.Join(filepath.Dir(seg.path), "quarantine")
	b := make([]byte, min(n, 64<<20))
	k, _ := seg.f.ReadAt(b, off)
	path := filepath.Join(dir, fmt.Sprintf("%s@%d", filepath.Base(seg.path), off))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return ""
	}
	if err := os.WriteFile(path, b[:k], 0o640); err != nil {
		return ""
	}
	return path
}

// Commit removes the taken events for good: a take record naming them is
// written and fsynced. If that fails the events go back to the head of
// the queue and will be taken again.
func (t *TakeTx) Commit() error {
	if t.done {
		return ErrTxDone
	}
	t.done = true
	if t.n == 0 {
		return nil
	}
	q := t.q
	rec := appendTake(make([]byte, recHeaderSize, recHeaderSize+8+len(t.spans)*24), t.spans)
	g, idx, err := q.pick().append(rec, kindTake, 0, t)
	if err == nil {
		err = g.wait(idx)
	}
	if err != nil {
		q.restore(t, true)
		return err
	}
	t.events = nil
	return nil
}

// Rollback returns the events to the head of the queue in their order.
// Events of corrupt records are not returned: a take record removes them.
func (t *TakeTx) Rollback() error {
	if t.done {
		return ErrTxDone
	}
	t.done = true
	if t.n == 0 {
		return nil
	}
	t.q.restore(t, false)
	t.events = nil
	return nil
}

// restore puts t's spans back at the head of the queue. On a rollback
// (keepDropped false) the spans of corrupt records are committed away
// instead, so they are not read and reported again.
func (q *Queue) restore(t *TakeTx, keepDropped bool) {
	q.mu.Lock()
	if q.closed {
		// The files are closed; the take was never committed, so the
		// events come back when the directories are opened again.
		q.mu.Unlock()
		return
	}
	if _, ok := q.inflight[t.id]; !ok {
		q.mu.Unlock()
		return
	}
	delete(q.inflight, t.id)
	q.inflightN -= t.n
	var drop *TakeTx
	for i := len(t.spans) - 1; i >= 0; i-- {
		sp := t.spans[i]
		if !keepDropped && t.dropped != nil && t.dropped[i] {
			if drop == nil {
				q.nextTx++
				drop = &TakeTx{q: q, id: q.nextTx}
			}
			drop.spans = append(drop.spans, sp)
			drop.n += sp.events()
			continue
		}
		q.dq.pushFront(sp)
		q.queued += sp.events()
	}
	if drop != nil {
		q.inflight[drop.id] = drop
		q.inflightN += drop.n
	}
	q.onSizeLocked()
	q.mu.Unlock()
	if drop != nil {
		if err := drop.Commit(); err != nil {
			q.log.Warn("could not record dropped corrupt events as taken; they will be reported again", "err", err)
		}
	}
}

// Checkpoint writes the queue state (the queued spans and, per stream, the
// position up to which the log is reflected in them) to the checkpoint
// directory and its backup, then deletes the segments no longer needed.
func (q *Queue) Checkpoint() error {
	q.ckMu.Lock()
	defer q.ckMu.Unlock()
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	snap := q.snapshotLocked()
	q.mu.Unlock()
	data := encodeCheckpoint(snap)
	if err := writeCheckpointFile(q.opts.CheckpointDir, data, q.opts.hooks.ckCrashAt); err != nil {
		q.stats.checkpointErrors.Add(1)
		return err
	}
	if q.opts.BackupCheckpointDir != "" {
		if err := writeCheckpointFile(q.opts.BackupCheckpointDir, data, q.opts.hooks.ckCrashAt); err != nil {
			q.stats.checkpointErrors.Add(1)
			return fmt.Errorf("backup checkpoint: %w", err)
		}
	}
	q.stats.checkpoints.Add(1)
	return q.deleteObsolete(snap)
}

// snapshotLocked captures the state a checkpoint records. Open takes count
// as queued, ahead of the queue, since they come back if not committed.
func (q *Queue) snapshotLocked() *snapshot {
	s := &snapshot{seq: q.seq.Load(), pos: make([]pos, len(q.streams))}
	for i, st := range q.streams {
		s.pos[i] = st.applied
	}
	ids := make([]uint64, 0, len(q.inflight))
	n := q.dq.len()
	for id, t := range q.inflight {
		ids = append(ids, id)
		n += len(t.spans)
	}
	slices.Sort(ids)
	s.spans = make([]span, 0, n)
	for _, id := range ids {
		s.spans = append(s.spans, q.inflight[id].spans...)
	}
	for i := 0; i < q.dq.len(); i++ {
		s.spans = append(s.spans, *q.dq.at(i))
	}
	return s
}

// deleteObsolete removes the segments that lie wholly before their
// stream's checkpointed position and hold no event of the checkpointed
// queue: neither replay nor a take will read them again.
func (q *Queue) deleteObsolete(snap *snapshot) error {
	ref := map[uint32]bool{}
	last := uint32(0)
	for _, sp := range snap.spans {
		if sp.seg != last {
			ref[sp.seg] = true
			last = sp.seg
		}
	}
	var del []*segment
	dirs := map[string]bool{}
	q.mu.Lock()
	for i, s := range q.streams {
		p := snap.pos[i]
		keep := s.segs[:0]
		for _, seg := range s.segs {
			if seg.id < p.seg && !ref[seg.id] {
				del = append(del, seg)
				delete(q.segs, seg.id)
				dirs[s.dir] = true
			} else {
				keep = append(keep, seg)
			}
		}
		clear(s.segs[len(keep):])
		s.segs = keep
	}
	q.mu.Unlock()
	var errs []error
	for _, seg := range del {
		_ = seg.f.Close()
		if err := os.Remove(seg.path); err != nil {
			errs = append(errs, fmt.Errorf("delete segment: %w", err))
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	q.stats.segmentsDeleted.Add(int64(len(del)))
	return errors.Join(errs...)
}

// Close stops intake, writes what is buffered, writes a checkpoint if
// CheckpointOnClose, closes the files and releases the directory locks.
// Open takes are not committed: their events come back on the next Open.
// Close is safe to call twice.
func (q *Queue) Close() error {
	return q.close(q.opts.CheckpointOnClose)
}

func (q *Queue) close(checkpoint bool) error {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closing = true
		q.mu.Unlock()
		close(q.stopCk)
		<-q.ckDone
		for _, s := range q.streams {
			s.close()
		}
		q.mu.Lock()
		failed := q.failed
		q.mu.Unlock()
		if checkpoint && failed == nil {
			if err := q.Checkpoint(); err != nil {
				q.closeErr = fmt.Errorf("checkpoint on close: %w", err)
			}
		}
		q.mu.Lock()
		q.closed = true
		segs := q.segs
		q.mu.Unlock()
		for _, seg := range segs {
			_ = seg.f.Close()
		}
		q.unlock()
	})
	return q.closeErr
}

func (q *Queue) unlock() {
	for _, f := range q.locks {
		_ = f.Close()
	}
	q.locks = nil
}

func (q *Queue) checkpointer() {
	defer close(q.ckDone)
	if q.opts.CheckpointInterval <= 0 {
		<-q.stopCk
		return
	}
	t := time.NewTicker(q.opts.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-q.stopCk:
			return
		case <-t.C:
			if err := q.Checkpoint(); err != nil && !errors.Is(err, ErrClosed) {
				q.log.Error("checkpoint failed; will retry", "err", err)
			}
		}
	}
}

// spaceTTL is how long a free-space reading is trusted; bytes written
// since are subtracted from it meanwhile.
const spaceTTL = 100 * time.Millisecond

// spaceCheck answers "is there room for a put" cheaply: it reads free
// space at most every spaceTTL and subtracts what was written since.
type spaceCheck struct {
	ttl   time.Duration
	min   int64
	dirs  []string
	free  func(string) (int64, error)
	since atomic.Int64 // bytes written since the last reading

	mu     sync.Mutex // protects the fields below
	at     time.Time  // of the last reading; zero forces a new one
	lowest int64
	lowDir string
	err    error
}

func (c *spaceCheck) wrote(n int64) { c.since.Add(n) }

// refresh forces a new reading at the next check.
func (c *spaceCheck) refresh() {
	c.mu.Lock()
	c.at = time.Time{}
	c.mu.Unlock()
}

func (c *spaceCheck) check() error {
	if c.min <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() || time.Since(c.at) > c.ttl {
		c.lowest, c.lowDir, c.err = -1, "", nil
		for _, d := range c.dirs {
			f, err := c.free(d)
			if err != nil {
				c.err = err
				break
			}
			if c.lowest < 0 || f < c.lowest {
				c.lowest, c.lowDir = f, d
			}
		}
		c.since.Store(0)
		c.at = time.Now()
	}
	if c.err != nil {
		return fmt.Errorf("check free space: %w", c.err)
	}
	if free := c.lowest - c.since.Load(); free < c.min {
		return fmt.Errorf("%s has %d bytes free, minimumRequiredSpace is %d: %w", c.lowDir, max(free, 0), c.min, ErrLowSpace)
	}
	return nil
}

func isSpaceErr(err error) bool { return errors.Is(err, ErrLowSpace) }
