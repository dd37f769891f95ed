package source

import (
	"context"
	"log/slog"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

// withDefaults fills what a caller outside the agent (a test, an embedding
// program) may leave out of the settings: a logger that discards and
// counters of a private registry.
func withDefaults(set component.SourceSettings) component.SourceSettings {
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Counter == nil {
		set.Counter = monitor.NewRegistry(set.Agent).Source(set.Name, set.Type)
	}
	return set
}

// deliver hands batch to the processor and keeps the Flume counters: the
// batch is counted as received before the put and as accepted only after
// the processor committed it; a failed put counts one ChannelWriteFail.
func deliver(ctx context.Context, set *component.SourceSettings, batch []event.Event) error {
	c := set.Counter
	n := len(batch)
	c.AppendBatchReceived.Inc()
	c.EventReceived.Add(n)
	start := time.Now()
	err := set.Processor.Process(ctx, batch)
	c.PutDuration.UpdateDuration(start)
	if err != nil {
		c.ChannelWriteFail.Inc()
		return err
	}
	c.AppendBatchAccepted.Inc()
	c.EventAccepted.Add(n)
	return nil
}

// nopHost is the host of a source started without one: fatal errors are
// only logged.
type nopHost struct{ log *slog.Logger }

func (h nopHost) ReportFatal(err error) { h.log.Error("source failed", "err", err) }

func hostOrNop(h component.Host, log *slog.Logger) component.Host {
	if h == nil {
		return nopHost{log}
	}
	return h
}
