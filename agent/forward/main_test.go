package forward

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// logBuf is a concurrency-safe log sink for checking logged reasons.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// collector is a Server in front of a real memory channel.
type collector struct {
	srv *Server
	ch  *channel.Memory
	log *logBuf
}

func newMemory(t testing.TB, capacity int) *channel.Memory {
	t.Helper()
	cfg := channel.NewMemoryConfig()
	cfg.Capacity, cfg.TxCapacity, cfg.KeepAlive = capacity, capacity, 0
	ch := channel.NewMemory(*cfg, monitor.NewRegistry("c").Channel("c1", "memory"))
	if err := ch.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Stop(context.Background()) })
	return ch
}

// startCollector starts a server on 127.0.0.1 whose handler puts into a
// memory channel of the given capacity. edit may change the config.
func startCollector(t testing.TB, capacity int, edit func(*ServerConfig)) *collector {
	t.Helper()
	c := &collector{ch: newMemory(t, capacity), log: &logBuf{}}
	cfg := ServerConfig{
		Addr:    "127.0.0.1:0",
		Handler: func(ctx context.Context, evs []event.Event) error { return c.ch.Put(ctx, evs) },
		Logger:  c.log.logger(),
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.srv = srv
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	return c
}

func (c *collector) addr() string { return c.srv.Addr().String() }

// drain takes and commits everything in the channel.
func (c *collector) drain(t testing.TB) []event.Event {
	t.Helper()
	var out []event.Event
	for {
		tk, err := c.ch.Take(context.Background(), c.ch.Capacity())
		if err != nil {
			t.Fatal(err)
		}
		evs := tk.Events()
		out = append(out, evs...)
		if err := tk.Commit(); err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
	}
}

func dial(t testing.TB, addr string, cfg ClientConfig) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// makeEvents builds n events with bodies prefix-0, prefix-1, ... and a
// header on every other one.
func makeEvents(prefix string, from, n int) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i].Body = []byte(prefix + "-" + itoa(from+i))
		if i%2 == 0 {
			evs[i].Headers = map[string]string{"src": prefix, "k": itoa(i)}
		}
	}
	return evs
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	if i == 0 {
		return "0"
	}
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

func bodies(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = string(evs[i].Body)
	}
	return out
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rawConn dials addr with plain TCP for bad-peer tests.
func rawConn(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
