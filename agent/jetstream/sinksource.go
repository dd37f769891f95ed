package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/monitor"
)

// EndpointConfig is the configuration of a jetstream sink or source: the
// stream to publish to or consume from, and the batch size. The stream
// properties mean what they mean on the jetstream channel; stream and
// subject are required here.
type EndpointConfig struct {
	Servers      string `prop:"servers,required"`
	Stream       string `prop:"stream,required"`
	Subject      string `prop:"subject,required"`
	Durable      string `prop:"durable"` // source: the consumer (vscope)
	Replicas     int    `prop:"replicas"`
	Storage      string `prop:"storage"`
	Capacity     int    `prop:"capacity"`
	ByteCapacity int64  `prop:"byteCapacity"`
	// CreateStream creates (or updates) a work-queue stream and the
	// consumer (true); false uses the existing ones.
	CreateStream   bool   `prop:"createStream"`
	AckWait        int64  `prop:"ackWait"`
	MaxPending     int    `prop:"maxPending"`
	ConnectTimeout int64  `prop:"connect-timeout"`
	RequestTimeout int64  `prop:"request-timeout"`
	User           string `prop:"user"`
	Password       string `prop:"password"`
	Token          string `prop:"token"`
	Credentials    string `prop:"credentials"`
	TLSCA          string `prop:"tls.ca"`
	TLSCert        string `prop:"tls.cert"`
	TLSKey         string `prop:"tls.key"`
	// Batch is events per take (sink) or per put into the channels
	// (source). Default 100.
	Batch int `prop:"batchSize"`
}

// NewEndpointConfig returns the defaults.
func NewEndpointConfig() *EndpointConfig {
	c := NewChannelConfig()
	return &EndpointConfig{Durable: c.Durable, Replicas: c.Replicas, Storage: c.Storage, Capacity: c.Capacity,
		CreateStream: true, AckWait: c.AckWait, MaxPending: c.MaxPending, ConnectTimeout: c.ConnectTimeout,
		RequestTimeout: c.RequestTimeout, Batch: 100}
}

func (c *EndpointConfig) channel() ChannelConfig {
	return ChannelConfig{Servers: c.Servers, Stream: c.Stream, Subject: c.Subject, Durable: c.Durable,
		Replicas: c.Replicas, Storage: c.Storage, Capacity: c.Capacity, ByteCapacity: c.ByteCapacity,
		TxCapacity: max(c.Batch, 1), AckWait: c.AckWait, MaxPending: max(c.MaxPending, c.Batch),
		CreateStream: c.CreateStream, ConnectTimeout: c.ConnectTimeout, RequestTimeout: c.RequestTimeout,
		User: c.User, Password: c.Password, Token: c.Token, Credentials: c.Credentials,
		TLSCA: c.TLSCA, TLSCert: c.TLSCert, TLSKey: c.TLSKey}
}

// Validate checks the configuration.
func (c *EndpointConfig) Validate() error {
	if c.Batch <= 0 {
		return fmt.Errorf("batchSize must be positive, got %d", c.Batch)
	}
	cc := c.channel()
	return cc.Validate()
}

// BatchSize implements component.BatchSizer.
func (c *EndpointConfig) BatchSize() int { return c.Batch }

// SetBatchSize lowers the default to fit the channel.
func (c *EndpointConfig) SetBatchSize(n int) { c.Batch = n }

// Sink publishes the batches it takes from its channel to a JetStream
// stream and commits each take only after JetStream acknowledged every
// message of it.
type Sink struct {
	set component.SinkSettings
	out *Channel // the stream, used through the channel's Put
	bat int
}

// NewSink builds a jetstream sink.
func NewSink(set component.SinkSettings, cfg EndpointConfig) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Channel == nil || set.Counter == nil {
		return nil, fmt.Errorf("jetstream sink %q needs a channel and counters", set.Name)
	}
	cs := component.ChannelSettings{Settings: set.Settings, Counter: monitor.NewRegistry(set.Agent).Channel(set.Name, "jetstream-sink")}
	out, err := NewChannel(cs, cfg.channel())
	if err != nil {
		return nil, err
	}
	out.cfg.KeepAlive = 0 // a full stream fails the batch at once; the runner backs off
	return &Sink{set: set, out: out, bat: cfg.Batch}, nil
}

// Start connects to the stream.
func (s *Sink) Start(ctx context.Context, host component.Host) error {
	if err := s.out.Start(ctx, host); err != nil {
		s.set.Counter.ConnectionFailed.Inc()
		return err
	}
	s.set.Counter.ConnectionCreated.Inc()
	s.set.Counter.MarkStarted()
	return nil
}

// Stop closes the connection. Safe without Start and twice.
func (s *Sink) Stop(ctx context.Context) error {
	if s.out.connection() != nil {
		s.set.Counter.ConnectionClosed.Inc()
		s.set.Counter.MarkStopped()
	}
	return s.out.Stop(ctx)
}

// Process takes a batch, publishes it and commits the take once every
// message is stored; on failure the take is rolled back.
func (s *Sink) Process(ctx context.Context) (component.Status, error) {
	c := s.set.Counter
	start := time.Now()
	tx, err := s.set.Channel.Take(ctx, s.bat)
	if err != nil {
		c.ChannelReadFail.Inc()
		return component.Backoff, fmt.Errorf("take from channel: %w", err)
	}
	events := tx.Events()
	n := len(events)
	c.CountBatch(n, s.bat)
	if n == 0 {
		return component.Backoff, tx.Commit()
	}
	c.EventDrainAttempt.Add(n)
	if err := s.out.Put(ctx, events); err != nil {
		c.EventWriteFail.Inc()
		if rerr := tx.Rollback(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return component.Backoff, err
	}
	if err := tx.Commit(); err != nil {
		c.ChannelReadFail.Inc()
		return component.Backoff, fmt.Errorf("commit take of %d events: %w", n, err)
	}
	c.EventDrainSuccess.Add(n)
	c.BatchDuration.UpdateDuration(start)
	return component.Ready, nil
}

// Source consumes a JetStream stream through a durable consumer: each
// batch is put into the source's channels and acknowledged to JetStream
// only after they committed it; a batch they refuse is kept and offered
// again, in order, after a back-off.
type Source struct {
	set component.SourceSettings
	in  *Channel // the stream, used through the channel's Take
	bat int
	log *slog.Logger

	mu     sync.Mutex // protects cancel
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewSource builds a jetstream source.
func NewSource(set component.SourceSettings, cfg EndpointConfig) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Processor == nil {
		return nil, errors.New("jetstream source: no processor")
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Counter == nil {
		set.Counter = monitor.NewRegistry(set.Agent).Source(set.Name, set.Type)
	}
	cs := component.ChannelSettings{Settings: set.Settings, Counter: monitor.NewRegistry(set.Agent).Channel(set.Name, "jetstream-source")}
	in, err := NewChannel(cs, cfg.channel())
	if err != nil {
		return nil, err
	}
	return &Source{set: set, in: in, bat: cfg.Batch, log: set.Logger}, nil
}

// Start connects and starts consuming.
func (s *Source) Start(ctx context.Context, host component.Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return errors.New("jetstream source: already started")
	}
	if err := s.in.Start(ctx, host); err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go s.run(rctx)
	s.set.Counter.MarkStarted()
	return nil
}

// Stop stops consuming; a batch being put finishes first. Messages taken
// and not committed are delivered again. Safe without Start and twice.
func (s *Source) Stop(ctx context.Context) error {
	s.mu.Lock()
	cancel := s.cancel
	s.cancel = nil
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	s.wg.Wait()
	s.set.Counter.MarkStopped()
	return s.in.Stop(ctx)
}

func (s *Source) run(ctx context.Context) {
	defer s.wg.Done()
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		wake := s.in.Notify()
		n, err := s.once(ctx)
		switch {
		case err != nil:
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			if ctx.Err() == nil {
				s.log.Warn("jetstream source: batch not delivered; retrying", "err", err, "retry_in", backoff)
			}
			wake = nil
		case n > 0:
			backoff = 0
			continue
		default:
			backoff = time.Second // idle: the channel's poller wakes us sooner
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// once moves one batch from the stream into the channels.
func (s *Source) once(ctx context.Context) (int, error) {
	tk, err := s.in.Take(ctx, s.bat)
	if err != nil {
		return 0, err
	}
	events := tk.Events()
	if len(events) == 0 {
		return 0, tk.Commit()
	}
	c := s.set.Counter
	c.AppendBatchReceived.Inc()
	c.EventReceived.Add(len(events))
	start := time.Now()
	// Stop does not abort a put in progress: it finishes (within the
	// channels' keep-alive) and is acknowledged.
	err = s.set.Processor.Process(context.WithoutCancel(ctx), events)
	c.PutDuration.UpdateDuration(start)
	if err != nil {
		c.ChannelWriteFail.Inc()
		return 0, errors.Join(err, tk.Rollback())
	}
	if err := tk.Commit(); err != nil {
		// The events are in the channels; JetStream will deliver them
		// again after ackWait: a duplicate, not a loss.
		c.GenericProcessFail.Inc()
		return 0, fmt.Errorf("ack %d messages: %w", len(events), err)
	}
	c.AppendBatchAccepted.Inc()
	c.EventAccepted.Add(len(events))
	return len(events), nil
}

// SinkFactory is the factory of the jetstream sink.
func SinkFactory() component.SinkFactory {
	return component.SinkFactory{
		Type:      "jetstream",
		NewConfig: func() component.Config { return NewEndpointConfig() },
		Create: func(set component.SinkSettings, cfg component.Config) (component.Sink, error) {
			return NewSink(set, *cfg.(*EndpointConfig))
		},
	}
}

// SourceFactory is the factory of the jetstream source.
func SourceFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:      "jetstream",
		NewConfig: func() component.Config { return NewEndpointConfig() },
		Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			return NewSource(set, *cfg.(*EndpointConfig))
		},
	}
}
