package source

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
)

// startMultiport starts a multiport_syslogtcp source on 127.0.0.1
// configured by the defaults changed by edit, and stops it when the test
// ends.
func startMultiport(t *testing.T, p *pipe, edit func(*MultiportSyslogTCPConfig)) *MultiportSyslogTCP {
	t.Helper()
	cfg := NewMultiportSyslogTCPConfig()
	if edit != nil {
		edit(cfg)
	}
	s, err := NewMultiportSyslogTCP(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	startStop(t, s)
	return s
}

// freePort is a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestMultiportPortHeaderAndCharsets(t *testing.T) {
	p := newPipe(t, "multiport_syslogtcp", 100, 0)
	latin := strconv.Itoa(freePort(t))
	s := startMultiport(t, p, func(c *MultiportSyslogTCPConfig) {
		c.Ports = []string{"0", latin, "0"}
		c.PortHeader = "port"
		c.CharsetPort = map[string]string{latin: "ISO-8859-1"}
	})
	addrs := s.Addrs()
	if len(addrs) != 3 || addrs[1].(*net.TCPAddr).Port != mustAtoi(t, latin) || s.Addr() != addrs[0] {
		t.Fatalf("Addrs %v", addrs)
	}
	const cafe = "<13>1 2024-01-02T03:04:05Z h app - - - caf\xe9"
	for i, a := range addrs {
		sendTCP(t, a, fmt.Sprintf("<13>1 - h app - - - to %d\n", i), cafe+"\n")
	}
	evs := waitEvents(t, p, 6)
	byPort := map[string][]string{}
	for _, ev := range evs {
		byPort[ev.Headers["port"]] = append(byPort[ev.Headers["port"]], string(ev.Body)+"|"+ev.Headers[SyslogHeaderStatus])
	}
	for i, a := range addrs {
		port := strconv.Itoa(a.(*net.TCPAddr).Port)
		got := byPort[port]
		// On the UTF-8 ports the Latin-1 byte makes the message Invalid,
		// kept whole.
		want := []string{fmt.Sprintf("app - - - to %d|", i), cafe + "|Invalid"}
		if port == latin {
			want[1] = "app - - - caf\xe9|"
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("port %s: %q, want %q", port, got, want)
		}
	}
	p.wantMetrics(t, map[string]float64{"EventReadFail": 2})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMultiportManyClients sends from many connections to several ports
// at once: every message arrives, in order per connection.
func TestMultiportManyClients(t *testing.T) {
	const clients, each = 30, 200
	p := newPipe(t, "multiport_syslogtcp", clients*each, 0)
	s := startMultiport(t, p, func(c *MultiportSyslogTCPConfig) {
		c.Ports, c.PortHeader, c.Batch = []string{"0", "0", "0"}, "port", 50
	})
	addrs := s.Addrs()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addrs[c%len(addrs)].String())
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			for i := 0; i < each; i++ {
				msg := fmt.Sprintf("<14>Mar  1 00:00:00 client%d %d", c, i)
				if _, err := fmt.Fprintf(conn, "%d %s", len(msg), msg); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	evs := waitEvents(t, p, clients*each)
	next := map[string]int{}
	for _, ev := range evs {
		host := ev.Headers["host"]
		c := mustAtoi(t, host[len("client"):])
		if want := strconv.Itoa(next[host]); string(ev.Body) != want {
			t.Fatalf("%s: body %q, want %q", host, ev.Body, want)
		}
		if want := strconv.Itoa(addrs[c%len(addrs)].(*net.TCPAddr).Port); ev.Headers["port"] != want {
			t.Fatalf("%s: port %s, want %s", host, ev.Headers["port"], want)
		}
		next[host]++
	}
	p.wantMetrics(t, map[string]float64{"EventReadFail": 0})
}
