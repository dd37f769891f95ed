package forward

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// errHandshake marks a connection refused during hello: wrong first
// frame, a bad hello, or a group the server is not in.
var errHandshake = errors.New("handshake refused")

// errSlowReader marks a peer that did not read its acks in time.
var errSlowReader = errors.New("peer does not read its acks (write timeout)")

// Refusal reasons that are not codec errors.
const (
	reasonTLS        = "tls"
	reasonSlowReader = "slow_reader"
	reasonMaxConns   = "max_connections"
)

// Handler commits a batch received by a Server. It is called concurrently
// from every connection; events and their bodies belong to the callee.
type Handler func(ctx context.Context, events []event.Event) error

// ServerConfig configures a Server. Zero durations take the defaults
// given.
type ServerConfig struct {
	Addr string      // host:port; port 0 picks one
	TLS  *tls.Config // nil: plain TCP
	// Group is the group this server is in; a client asking for another
	// group is refused. "" accepts any.
	Group string
	Name  string // told to clients, for their logs
	// MaxFrame is the largest payload accepted, raw or compressed
	// (DefaultMaxFrame).
	MaxFrame int
	// MaxEvents is the most events per batch frame (1000); clients split
	// larger batches. It should not exceed the channel's
	// transactionCapacity.
	MaxEvents int
	// MaxConns bounds concurrent connections; 0 is no bound.
	MaxConns int
	// HandshakeTimeout bounds the TLS handshake and hello (10 s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that starts no frame for this long;
	// 0 keeps idle connections (TCP keep-alive still finds dead peers).
	IdleTimeout time.Duration
	// FrameTimeout bounds the time from a frame's first byte to its last
	// (30 s): a peer that trickles a frame is cut off.
	FrameTimeout time.Duration
	// WriteTimeout bounds writing one reply (10 s): a peer that does not
	// read its acks is cut off.
	WriteTimeout time.Duration
	Handler      Handler
	Logger       *slog.Logger
	// OnRefused, if set, is called once per refused frame or connection
	// with the reason (see Reason).
	OnRefused func(reason string)
	// OnConn, if set, is called with +1 and -1 as connections open and
	// close.
	OnConn func(delta int)

	// sendBuffer sets SO_SNDBUF on accepted connections (tests).
	sendBuffer int
}

func (c *ServerConfig) setDefaults() {
	if c.MaxFrame <= 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 1000
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.FrameTimeout <= 0 {
		c.FrameTimeout = 30 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server accepts forward connections and hands each batch to its Handler,
// acknowledging it only after the Handler returned nil. Bad peers are cut
// off one connection at a time; the server keeps serving the rest.
type Server struct {
	cfg  ServerConfig
	ln   net.Listener
	busy atomic.Int64 // batches in Handler across connections
	// ctx is the context of Handler calls; cancel aborts them when Close
	// runs out of time.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop and connection handlers

	mu    sync.Mutex // protects conns, quit's closing and refused
	conns map[net.Conn]struct{}
	quit  chan struct{}
	// refused counts refusals by reason; logged says when each reason was
	// last logged and how many were not.
	refused map[string]int64
	logged  map[string]*logState
}

type logState struct {
	last       time.Time
	suppressed int
}

// Listen starts a server on cfg.Addr.
func Listen(cfg ServerConfig) (*Server, error) {
	cfg.setDefaults()
	if cfg.Handler == nil {
		return nil, errors.New("forward server: no handler")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("forward server: listen %s: %w", cfg.Addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, ln: ln, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{},
		quit: make(chan struct{}), refused: map[string]int64{}, logged: map[string]*logState{}}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Refused returns how many frames or connections were refused, by reason.
func (s *Server) Refused() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.refused))
	for k, v := range s.refused {
		out[k] = v
	}
	return out
}

// Load is the number of batches being committed right now.
func (s *Server) Load() int { return int(s.busy.Load()) }

func (s *Server) stopping() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// Close stops accepting, wakes connections waiting for a frame and lets
// the batches being committed finish and be acknowledged. If ctx ends
// first, those commits are cancelled and every connection closed. Close
// returns after every goroutine of the server ended; it is safe twice.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.stopping() {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	close(s.quit)
	for c := range s.conns {
		_ = c.SetReadDeadline(time.Unix(1, 0))
	}
	s.mu.Unlock()
	_ = s.ln.Close()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("forward server: close: %w", ctx.Err())
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.cancel()
	return err
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.stopping() {
				return
			}
			// Out of file descriptors and the like: back off, as net/http.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.cfg.Logger.Warn("forward accept failed; retrying", "err", err, "delay", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.quit:
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.stopping() {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		if s.cfg.MaxConns > 0 && len(s.conns) >= s.cfg.MaxConns {
			s.mu.Unlock()
			s.refuse(c, reasonMaxConns, fmt.Errorf("more than %d connections", s.cfg.MaxConns), 0)
			_ = c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// refuse counts and logs a refused frame or connection and, when seq is
// known or zero, tries to tell the peer why with a fatal nack. At most one
// line per reason per second is logged; the rest are counted in the next.
func (s *Server) refuse(c net.Conn, reason string, err error, seq uint64) {
	now := time.Now()
	s.mu.Lock()
	s.refused[reason]++
	ls := s.logged[reason]
	if ls == nil {
		ls = &logState{}
		s.logged[reason] = ls
	}
	log := now.Sub(ls.last) >= time.Second
	suppressed := ls.suppressed
	if log {
		ls.last, ls.suppressed = now, 0
	} else {
		ls.suppressed++
	}
	s.mu.Unlock()
	if s.cfg.OnRefused != nil {
		s.cfg.OnRefused(reason)
	}
	if log {
		s.cfg.Logger.Warn("forward peer refused; connection closed", "reason", reason, "err", err,
			"remote", c.RemoteAddr().String(), "suppressed", suppressed)
	}
	// No nack where the peer cannot read one: it does not read at all,
	// its TLS failed, or TLS has not started (over the connection limit).
	if reason != reasonSlowReader && reason != reasonTLS && (reason != reasonMaxConns || s.cfg.TLS == nil) {
		// Best effort: the peer may be gone or not reading.
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write(AppendFrame(nil, KindNack, CodecNone, seq, appendNack(nil, NackFatal, reason+": "+err.Error())))
	}
}

// serve runs one connection: handshake, then batches until the peer
// closes, a refusal, or Close.
func (s *Server) serve(raw net.Conn) {
	defer s.wg.Done()
	if s.cfg.OnConn != nil {
		s.cfg.OnConn(1)
		defer s.cfg.OnConn(-1)
	}
	c := raw
	defer func() {
		_ = c.Close()
		s.mu.Lock()
		delete(s.conns, raw)
		s.mu.Unlock()
	}()
	if s.cfg.sendBuffer > 0 {
		if tc, ok := raw.(*net.TCPConn); ok {
			_ = tc.SetWriteBuffer(s.cfg.sendBuffer)
		}
	}
	_ = c.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	if s.cfg.TLS != nil {
		tc := tls.Server(raw, s.cfg.TLS)
		if err := tc.HandshakeContext(s.ctx); err != nil {
			if !s.stopping() {
				s.refuse(raw, reasonTLS, err, 0)
			}
			return
		}
		c = tc
	}
	br := bufio.NewReaderSize(c, 64<<10)
	hdr := make([]byte, HeaderSize)
	if !s.handshake(c, br, hdr) {
		return
	}
	_ = c.SetDeadline(time.Time{})
	dec := &decompressor{max: s.cfg.MaxFrame}
	defer dec.close()
	var out []byte
	for {
		// Wait for the next frame to begin, then give it FrameTimeout.
		var idle time.Time
		if s.cfg.IdleTimeout > 0 {
			idle = time.Now().Add(s.cfg.IdleTimeout)
		}
		s.mu.Lock()
		if s.stopping() {
			s.mu.Unlock()
			return
		}
		_ = c.SetReadDeadline(idle)
		s.mu.Unlock()
		if _, err := br.Peek(1); err != nil {
			if !s.stopping() && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.cfg.Logger.Debug("forward connection ended", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		s.mu.Lock()
		if s.stopping() {
			s.mu.Unlock()
			return // the client resends what it did not get an ack for
		}
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.FrameTimeout))
		s.mu.Unlock()
		f, err := readFrame(br, hdr, s.cfg.MaxFrame)
		if err != nil {
			if s.stopping() {
				return // woken by Close in the middle of a frame: the client resends it
			}
			s.refuse(c, Reason(err), err, 0)
			return
		}
		if f.Kind != KindBatch {
			s.refuse(c, "garbage", fmt.Errorf("%w: %s frame where a batch was expected", ErrBadHeader, f.Kind), f.Seq)
			return
		}
		rawPayload, err := dec.decompress(f.Codec, f.Payload)
		var events []event.Event
		if err == nil {
			events, err = DecodeBatch(rawPayload, s.cfg.MaxEvents)
		}
		if err != nil {
			s.refuse(c, Reason(err), err, f.Seq)
			return
		}
		out = s.commit(events, f.Seq, out[:0])
		_ = c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := c.Write(out); err != nil {
			if isTimeout(err) {
				s.refuse(c, reasonSlowReader, errSlowReader, f.Seq)
			}
			return
		}
	}
}

// handshake reads hello and answers welcome, or refuses.
func (s *Server) handshake(c net.Conn, br *bufio.Reader, hdr []byte) bool {
	f, err := readFrame(br, hdr, 4096)
	if err != nil {
		if errors.Is(err, io.EOF) || s.stopping() {
			return false // connected and left, as a port probe does
		}
		s.refuse(c, Reason(err), err, 0)
		return false
	}
	if f.Kind != KindHello || f.Codec != CodecNone {
		s.refuse(c, "handshake", fmt.Errorf("%w: first frame is %s, not hello", errHandshake, f.Kind), f.Seq)
		return false
	}
	h, err := decodeHello(f.Payload)
	if err != nil {
		s.refuse(c, "handshake", fmt.Errorf("%w: %w", errHandshake, err), f.Seq)
		return false
	}
	if s.cfg.Group != "" && h.Group != "" && h.Group != s.cfg.Group {
		s.refuse(c, "handshake", fmt.Errorf("%w: client %q asks for group %q, this server is in %q",
			errHandshake, h.Name, h.Group, s.cfg.Group), f.Seq)
		return false
	}
	w := welcome{Group: s.cfg.Group, Name: s.cfg.Name, MaxFrame: s.cfg.MaxFrame, MaxEvents: s.cfg.MaxEvents}
	if _, err := c.Write(AppendFrame(nil, KindWelcome, CodecNone, f.Seq, w.append(nil))); err != nil {
		return false
	}
	return true
}

// commit hands events to the handler and appends the reply to out.
func (s *Server) commit(events []event.Event, seq uint64, out []byte) []byte {
	load := s.busy.Add(1)
	err := s.cfg.Handler(s.ctx, events)
	s.busy.Add(-1)
	if err == nil {
		return AppendFrame(out, KindAck, CodecNone, seq, ack{Events: len(events), Load: int(load)}.append(nil))
	}
	code := NackRetry
	if errors.Is(err, component.ErrTooLarge) {
		code = NackPermanent
	}
	return AppendFrame(out, KindNack, CodecNone, seq, appendNack(nil, code, err.Error()))
}

// isTimeout reports a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// sortedReasons lists the reasons of a Refused map, for stable logs.
func sortedReasons(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
