package agent

import (
	"context"
	"fmt"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// replicating is Flume's default channel processor with the replicating
// selector: every event goes to every channel; a failure on a required
// channel fails the batch (the source retries or refuses it), a failure on
// an optional channel is only counted and logged.
type replicating struct {
	required []namedChannel
	optional []namedChannel
	onOptErr func(ch string, err error)
}

type namedChannel struct {
	name string
	ch   component.Channel
}

// Process implements component.Processor.
func (p *replicating) Process(ctx context.Context, batch []event.Event) error {
	if len(batch) == 0 {
		return nil
	}
	for _, c := range p.required {
		if err := c.ch.Put(ctx, batch); err != nil {
			return fmt.Errorf("put into channel %s: %w", c.name, err)
		}
	}
	for _, c := range p.optional {
		if err := c.ch.Put(ctx, batch); err != nil && p.onOptErr != nil {
			p.onOptErr(c.name, err)
		}
	}
	return nil
}
