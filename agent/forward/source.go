package forward

import (
	"context"
	"crypto/tls"
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
	"github.com/vscope/vscope/agent/monitor"
)

// SourceConfig is the configuration of a forward source: Flume's avro
// source properties, plus limits and timeouts (vscope extensions).
type SourceConfig struct {
	Bind string `prop:"bind,required"`
	Port int    `prop:"port,required"` // 0 picks a free port (see Source.Addr)
	// Group is the group this collector is in; a sink asking for another
	// group is refused at hello. Empty accepts any.
	Group string `prop:"group"`
	// Threads bounds concurrent connections (Flume: worker threads); 0
	// is no bound. A connection over the bound is refused and counted.
	Threads int `prop:"threads"`
	// Compression is accepted for Flume compatibility and checked; the
	// source decodes whatever each frame says (none, deflate, zstd,
	// snappy), so it need not match the sink's.
	Compression string `prop:"compression-type"`
	// Batch is the most events per frame, told to sinks, which split
	// larger takes; it is checked against the channels'
	// transactionCapacity. Default 1000, lowered to fit.
	Batch int `prop:"batchSize"`
	// MaxFrame is the largest frame accepted, compressed or not, in bytes
	// (16 MiB). A larger one is refused, counted and logged.
	MaxFrame int `prop:"max-frame-size"`
	// FrameTimeout (ms, 30000) bounds receiving one frame; IdleTimeout (ms,
	// 0: none) closes connections that send nothing; WriteTimeout (ms,
	// 10000) cuts off peers that do not read their acks.
	FrameTimeout int64 `prop:"frame-timeout"`
	IdleTimeout  int64 `prop:"idle-timeout"`
	WriteTimeout int64 `prop:"write-timeout"`

	// TLS: ssl turns it on; ssl.cert and ssl.key (PEM) are required with
	// it; ssl.ca (PEM) is what client certificates must chain to, and
	// ssl.verify-client requires one from every client (mutual TLS).
	SSL          bool   `prop:"ssl"`
	SSLCert      string `prop:"ssl.cert"`
	SSLKey       string `prop:"ssl.key"`
	SSLCA        string `prop:"ssl.ca"`
	VerifyClient bool   `prop:"ssl.verify-client"`
	// Protocols (exclude-protocols defaults to SSLv3, as in Flume; the
	// include list to TLSv1.2 TLSv1.3) and TLS 1.2 cipher suites.
	ExcludeProtocols    string `prop:"exclude-protocols"`
	IncludeProtocols    string `prop:"include-protocols"`
	ExcludeCipherSuites string `prop:"exclude-cipher-suites"`
	IncludeCipherSuites string `prop:"include-cipher-suites"`
	// Flume's Java keystore settings are refused with a pointer to ssl.cert.
	Keystore         string `prop:"keystore"`
	KeystorePassword string `prop:"keystore-password"`
	KeystoreType     string `prop:"keystore-type"`
}

// NewSourceConfig returns the defaults.
func NewSourceConfig() *SourceConfig {
	return &SourceConfig{
		Compression:      "none",
		Batch:            1000,
		MaxFrame:         DefaultMaxFrame,
		FrameTimeout:     30000,
		WriteTimeout:     10000,
		ExcludeProtocols: "SSLv3",
	}
}

func (c *SourceConfig) ssl() sslConfig {
	return sslConfig{SSL: c.SSL, Cert: c.SSLCert, Key: c.SSLKey, CA: c.SSLCA,
		ExcludeProtocols: c.ExcludeProtocols, IncludeProtocols: c.IncludeProtocols,
		ExcludeCipherSuites: c.ExcludeCipherSuites, IncludeCipherSuites: c.IncludeCipherSuites,
		Keystore: c.Keystore, KeystorePassword: c.KeystorePassword, KeystoreType: c.KeystoreType}
}

// BatchSize implements component.BatchSizer.
func (c *SourceConfig) BatchSize() int { return c.Batch }

// SetBatchSize lowers the default to fit the channel.
func (c *SourceConfig) SetBatchSize(n int) { c.Batch = n }

// Validate checks the configuration; every problem is reported.
func (c *SourceConfig) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Bind) == "" {
		errs = append(errs, errors.New("bind must not be empty"))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port must be 0 to 65535, got %d", c.Port))
	}
	if c.Threads < 0 {
		errs = append(errs, fmt.Errorf("threads must not be negative, got %d", c.Threads))
	}
	if _, err := ParseCodec(c.Compression); err != nil {
		errs = append(errs, err)
	}
	if c.Batch <= 0 {
		errs = append(errs, fmt.Errorf("batchSize must be positive, got %d", c.Batch))
	}
	if c.MaxFrame < 1024 {
		errs = append(errs, fmt.Errorf("max-frame-size must be at least 1024 bytes, got %d", c.MaxFrame))
	}
	if c.FrameTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout < 0 {
		errs = append(errs, errors.New("frame-timeout and write-timeout must be positive, idle-timeout not negative (milliseconds)"))
	}
	if c.SSL && (c.SSLCert == "" || c.SSLKey == "") {
		errs = append(errs, errors.New("ssl needs ssl.cert and ssl.key (PEM files)"))
	}
	if c.VerifyClient && (!c.SSL || c.SSLCA == "") {
		errs = append(errs, errors.New("ssl.verify-client needs ssl = true and ssl.ca"))
	}
	ssl := c.ssl()
	errs = append(errs, ssl.validate()...)
	return errors.Join(errs...)
}

// connReasons are refusals that concern a connection rather than a frame;
// they count as GenericProcessingFail, frame refusals as EventReadFail.
var connReasons = map[string]bool{reasonTLS: true, "handshake": true, "timeout": true,
	reasonSlowReader: true, reasonMaxConns: true}

// Source is the forward source, an event-driven server: each batch frame
// is put into the source's channels in one transaction and acknowledged
// only after that committed. A batch the channels refuse is answered with
// a nack (retry for a full channel) and the sink sends it again.
type Source struct {
	set  component.SourceSettings
	log  *slog.Logger
	scfg ServerConfig

	mu  sync.Mutex // protects srv
	srv *Server
}

// NewSource builds a forward source; TLS files are read here, so a bad one
// is reported before the agent starts.
func NewSource(set component.SourceSettings, cfg SourceConfig) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Processor == nil {
		return nil, errors.New("forward source: no processor")
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Counter == nil {
		set.Counter = monitor.NewRegistry(set.Agent).Source(set.Name, set.Type)
	}
	var tcfg *tls.Config
	if cfg.SSL {
		ssl := cfg.ssl()
		o := ssl.options()
		o.VerifyClient = cfg.VerifyClient
		var err error
		if tcfg, err = o.ServerConfig(); err != nil {
			return nil, err
		}
	}
	s := &Source{set: set, log: set.Logger}
	s.scfg = ServerConfig{
		Addr:         net.JoinHostPort(strings.TrimSpace(cfg.Bind), strconv.Itoa(cfg.Port)),
		TLS:          tcfg,
		Group:        cfg.Group,
		Name:         set.Agent + "/" + set.Name,
		MaxFrame:     cfg.MaxFrame,
		MaxEvents:    cfg.Batch,
		MaxConns:     cfg.Threads,
		IdleTimeout:  millis(cfg.IdleTimeout),
		FrameTimeout: millis(cfg.FrameTimeout),
		WriteTimeout: millis(cfg.WriteTimeout),
		Handler:      s.deliver,
		Logger:       set.Logger,
		OnRefused: func(reason string) {
			if connReasons[reason] {
				set.Counter.GenericProcessFail.Inc()
			} else {
				set.Counter.EventReadFail.Inc()
			}
		},
		OnConn: func(d int) {
			if d > 0 {
				set.Counter.ConnOpened()
			} else {
				set.Counter.ConnClosed()
			}
		},
	}
	return s, nil
}

// deliver puts a batch and keeps Flume's counters: received before the
// put, accepted only after the processor committed it.
func (s *Source) deliver(ctx context.Context, batch []event.Event) error {
	c := s.set.Counter
	n := len(batch)
	c.AppendBatchReceived.Inc()
	c.EventReceived.Add(n)
	start := time.Now()
	err := s.set.Processor.Process(ctx, batch)
	c.PutDuration.UpdateDuration(start)
	if err != nil {
		c.ChannelWriteFail.Inc()
		return err
	}
	c.AppendBatchAccepted.Inc()
	c.EventAccepted.Add(n)
	return nil
}

// Start listens on bind:port.
func (s *Source) Start(context.Context, component.Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("forward source: already started")
	}
	srv, err := Listen(s.scfg)
	if err != nil {
		return err
	}
	s.srv = srv
	s.set.Counter.MarkStarted()
	s.log.Info("forward source listening", "addr", srv.Addr().String(), "tls", s.scfg.TLS != nil, "group", s.scfg.Group)
	return nil
}

// Stop stops accepting, lets batches being committed finish and be
// acknowledged (until ctx ends), and closes every connection. Safe
// without Start and twice.
func (s *Source) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Close(ctx)
	if r := srv.Refused(); len(r) > 0 {
		var parts []string
		for _, k := range sortedReasons(r) {
			parts = append(parts, fmt.Sprintf("%s=%d", k, r[k]))
		}
		s.log.Info("forward source stopped", "refused", strings.Join(parts, " "))
	}
	s.set.Counter.MarkStopped()
	return err
}

// Addr is the address the source listens on, or nil when it is not
// running.
func (s *Source) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return nil
	}
	return s.srv.Addr()
}

// Server is the running server, or nil.
func (s *Source) Server() *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// SourceFactory is the factory of `type = forward`; `avro` is accepted so a
// Flume file keeps working when both tiers run vscope (the wire format is
// vscope's, not Avro).
func SourceFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:      "forward",
		Aliases:   []string{"avro"},
		NewConfig: func() component.Config { return NewSourceConfig() },
		Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			return NewSource(set, *cfg.(*SourceConfig))
		},
	}
}
