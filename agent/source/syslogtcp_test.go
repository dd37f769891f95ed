package source

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
)

// startSyslogTCP starts a syslogtcp source on 127.0.0.1, port 0,
// configured by the defaults changed by edit, and stops it when the test
// ends.
func startSyslogTCP(t *testing.T, p *pipe, edit func(*SyslogTCPConfig)) *SyslogTCP {
	t.Helper()
	cfg := NewSyslogTCPConfig()
	if edit != nil {
		edit(cfg)
	}
	s, err := NewSyslogTCP(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	startStop(t, s)
	return s
}

// startStop starts s and stops it when the test ends.
func startStop(t *testing.T, s component.Source) {
	t.Helper()
	host := component.HostFunc(func(err error) { t.Errorf("ReportFatal(%v)", err) })
	if err := s.Start(context.Background(), host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
}

// sendTCP connects to addr, writes each of parts in its own write and
// closes the connection.
func sendTCP(t *testing.T, addr net.Addr, parts ...string) {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, s := range parts {
		if _, err := io.WriteString(c, s); err != nil {
			t.Fatal(err)
		}
	}
}

// waitEvents waits until the source accepted n events and returns what
// the channel holds.
func waitEvents(t *testing.T, p *pipe, n int) []event.Event {
	t.Helper()
	eventually(t, fmt.Sprintf("%d events accepted", n), func() bool { return p.metric(t, "EventAcceptedCount") >= float64(n) })
	evs := p.drain(t)
	if len(evs) != n {
		t.Fatalf("channel holds %d events, want %d: %q", len(evs), n, bodies(evs))
	}
	return evs
}

// loadSource loads a Flume configuration of one source r1 of type typ
// with props, into a memory channel.
func loadSource(f component.Factories, typ, props string) (*config.Agent, error) {
	text := "a1.sources = r1\na1.channels = c1\na1.sources.r1.channels = c1\na1.channels.c1.type = memory\n" +
		"a1.sources.r1.type = " + typ + "\n" + props
	ps, err := config.Parse(strings.NewReader(text), "test.conf")
	if err != nil {
		return nil, err
	}
	return config.Load(ps, "test.conf", "a1", f, func(string) (string, bool) { return "", false })
}

// wantEvent compares one event with the headers and body expected.
func wantEvent(t *testing.T, i int, ev event.Event, wantH map[string]string, wantBody string) {
	t.Helper()
	if !maps.Equal(ev.Headers, wantH) {
		t.Errorf("event %d: headers %v\nwant %v", i, ev.Headers, wantH)
	}
	if string(ev.Body) != wantBody {
		t.Errorf("event %d: body %q, want %q", i, ev.Body, wantBody)
	}
}

// stamp3164 is an RFC 3164 timestamp of now in the local zone, and the
// timestamp header it must give (the year is the current one).
func stamp3164() (string, string) {
	now := time.Now().Truncate(time.Second).Add(-time.Second)
	return now.Format(time.Stamp), strconv.FormatInt(now.UnixMilli(), 10)
}

func TestSyslogTCPMessages(t *testing.T) {
	p := newPipe(t, "syslogtcp", 100, 0)
	s := startSyslogTCP(t, p, nil)
	st, stMillis := stamp3164()
	garbage := "\x00\x01\xfe\xffbinary\x7f"
	sendTCP(t, s.Addr(),
		"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8\n",
		"<13>"+st+" 10.0.0.99 Use the BFG!\r\n",
		"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time\n\n\n",
		"hello, no priority\n",
		"<14>1 - - app - - msg\n"+garbage+"\n<13>just text\n<13>"+st+" h unterminated last line")
	evs := waitEvents(t, p, 8)
	wantEvent(t, 0, evs[0], hdr("Facility=4", "Severity=2", "priority=34", "version=1", "host=mymachine.example.com", "timestamp=1065910455003"),
		"su - ID47 - 'su root' failed for lonvick on /dev/pts/8")
	wantEvent(t, 1, evs[1], hdr("Facility=1", "Severity=5", "priority=13", "host=10.0.0.99", "timestamp="+stMillis), "Use the BFG!")
	wantEvent(t, 2, evs[2], hdr("Facility=20", "Severity=5", "priority=165", "version=1", "host=192.0.2.1", "timestamp=1061727255000"),
		"myproc 8710 - - %% It's time")
	wantEvent(t, 3, evs[3], hdr("Facility=0", "Severity=0", "flume.syslog.status=Invalid"), "hello, no priority")
	wantEvent(t, 4, evs[4], hdr("Facility=1", "Severity=6", "priority=14", "version=1"), "app - - msg")
	wantEvent(t, 5, evs[5], hdr("Facility=0", "Severity=0", "flume.syslog.status=Invalid"), garbage)
	wantEvent(t, 6, evs[6], hdr("Facility=1", "Severity=5"), "<13>just text")
	// The client closed after an unterminated line: a normal message.
	wantEvent(t, 7, evs[7], hdr("Facility=1", "Severity=5", "priority=13", "host=h", "timestamp="+stMillis), "unterminated last line")
	p.wantMetrics(t, map[string]float64{"EventReceivedCount": 8, "EventAcceptedCount": 8, "EventReadFail": 2, "ChannelWriteFail": 0})
}

// TestSyslogTCPOctetCounting mixes RFC 6587 octet-counted frames, which
// may hold newlines, with newline-terminated ones on one connection.
func TestSyslogTCPOctetCounting(t *testing.T) {
	p := newPipe(t, "syslogtcp", 100, 0)
	s := startSyslogTCP(t, p, nil)
	frame := func(msg string) string { return strconv.Itoa(len(msg)) + " " + msg }
	multi := "<14>1 2024-01-02T03:04:05Z h app - - - line one\nline two"
	pieces := frame("<13>1 2024-01-02T03:04:05Z h a - - - in pieces 123456789")
	sendTCP(t, s.Addr(),
		frame("<13>1 2024-01-02T03:04:05Z h a - - - first")+frame(multi),
		"<13>1 2024-01-02T03:04:05Z h a - - - newline framed\n",
		frame("<13>1 2024-01-02T03:04:05Z h a - - - with LF\n"),
		// Split in the middle of the count and of the message.
		pieces[:1], pieces[1:40], pieces[40:],
		frame("no priority"))
	evs := waitEvents(t, p, 6)
	for i, want := range []string{"a - - - first", "app - - - line one\nline two", "a - - - newline framed", "a - - - with LF", "a - - - in pieces 123456789", "no priority"} {
		if string(evs[i].Body) != want {
			t.Errorf("event %d: body %q, want %q", i, evs[i].Body, want)
		}
	}
	if evs[1].Headers["Severity"] != "6" || evs[5].Headers[SyslogHeaderStatus] != SyslogStatusInvalid {
		t.Errorf("headers %v, %v", evs[1].Headers, evs[5].Headers)
	}
}

// TestSyslogTCPTooLong sends lines longer than eventSize: each is cut,
// the first piece parsed and flagged Incomplete, the rest kept as further
// events (flagged Invalid: they have no priority), and the connection
// goes on.
func TestSyslogTCPTooLong(t *testing.T) {
	p := newPipe(t, "syslogtcp", 100, 0)
	s := startSyslogTCP(t, p, func(c *SyslogTCPConfig) { c.EventSize = 100 })
	const head = "<13>1 2024-01-02T03:04:05Z host app - - - "
	const msg = len("<13>1 2024-01-02T03:04:05Z host ") // where the body starts
	long := head + strings.Repeat("x", 250-len(head))
	octet := head + strings.Repeat("y", 150-len(head))
	sendTCP(t, s.Addr(), long+"\n<13>1 - h after\n"+strconv.Itoa(len(octet))+" "+octet+"<13>1 - h end\n")
	evs := waitEvents(t, p, 7)
	wantEvent(t, 0, evs[0], hdr("Facility=1", "Severity=5", "priority=13", "version=1", "host=host", "timestamp=1704164645000", "flume.syslog.status=Incomplete"),
		long[msg:100])
	wantEvent(t, 1, evs[1], hdr("Facility=0", "Severity=0", "flume.syslog.status=Invalid"), long[100:200])
	wantEvent(t, 2, evs[2], hdr("Facility=0", "Severity=0", "flume.syslog.status=Invalid"), long[200:])
	wantEvent(t, 3, evs[3], hdr("Facility=1", "Severity=5", "priority=13", "version=1", "host=h"), "after")
	wantEvent(t, 4, evs[4], hdr("Facility=1", "Severity=5", "priority=13", "version=1", "host=host", "timestamp=1704164645000", "flume.syslog.status=Incomplete"),
		octet[msg:100])
	wantEvent(t, 5, evs[5], hdr("Facility=0", "Severity=0", "flume.syslog.status=Invalid"), octet[100:])
	wantEvent(t, 6, evs[6], hdr("Facility=1", "Severity=5", "priority=13", "version=1", "host=h"), "end")
	p.wantMetrics(t, map[string]float64{"EventAcceptedCount": 7, "EventReadFail": 5})
}

// TestSyslogTCPBinary sends random bytes without line breaks: they come
// out as eventSize pieces, all Invalid, that put together are the input.
func TestSyslogTCPBinary(t *testing.T) {
	p := newPipe(t, "syslogtcp", 1000, 0)
	s := startSyslogTCP(t, p, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 64<<10)
	for i := range data {
		for data[i] == 0 || data[i] == '\n' || data[i] == '\r' || data[i] == '<' || isDigit(data[i]) {
			data[i] = byte(rng.UintN(256))
		}
	}
	sendTCP(t, s.Addr(), string(data[:1000]), string(data[1000:]))
	n := (len(data) + 2499) / 2500
	evs := waitEvents(t, p, n)
	var got []byte
	for i, ev := range evs {
		if ev.Headers[SyslogHeaderStatus] != SyslogStatusInvalid || len(ev.Body) > 2500 {
			t.Fatalf("event %d: %d bytes, headers %v", i, len(ev.Body), ev.Headers)
		}
		got = append(got, ev.Body...)
	}
	if !bytes.Equal(got, data) {
		t.Error("the events do not add up to the input")
	}
	p.wantMetrics(t, map[string]float64{"EventReadFail": float64(n)})
}

// TestSyslogTCPManyClients sends from many connections at once, half of
// them octet-counting: every message arrives, in order per connection.
func TestSyslogTCPManyClients(t *testing.T) {
	const clients, each = 40, 250
	p := newPipe(t, "syslogtcp", clients*each, 0)
	s := startSyslogTCP(t, p, func(c *SyslogTCPConfig) { c.Batch = 37 })
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			var b strings.Builder
			for i := 0; i < each; i++ {
				msg := fmt.Sprintf("<14>1 2024-01-02T03:04:05Z client%d app - - - %d", c, i)
				if c%2 == 0 {
					fmt.Fprintf(&b, "%d %s", len(msg), msg)
				} else {
					b.WriteString(msg + "\n")
				}
				if b.Len() > 2000 || i == each-1 {
					if _, err := io.WriteString(conn, b.String()); err != nil {
						t.Error(err)
						return
					}
					b.Reset()
				}
			}
		}()
	}
	wg.Wait()
	evs := waitEvents(t, p, clients*each)
	next := map[string]int{}
	for _, ev := range evs {
		host := ev.Headers["host"]
		if want := fmt.Sprintf("app - - - %d", next[host]); string(ev.Body) != want {
			t.Fatalf("%s: body %q, want %q", host, ev.Body, want)
		}
		next[host]++
	}
	if len(next) != clients {
		t.Errorf("%d clients seen", len(next))
	}
	p.wantMetrics(t, map[string]float64{"EventReadFail": 0, "OpenConnectionCount": 0})
}

func TestSyslogTCPClientHeadersAndKeepFields(t *testing.T) {
	p := newPipe(t, "syslogtcp", 100, 0)
	s := startSyslogTCP(t, p, func(c *SyslogTCPConfig) {
		c.ClientIPHeader, c.ClientHostnameHeader, c.KeepFields = "clientip", "clientname", "all"
	})
	line := "<13>1 2024-01-02T03:04:05Z h app - - - m"
	sendTCP(t, s.Addr(), line+"\nbad\n")
	evs := waitEvents(t, p, 2)
	name := lookupHostname(context.Background(), "127.0.0.1")
	wantEvent(t, 0, evs[0], hdr("Facility=1", "Severity=5", "priority=13", "version=1", "host=h", "timestamp=1704164645000",
		"clientip=127.0.0.1", "clientname="+name), line)
	wantEvent(t, 1, evs[1], hdr("Facility=0", "Severity=0", "flume.syslog.status=Invalid", "clientip=127.0.0.1", "clientname="+name), "bad")
	if name == "" {
		t.Error("no client host name")
	}
}

// TestSyslogTCPChannelFull sends more than a small channel holds: puts
// are retried until a slow taker makes room, and nothing is lost.
func TestSyslogTCPChannelFull(t *testing.T) {
	const total = 60
	p := newPipe(t, "syslogtcp", 10, 0)
	s := startSyslogTCP(t, p, func(c *SyslogTCPConfig) { c.Batch = 4 })
	var b strings.Builder
	for i := 0; i < total; i++ {
		fmt.Fprintf(&b, "<13>1 - h a - - - %d\n", i)
	}
	sendTCP(t, s.Addr(), b.String())
	eventually(t, "a refused put", func() bool { return p.metric(t, "ChannelWriteFail") > 0 })
	var got []string
	eventually(t, "every event", func() bool {
		got = append(got, bodies(p.drain(t))...)
		return len(got) >= total
	})
	for i, body := range got {
		if want := fmt.Sprintf("a - - - %d", i); body != want {
			t.Fatalf("event %d: %q, want %q", i, body, want)
		}
	}
	p.wantMetrics(t, map[string]float64{"EventReceivedCount": total, "EventAcceptedCount": total})
}

// TestSyslogTCPStopWithFullChannel stops a source whose channel stays
// full: Stop gives the blocked put one more try and returns.
func TestSyslogTCPStopWithFullChannel(t *testing.T) {
	p := newPipe(t, "syslogtcp", 5, 0)
	cfg := NewSyslogTCPConfig()
	cfg.Batch = 5
	s, err := NewSyslogTCP(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 20; i++ {
		fmt.Fprintf(c, "<13>1 - h - - - - %d\n", i)
	}
	eventually(t, "a refused put", func() bool { return p.metric(t, "ChannelWriteFail") > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %v", d)
	}
	// What the channel holds depends on how the lines were batched (3
	// then a refused 5, or 5 then refused): it is every accepted event,
	// at most the capacity.
	n := len(p.drain(t))
	if acc := p.metric(t, "EventAcceptedCount"); n < 1 || n > 5 || float64(n) != acc {
		t.Errorf("channel holds %d events, %v accepted, capacity 5", n, acc)
	}
}

// syslogTypes are the three syslog source types with a config for tests.
var syslogTypes = []struct {
	name string
	new  func(set component.SourceSettings) (component.Source, error)
}{
	{"syslogtcp", func(set component.SourceSettings) (component.Source, error) {
		return NewSyslogTCP(set, *NewSyslogTCPConfig())
	}},
	{"syslogudp", func(set component.SourceSettings) (component.Source, error) {
		return NewSyslogUDP(set, *NewSyslogUDPConfig())
	}},
	{"multiport_syslogtcp", func(set component.SourceSettings) (component.Source, error) {
		cfg := NewMultiportSyslogTCPConfig()
		cfg.Ports = []string{"0", "0"}
		return NewMultiportSyslogTCP(set, *cfg)
	}},
}

// TestSyslogLifecycle is the lifecycle every source passes (see
// TestLifecycle): Stop without Start, Stop twice, Start again after Stop,
// and a second Start refused.
func TestSyslogLifecycle(t *testing.T) {
	for _, tc := range syslogTypes {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := newPipe(t, tc.name, 100, 0)
			host := component.HostFunc(func(err error) { t.Errorf("ReportFatal(%v)", err) })
			s, err := tc.new(p.set)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Stop(ctx); err != nil {
				t.Fatalf("Stop without Start: %v", err)
			}
			for round := 0; round < 2; round++ {
				if err := s.Start(ctx, host); err != nil {
					t.Fatalf("Start (round %d): %v", round, err)
				}
				a := s.(addrOf).Addr()
				if a == nil {
					t.Fatal("Addr is nil while running")
				}
				// The port is really open: a message gets through.
				c, err := net.Dial(a.Network(), a.String())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.WriteString(c, "<13>1 - h - - - - hello\n"); err != nil {
					t.Fatal(err)
				}
				_ = c.Close()
				eventually(t, "the message", func() bool { return p.metric(t, "EventAcceptedCount") == float64(round+1) })
				if err := s.Start(ctx, host); err == nil {
					t.Fatal("second Start succeeded")
				}
				if err := s.Stop(ctx); err != nil {
					t.Fatalf("Stop: %v", err)
				}
				if err := s.Stop(ctx); err != nil {
					t.Fatalf("Stop twice: %v", err)
				}
				if s.(addrOf).Addr() != nil {
					t.Fatal("Addr is not nil after Stop")
				}
			}
			p.wantMetrics(t, map[string]float64{"OpenConnectionCount": 0})
		})
	}
}

// TestSyslogStartFailure checks a port in use fails Start and leaves
// nothing open.
func TestSyslogStartFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	p := newPipe(t, "multiport_syslogtcp", 100, 0)
	cfg := NewMultiportSyslogTCPConfig()
	cfg.Ports = []string{"0", busy}
	s, err := NewMultiportSyslogTCP(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "listen 127.0.0.1:"+busy) {
		t.Fatalf("Start: %v", err)
	}
	if s.Addrs() != nil {
		t.Error("Addrs is not nil after a failed Start")
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestSyslogFactories decodes each type from Flume properties, under its
// short name and its Flume class name, and builds it.
func TestSyslogFactories(t *testing.T) {
	f := component.NewFactories(
		[]component.SourceFactory{SyslogTCPFactory(), SyslogUDPFactory(), MultiportSyslogTCPFactory()},
		[]component.ChannelFactory{channel.MemoryFactory()}, nil)
	f2 := func(typ, props string, want component.Config) {
		t.Helper()
		a, err := loadSource(f, typ, props)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		src := a.Sources[0]
		if fmt.Sprintf("%+v", src.Config) != fmt.Sprintf("%+v", want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", typ, src.Config, want)
		}
		p := newPipe(t, typ, 100, 0)
		if s, err := src.Factory.Create(p.set, src.Config); err != nil || s == nil {
			t.Fatalf("Create: %v, %v", s, err)
		}
	}
	f2("syslogtcp", "a1.sources.r1.port = 5140\n", &SyslogTCPConfig{Host: "127.0.0.1", Port: 5140, EventSize: 2500, KeepFields: "none", Batch: 100})
	f2("org.apache.flume.source.SyslogTcpSource", "a1.sources.r1.port = 5140\na1.sources.r1.host = localhost\na1.sources.r1.eventSize = 100\n"+
		"a1.sources.r1.keepFields = priority hostname\na1.sources.r1.clientIPHeader = ip\na1.sources.r1.clientHostnameHeader = name\na1.sources.r1.batchSize = 10\n",
		&SyslogTCPConfig{Host: "localhost", Port: 5140, EventSize: 100, KeepFields: "priority hostname", ClientIPHeader: "ip", ClientHostnameHeader: "name", Batch: 10})
	f2("syslogudp", "a1.sources.r1.port = 5140\n", &SyslogUDPConfig{Host: "127.0.0.1", Port: 5140, KeepFields: "none", Batch: 100})
	f2("org.apache.flume.source.SyslogUDPSource", "a1.sources.r1.port = 5140\na1.sources.r1.host = 0.0.0.0\na1.sources.r1.keepFields = true\n",
		&SyslogUDPConfig{Host: "0.0.0.0", Port: 5140, KeepFields: "true", Batch: 100})
	f2("multiport_syslogtcp", "a1.sources.r1.ports = 10001 10002\n", &MultiportSyslogTCPConfig{Host: "127.0.0.1", Ports: []string{"10001", "10002"},
		EventSize: 2500, KeepFields: "none", CharsetDefault: "UTF-8", Batch: 100, ReadBufferSize: 1024})
	f2("org.apache.flume.source.MultiportSyslogTCPSource", "a1.sources.r1.ports = 10001 10002 10003\na1.sources.r1.host = 0.0.0.0\n"+
		"a1.sources.r1.portHeader = port\na1.sources.r1.charset.default = ISO-8859-1\na1.sources.r1.charset.port.10002 = UTF-8\n"+
		"a1.sources.r1.batchSize = 50\na1.sources.r1.readBufferSize = 4096\na1.sources.r1.numProcessors = 4\na1.sources.r1.eventSize = 9000\n",
		&MultiportSyslogTCPConfig{Host: "0.0.0.0", Ports: []string{"10001", "10002", "10003"}, EventSize: 9000, KeepFields: "none",
			PortHeader: "port", CharsetDefault: "ISO-8859-1", CharsetPort: map[string]string{"10002": "UTF-8"}, Batch: 50, ReadBufferSize: 4096, NumProcessors: 4})
}

// TestSyslogBadConfig checks that bad properties are reported with their
// key.
func TestSyslogBadConfig(t *testing.T) {
	f := component.NewFactories(
		[]component.SourceFactory{SyslogTCPFactory(), SyslogUDPFactory(), MultiportSyslogTCPFactory()},
		[]component.ChannelFactory{channel.MemoryFactory()}, nil)
	f2 := func(typ, props, want string) {
		t.Helper()
		_, err := loadSource(f, typ, props)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s %q: error %v, want it to contain %q", typ, props, err, want)
		}
	}
	f2("syslogtcp", "", "a1.sources.r1.port: required property is missing")
	f2("syslogtcp", "a1.sources.r1.port = 70000\n", "port must be 0 to 65535")
	f2("syslogtcp", "a1.sources.r1.port = 1\na1.sources.r1.keepFields = host\n", `keepFields: unknown field "host"`)
	f2("syslogtcp", "a1.sources.r1.port = 1\na1.sources.r1.eventSize = big\n", `"big" is not an integer`)
	f2("syslogtcp", "a1.sources.r1.port = 1\na1.sources.r1.batchSize = 0\n", "batchSize must be positive")
	f2("syslogtcp", "a1.sources.r1.port = 1\na1.sources.r1.batchSize = 1000\n", "batchSize 1000 exceeds transactionCapacity 100")
	f2("syslogtcp", "a1.sources.r1.port = 1\na1.sources.r1.host = \n", "host must not be empty")
	f2("syslogtcp", "a1.sources.r1.port = 1\na1.sources.r1.ssl = true\n", `unknown property "ssl"`)
	f2("syslogtcp", "a1.sources.r1.port = 1\na1.sources.r1.ports = 2\n", `unknown property "ports"`)
	f2("syslogudp", "a1.sources.r1.host = localhost\n", "a1.sources.r1.port: required property is missing")
	f2("syslogudp", "a1.sources.r1.port = 1\na1.sources.r1.keepFields = everything\n", `keepFields: unknown field "everything"`)
	f2("syslogudp", "a1.sources.r1.port = 1\na1.sources.r1.format.regex = x\n", `unknown property "format.regex"`)
	f2("multiport_syslogtcp", "a1.sources.r1.port = 1\n", "a1.sources.r1.ports: required property is missing")
	f2("multiport_syslogtcp", "a1.sources.r1.ports = 1 x\n", `ports: "x" is not a port number`)
	f2("multiport_syslogtcp", "a1.sources.r1.ports = \n", "ports must list at least one port")
	f2("multiport_syslogtcp", "a1.sources.r1.ports = 1 2 1\n", "port 1 is listed twice")
	f2("multiport_syslogtcp", "a1.sources.r1.ports = 1 70000\n", "port must be 0 to 65535, got 70000")
	f2("multiport_syslogtcp", "a1.sources.r1.ports = 1\na1.sources.r1.charset.default = UTF-16\n", `charset.default: charset "UTF-16" is not supported`)
	f2("multiport_syslogtcp", "a1.sources.r1.ports = 1\na1.sources.r1.charset.port.2 = UTF-8\n", "charset.port.2: port 2 is not one of ports")
	f2("multiport_syslogtcp", "a1.sources.r1.ports = 1\na1.sources.r1.charset.port.1 = EBCDIC\n", `charset.port.1: charset "EBCDIC" is not supported`)
	f2("multiport_syslogtcp", "a1.sources.r1.ports = 1\na1.sources.r1.readBufferSize = 0\n", "readBufferSize must be positive")
	f2("multiport_syslogtcp", "a1.sources.r1.ports = 1\na1.sources.r1.numProcessors = -1\n", "numProcessors must not be negative")
}

func TestSyslogNewRequiresProcessor(t *testing.T) {
	for _, tc := range syslogTypes {
		if _, err := tc.new(component.SourceSettings{}); err == nil || !strings.Contains(err.Error(), "no processor") {
			t.Errorf("%s: error %v, want no processor", tc.name, err)
		}
	}
}

// BenchmarkSyslogTCP sends RFC 5424 lines over one connection into a
// syslogtcp source and a memory channel that a goroutine drains; one op
// is one line.
func BenchmarkSyslogTCP(b *testing.B) {
	p := newPipe(b, "syslogtcp", 100000, 3)
	cfg := NewSyslogTCPConfig()
	cfg.Batch = 1000
	s, err := NewSyslogTCP(p.set, *cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(context.Background(), nil); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Stop(context.Background()) }()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	line := []byte("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] An application event log entry\n")
	chunk := bytes.Repeat(line, 256)
	done := make(chan int)
	go func() {
		n := 0
		for n < b.N {
			tx, err := p.ch.Take(context.Background(), 1000)
			if err != nil {
				b.Error(err)
				break
			}
			n += len(tx.Events())
			_ = tx.Commit()
			if len(tx.Events()) == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
		done <- n
	}()
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		k := min(256, b.N-sent)
		if _, err := c.Write(chunk[:k*len(line)]); err != nil {
			b.Fatal(err)
		}
		sent += k
	}
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
