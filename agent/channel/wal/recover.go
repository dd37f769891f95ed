package wal

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// lockName is the lock file Flume also keeps in each directory.
const lockName = "in_use.lock"

// Open locks the directories (creating them if needed), recovers the
// queue from the newest usable checkpoint plus the log written after it,
// and starts the syncers and the checkpointer. See doc.go for what
// recovery does with torn and corrupt records.
func Open(opts Options) (*Queue, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.FreeSpace == nil {
		opts.FreeSpace = statfsFree
	}
	q := &Queue{
		opts:     opts,
		log:      opts.Logger,
		stopCk:   make(chan struct{}),
		ckDone:   make(chan struct{}),
		inflight: map[uint64]*TakeTx{},
		segs:     map[uint32]*segment{},
	}
	dirs := append([]string{opts.CheckpointDir}, opts.DataDirs...)
	if opts.BackupCheckpointDir != "" {
		dirs = append(dirs, opts.BackupCheckpointDir)
	}
	q.space = &spaceCheck{ttl: spaceTTL, min: opts.MinFreeSpace, dirs: dirs, free: opts.FreeSpace}
	for _, d := range dirs {
		if err := q.lockDir(d); err != nil {
			q.unlock()
			return nil, err
		}
	}
	for i, d := range opts.DataDirs {
		q.streams = append(q.streams, newStream(q, i, d))
	}
	if err := q.recover(); err != nil {
		for _, seg := range q.segs {
			_ = seg.f.Close()
		}
		q.unlock()
		return nil, err
	}
	for _, s := range q.streams {
		go s.run()
	}
	go q.checkpointer()
	return q, nil
}

// lockDir creates dir and takes its in_use.lock.
func (q *Queue) lockDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return fmt.Errorf("open lock file: %w", err)
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("lock %s: %w", path, err)
	}
	// The pid is for whoever wonders who holds the lock; flock is the lock.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	q.locks = append(q.locks, f)
	return nil
}

// tailPut is a put record found after the checkpoint.
type tailPut struct {
	seq uint64
	sp  span
}

type recKey struct {
	seg uint32
	off int64
}

// recover rebuilds the queue; it runs before the syncers start.
func (q *Queue) recover() error {
	start := time.Now()
	for _, d := range []string{q.opts.CheckpointDir, q.opts.BackupCheckpointDir} {
		if d == "" {
			continue
		}
		tmp := filepath.Join(d, ckTmpName)
		if err := os.Remove(tmp); err == nil {
			q.log.Warn("removed a checkpoint whose write was interrupted; the previous checkpoint stays in use", "file", tmp)
		}
	}
	if err := q.findSegments(); err != nil {
		return err
	}
	ck, src := q.loadCheckpoint()
	maxID := uint32(0)
	for id := range q.segs {
		maxID = max(maxID, id)
	}
	var seq uint64
	posOf := map[uint32]int64{}
	if ck != nil {
		seq = ck.seq
		var missing []uint32
		for _, sp := range ck.spans {
			maxID = max(maxID, sp.seg)
			if q.segs[sp.seg] == nil && !slices.Contains(missing, sp.seg) {
				missing = append(missing, sp.seg)
			}
		}
		if len(missing) > 0 {
			names := make([]string, len(missing))
			for i, id := range missing {
				names[i] = segName(id)
			}
			return fmt.Errorf("checkpoint (%s) holds events in segments %v found in none of the data directories %v: "+
				"restore those files, or move the checkpoint files away to recover from the segments alone",
				src, names, q.opts.DataDirs)
		}
		for _, p := range ck.pos {
			if p.seg != 0 {
				posOf[p.seg] = p.off
				maxID = max(maxID, p.seg)
			}
		}
	}
	q.nextSeg.Store(maxID)

	var tail []tailPut
	taken := map[recKey][]takeRange{}
	for _, s := range q.streams {
		first, from, found := 0, int64(segHeaderSize), false
		for j, seg := range s.segs {
			if off, ok := posOf[seg.id]; ok {
				first, from, found = j, off, true
				break
			}
		}
		if ck != nil && !found && len(s.segs) > 0 {
			q.log.Info("the checkpoint has no position in this data directory (added since?); replaying all of it", "dir", s.dir)
		}
		appendable := false
		for j := first; j < len(s.segs); j++ {
			seg := s.segs[j]
			off := int64(segHeaderSize)
			if j == first {
				off = from
			}
			last := j == len(s.segs)-1
			ok, err := q.replaySegment(s, seg, off, last, &seq, &tail, taken)
			if err != nil {
				return err
			}
			appendable = last && ok
		}
		// A torn, empty last segment was removed by replaySegment.
		s.segs = slices.DeleteFunc(s.segs, func(seg *segment) bool { return q.segs[seg.id] == nil })
		if !appendable || s.off >= q.opts.MaxFileSize {
			seg, err := createSegment(s.dir, q.nextSeg.Add(1))
			if err != nil {
				return err
			}
			s.segs = append(s.segs, seg)
			q.segs[seg.id] = seg
			s.active, s.off = seg, segHeaderSize
		} else {
			s.active = s.segs[len(s.segs)-1]
		}
		s.applied = pos{s.active.id, s.off}
	}
	q.seq.Store(seq)

	// The queue: the checkpoint's spans, then the puts after it in write
	// order, less every event a take after the checkpoint removed.
	emit := func(sp span) {
		for _, p := range subtract(sp, taken[recKey{sp.seg, sp.off}]) {
			q.dq.pushBack(p)
			q.queued += p.events()
		}
	}
	if ck != nil {
		for _, sp := range ck.spans {
			emit(sp)
		}
	}
	slices.SortFunc(tail, func(a, b tailPut) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	for _, t := range tail {
		emit(t.sp)
	}
	q.ckSource = src
	q.replayDur = time.Since(start)
	q.onSizeLocked()
	q.log.Info("WAL recovered", "queued", q.queued, "segments", len(q.segs), "checkpoint", src,
		"replayed_records", q.stats.replayRecords.Load(), "torn_tails", q.stats.tornTails.Load(),
		"corrupt_regions", q.stats.corruptRecords.Load(), "took", q.replayDur)
	// A fresh checkpoint makes the next start replay nothing of this and
	// deletes what is obsolete.
	if err := q.Checkpoint(); err != nil {
		q.log.Error("checkpoint after recovery failed; the next start replays more", "err", err)
	}
	return nil
}

// findSegments opens every segment file of every data directory.
func (q *Queue) findSegments() error {
	owner := map[uint32]string{}
	for _, s := range q.streams {
		ents, err := os.ReadDir(s.dir)
		if err != nil {
			return fmt.Errorf("list data directory: %w", err)
		}
		for _, e := range ents {
			id, ok := parseSegName(e.Name())
			if !ok || !e.Type().IsRegular() {
				continue
			}
			if other, dup := owner[id]; dup {
				return fmt.Errorf("segment %s is in both %s and %s", segName(id), other, s.dir)
			}
			owner[id] = s.dir
			path := filepath.Join(s.dir, e.Name())
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				return fmt.Errorf("open segment: %w", err)
			}
			seg := &segment{id: id, path: path, f: f}
			s.segs = append(s.segs, seg)
			q.segs[id] = seg
		}
		slices.SortFunc(s.segs, func(a, b *segment) int { return int(int64(a.id) - int64(b.id)) })
	}
	return nil
}

// loadCheckpoint reads the primary checkpoint, or the backup when the
// primary is missing or bad. src names the one used ("none" if neither).
func (q *Queue) loadCheckpoint() (ck *snapshot, src string) {
	ck, err := readCheckpointFile(q.opts.CheckpointDir)
	if err != nil {
		q.stats.badCheckpoints.Add(1)
		q.log.Error("checkpoint unusable", "err", err)
	}
	if ck != nil {
		return ck, "primary"
	}
	if q.opts.BackupCheckpointDir != "" {
		b, berr := readCheckpointFile(q.opts.BackupCheckpointDir)
		if berr != nil {
			q.stats.badCheckpoints.Add(1)
			q.log.Error("backup checkpoint unusable", "err", berr)
		}
		if b != nil {
			q.log.Warn("recovering from the backup checkpoint", "dir", q.opts.BackupCheckpointDir)
			return b, "backup"
		}
	}
	if len(q.segs) > 0 {
		q.log.Warn("no usable checkpoint: replaying every segment; events taken before the oldest segment may be delivered again",
			"segments", len(q.segs))
	}
	return nil, "none"
}

// replaySegment reads the records of seg from off on into tail and taken.
// A bad range at the end of the stream's last segment is a torn write: it
// is cut off. Any other bad range is corruption: reported with file and
// offset, counted, copied to quarantine and skipped. ok reports whether
// the segment can be appended to.
func (q *Queue) replaySegment(s *stream, seg *segment, off int64, last bool, seq *uint64, tail *[]tailPut, taken map[recKey][]takeRange) (ok bool, err error) {
	fi, err := seg.f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat segment: %w", err)
	}
	size := fi.Size()
	hdr := make([]byte, segHeaderSize)
	n, _ := seg.f.ReadAt(hdr, 0)
	headerOK := true
	if herr := checkSegHeader(hdr[:n], seg.id); herr != nil {
		headerOK = false
		if last && !hasRecord(seg, size) {
			// Created, then the process died before its header was
			// durable: nothing was ever acknowledged from it.
			q.stats.tornTails.Add(1)
			q.log.Warn("removed a segment whose creation was interrupted", "file", seg.path, "err", herr)
			_ = seg.f.Close()
			delete(q.segs, seg.id)
			if err := os.Remove(seg.path); err != nil {
				return false, fmt.Errorf("remove torn segment: %w", err)
			}
			return false, syncDir(s.dir)
		}
		q.stats.corruptRecords.Add(1)
		q.log.Error("corrupt segment header; reading its records anyway", "file", seg.path, "offset", 0, "err", herr)
	}
	if off > size {
		q.stats.corruptRecords.Add(1)
		q.log.Error("segment is shorter than the checkpoint says; records may be lost", "file", seg.path,
			"offset", off, "size", size)
		off = size
	}
	off = max(off, segHeaderSize)
	var perr error
	end, bad, err := scanRecords(seg.f, size, off, func(off int64, h recHeader, p []byte) error {
		q.stats.replayRecords.Add(1)
		*seq = max(*seq, h.seq)
		switch h.kind {
		case kindPut:
			n, err := putCount(p)
			if err != nil {
				perr = &CorruptError{Path: seg.path, Offset: off, Reason: "put record: " + err.Error()}
				break
			}
			*tail = append(*tail, tailPut{h.seq, span{seg: seg.id, off: off, len: h.length, n: n, first: 0, last: n}})
		case kindTake:
			rs, err := decodeTake(p)
			if err != nil {
				perr = &CorruptError{Path: seg.path, Offset: off, Reason: "take record: " + err.Error()}
				break
			}
			for _, r := range rs {
				k := recKey{r.seg, r.off}
				taken[k] = append(taken[k], r)
			}
		}
		if perr != nil {
			q.stats.corruptRecords.Add(1)
			q.log.Error("undecodable WAL record skipped", "file", seg.path, "offset", off, "err", perr)
			perr = nil
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("replay %s: %w", seg.path, err)
	}
	for i, b := range bad {
		if last && i == len(bad)-1 && b.end == size {
			q.stats.tornTails.Add(1)
			q.log.Warn("cut a torn record off the end of the log", "file", seg.path, "offset", b.off, "bytes", b.end-b.off)
			if err := seg.f.Truncate(b.off); err != nil {
				return false, fmt.Errorf("truncate torn tail of %s at %d: %w", seg.path, b.off, err)
			}
			if err := datasync(seg.f); err != nil {
				return false, fmt.Errorf("sync %s: %w", seg.path, err)
			}
			continue
		}
		q.stats.corruptRecords.Add(1)
		q.stats.corruptBytes.Add(b.end - b.off)
		qpath := q.quarantine(seg, b.off, b.end-b.off)
		q.log.Error("corrupt WAL bytes skipped: the records in them are lost", "file", seg.path, "offset", b.off,
			"bytes", b.end-b.off, "quarantine", qpath)
	}
	if last {
		s.off = end
	}
	return headerOK, nil
}

// hasRecord reports whether seg holds any intact record.
func hasRecord(seg *segment, size int64) bool {
	sc := newScanner(seg.f, size)
	off, err := sc.resync(segHeaderSize)
	return err == nil && off < size
}

// subtract returns the parts of sp not covered by the taken ranges.
func subtract(sp span, taken []takeRange) []span {
	if len(taken) == 0 {
		return []span{sp}
	}
	rs := slices.Clone(taken)
	slices.SortFunc(rs, func(a, b takeRange) int { return int(int64(a.first) - int64(b.first)) })
	var out []span
	cur := sp.first
	for _, r := range rs {
		if r.last <= cur || r.first >= sp.last {
			continue
		}
		if r.first > cur {
			p := sp
			p.first, p.last = cur, r.first
			out = append(out, p)
		}
		cur = max(cur, r.last)
		if cur >= sp.last {
			break
		}
	}
	if cur < sp.last {
		p := sp
		p.first = cur
		out = append(out, p)
	}
	return out
}
