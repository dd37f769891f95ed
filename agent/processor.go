package agent

import (
	"context"
	"fmt"
	"sync"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
)

// channelProcessor is Flume's ChannelProcessor: it runs a source's
// interceptor chain, then puts each event into the channels its selector
// picks. A failed put on a required channel fails the whole batch (the
// source refuses it or retries); a failed put on an optional channel is
// only reported.
type channelProcessor struct {
	interceptors []component.Interceptor
	sel          config.SelectorSpec
	channels     map[string]component.Channel
	required     []string // replicating: every channel that is not optional
	onOptErr     func(ch string, err error)

	pool sync.Pool // *routes, reused by multiplexing batches
}

// routes is the per-channel split of one multiplexed batch.
type routes struct {
	required map[string][]event.Event
	optional map[string][]event.Event
}

func newChannelProcessor(ss *config.SourceSpec, chans map[string]component.Channel, icpts []component.Interceptor, onOptErr func(string, error)) *channelProcessor {
	p := &channelProcessor{interceptors: icpts, sel: ss.Selector, channels: chans, onOptErr: onOptErr}
	for _, c := range ss.Channels {
		if !contains(ss.Selector.Optional, c) {
			p.required = append(p.required, c)
		}
	}
	p.pool.New = func() any {
		return &routes{required: map[string][]event.Event{}, optional: map[string][]event.Event{}}
	}
	return p
}

// Process implements component.Processor.
func (p *channelProcessor) Process(ctx context.Context, batch []event.Event) error {
	for _, ic := range p.interceptors {
		batch = ic.Intercept(batch)
	}
	if len(batch) == 0 {
		return nil
	}
	if p.sel.Type == config.SelectorMultiplexing {
		return p.multiplex(ctx, batch)
	}
	for _, c := range p.required {
		if err := p.channels[c].Put(ctx, batch); err != nil {
			return fmt.Errorf("put into channel %s: %w", c, err)
		}
	}
	for _, c := range p.sel.Optional {
		if err := p.channels[c].Put(ctx, batch); err != nil && p.onOptErr != nil {
			p.onOptErr(c, err)
		}
	}
	return nil
}

// multiplex routes each event by the selector header: mapped values go to
// their channels, others to the default channels.
func (p *channelProcessor) multiplex(ctx context.Context, batch []event.Event) error {
	r := p.pool.Get().(*routes)
	defer func() {
		// Clear so the pooled arrays do not pin the events' bodies.
		for k, v := range r.required {
			clear(v)
			r.required[k] = v[:0]
		}
		for k, v := range r.optional {
			clear(v)
			r.optional[k] = v[:0]
		}
		p.pool.Put(r)
	}()
	for _, e := range batch {
		v := e.Headers[p.sel.Header]
		req := p.sel.Mapping[v]
		if len(req) == 0 {
			req = p.sel.Default
		}
		for _, c := range req {
			r.required[c] = append(r.required[c], e)
		}
		for _, c := range p.sel.OptionalMapping[v] {
			if !contains(req, c) {
				r.optional[c] = append(r.optional[c], e)
			}
		}
	}
	for c, evs := range r.required {
		if len(evs) == 0 {
			continue
		}
		if err := p.channels[c].Put(ctx, evs); err != nil {
			return fmt.Errorf("put into channel %s: %w", c, err)
		}
	}
	for c, evs := range r.optional {
		if len(evs) == 0 {
			continue
		}
		if err := p.channels[c].Put(ctx, evs); err != nil && p.onOptErr != nil {
			p.onOptErr(c, err)
		}
	}
	return nil
}
