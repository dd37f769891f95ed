package monitor

import (
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// SourceCounter is Flume's SourceCounter: what a source received and what
// its channels accepted.
type SourceCounter struct {
	lifecycle
	open atomic.Int64 // connections currently open

	EventReceived       *metrics.Counter
	EventAccepted       *metrics.Counter
	AppendReceived      *metrics.Counter
	AppendAccepted      *metrics.Counter
	AppendBatchReceived *metrics.Counter
	AppendBatchAccepted *metrics.Counter
	ChannelWriteFail    *metrics.Counter
	EventReadFail       *metrics.Counter
	GenericProcessFail  *metrics.Counter
	// PutDuration is the time one batch spent in the channel processor.
	PutDuration *metrics.Histogram
}

// Source returns the counters of the named source, creating them on first
// use. The same counters are returned across a reload.
func (r *Registry) Source(name, typ string) *SourceCounter {
	g := r.lookup(KindSource, name, typ, func(g *group) {
		c := &SourceCounter{lifecycle: lifecycle{g}}
		c.EventReceived = r.counter(g, "EventReceivedCount")
		c.EventAccepted = r.counter(g, "EventAcceptedCount")
		c.AppendReceived = r.counter(g, "AppendReceivedCount")
		c.AppendAccepted = r.counter(g, "AppendAcceptedCount")
		c.AppendBatchReceived = r.counter(g, "AppendBatchReceivedCount")
		c.AppendBatchAccepted = r.counter(g, "AppendBatchAcceptedCount")
		r.gauge(g, "OpenConnectionCount", func() float64 { return float64(c.open.Load()) })
		c.ChannelWriteFail = r.counter(g, "ChannelWriteFail")
		c.EventReadFail = r.counter(g, "EventReadFail")
		c.GenericProcessFail = r.counter(g, "GenericProcessingFail")
		c.PutDuration = r.histogram(g, "put_duration_seconds")
		g.counters = c
	})
	return g.counters.(*SourceCounter)
}

// ConnOpened records a newly accepted client connection.
func (c *SourceCounter) ConnOpened() { c.open.Add(1) }

// ConnClosed records a closed client connection.
func (c *SourceCounter) ConnClosed() { c.open.Add(-1) }

// ChannelCounter is Flume's ChannelCounter. The channel reports its size
// and capacity; fill percentage is derived.
type ChannelCounter struct {
	lifecycle
	size     atomic.Int64
	capacity atomic.Int64

	EventPutAttempt  *metrics.Counter
	EventPutSuccess  *metrics.Counter
	EventTakeAttempt *metrics.Counter
	EventTakeSuccess *metrics.Counter
	// EventRollback counts taken events that went back to the channel.
	EventRollback *metrics.Counter
}

// Channel returns the counters of the named channel.
func (r *Registry) Channel(name, typ string) *ChannelCounter {
	g := r.lookup(KindChannel, name, typ, func(g *group) {
		c := &ChannelCounter{lifecycle: lifecycle{g}}
		r.gauge(g, "ChannelSize", func() float64 { return float64(c.size.Load()) })
		r.gauge(g, "ChannelCapacity", func() float64 { return float64(c.capacity.Load()) })
		r.gauge(g, "ChannelFillPercentage", c.FillPercentage)
		c.EventPutAttempt = r.counter(g, "EventPutAttemptCount")
		c.EventPutSuccess = r.counter(g, "EventPutSuccessCount")
		c.EventTakeAttempt = r.counter(g, "EventTakeAttemptCount")
		c.EventTakeSuccess = r.counter(g, "EventTakeSuccessCount")
		c.EventRollback = r.counter(g, "EventRollbackCount")
		g.counters = c
	})
	return g.counters.(*ChannelCounter)
}

// SetSize records the number of events in the channel.
func (c *ChannelCounter) SetSize(n int) { c.size.Store(int64(n)) }

// SetCapacity records the channel's capacity in events.
func (c *ChannelCounter) SetCapacity(n int) { c.capacity.Store(int64(n)) }

// Size is the last recorded size.
func (c *ChannelCounter) Size() int { return int(c.size.Load()) }

// FillPercentage is size over capacity, in percent.
func (c *ChannelCounter) FillPercentage() float64 {
	capacity := c.capacity.Load()
	if capacity == 0 {
		return 0
	}
	return float64(c.size.Load()) * 100 / float64(capacity)
}

// SinkCounter is Flume's SinkCounter.
type SinkCounter struct {
	lifecycle
	ConnectionCreated *metrics.Counter
	ConnectionClosed  *metrics.Counter
	ConnectionFailed  *metrics.Counter
	BatchEmpty        *metrics.Counter
	BatchUnderflow    *metrics.Counter
	BatchComplete     *metrics.Counter
	EventDrainAttempt *metrics.Counter
	EventDrainSuccess *metrics.Counter
	EventWriteFail    *metrics.Counter
	ChannelReadFail   *metrics.Counter
	// BatchDuration is the time from take to commit of one batch.
	BatchDuration *metrics.Histogram
}

// Sink returns the counters of the named sink.
func (r *Registry) Sink(name, typ string) *SinkCounter {
	g := r.lookup(KindSink, name, typ, func(g *group) {
		c := &SinkCounter{lifecycle: lifecycle{g}}
		c.ConnectionCreated = r.counter(g, "ConnectionCreatedCount")
		c.ConnectionClosed = r.counter(g, "ConnectionClosedCount")
		c.ConnectionFailed = r.counter(g, "ConnectionFailedCount")
		c.BatchEmpty = r.counter(g, "BatchEmptyCount")
		c.BatchUnderflow = r.counter(g, "BatchUnderflowCount")
		c.BatchComplete = r.counter(g, "BatchCompleteCount")
		c.EventDrainAttempt = r.counter(g, "EventDrainAttemptCount")
		c.EventDrainSuccess = r.counter(g, "EventDrainSuccessCount")
		c.EventWriteFail = r.counter(g, "EventWriteFail")
		c.ChannelReadFail = r.counter(g, "ChannelReadFail")
		c.BatchDuration = r.histogram(g, "batch_duration_seconds")
		g.counters = c
	})
	return g.counters.(*SinkCounter)
}

// CountBatch records a taken batch of n events against a batch size of
// max, the way Flume's sinks classify batches.
func (c *SinkCounter) CountBatch(n, max int) {
	switch {
	case n == 0:
		c.BatchEmpty.Inc()
	case n < max:
		c.BatchUnderflow.Inc()
	default:
		c.BatchComplete.Inc()
	}
}
