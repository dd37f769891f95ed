package source_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vscope/vscope/agent"
	"github.com/vscope/vscope/agent/catalog"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
)

// The Flume user guide's example of each syslog source, verbatim but for
// the port numbers. The guide leaves channel c1 undescribed; the test adds
// its type.
const (
	guideSyslogTCP = `a1.sources = r1
a1.channels = c1
a1.sources.r1.type = syslogtcp
a1.sources.r1.port = 5140
a1.sources.r1.host = localhost
a1.sources.r1.channels = c1
`
	guideMultiport = `a1.sources = r1
a1.channels = c1
a1.sources.r1.type = multiport_syslogtcp
a1.sources.r1.channels = c1
a1.sources.r1.host = 0.0.0.0
a1.sources.r1.ports = 10001 10002 10003
a1.sources.r1.portHeader = port
`
	guideSyslogUDP = `a1.sources = r1
a1.channels = c1
a1.sources.r1.type = syslogudp
a1.sources.r1.port = 5140
a1.sources.r1.host = localhost
a1.sources.r1.channels = c1
`
	guideChannel = "a1.channels.c1.type = memory\n"
)

// freeGuidePort is a port on 127.0.0.1 of the network that was free a
// moment ago.
func freeGuidePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runGuide runs conf in an agent and returns it; it is stopped when the
// test ends.
func runGuide(t *testing.T, conf string) *agent.Agent {
	t.Helper()
	props, err := config.Parse(strings.NewReader(conf), "flume-guide.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(props, "flume-guide.conf", "a1", catalog.Default(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a := agent.New("a1", catalog.Default(), agent.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := a.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return a
}

// takeFrom takes what channel c1 of a holds, waiting up to a few seconds
// for at least n events; send is called again while it waits (UDP
// datagrams sent before the socket is bound are lost).
func takeFrom(t *testing.T, a *agent.Agent, n int, send func()) []event.Event {
	t.Helper()
	ch := a.Channel("c1")
	var out []event.Event
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("channel c1 got %d events, want %d", len(out), n)
		}
		if send != nil {
			send()
		}
		tx, err := ch.Take(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tx.Events()...)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return out
}

// dialRetry dials a TCP address, retrying briefly while it is not yet
// listening.
func dialRetry(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFlumeGuideSyslogTCP(t *testing.T) {
	port := freeGuidePort(t, "tcp")
	a := runGuide(t, strings.Replace(guideSyslogTCP, "5140", strconv.Itoa(port), 1)+guideChannel)
	c := dialRetry(t, net.JoinHostPort("localhost", strconv.Itoa(port)))
	defer c.Close()
	if _, err := io.WriteString(c, "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed\n"); err != nil {
		t.Fatal(err)
	}
	ev := takeFrom(t, a, 1, nil)[0]
	if string(ev.Body) != "su - ID47 - 'su root' failed" || ev.Headers["host"] != "mymachine.example.com" ||
		ev.Headers["timestamp"] != "1065910455003" || ev.Headers["Facility"] != "4" || ev.Headers["Severity"] != "2" {
		t.Errorf("event %v %q", ev.Headers, ev.Body)
	}
}

func TestFlumeGuideMultiportSyslogTCP(t *testing.T) {
	ports := []int{freeGuidePort(t, "tcp"), freeGuidePort(t, "tcp"), freeGuidePort(t, "tcp")}
	list := fmt.Sprintf("%d %d %d", ports[0], ports[1], ports[2])
	a := runGuide(t, strings.Replace(guideMultiport, "10001 10002 10003", list, 1)+guideChannel)
	for i, p := range ports {
		c := dialRetry(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if _, err := fmt.Fprintf(c, "<13>Feb  5 17:32:18 host%d message %d\n", i, i); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	evs := takeFrom(t, a, len(ports), nil)
	seen := map[string]string{}
	for _, ev := range evs {
		seen[ev.Headers["port"]] = ev.Headers["host"] + ": " + string(ev.Body)
	}
	for i, p := range ports {
		if got, want := seen[strconv.Itoa(p)], fmt.Sprintf("host%d: message %d", i, i); got != want {
			t.Errorf("port %d: %q, want %q", p, got, want)
		}
	}
}

func TestFlumeGuideSyslogUDP(t *testing.T) {
	port := freeGuidePort(t, "udp")
	a := runGuide(t, strings.Replace(guideSyslogUDP, "5140", strconv.Itoa(port), 1)+guideChannel)
	c, err := net.Dial("udp", net.JoinHostPort("localhost", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	evs := takeFrom(t, a, 1, func() { _, _ = io.WriteString(c, "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!") })
	if ev := evs[0]; string(ev.Body) != "Use the BFG!" || ev.Headers["host"] != "10.0.0.99" || ev.Headers["Severity"] != "5" {
		t.Errorf("event %v %q", ev.Headers, ev.Body)
	}
}
