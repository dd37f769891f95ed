package channel

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

// MemoryConfig is the configuration of a memory channel, with Flume's
// property names and defaults.
type MemoryConfig struct {
	Capacity   int `prop:"capacity"`            // events held at most
	TxCapacity int `prop:"transactionCapacity"` // events per put or take at most
	// ByteCapacity bounds the bytes held (bodies plus headers). 0 picks the
	// default: a quarter of the memory the process may use.
	ByteCapacity                 int64 `prop:"byteCapacity"`
	ByteCapacityBufferPercentage int   `prop:"byteCapacityBufferPercentage"` // accepted for Flume compatibility; headers are counted exactly
	KeepAlive                    int   `prop:"keep-alive"`                   // seconds a put waits for room
}

// NewMemoryConfig returns Flume's defaults.
func NewMemoryConfig() *MemoryConfig {
	return &MemoryConfig{Capacity: 100, TxCapacity: 100, ByteCapacityBufferPercentage: 20, KeepAlive: 3}
}

// Validate checks the bounds.
func (c *MemoryConfig) Validate() error {
	switch {
	case c.Capacity <= 0:
		return fmt.Errorf("capacity must be positive, got %d", c.Capacity)
	case c.TxCapacity <= 0:
		return fmt.Errorf("transactionCapacity must be positive, got %d", c.TxCapacity)
	case c.TxCapacity > c.Capacity:
		return fmt.Errorf("transactionCapacity %d exceeds capacity %d", c.TxCapacity, c.Capacity)
	case c.ByteCapacity < 0:
		return fmt.Errorf("byteCapacity must not be negative, got %d", c.ByteCapacity)
	case c.KeepAlive < 0:
		return fmt.Errorf("keep-alive must not be negative, got %d", c.KeepAlive)
	}
	return nil
}

// TransactionCapacity implements component.TxCapacity.
func (c *MemoryConfig) TransactionCapacity() int { return c.TxCapacity }

// Memory is a bounded in-memory queue. A put waits up to keep-alive for
// room in both event count and bytes, then fails: a flood never grows
// memory past byteCapacity and nothing is dropped silently.
//
// mu protects every field below it, and orders the writes of the
// ChannelSize gauge, which is set under it so it cannot be left stale.
// Taken-but-uncommitted events keep their space (reserved) until Commit,
// so a Rollback always fits.
type Memory struct {
	cfg     MemoryConfig
	counter *monitor.ChannelCounter

	mu       sync.Mutex
	buf      []event.Event // ring of len cfg.Capacity
	head     int           // index of the oldest queued event
	n        int           // queued events
	reserved int           // taken, not yet committed
	bytes    int64         // bytes of queued and reserved events
	stopped  bool
	space    chan struct{} // closed when room is freed; replaced after
	data     chan struct{} // closed when events are put; replaced after
}

// NewMemory builds a memory channel from cfg.
func NewMemory(cfg MemoryConfig, counter *monitor.ChannelCounter) *Memory {
	if cfg.ByteCapacity == 0 {
		cfg.ByteCapacity = defaultByteCapacity()
	}
	counter.SetCapacity(cfg.Capacity)
	return &Memory{
		cfg:     cfg,
		counter: counter,
		buf:     make([]event.Event, cfg.Capacity),
		space:   make(chan struct{}),
		data:    make(chan struct{}),
	}
}

// Start implements component.Component.
func (m *Memory) Start(context.Context, component.Host) error {
	m.mu.Lock()
	m.stopped = false
	m.mu.Unlock()
	m.counter.MarkStarted()
	return nil
}

// Stop wakes blocked putters; queued events stay, so a channel that is
// kept across a reload loses nothing.
func (m *Memory) Stop(context.Context) error {
	m.mu.Lock()
	if !m.stopped {
		m.stopped = true
		close(m.space)
		m.space = make(chan struct{})
	}
	m.mu.Unlock()
	m.counter.MarkStopped()
	return nil
}

// Len is the number of queued events, not counting uncommitted takes.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// Capacity is the configured capacity in events.
func (m *Memory) Capacity() int { return m.cfg.Capacity }

// Put implements component.Channel.
func (m *Memory) Put(ctx context.Context, batch []event.Event) error {
	if len(batch) == 0 {
		return nil
	}
	m.counter.EventPutAttempt.Add(len(batch))
	size := int64(event.Size(batch))
	if len(batch) > m.cfg.TxCapacity || size > m.cfg.ByteCapacity {
		return fmt.Errorf("put %d events (%d bytes), transactionCapacity %d, byteCapacity %d: %w",
			len(batch), size, m.cfg.TxCapacity, m.cfg.ByteCapacity, component.ErrTooLarge)
	}
	var timer *time.Timer
	m.mu.Lock()
	for m.n+m.reserved+len(batch) > m.cfg.Capacity || m.bytes+size > m.cfg.ByteCapacity {
		if m.stopped {
			m.mu.Unlock()
			return component.ErrStopped
		}
		if timer == nil {
			timer = time.NewTimer(time.Duration(m.cfg.KeepAlive) * time.Second)
			defer timer.Stop()
		}
		space := m.space
		m.mu.Unlock()
		select {
		case <-space:
		case <-timer.C:
			return fmt.Errorf("no room for %d events within keep-alive %ds: %w", len(batch), m.cfg.KeepAlive, component.ErrChannelFull)
		case <-ctx.Done():
			return ctx.Err()
		}
		m.mu.Lock()
	}
	c := len(m.buf)
	tail := (m.head + m.n) % c
	k := copy(m.buf[tail:], batch)
	copy(m.buf, batch[k:])
	m.n += len(batch)
	m.bytes += size
	m.counter.SetSize(m.n)
	close(m.data)
	m.data = make(chan struct{})
	m.mu.Unlock()
	m.counter.EventPutSuccess.Add(len(batch))
	return nil
}

// Notify implements component.Channel.
func (m *Memory) Notify() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n > 0 {
		return closedChan
	}
	return m.data
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Take implements component.Channel.
func (m *Memory) Take(_ context.Context, max int) (component.Take, error) {
	// A negative max takes nothing; it must not wrap the attempt counter.
	if max < 0 {
		max = 0
	}
	if max > m.cfg.TxCapacity {
		max = m.cfg.TxCapacity
	}
	m.counter.EventTakeAttempt.Add(max)
	m.mu.Lock()
	k := min(max, m.n)
	t := &memoryTake{m: m}
	if k > 0 {
		t.events = make([]event.Event, k)
		c := len(m.buf)
		first := copy(t.events, m.buf[m.head:min(c, m.head+k)])
		copy(t.events[first:], m.buf[:k-first])
		// Clear the ring slots so the ring does not pin taken bodies.
		for i := 0; i < k; i++ {
			m.buf[(m.head+i)%c] = event.Event{}
		}
		m.head = (m.head + k) % c
		m.n -= k
		m.reserved += k
		t.bytes = int64(event.Size(t.events))
		m.counter.SetSize(m.n)
	}
	m.mu.Unlock()
	return t, nil
}

type memoryTake struct {
	m      *Memory
	events []event.Event
	bytes  int64
	done   bool
}

func (t *memoryTake) Events() []event.Event { return t.events }

func (t *memoryTake) Commit() error {
	if t.done {
		return component.ErrTxDone
	}
	t.done = true
	if len(t.events) == 0 {
		return nil
	}
	m := t.m
	m.mu.Lock()
	m.reserved -= len(t.events)
	m.bytes -= t.bytes
	close(m.space)
	m.space = make(chan struct{})
	m.mu.Unlock()
	m.counter.EventTakeSuccess.Add(len(t.events))
	t.events = nil
	return nil
}

// Rollback puts the events back at the head of the queue, in order. Their
// space was kept reserved, so this cannot fail for lack of room.
func (t *memoryTake) Rollback() error {
	if t.done {
		return component.ErrTxDone
	}
	t.done = true
	k := len(t.events)
	if k == 0 {
		return nil
	}
	m := t.m
	m.mu.Lock()
	c := len(m.buf)
	m.head = (m.head - k + c) % c
	for i, e := range t.events {
		m.buf[(m.head+i)%c] = e
	}
	m.n += k
	m.reserved -= k
	m.counter.SetSize(m.n)
	close(m.data)
	m.data = make(chan struct{})
	m.mu.Unlock()
	m.counter.EventRollback.Add(k)
	t.events = nil
	return nil
}

// MemoryFactory is the factory of `type = memory`.
func MemoryFactory() component.ChannelFactory {
	return component.ChannelFactory{
		Type:      "memory",
		Aliases:   []string{"org.apache.flume.channel.MemoryChannel"},
		NewConfig: func() component.Config { return NewMemoryConfig() },
		Create: func(set component.ChannelSettings, cfg component.Config) (component.Channel, error) {
			return NewMemory(*cfg.(*MemoryConfig), set.Counter), nil
		},
	}
}
