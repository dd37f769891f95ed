package source

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/vscope/vscope/agent/component"
)

// startUDP starts a netcatudp source on 127.0.0.1, port 0.
func startUDP(t *testing.T, p *pipe, edit func(*NetcatUDPConfig)) *NetcatUDP {
	t.Helper()
	cfg := NewNetcatUDPConfig()
	cfg.Bind = "127.0.0.1"
	if edit != nil {
		edit(cfg)
	}
	n, err := NewNetcatUDP(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background(), component.HostFunc(func(err error) { t.Errorf("ReportFatal(%v)", err) })); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return n
}

// dialUDP returns a UDP socket connected to the source.
func dialUDP(t *testing.T, addr net.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, addr.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestNetcatUDPDatagrams(t *testing.T) {
	p := newPipe(t, "netcatudp", 1000, 0)
	n := startUDP(t, p, func(c *NetcatUDPConfig) { c.RemoteAddressHeader = "remote" })
	c := dialUDP(t, n.Addr())
	big := strings.Repeat("b", 60000)
	datagrams := []string{"hello", "a\nb\n", "", "\n", "with cr\r\n", "no newline\nat end", big}
	want := []string{"hello", "a", "b", "", "", "with cr\r", "no newline", "at end", big}
	// Datagrams on loopback are not lost unless the socket buffer
	// overflows; wait for each before sending the next to keep order.
	got := 0
	for _, d := range datagrams {
		if _, err := c.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the datagram", func() bool { return p.metric(t, "AppendBatchAcceptedCount") > float64(got) })
		got++
	}
	evs := p.drain(t)
	if b := bodies(evs); strings.Join(b, "|") != strings.Join(want, "|") {
		t.Fatalf("bodies %q, want %q", b, want)
	}
	remote := "/" + c.LocalAddr().(*net.UDPAddr).IP.String() + fmt.Sprintf(":%d", c.LocalAddr().(*net.UDPAddr).Port)
	for i, e := range evs {
		if e.Headers["remote"] != remote || len(e.Headers) != 1 {
			t.Errorf("event %d headers %v, want remote=%s", i, e.Headers, remote)
		}
		if cap(e.Body) != len(e.Body) {
			t.Errorf("event %d: cap %d > len %d", i, cap(e.Body), len(e.Body))
		}
	}
	p.wantMetrics(t, map[string]float64{"EventReceivedCount": float64(len(want)), "EventAcceptedCount": float64(len(want)),
		"AppendBatchReceivedCount": float64(len(datagrams)), "ChannelWriteFail": 0})
}

func TestNetcatUDPNoHeaderByDefault(t *testing.T) {
	p := newPipe(t, "netcatudp", 100, 0)
	n := startUDP(t, p, nil)
	c := dialUDP(t, n.Addr())
	if _, err := c.Write([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the event", func() bool { return p.metric(t, "EventAcceptedCount") == 1 })
	if evs := p.drain(t); evs[0].Headers != nil {
		t.Errorf("headers %v", evs[0].Headers)
	}
}

// A datagram the channel refuses is dropped and counted; the source goes
// on with the next one.
func TestNetcatUDPChannelFull(t *testing.T) {
	p := newPipe(t, "netcatudp", 2, 0)
	log := captureLog(p)
	n := startUDP(t, p, nil)
	c := dialUDP(t, n.Addr())
	send := func(s string) {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	send("1\n2\n3\n") // three events never fit a transactionCapacity of 2
	eventually(t, "the refused batch", func() bool { return p.metric(t, "ChannelWriteFail") == 1 })
	send("4\n5\n")
	eventually(t, "the next batch", func() bool { return p.metric(t, "EventAcceptedCount") == 2 })
	send("6\n") // the channel is full now
	eventually(t, "the second refusal", func() bool { return p.metric(t, "ChannelWriteFail") == 2 })
	if got := bodies(p.drain(t)); strings.Join(got, ",") != "4,5" {
		t.Errorf("channel holds %q", got)
	}
	send("7\n")
	eventually(t, "recovery", func() bool { return p.metric(t, "EventAcceptedCount") == 3 })
	if !strings.Contains(log.String(), "dropped a datagram") {
		t.Errorf("drop not logged:\n%s", log)
	}
}

// Datagrams from several senders, interleaved: every one is delivered
// once. Bursts are kept below what the socket buffer holds, because UDP
// drops what overflows it (the race detector slows the reader down).
func TestNetcatUDPManySenders(t *testing.T) {
	p := newPipe(t, "netcatudp", 100000, 1)
	n := startUDP(t, p, nil)
	const senders, each, burst = 4, 500, 25
	conns := make([]*net.UDPConn, senders)
	for s := range conns {
		conns[s] = dialUDP(t, n.Addr())
	}
	sent := 0
	for i := 0; i < each; i += burst {
		for s, c := range conns {
			for k := i; k < i+burst; k++ {
				if _, err := fmt.Fprintf(c, "s%d-%d\n", s, k); err != nil {
					t.Fatal(err)
				}
				sent++
			}
		}
		eventually(t, "the burst", func() bool { return p.metric(t, "EventAcceptedCount") == float64(sent) })
	}
	seen := map[string]bool{}
	for _, b := range bodies(p.drain(t)) {
		if seen[b] {
			t.Fatalf("%s twice", b)
		}
		seen[b] = true
	}
	if len(seen) != senders*each {
		t.Fatalf("%d distinct events, want %d", len(seen), senders*each)
	}
}

func TestNetcatUDPLifecycle(t *testing.T) {
	lifecycle(t, "netcatudp", func(set component.SourceSettings) (component.Source, error) {
		cfg := NewNetcatUDPConfig()
		cfg.Bind = "127.0.0.1"
		return NewNetcatUDP(set, *cfg)
	})
	// The port is free again after Stop.
	p := newPipe(t, "netcatudp", 10, 0)
	n := startUDP(t, p, nil)
	port := n.Addr().(*net.UDPAddr).Port
	if err := n.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port still taken after Stop: %v", err)
	}
	_ = ln.Close()
}

// The netcatudp example of the Flume user guide runs unchanged but for
// the port, which must be free here.
func TestNetcatUDPFlumeExample(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	_ = pc.Close()
	a := runExample(t, fmt.Sprintf(`
a1.sources = r1
a1.channels = c1
a1.sources.r1.type = netcatudp
a1.sources.r1.bind = 0.0.0.0
a1.sources.r1.port = %d
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
`, port))
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello flume\n")); err != nil {
		t.Fatal(err)
	}
	if got := bodies(takeN(t, a.Channel("c1"), 1)); got[0] != "hello flume" {
		t.Errorf("got %q", got)
	}
}

func TestNetcatUDPConfig(t *testing.T) {
	cfg := loadSourceConfig(t, "org.apache.flume.source.NetcatUdpSource",
		"a1.sources.r1.bind = 0.0.0.0\na1.sources.r1.port = 6666\na1.sources.r1.remoteAddressHeader = addr\n").(*NetcatUDPConfig)
	if want := (NetcatUDPConfig{Bind: "0.0.0.0", Port: 6666, RemoteAddressHeader: "addr"}); *cfg != want {
		t.Errorf("got %+v, want %+v", *cfg, want)
	}
	badSourceConfig(t, "a1.sources.r1.type = netcatudp\na1.sources.r1.port = 1\n", "a1.sources.r1.bind: required property is missing")
	badSourceConfig(t, "a1.sources.r1.type = netcatudp\na1.sources.r1.bind = x\n", "a1.sources.r1.port: required property is missing")
	badSourceConfig(t, "a1.sources.r1.type = netcatudp\na1.sources.r1.bind = x\na1.sources.r1.port = 70000\n", "port must be 0 to 65535")
	badSourceConfig(t, "a1.sources.r1.type = netcatudp\na1.sources.r1.bind = x\na1.sources.r1.port = 1\na1.sources.r1.batchSize = 5\n", `unknown property "batchSize"`)
}
