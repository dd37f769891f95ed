package jetstream

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/monitor"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// natsServer is an embedded nats-server with JetStream, storing under dir.
type natsServer struct {
	s   *server.Server
	dir string
	url string
}

// startNATS starts an embedded server on 127.0.0.1 (port 0 picks one).
func startNATS(t testing.TB, dir string, port int) *natsServer {
	t.Helper()
	if port == 0 {
		port = -1
	}
	opts := &server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	ns := &natsServer{s: s, dir: dir, url: s.ClientURL()}
	t.Cleanup(ns.stop)
	return ns
}

func (n *natsServer) stop() {
	n.s.Shutdown()
	n.s.WaitForShutdown()
}

func (n *natsServer) port() int { return n.s.Addr().(*net.TCPAddr).Port }

// newChannel builds and starts a channel on url; edit may change the
// config.
func newChannel(t testing.TB, url, agent string, edit func(*ChannelConfig)) (*Channel, *monitor.Registry) {
	t.Helper()
	cfg := NewChannelConfig()
	cfg.Servers = url
	cfg.KeepAlive = 0
	if edit != nil {
		edit(cfg)
	}
	reg := monitor.NewRegistry(agent)
	ch, err := NewChannel(component.ChannelSettings{
		Settings: component.Settings{Agent: agent, Name: "c1", Type: "jetstream"},
		Counter:  reg.Channel("c1", "jetstream"),
	}, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Stop(context.Background()) })
	return ch, reg
}
