package forward

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/vscope/vscope/agent/event"
)

// Protocol constants; see the package documentation for the layout.
const (
	// HeaderSize is the length of a frame header.
	HeaderSize = 24
	// Version is the protocol version this package speaks.
	Version = 1
	// DefaultMaxFrame is the default max-frame-size: the largest payload a
	// receiver accepts, before and after decompression.
	DefaultMaxFrame = 16 << 20

	magic0, magic1 = 'v', 'F'
)

// Errors of the codec. The server counts refused frames by these; Reason
// names them.
var (
	// ErrBadMagic means the bytes are not a vscope forward frame at all.
	ErrBadMagic = errors.New("bad magic: not a vscope forward frame")
	// ErrVersion means the frame is of a protocol version this side does
	// not speak.
	ErrVersion = errors.New("unsupported protocol version")
	// ErrBadHeader means an unknown kind or compression, or reserved bits
	// set.
	ErrBadHeader = errors.New("bad frame header")
	// ErrFrameTooLarge means the frame's length (or the raw length of a
	// compressed payload) exceeds max-frame-size.
	ErrFrameTooLarge = errors.New("frame exceeds max-frame-size")
	// ErrChecksum means the CRC-32C of the frame does not match.
	ErrChecksum = errors.New("frame checksum mismatch")
	// ErrTruncated means the stream ended inside a frame.
	ErrTruncated = errors.New("truncated frame")
	// ErrMalformed means a payload that does not decode.
	ErrMalformed = errors.New("malformed payload")
)

// Reason is the short name under which a refused frame or connection is
// counted and logged: garbage, version, too_large, checksum, truncated,
// malformed, timeout, tls, handshake, or other.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrBadMagic), errors.Is(err, ErrBadHeader):
		return "garbage"
	case errors.Is(err, ErrVersion):
		return "version"
	case errors.Is(err, ErrFrameTooLarge):
		return "too_large"
	case errors.Is(err, ErrChecksum):
		return "checksum"
	case errors.Is(err, ErrTruncated):
		return "truncated"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, errHandshake):
		return "handshake"
	case isTimeout(err):
		return "timeout"
	}
	return "other"
}

// Kind is the type of a frame.
type Kind uint8

// Frame kinds.
const (
	KindHello   Kind = 1 // client -> server: group and name
	KindWelcome Kind = 2 // server -> client: group and limits
	KindBatch   Kind = 3 // client -> server: events
	KindAck     Kind = 4 // server -> client: the batch is committed
	KindNack    Kind = 5 // server -> client: the batch (or connection) is refused
)

func (k Kind) String() string {
	switch k {
	case KindHello:
		return "hello"
	case KindWelcome:
		return "welcome"
	case KindBatch:
		return "batch"
	case KindAck:
		return "ack"
	case KindNack:
		return "nack"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Codec is the compression of a frame's payload.
type Codec uint8

// Compression codecs. zstd and snappy come from klauspost/compress, which
// the module already depends on.
const (
	CodecNone    Codec = 0
	CodecDeflate Codec = 1
	CodecZstd    Codec = 2
	CodecSnappy  Codec = 3
	codecMax           = CodecSnappy
)

var codecNames = [...]string{"none", "deflate", "zstd", "snappy"}

func (c Codec) String() string {
	if c <= codecMax {
		return codecNames[c]
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// ParseCodec parses a compression-type: none, deflate, zstd or snappy,
// any case. The empty string is none.
func ParseCodec(s string) (Codec, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return CodecNone, nil
	}
	for i, n := range codecNames {
		if s == n {
			return Codec(i), nil
		}
	}
	return 0, fmt.Errorf("unknown compression-type %q (supported: none, deflate, zstd, snappy)", s)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Frame is one decoded frame. Payload is the raw bytes on the wire (still
// compressed if Codec is not none).
type Frame struct {
	Kind    Kind
	Codec   Codec
	Seq     uint64
	Payload []byte
}

// header is a parsed frame header.
type header struct {
	kind  Kind
	codec Codec
	seq   uint64
	n     int // payload length
	crc   uint32
}

// parseHeader checks a HeaderSize-byte header: magic, version, kind, codec,
// reserved bytes, and the length against max.
func parseHeader(b []byte, max int) (header, error) {
	if b[0] != magic0 || b[1] != magic1 {
		return header{}, ErrBadMagic
	}
	if b[2] != Version {
		return header{}, fmt.Errorf("%w %d (this side speaks %d)", ErrVersion, b[2], Version)
	}
	h := header{kind: Kind(b[3]), codec: Codec(b[4]), seq: binary.BigEndian.Uint64(b[8:16]),
		n: int(binary.BigEndian.Uint32(b[16:20])), crc: binary.BigEndian.Uint32(b[20:24])}
	if h.kind < KindHello || h.kind > KindNack {
		return header{}, fmt.Errorf("%w: unknown kind %d", ErrBadHeader, b[3])
	}
	if h.codec > codecMax {
		return header{}, fmt.Errorf("%w: unknown compression %d", ErrBadHeader, b[4])
	}
	if b[5]|b[6]|b[7] != 0 {
		return header{}, fmt.Errorf("%w: reserved bytes set", ErrBadHeader)
	}
	if h.n > max {
		return h, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, h.n, max)
	}
	return h, nil
}

// putHeader writes a frame header, without the CRC, into b[:HeaderSize].
func putHeader(b []byte, kind Kind, codec Codec, seq uint64, n int) {
	b[0], b[1], b[2], b[3], b[4] = magic0, magic1, Version, byte(kind), byte(codec)
	b[5], b[6], b[7] = 0, 0, 0
	binary.BigEndian.PutUint64(b[8:16], seq)
	binary.BigEndian.PutUint32(b[16:20], uint32(n))
}

// frameCRC is the checksum of a frame: header bytes 0-19, then the payload.
func frameCRC(hdr, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(hdr[:20], castagnoli), castagnoli, payload)
}

// AppendFrame appends a complete frame holding payload to dst.
func AppendFrame(dst []byte, kind Kind, codec Codec, seq uint64, payload []byte) []byte {
	off := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	dst = append(dst, payload...)
	sealFrame(dst[off:], kind, codec, seq)
	return dst
}

// sealFrame fills the header of a frame whose payload already follows it
// in f: f[:HeaderSize] is the header, f[HeaderSize:] the payload.
func sealFrame(f []byte, kind Kind, codec Codec, seq uint64) {
	putHeader(f, kind, codec, seq, len(f)-HeaderSize)
	binary.BigEndian.PutUint32(f[20:24], frameCRC(f[:HeaderSize], f[HeaderSize:]))
}

// DecodeFrame decodes the frame at the start of b, whose payload may be at
// most max bytes. It returns the frame, whose Payload aliases b, and the
// number of bytes it took. If b ends inside the frame, the error is
// ErrTruncated.
func DecodeFrame(b []byte, max int) (Frame, int, error) {
	if len(b) < HeaderSize {
		if len(b) >= 2 && (b[0] != magic0 || b[1] != magic1) {
			return Frame{}, 0, ErrBadMagic
		}
		return Frame{}, 0, ErrTruncated
	}
	h, err := parseHeader(b, max)
	if err != nil {
		return Frame{}, 0, err
	}
	end := HeaderSize + h.n
	if len(b) < end {
		return Frame{}, 0, fmt.Errorf("%w: %d of %d payload bytes", ErrTruncated, len(b)-HeaderSize, h.n)
	}
	if frameCRC(b[:HeaderSize], b[HeaderSize:end]) != h.crc {
		return Frame{}, 0, ErrChecksum
	}
	return Frame{Kind: h.kind, Codec: h.codec, Seq: h.seq, Payload: b[HeaderSize:end:end]}, end, nil
}

// readFrame reads one frame from r. hdr is a HeaderSize scratch buffer.
// The payload is a fresh allocation, so decoded event bodies may alias it.
// A stream that ends inside the frame gives ErrTruncated; one that ends
// before it gives io.EOF.
func readFrame(r io.Reader, hdr []byte, max int) (Frame, error) {
	if n, err := io.ReadFull(r, hdr[:HeaderSize]); err != nil {
		if err == io.ErrUnexpectedEOF || (err == io.EOF && n > 0) {
			if n >= 2 && (hdr[0] != magic0 || hdr[1] != magic1) {
				return Frame{}, ErrBadMagic
			}
			return Frame{}, fmt.Errorf("%w: %d of %d header bytes", ErrTruncated, n, HeaderSize)
		}
		return Frame{}, err
	}
	h, err := parseHeader(hdr, max)
	if err != nil {
		return Frame{}, err
	}
	payload := make([]byte, h.n)
	if n, err := io.ReadFull(r, payload); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return Frame{}, fmt.Errorf("%w: %d of %d payload bytes", ErrTruncated, n, h.n)
		}
		return Frame{}, err
	}
	if frameCRC(hdr, payload) != h.crc {
		return Frame{}, ErrChecksum
	}
	return Frame{Kind: h.kind, Codec: h.codec, Seq: h.seq, Payload: payload}, nil
}

// uvarintLen is the length of v as a uvarint.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// EventSize is the number of bytes e takes in a raw batch payload.
func EventSize(e *event.Event) int {
	n := uvarintLen(uint64(len(e.Headers))) + uvarintLen(uint64(len(e.Body))) + len(e.Body)
	for k, v := range e.Headers {
		n += uvarintLen(uint64(len(k))) + len(k) + uvarintLen(uint64(len(v))) + len(v)
	}
	return n
}

// AppendBatch appends the raw payload of a batch of events to dst.
func AppendBatch(dst []byte, events []event.Event) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(events)))
	for i := range events {
		e := &events[i]
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

// payloadReader reads the fields of a payload; the first error sticks.
type payloadReader struct {
	b   []byte
	err error
}

func (r *payloadReader) uvarint(limit int) int {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad length", ErrMalformed)
		return 0
	}
	r.b = r.b[n:]
	if v > uint64(limit) {
		r.err = fmt.Errorf("%w: length %d exceeds %d", ErrMalformed, v, limit)
		return 0
	}
	return int(v)
}

// bytes returns the next length-prefixed field, aliasing the payload.
func (r *payloadReader) bytes() []byte {
	n := r.uvarint(1 << 31)
	if r.err == nil && n > len(r.b) {
		r.err = fmt.Errorf("%w: field of %d bytes, %d left", ErrMalformed, n, len(r.b))
	}
	if r.err != nil {
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *payloadReader) string() string { return string(r.bytes()) }

// DecodeBatch decodes a raw batch payload of at most maxEvents events.
// Bodies alias p; header keys and values are copied.
func DecodeBatch(p []byte, maxEvents int) ([]event.Event, error) {
	r := payloadReader{b: p}
	// Every event takes at least two bytes, which bounds the allocation.
	n := r.uvarint(min(maxEvents, len(p)/2))
	if r.err != nil {
		return nil, r.err
	}
	events := make([]event.Event, n)
	for i := range events {
		nh := r.uvarint(len(r.b) / 2)
		if nh > 0 && r.err == nil {
			h := make(map[string]string, nh)
			for j := 0; j < nh && r.err == nil; j++ {
				k := r.string()
				h[k] = r.string()
			}
			events[i].Headers = h
		}
		events[i].Body = r.bytes()
		if r.err != nil {
			return nil, r.err
		}
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last event", ErrMalformed, len(r.b))
	}
	return events, nil
}

// compressor compresses payloads of one codec; it keeps its encoder
// between frames. Not safe for concurrent use.
type compressor struct {
	codec Codec
	level int
	fw    *flate.Writer
	zw    *zstd.Encoder
	buf   bytes.Buffer
}

func newCompressor(codec Codec, level int) (*compressor, error) {
	c := &compressor{codec: codec, level: level}
	var err error
	switch codec {
	case CodecDeflate:
		c.fw, err = flate.NewWriter(&c.buf, level)
	case CodecZstd:
		c.zw, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)), zstd.WithLowerEncoderMem(true))
	}
	if err != nil {
		return nil, fmt.Errorf("compression %s level %d: %w", codec, level, err)
	}
	return c, nil
}

// compress appends the compressed form of raw (its raw length, then the
// compressed bytes) to dst.
func (c *compressor) compress(dst, raw []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(raw)))
	switch c.codec {
	case CodecDeflate:
		c.buf.Reset()
		c.fw.Reset(&c.buf)
		_, _ = c.fw.Write(raw) // a bytes.Buffer does not fail
		_ = c.fw.Close()
		dst = append(dst, c.buf.Bytes()...)
	case CodecZstd:
		dst = c.zw.EncodeAll(raw, dst)
	case CodecSnappy:
		off := len(dst)
		need := s2.MaxEncodedLen(len(raw))
		dst = append(dst, make([]byte, need)...)
		enc := s2.EncodeSnappy(dst[off:], raw)
		dst = dst[:off+len(enc)]
	default:
		dst = append(dst, raw...)
	}
	return dst
}

func (c *compressor) close() {
	if c != nil && c.zw != nil {
		_ = c.zw.Close()
	}
}

// decompressor undoes any codec; it keeps its decoders between frames.
// Not safe for concurrent use.
type decompressor struct {
	max int
	fr  io.ReadCloser
	zr  *zstd.Decoder
	br  bytes.Reader
}

// decompress returns the raw payload of a frame compressed with codec. The
// raw payload is a fresh allocation of at most d.max bytes.
func (d *decompressor) decompress(codec Codec, p []byte) ([]byte, error) {
	if codec == CodecNone {
		return p, nil
	}
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad raw length of a compressed payload", ErrMalformed)
	}
	if v > uint64(d.max) {
		return nil, fmt.Errorf("%w: compressed payload inflates to %d bytes, limit %d", ErrFrameTooLarge, v, d.max)
	}
	rawLen, comp := int(v), p[n:]
	raw := make([]byte, rawLen)
	switch codec {
	case CodecDeflate:
		d.br.Reset(comp)
		if d.fr == nil {
			d.fr = flate.NewReader(&d.br)
		} else if err := d.fr.(flate.Resetter).Reset(&d.br, nil); err != nil {
			return nil, fmt.Errorf("%w: deflate: %v", ErrMalformed, err)
		}
		if _, err := io.ReadFull(d.fr, raw); err != nil {
			return nil, fmt.Errorf("%w: deflate: %v", ErrMalformed, err)
		}
		var one [1]byte
		if n, err := d.fr.Read(one[:]); n != 0 || (err != io.EOF && err != nil) {
			return nil, fmt.Errorf("%w: deflate data longer than its declared %d bytes", ErrMalformed, rawLen)
		}
	case CodecZstd:
		if d.zr == nil {
			zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxMemory(uint64(max(d.max, 1<<20))), zstd.WithDecoderLowmem(true))
			if err != nil {
				return nil, err
			}
			d.zr = zr
		}
		out, err := d.zr.DecodeAll(comp, raw[:0])
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrMalformed, err)
		}
		if len(out) != rawLen {
			return nil, fmt.Errorf("%w: zstd data is %d bytes, declared %d", ErrMalformed, len(out), rawLen)
		}
		raw = out
	case CodecSnappy:
		n, err := s2.DecodedLen(comp)
		if err != nil {
			return nil, fmt.Errorf("%w: snappy: %v", ErrMalformed, err)
		}
		if n != rawLen {
			return nil, fmt.Errorf("%w: snappy data is %d bytes, declared %d", ErrMalformed, n, rawLen)
		}
		if _, err := s2.Decode(raw, comp); err != nil {
			return nil, fmt.Errorf("%w: snappy: %v", ErrMalformed, err)
		}
	default:
		return nil, fmt.Errorf("%w: unknown compression %d", ErrBadHeader, codec)
	}
	return raw, nil
}

func (d *decompressor) close() {
	if d.zr != nil {
		d.zr.Close()
	}
	if d.fr != nil {
		_ = d.fr.Close()
	}
}

// The small payloads of the other frame kinds.

// hello is what a client says first.
type hello struct {
	Group string // the group the client wants; "" for any
	Name  string // agent/sink, for the server's logs
}

func (h hello) append(dst []byte) []byte {
	dst = appendString(dst, h.Group)
	return appendString(dst, h.Name)
}

func decodeHello(p []byte) (hello, error) {
	r := payloadReader{b: p}
	h := hello{Group: r.string(), Name: r.string()}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: trailing bytes in hello", ErrMalformed)
	}
	return h, r.err
}

// welcome is the server's answer to hello: what it accepts.
type welcome struct {
	Group     string
	Name      string
	MaxFrame  int // largest payload, raw or compressed
	MaxEvents int // most events per batch frame
}

func (w welcome) append(dst []byte) []byte {
	dst = appendString(dst, w.Group)
	dst = appendString(dst, w.Name)
	dst = binary.AppendUvarint(dst, uint64(w.MaxFrame))
	return binary.AppendUvarint(dst, uint64(w.MaxEvents))
}

func decodeWelcome(p []byte) (welcome, error) {
	r := payloadReader{b: p}
	w := welcome{Group: r.string(), Name: r.string()}
	w.MaxFrame = r.uvarint(1 << 31)
	w.MaxEvents = r.uvarint(1 << 31)
	if r.err == nil && (w.MaxFrame < 64 || w.MaxEvents < 1) {
		r.err = fmt.Errorf("%w: welcome limits %d bytes, %d events", ErrMalformed, w.MaxFrame, w.MaxEvents)
	}
	return w, r.err
}

// ack is the payload of an ack: how many events were committed and how
// busy the server is (batches being put across all its connections),
// which least_loaded groups use.
type ack struct {
	Events int
	Load   int
}

func (a ack) append(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(a.Events))
	return binary.AppendUvarint(dst, uint64(a.Load))
}

func decodeAck(p []byte) (ack, error) {
	r := payloadReader{b: p}
	a := ack{Events: r.uvarint(1 << 31), Load: r.uvarint(1 << 31)}
	return a, r.err
}

// NackCode says what a client should do about a nack.
type NackCode uint8

// Nack codes.
const (
	// NackRetry: the batch was not committed (a full channel); send it
	// again later, to this server or another.
	NackRetry NackCode = 1
	// NackPermanent: the batch can never be committed as sent (it exceeds
	// the channel's capacity).
	NackPermanent NackCode = 2
	// NackFatal: the connection is being closed (protocol error, wrong
	// group, server stopping).
	NackFatal NackCode = 3
)

func (c NackCode) String() string {
	switch c {
	case NackRetry:
		return "retry"
	case NackPermanent:
		return "permanent"
	case NackFatal:
		return "fatal"
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

func appendNack(dst []byte, code NackCode, reason string) []byte {
	dst = append(dst, byte(code))
	return appendString(dst, reason)
}

// NackError is a nack received from a server.
type NackError struct {
	Code   NackCode
	Reason string
}

func (e *NackError) Error() string {
	return fmt.Sprintf("refused by server (%s): %s", e.Code, e.Reason)
}

func decodeNack(p []byte) (*NackError, error) {
	if len(p) < 1 {
		return nil, fmt.Errorf("%w: empty nack", ErrMalformed)
	}
	r := payloadReader{b: p[1:]}
	e := &NackError{Code: NackCode(p[0]), Reason: r.string()}
	return e, r.err
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
