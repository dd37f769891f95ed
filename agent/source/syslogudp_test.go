package source

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
)

// startSyslogUDP starts a syslogudp source on 127.0.0.1, port 0,
// configured by the defaults changed by edit, and stops it when the test
// ends.
func startSyslogUDP(t *testing.T, p *pipe, edit func(*SyslogUDPConfig)) *SyslogUDP {
	t.Helper()
	cfg := NewSyslogUDPConfig()
	if edit != nil {
		edit(cfg)
	}
	s, err := NewSyslogUDP(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	startStop(t, s)
	return s
}

// sendUDP sends each message as one datagram.
func sendUDP(t *testing.T, addr net.Addr, msgs ...string) {
	t.Helper()
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range msgs {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSyslogUDPMessages(t *testing.T) {
	p := newPipe(t, "syslogudp", 100, 0)
	s := startSyslogUDP(t, p, func(c *SyslogUDPConfig) { c.ClientIPHeader = "ip" })
	st, stMillis := stamp3164()
	big := "<13>1 - h app - - - " + strings.Repeat("z", 60000)
	sendUDP(t, s.Addr(),
		"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed\n",
		"<13>"+st+" 10.0.0.99 Use the BFG!",
		"", "\n", // empty datagrams are skipped
		"not syslog\r\n",
		"<13>first line\nsecond line", // one datagram is one message
		big,
		"\xff\xfe\x00")
	evs := waitEvents(t, p, 6)
	wantEvent(t, 0, evs[0], hdr("Facility=4", "Severity=2", "priority=34", "version=1", "host=mymachine.example.com", "timestamp=1065910455003", "ip=127.0.0.1"),
		"su - ID47 - 'su root' failed")
	wantEvent(t, 1, evs[1], hdr("Facility=1", "Severity=5", "priority=13", "host=10.0.0.99", "timestamp="+stMillis, "ip=127.0.0.1"), "Use the BFG!")
	wantEvent(t, 2, evs[2], hdr("Facility=0", "Severity=0", "flume.syslog.status=Invalid", "ip=127.0.0.1"), "not syslog")
	wantEvent(t, 3, evs[3], hdr("Facility=1", "Severity=5", "ip=127.0.0.1"), "<13>first line\nsecond line")
	wantEvent(t, 4, evs[4], hdr("Facility=1", "Severity=5", "priority=13", "version=1", "host=h", "ip=127.0.0.1"), big[len("<13>1 - h "):])
	wantEvent(t, 5, evs[5], hdr("Facility=0", "Severity=0", "flume.syslog.status=Invalid", "ip=127.0.0.1"), "\xff\xfe\x00")
	p.wantMetrics(t, map[string]float64{"EventAcceptedCount": 6, "EventReadFail": 2, "ChannelWriteFail": 0})
}

func TestSyslogUDPKeepFieldsAndHostname(t *testing.T) {
	p := newPipe(t, "syslogudp", 100, 0)
	s := startSyslogUDP(t, p, func(c *SyslogUDPConfig) { c.KeepFields, c.ClientHostnameHeader = "timestamp hostname", "from" })
	sendUDP(t, s.Addr(), "<13>1 2024-01-02T03:04:05Z h app - - - m", "<13>1 2024-01-02T03:04:05Z h2 app - - - n")
	evs := waitEvents(t, p, 2)
	name := lookupHostname(context.Background(), "127.0.0.1")
	wantEvent(t, 0, evs[0], hdr("Facility=1", "Severity=5", "priority=13", "version=1", "host=h", "timestamp=1704164645000", "from="+name),
		"2024-01-02T03:04:05Z h app - - - m")
	wantEvent(t, 1, evs[1], hdr("Facility=1", "Severity=5", "priority=13", "version=1", "host=h2", "timestamp=1704164645000", "from="+name),
		"2024-01-02T03:04:05Z h2 app - - - n")
}

// TestSyslogUDPManySenders sends from several sockets at once; every
// datagram arrives, in order per sender.
func TestSyslogUDPManySenders(t *testing.T) {
	const senders, each = 8, 50
	p := newPipe(t, "syslogudp", senders*each, 0)
	s := startSyslogUDP(t, p, func(c *SyslogUDPConfig) { c.Batch = 16 })
	var wg sync.WaitGroup
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("udp", s.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for j := 0; j < each; j++ {
				if _, err := fmt.Fprintf(c, "<14>1 - sender%d app - - - %d\n", i, j); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	evs := waitEvents(t, p, senders*each)
	next := map[string]int{}
	for _, ev := range evs {
		host := ev.Headers["host"]
		if want := fmt.Sprintf("app - - - %d", next[host]); string(ev.Body) != want {
			t.Fatalf("%s: body %q, want %q", host, ev.Body, want)
		}
		next[host]++
	}
}

// TestSyslogUDPChannelFull fills a small channel: puts are retried until
// a taker makes room.
func TestSyslogUDPChannelFull(t *testing.T) {
	const total = 30
	p := newPipe(t, "syslogudp", 5, 0)
	s := startSyslogUDP(t, p, func(c *SyslogUDPConfig) { c.Batch = 5 })
	for i := 0; i < total; i++ {
		sendUDP(t, s.Addr(), fmt.Sprintf("<13>1 - h a - - - %d", i))
	}
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
}
