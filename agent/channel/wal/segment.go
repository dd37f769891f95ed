package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Segment header (32 bytes, little endian):
//
//	0  [8]byte "VSWALSEG"
//	8  uint32  format version (1)
//	12 uint32  segment id
//	16 int64   creation time, Unix nanoseconds
//	24 uint32  zero
//	28 uint32  CRC-32C of bytes 0..27
const (
	segHeaderSize = 32
	segMagic      = "VSWALSEG"
	segVersion    = 1
	segPrefix     = "seg-"
	segSuffix     = ".wal"
)

// segment is one segment file. f is opened read-write and shared by the
// stream's writer (pwrite) and takers (pread), which both use explicit
// offsets.
type segment struct {
	id   uint32
	path string
	f    *os.File
}

func segName(id uint32) string { return fmt.Sprintf("%s%010d%s", segPrefix, id, segSuffix) }

// parseSegName returns the id of a segment file name.
func parseSegName(name string) (uint32, bool) {
	s, ok := strings.CutPrefix(name, segPrefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, segSuffix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(s, 10, 32)
	if err != nil || id == 0 {
		return 0, false
	}
	return uint32(id), true
}

func segHeader(id uint32) []byte {
	b := make([]byte, segHeaderSize)
	copy(b, segMagic)
	binary.LittleEndian.PutUint32(b[8:], segVersion)
	binary.LittleEndian.PutUint32(b[12:], id)
	binary.LittleEndian.PutUint64(b[16:], uint64(time.Now().UnixNano()))
	binary.LittleEndian.PutUint32(b[28:], crc(b[:28]))
	return b
}

// checkSegHeader verifies the header of segment id.
func checkSegHeader(b []byte, id uint32) error {
	switch {
	case len(b) < segHeaderSize:
		return fmt.Errorf("header is %d bytes, want %d", len(b), segHeaderSize)
	case string(b[:8]) != segMagic:
		return fmt.Errorf("not a vscope WAL segment (magic %q)", b[:8])
	case crc(b[:28]) != binary.LittleEndian.Uint32(b[28:]):
		return fmt.Errorf("header checksum mismatch")
	case binary.LittleEndian.Uint32(b[8:]) != segVersion:
		return fmt.Errorf("unsupported segment version %d", binary.LittleEndian.Uint32(b[8:]))
	case binary.LittleEndian.Uint32(b[12:]) != id:
		return fmt.Errorf("header names segment %d", binary.LittleEndian.Uint32(b[12:]))
	}
	return nil
}

// createSegment creates segment id in dir and makes its header and its
// directory entry durable, so records fsynced into it later survive a
// power loss.
func createSegment(dir string, id uint32) (*segment, error) {
	path := filepath.Join(dir, segName(id))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	if _, err := f.WriteAt(segHeader(id), 0); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("write segment header %s: %w", path, err)
	}
	if err := datasync(f); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("sync segment %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		_ = f.Close()
		return nil, err
	}
	return &segment{id: id, path: path, f: f}, nil
}

// syncDir makes the entries of dir (created, renamed, removed files)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// scanWindow is how much of a segment the scanner reads at once.
const scanWindow = 1 << 20

// scanner reads a segment through a window, for sequential replay and for
// the byte-by-byte search that follows a bad record.
type scanner struct {
	r      io.ReaderAt
	size   int64
	win    []byte
	winOff int64 // file offset of win[0]
}

func newScanner(r io.ReaderAt, size int64) *scanner {
	return &scanner{r: r, size: size}
}

// read returns the n bytes at off. The slice is valid until the next call.
// It returns io.ErrUnexpectedEOF if the file ends first.
func (s *scanner) read(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off+int64(n) > s.size {
		return nil, io.ErrUnexpectedEOF
	}
	if off >= s.winOff && off+int64(n) <= s.winOff+int64(len(s.win)) {
		return s.win[off-s.winOff : off-s.winOff+int64(n)], nil
	}
	want := int64(max(n, scanWindow))
	want = min(want, s.size-off)
	if int64(cap(s.win)) < want {
		s.win = make([]byte, want)
	}
	s.win = s.win[:want]
	if _, err := s.r.ReadAt(s.win, off); err != nil && err != io.EOF {
		s.win = s.win[:0]
		return nil, err
	}
	s.winOff = off
	return s.win[:n], nil
}

// record returns the record at off if it is intact. err is set only for
// an I/O error; a bad or incomplete record is ok == false.
func (s *scanner) record(off int64) (h recHeader, payload []byte, ok bool, err error) {
	b, err := s.read(off, recHeaderSize)
	if err == io.ErrUnexpectedEOF {
		return h, nil, false, nil
	} else if err != nil {
		return h, nil, false, err
	}
	h, ok = parseHeader(b)
	if !ok {
		return h, nil, false, nil
	}
	payload, err = s.read(off+recHeaderSize, int(h.length))
	if err == io.ErrUnexpectedEOF {
		return h, nil, false, nil
	} else if err != nil {
		return h, nil, false, err
	}
	if crc(payload) != h.crc {
		return h, nil, false, nil
	}
	return h, payload, true, nil
}

// resync returns the offset of the first intact record at or after from,
// or s.size if there is none.
func (s *scanner) resync(from int64) (int64, error) {
	magic := []byte{recMagic0, recMagic1}
	for off := from; off+recHeaderSize <= s.size; {
		n := int(min(int64(scanWindow), s.size-off))
		b, err := s.read(off, n)
		if err != nil {
			return 0, err
		}
		i := bytes.Index(b, magic)
		if i < 0 {
			// The magic may straddle the window's end.
			off += int64(max(1, n-1))
			continue
		}
		cand := off + int64(i)
		if _, _, ok, err := s.record(cand); err != nil {
			return 0, err
		} else if ok {
			return cand, nil
		}
		off = cand + 1
	}
	return s.size, nil
}

// badRegion is a byte range of a segment that holds no intact record.
type badRegion struct {
	off, end int64
}

// scanRecords calls fn for each intact record of the segment from off on
// and returns the offset after the last intact record and the bad regions
// between and after them. A region that ends at size with no intact record
// after it is the segment's tail.
func scanRecords(r io.ReaderAt, size, off int64, fn func(off int64, h recHeader, payload []byte) error) (end int64, bad []badRegion, err error) {
	s := newScanner(r, size)
	end = off
	for off < size {
		h, payload, ok, err := s.record(off)
		if err != nil {
			return end, bad, err
		}
		if ok {
			if err := fn(off, h, payload); err != nil {
				return end, bad, err
			}
			off += recHeaderSize + int64(h.length)
			end = off
			continue
		}
		next, err := s.resync(off + 1)
		if err != nil {
			return end, bad, err
		}
		bad = append(bad, badRegion{off, next})
		off = next
	}
	return end, bad, nil
}
