package forward

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/vscope/vscope/agent/event"
)

// ErrEventTooLarge means one event does not fit in a frame the server
// accepts; the batch holding it can never be sent as is.
var ErrEventTooLarge = errors.New("event larger than the server's max-frame-size")

// ClientConfig configures connections to servers. Zero durations take
// Flume's avro sink defaults (20 s).
type ClientConfig struct {
	TLS            *tls.Config // nil: plain TCP
	ConnectTimeout time.Duration
	RequestTimeout time.Duration
	Codec          Codec
	Level          int    // compression level (deflate 1-9, zstd 1-22); 0 is the codec's default
	Group          string // the group asked for in hello
	Name           string // this client, for the server's logs
	// MaxFrame caps the frames this side sends, below the server's own
	// limit (DefaultMaxFrame).
	MaxFrame int
}

func (c *ClientConfig) setDefaults() {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 20 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 20 * time.Second
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.Level == 0 {
		switch c.Codec {
		case CodecDeflate:
			c.Level = 6 // Flume's compression-level default
		case CodecZstd:
			c.Level = 3
		}
	}
}

// Conn is one client connection. It is not safe for concurrent use: one
// Send at a time.
type Conn struct {
	c      net.Conn
	br     *bufio.Reader
	cfg    ClientConfig
	server welcome
	comp   *compressor
	seq    uint64
	hdr    []byte
	raw    []byte // a frame's raw payload, reused
	out    []byte // the frames of one Send, reused
	// frameLens are the event counts of the frames of the last Send.
	frameLens []int
	created   time.Time
}

// Dial connects to addr, does the TLS handshake if configured and the
// hello/welcome exchange, all within ConnectTimeout.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Conn, error) {
	cfg.setDefaults()
	comp, err := newCompressor(cfg.Codec, cfg.Level)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		comp.close()
		return nil, err
	}
	c := &Conn{c: nc, cfg: cfg, comp: comp, hdr: make([]byte, HeaderSize), created: time.Now()}
	if err := c.open(ctx, addr); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Conn) open(ctx context.Context, addr string) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if c.cfg.TLS != nil {
		tcfg := c.cfg.TLS
		if tcfg.ServerName == "" && !tcfg.InsecureSkipVerify {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return err
			}
			tcfg = tcfg.Clone()
			tcfg.ServerName = host
		}
		tc := tls.Client(c.c, tcfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		c.c = tc
	}
	c.br = bufio.NewReaderSize(c.c, 4096)
	h := hello{Group: c.cfg.Group, Name: c.cfg.Name}
	if _, err := c.c.Write(AppendFrame(nil, KindHello, CodecNone, 0, h.append(nil))); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	f, err := readFrame(c.br, c.hdr, 1<<20)
	if err != nil {
		return fmt.Errorf("read welcome: %w", err)
	}
	switch f.Kind {
	case KindWelcome:
	case KindNack:
		if ne, err := decodeNack(f.Payload); err == nil {
			return ne
		}
		return fmt.Errorf("%w: bad nack", ErrMalformed)
	default:
		return fmt.Errorf("%w: %s frame where welcome was expected", ErrBadHeader, f.Kind)
	}
	if c.server, err = decodeWelcome(f.Payload); err != nil {
		return err
	}
	_ = c.c.SetDeadline(time.Time{})
	return nil
}

// Close closes the connection.
func (c *Conn) Close() error {
	c.comp.close()
	return c.c.Close()
}

// Created is when the connection was made.
func (c *Conn) Created() time.Time { return c.created }

// ServerGroup is the group the server said it is in.
func (c *Conn) ServerGroup() string { return c.server.Group }

// Result is what a server said about one Send.
type Result struct {
	Frames int // frames the batch took
	Load   int // the server's busiest moment during the batch (batches in commit)
	// Remaining are the events of the frames that were not acknowledged,
	// in order; nil when all were. They alias the events sent.
	Remaining []event.Event
}

// Send sends events, splitting them into frames the server accepts, each
// answered before the next is sent (so a refused frame is never overtaken
// by a later one), all within RequestTimeout. The events of the frames not
// acknowledged are returned in Result.Remaining, so a caller retries only
// those. The error is a *NackError if the server refused a frame (the
// connection stays usable unless the code is NackFatal); any other error
// leaves the connection unusable (close it), and the frame in flight may
// or may not be committed.
func (c *Conn) Send(ctx context.Context, events []event.Event) (Result, error) {
	res := Result{Remaining: events}
	if len(events) == 0 {
		res.Remaining = nil
		return res, nil
	}
	deadline := time.Now().Add(c.cfg.RequestTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = c.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	first := c.seq + 1
	out, err := c.frames(c.out[:0], events)
	c.out = out
	if err != nil {
		return res, err
	}
	res.Frames = len(c.frameLens)
	for i, n := range c.frameLens {
		seq := first + uint64(i)
		size := HeaderSize + int(binary.BigEndian.Uint32(out[16:20]))
		if _, err := c.c.Write(out[:size]); err != nil {
			return res, fmt.Errorf("send batch: %w", err)
		}
		out = out[size:]
		f, err := readFrame(c.br, c.hdr, 1<<20)
		if err != nil {
			return res, fmt.Errorf("read ack: %w", err)
		}
		if f.Seq != seq {
			return res, fmt.Errorf("%w: reply to frame %d where %d was expected", ErrMalformed, f.Seq, seq)
		}
		switch f.Kind {
		case KindAck:
			a, err := decodeAck(f.Payload)
			if err != nil {
				return res, err
			}
			res.Load = max(res.Load, a.Load)
			res.Remaining = res.Remaining[n:]
		case KindNack:
			ne, err := decodeNack(f.Payload)
			if err != nil {
				return res, err
			}
			return res, ne
		default:
			return res, fmt.Errorf("%w: %s frame where an ack was expected", ErrBadHeader, f.Kind)
		}
	}
	res.Remaining = nil
	return res, nil
}

// frames appends the frames of events to out, each within the server's
// limits, and advances c.seq.
func (c *Conn) frames(out []byte, events []event.Event) ([]byte, error) {
	maxRaw := min(c.server.MaxFrame, c.cfg.MaxFrame)
	const countRoom = 5 // the event count's uvarint
	c.frameLens = c.frameLens[:0]
	for len(events) > 0 {
		n, size := 0, countRoom
		for n < len(events) && n < c.server.MaxEvents {
			s := EventSize(&events[n])
			if size+s > maxRaw {
				break
			}
			size += s
			n++
		}
		if n == 0 {
			return out, fmt.Errorf("%w: %d bytes, limit %d", ErrEventTooLarge, EventSize(&events[0]), maxRaw-countRoom)
		}
		c.seq++
		off := len(out)
		out = append(out, make([]byte, HeaderSize)...)
		codec := c.cfg.Codec
		if codec == CodecNone {
			out = AppendBatch(out, events[:n])
		} else {
			c.raw = AppendBatch(c.raw[:0], events[:n])
			out = c.comp.compress(out, c.raw)
			if len(out)-off-HeaderSize > maxRaw {
				// Incompressible: send it raw, which is known to fit.
				codec = CodecNone
				out = append(out[:off+HeaderSize], c.raw...)
			}
		}
		sealFrame(out[off:], KindBatch, codec, c.seq)
		c.frameLens = append(c.frameLens, n)
		events = events[n:]
	}
	return out, nil
}
