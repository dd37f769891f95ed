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

// NetcatUDPConfig is the configuration of a netcatudp source (Flume's
// NetcatUdpSource), with Flume's property names and defaults.
type NetcatUDPConfig struct {
	// Bind is the host name or IP address to listen on. Required, as in
	// Flume.
	Bind string `prop:"bind,required"`
	// Port is the UDP port to listen on. Required; 0 picks a free port
	// (see NetcatUDP.Addr).
	Port int `prop:"port,required"`
	// RemoteAddressHeader, when set, names a header that receives the
	// sender's address in Java's InetSocketAddress.toString() form, as
	// Flume writes it: "/127.0.0.1:40000". Default: no header.
	RemoteAddressHeader string `prop:"remoteAddressHeader"`
}

// NewNetcatUDPConfig returns Flume's defaults.
func NewNetcatUDPConfig() *NetcatUDPConfig { return &NetcatUDPConfig{} }

// Validate checks the bounds.
func (c *NetcatUDPConfig) Validate() error {
	switch {
	case strings.TrimSpace(c.Bind) == "":
		return errors.New("bind must not be empty")
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("port must be 0 to 65535, got %d", c.Port)
	}
	return nil
}

// maxDatagram is the largest UDP payload (64 KiB, the limit RFC 5426 and
// Flume use).
const maxDatagram = 1 << 16

// NetcatUDP is an event-driven source that listens on a UDP port and turns
// datagrams into events, like Flume's netcatudp source.
//
// Each datagram is split at "\n" and every line becomes an event; a final
// "\n" ends the last line and adds no empty event, and an empty datagram is
// one empty event. Flume keeps only a datagram's first line and drops the
// rest; vscope keeps every line. A '\r' is kept, as in Flume. The lines of
// one datagram are put as one batch. UDP has no way to push back, so a
// batch the channel refuses is dropped and counted (ChannelWriteFail, one
// per batch) and logged, as Flume drops such an event.
type NetcatUDP struct {
	cfg NetcatUDPConfig
	set component.SourceSettings

	mu  sync.Mutex // protects run
	run *udpRun    // nil when not running
}

// udpRun is one Start..Stop of a NetcatUDP.
type udpRun struct {
	conn   net.PacketConn
	ctx    context.Context // of puts; cancelled when Stop runs out of time
	cancel context.CancelFunc
	quit   chan struct{} // closed when Stop begins
	done   chan struct{} // closed when the read loop returned
}

// NewNetcatUDP builds a netcatudp source. set.Processor is required; a nil
// Logger or Counter is replaced by a discarding logger or private counters.
func NewNetcatUDP(set component.SourceSettings, cfg NetcatUDPConfig) (*NetcatUDP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Processor == nil {
		return nil, errors.New("netcatudp: no processor")
	}
	return &NetcatUDP{cfg: cfg, set: withDefaults(set)}, nil
}

// Start listens on bind:port and reads datagrams until Stop. A listen
// error is returned; a read error after that is reported to host.
func (n *NetcatUDP) Start(_ context.Context, host component.Host) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.run != nil {
		return errors.New("netcatudp: already started")
	}
	addr := net.JoinHostPort(strings.TrimSpace(n.cfg.Bind), strconv.Itoa(n.cfg.Port))
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("netcatudp: listen %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &udpRun{conn: conn, ctx: ctx, cancel: cancel, quit: make(chan struct{}), done: make(chan struct{})}
	n.run = r
	n.set.Counter.MarkStarted()
	n.set.Logger.Info("netcatudp source listening", "addr", conn.LocalAddr().String())
	go n.readLoop(r, hostOrNop(host, n.set.Logger))
	return nil
}

// Addr is the address the source listens on, or nil when it is not
// running. With port 0 it tells which port was picked.
func (n *NetcatUDP) Addr() net.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.run == nil {
		return nil
	}
	return n.run.conn.LocalAddr()
}

// Stop closes the socket; a batch being put is finished unless ctx ends
// first, in which case the put is cancelled. Stop returns after the read
// loop ended. Datagrams still queued in the socket are discarded.
func (n *NetcatUDP) Stop(ctx context.Context) error {
	n.mu.Lock()
	r := n.run
	n.run = nil
	n.mu.Unlock()
	if r == nil {
		return nil
	}
	close(r.quit)
	_ = r.conn.Close()
	var err error
	select {
	case <-r.done:
	case <-ctx.Done():
		err = fmt.Errorf("netcatudp: stop: %w", ctx.Err())
		r.cancel()
		<-r.done
	}
	r.cancel()
	n.set.Counter.MarkStopped()
	return err
}

func (n *NetcatUDP) readLoop(r *udpRun, host component.Host) {
	defer close(r.done)
	buf := make([]byte, maxDatagram)
	warn := newLogLimiter(n.set.Logger, 5*time.Second)
	var batch []event.Event
	for {
		k, from, err := r.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-r.quit:
				return
			default:
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				n.set.Counter.GenericProcessFail.Inc()
				warn.log("netcatudp read failed; continuing", "err", err)
				continue
			}
			host.ReportFatal(fmt.Errorf("netcatudp: read: %w", err))
			return
		}
		batch = n.events(batch[:0], buf[:k], from)
		if err := deliver(r.ctx, &n.set, batch); err != nil {
			warn.log("netcatudp dropped a datagram the channel refused", "events", len(batch), "from", from.String(), "err", err)
		}
		clear(batch)
	}
}

// events cuts a datagram into one event per line, copying the bytes into
// one fresh slab, and appends them to batch.
func (n *NetcatUDP) events(batch []event.Event, data []byte, from net.Addr) []event.Event {
	slab := make([]byte, len(data))
	copy(slab, data)
	var remote string
	if n.cfg.RemoteAddressHeader != "" {
		remote = javaSocketAddr(from)
	}
	add := func(body []byte) {
		e := event.Event{Body: body[:len(body):len(body)]}
		if remote != "" {
			e.Headers = map[string]string{n.cfg.RemoteAddressHeader: remote}
		}
		batch = append(batch, e)
	}
	if len(slab) == 0 {
		add(slab)
		return batch
	}
	for len(slab) > 0 {
		i := bytes.IndexByte(slab, '\n')
		if i < 0 {
			add(slab)
			break
		}
		add(slab[:i])
		slab = slab[i+1:]
	}
	return batch
}

// javaSocketAddr formats addr as Java's InetSocketAddress.toString() does
// for an address without a host name: "/" + IP + ":" + port (an IPv6
// address in Go's short form, without brackets).
func javaSocketAddr(addr net.Addr) string {
	if u, ok := addr.(*net.UDPAddr); ok {
		return "/" + u.IP.String() + ":" + strconv.Itoa(u.Port)
	}
	return addr.String()
}

// NetcatUDPFactory is the factory of `type = netcatudp`.
func NetcatUDPFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:      "netcatudp",
		Aliases:   []string{"org.apache.flume.source.NetcatUdpSource"},
		NewConfig: func() component.Config { return NewNetcatUDPConfig() },
		Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			s, err := NewNetcatUDP(set, *cfg.(*NetcatUDPConfig))
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}
