package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// NetcatConfig is the configuration of a netcat source (Flume's
// NetcatSource), with Flume's property names and defaults.
type NetcatConfig struct {
	// Bind is the host name or IP address to listen on. Required, as in
	// Flume.
	Bind string `prop:"bind,required"`
	// Port is the TCP port to listen on. Required; 0 picks a free port
	// (see Netcat.Addr).
	Port int `prop:"port,required"`
	// MaxLineLength is the longest line accepted, in bytes, counting the
	// newline as Flume does (and a '\r' before it). Default 512. Flume
	// counts UTF-16 chars; vscope counts bytes.
	MaxLineLength int `prop:"max-line-length"`
	// AckEveryEvent makes the source answer "OK\n" for every event once
	// the event is committed to the channel. Default true. FAILED replies
	// are sent either way.
	AckEveryEvent bool `prop:"ack-every-event"`
	// Batch is a vscope extension: the most lines put as one batch. All
	// complete lines already read from a connection, up to Batch, go to
	// the channel in one transaction. Default 100.
	Batch int `prop:"batchSize"`
}

// NewNetcatConfig returns Flume's defaults.
func NewNetcatConfig() *NetcatConfig {
	return &NetcatConfig{MaxLineLength: 512, AckEveryEvent: true, Batch: 100}
}

// Validate checks the bounds.
func (c *NetcatConfig) Validate() error {
	switch {
	case strings.TrimSpace(c.Bind) == "":
		return errors.New("bind must not be empty")
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("port must be 0 to 65535, got %d", c.Port)
	case c.MaxLineLength < 2:
		return fmt.Errorf("max-line-length must be at least 2 (one byte and the newline), got %d", c.MaxLineLength)
	case c.Batch <= 0:
		return fmt.Errorf("batchSize must be positive, got %d", c.Batch)
	}
	return nil
}

// BatchSize implements component.BatchSizer.
func (c *NetcatConfig) BatchSize() int { return c.Batch }

// SetBatchSize lowers a default batch size to fit the channel.
func (c *NetcatConfig) SetBatchSize(n int) { c.Batch = n }

// netcatReadBuffer is the least read buffer of a connection; it is larger
// when max-line-length is.
const netcatReadBuffer = 32 << 10

// Netcat is an event-driven source that listens on a TCP port and turns
// each line of text into an event, like Flume's netcat source.
//
// Each connection is served by one goroutine that reads, cuts the complete
// lines out of its buffer, puts up to batchSize of them as one batch and
// then answers every line in order: "OK\n" after the batch committed (if
// ack-every-event), "FAILED: Unable to process event: <reason>\n" for every
// line of a batch the channel refused, and "FAILED: Event exceeds the
// maximum length (N chars, including newline)\n" for a line longer than
// max-line-length, whose remainder is then discarded; the connection stays
// open in every case. Lines end with "\n"; a "\r" before it is stripped.
// An unterminated last line is dropped when the client closes, as in Flume.
// A client can therefore match replies to lines one to one.
type Netcat struct {
	cfg    NetcatConfig
	set    component.SourceSettings
	okAcks []byte // "OK\n" repeated Batch times

	mu  sync.Mutex // protects run
	run *netcatRun // nil when not running
}

// netcatRun is one Start..Stop of a Netcat.
type netcatRun struct {
	src  *Netcat
	host component.Host
	ln   net.Listener
	// ctx is the context of puts; cancel aborts them when Stop runs out
	// of time.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and every connection handler

	mu    sync.Mutex // protects conns and quit
	conns map[net.Conn]struct{}
	quit  chan struct{} // closed when Stop begins
}

// NewNetcat builds a netcat source. set.Processor is required; a nil
// Logger or Counter is replaced by a discarding logger or private counters.
func NewNetcat(set component.SourceSettings, cfg NetcatConfig) (*Netcat, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Processor == nil {
		return nil, errors.New("netcat: no processor")
	}
	return &Netcat{cfg: cfg, set: withDefaults(set), okAcks: bytes.Repeat([]byte("OK\n"), cfg.Batch)}, nil
}

// Start listens on bind:port and serves connections until Stop. A listen
// error is returned; an accept error after that is reported to host.
func (n *Netcat) Start(_ context.Context, host component.Host) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.run != nil {
		return errors.New("netcat: already started")
	}
	addr := net.JoinHostPort(strings.TrimSpace(n.cfg.Bind), strconv.Itoa(n.cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("netcat: listen %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &netcatRun{
		src:    n,
		host:   hostOrNop(host, n.set.Logger),
		ln:     ln,
		ctx:    ctx,
		cancel: cancel,
		conns:  map[net.Conn]struct{}{},
		quit:   make(chan struct{}),
	}
	n.run = r
	n.set.Counter.MarkStarted()
	n.set.Logger.Info("netcat source listening", "addr", ln.Addr().String())
	r.wg.Add(1)
	go r.acceptLoop()
	return nil
}

// Addr is the address the source listens on, or nil when it is not
// running. With port 0 it tells which port was picked.
func (n *Netcat) Addr() net.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.run == nil {
		return nil
	}
	return n.run.ln.Addr()
}

// Stop closes the listener and stops reading from every connection; each
// connection finishes the batch it holds (put and replies) and is closed.
// If ctx ends first, puts in flight are cancelled and the connections
// closed at once. Stop returns after every goroutine of the source ended.
func (n *Netcat) Stop(ctx context.Context) error {
	n.mu.Lock()
	r := n.run
	n.run = nil
	n.mu.Unlock()
	if r == nil {
		return nil
	}
	err := r.stop(ctx)
	n.set.Counter.MarkStopped()
	return err
}

func (r *netcatRun) stop(ctx context.Context) error {
	r.mu.Lock()
	close(r.quit)
	for c := range r.conns {
		// Wake blocked reads; a handler in the middle of a batch
		// finishes it first.
		_ = c.SetReadDeadline(time.Unix(1, 0))
	}
	r.mu.Unlock()
	_ = r.ln.Close()

	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("netcat: stop: %w", ctx.Err())
		r.cancel()
		r.mu.Lock()
		for c := range r.conns {
			_ = c.Close()
		}
		r.mu.Unlock()
		<-done
	}
	r.cancel()
	return err
}

func (r *netcatRun) stopping() bool {
	select {
	case <-r.quit:
		return true
	default:
		return false
	}
}

// acceptLoop accepts connections until the listener is closed. Temporary
// errors (out of file descriptors, an aborted handshake) are retried with
// back-off, as net/http does; any other error is fatal.
func (r *netcatRun) acceptLoop() {
	defer r.wg.Done()
	var delay time.Duration
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if r.stopping() {
				return
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				r.src.set.Logger.Warn("netcat accept failed; retrying", "err", err, "delay", delay)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-r.quit:
					t.Stop()
					return
				}
				continue
			}
			r.host.ReportFatal(fmt.Errorf("netcat: accept: %w", err))
			return
		}
		delay = 0
		r.mu.Lock()
		if r.stopping() {
			r.mu.Unlock()
			_ = c.Close()
			return
		}
		r.conns[c] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		r.src.set.Counter.ConnOpened()
		go r.serve(c)
	}
}

// span is a line's body inside the read buffer: buf[start:end].
type span struct{ start, end int }

// serve reads lines from c until the client closes, an I/O error, or Stop.
func (r *netcatRun) serve(c net.Conn) {
	defer r.wg.Done()
	defer func() {
		_ = c.Close()
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		r.src.set.Counter.ConnClosed()
	}()
	var (
		cfg        = &r.src.cfg
		maxLen     = cfg.MaxLineLength
		buf        = make([]byte, max(maxLen, netcatReadBuffer))
		lo, hi     int  // unread bytes are buf[lo:hi]
		discarding bool // inside the remainder of an over-long line
		spans      []span
		batch      []event.Event
		tooLong    = []byte(fmt.Sprintf("FAILED: Event exceeds the maximum length (%d chars, including newline)\n", maxLen))
	)
	for {
		n, rerr := c.Read(buf[hi:])
		hi += n
		for {
			spans = spans[:0]
			for len(spans) < cfg.Batch {
				i := bytes.IndexByte(buf[lo:hi], '\n')
				if i < 0 {
					break
				}
				if discarding {
					discarding = false
					lo += i + 1
					continue
				}
				if i+1 > maxLen {
					if len(spans) > 0 {
						break // answer the lines before this one first
					}
					r.src.set.Counter.EventReadFail.Inc()
					if _, err := c.Write(tooLong); err != nil {
						return
					}
					lo += i + 1
					continue
				}
				end := lo + i
				if end > lo && buf[end-1] == '\r' {
					end--
				}
				spans = append(spans, span{lo, end})
				lo += i + 1
			}
			if len(spans) == 0 {
				break
			}
			batch = r.cut(buf, spans, batch)
			if !r.put(c, batch) {
				return
			}
		}
		// No complete line is left in buf[lo:hi].
		if !discarding && hi-lo >= maxLen {
			// Even with its newline next, this line is too long.
			r.src.set.Counter.EventReadFail.Inc()
			if _, err := c.Write(tooLong); err != nil {
				return
			}
			discarding = true
		}
		if discarding {
			lo = hi
		}
		hi = copy(buf, buf[lo:hi])
		lo = 0
		if rerr != nil {
			if !r.stopping() && !errors.Is(rerr, net.ErrClosed) {
				r.src.set.Logger.Debug("netcat connection ended", "remote", c.RemoteAddr().String(), "err", rerr)
			}
			return
		}
	}
}

// cut copies the lines at spans into one fresh slab (the channel keeps the
// bodies, the read buffer is reused) and returns them as events in batch,
// reusing its array.
func (r *netcatRun) cut(buf []byte, spans []span, batch []event.Event) []event.Event {
	total := 0
	for _, s := range spans {
		total += s.end - s.start
	}
	slab := make([]byte, total)
	batch = batch[:0]
	off := 0
	for _, s := range spans {
		k := copy(slab[off:], buf[s.start:s.end])
		batch = append(batch, event.Event{Body: slab[off : off+k : off+k]})
		off += k
	}
	return batch
}

// put puts batch and answers each of its events. It reports false when the
// connection can no longer be written to.
func (r *netcatRun) put(c net.Conn, batch []event.Event) bool {
	src := r.src
	err := deliver(r.ctx, &src.set, batch)
	clear(batch) // do not pin the bodies until the next batch
	var reply []byte
	switch {
	case err == nil && src.cfg.AckEveryEvent:
		reply = src.okAcks[:3*len(batch)]
	case err != nil:
		src.set.Logger.Debug("netcat put failed", "events", len(batch), "err", err)
		reason := strings.ReplaceAll(err.Error(), "\n", " ")
		reply = bytes.Repeat([]byte("FAILED: Unable to process event: "+reason+"\n"), len(batch))
	}
	if len(reply) == 0 {
		return true
	}
	_, werr := c.Write(reply)
	return werr == nil
}

// NetcatFactory is the factory of `type = netcat`.
func NetcatFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:      "netcat",
		Aliases:   []string{"org.apache.flume.source.NetcatSource"},
		NewConfig: func() component.Config { return NewNetcatConfig() },
		Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			s, err := NewNetcat(set, *cfg.(*NetcatConfig))
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}
