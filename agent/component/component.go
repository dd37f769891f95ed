package component

import (
	"context"
	"errors"
	"log/slog"

	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

// Errors shared by every component kind. Retryable conditions (a full
// channel) are distinguished from permanent ones (a batch that can never fit)
// so callers know whether to back off or give up.
var (
	// ErrChannelFull means the channel had no room within its keep-alive
	// wait. The put did not happen; retry later.
	ErrChannelFull = errors.New("channel full")
	// ErrTooLarge means a batch exceeds the channel's transactionCapacity
	// or byteCapacity; it can never succeed as is.
	ErrTooLarge = errors.New("batch exceeds channel transaction or byte capacity")
	// ErrStopped means the component was stopped.
	ErrStopped = errors.New("component stopped")
	// ErrTxDone means Commit or Rollback was called on a finished transaction.
	ErrTxDone = errors.New("transaction already committed or rolled back")
)

// Component is the lifecycle every source, channel and sink shares.
// Stop must be safe without Start and safe to call twice; it stops intake
// first, flushes what it holds, and honours the ctx deadline.
type Component interface {
	Start(ctx context.Context, host Host) error
	Stop(ctx context.Context) error
}

// Host is what a running component may ask of the agent that runs it.
type Host interface {
	// ReportFatal tells the supervisor that the component failed after
	// Start returned; the supervisor stops and restarts it with back-off.
	ReportFatal(err error)
}

// HostFunc adapts a function to Host.
type HostFunc func(err error)

// ReportFatal calls f(err).
func (f HostFunc) ReportFatal(err error) { f(err) }

// Status is what a pollable source or a sink returns to its runner.
type Status int

const (
	// Ready means work was done; call again at once.
	Ready Status = iota
	// Backoff means there was nothing to do (or a retryable failure); the
	// runner waits before calling again.
	Backoff
)

func (s Status) String() string {
	if s == Ready {
		return "READY"
	}
	return "BACKOFF"
}

// Channel is a transactional queue between sources and sinks.
type Channel interface {
	Component
	// Put stores batch atomically: takers see all of it or none of it, and
	// only after Put returns nil. It waits up to the channel's keep-alive
	// for room, then returns ErrChannelFull. The channel copies the
	// event values; the caller may reuse the batch slice afterwards.
	Put(ctx context.Context, batch []event.Event) error
	// Take removes up to max events without waiting and returns them in a
	// transaction. Their space is released on Commit; on Rollback they go
	// back to the head of the queue in their original order. The returned
	// transaction may hold zero events; it must still be finished.
	Take(ctx context.Context, max int) (Take, error)
	// Notify returns a channel that is closed when events are next put.
	// Runners wait on it instead of sleeping a fixed back-off.
	Notify() <-chan struct{}
}

// Take is an open take transaction. Exactly one of Commit or Rollback must
// be called; the transaction is discarded afterwards and Events must not be
// used after either.
type Take interface {
	Events() []event.Event
	Commit() error
	Rollback() error
}

// Processor receives batches from a source and puts them into the source's
// channels (Flume's ChannelProcessor: interceptors, then the selector).
type Processor interface {
	// Process puts batch into every required channel; it returns nil only
	// when all of them committed. The caller may reuse batch afterwards.
	Process(ctx context.Context, batch []event.Event) error
}

// ProcessorFunc adapts a function to Processor.
type ProcessorFunc func(ctx context.Context, batch []event.Event) error

// Process calls f(ctx, batch).
func (f ProcessorFunc) Process(ctx context.Context, batch []event.Event) error { return f(ctx, batch) }

// Interceptor inspects, changes or drops events between a source and its
// channels (Flume's interceptor chain). Intercept may modify the events in
// place and returns the events to keep, which may share batch's backing
// array. It must not keep references to the batch after it returns.
type Interceptor interface {
	Intercept(batch []event.Event) []event.Event
}

// InterceptorFunc adapts a function to Interceptor.
type InterceptorFunc func(batch []event.Event) []event.Event

// Intercept calls f(batch).
func (f InterceptorFunc) Intercept(batch []event.Event) []event.Event { return f(batch) }

// Source produces events. A source is either pollable (it also implements
// Poller and a runner drives it) or event-driven (it runs its own
// goroutines, typically a server, from Start).
type Source interface {
	Component
}

// Poller is implemented by pollable sources and by sinks: the runner calls
// Process in a loop and waits when it returns Backoff.
type Poller interface {
	Process(ctx context.Context) (Status, error)
}

// Sink drains its channel: each Process takes a batch, delivers it and
// commits the take (or rolls it back on failure).
type Sink interface {
	Component
	Poller
}

// Settings is what the agent hands every component it builds.
type Settings struct {
	Agent  string // agent name, e.g. "a1"
	Name   string // component name, e.g. "r1"
	Type   string // configured type, e.g. "netcat"
	Logger *slog.Logger
}

// SourceSettings adds what a source needs: its counters and where to put.
type SourceSettings struct {
	Settings
	Counter   *monitor.SourceCounter
	Processor Processor
}

// SinkSettings adds what a sink needs: its counters and its channel.
type SinkSettings struct {
	Settings
	Counter *monitor.SinkCounter
	Channel Channel
}

// ChannelSettings adds the channel's counters.
type ChannelSettings struct {
	Settings
	Counter *monitor.ChannelCounter
}
