package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// Checkpoint file (see doc.go):
//
//	0  [8]byte "VSCKPT01"
//	8  uint64  body length
//	16 body:   uvarint seq
//	           uvarint positions; positions x { uvarint seg, uvarint off }
//	           uvarint spans; spans x { uvarint seg, off, len, n, first, last }
//	   uint32  CRC-32C of the body
const (
	ckMagic   = "VSCKPT01"
	ckName    = "checkpoint"
	ckTmpName = "checkpoint.tmp"
)

// pos is a position in a stream: every record before offset off of
// segment seg (and in the stream's earlier segments) is reflected in the
// queue state it goes with.
type pos struct {
	seg uint32
	off int64
}

// snapshot is the queue state a checkpoint records.
type snapshot struct {
	seq   uint64
	pos   []pos // one per stream; seg 0 for a stream without segments
	spans []span
}

func encodeCheckpoint(s *snapshot) []byte {
	b := make([]byte, 16, 64+len(s.pos)*12+len(s.spans)*20)
	copy(b, ckMagic)
	b = binary.AppendUvarint(b, s.seq)
	b = binary.AppendUvarint(b, uint64(len(s.pos)))
	for _, p := range s.pos {
		b = binary.AppendUvarint(b, uint64(p.seg))
		b = binary.AppendUvarint(b, uint64(p.off))
	}
	b = binary.AppendUvarint(b, uint64(len(s.spans)))
	for _, sp := range s.spans {
		b = binary.AppendUvarint(b, uint64(sp.seg))
		b = binary.AppendUvarint(b, uint64(sp.off))
		b = binary.AppendUvarint(b, uint64(sp.len))
		b = binary.AppendUvarint(b, uint64(sp.n))
		b = binary.AppendUvarint(b, uint64(sp.first))
		b = binary.AppendUvarint(b, uint64(sp.last))
	}
	binary.LittleEndian.PutUint64(b[8:], uint64(len(b)-16))
	return binary.LittleEndian.AppendUint32(b, crc(b[16:]))
}

var errBadCheckpoint = errors.New("bad checkpoint")

func decodeCheckpoint(b []byte) (*snapshot, error) {
	if len(b) < 20 || string(b[:8]) != ckMagic {
		return nil, fmt.Errorf("%w: no header", errBadCheckpoint)
	}
	n := binary.LittleEndian.Uint64(b[8:])
	if n != uint64(len(b)-20) {
		return nil, fmt.Errorf("%w: body is %d bytes, header says %d (interrupted write?)", errBadCheckpoint, len(b)-20, n)
	}
	body := b[16 : 16+n]
	if crc(body) != binary.LittleEndian.Uint32(b[16+n:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errBadCheckpoint)
	}
	d := decoder{b: body}
	s := &snapshot{seq: d.uvarint()}
	np := d.uvarint()
	if np > uint64(len(d.b)) {
		return nil, fmt.Errorf("%w: %d positions", errBadCheckpoint, np)
	}
	for i := uint64(0); i < np && d.err == nil; i++ {
		seg, off := d.uvarint(), d.uvarint()
		if seg > math.MaxUint32 || off > math.MaxInt64 {
			return nil, fmt.Errorf("%w: position out of range", errBadCheckpoint)
		}
		s.pos = append(s.pos, pos{uint32(seg), int64(off)})
	}
	ns := d.uvarint()
	if ns > uint64(len(d.b)) {
		return nil, fmt.Errorf("%w: %d spans", errBadCheckpoint, ns)
	}
	s.spans = make([]span, 0, ns)
	for i := uint64(0); i < ns && d.err == nil; i++ {
		seg, off, ln, cnt, first, last := d.uvarint(), d.uvarint(), d.uvarint(), d.uvarint(), d.uvarint(), d.uvarint()
		if seg == 0 || seg > math.MaxUint32 || off > math.MaxInt64 || ln == 0 || ln > maxPayload ||
			cnt > math.MaxUint32 || first >= last || last > cnt {
			return nil, fmt.Errorf("%w: span %d out of range", errBadCheckpoint, i)
		}
		s.spans = append(s.spans, span{seg: uint32(seg), off: int64(off), len: uint32(ln), n: uint32(cnt), first: uint32(first), last: uint32(last)})
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: malformed body", errBadCheckpoint)
	}
	return s, nil
}

// writeCheckpointFile replaces dir/checkpoint with data atomically: the
// data goes to checkpoint.tmp, is fsynced, renamed over the old file, and
// the directory is fsynced. A crash at any point leaves either the old or
// the new checkpoint. crashAt, a test hook, runs between the write and the
// rename; an error from it aborts the checkpoint as a crash would.
func writeCheckpointFile(dir string, data []byte, crashAt func(tmp string) error) error {
	tmp := filepath.Join(dir, ckTmpName)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write checkpoint %s: %w", tmp, err)
	}
	if crashAt != nil {
		if err := crashAt(tmp); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, filepath.Join(dir, ckName)); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return syncDir(dir)
}

// readCheckpointFile loads dir/checkpoint. A missing file is (nil, nil).
func readCheckpointFile(dir string) (*snapshot, error) {
	path := filepath.Join(dir, ckName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	s, err := decodeCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return s, nil
}
