package wal

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// stream is the log of one data directory: a sequence of segments, the
// last of which (active) is appended to. Committers append encoded
// records to buf; one syncer goroutine writes everything buffered with a
// single write, fdatasyncs once, applies the records to the queue and
// wakes their committers (group commit: while it syncs, the next group
// accumulates).
type stream struct {
	q   *Queue
	idx int
	dir string

	// mu protects the fields up to appends. Never held together with q.mu.
	mu      sync.Mutex
	cond    *sync.Cond // signalled when recs grows or closed is set
	buf     []byte     // encoded records not yet handed to the syncer
	recs    []pendingRec
	group   *group // completion of the records in buf
	closed  bool
	err     error  // sticky: a failed write or sync; the stream takes no more
	appends uint64 // records ever appended

	// Owned by the syncer goroutine (and by recovery before it starts).
	active    *segment
	off       int64 // end of the last record in active
	spareBuf  []byte
	spareRecs []pendingRec
	want      int           // records expected in the next group (see gather)
	lastSync  time.Duration // how long the previous group took to write and sync
	done      chan struct{} // closed when the syncer exits

	// Guarded by q.mu.
	segs    []*segment // oldest first, active last
	applied pos        // end of the last record applied to the queue
}

// pendingRec is one record in a stream's buffer.
type pendingRec struct {
	start, end int // within the buffer
	kind       byte
	n          uint32  // events, for a put
	tx         *TakeTx // for a take
	// Assigned by the syncer.
	seg uint32
	off int64
}

// group is the completion of the records one syncer round writes.
type group struct {
	done chan struct{}
	// Set before done is closed: records from index failFrom on failed
	// with err; the ones before it are durable and applied.
	failFrom int
	err      error
}

func newGroup() *group { return &group{done: make(chan struct{})} }

// wait waits for the group and returns the outcome of its record idx.
func (g *group) wait(idx int) error {
	<-g.done
	if idx >= g.failFrom {
		return g.err
	}
	return nil
}

func newStream(q *Queue, idx int, dir string) *stream {
	s := &stream{q: q, idx: idx, dir: dir, group: newGroup(), done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// append hands rec (header without seq, then payload) to the syncer and
// returns the group, and the record's index in it, whose completion says
// whether it is durable.
func (s *stream) append(rec []byte, kind byte, n uint32, tx *TakeTx) (*group, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, 0, s.err
	}
	if s.closed {
		return nil, 0, ErrClosed
	}
	seq := s.q.seq.Add(1)
	start := len(s.buf)
	s.buf = append(s.buf, rec...)
	h := s.buf[start : start+recHeaderSize]
	fillHeader(h, kind, uint32(len(rec)-recHeaderSize), seq, crc(rec[recHeaderSize:]))
	s.recs = append(s.recs, pendingRec{start: start, end: len(s.buf), kind: kind, n: n, tx: tx})
	s.appends++
	if len(s.recs) == 1 {
		s.cond.Signal()
	}
	return s.group, len(s.recs) - 1, nil
}

// close stops intake; the syncer writes what is buffered, then exits.
func (s *stream) close() {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	<-s.done
}

// run is the syncer loop.
func (s *stream) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		for len(s.recs) == 0 && !s.closed {
			s.cond.Wait()
		}
		if len(s.recs) == 0 {
			s.mu.Unlock()
			return
		}
		s.gather()
		buf, recs, g := s.buf, s.recs, s.group
		s.buf, s.recs, s.group = s.spareBuf[:0], s.spareRecs[:0], newGroup()
		before, failed := s.appends, s.err
		s.mu.Unlock()

		if failed != nil {
			// Appended before the failure was known: never written.
			g.failFrom, g.err = 0, failed
		} else {
			start := time.Now()
			g.failFrom, g.err = s.commit(buf, recs)
			s.lastSync = time.Since(start)
		}
		fatal := g.err != nil && !isSpaceErr(g.err)
		s.mu.Lock()
		// The committers of this group come back, and the ones that
		// arrived while it synced are waiting already.
		s.want = len(recs) + int(s.appends-before)
		if fatal && s.err == nil {
			s.err = g.err
		}
		s.mu.Unlock()
		if fatal {
			s.q.fail(g.err) // before the committers learn of it
		}
		close(g.done)
		// Do not pin a huge buffer after a huge record.
		if cap(buf) > 64<<20 {
			buf = nil
		}
		for i := range recs {
			recs[i] = pendingRec{}
		}
		s.spareBuf, s.spareRecs = buf, recs[:0]
	}
}

// maxGather bounds how long the syncer waits for a group to fill.
const maxGather = 2 * time.Millisecond

// gather, called with mu held and records pending, waits briefly for the
// committers of the previous group to come back before the syncer takes
// the buffer. Without it, the first committer to return starts a sync of
// its lone record while the rest are still on their way: groups alternate
// between few and many records and throughput halves. The syncer expects
// the previous group's committers plus those that arrived during its sync;
// the wait ends as soon as that many records are buffered and lasts at
// most half the previous sync (at most maxGather). A lone committer never
// waits.
func (s *stream) gather() {
	want := s.want
	if len(s.recs) >= want || s.closed {
		return
	}
	deadline := time.Now().Add(min(s.lastSync/2, maxGather))
	for len(s.recs) < want && !s.closed && time.Now().Before(deadline) {
		s.mu.Unlock()
		runtime.Gosched()
		s.mu.Lock()
	}
}

// commit writes recs (held in buf) to the active segment, rolling to a new
// segment when one would exceed MaxFileSize, makes them durable and
// applies them to the queue. On failure, recs[failFrom:] failed; the
// records before them (synced into a segment before a roll) stand.
func (s *stream) commit(buf []byte, recs []pendingRec) (failFrom int, err error) {
	base, first := 0, 0 // in buf and recs: what is not written yet
	for i := range recs {
		r := &recs[i]
		if s.off+int64(r.start-base) > segHeaderSize &&
			s.off+int64(r.end-base) > s.q.opts.MaxFileSize {
			// recs[i] does not fit: finish the active segment first. A
			// record bigger than MaxFileSize gets a segment of its own.
			if err := s.flush(buf[base:r.start], recs[first:i]); err != nil {
				return first, err
			}
			if err := s.roll(); err != nil {
				return i, err
			}
			base, first = r.start, i
		}
		r.seg = s.active.id
		r.off = s.off + int64(r.start-base)
	}
	if err := s.flush(buf[base:], recs[first:]); err != nil {
		return first, err
	}
	return len(recs), nil
}

// flush writes b, the records recs, to the active segment, fsyncs it and
// applies the records.
func (s *stream) flush(b []byte, recs []pendingRec) error {
	if len(recs) == 0 {
		return nil
	}
	if err := s.write(b); err != nil {
		return err
	}
	if hook := s.q.opts.hooks.beforeSync; hook != nil {
		if err := hook(s.active.path); err != nil {
			return err
		}
	}
	if err := datasync(s.active.f); err != nil {
		return fmt.Errorf("sync segment %s: %w", s.active.path, err)
	}
	s.q.stats.fsyncs.Add(1)
	s.q.stats.records.Add(int64(len(recs)))
	s.q.apply(s, recs)
	return nil
}

// write appends b to the active segment. On a full disk the partial write
// is cut off again, so the segment ends at its last whole record.
func (s *stream) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := s.active.f.WriteAt(b, s.off)
	if err == nil {
		s.off += int64(n)
		s.q.space.wrote(int64(n))
		return nil
	}
	werr := fmt.Errorf("write segment %s at offset %d: %w", s.active.path, s.off, err)
	if !isNoSpace(err) {
		return werr
	}
	if terr := s.active.f.Truncate(s.off); terr != nil {
		return fmt.Errorf("%w; truncate back to %d: %v", werr, s.off, terr)
	}
	s.q.space.refresh()
	return fmt.Errorf("%w: %w", werr, ErrLowSpace)
}

// roll seals the active segment and opens the next one.
func (s *stream) roll() error {
	seg, err := createSegment(s.dir, s.q.nextSeg.Add(1))
	if err != nil {
		if isNoSpace(err) {
			s.q.space.refresh()
			return fmt.Errorf("%w: %w", err, ErrLowSpace)
		}
		return err
	}
	s.q.mu.Lock()
	s.segs = append(s.segs, seg)
	s.q.segs[seg.id] = seg
	s.q.mu.Unlock()
	s.active, s.off = seg, segHeaderSize
	return nil
}
