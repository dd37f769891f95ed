package faults

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Link is the impairment a Proxy puts on the connections through it. The
// zero value passes bytes through untouched.
type Link struct {
	// Delay is added to every chunk of bytes in each direction, so a
	// request-answer round trip takes 2*Delay longer (netem on both ends).
	Delay time.Duration
	// Jitter adds a uniform [0, Jitter) to each chunk's delay; order is
	// kept, as TCP keeps it.
	Jitter time.Duration
	// Loss is the probability that a chunk is lost on the wire. TCP
	// retransmits it, so the stream is intact but the chunk, and everything
	// behind it, arrives RTO later (head-of-line blocking).
	Loss float64
	// RTO is the retransmission timeout a lost chunk costs (default
	// 200 ms, Linux's minimum).
	RTO time.Duration
	// Bandwidth caps each direction of each connection in bytes per
	// second (0: unlimited).
	Bandwidth int64
}

// String is the link in the form the fault specs use.
func (l Link) String() string {
	s := fmt.Sprintf("delay=%v", l.Delay)
	if l.Jitter > 0 {
		s += fmt.Sprintf(",jitter=%v", l.Jitter)
	}
	if l.Loss > 0 {
		s += fmt.Sprintf(",loss=%g", l.Loss)
	}
	if l.Bandwidth > 0 {
		s += fmt.Sprintf(",bw=%d", l.Bandwidth)
	}
	return s
}

func (l Link) rto() time.Duration {
	if l.RTO > 0 {
		return l.RTO
	}
	return 200 * time.Millisecond
}

// ProxyStats counts what went through a Proxy.
type ProxyStats struct {
	Conns  int64 // connections accepted
	Bytes  int64 // bytes forwarded, both directions
	Chunks int64 // chunks forwarded
	Lost   int64 // chunks that were "lost" and paid the RTO
}

// Proxy is a TCP proxy between two tiers whose Link can be changed while
// connections run: the network of a fault. Each accepted connection is
// dialled through to the target; bytes are forwarded in chunks (one read's
// worth), each released after the link's delay. A chunk queue per
// direction keeps the delay from limiting throughput (bytes in flight are
// not bounded by the delay), up to a bounded backlog that pushes back on
// the sender as a full TCP window does.
type Proxy struct {
	ln     net.Listener
	target string
	link   atomic.Pointer[Link]

	conns, bytes, chunks, lost atomic.Int64

	mu     sync.Mutex // protects open and closed
	open   map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewProxy listens on listen (e.g. 127.0.0.1:0) and forwards to target.
func NewProxy(listen, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("proxy to %s: %w", target, err)
	}
	p := &Proxy{ln: ln, target: target, open: map[net.Conn]struct{}{}}
	p.link.Store(&Link{})
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the proxy listens on.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Set changes the link; chunks read from now on get the new impairment.
func (p *Proxy) Set(l Link) { p.link.Store(&l) }

// Link is the current impairment.
func (p *Proxy) Link() Link { return *p.link.Load() }

// Stats returns the counts so far.
func (p *Proxy) Stats() ProxyStats {
	return ProxyStats{Conns: p.conns.Load(), Bytes: p.bytes.Load(), Chunks: p.chunks.Load(), Lost: p.lost.Load()}
}

// Close stops listening and cuts every connection; safe twice.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.open {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.open[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.conns.Add(1)
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve pipes one client connection to the target, both ways. When either
// side ends, both connections are closed: the proxy is transparent to a
// reset or a close, as the network would be to a FIN.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return // the client sees its connection closed: the target is down
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client); done <- struct{}{} }()
	go func() { p.pipe(client, server); done <- struct{}{} }()
	<-done
	_ = client.Close()
	_ = server.Close()
	<-done
}

// chunk is bytes read from one side, to be written to the other at due.
type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst through the link: a reader stamps each chunk with
// its release time, a writer waits for it (and for the bandwidth) and
// writes.
func (p *Proxy) pipe(dst, src net.Conn) {
	q := make(chan chunk, 256)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(q)
		var last time.Time
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				l := p.link.Load()
				due := time.Now()
				d := l.Delay
				if l.Jitter > 0 {
					d += rand.N(l.Jitter)
				}
				if l.Loss > 0 && rand.Float64() < l.Loss {
					d += l.rto()
					p.lost.Add(1)
				}
				due = due.Add(d)
				if due.Before(last) {
					due = last // order is kept
				}
				last = due
				q <- chunk{buf[:n], due}
			}
			if err != nil {
				return
			}
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var next time.Time // bandwidth: earliest time of the next write
	failed := false
	for c := range q {
		if failed {
			continue // drain so the reader ends
		}
		due := c.due
		if next.After(due) {
			due = next
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			<-timer.C
		}
		if _, err := dst.Write(c.b); err != nil {
			failed = true
			_ = src.Close()
			continue
		}
		p.bytes.Add(int64(len(c.b)))
		p.chunks.Add(1)
		if bw := p.link.Load().Bandwidth; bw > 0 {
			next = time.Now().Add(time.Duration(float64(len(c.b)) / float64(bw) * float64(time.Second)))
		} else {
			next = time.Time{}
		}
	}
	wg.Wait()
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && !failed {
		_ = cw.CloseWrite()
	}
}
