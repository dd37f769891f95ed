package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/vscope/vscope/agent/event"
)

// Record layout (little endian), see doc.go:
//
//	0  [2]byte magic 0x57 0xA1
//	2  byte    kind (kindPut, kindTake)
//	3  byte    flags, always 0
//	4  uint32  payload length (1 .. maxPayload)
//	8  uint64  seq, the write order across all data directories
//	16 uint32  CRC-32C of the payload
//	20 uint32  CRC-32C of bytes 0..19
//	24 payload
const (
	recHeaderSize = 24
	recMagic0     = 0x57
	recMagic1     = 0xA1

	kindPut  = 1
	kindTake = 2

	// maxPayload bounds one record, so a segment offset plus a record
	// always fits the format and a corrupt length cannot ask for more.
	maxPayload = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// recHeader is a decoded record header.
type recHeader struct {
	kind   byte
	length uint32
	seq    uint64
	crc    uint32 // of the payload
}

// fillHeader writes a record header into b[:recHeaderSize].
func fillHeader(b []byte, kind byte, length uint32, seq uint64, payloadCRC uint32) {
	b[0], b[1], b[2], b[3] = recMagic0, recMagic1, kind, 0
	binary.LittleEndian.PutUint32(b[4:], length)
	binary.LittleEndian.PutUint64(b[8:], seq)
	binary.LittleEndian.PutUint32(b[16:], payloadCRC)
	binary.LittleEndian.PutUint32(b[20:], crc(b[:20]))
}

// parseHeader decodes b[:recHeaderSize]; ok is false for anything that is
// not an intact header.
func parseHeader(b []byte) (h recHeader, ok bool) {
	if len(b) < recHeaderSize || b[0] != recMagic0 || b[1] != recMagic1 || b[3] != 0 {
		return h, false
	}
	if crc(b[:20]) != binary.LittleEndian.Uint32(b[20:]) {
		return h, false
	}
	h = recHeader{
		kind:   b[2],
		length: binary.LittleEndian.Uint32(b[4:]),
		seq:    binary.LittleEndian.Uint64(b[8:]),
		crc:    binary.LittleEndian.Uint32(b[16:]),
	}
	if (h.kind != kindPut && h.kind != kindTake) || h.length == 0 || h.length > maxPayload {
		return h, false
	}
	return h, true
}

// putPayloadSize is an upper bound of the encoded size of batch.
func putPayloadSize(batch []event.Event) int {
	n := binary.MaxVarintLen64
	for i := range batch {
		e := &batch[i]
		n += 2*binary.MaxVarintLen64 + len(e.Body)
		for k, v := range e.Headers {
			n += 2*binary.MaxVarintLen64 + len(k) + len(v)
		}
	}
	return n
}

// appendPut encodes batch as a put payload:
//
//	uvarint count
//	count x { uvarint headers; headers x { uvarint len, key, uvarint len, value }; uvarint len, body }
func appendPut(dst []byte, batch []event.Event) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(batch)))
	for i := range batch {
		e := &batch[i]
		dst = binary.AppendUvarint(dst, uint64(len(e.Headers)))
		for k, v := range e.Headers {
			dst = binary.AppendUvarint(dst, uint64(len(k)))
			dst = append(dst, k...)
			dst = binary.AppendUvarint(dst, uint64(len(v)))
			dst = append(dst, v...)
		}
		dst = binary.AppendUvarint(dst, uint64(len(e.Body)))
		dst = append(dst, e.Body...)
	}
	return dst
}

// errMalformed is returned for a payload whose checksum was right but
// whose content cannot be decoded. Callers treat it like a bad checksum.
var errMalformed = errors.New("malformed record payload")

// decoder reads the varint-framed fields of a payload; the first error
// sticks and every later read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errMalformed
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errMalformed
		return nil
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

// putCount returns the number of events of a put payload.
func putCount(p []byte) (uint32, error) {
	v, n := binary.Uvarint(p)
	// Every event takes at least two bytes (header count, body length).
	if n <= 0 || v == 0 || v > uint64(len(p))/2 {
		return 0, errMalformed
	}
	return uint32(v), nil
}

// decodePut returns the events [first, last) of a put payload. Bodies
// alias p (capacity-limited), so p must not be reused by the caller.
func decodePut(p []byte, first, last uint32) ([]event.Event, error) {
	d := decoder{b: p}
	count := d.uvarint()
	if d.err != nil || count == 0 || count > uint64(len(p))/2 || uint64(last) > count || first > last {
		return nil, fmt.Errorf("%w: %d events, asked for [%d,%d)", errMalformed, count, first, last)
	}
	out := make([]event.Event, 0, last-first)
	for i := uint32(0); i < last; i++ {
		nh := d.uvarint()
		if nh > uint64(len(d.b))/2 {
			return nil, errMalformed
		}
		var h map[string]string
		if i >= first && nh > 0 {
			h = make(map[string]string, nh)
		}
		for j := uint64(0); j < nh && d.err == nil; j++ {
			k := d.bytes()
			v := d.bytes()
			if h != nil {
				h[string(k)] = string(v)
			}
		}
		body := d.bytes()
		if d.err != nil {
			return nil, d.err
		}
		if i >= first {
			out = append(out, event.Event{Headers: h, Body: body})
		}
	}
	return out, nil
}

// takeRange is a run of events of one put record removed by a take.
type takeRange struct {
	seg         uint32
	off         int64
	first, last uint32
}

// appendTake encodes the spans a take committed:
//
//	uvarint count; count x { uvarint seg, uvarint off, uvarint first, uvarint last }
func appendTake(dst []byte, spans []span) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(spans)))
	for _, s := range spans {
		dst = binary.AppendUvarint(dst, uint64(s.seg))
		dst = binary.AppendUvarint(dst, uint64(s.off))
		dst = binary.AppendUvarint(dst, uint64(s.first))
		dst = binary.AppendUvarint(dst, uint64(s.last))
	}
	return dst
}

// decodeTake decodes a take payload.
func decodeTake(p []byte) ([]takeRange, error) {
	d := decoder{b: p}
	n := d.uvarint()
	if d.err != nil || n == 0 || n > uint64(len(p))/4 {
		return nil, errMalformed
	}
	out := make([]takeRange, 0, n)
	for i := uint64(0); i < n; i++ {
		seg, off, first, last := d.uvarint(), d.uvarint(), d.uvarint(), d.uvarint()
		if d.err != nil || seg > math.MaxUint32 || off > math.MaxInt64 || first >= last || last > math.MaxUint32 {
			return nil, errMalformed
		}
		out = append(out, takeRange{uint32(seg), int64(off), uint32(first), uint32(last)})
	}
	return out, nil
}
