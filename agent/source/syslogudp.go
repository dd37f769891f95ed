package source

import (
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

// SyslogUDPConfig is the configuration of a syslogudp source (Flume's
// SyslogUDPSource), with Flume's property names and defaults except where
// noted.
type SyslogUDPConfig struct {
	// Host is the address to listen on. Default 127.0.0.1: Flume listens
	// on every interface when host is unset.
	Host string `prop:"host"`
	// Port is the UDP port to listen on. Required; 0 picks a free port
	// (see SyslogUDP.Addr).
	Port int `prop:"port,required"`
	// KeepFields is as for syslogtcp. Default "none".
	KeepFields string `prop:"keepFields"`
	// ClientIPHeader, if set, is the name of a header that gets the
	// sender's IP address.
	ClientIPHeader string `prop:"clientIPHeader"`
	// ClientHostnameHeader, if set, is the name of a header that gets the
	// sender's host name (a reverse lookup, cached per address; the
	// address when the lookup fails).
	ClientHostnameHeader string `prop:"clientHostnameHeader"`
	// Batch is a vscope extension: the most datagrams put as one batch.
	// Datagrams that arrive while a put is running are put together, up
	// to Batch. Default 100.
	Batch int `prop:"batchSize"`
}

// NewSyslogUDPConfig returns the defaults.
func NewSyslogUDPConfig() *SyslogUDPConfig {
	return &SyslogUDPConfig{Host: "127.0.0.1", KeepFields: "none", Batch: 100}
}

// Validate checks the bounds and keepFields.
func (c *SyslogUDPConfig) Validate() error {
	return validateSyslogCommon(c.Host, []int{c.Port}, syslogDefaultEventSize, c.KeepFields, c.Batch)
}

// BatchSize implements component.BatchSizer.
func (c *SyslogUDPConfig) BatchSize() int { return c.Batch }

// SetBatchSize lowers a default batch size to fit the channel.
func (c *SyslogUDPConfig) SetBatchSize(n int) { c.Batch = n }

// syslogDatagram is the largest datagram read whole (RFC 5426's 64 KiB,
// Flume's maxsize); a larger one cannot arrive over IPv4 or plain IPv6.
const syslogDatagram = 1 << 16

// SyslogUDP is an event-driven source that receives syslog messages over
// UDP, like Flume's syslogudp source: each datagram is one message (a
// trailing newline is dropped), parsed as SyslogTCP parses a message.
// Malformed datagrams are kept and flagged Invalid, and counted in
// EventReadFail; an empty datagram is skipped.
//
// One goroutine reads and parses datagrams and hands them to another that
// puts them in batches of up to batchSize: everything that arrived while
// the previous put ran. A put the channel refuses is retried with back-off
// until it succeeds or the source stops (UDP cannot slow the sender down:
// datagrams that arrive meanwhile wait in the socket's receive buffer,
// and the kernel drops what does not fit, as it would for Flume).
type SyslogUDP struct {
	cfg  SyslogUDPConfig
	set  component.SourceSettings
	keep syslogKeep

	mu  sync.Mutex    // protects run
	run *syslogUDPRun // nil when not running
}

// syslogUDPRun is one Start..Stop of a SyslogUDP.
type syslogUDPRun struct {
	conn   *net.UDPConn
	ctx    context.Context // of puts; cancelled when Stop runs out of time
	cancel context.CancelFunc
	quit   chan struct{}     // closed when Stop begins
	events chan event.Event  // reader -> putter; closed when the reader ends
	done   chan struct{}     // closed when the putter ended
	names  map[string]string // reverse lookups by IP; reader only
	wg     sync.WaitGroup    // the reader and the putter
	host   component.Host
}

// NewSyslogUDP builds a syslogudp source. set.Processor is required; a
// nil Logger or Counter is replaced by a discarding logger or private
// counters.
func NewSyslogUDP(set component.SourceSettings, cfg SyslogUDPConfig) (*SyslogUDP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Processor == nil {
		return nil, errors.New("syslogudp: no processor")
	}
	keep, _ := parseSyslogKeep(cfg.KeepFields)
	return &SyslogUDP{cfg: cfg, set: withDefaults(set), keep: keep}, nil
}

// Start listens on host:port and reads datagrams until Stop.
func (s *SyslogUDP) Start(_ context.Context, host component.Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run != nil {
		return errors.New("syslogudp: already started")
	}
	addr := net.JoinHostPort(strings.TrimSpace(s.cfg.Host), strconv.Itoa(s.cfg.Port))
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("syslogudp: listen %s: %w", addr, err)
	}
	conn := pc.(*net.UDPConn)
	// A larger receive buffer rides out bursts; the kernel caps it
	// (net.core.rmem_max), so failure is not an error.
	_ = conn.SetReadBuffer(syslogUDPReadBuffer)
	ctx, cancel := context.WithCancel(context.Background())
	r := &syslogUDPRun{
		conn:   conn,
		ctx:    ctx,
		cancel: cancel,
		quit:   make(chan struct{}),
		events: make(chan event.Event, s.cfg.Batch),
		names:  map[string]string{},
		host:   hostOrNop(host, s.set.Logger),
	}
	s.run = r
	s.set.Counter.MarkStarted()
	s.set.Logger.Info("syslogudp source listening", "addr", pc.LocalAddr().String())
	r.wg.Add(2)
	go s.read(r)
	go s.put(r)
	return nil
}

// Addr is the address the source listens on, or nil when it is not
// running. With port 0 it tells which port was picked.
func (s *SyslogUDP) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.run == nil {
		return nil
	}
	return s.run.conn.LocalAddr()
}

// Stop closes the socket, puts the datagrams already read and returns
// after both goroutines ended. If ctx ends first, the put in flight is
// cancelled and the datagrams not yet put are lost (and counted in
// ChannelWriteFail).
func (s *SyslogUDP) Stop(ctx context.Context) error {
	s.mu.Lock()
	r := s.run
	s.run = nil
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	close(r.quit)
	_ = r.conn.Close()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("syslogudp: stop: %w", ctx.Err())
		r.cancel()
		<-done
	}
	r.cancel()
	s.set.Counter.MarkStopped()
	return err
}

// read reads datagrams until the socket is closed.
func (s *SyslogUDP) read(r *syslogUDPRun) {
	defer r.wg.Done()
	defer close(r.events)
	buf := make([]byte, syslogDatagram)
	d := syslogDecoder{keep: s.keep, loc: time.Local}
	fails := 0
	for {
		n, from, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			select {
			case <-r.quit:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A datagram error is not fatal to the socket; a socket that
			// fails every read is.
			if fails++; fails >= syslogUDPMaxFails {
				r.host.ReportFatal(fmt.Errorf("syslogudp: read: %w", err))
				return
			}
			s.set.Logger.Debug("syslogudp read failed", "err", err)
			continue
		}
		fails = 0
		msg := buf[:n]
		if n > 0 && msg[n-1] == '\n' {
			msg = msg[:n-1]
			if len(msg) > 0 && msg[len(msg)-1] == '\r' {
				msg = msg[:len(msg)-1]
			}
		}
		if len(msg) == 0 {
			continue
		}
		d.nx = 0
		if s.cfg.ClientIPHeader != "" || s.cfg.ClientHostnameHeader != "" {
			ip := from.IP.String()
			d.setExtra(s.cfg.ClientIPHeader, ip)
			if s.cfg.ClientHostnameHeader != "" {
				d.setExtra(s.cfg.ClientHostnameHeader, r.hostname(ip))
			}
		}
		ev, st := d.decode(msg, false, time.Now())
		if st != syslogOK {
			s.set.Counter.EventReadFail.Inc()
		}
		ev.Body = append([]byte(nil), ev.Body...)
		r.events <- ev
	}
}

// syslogUDPReadBuffer is the socket receive buffer a syslogudp source
// asks for.
const syslogUDPReadBuffer = 4 << 20

// syslogUDPMaxFails is how many reads in a row may fail before the
// socket is reported broken.
const syslogUDPMaxFails = 100

// syslogNameCache bounds the reverse-lookup cache of a syslogudp source.
const syslogNameCache = 4096

// hostname is the cached reverse lookup of ip.
func (r *syslogUDPRun) hostname(ip string) string {
	if name, ok := r.names[ip]; ok {
		return name
	}
	if len(r.names) >= syslogNameCache {
		clear(r.names)
	}
	name := lookupHostname(r.ctx, ip)
	r.names[ip] = name
	return name
}

// put puts the events the reader hands over, in batches of what is
// waiting, until the reader ended and everything it read was put.
func (s *SyslogUDP) put(r *syslogUDPRun) {
	defer r.wg.Done()
	batch := make([]event.Event, 0, s.cfg.Batch)
	for ev := range r.events {
		batch = append(batch[:0], ev)
	more:
		for len(batch) < s.cfg.Batch {
			select {
			case ev, ok := <-r.events:
				if !ok {
					break more
				}
				batch = append(batch, ev)
			default:
				break more
			}
		}
		// When Stop runs out of time the puts fail fast (and are counted)
		// until the reader has ended.
		syslogPut(r.ctx, &s.set, batch, r.quit, "syslogudp")
		clear(batch)
	}
}

// SyslogUDPFactory is the factory of `type = syslogudp`.
func SyslogUDPFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:      "syslogudp",
		Aliases:   []string{"org.apache.flume.source.SyslogUDPSource"},
		NewConfig: func() component.Config { return NewSyslogUDPConfig() },
		Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			s, err := NewSyslogUDP(set, *cfg.(*SyslogUDPConfig))
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}
