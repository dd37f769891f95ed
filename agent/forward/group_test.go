package forward

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/event"
)

func newTestGroup(t *testing.T, mode Mode, addrs ...string) *Group {
	t.Helper()
	g, err := NewGroup(GroupConfig{Name: "collectors", Members: addrs, Mode: mode,
		Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Client: ClientConfig{ConnectTimeout: 2 * time.Second, RequestTimeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

func send(t *testing.T, g *Group, prefix string, n int) {
	t.Helper()
	if _, err := g.Send(context.Background(), makeEvents(prefix, 0, n)); err != nil {
		t.Fatal(err)
	}
}

func TestGroupRoundRobin(t *testing.T) {
	a, b := startCollector(t, 1000, nil), startCollector(t, 1000, nil)
	g := newTestGroup(t, RoundRobin, a.addr(), b.addr())
	for i := 0; i < 10; i++ {
		send(t, g, "rr", 10)
	}
	if na, nb := a.ch.Len(), b.ch.Len(); na != 50 || nb != 50 {
		t.Fatalf("round robin split %d/%d, want 50/50", na, nb)
	}
	st := g.Stats()
	if st[0].Batches != 5 || st[1].Events != 50 || !st[0].Up {
		t.Fatalf("stats %+v", st)
	}
}

// A member that dies is left out without losing a batch (the batch goes
// to the next member), and is put back once it listens again.
func TestGroupMemberDownAndBack(t *testing.T) {
	a, b := startCollector(t, 10000, nil), startCollector(t, 10000, nil)
	addrA := a.addr()
	g := newTestGroup(t, RoundRobin, addrA, b.addr())
	send(t, g, "warm", 10)
	send(t, g, "warm", 10)
	if err := a.srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		send(t, g, "down", 10) // never fails: b takes over
	}
	if got := b.ch.Len(); got != 110 {
		t.Fatalf("survivor holds %d events, want 110", got)
	}
	if st := g.Stats(); st[0].Up || st[0].LastErr == "" {
		t.Fatalf("dead member still up: %+v", st[0])
	}
	// Restart a on the same address: the prober puts it back.
	a2 := startCollector(t, 10000, func(c *ServerConfig) { c.Addr = addrA })
	eventually(t, "member back", func() bool { return g.Stats()[0].Up })
	for i := 0; i < 4; i++ {
		send(t, g, "back", 10)
	}
	if got := a2.ch.Len(); got != 20 {
		t.Fatalf("restarted member got %d events, want 20", got)
	}
}

func TestGroupAllDown(t *testing.T) {
	a := startCollector(t, 100, nil)
	addr := a.addr()
	_ = a.srv.Close(context.Background())
	g := newTestGroup(t, RoundRobin, addr)
	rest, err := g.Send(context.Background(), makeEvents("x", 0, 1))
	if !errors.Is(err, ErrNoMember) || len(rest) != 1 {
		t.Fatalf("first send: %v", err)
	}
	_, err = g.Send(context.Background(), makeEvents("x", 0, 1))
	if !errors.Is(err, ErrNoMember) || !containsAll(err.Error(), addr, "retry in") {
		t.Fatalf("second send: %v", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !contains(s, x) {
			return false
		}
	}
	return true
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestGroupFanOut(t *testing.T) {
	a, b := startCollector(t, 1000, nil), startCollector(t, 1000, nil)
	g := newTestGroup(t, FanOut, a.addr(), b.addr())
	send(t, g, "fan", 10)
	send(t, g, "fan", 10)
	if na, nb := a.ch.Len(), b.ch.Len(); na != 20 || nb != 20 {
		t.Fatalf("fan_out %d/%d, want 20/20", na, nb)
	}
	_ = b.srv.Close(context.Background())
	send(t, g, "fan", 10) // b fails, a takes it: delivered
	send(t, g, "fan", 10)
	if na := a.ch.Len(); na != 40 {
		t.Fatalf("a holds %d, want 40", na)
	}
}

// least_loaded prefers the member that answers faster.
func TestGroupLeastLoaded(t *testing.T) {
	fast := startCollector(t, 10000, nil)
	slowCh := newMemory(t, 10000)
	slow := startCollector(t, 10000, func(c *ServerConfig) {
		c.Handler = func(ctx context.Context, evs []event.Event) error {
			time.Sleep(20 * time.Millisecond)
			return slowCh.Put(ctx, evs)
		}
	})
	g := newTestGroup(t, LeastLoaded, slow.addr(), fast.addr())
	for i := 0; i < 30; i++ {
		send(t, g, "ll", 10)
	}
	if nf, ns := fast.ch.Len(), slowCh.Len(); nf < 250 || ns > 50 {
		t.Fatalf("least_loaded: fast %d, slow %d", nf, ns)
	}
}

// A member file is re-read when it changes.
func TestGroupMemberFile(t *testing.T) {
	a, b := startCollector(t, 1000, nil), startCollector(t, 1000, nil)
	path := filepath.Join(t.TempDir(), "collectors")
	if err := os.WriteFile(path, []byte("# the collectors\n"+a.addr()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := NewGroup(GroupConfig{Name: "collectors", File: path, FileCheck: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	send(t, g, "f", 10)
	time.Sleep(5 * time.Millisecond) // a new modification time
	if err := os.WriteFile(path, []byte(b.addr()+"  # moved\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	send(t, g, "f", 10)
	send(t, g, "f", 10)
	if na, nb := a.ch.Len(), b.ch.Len(); na != 10 || nb != 20 {
		t.Fatalf("after the file changed: a %d, b %d", na, nb)
	}
	// A broken file keeps the members.
	if err := os.WriteFile(path, []byte("not-an-address\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	send(t, g, "f", 10)
	if nb := b.ch.Len(); nb != 30 {
		t.Fatalf("b holds %d after a bad file, want 30", nb)
	}
	if _, err := NewGroup(GroupConfig{Name: "x", File: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Fatal("missing member file accepted")
	}
}
