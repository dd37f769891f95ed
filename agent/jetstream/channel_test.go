package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
)

func events(prefix string, from, n int) []event.Event {
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i].Body = []byte(fmt.Sprintf("%s-%d", prefix, from+i))
		if i%3 == 0 {
			evs[i].Headers = map[string]string{"src": prefix, "Nats-Msg-Id": "not-a-dedup-id", "multi\nline": "v"}
		}
	}
	return evs
}

func bodies(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = string(evs[i].Body)
	}
	return out
}

// takeAll takes and commits until the channel has nothing for a while.
func takeAll(t *testing.T, ch component.Channel, max int) []event.Event {
	t.Helper()
	var out []event.Event
	for empty := 0; empty < 3; {
		tk, err := ch.Take(context.Background(), max)
		if err != nil {
			t.Fatal(err)
		}
		evs := tk.Events()
		out = append(out, evs...)
		if err := tk.Commit(); err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			empty++
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out
}

func TestChannelPutTakeCommit(t *testing.T) {
	ns := startNATS(t, t.TempDir(), 0)
	ch, _ := newChannel(t, ns.url, "a1", nil)
	var want []event.Event
	for i := 0; i < 5; i++ {
		evs := events("p", i*100, 100)
		want = append(want, evs...)
		if err := ch.Put(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
	got := takeAll(t, ch, 300)
	if !slices.Equal(bodies(got), bodies(want)) {
		t.Fatalf("got %d events, want %d in order", len(got), len(want))
	}
	for i := range want {
		if len(want[i].Headers) != len(got[i].Headers) || got[i].Headers["Nats-Msg-Id"] != want[i].Headers["Nats-Msg-Id"] ||
			got[i].Headers["multi\nline"] != want[i].Headers["multi\nline"] {
			t.Fatalf("event %d headers %v, want %v", i, got[i].Headers, want[i].Headers)
		}
	}
	stream, subject, durable := ch.Names()
	if stream != "VSCOPE_a1_c1" || subject != "vscope.a1.c1" || durable != "vscope" {
		t.Fatalf("names %s %s %s", stream, subject, durable)
	}
}

// A rolled-back take comes back first, in order.
func TestChannelRollback(t *testing.T) {
	ns := startNATS(t, t.TempDir(), 0)
	ch, reg := newChannel(t, ns.url, "a1", nil)
	if err := ch.Put(context.Background(), events("r", 0, 10)); err != nil {
		t.Fatal(err)
	}
	tk, err := ch.Take(context.Background(), 4)
	if err != nil || len(tk.Events()) != 4 {
		t.Fatalf("take: %d events, %v", len(tk.Events()), err)
	}
	if err := tk.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := tk.Commit(); !errors.Is(err, component.ErrTxDone) {
		t.Fatalf("commit after rollback: %v", err)
	}
	got := takeAll(t, ch, 100)
	if want := bodies(events("r", 0, 10)); !slices.Equal(bodies(got), want) {
		t.Fatalf("after rollback got %v, want %v", bodies(got), want)
	}
	var rolled float64
	for _, s := range reg.Samples() {
		if s.Metric == "EventRollbackCount" {
			rolled = s.Value
		}
	}
	if rolled != 4 {
		t.Fatalf("EventRollbackCount %v", rolled)
	}
}

// A put that does not fit fails as a full channel, and fits again once
// takes are committed.
func TestChannelFull(t *testing.T) {
	ns := startNATS(t, t.TempDir(), 0)
	ch, _ := newChannel(t, ns.url, "a1", func(c *ChannelConfig) { c.Capacity, c.TxCapacity, c.MaxPending = 10, 10, 10 })
	if err := ch.Put(context.Background(), events("f", 0, 8)); err != nil {
		t.Fatal(err)
	}
	if err := ch.Put(context.Background(), events("f", 8, 5)); !errors.Is(err, component.ErrChannelFull) {
		t.Fatalf("over capacity: %v", err)
	}
	if err := ch.Put(context.Background(), events("f", 0, 11)); !errors.Is(err, component.ErrTooLarge) {
		t.Fatalf("over transactionCapacity: %v", err)
	}
	if n := len(takeAll(t, ch, 10)); n != 8 {
		t.Fatalf("took %d", n)
	}
	if err := ch.Put(context.Background(), events("f", 8, 5)); err != nil {
		t.Fatalf("after commit: %v", err)
	}
}

// Two agents naming the same stream share one queue: one puts, the other
// takes, and the taker is woken by Notify.
func TestChannelSharedBetweenAgents(t *testing.T) {
	ns := startNATS(t, t.TempDir(), 0)
	shared := func(c *ChannelConfig) { c.Stream, c.Subject = "TIER1", "vscope.tier1" }
	put, _ := newChannel(t, ns.url, "t1", shared)
	take, _ := newChannel(t, ns.url, "collector", shared)
	wake := take.Notify()
	if err := put.Put(context.Background(), events("s", 0, 50)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wake:
	case <-time.After(5 * time.Second):
		t.Fatal("taker not notified of a remote put")
	}
	if got := takeAll(t, take, 100); len(got) != 50 || string(got[49].Body) != "s-49" {
		t.Fatalf("taker got %d", len(got))
	}
	if !put.SharesStorage(take) {
		t.Fatal("SharesStorage false for the same stream")
	}
}

// Messages put are kept across a restart of the NATS server (file
// storage); the channel reconnects on its own.
func TestChannelSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	ns := startNATS(t, dir, 0)
	port := ns.port()
	ch, _ := newChannel(t, ns.url, "a1", func(c *ChannelConfig) { c.RequestTimeout = 2000 })
	if err := ch.Put(context.Background(), events("d", 0, 100)); err != nil {
		t.Fatal(err)
	}
	ns.stop()
	if err := ch.Put(context.Background(), events("d", 100, 1)); err == nil {
		t.Fatal("put with the server down succeeded")
	}
	ns2 := startNATS(t, dir, port)
	_ = ns2
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := ch.Put(context.Background(), events("d", 100, 100))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no put after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := bodies(takeAll(t, ch, 1000))
	for i := 0; i < 200; i++ {
		if !slices.Contains(got, fmt.Sprintf("d-%d", i)) {
			t.Fatalf("d-%d lost across the restart (got %d events)", i, len(got))
		}
	}
}

func TestChannelLifecycle(t *testing.T) {
	ns := startNATS(t, t.TempDir(), 0)
	ch, _ := newChannel(t, ns.url, "a1", nil)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := ch.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ch.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := ch.Put(ctx, events("x", 0, 1)); !errors.Is(err, component.ErrStopped) {
			t.Fatalf("put after stop: %v", err)
		}
		if err := ch.Start(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Puts before Start connect on their own (a reload fills a
	// replacement before starting it).
	cfg := NewChannelConfig()
	cfg.Servers = ns.url
	lazy, err := NewChannel(component.ChannelSettings{Settings: component.Settings{Agent: "a2", Name: "c1"}}, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer lazy.Stop(ctx)
	if err := lazy.Put(ctx, events("l", 0, 3)); err != nil {
		t.Fatal(err)
	}
	if n := len(takeAll(t, lazy, 10)); n != 3 {
		t.Fatalf("lazy channel took %d", n)
	}
}

func TestChannelConfig(t *testing.T) {
	f := component.NewFactories(nil, []component.ChannelFactory{ChannelFactory(), channel.MemoryFactory()}, nil)
	load := func(props string) (*config.Agent, error) {
		ps, err := config.Parse(strings.NewReader("a1.channels = c1\na1.channels.c1.type = jetstream\n"+props), "t.conf")
		if err != nil {
			t.Fatal(err)
		}
		return config.Load(ps, "t.conf", "a1", f, func(string) (string, bool) { return "", false })
	}
	a, err := load("a1.channels.c1.servers = nats://a:4222, nats://b:4222\na1.channels.c1.stream = LOGS\na1.channels.c1.subject = logs.in\n" +
		"a1.channels.c1.replicas = 3\na1.channels.c1.ackWait = 5000\na1.channels.c1.maxPending = 2000\na1.channels.c1.transactionCapacity = 500\n")
	if err != nil {
		t.Fatal(err)
	}
	c := a.Channels[0].Config.(*ChannelConfig)
	if !slices.Equal(splitServers(c.Servers), []string{"nats://a:4222", "nats://b:4222"}) || c.Stream != "LOGS" ||
		c.Replicas != 3 || c.AckWait != 5000 || c.MaxPending != 2000 || c.TransactionCapacity() != 500 {
		t.Fatalf("config %+v", c)
	}
	bad := func(props, want string) {
		t.Helper()
		_, err := load(props)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", props, err, want)
		}
	}
	bad("", "a1.channels.c1.servers: required property is missing")
	bad("a1.channels.c1.servers = nats://a\na1.channels.c1.stream = a.b\n", `stream "a.b" must be non-empty`)
	bad("a1.channels.c1.servers = nats://a\na1.channels.c1.subject = logs.*\n", "must be a literal subject")
	bad("a1.channels.c1.servers = nats://a\na1.channels.c1.replicas = 7\n", "replicas must be 1 to 5")
	bad("a1.channels.c1.servers = nats://a\na1.channels.c1.storage = disk\n", "storage must be file or memory")
	bad("a1.channels.c1.servers = nats://a\na1.channels.c1.maxPending = 10\n", "maxPending 10 is below transactionCapacity 1000")
	bad("a1.channels.c1.servers = nats://a\na1.channels.c1.token = x\na1.channels.c1.user = u\n", "set one of user/password, token or credentials")
	bad("a1.channels.c1.servers = nats://a\na1.channels.c1.acks = all\n", `unknown property "acks"`)
}
