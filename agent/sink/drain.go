package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

// defaultBatchSize is Flume's default batchSize for every sink here.
const defaultBatchSize = 100

// drainer runs one take-deliver-commit cycle, the part every sink shares,
// and keeps Flume's sink counters for it.
type drainer struct {
	ch      component.Channel
	counter *monitor.SinkCounter
	batch   int
}

// drain takes up to d.batch events and passes them to deliver (nil
// delivers nowhere). If deliver fails, the take is rolled back and the
// error returned with Backoff; deliver counts its own kind of failure.
func (d *drainer) drain(ctx context.Context, deliver func([]event.Event) error) (component.Status, error) {
	start := time.Now()
	tx, err := d.ch.Take(ctx, d.batch)
	if err != nil {
		d.counter.ChannelReadFail.Inc()
		return component.Backoff, fmt.Errorf("take from channel: %w", err)
	}
	events := tx.Events()
	n := len(events)
	d.counter.CountBatch(n, d.batch)
	if n == 0 {
		if err := tx.Commit(); err != nil {
			return component.Backoff, fmt.Errorf("commit empty take: %w", err)
		}
		return component.Backoff, nil
	}
	d.counter.EventDrainAttempt.Add(n)
	if deliver != nil {
		if err := deliver(events); err != nil {
			if rerr := tx.Rollback(); rerr != nil {
				err = errors.Join(err, fmt.Errorf("roll back take of %d events: %w", n, rerr))
			}
			return component.Backoff, err
		}
	}
	if err := tx.Commit(); err != nil {
		d.counter.ChannelReadFail.Inc()
		return component.Backoff, fmt.Errorf("commit take of %d events: %w", n, err)
	}
	d.counter.EventDrainSuccess.Add(n)
	d.counter.BatchDuration.UpdateDuration(start)
	return component.Ready, nil
}

// newDrainer checks what every sink needs from its settings.
func newDrainer(set component.SinkSettings, batch int) (drainer, error) {
	if set.Channel == nil {
		return drainer{}, fmt.Errorf("sink %q has no channel", set.Name)
	}
	if set.Counter == nil {
		return drainer{}, fmt.Errorf("sink %q has no counters", set.Name)
	}
	if batch <= 0 {
		return drainer{}, fmt.Errorf("batchSize must be positive, got %d", batch)
	}
	return drainer{ch: set.Channel, counter: set.Counter, batch: batch}, nil
}

// loggerOr returns l, or a logger that discards everything when l is nil.
func loggerOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// appendHeaders appends h the way Java prints a Map, `{k1=v1, k2=v2}`,
// with the keys sorted so the output is stable.
func appendHeaders(dst []byte, h map[string]string) []byte {
	dst = append(dst, '{')
	if len(h) > 0 {
		keys := make([]string, 0, len(h))
		for k := range h {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = append(dst, k...)
			dst = append(dst, '=')
			dst = append(dst, h[k]...)
		}
	}
	return append(dst, '}')
}
