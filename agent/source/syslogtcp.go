package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// SyslogTCPConfig is the configuration of a syslogtcp source (Flume's
// SyslogTcpSource), with Flume's property names and defaults except where
// noted.
type SyslogTCPConfig struct {
	// Host is the address to listen on. Default 127.0.0.1: Flume listens
	// on every interface when host is unset.
	Host string `prop:"host"`
	// Port is the TCP port to listen on. Required; 0 picks a free port
	// (see SyslogTCP.Addr).
	Port int `prop:"port,required"`
	// EventSize is the longest message in bytes; a longer one is cut into
	// pieces flagged Incomplete (see SyslogHeaderStatus). Default 2500;
	// values under 10 mean 10, as in Flume.
	EventSize int `prop:"eventSize"`
	// KeepFields says what of the header goes into the body: "none" (the
	// default: the message only), "all" (the whole line), or a list of
	// priority, version, timestamp and hostname. Flume's "true" and
	// "false" mean all and none.
	KeepFields string `prop:"keepFields"`
	// ClientIPHeader, if set, is the name of a header that gets the
	// client's IP address.
	ClientIPHeader string `prop:"clientIPHeader"`
	// ClientHostnameHeader, if set, is the name of a header that gets the
	// client's host name (a reverse lookup of its address, once per
	// connection; the address when the lookup fails).
	ClientHostnameHeader string `prop:"clientHostnameHeader"`
	// Batch is a vscope extension: the most messages put as one batch.
	// The complete messages already read from a connection, up to Batch,
	// go to the channel in one transaction. Default 100.
	Batch int `prop:"batchSize"`
}

// NewSyslogTCPConfig returns the defaults.
func NewSyslogTCPConfig() *SyslogTCPConfig {
	return &SyslogTCPConfig{Host: "127.0.0.1", EventSize: syslogDefaultEventSize, KeepFields: "none", Batch: 100}
}

// Defaults shared by the syslog sources.
const (
	syslogDefaultEventSize = 2500 // Flume's SyslogUtils.DEFAULT_SIZE
	syslogMinEventSize     = 10   // Flume's SyslogUtils.MIN_SIZE
	// syslogMaxEventSize bounds eventSize so a connection's buffer stays
	// reasonable.
	syslogMaxEventSize = 64 << 20
)

// Validate checks the bounds and keepFields.
func (c *SyslogTCPConfig) Validate() error {
	return validateSyslogCommon(c.Host, []int{c.Port}, c.EventSize, c.KeepFields, c.Batch)
}

func validateSyslogCommon(host string, ports []int, eventSize int, keep string, batch int) error {
	var errs []error
	if strings.TrimSpace(host) == "" {
		errs = append(errs, errors.New("host must not be empty"))
	}
	for _, p := range ports {
		if p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("port must be 0 to 65535, got %d", p))
		}
	}
	if eventSize > syslogMaxEventSize {
		errs = append(errs, fmt.Errorf("eventSize must be at most %d, got %d", syslogMaxEventSize, eventSize))
	}
	if _, err := parseSyslogKeep(keep); err != nil {
		errs = append(errs, err)
	}
	if batch <= 0 {
		errs = append(errs, fmt.Errorf("batchSize must be positive, got %d", batch))
	}
	return errors.Join(errs...)
}

// BatchSize implements component.BatchSizer.
func (c *SyslogTCPConfig) BatchSize() int { return c.Batch }

// SetBatchSize lowers a default batch size to fit the channel.
func (c *SyslogTCPConfig) SetBatchSize(n int) { c.Batch = n }

// SyslogTCP is an event-driven source that receives syslog messages over
// TCP, like Flume's syslogtcp source. Messages are newline-terminated or
// RFC 6587 octet-counted ("LEN SP MSG"), and parsed as RFC 5424 or RFC
// 3164 the way Flume's SyslogUtils parses them (see parseSyslog): the
// headers are Facility, Severity, priority, version, timestamp (epoch
// milliseconds) and host, the body is the message (or more, see
// keepFields).
//
// Malformed input is never dropped: a message without a valid "<PRI>" is
// kept whole with header flume.syslog.status = Invalid, and a message
// longer than eventSize is cut into pieces, the first flagged Incomplete
// (its remainder follows as further events, as in Flume). Each such event
// also counts one EventReadFail. A message cut short by an error or by
// Stop is flagged Incomplete; an unterminated last line of a connection
// the client closed is a normal message.
//
// Each connection is served by one goroutine that reads, frames and
// parses, and puts up to batchSize messages as one batch. Syslog has no
// acknowledgements, so a put the channel refuses is retried with back-off
// (the connection is not read meanwhile, which slows the client down
// through TCP) until it succeeds or the source stops; a batch still
// refused when the source stops is dropped, counted in ChannelWriteFail
// and logged.
type SyslogTCP struct {
	srv *syslogTCPServer
}

// NewSyslogTCP builds a syslogtcp source. set.Processor is required; a
// nil Logger or Counter is replaced by a discarding logger or private
// counters.
func NewSyslogTCP(set component.SourceSettings, cfg SyslogTCPConfig) (*SyslogTCP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Processor == nil {
		return nil, errors.New("syslogtcp: no processor")
	}
	keep, _ := parseSyslogKeep(cfg.KeepFields)
	srv := &syslogTCPServer{
		kind:       "syslogtcp",
		set:        withDefaults(set),
		host:       strings.TrimSpace(cfg.Host),
		ports:      []int{cfg.Port},
		eventSize:  max(cfg.EventSize, syslogMinEventSize),
		batch:      cfg.Batch,
		keep:       keep,
		ipHeader:   cfg.ClientIPHeader,
		nameHeader: cfg.ClientHostnameHeader,
	}
	return &SyslogTCP{srv: srv}, nil
}

// Start listens on host:port and serves connections until Stop. A listen
// error is returned; an accept error after that is reported to host.
func (s *SyslogTCP) Start(ctx context.Context, host component.Host) error {
	return s.srv.start(host)
}

// Stop closes the listener and stops reading from every connection; each
// connection puts what it has read and is closed. If ctx ends first, puts
// in flight are cancelled and the connections closed at once. Stop
// returns after every goroutine of the source ended.
func (s *SyslogTCP) Stop(ctx context.Context) error { return s.srv.stop(ctx) }

// Addr is the address the source listens on, or nil when it is not
// running. With port 0 it tells which port was picked.
func (s *SyslogTCP) Addr() net.Addr {
	if a := s.srv.addrs(); len(a) > 0 {
		return a[0]
	}
	return nil
}

// SyslogTCPFactory is the factory of `type = syslogtcp`.
func SyslogTCPFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:      "syslogtcp",
		Aliases:   []string{"org.apache.flume.source.SyslogTcpSource"},
		NewConfig: func() component.Config { return NewSyslogTCPConfig() },
		Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			s, err := NewSyslogTCP(set, *cfg.(*SyslogTCPConfig))
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}

// syslogTCPServer is the TCP server the syslogtcp and multiport_syslogtcp
// sources share: listeners on one or more ports, one goroutine per
// connection.
type syslogTCPServer struct {
	kind       string // type name for messages
	set        component.SourceSettings
	host       string
	ports      []int
	eventSize  int
	batch      int
	keep       syslogKeep
	ipHeader   string
	nameHeader string
	portHeader string                // multiport only
	charsets   map[int]syslogCharset // multiport only: by configured port
	charset    syslogCharset         // multiport only: the default

	mu  sync.Mutex    // protects run
	run *syslogTCPRun // nil when not running
}

// syslogTCPRun is one Start..Stop of a syslogTCPServer.
type syslogTCPRun struct {
	srv  *syslogTCPServer
	host component.Host
	lns  []net.Listener
	// ctx is the context of puts; cancel aborts them when Stop runs out
	// of time.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loops and every connection handler

	mu    sync.Mutex // protects conns
	conns map[net.Conn]struct{}
	quit  chan struct{} // closed when Stop begins, under mu
}

func (s *syslogTCPServer) start(host component.Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != nil {
		return fmt.Errorf("%s: already started", s.kind)
	}
	var lns []net.Listener
	for _, p := range s.ports {
		addr := net.JoinHostPort(s.host, strconv.Itoa(p))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return fmt.Errorf("%s: listen %s: %w", s.kind, addr, err)
		}
		lns = append(lns, ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &syslogTCPRun{
		srv:    s,
		host:   hostOrNop(host, s.set.Logger),
		lns:    lns,
		ctx:    ctx,
		cancel: cancel,
		conns:  map[net.Conn]struct{}{},
		quit:   make(chan struct{}),
	}
	s.run = r
	s.set.Counter.MarkStarted()
	for i, ln := range lns {
		s.set.Logger.Info(s.kind+" source listening", "addr", ln.Addr().String())
		charset := s.charset
		if c, ok := s.charsets[s.ports[i]]; ok {
			charset = c
		}
		r.wg.Add(1)
		go r.acceptLoop(ln, charset)
	}
	return nil
}

func (s *syslogTCPServer) addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run == nil {
		return nil
	}
	out := make([]net.Addr, len(s.run.lns))
	for i, ln := range s.run.lns {
		out[i] = ln.Addr()
	}
	return out
}

func (s *syslogTCPServer) stop(ctx context.Context) error {
	s.mu.Lock()
	r := s.run
	s.run = nil
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	r.mu.Lock()
	close(r.quit)
	for c := range r.conns {
		// Wake blocked reads; a handler puts what it has read first.
		_ = c.SetReadDeadline(time.Unix(1, 0))
	}
	r.mu.Unlock()
	for _, ln := range r.lns {
		_ = ln.Close()
	}
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("%s: stop: %w", s.kind, ctx.Err())
		r.cancel()
		r.mu.Lock()
		for c := range r.conns {
			_ = c.Close()
		}
		r.mu.Unlock()
		<-done
	}
	r.cancel()
	s.set.Counter.MarkStopped()
	return err
}

func (r *syslogTCPRun) stopping() bool {
	select {
	case <-r.quit:
		return true
	default:
		return false
	}
}

// acceptLoop accepts connections on ln until it is closed. Temporary
// errors are retried with back-off, as net/http does; any other error is
// fatal.
func (r *syslogTCPRun) acceptLoop(ln net.Listener, charset syslogCharset) {
	defer r.wg.Done()
	s := r.srv
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if r.stopping() {
				return
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.set.Logger.Warn(s.kind+" accept failed; retrying", "err", err, "delay", delay)
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-r.quit:
					t.Stop()
					return
				}
				continue
			}
			r.host.ReportFatal(fmt.Errorf("%s: accept: %w", s.kind, err))
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
		s.set.Counter.ConnOpened()
		go r.serve(c, charset)
	}
}

// serve reads messages from c until the client closes, an I/O error, or
// Stop.
func (r *syslogTCPRun) serve(c net.Conn, charset syslogCharset) {
	defer r.wg.Done()
	defer func() {
		_ = c.Close()
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		r.srv.set.Counter.ConnClosed()
	}()
	s := r.srv
	d := syslogDecoder{keep: s.keep, loc: time.Local, charset: charset}
	if s.ipHeader != "" || s.nameHeader != "" {
		d.setExtra(s.ipHeader, remoteIP(c.RemoteAddr()))
		if s.nameHeader != "" {
			d.setExtra(s.nameHeader, lookupHostname(r.ctx, remoteIP(c.RemoteAddr())))
		}
	}
	if s.portHeader != "" {
		port := 0
		if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
			port = a.Port
		}
		d.setExtra(s.portHeader, strconv.Itoa(port))
	}
	var (
		fr     = syslogFramer{max: s.eventSize}
		buf    = make([]byte, max(syslogFramerBuffer(s.eventSize), 32<<10))
		lo, hi int // unread bytes are buf[lo:hi]
		frames []syslogFrame
		batch  []event.Event
	)
	for {
		n, rerr := c.Read(buf[hi:])
		hi += n
		atEOF := rerr != nil
		for {
			frames = frames[:0]
			for len(frames) < s.batch {
				f, used, ok := fr.next(buf[lo:hi], atEOF)
				if ok {
					f.start += lo
					f.end += lo
					if f.atEnd && !errors.Is(rerr, io.EOF) {
						// Cut short by an error or by Stop, not ended
						// by the client.
						f.incomplete = true
					}
					frames = append(frames, f)
				}
				lo += used
				if !ok {
					break
				}
			}
			if len(frames) == 0 {
				break
			}
			batch = r.decode(&d, buf, frames, batch)
			if !syslogPut(r.ctx, &s.set, batch, r.quit, s.kind) {
				clear(batch)
				return
			}
			clear(batch) // do not pin the bodies until the next batch
		}
		hi = copy(buf, buf[lo:hi])
		lo = 0
		if rerr != nil {
			if !r.stopping() && !errors.Is(rerr, net.ErrClosed) && !errors.Is(rerr, io.EOF) {
				s.set.Logger.Debug(s.kind+" connection ended", "remote", c.RemoteAddr().String(), "err", rerr)
			}
			return
		}
	}
}

// decode parses the frames in buf into events in batch (reusing its
// array). The bodies are copied into one fresh slab, since buf is reused.
func (r *syslogTCPRun) decode(d *syslogDecoder, buf []byte, frames []syslogFrame, batch []event.Event) []event.Event {
	now := time.Now()
	batch = batch[:0]
	total := 0
	for _, f := range frames {
		ev, st := d.decode(buf[f.start:f.end], f.incomplete, now)
		if st != syslogOK {
			r.srv.set.Counter.EventReadFail.Inc()
		}
		total += len(ev.Body)
		batch = append(batch, ev)
	}
	copyBodies(batch, total)
	return batch
}

// copyBodies moves the bodies of batch, total bytes, into one fresh slab.
func copyBodies(batch []event.Event, total int) {
	slab := make([]byte, total)
	off := 0
	for i := range batch {
		k := copy(slab[off:], batch[i].Body)
		batch[i].Body = slab[off : off+k : off+k]
		off += k
	}
}

// syslogPut puts batch, retrying with back-off while the channel refuses
// it, and keeps the Flume counters: received once, ChannelWriteFail for
// every failed attempt, accepted once it committed. Once quit is closed it
// tries once more and gives up; a batch that can never fit the channel is
// put event by event. It reports false when the batch was not put because
// ctx ended.
func syslogPut(ctx context.Context, set *component.SourceSettings, batch []event.Event, quit <-chan struct{}, kind string) bool {
	c := set.Counter
	c.AppendBatchReceived.Inc()
	c.EventReceived.Add(len(batch))
	var delay time.Duration
	for {
		start := time.Now()
		err := set.Processor.Process(ctx, batch)
		c.PutDuration.UpdateDuration(start)
		if err == nil {
			c.AppendBatchAccepted.Inc()
			c.EventAccepted.Add(len(batch))
			return true
		}
		c.ChannelWriteFail.Inc()
		if ctx.Err() != nil {
			set.Logger.Warn(kind+" put abandoned at stop; events lost", "events", len(batch), "err", err)
			return false
		}
		if errors.Is(err, component.ErrTooLarge) && len(batch) > 1 {
			for i := range batch {
				one := batch[i : i+1]
				if err := set.Processor.Process(ctx, one); err != nil {
					c.ChannelWriteFail.Inc()
					set.Logger.Warn(kind+" event can never fit the channel; dropped", "bytes", len(one[0].Body), "err", err)
					continue
				}
				c.EventAccepted.Inc()
			}
			c.AppendBatchAccepted.Inc()
			return ctx.Err() == nil
		}
		select {
		case <-quit:
			set.Logger.Warn(kind+" channel refused a batch while stopping; events lost", "events", len(batch), "err", err)
			return true
		default:
		}
		if errors.Is(err, component.ErrTooLarge) {
			set.Logger.Warn(kind+" event can never fit the channel; dropped", "bytes", len(batch[0].Body), "err", err)
			return true
		}
		delay = min(max(2*delay, 10*time.Millisecond), time.Second)
		set.Logger.Debug(kind+" put failed; retrying", "events", len(batch), "err", err, "delay", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-quit:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// remoteIP is the IP address of a peer, as Java's getHostAddress gives
// it (without the port).
func remoteIP(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case *net.UDPAddr:
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// syslogLookupTimeout bounds a reverse lookup of a client's name.
const syslogLookupTimeout = 2 * time.Second

// lookupHostname is the host name of ip by reverse lookup, or ip itself
// when there is none (as Java's InetSocketAddress.getHostName).
func lookupHostname(ctx context.Context, ip string) string {
	ctx, cancel := context.WithTimeout(ctx, syslogLookupTimeout)
	defer cancel()
	names, err := net.DefaultResolver.LookupAddr(ctx, ip)
	if err != nil || len(names) == 0 {
		return ip
	}
	return strings.TrimSuffix(names[0], ".")
}
