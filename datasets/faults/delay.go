package faults

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vscope/vscope/agent/component"
)

// sinkDelays holds the added per-batch latency of each sink of a member
// process, by sink name; it is changed at run time by the control API.
type sinkDelays struct {
	mu sync.Mutex // protects m
	m  map[string]*atomic.Int64
}

func newSinkDelays() *sinkDelays { return &sinkDelays{m: map[string]*atomic.Int64{}} }

// of returns the delay cell of the named sink, creating it.
func (d *sinkDelays) of(sink string) *atomic.Int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.m[sink]
	if !ok {
		c = new(atomic.Int64)
		d.m[sink] = c
	}
	return c
}

// set changes the named sink's delay (0 removes it).
func (d *sinkDelays) set(sink string, delay time.Duration) { d.of(sink).Store(int64(delay)) }

// clear sets every delay to 0.
func (d *sinkDelays) clear() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.m {
		c.Store(0)
	}
}

// withSinkDelays returns f whose sinks see their channel through a wrapper
// that holds every non-empty take for the sink's current delay before
// committing it. The delay falls between the take and the commit, so it
// is part of the sink's batch_duration, and while it lasts the sink drains
// no faster than a batch per delay: a slow disk or a slow HDFS, made on
// the real data path. The agent's core is untouched: only the factories
// of this process are wrapped.
func withSinkDelays(f component.Factories, d *sinkDelays) component.Factories {
	sinks := make(map[string]component.SinkFactory, len(f.Sinks))
	for name, sf := range f.Sinks {
		create := sf.Create
		sf.Create = func(set component.SinkSettings, cfg component.Config) (component.Sink, error) {
			if set.Channel != nil {
				set.Channel = &slowChannel{Channel: set.Channel, delay: d.of(set.Name)}
			}
			return create(set, cfg)
		}
		sinks[name] = sf
	}
	f.Sinks = sinks
	return f
}

// slowChannel is a sink's view of its channel under a slow-sink fault.
type slowChannel struct {
	component.Channel
	delay *atomic.Int64
}

// Take implements component.Channel.
func (c *slowChannel) Take(ctx context.Context, max int) (component.Take, error) {
	tx, err := c.Channel.Take(ctx, max)
	if err != nil {
		return tx, err
	}
	d := time.Duration(c.delay.Load())
	if d <= 0 || len(tx.Events()) == 0 {
		return tx, nil
	}
	return &slowTake{Take: tx, ctx: ctx, delay: d}, nil
}

// slowTake commits after the delay.
type slowTake struct {
	component.Take
	ctx   context.Context
	delay time.Duration
}

// Commit implements component.Take: it waits out the delay (or the sink's
// stop) first.
func (t *slowTake) Commit() error {
	timer := time.NewTimer(t.delay)
	select {
	case <-timer.C:
	case <-t.ctx.Done():
		timer.Stop()
	}
	return t.Take.Commit()
}
