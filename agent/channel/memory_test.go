package channel

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

// waitTimeout bounds every wait for a condition. Reaching it is a test
// failure (a lost wake-up), never the way a test synchronises.
const waitTimeout = 10 * time.Second

// newTestMemory builds and starts a memory channel with its own registry,
// so no two tests share counters. It is stopped when the test ends.
func newTestMemory(t testing.TB, cfg MemoryConfig) (*Memory, *monitor.ChannelCounter) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config %+v: %v", cfg, err)
	}
	c := monitor.NewRegistry("a1").Channel("c1", "memory")
	m := NewMemory(cfg, c)
	if err := m.Start(context.Background(), nil); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return m, c
}

// mkEvent returns an event with a body of size bytes (at least 8) that
// starts with id, so takers can recognise it.
func mkEvent(id uint64, size int) event.Event {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(b, id)
	return event.Event{Body: b}
}

func idOf(e event.Event) uint64 { return binary.BigEndian.Uint64(e.Body) }

// mkBatch returns n events with ids first, first+1, ... and size-byte bodies.
func mkBatch(first uint64, n, size int) []event.Event {
	b := make([]event.Event, n)
	for i := range b {
		b[i] = mkEvent(first+uint64(i), size)
	}
	return b
}

func ids(evs []event.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = idOf(e)
	}
	return out
}

// seq returns first, first+1, ..., n values.
func seq(first uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = first + uint64(i)
	}
	return out
}

func mustPut(t testing.TB, m *Memory, batch []event.Event) {
	t.Helper()
	if err := m.Put(context.Background(), batch); err != nil {
		t.Fatalf("Put(%d events): %v", len(batch), err)
	}
}

func mustTake(t testing.TB, m *Memory, max int) component.Take {
	t.Helper()
	tx, err := m.Take(context.Background(), max)
	if err != nil {
		t.Fatalf("Take(%d): %v", max, err)
	}
	return tx
}

func mustCommit(t testing.TB, tx component.Take) {
	t.Helper()
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func mustRollback(t testing.TB, tx component.Take) {
	t.Helper()
	if err := tx.Rollback(); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
}

// drain takes and commits everything queued and returns the ids in order.
func drain(t testing.TB, m *Memory) []uint64 {
	t.Helper()
	var out []uint64
	for {
		tx := mustTake(t, m, m.cfg.TxCapacity)
		got := ids(tx.Events())
		mustCommit(t, tx)
		if len(got) == 0 {
			return out
		}
		out = append(out, got...)
	}
}

// putAsync runs Put in a goroutine; its result arrives on the returned
// channel.
func putAsync(ctx context.Context, m *Memory, batch []event.Event) <-chan error {
	done := make(chan error, 1)
	go func() { done <- m.Put(ctx, batch) }()
	return done
}

// awaitErr waits for the result of putAsync.
func awaitErr(t testing.TB, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("%s: still blocked after %v", what, waitTimeout)
		return nil
	}
}

// assertBlocked fails if the put behind done has already returned.
func assertBlocked(t testing.TB, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s: returned %v, want still blocked", what, err)
	default:
	}
}

// awaitCond polls cond until it holds. It is for conditions that have no
// channel to wait on, such as a counter another goroutine bumps.
func awaitCond(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// awaitPutAttempts waits until n events have been offered to Put: a putter
// started by putAsync has then reached the room check.
func awaitPutAttempts(t testing.TB, c *monitor.ChannelCounter, n uint64) {
	t.Helper()
	awaitCond(t, fmt.Sprintf("EventPutAttempt >= %d", n), func() bool { return c.EventPutAttempt.Get() >= n })
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// checkInvariants verifies, under the channel's lock, the bookkeeping every
// operation must preserve: counts and bytes within bounds, bytes equal to
// what the queue holds when no take is open, free ring slots cleared so
// taken bodies are not pinned, and the ChannelSize gauge in step.
func checkInvariants(t testing.TB, m *Memory) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	c := len(m.buf)
	if m.n < 0 || m.reserved < 0 || m.n+m.reserved > m.cfg.Capacity {
		t.Errorf("queued %d + reserved %d outside [0, capacity %d]", m.n, m.reserved, m.cfg.Capacity)
		return
	}
	if m.bytes < 0 || m.bytes > m.cfg.ByteCapacity {
		t.Errorf("bytes held %d outside [0, byteCapacity %d]", m.bytes, m.cfg.ByteCapacity)
	}
	var queued int64
	for i := 0; i < m.n; i++ {
		queued += int64(m.buf[(m.head+i)%c].Size())
	}
	if m.bytes < queued || (m.reserved == 0 && m.bytes != queued) {
		t.Errorf("bytes held %d, queued events hold %d, %d reserved", m.bytes, queued, m.reserved)
	}
	for i := m.n; i < c; i++ {
		if e := m.buf[(m.head+i)%c]; e.Body != nil || e.Headers != nil {
			t.Errorf("free ring slot %d still holds an event (%d bytes)", (m.head+i)%c, e.Size())
		}
	}
	if got := m.counter.Size(); got != m.n {
		t.Errorf("ChannelSize gauge %d, queued %d", got, m.n)
	}
}

func TestMemoryConfigValidate(t *testing.T) {
	f := func(name string, mutate func(*MemoryConfig), wantErr string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			cfg := NewMemoryConfig()
			mutate(cfg)
			err := cfg.Validate()
			if wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("Validate = %v, want error containing %q", err, wantErr)
			}
		})
	}
	f("defaults", func(*MemoryConfig) {}, "")
	f("tx equals capacity", func(c *MemoryConfig) { c.Capacity, c.TxCapacity = 10, 10 }, "")
	f("keep-alive zero", func(c *MemoryConfig) { c.KeepAlive = 0 }, "")
	f("zero capacity", func(c *MemoryConfig) { c.Capacity = 0 }, "capacity must be positive")
	f("negative capacity", func(c *MemoryConfig) { c.Capacity = -1 }, "capacity must be positive")
	f("zero tx", func(c *MemoryConfig) { c.TxCapacity = 0 }, "transactionCapacity must be positive")
	f("tx over capacity", func(c *MemoryConfig) { c.Capacity, c.TxCapacity = 10, 11 }, "exceeds capacity")
	f("negative bytes", func(c *MemoryConfig) { c.ByteCapacity = -1 }, "byteCapacity must not be negative")
	f("negative keep-alive", func(c *MemoryConfig) { c.KeepAlive = -1 }, "keep-alive must not be negative")
}

func TestMemoryFactory(t *testing.T) {
	fac := MemoryFactory()
	if fac.Type != "memory" || !slices.Contains(fac.Aliases, "org.apache.flume.channel.MemoryChannel") {
		t.Fatalf("factory type %q aliases %v", fac.Type, fac.Aliases)
	}
	cfg, ok := fac.NewConfig().(*MemoryConfig)
	if !ok {
		t.Fatalf("NewConfig returned %T", fac.NewConfig())
	}
	if *cfg != (MemoryConfig{Capacity: 100, TxCapacity: 100, ByteCapacityBufferPercentage: 20, KeepAlive: 3}) {
		t.Fatalf("defaults %+v, want Flume's", *cfg)
	}
	if got := cfg.TransactionCapacity(); got != 100 {
		t.Fatalf("TransactionCapacity = %d", got)
	}
	counter := monitor.NewRegistry("a1").Channel("c1", "memory")
	ch, err := fac.Create(component.ChannelSettings{Counter: counter}, cfg)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	m := ch.(*Memory)
	if m.Capacity() != 100 || m.cfg.ByteCapacity <= 0 {
		t.Fatalf("capacity %d, byteCapacity %d: want 100 and a positive default", m.Capacity(), m.cfg.ByteCapacity)
	}
	ctx := context.Background()
	if err := ch.Start(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.Put(ctx, mkBatch(1, 3, 10)); err != nil {
		t.Fatal(err)
	}
	tx, err := ch.Take(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(tx.Events()); !slices.Equal(got, seq(1, 3)) {
		t.Fatalf("took %v", got)
	}
	mustCommit(t, tx)
	if err := ch.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryPutTakeFIFO(t *testing.T) {
	m, _ := newTestMemory(t, MemoryConfig{Capacity: 10, TxCapacity: 5, ByteCapacity: 1 << 20})
	mustPut(t, m, mkBatch(1, 3, 8))
	mustPut(t, m, mkBatch(4, 4, 8))
	if m.Len() != 7 {
		t.Fatalf("Len = %d, want 7", m.Len())
	}
	var got []uint64
	for _, max := range []int{2, 4, 5} {
		tx := mustTake(t, m, max)
		got = append(got, ids(tx.Events())...)
		mustCommit(t, tx)
		checkInvariants(t, m)
	}
	if !slices.Equal(got, seq(1, 7)) {
		t.Fatalf("took %v, want 1..7 in order", got)
	}
	if m.Len() != 0 {
		t.Fatalf("Len = %d after draining", m.Len())
	}
	if err := m.Put(context.Background(), nil); err != nil {
		t.Fatalf("empty put: %v", err)
	}
}

// The channel copies event values: the caller may reuse its batch slice as
// soon as Put returns.
func TestMemoryPutCopiesEventValues(t *testing.T) {
	m, _ := newTestMemory(t, MemoryConfig{Capacity: 10, TxCapacity: 10, ByteCapacity: 1 << 20})
	batch := mkBatch(1, 4, 8)
	mustPut(t, m, batch)
	for i := range batch {
		batch[i] = mkEvent(100+uint64(i), 8)
	}
	tx := mustTake(t, m, 10)
	if got := ids(tx.Events()); !slices.Equal(got, seq(1, 4)) {
		t.Fatalf("took %v after the caller reused its slice, want 1..4", got)
	}
	mustCommit(t, tx)
}

// A put that has not returned is invisible: while it waits for room, takers
// see none of its events; once it returns nil, all of them can be taken at
// once, and Notify reports them.
func TestMemoryPutNotVisibleUntilItReturns(t *testing.T) {
	m, c := newTestMemory(t, MemoryConfig{Capacity: 4, TxCapacity: 4, ByteCapacity: 1 << 20, KeepAlive: 60})
	mustPut(t, m, mkBatch(1, 4, 8))
	done := putAsync(context.Background(), m, mkBatch(10, 3, 8))
	awaitPutAttempts(t, c, 7)

	first := mustTake(t, m, 4)
	if got := ids(first.Events()); !slices.Equal(got, seq(1, 4)) {
		t.Fatalf("first take %v, want 1..4", got)
	}
	// The take holds the space, so the put still cannot happen.
	second := mustTake(t, m, 4)
	if n := len(second.Events()); n != 0 {
		t.Fatalf("took %v of a put that has not returned", ids(second.Events()))
	}
	mustCommit(t, second)
	assertBlocked(t, done, "put into a full channel")

	mustCommit(t, first)
	if err := awaitErr(t, done, "put after commit"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if !isClosed(m.Notify()) {
		t.Fatal("Notify not closed after Put returned")
	}
	tx := mustTake(t, m, 4)
	if got := ids(tx.Events()); !slices.Equal(got, seq(10, 3)) {
		t.Fatalf("took %v after Put returned, want all of 10..12", got)
	}
	mustCommit(t, tx)
}

func TestMemoryCommitFreesSpace(t *testing.T) {
	m, _ := newTestMemory(t, MemoryConfig{Capacity: 4, TxCapacity: 4, ByteCapacity: 1 << 20, KeepAlive: 0})
	ctx := context.Background()
	mustPut(t, m, mkBatch(1, 4, 8))
	if err := m.Put(ctx, mkBatch(5, 1, 8)); !errors.Is(err, component.ErrChannelFull) {
		t.Fatalf("put into full channel: %v, want ErrChannelFull", err)
	}
	tx := mustTake(t, m, 3)
	if err := m.Put(ctx, mkBatch(5, 1, 8)); !errors.Is(err, component.ErrChannelFull) {
		t.Fatalf("put while a take is open: %v, want ErrChannelFull (the take holds its space)", err)
	}
	mustCommit(t, tx)
	checkInvariants(t, m)
	if err := m.Put(ctx, mkBatch(5, 3, 8)); err != nil {
		t.Fatalf("put after commit freed 3 slots: %v", err)
	}
	if err := m.Put(ctx, mkBatch(8, 1, 8)); !errors.Is(err, component.ErrChannelFull) {
		t.Fatalf("put beyond the freed space: %v, want ErrChannelFull", err)
	}
	if got := drain(t, m); !slices.Equal(got, []uint64{4, 5, 6, 7}) {
		t.Fatalf("drained %v, want 4..7", got)
	}
}

// A rolled-back take goes back to the head of the queue in its original
// order, ahead of anything put since, wherever the ring's head is.
func TestMemoryRollbackReturnsToHead(t *testing.T) {
	type step struct {
		op  string // put, take, commit, rollback
		n   int    // put: events; take: max
		id  uint64 // put: first id
		tx  int    // commit/rollback: index of the take, in order taken
		ids []uint64
	}
	f := func(name string, capacity int, advance int, steps []step, want []uint64) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			m, _ := newTestMemory(t, MemoryConfig{Capacity: capacity, TxCapacity: capacity, ByteCapacity: 1 << 20})
			// Move the ring's head so the case runs across the wrap.
			for i := 0; i < advance; i++ {
				mustPut(t, m, mkBatch(1000, 1, 8))
				mustCommit(t, mustTake(t, m, 1))
			}
			var txs []component.Take
			for i, s := range steps {
				switch s.op {
				case "put":
					mustPut(t, m, mkBatch(s.id, s.n, 8))
				case "take":
					tx := mustTake(t, m, s.n)
					if got := ids(tx.Events()); !slices.Equal(got, s.ids) {
						t.Fatalf("step %d: took %v, want %v", i, got, s.ids)
					}
					txs = append(txs, tx)
				case "commit":
					mustCommit(t, txs[s.tx])
				case "rollback":
					mustRollback(t, txs[s.tx])
				}
				checkInvariants(t, m)
			}
			if got := drain(t, m); !slices.Equal(got, want) {
				t.Fatalf("queue %v, want %v", got, want)
			}
		})
	}
	basic := []step{
		{op: "put", id: 1, n: 3},
		{op: "take", n: 2, ids: []uint64{1, 2}},
		{op: "put", id: 4, n: 2},
		{op: "rollback", tx: 0},
	}
	for adv := 0; adv < 5; adv++ {
		f(fmt.Sprintf("ahead of later puts/head at %d", adv), 5, adv, basic, []uint64{1, 2, 3, 4, 5})
	}
	full := []step{
		{op: "put", id: 1, n: 4},
		{op: "take", n: 4, ids: []uint64{1, 2, 3, 4}},
		{op: "rollback", tx: 0},
		{op: "take", n: 3, ids: []uint64{1, 2, 3}},
		{op: "rollback", tx: 1},
	}
	for adv := 0; adv < 4; adv++ {
		f(fmt.Sprintf("whole ring/head at %d", adv), 4, adv, full, []uint64{1, 2, 3, 4})
	}
	f("two takes rolled back newest first", 6, 0, []step{
		{op: "put", id: 1, n: 6},
		{op: "take", n: 2, ids: []uint64{1, 2}},
		{op: "take", n: 2, ids: []uint64{3, 4}},
		{op: "rollback", tx: 1},
		{op: "rollback", tx: 0},
	}, seq(1, 6))
	// Each rollback goes to the head, as in Flume: the take rolled back
	// last is taken first.
	f("two takes rolled back oldest first", 6, 3, []step{
		{op: "put", id: 1, n: 6},
		{op: "take", n: 2, ids: []uint64{1, 2}},
		{op: "take", n: 2, ids: []uint64{3, 4}},
		{op: "rollback", tx: 0},
		{op: "rollback", tx: 1},
	}, []uint64{3, 4, 1, 2, 5, 6})
	f("commit one, roll back the other, put in the freed space", 4, 2, []step{
		{op: "put", id: 1, n: 4},
		{op: "take", n: 2, ids: []uint64{1, 2}},
		{op: "take", n: 2, ids: []uint64{3, 4}},
		{op: "commit", tx: 0},
		{op: "put", id: 5, n: 2},
		{op: "rollback", tx: 1},
	}, []uint64{3, 4, 5, 6})
	f("retake after rollback", 4, 1, []step{
		{op: "put", id: 1, n: 3},
		{op: "take", n: 3, ids: []uint64{1, 2, 3}},
		{op: "rollback", tx: 0},
		{op: "take", n: 1, ids: []uint64{1}},
		{op: "commit", tx: 1},
	}, []uint64{2, 3})
}

func TestMemoryFinishTwice(t *testing.T) {
	commit := component.Take.Commit
	rollback := component.Take.Rollback
	f := func(name string, queued int, firstRollback bool, second func(component.Take) error) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			m, _ := newTestMemory(t, MemoryConfig{Capacity: 10, TxCapacity: 10, ByteCapacity: 1 << 20})
			if queued > 0 {
				mustPut(t, m, mkBatch(1, queued, 8))
			}
			tx := mustTake(t, m, 10)
			if len(tx.Events()) != queued {
				t.Fatalf("took %d events, want %d", len(tx.Events()), queued)
			}
			first, wantQueued := commit, 0
			if firstRollback {
				first, wantQueued = rollback, queued
			}
			if err := first(tx); err != nil {
				t.Fatalf("first finish: %v", err)
			}
			for i := 0; i < 2; i++ {
				if err := second(tx); !errors.Is(err, component.ErrTxDone) {
					t.Fatalf("finish #%d: %v, want ErrTxDone", i+2, err)
				}
			}
			checkInvariants(t, m)
			// A second Rollback must not queue the events twice, a second
			// Commit must not free their space twice.
			m.mu.Lock()
			n, reserved, held := m.n, m.reserved, m.bytes
			m.mu.Unlock()
			if n != wantQueued || reserved != 0 || held != int64(wantQueued*8) {
				t.Fatalf("queued %d reserved %d bytes %d, want %d queued, none reserved", n, reserved, held, wantQueued)
			}
		})
	}
	for _, queued := range []int{0, 3} {
		f(fmt.Sprintf("commit commit/%d", queued), queued, false, commit)
		f(fmt.Sprintf("commit rollback/%d", queued), queued, false, rollback)
		f(fmt.Sprintf("rollback rollback/%d", queued), queued, true, rollback)
		f(fmt.Sprintf("rollback commit/%d", queued), queued, true, commit)
	}
}

func TestMemoryEmptyTake(t *testing.T) {
	m, c := newTestMemory(t, MemoryConfig{Capacity: 10, TxCapacity: 10, ByteCapacity: 1 << 20})
	tx := mustTake(t, m, 10)
	if n := len(tx.Events()); n != 0 {
		t.Fatalf("empty channel gave %d events", n)
	}
	mustCommit(t, tx)
	tx = mustTake(t, m, 10)
	mustRollback(t, tx)
	if c.EventTakeSuccess.Get() != 0 || c.EventRollback.Get() != 0 {
		t.Fatalf("empty takes counted: success %d rollback %d", c.EventTakeSuccess.Get(), c.EventRollback.Get())
	}
	if isClosed(m.Notify()) {
		t.Fatal("rolling back an empty take woke Notify")
	}
	checkInvariants(t, m)
}

// A put that finds no room waits up to keep-alive, then fails with an error
// that wraps ErrChannelFull; whether the room is lacking in events or bytes.
func TestMemoryKeepAlive(t *testing.T) {
	f := func(name string, cfg MemoryConfig, fill []event.Event, put []event.Event) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, c := newTestMemory(t, cfg)
			mustPut(t, m, fill)
			start := time.Now()
			err := m.Put(context.Background(), put)
			elapsed := time.Since(start)
			if !errors.Is(err, component.ErrChannelFull) || errors.Is(err, component.ErrTooLarge) {
				t.Fatalf("Put = %v, want ErrChannelFull", err)
			}
			keepAlive := time.Duration(cfg.KeepAlive) * time.Second
			if elapsed < keepAlive-50*time.Millisecond || elapsed > keepAlive+3*time.Second {
				t.Fatalf("Put failed after %v, want about keep-alive %v", elapsed, keepAlive)
			}
			if got, want := c.EventPutSuccess.Get(), uint64(len(fill)); got != want {
				t.Fatalf("EventPutSuccess %d, want %d", got, want)
			}
			if got := drain(t, m); !slices.Equal(got, ids(fill)) {
				t.Fatalf("channel holds %v, want only the fill %v", got, ids(fill))
			}
		})
	}
	for _, ka := range []int{0, 1} {
		f(fmt.Sprintf("events/keep-alive %d", ka), MemoryConfig{Capacity: 4, TxCapacity: 4, ByteCapacity: 1 << 20, KeepAlive: ka},
			mkBatch(1, 3, 8), mkBatch(10, 2, 8))
		f(fmt.Sprintf("bytes/keep-alive %d", ka), MemoryConfig{Capacity: 100, TxCapacity: 10, ByteCapacity: 1000, KeepAlive: ka},
			mkBatch(1, 2, 400), mkBatch(10, 1, 201))
	}
}

// A put blocked for room proceeds as soon as a take commits, long before
// its keep-alive runs out.
func TestMemoryBlockedPutProceedsOnCommit(t *testing.T) {
	f := func(name string, cfg MemoryConfig, fill, put []event.Event, takeMax int) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			m, c := newTestMemory(t, cfg)
			mustPut(t, m, fill)
			done := putAsync(context.Background(), m, put)
			awaitPutAttempts(t, c, uint64(len(fill)+len(put)))
			tx := mustTake(t, m, takeMax)
			assertBlocked(t, done, "put while the take is open")
			mustCommit(t, tx)
			if err := awaitErr(t, done, "put after commit"); err != nil {
				t.Fatalf("Put: %v", err)
			}
			want := append(ids(fill)[takeMax:], ids(put)...)
			if got := drain(t, m); !slices.Equal(got, want) {
				t.Fatalf("channel holds %v, want %v", got, want)
			}
		})
	}
	f("events", MemoryConfig{Capacity: 4, TxCapacity: 4, ByteCapacity: 1 << 20, KeepAlive: 60},
		mkBatch(1, 4, 8), mkBatch(10, 2, 8), 2)
	f("bytes", MemoryConfig{Capacity: 100, TxCapacity: 10, ByteCapacity: 1000, KeepAlive: 60},
		mkBatch(1, 3, 300), mkBatch(10, 1, 200), 1)
}

// A put that cannot fit is refused up front with ErrTooLarge, without
// waiting for keep-alive, and nothing of it is queued.
func TestMemoryTooLarge(t *testing.T) {
	f := func(name string, cfg MemoryConfig, batch []event.Event) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			cfg.KeepAlive = 60
			m, c := newTestMemory(t, cfg)
			start := time.Now()
			err := m.Put(context.Background(), batch)
			if !errors.Is(err, component.ErrTooLarge) || errors.Is(err, component.ErrChannelFull) {
				t.Fatalf("Put = %v, want ErrTooLarge", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("ErrTooLarge after %v, want at once", d)
			}
			if m.Len() != 0 || c.EventPutSuccess.Get() != 0 || isClosed(m.Notify()) {
				t.Fatalf("refused put left %d queued, %d counted as success", m.Len(), c.EventPutSuccess.Get())
			}
			checkInvariants(t, m)
		})
	}
	f("over transactionCapacity", MemoryConfig{Capacity: 10, TxCapacity: 3, ByteCapacity: 1 << 20}, mkBatch(1, 4, 8))
	f("one event over byteCapacity", MemoryConfig{Capacity: 10, TxCapacity: 3, ByteCapacity: 100}, mkBatch(1, 1, 101))
	f("batch over byteCapacity", MemoryConfig{Capacity: 10, TxCapacity: 3, ByteCapacity: 100}, mkBatch(1, 3, 34))
	hdr := mkEvent(1, 60)
	hdr.Headers = map[string]string{"host": "web-01"} // 4+6+16 overhead: 86 bytes
	f("headers count towards byteCapacity", MemoryConfig{Capacity: 10, TxCapacity: 3, ByteCapacity: 85}, []event.Event{hdr})

	// Exactly at the limits fits.
	m, _ := newTestMemory(t, MemoryConfig{Capacity: 10, TxCapacity: 3, ByteCapacity: 86})
	mustPut(t, m, []event.Event{hdr})
	m2, _ := newTestMemory(t, MemoryConfig{Capacity: 10, TxCapacity: 3, ByteCapacity: 1 << 20})
	mustPut(t, m2, mkBatch(1, 3, 8))
}

// Take clamps max to transactionCapacity; a non-positive max takes nothing.
func TestMemoryTakeClampsMax(t *testing.T) {
	f := func(max, want int) {
		t.Helper()
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			m, c := newTestMemory(t, MemoryConfig{Capacity: 20, TxCapacity: 4, ByteCapacity: 1 << 20})
			mustPut(t, m, mkBatch(1, 4, 8))
			mustPut(t, m, mkBatch(5, 4, 8))
			tx := mustTake(t, m, max)
			if got := ids(tx.Events()); !slices.Equal(got, seq(1, want)) {
				t.Fatalf("Take(%d) = %v, want %v", max, got, seq(1, want))
			}
			mustCommit(t, tx)
			if got := c.EventTakeAttempt.Get(); got != uint64(want) {
				t.Fatalf("EventTakeAttempt %d, want %d", got, want)
			}
			if m.Len() != 8-want {
				t.Fatalf("Len %d, want %d", m.Len(), 8-want)
			}
		})
	}
	f(-1, 0)
	f(0, 0)
	f(3, 3)
	f(4, 4)
	f(5, 4)
	f(1000, 4)
}

// A flood of large events from a producer faster than its consumer never
// makes the channel hold more than byteCapacity, and every event the
// channel accepted comes out: refused puts are reported, never dropped.
func TestMemoryByteCapacityFlood(t *testing.T) {
	const (
		byteCap = 16 << 10
		total   = 1500
	)
	m, c := newTestMemory(t, MemoryConfig{Capacity: 10000, TxCapacity: 8, ByteCapacity: byteCap, KeepAlive: 0})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	refused := make(chan struct{}, 1)  // producer -> consumer: a put was refused
	progress := make(chan struct{}, 1) // consumer -> producer: a take committed
	producerDone := make(chan struct{})
	stopSampler := make(chan struct{})
	var (
		putIDs, takenIDs []uint64
		refusals         int
		maxHeld          atomic.Int64
		wg               sync.WaitGroup
	)
	wg.Go(func() { // producer
		defer close(producerDone)
		r := rand.New(rand.NewPCG(1, 2))
		for next := uint64(0); next < total; {
			n := min(1+r.IntN(4), total-int(next))
			batch := make([]event.Event, n)
			for i := range batch {
				batch[i] = mkEvent(next+uint64(i), 500+r.IntN(1500))
			}
			for {
				err := m.Put(ctx, batch)
				if err == nil {
					break
				}
				if !errors.Is(err, component.ErrChannelFull) {
					t.Errorf("Put: %v", err)
					cancel()
					return
				}
				refusals++
				select {
				case refused <- struct{}{}:
				default:
				}
				select {
				case <-progress:
				case <-ctx.Done():
					return
				}
			}
			putIDs = append(putIDs, ids(batch)...)
			next += uint64(n)
		}
	})
	wg.Go(func() { // sampler: what the channel holds, seen under its lock
		for {
			m.mu.Lock()
			held := m.bytes
			m.mu.Unlock()
			if held > maxHeld.Load() {
				maxHeld.Store(held)
			}
			select {
			case <-stopSampler:
				return
			default:
				time.Sleep(50 * time.Microsecond)
			}
		}
	})
	// Consumer: take only after the producer has been refused, so the
	// channel is at its byte limit every time.
	r := rand.New(rand.NewPCG(3, 4))
	for finished := false; !finished; {
		select {
		case <-refused:
		case <-producerDone:
			finished = true
		case <-ctx.Done():
			t.Fatal("flood did not finish")
		}
		checkInvariants(t, m)
		tx := mustTake(t, m, 1+r.IntN(8))
		takenIDs = append(takenIDs, ids(tx.Events())...)
		mustCommit(t, tx)
		select {
		case progress <- struct{}{}:
		default:
		}
	}
	takenIDs = append(takenIDs, drain(t, m)...)
	close(stopSampler)
	wg.Wait()

	if refusals == 0 {
		t.Fatal("the producer was never refused: the flood did not reach byteCapacity")
	}
	if got := maxHeld.Load(); got > byteCap || got < byteCap/2 {
		t.Fatalf("most bytes held %d, want within (byteCapacity/2, byteCapacity %d]", got, byteCap)
	}
	if !slices.Equal(putIDs, seq(0, total)) {
		t.Fatalf("producer put %d events, want 0..%d in order", len(putIDs), total-1)
	}
	if !slices.Equal(takenIDs, putIDs) {
		t.Fatalf("took %d events, put %d: lost or duplicated", len(takenIDs), len(putIDs))
	}
	if got := c.EventPutSuccess.Get(); got != total {
		t.Fatalf("EventPutSuccess %d, want %d", got, total)
	}
	if got := c.EventTakeSuccess.Get(); got != total {
		t.Fatalf("EventTakeSuccess %d, want %d", got, total)
	}
	checkInvariants(t, m)
	if m.bytes != 0 {
		t.Fatalf("empty channel holds %d bytes", m.bytes)
	}
	t.Logf("%d refusals, at most %d of %d bytes held", refusals, maxHeld.Load(), byteCap)
}

func TestMemoryPutContext(t *testing.T) {
	f := func(name string, mkCtx func() (context.Context, context.CancelFunc), cancelAfterBlocked bool, want error) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			m, c := newTestMemory(t, MemoryConfig{Capacity: 2, TxCapacity: 2, ByteCapacity: 1 << 20, KeepAlive: 60})
			mustPut(t, m, mkBatch(1, 2, 8))
			ctx, cancel := mkCtx()
			defer cancel()
			done := putAsync(ctx, m, mkBatch(10, 1, 8))
			if cancelAfterBlocked {
				awaitPutAttempts(t, c, 3)
				assertBlocked(t, done, "put into a full channel")
				cancel()
			}
			if err := awaitErr(t, done, "put whose ctx ended"); !errors.Is(err, want) {
				t.Fatalf("Put = %v, want %v", err, want)
			}
			if got := drain(t, m); !slices.Equal(got, []uint64{1, 2}) {
				t.Fatalf("channel holds %v, want 1, 2", got)
			}
		})
	}
	f("cancel while waiting", func() (context.Context, context.CancelFunc) {
		return context.WithCancel(context.Background())
	}, true, context.Canceled)
	f("cancelled before put", func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx, cancel
	}, false, context.Canceled)
	f("deadline before keep-alive", func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 20*time.Millisecond)
	}, false, context.DeadlineExceeded)
}

func TestMemoryStop(t *testing.T) {
	ctx := context.Background()
	t.Run("without start, twice", func(t *testing.T) {
		m := NewMemory(MemoryConfig{Capacity: 2, TxCapacity: 2, ByteCapacity: 1 << 20}, monitor.NewRegistry("a1").Channel("c1", "memory"))
		for i := 0; i < 2; i++ {
			if err := m.Stop(ctx); err != nil {
				t.Fatalf("Stop #%d: %v", i+1, err)
			}
		}
	})
	t.Run("twice", func(t *testing.T) {
		m, _ := newTestMemory(t, MemoryConfig{Capacity: 2, TxCapacity: 2, ByteCapacity: 1 << 20})
		for i := 0; i < 2; i++ {
			if err := m.Stop(ctx); err != nil {
				t.Fatalf("Stop #%d: %v", i+1, err)
			}
		}
	})
	t.Run("unblocks waiting puts", func(t *testing.T) {
		m, c := newTestMemory(t, MemoryConfig{Capacity: 2, TxCapacity: 2, ByteCapacity: 1 << 20, KeepAlive: 60})
		mustPut(t, m, mkBatch(1, 2, 8))
		var dones []<-chan error
		for i := 0; i < 3; i++ {
			dones = append(dones, putAsync(ctx, m, mkBatch(10+uint64(i), 1, 8)))
		}
		awaitPutAttempts(t, c, 5)
		if err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		for i, done := range dones {
			if err := awaitErr(t, done, "put after Stop"); !errors.Is(err, component.ErrStopped) {
				t.Fatalf("put %d: %v, want ErrStopped", i, err)
			}
		}
		// No waiting once stopped.
		if err := m.Put(ctx, mkBatch(20, 1, 8)); !errors.Is(err, component.ErrStopped) {
			t.Fatalf("put into a stopped full channel: %v, want ErrStopped", err)
		}
		// Queued events stay and can still be drained.
		if got := drain(t, m); !slices.Equal(got, []uint64{1, 2}) {
			t.Fatalf("after Stop the channel holds %v, want 1, 2", got)
		}
	})
	t.Run("restart", func(t *testing.T) {
		m, _ := newTestMemory(t, MemoryConfig{Capacity: 2, TxCapacity: 2, ByteCapacity: 1 << 20, KeepAlive: 0})
		mustPut(t, m, mkBatch(1, 2, 8))
		if err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.Start(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := m.Put(ctx, mkBatch(3, 1, 8)); !errors.Is(err, component.ErrChannelFull) {
			t.Fatalf("put into a restarted full channel: %v, want ErrChannelFull", err)
		}
		if got := drain(t, m); !slices.Equal(got, []uint64{1, 2}) {
			t.Fatalf("channel kept across restart holds %v, want 1, 2", got)
		}
	})
}

func TestMemoryNotify(t *testing.T) {
	m, _ := newTestMemory(t, MemoryConfig{Capacity: 4, TxCapacity: 4, ByteCapacity: 100, KeepAlive: 0})
	ctx := context.Background()
	n := m.Notify()
	if isClosed(n) {
		t.Fatal("Notify closed on an empty channel")
	}
	// Refused puts wake nobody.
	if err := m.Put(ctx, mkBatch(1, 5, 8)); !errors.Is(err, component.ErrTooLarge) {
		t.Fatal(err)
	}
	if err := m.Put(ctx, mkBatch(1, 1, 101)); !errors.Is(err, component.ErrTooLarge) {
		t.Fatal(err)
	}
	if isClosed(n) || isClosed(m.Notify()) {
		t.Fatal("a refused put woke Notify")
	}
	mustPut(t, m, mkBatch(1, 2, 8))
	if !isClosed(n) {
		t.Fatal("Notify taken before a put was not closed by it")
	}
	if !isClosed(m.Notify()) {
		t.Fatal("Notify not closed while events are queued")
	}
	tx := mustTake(t, m, 4)
	n = m.Notify()
	if isClosed(n) {
		t.Fatal("Notify closed with nothing queued (events only reserved)")
	}
	mustRollback(t, tx)
	if !isClosed(n) {
		t.Fatal("a rollback did not wake Notify")
	}
	tx = mustTake(t, m, 4)
	n = m.Notify()
	mustCommit(t, tx)
	if isClosed(n) || isClosed(m.Notify()) {
		t.Fatal("a commit woke Notify though nothing is queued")
	}
}

func TestMemoryNotifyWakesAllWaiters(t *testing.T) {
	m, _ := newTestMemory(t, MemoryConfig{Capacity: 4, TxCapacity: 4, ByteCapacity: 1 << 20})
	for round := 0; round < 3; round++ {
		const waiters = 8
		var ready, woken sync.WaitGroup
		var early atomic.Int32
		put := make(chan struct{})
		for i := 0; i < waiters; i++ {
			ready.Add(1)
			woken.Add(1)
			go func() {
				defer woken.Done()
				n := m.Notify()
				ready.Done()
				select {
				case <-n:
				case <-time.After(waitTimeout):
					t.Error("waiter not woken by Put")
					return
				}
				select {
				case <-put:
				default:
					early.Add(1)
				}
			}()
		}
		ready.Wait()
		close(put)
		mustPut(t, m, mkBatch(uint64(round), 1, 8))
		woken.Wait()
		if early.Load() != 0 {
			t.Fatalf("%d waiters woke before the put", early.Load())
		}
		mustCommit(t, mustTake(t, m, 4))
	}
}

func TestMemoryCounters(t *testing.T) {
	reg := monitor.NewRegistry("a1")
	c := reg.Channel("c1", "memory")
	m := NewMemory(MemoryConfig{Capacity: 10, TxCapacity: 4, ByteCapacity: 1 << 20, KeepAlive: 0}, c)
	ctx := context.Background()
	if err := m.Start(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer m.Stop(ctx)

	type counts struct{ putAttempt, putOK, takeAttempt, takeOK, rollback, size int }
	check := func(step string, want counts) {
		t.Helper()
		got := counts{int(c.EventPutAttempt.Get()), int(c.EventPutSuccess.Get()), int(c.EventTakeAttempt.Get()),
			int(c.EventTakeSuccess.Get()), int(c.EventRollback.Get()), c.Size()}
		if got != want {
			t.Fatalf("after %s: counters %+v, want %+v", step, got, want)
		}
		if fill, want := c.FillPercentage(), float64(want.size)*10; fill != want {
			t.Fatalf("after %s: fill %v%%, want %v%%", step, fill, want)
		}
		checkInvariants(t, m)
	}
	check("start", counts{})
	mustPut(t, m, mkBatch(1, 3, 8))
	check("put 3", counts{3, 3, 0, 0, 0, 3})
	if err := m.Put(ctx, mkBatch(4, 5, 8)); !errors.Is(err, component.ErrTooLarge) {
		t.Fatal(err)
	}
	check("put 5 over transactionCapacity", counts{8, 3, 0, 0, 0, 3})
	tx := mustTake(t, m, 2)
	check("take 2", counts{8, 3, 2, 0, 0, 1})
	mustCommit(t, tx)
	check("commit 2", counts{8, 3, 2, 2, 0, 1})
	// Attempts count the events asked for, clamped to transactionCapacity.
	tx = mustTake(t, m, 10)
	check("take 10 (clamped to 4), got 1", counts{8, 3, 6, 2, 0, 0})
	mustRollback(t, tx)
	check("rollback 1", counts{8, 3, 6, 2, 1, 1})
	mustPut(t, m, mkBatch(10, 4, 8))
	mustPut(t, m, mkBatch(14, 4, 8))
	check("fill to 9", counts{16, 11, 6, 2, 1, 9})
	if err := m.Put(ctx, mkBatch(20, 2, 8)); !errors.Is(err, component.ErrChannelFull) {
		t.Fatal(err)
	}
	check("put 2 into 1 free slot", counts{18, 11, 6, 2, 1, 9})
	tx = mustTake(t, m, 0)
	mustCommit(t, tx)
	tx = mustTake(t, m, -5)
	mustCommit(t, tx)
	check("take 0 and -5", counts{18, 11, 6, 2, 1, 9})

	// The same values through Flume's JSON.
	var buf bytes.Buffer
	if err := reg.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var out map[string]map[string]string
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Type": "CHANNEL", "ChannelSize": "9", "ChannelCapacity": "10", "ChannelFillPercentage": "90",
		"EventPutAttemptCount": "18", "EventPutSuccessCount": "11", "EventTakeAttemptCount": "6",
		"EventTakeSuccessCount": "2", "EventRollbackCount": "1",
	}
	got := out["CHANNEL.c1"]
	for k, v := range want {
		if got[k] != v {
			t.Errorf("JSON %s = %q, want %q", k, got[k], v)
		}
	}
	if got["StartTime"] == "0" || got["StopTime"] != "0" {
		t.Errorf("StartTime %s StopTime %s of a running channel", got["StartTime"], got["StopTime"])
	}
}

// After concurrent puts and takes settle, the ChannelSize gauge equals the
// number of queued events. A gauge written outside the channel's lock can
// be left stale by a put and a take that finish in the other order.
func TestMemoryChannelSizeSettles(t *testing.T) {
	m, c := newTestMemory(t, MemoryConfig{Capacity: 1000, TxCapacity: 10, ByteCapacity: 1 << 30, KeepAlive: 1})
	ctx := context.Background()
	for round := 0; round < 300; round++ {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Go(func() {
				<-start
				for i := 0; i < 5; i++ {
					if err := m.Put(ctx, mkBatch(uint64(g), 1+i%3, 8)); err != nil {
						t.Error(err)
						return
					}
					tx, _ := m.Take(ctx, 1+(g+i)%4)
					if g%2 == 0 {
						tx.Commit()
					} else {
						tx.Rollback()
					}
				}
			})
		}
		close(start)
		wg.Wait()
		if got, want := c.Size(), m.Len(); got != want {
			t.Fatalf("round %d: ChannelSize %d, queued %d", round, got, want)
		}
		drain(t, m)
	}
}

// concCase is one run of concurrent producers and consumers.
type concCase struct {
	producers, batches, batchSize int
	consumers                     int
	txBatches                     int   // transactionCapacity in whole batches; takes ask for 1..txBatches batches
	capBatches                    int   // capacity in whole batches
	byteCap                       int64 // 0: ample
	bodyMax                       int   // bodies are 8..bodyMax bytes
	rollbackPct                   int   // share of non-empty takes rolled back
}

// concID packs producer p, batch j and index i into an event id.
func concID(p, j, i int) uint64 { return uint64(p)<<40 | uint64(j)<<20 | uint64(i) }

func concSplit(id uint64) (p, j, i int) {
	return int(id >> 40), int(id>>20) & (1<<20 - 1), int(id) & (1<<20 - 1)
}

// runConcurrent runs N producers putting M batches each against K consumers
// that randomly commit or roll back, and checks that every event is
// committed exactly once and that no take ever sees part of a batch.
//
// Every put is exactly batchSize events and every take asks for a whole
// number of batches, so the queue always holds whole batches and a take
// gets whole batches, unless a put was not atomic: then batches interleave
// in the queue and a take sees a batch split or mixed with another.
func runConcurrent(t *testing.T, cc concCase) {
	t.Helper()
	b := cc.batchSize
	cfg := MemoryConfig{Capacity: cc.capBatches * b, TxCapacity: cc.txBatches * b, ByteCapacity: cc.byteCap, KeepAlive: 1}
	if cfg.ByteCapacity == 0 {
		cfg.ByteCapacity = 1 << 30
	}
	m, c := newTestMemory(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	total := cc.producers * cc.batches * b

	var (
		wg          sync.WaitGroup
		committed   atomic.Int64
		rolled      atomic.Int64
		refusedPuts atomic.Int64
		done        = make(chan struct{})
		seen        = make([][]uint64, cc.consumers) // committed ids per consumer, in commit order
	)
	for p := 0; p < cc.producers; p++ {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(p), 1))
			for j := 0; j < cc.batches; j++ {
				batch := make([]event.Event, b)
				for i := range batch {
					batch[i] = mkEvent(concID(p, j, i), 8+r.IntN(cc.bodyMax-7))
				}
				for {
					err := m.Put(ctx, batch)
					if err == nil {
						break
					}
					if !errors.Is(err, component.ErrChannelFull) {
						t.Errorf("producer %d batch %d: %v", p, j, err)
						cancel()
						return
					}
					refusedPuts.Add(1)
				}
			}
		})
	}
	for k := 0; k < cc.consumers; k++ {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(k), 2))
			for {
				tx, err := m.Take(ctx, b*(1+r.IntN(cc.txBatches)))
				if err != nil {
					t.Errorf("Take: %v", err)
					cancel()
					return
				}
				evs := tx.Events()
				if len(evs) == 0 {
					if err := tx.Commit(); err != nil {
						t.Errorf("Commit empty take: %v", err)
					}
					select {
					case <-m.Notify():
						continue
					case <-done:
						return
					case <-ctx.Done():
						return
					}
				}
				if err := checkWholeBatches(evs, b); err != nil {
					t.Errorf("consumer %d: %v", k, err)
					cancel()
					return
				}
				if r.IntN(100) < cc.rollbackPct {
					rolled.Add(int64(len(evs)))
					if err := tx.Rollback(); err != nil {
						t.Errorf("Rollback: %v", err)
					}
					continue
				}
				seen[k] = append(seen[k], ids(evs)...)
				if err := tx.Commit(); err != nil {
					t.Errorf("Commit: %v", err)
				}
				if committed.Add(int64(len(evs))) == int64(total) {
					close(done)
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("run did not finish: %d of %d events committed", committed.Load(), total)
	}

	// Every event committed exactly once.
	var all []uint64
	for _, s := range seen {
		all = append(all, s...)
	}
	slices.Sort(all)
	var want []uint64
	for p := 0; p < cc.producers; p++ {
		for j := 0; j < cc.batches; j++ {
			for i := 0; i < b; i++ {
				want = append(want, concID(p, j, i))
			}
		}
	}
	slices.Sort(want)
	if !slices.Equal(all, want) {
		missing, dup := diffIDs(want, all)
		t.Fatalf("committed %d events, want %d: %d missing, %d duplicated", len(all), total, missing, dup)
	}
	// With one consumer, commit order is queue order: FIFO per producer.
	if cc.consumers == 1 {
		next := make([]int, cc.producers)
		for _, id := range seen[0] {
			p, j, i := concSplit(id)
			if i != 0 {
				continue
			}
			if j != next[p] {
				t.Fatalf("producer %d: batch %d committed after %d, want FIFO", p, j, next[p]-1)
			}
			next[p]++
		}
	}
	checkInvariants(t, m)
	if m.Len() != 0 || m.bytes != 0 || m.reserved != 0 {
		t.Fatalf("drained channel: %d queued, %d reserved, %d bytes", m.Len(), m.reserved, m.bytes)
	}
	if got := c.EventPutSuccess.Get(); got != uint64(total) {
		t.Fatalf("EventPutSuccess %d, want %d", got, total)
	}
	if got := c.EventTakeSuccess.Get(); got != uint64(total) {
		t.Fatalf("EventTakeSuccess %d, want %d", got, total)
	}
	if got := c.EventRollback.Get(); got != uint64(rolled.Load()) {
		t.Fatalf("EventRollback %d, want %d", got, rolled.Load())
	}
	if cc.rollbackPct > 0 && rolled.Load() == 0 {
		t.Fatal("no take was rolled back")
	}
	t.Logf("%d events from %d producers through %d consumers, %d rolled back, %d puts waited out keep-alive",
		total, cc.producers, cc.consumers, rolled.Load(), refusedPuts.Load())
}

// checkWholeBatches reports whether evs is a sequence of complete batches
// of size b, each with its events contiguous and in order.
func checkWholeBatches(evs []event.Event, b int) error {
	if len(evs)%b != 0 {
		return fmt.Errorf("take of %d events is not whole batches of %d: %v", len(evs), b, ids(evs))
	}
	for k := 0; k < len(evs); k += b {
		p, j, _ := concSplit(idOf(evs[k]))
		for i := 0; i < b; i++ {
			if got, want := idOf(evs[k+i]), concID(p, j, i); got != want {
				gp, gj, gi := concSplit(got)
				return fmt.Errorf("position %d: event p%d/b%d/i%d, want p%d/b%d/i%d: a batch was split or interleaved",
					k+i, gp, gj, gi, p, j, i)
			}
		}
	}
	return nil
}

// diffIDs counts ids of want missing from got and ids of got beyond want;
// both are sorted.
func diffIDs(want, got []uint64) (missing, extra int) {
	count := map[uint64]int{}
	for _, id := range want {
		count[id]++
	}
	for _, id := range got {
		count[id]--
	}
	for _, n := range count {
		if n > 0 {
			missing += n
		} else {
			extra -= n
		}
	}
	return missing, extra
}

func TestMemoryConcurrent(t *testing.T) {
	f := func(name string, cc concCase) {
		t.Helper()
		t.Run(name, func(t *testing.T) { runConcurrent(t, cc) })
	}
	f("atomic puts, one taker", concCase{producers: 8, batches: 100, batchSize: 7, consumers: 1,
		txBatches: 3, capBatches: 5, bodyMax: 64})
	f("atomic puts, many takers", concCase{producers: 8, batches: 100, batchSize: 7, consumers: 4,
		txBatches: 3, capBatches: 5, bodyMax: 64})
	f("rollbacks, one taker", concCase{producers: 4, batches: 100, batchSize: 5, consumers: 1,
		txBatches: 4, capBatches: 6, bodyMax: 64, rollbackPct: 30})
	f("rollbacks, many takers", concCase{producers: 6, batches: 150, batchSize: 5, consumers: 4,
		txBatches: 4, capBatches: 8, bodyMax: 64, rollbackPct: 30})
	f("byte bound", concCase{producers: 6, batches: 100, batchSize: 4, consumers: 3,
		txBatches: 2, capBatches: 100, byteCap: 3 * 4 * 1024, bodyMax: 1024, rollbackPct: 20})
	f("single events", concCase{producers: 4, batches: 300, batchSize: 1, consumers: 3,
		txBatches: 5, capBatches: 10, bodyMax: 32, rollbackPct: 10})
}

// TestMemoryModel drives the channel with random operations from one
// goroutine and compares every result with a plain-slice model of the
// semantics: FIFO takes clamped to transactionCapacity, reserved space until
// Commit, rollback to the head, limits in events and bytes, counters.
func TestMemoryModel(t *testing.T) {
	f := func(seed uint64, cfg MemoryConfig, maxBody int, headers bool) {
		t.Helper()
		t.Run(fmt.Sprintf("seed %d cap %d tx %d bytes %d", seed, cfg.Capacity, cfg.TxCapacity, cfg.ByteCapacity), func(t *testing.T) {
			m, c := newTestMemory(t, cfg)
			ctx := context.Background()
			r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
			type openTake struct {
				tx  component.Take
				evs []event.Event
			}
			var (
				queue                               []event.Event
				open                                []openTake
				held                                int64 // bytes of queued and open takes
				reserved                            int
				nextID                              uint64
				putAtt, putOK, takeAtt, takeOK, rbN uint64
			)
			for step := 0; step < 3000; step++ {
				switch op := r.IntN(100); {
				case op < 35: // put
					n := r.IntN(cfg.TxCapacity + 2)
					batch := make([]event.Event, n)
					for i := range batch {
						batch[i] = mkEvent(nextID, 8+r.IntN(maxBody-7))
						if headers && r.IntN(3) == 0 {
							batch[i].Headers = map[string]string{"k": strings.Repeat("v", r.IntN(20))}
						}
						nextID++
					}
					size := int64(event.Size(batch))
					err := m.Put(ctx, batch)
					var want error
					switch {
					case n == 0:
					case n > cfg.TxCapacity || size > cfg.ByteCapacity:
						want = component.ErrTooLarge
					case len(queue)+reserved+n > cfg.Capacity || held+size > cfg.ByteCapacity:
						want = component.ErrChannelFull
					}
					if (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
						t.Fatalf("step %d: Put(%d events, %d bytes) with %d queued, %d reserved, %d bytes held = %v, want %v",
							step, n, size, len(queue), reserved, held, err, want)
					}
					putAtt += uint64(n)
					if err == nil {
						queue = append(queue, batch...)
						held += size
						putOK += uint64(n)
					}
				case op < 65: // take
					req := r.IntN(cfg.TxCapacity+4) - 1
					clamped := min(cfg.TxCapacity, max(req, 0))
					k := min(clamped, len(queue))
					tx := mustTake(t, m, req)
					if got, want := ids(tx.Events()), ids(queue[:k]); !slices.Equal(got, want) {
						t.Fatalf("step %d: Take(%d) = %v, want %v", step, req, got, want)
					}
					takeAtt += uint64(clamped)
					open = append(open, openTake{tx, queue[:k:k]})
					queue = queue[k:]
					reserved += k
				case op < 85 && len(open) > 0: // commit
					i := r.IntN(len(open))
					o := open[i]
					open = slices.Delete(open, i, i+1)
					mustCommit(t, o.tx)
					reserved -= len(o.evs)
					held -= int64(event.Size(o.evs))
					takeOK += uint64(len(o.evs))
				case len(open) > 0: // rollback
					i := r.IntN(len(open))
					o := open[i]
					open = slices.Delete(open, i, i+1)
					mustRollback(t, o.tx)
					reserved -= len(o.evs)
					queue = append(slices.Clone(o.evs), queue...)
					rbN += uint64(len(o.evs))
				}
				checkInvariants(t, m)
				if t.Failed() {
					t.Fatalf("step %d: invariants broken", step)
				}
				m.mu.Lock()
				gotN, gotRes, gotBytes := m.n, m.reserved, m.bytes
				m.mu.Unlock()
				if gotN != len(queue) || gotRes != reserved || gotBytes != held {
					t.Fatalf("step %d: queued %d reserved %d bytes %d, model %d %d %d",
						step, gotN, gotRes, gotBytes, len(queue), reserved, held)
				}
				if isClosed(m.Notify()) != (len(queue) > 0) {
					t.Fatalf("step %d: Notify closed = %v with %d queued", step, !(len(queue) > 0), len(queue))
				}
				got := [5]uint64{c.EventPutAttempt.Get(), c.EventPutSuccess.Get(), c.EventTakeAttempt.Get(), c.EventTakeSuccess.Get(), c.EventRollback.Get()}
				if want := [5]uint64{putAtt, putOK, takeAtt, takeOK, rbN}; got != want {
					t.Fatalf("step %d: counters put/ok/take/ok/rollback %v, want %v", step, got, want)
				}
			}
			for _, o := range open {
				mustRollback(t, o.tx)
				queue = append(slices.Clone(o.evs), queue...)
			}
			if got := drain(t, m); !slices.Equal(got, ids(queue)) {
				t.Fatalf("final queue %v, model %v", got, ids(queue))
			}
		})
	}
	f(1, MemoryConfig{Capacity: 5, TxCapacity: 3, ByteCapacity: 1 << 20}, 16, false)
	f(2, MemoryConfig{Capacity: 8, TxCapacity: 8, ByteCapacity: 1 << 20}, 16, false)
	f(3, MemoryConfig{Capacity: 13, TxCapacity: 4, ByteCapacity: 300}, 100, true)
	f(4, MemoryConfig{Capacity: 1, TxCapacity: 1, ByteCapacity: 1 << 20}, 16, false)
	f(5, MemoryConfig{Capacity: 32, TxCapacity: 7, ByteCapacity: 500}, 120, true)
}

// BenchmarkMemoryPutTake moves batches of 100-byte events from one
// producer goroutine to one consumer goroutine.
func BenchmarkMemoryPutTake(b *testing.B) {
	for _, batch := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			m := NewMemory(MemoryConfig{Capacity: 10 * batch, TxCapacity: batch, ByteCapacity: 1 << 30, KeepAlive: 3},
				monitor.NewRegistry("bench").Channel("c1", "memory"))
			ctx := context.Background()
			body := make([]byte, 100)
			in := make([]event.Event, batch)
			for i := range in {
				in[i].Body = body
			}
			total := b.N * batch
			b.SetBytes(int64(batch * len(body)))
			b.ReportAllocs()
			b.ResetTimer()

			errc := make(chan error, 1)
			go func() { // producer
				for i := 0; i < b.N; i++ {
					if err := m.Put(ctx, in); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			var perr error
			produced := false
			for got := 0; got < total; { // consumer
				tx, err := m.Take(ctx, batch)
				if err != nil {
					b.Fatal(err)
				}
				k := len(tx.Events())
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
				got += k
				if k == 0 && got < total {
					select {
					case <-m.Notify():
					case perr = <-errc:
						produced = true
						if perr != nil {
							b.Fatal(perr)
						}
					}
				}
			}
			if !produced {
				if perr = <-errc; perr != nil {
					b.Fatal(perr)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
