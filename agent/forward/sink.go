package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// SinkConfig is the configuration of a forward sink: Flume's avro sink
// properties, plus groups (vscope extension).
type SinkConfig struct {
	// Hostname and Port name one collector, as in Flume. Either they or
	// Group are set.
	Hostname string `prop:"hostname"`
	Port     int    `prop:"port"`
	// Group names a group defined under groups.NAME.* in the same sink.
	Group  string            `prop:"group"`
	Groups map[string]string `prop:"groups.*"`
	// Batch is events per take (batch-size, Flume's name; batchSize is
	// accepted too and wins when set). Default 100, lowered to the
	// channel's transactionCapacity when that is smaller.
	Batch    int `prop:"batch-size"`
	BatchAlt int `prop:"batchSize"`
	// ConnectTimeout and RequestTimeout are milliseconds (20000 each).
	ConnectTimeout int64 `prop:"connect-timeout"`
	RequestTimeout int64 `prop:"request-timeout"`
	// ResetConnectionInterval is seconds after which a connection is
	// closed and reopened (0: never), as in Flume.
	ResetConnectionInterval int `prop:"reset-connection-interval"`
	// Compression is none, deflate, zstd or snappy; CompressionLevel is
	// the deflate (1-9, default 6) or zstd (1-22, default 3) level.
	Compression      string `prop:"compression-type"`
	CompressionLevel int    `prop:"compression-level"`
	// MaxFrame caps the frames sent, below the collector's own limit
	// (vscope extension; default 16 MiB).
	MaxFrame int `prop:"max-frame-size"`
	// MaxIoWorkers is accepted for Flume compatibility; one connection per
	// collector needs no I/O worker pool.
	MaxIoWorkers int `prop:"maxIoWorkers"`
	// TrustAllCerts skips verifying the collector's certificate.
	TrustAllCerts bool `prop:"trust-all-certs"`
	// ServerName is the name the collector's certificate must carry
	// (default: the host dialled).
	ServerName string `prop:"ssl.server-name"`

	// TLS: ssl turns it on; ssl.cert and ssl.key are the client
	// certificate for mutual TLS (PEM); ssl.ca the authorities the
	// collector's certificate must chain to (PEM; default: the system's).
	SSL     bool   `prop:"ssl"`
	SSLCert string `prop:"ssl.cert"`
	SSLKey  string `prop:"ssl.key"`
	SSLCA   string `prop:"ssl.ca"`
	// Protocols (exclude-protocols defaults to SSLv3, as in Flume; the
	// include list to TLSv1.2 TLSv1.3) and TLS 1.2 cipher suites.
	ExcludeProtocols    string `prop:"exclude-protocols"`
	IncludeProtocols    string `prop:"include-protocols"`
	ExcludeCipherSuites string `prop:"exclude-cipher-suites"`
	IncludeCipherSuites string `prop:"include-cipher-suites"`
	// Flume's Java truststore settings are refused with a pointer to ssl.ca.
	Truststore         string `prop:"truststore"`
	TruststorePassword string `prop:"truststore-password"`
	TruststoreType     string `prop:"truststore-type"`

	defaultBatch int // the batch size when none is set: 100, or lowered to the channel's
}

func (c *SinkConfig) ssl() sslConfig {
	return sslConfig{SSL: c.SSL, Cert: c.SSLCert, Key: c.SSLKey, CA: c.SSLCA,
		ExcludeProtocols: c.ExcludeProtocols, IncludeProtocols: c.IncludeProtocols,
		ExcludeCipherSuites: c.ExcludeCipherSuites, IncludeCipherSuites: c.IncludeCipherSuites,
		Truststore: c.Truststore, TruststorePassword: c.TruststorePassword, TruststoreType: c.TruststoreType}
}

// NewSinkConfig returns Flume's avro sink defaults.
func NewSinkConfig() *SinkConfig {
	return &SinkConfig{
		ConnectTimeout:   20000,
		RequestTimeout:   20000,
		Compression:      "none",
		MaxFrame:         DefaultMaxFrame,
		ExcludeProtocols: "SSLv3",
		defaultBatch:     100,
	}
}

// BatchSize implements component.BatchSizer: batchSize if set, else
// batch-size, else the default.
func (c *SinkConfig) BatchSize() int {
	switch {
	case c.BatchAlt != 0:
		return c.BatchAlt
	case c.Batch != 0:
		return c.Batch
	}
	return c.defaultBatch
}

// SetBatchSize lowers the default batch size to fit the channel; a size
// the user set is kept (and checked against the channel).
func (c *SinkConfig) SetBatchSize(n int) {
	if c.Batch == 0 && c.BatchAlt == 0 {
		c.defaultBatch = n
	}
}

// Validate checks the configuration; every problem is reported.
func (c *SinkConfig) Validate() error {
	var errs []error
	hostSet := c.Hostname != "" || c.Port != 0
	switch {
	case hostSet && c.Group != "":
		errs = append(errs, errors.New("set hostname and port, or group, not both"))
	case !hostSet && c.Group == "":
		errs = append(errs, errors.New("set hostname and port (one collector) or group (see groups.NAME.members)"))
	case hostSet:
		if strings.TrimSpace(c.Hostname) == "" {
			errs = append(errs, errors.New("hostname is required with port"))
		}
		if c.Port < 1 || c.Port > 65535 {
			errs = append(errs, fmt.Errorf("port must be 1 to 65535, got %d", c.Port))
		}
	}
	groups, gerrs := parseGroups(c.Groups)
	errs = append(errs, gerrs...)
	if c.Group != "" && groups[c.Group] == nil {
		errs = append(errs, fmt.Errorf("group %q is not defined (set groups.%s.members or groups.%s.file)", c.Group, c.Group, c.Group))
	}
	for name := range groups {
		if name != c.Group {
			errs = append(errs, fmt.Errorf("group %q is defined but the sink does not use it (group = %q)", name, c.Group))
		}
	}
	if c.BatchSize() <= 0 {
		errs = append(errs, fmt.Errorf("batch-size must be positive, got %d", c.BatchSize()))
	}
	if c.ConnectTimeout <= 0 || c.RequestTimeout <= 0 {
		errs = append(errs, errors.New("connect-timeout and request-timeout must be positive (milliseconds)"))
	}
	if c.ResetConnectionInterval < 0 {
		errs = append(errs, errors.New("reset-connection-interval must not be negative"))
	}
	codec, err := ParseCodec(c.Compression)
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.CompressionLevel < 0,
		codec == CodecDeflate && c.CompressionLevel > 9,
		codec == CodecZstd && c.CompressionLevel > 22:
		errs = append(errs, fmt.Errorf("compression-level %d is out of range for %s", c.CompressionLevel, codec))
	}
	if c.MaxFrame < 1024 {
		errs = append(errs, fmt.Errorf("max-frame-size must be at least 1024 bytes, got %d", c.MaxFrame))
	}
	if !c.SSL && (c.TrustAllCerts || c.ServerName != "") {
		errs = append(errs, errors.New("trust-all-certs and ssl.server-name need ssl = true"))
	}
	ssl := c.ssl()
	errs = append(errs, ssl.validate()...)
	return errors.Join(errs...)
}

// groupConfig builds the group the sink sends to.
func (c *SinkConfig) groupConfig() (GroupConfig, error) {
	codec, err := ParseCodec(c.Compression)
	if err != nil {
		return GroupConfig{}, err
	}
	gc := GroupConfig{
		Mode:          RoundRobin,
		ResetInterval: time.Duration(c.ResetConnectionInterval) * time.Second,
		Client: ClientConfig{
			ConnectTimeout: millis(c.ConnectTimeout),
			RequestTimeout: millis(c.RequestTimeout),
			Codec:          codec,
			Level:          c.CompressionLevel,
			MaxFrame:       c.MaxFrame,
		},
	}
	if c.Group == "" {
		addr := net.JoinHostPort(strings.TrimSpace(c.Hostname), strconv.Itoa(c.Port))
		gc.Name, gc.Members = addr, []string{addr}
	} else {
		groups, errs := parseGroups(c.Groups)
		if len(errs) > 0 {
			return GroupConfig{}, errors.Join(errs...)
		}
		g := groups[c.Group]
		gc.Name, gc.Members, gc.File, gc.FileCheck = g.Name, g.Members, g.File, g.CheckInterval
		gc.Mode, gc.Backoff, gc.MaxBackoff = g.Mode, g.Backoff, g.MaxBackoff
		gc.Client.Group = c.Group
	}
	if c.SSL {
		ssl := c.ssl()
		o := ssl.options()
		o.TrustAll, o.ServerName = c.TrustAllCerts, c.ServerName
		tcfg, err := o.ClientConfig()
		if err != nil {
			return GroupConfig{}, err
		}
		gc.Client.TLS = tcfg
	}
	return gc, nil
}

// Sink is the forward sink: it takes a batch from its channel, sends it to
// its group (or its one collector) and commits the take only after the
// whole batch was acknowledged, which a collector does only after its own
// channels committed it. While a batch fails, its take stays open and the
// events not yet acknowledged are sent again at the next Process (after
// the runner's back-off), so frames that did get through are not sent
// twice; Stop rolls an open take back into the channel.
type Sink struct {
	set   component.SinkSettings
	log   *slog.Logger
	gcfg  GroupConfig
	batch int

	// lock is held by Process and Stop and guards the fields below. It is
	// a one-slot channel so that Stop can give up at its ctx deadline.
	lock    chan struct{}
	group   *Group         // nil when not started
	pending component.Take // a take whose batch is not delivered yet
	rest    []event.Event  // the events of pending not acknowledged yet
	taken   time.Time      // when pending was taken

	abortMu sync.Mutex         // protects abort
	abort   context.CancelFunc // cancels the Process in flight
}

// NewSink builds a forward sink; TLS files are read here, so a bad one is
// reported before the agent starts.
func NewSink(set component.SinkSettings, cfg SinkConfig) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Channel == nil || set.Counter == nil {
		return nil, fmt.Errorf("forward sink %q needs a channel and counters", set.Name)
	}
	gcfg, err := cfg.groupConfig()
	if err != nil {
		return nil, err
	}
	log := set.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	gcfg.Logger = log
	gcfg.Client.Name = set.Agent + "/" + set.Name
	gcfg.OnConnect = set.Counter.ConnectionCreated.Inc
	gcfg.OnClose = set.Counter.ConnectionClosed.Inc
	gcfg.OnConnectFailed = set.Counter.ConnectionFailed.Inc
	return &Sink{set: set, log: log, gcfg: gcfg, batch: cfg.BatchSize(), lock: make(chan struct{}, 1)}, nil
}

func (s *Sink) acquire(ctx context.Context) error {
	select {
	case s.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Sink) release() { <-s.lock }

// Start opens the group: the members are connected lazily, at the first
// batch, and reconnected in the background after failures.
func (s *Sink) Start(ctx context.Context, _ component.Host) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	if s.group != nil {
		return errors.New("forward sink: already started")
	}
	g, err := NewGroup(s.gcfg)
	if err != nil {
		return fmt.Errorf("forward sink %s: %w", s.set.Name, err)
	}
	s.group = g
	s.set.Counter.MarkStarted()
	return nil
}

// Stop aborts a batch in flight (it is rolled back) and closes every
// connection. Safe without Start and twice.
func (s *Sink) Stop(ctx context.Context) error {
	s.abortMu.Lock()
	if s.abort != nil {
		s.abort()
	}
	s.abortMu.Unlock()
	if err := s.acquire(ctx); err != nil {
		return fmt.Errorf("stop forward sink %s: %w", s.set.Name, err)
	}
	defer s.release()
	if s.group == nil {
		return nil
	}
	var err error
	if s.pending != nil {
		n := len(s.pending.Events())
		if rerr := s.pending.Rollback(); rerr != nil {
			err = fmt.Errorf("stop forward sink %s: roll back %d undelivered events: %w", s.set.Name, n, rerr)
		} else {
			s.log.Info("forward sink stopped with a batch undelivered; rolled back into the channel", "events", n, "unacknowledged", len(s.rest))
		}
		s.pending, s.rest = nil, nil
	}
	s.group.Close()
	s.group = nil
	s.set.Counter.MarkStopped()
	return err
}

// Group is the running group, or nil (for tests and status).
func (s *Sink) Group() *Group {
	s.lock <- struct{}{}
	defer s.release()
	return s.group
}

// Process takes a batch, sends it and commits the take once it is
// acknowledged; on failure the take is rolled back.
func (s *Sink) Process(ctx context.Context) (component.Status, error) {
	if err := s.acquire(ctx); err != nil {
		return component.Backoff, err
	}
	defer s.release()
	if s.group == nil {
		return component.Backoff, component.ErrStopped
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.abortMu.Lock()
	s.abort = cancel
	s.abortMu.Unlock()
	defer func() {
		s.abortMu.Lock()
		s.abort = nil
		s.abortMu.Unlock()
	}()

	c := s.set.Counter
	if s.pending == nil {
		tx, err := s.set.Channel.Take(ctx, s.batch)
		if err != nil {
			c.ChannelReadFail.Inc()
			return component.Backoff, fmt.Errorf("take from channel: %w", err)
		}
		events := tx.Events()
		c.CountBatch(len(events), s.batch)
		if len(events) == 0 {
			if err := tx.Commit(); err != nil {
				return component.Backoff, fmt.Errorf("commit empty take: %w", err)
			}
			return component.Backoff, nil
		}
		c.EventDrainAttempt.Add(len(events))
		s.pending, s.rest, s.taken = tx, events, time.Now()
	}
	rest, err := s.group.Send(ctx, s.rest)
	if err != nil {
		c.EventWriteFail.Inc()
		s.rest = rest
		return component.Backoff, err
	}
	tx, n := s.pending, len(s.pending.Events())
	s.pending, s.rest = nil, nil
	if err := tx.Commit(); err != nil {
		c.ChannelReadFail.Inc()
		return component.Backoff, fmt.Errorf("commit take of %d events: %w", n, err)
	}
	c.EventDrainSuccess.Add(n)
	c.BatchDuration.UpdateDuration(s.taken)
	return component.Ready, nil
}

// SinkFactory is the factory of `type = forward`; `avro` is accepted so a
// Flume file keeps working when both tiers run vscope. The wire format is
// vscope's, not Avro: a Flume avro source cannot receive from it.
func SinkFactory() component.SinkFactory {
	return component.SinkFactory{
		Type:      "forward",
		Aliases:   []string{"avro"},
		NewConfig: func() component.Config { return NewSinkConfig() },
		Create: func(set component.SinkSettings, cfg component.Config) (component.Sink, error) {
			return NewSink(set, *cfg.(*SinkConfig))
		},
	}
}
