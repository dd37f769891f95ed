package sink

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"

	"github.com/vscope/vscope/agent/event"
)

// The in-use file of the parquet sink is a log of the events written to
// it, not Parquet: a Parquet file is readable only once its footer is
// written, so rows buffered in an unfinished Parquet file would be lost by
// a crash after their take was committed. The log is converted into a
// Parquet file when the file is closed, and by the recovery at start-up
// when the agent died before that.
//
// Layout, all integers little-endian:
//
//	header:  "VSPQWAL1" | uvarint n | final file name (n bytes) | crc32c(name) u32
//	record:  length u32 | crc32c(payload) u32 | payload (length bytes)
//	payload: 'E' | time ms i64 | uvarint #headers | (uvarint len, key, uvarint len, value)... | body
//	         'C'   (a batch ends here: everything before it was written before a commit)
//
// Only records before the last 'C' count: they were all flushed before the
// take that delivered them was committed. Anything after it (a batch cut
// short by a crash or rolled back) is ignored, as is a torn or corrupt
// tail.

const walMagic = "VSPQWAL1"

const (
	walEvent  = 'E'
	walCommit = 'C'
)

// walMaxRecord bounds a record's length so a corrupt length cannot make
// the reader allocate without limit.
const walMaxRecord = 1 << 30

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errWALHeader means a file does not start with a valid log header; such a
// file is not the parquet sink's and is left alone.
var errWALHeader = errors.New("not a parquet sink in-use file")

// appendWALHeader appends the header naming the final file.
func appendWALHeader(dst []byte, final string) []byte {
	dst = append(dst, walMagic...)
	dst = binary.AppendUvarint(dst, uint64(len(final)))
	dst = append(dst, final...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum([]byte(final), crcTable))
}

// appendWALEvent appends the record of one event with time ms.
func appendWALEvent(dst []byte, ms int64, e *event.Event) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, walEvent)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(ms))
	dst = binary.AppendUvarint(dst, uint64(len(e.Headers)))
	for k, v := range e.Headers {
		dst = binary.AppendUvarint(dst, uint64(len(k)))
		dst = append(dst, k...)
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		dst = append(dst, v...)
	}
	dst = append(dst, e.Body...)
	return sealRecord(dst, start)
}

// appendWALCommit appends a batch-end record.
func appendWALCommit(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, walCommit)
	return sealRecord(dst, start)
}

// sealRecord fills in the length and checksum of the record at dst[start:].
func sealRecord(dst []byte, start int) []byte {
	payload := dst[start+8:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, crcTable))
	return dst
}

// walReader reads the records of an in-use file.
type walReader struct {
	r     *bufio.Reader
	off   int64 // offset of the next record
	limit int64 // stop here; -1 for no limit
	buf   []byte
	hdr   [8]byte
}

// openWAL opens path, checks its header and returns the final file name
// it names and a reader positioned at the first record.
func openWAL(f *os.File) (final string, r *walReader, err error) {
	br := bufio.NewReaderSize(f, 256<<10)
	magic := make([]byte, len(walMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != walMagic {
		return "", nil, errWALHeader
	}
	n, err := binary.ReadUvarint(br)
	if err != nil || n == 0 || n > 4096 {
		return "", nil, errWALHeader
	}
	name := make([]byte, n+4)
	if _, err := io.ReadFull(br, name); err != nil {
		return "", nil, errWALHeader
	}
	if crc32.Checksum(name[:n], crcTable) != binary.LittleEndian.Uint32(name[n:]) {
		return "", nil, errWALHeader
	}
	off := int64(len(walMagic)+uvarintLen(n)) + int64(n) + 4
	return string(name[:n]), &walReader{r: br, off: off, limit: -1}, nil
}

// partialWALHeader reports whether r holds a strict prefix of an in-use
// file header and nothing else: what a writer that died at creation
// leaves behind (possibly nothing at all).
func partialWALHeader(r io.Reader) bool {
	const limit = len(walMagic) + binary.MaxVarintLen64 + 4096 + 4
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil || len(b) > limit {
		return false
	}
	if len(b) <= len(walMagic) {
		return string(b) == walMagic[:len(b)]
	}
	if string(b[:len(walMagic)]) != walMagic {
		return false
	}
	rest := b[len(walMagic):]
	n, k := binary.Uvarint(rest)
	if k == 0 {
		return len(rest) < binary.MaxVarintLen64 // the length itself is cut
	}
	if k < 0 || n == 0 || n > 4096 {
		return false
	}
	return len(rest) < k+int(n)+4
}

func uvarintLen(n uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], n)
}

// next returns the payload of the next record, valid until the next call.
// It returns io.EOF at the limit, at the end of the file, and at a torn or
// corrupt record (the tail a crash leaves behind).
func (r *walReader) next() ([]byte, error) {
	if r.limit >= 0 && r.off >= r.limit {
		return nil, io.EOF
	}
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return nil, io.EOF
	}
	n := binary.LittleEndian.Uint32(r.hdr[:4])
	if n == 0 || n > walMaxRecord {
		return nil, io.EOF
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	p := r.buf[:n]
	if _, err := io.ReadFull(r.r, p); err != nil {
		return nil, io.EOF
	}
	if crc32.Checksum(p, crcTable) != binary.LittleEndian.Uint32(r.hdr[4:]) {
		return nil, io.EOF
	}
	r.off += 8 + int64(n)
	return p, nil
}

// committedEnd scans the records and returns the offset just past the last
// batch-end record, or the first record's offset if there is none.
func (r *walReader) committedEnd() int64 {
	end := r.off
	for {
		p, err := r.next()
		if err != nil {
			return end
		}
		if p[0] == walCommit {
			end = r.off
		}
	}
}

// walEventView is a decoded event record; its slices point into the
// record and are valid until the reader moves on.
type walEventView struct {
	ms      int64
	headers [][2][]byte
	body    []byte
}

// errWALRecord means a record passed its checksum but does not decode: a
// bug or a file written by something else.
var errWALRecord = errors.New("malformed in-use file record")

// decode fills v from an event payload, reusing v.headers.
func (v *walEventView) decode(p []byte) error {
	if len(p) < 9 || p[0] != walEvent {
		return errWALRecord
	}
	v.ms = int64(binary.LittleEndian.Uint64(p[1:9]))
	p = p[9:]
	nh, k := binary.Uvarint(p)
	if k <= 0 || nh > uint64(len(p)) {
		return errWALRecord
	}
	p = p[k:]
	v.headers = v.headers[:0]
	for i := uint64(0); i < nh; i++ {
		var kv [2][]byte
		for j := range kv {
			n, k := binary.Uvarint(p)
			if k <= 0 || n > uint64(len(p)-k) {
				return errWALRecord
			}
			kv[j] = p[k : k+int(n)]
			p = p[k+int(n):]
		}
		v.headers = append(v.headers, kv)
	}
	v.body = p
	return nil
}

// walPartPath is where the Parquet file converted from the in-use file at
// walPath is written before it is renamed to its final name: the in-use
// name with ".part" before the in-use suffix, so it keeps the in-use
// prefix and suffix that readers skip.
func walPartPath(walPath, inUseSuffix string) string {
	base := walPath[:len(walPath)-len(inUseSuffix)]
	return base + ".part" + inUseSuffix
}
