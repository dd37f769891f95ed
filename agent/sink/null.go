package sink

import (
	"context"
	"fmt"

	"github.com/vscope/vscope/agent/component"
)

// NullConfig is the configuration of a null sink.
type NullConfig struct {
	Batch int `prop:"batchSize"` // events per take
}

// NewNullConfig returns Flume's defaults.
func NewNullConfig() *NullConfig { return &NullConfig{Batch: defaultBatchSize} }

// Validate checks the batch size.
func (c *NullConfig) Validate() error {
	if c.Batch <= 0 {
		return fmt.Errorf("batchSize must be positive, got %d", c.Batch)
	}
	return nil
}

// BatchSize implements component.BatchSizer.
func (c *NullConfig) BatchSize() int { return c.Batch }

// SetBatchSize lowers a default batch size to fit the channel.
func (c *NullConfig) SetBatchSize(n int) { c.Batch = n }

// Null is Flume's NullSink: it takes batches and discards them. It keeps
// no state besides its settings, so it is as fast as the channel allows.
type Null struct {
	set component.SinkSettings
	d   drainer
}

// NewNull builds a null sink.
func NewNull(set component.SinkSettings, cfg NullConfig) (*Null, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, err := newDrainer(set, cfg.Batch)
	if err != nil {
		return nil, err
	}
	return &Null{set: set, d: d}, nil
}

// Start implements component.Component.
func (s *Null) Start(context.Context, component.Host) error {
	s.set.Counter.MarkStarted()
	return nil
}

// Stop implements component.Component; it holds nothing to flush.
func (s *Null) Stop(context.Context) error {
	s.set.Counter.MarkStopped()
	return nil
}

// Process takes a batch and commits it.
func (s *Null) Process(ctx context.Context) (component.Status, error) {
	return s.d.drain(ctx, nil)
}

// NullFactory is the factory of `type = null`.
func NullFactory() component.SinkFactory {
	return component.SinkFactory{
		Type:      "null",
		Aliases:   []string{"org.apache.flume.sink.NullSink"},
		NewConfig: func() component.Config { return NewNullConfig() },
		Create: func(set component.SinkSettings, cfg component.Config) (component.Sink, error) {
			return NewNull(set, *cfg.(*NullConfig))
		},
	}
}
