package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/vscope/vscope/agent/component"
)

// MultiportSyslogTCPConfig is the configuration of a multiport_syslogtcp
// source (Flume's MultiportSyslogTCPSource), with Flume's property names
// and defaults except where noted.
type MultiportSyslogTCPConfig struct {
	// Host is the address to listen on. Default 127.0.0.1: Flume listens
	// on every interface when host is unset.
	Host string `prop:"host"`
	// Ports is the space-separated list of TCP ports to listen on.
	// Required; 0 picks a free port (see MultiportSyslogTCP.Addrs).
	Ports []string `prop:"ports,required"`
	// EventSize is the longest message in bytes, as for syslogtcp.
	// Default 2500.
	EventSize int `prop:"eventSize"`
	// KeepFields is as for syslogtcp. Default "none".
	KeepFields string `prop:"keepFields"`
	// PortHeader, if set, is the name of a header that gets the port the
	// message arrived on.
	PortHeader string `prop:"portHeader"`
	// CharsetDefault is the charset messages must be valid in; a message
	// that is not is kept whole and flagged Invalid, as in Flume. UTF-8
	// (the default), US-ASCII or ISO-8859-1 (which accepts any bytes).
	CharsetDefault string `prop:"charset.default"`
	// CharsetPort sets the charset of one port: charset.port.<port>.
	CharsetPort map[string]string `prop:"charset.port.*"`
	// Batch is the most messages put as one batch. Default 100.
	Batch int `prop:"batchSize"`
	// ReadBufferSize is accepted for Flume's sake (Mina's read buffer,
	// default 1024); vscope sizes its buffers from eventSize.
	ReadBufferSize int `prop:"readBufferSize"`
	// NumProcessors is accepted for Flume's sake (Mina's thread count);
	// vscope serves each connection with its own goroutine.
	NumProcessors int `prop:"numProcessors"`
	// ClientIPHeader and ClientHostnameHeader are as for syslogtcp.
	ClientIPHeader       string `prop:"clientIPHeader"`
	ClientHostnameHeader string `prop:"clientHostnameHeader"`
}

// NewMultiportSyslogTCPConfig returns the defaults.
func NewMultiportSyslogTCPConfig() *MultiportSyslogTCPConfig {
	return &MultiportSyslogTCPConfig{
		Host: "127.0.0.1", EventSize: syslogDefaultEventSize, KeepFields: "none",
		CharsetDefault: "UTF-8", Batch: 100, ReadBufferSize: 1024,
	}
}

// ports parses Ports.
func (c *MultiportSyslogTCPConfig) ports() ([]int, error) {
	var out []int
	for _, p := range c.Ports {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("ports: %q is not a port number", p)
		}
		out = append(out, n)
	}
	return out, nil
}

// Validate checks the ports, bounds, keepFields and charsets.
func (c *MultiportSyslogTCPConfig) Validate() error {
	ports, err := c.ports()
	if err != nil {
		return err
	}
	var errs []error
	if len(ports) == 0 {
		errs = append(errs, errors.New("ports must list at least one port"))
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p != 0 && seen[p] {
			errs = append(errs, fmt.Errorf("ports: port %d is listed twice", p))
		}
		seen[p] = true
	}
	if err := validateSyslogCommon(c.Host, ports, c.EventSize, c.KeepFields, c.Batch); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseSyslogCharset(c.CharsetDefault); err != nil {
		errs = append(errs, fmt.Errorf("charset.default: %w", err))
	}
	keys := make([]string, 0, len(c.CharsetPort))
	for k := range c.CharsetPort {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, err := strconv.Atoi(k)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("charset.port.%s: %q is not a port number", k, k))
			continue
		case !seen[p] || p == 0:
			errs = append(errs, fmt.Errorf("charset.port.%s: port %d is not one of ports", k, p))
		}
		if _, err := parseSyslogCharset(c.CharsetPort[k]); err != nil {
			errs = append(errs, fmt.Errorf("charset.port.%s: %w", k, err))
		}
	}
	if c.ReadBufferSize <= 0 {
		errs = append(errs, fmt.Errorf("readBufferSize must be positive, got %d", c.ReadBufferSize))
	}
	if c.NumProcessors < 0 {
		errs = append(errs, fmt.Errorf("numProcessors must not be negative, got %d", c.NumProcessors))
	}
	return errors.Join(errs...)
}

// BatchSize implements component.BatchSizer.
func (c *MultiportSyslogTCPConfig) BatchSize() int { return c.Batch }

// SetBatchSize lowers a default batch size to fit the channel.
func (c *MultiportSyslogTCPConfig) SetBatchSize(n int) { c.Batch = n }

// MultiportSyslogTCP is an event-driven source that receives syslog
// messages over TCP on several ports, like Flume's multiport_syslogtcp
// source. It frames, parses, flags and puts messages exactly as SyslogTCP
// does (one parser for all syslog sources: Flume's multiport source uses
// another, SyslogParser, which differs in corner cases), and adds:
//
//   - portHeader: the port a message arrived on, as a header;
//   - charsets: a message not valid in its port's charset is flagged
//     Invalid and kept whole, as Flume's decoder rejects it.
//
// A port that cannot be bound fails Start (Flume logs it and goes on with
// the others).
type MultiportSyslogTCP struct {
	srv *syslogTCPServer
}

// NewMultiportSyslogTCP builds a multiport_syslogtcp source.
// set.Processor is required; a nil Logger or Counter is replaced by a
// discarding logger or private counters.
func NewMultiportSyslogTCP(set component.SourceSettings, cfg MultiportSyslogTCPConfig) (*MultiportSyslogTCP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Processor == nil {
		return nil, errors.New("multiport_syslogtcp: no processor")
	}
	ports, _ := cfg.ports()
	keep, _ := parseSyslogKeep(cfg.KeepFields)
	def, _ := parseSyslogCharset(cfg.CharsetDefault)
	charsets := map[int]syslogCharset{}
	for k, v := range cfg.CharsetPort {
		p, _ := strconv.Atoi(k)
		charsets[p], _ = parseSyslogCharset(v)
	}
	srv := &syslogTCPServer{
		kind:       "multiport_syslogtcp",
		set:        withDefaults(set),
		host:       strings.TrimSpace(cfg.Host),
		ports:      ports,
		eventSize:  max(cfg.EventSize, syslogMinEventSize),
		batch:      cfg.Batch,
		keep:       keep,
		ipHeader:   cfg.ClientIPHeader,
		nameHeader: cfg.ClientHostnameHeader,
		portHeader: cfg.PortHeader,
		charsets:   charsets,
		charset:    def,
	}
	return &MultiportSyslogTCP{srv: srv}, nil
}

// Start listens on host and every port and serves connections until Stop.
// A listen error is returned (and no port is left open); an accept error
// after that is reported to host.
func (s *MultiportSyslogTCP) Start(ctx context.Context, host component.Host) error {
	return s.srv.start(host)
}

// Stop closes the listeners and stops reading from every connection, as
// SyslogTCP.Stop does.
func (s *MultiportSyslogTCP) Stop(ctx context.Context) error { return s.srv.stop(ctx) }

// Addrs are the addresses the source listens on, in the order of ports,
// or nil when it is not running.
func (s *MultiportSyslogTCP) Addrs() []net.Addr { return s.srv.addrs() }

// Addr is the first of Addrs, or nil when the source is not running.
func (s *MultiportSyslogTCP) Addr() net.Addr {
	if a := s.srv.addrs(); len(a) > 0 {
		return a[0]
	}
	return nil
}

// MultiportSyslogTCPFactory is the factory of `type = multiport_syslogtcp`.
func MultiportSyslogTCPFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:      "multiport_syslogtcp",
		Aliases:   []string{"org.apache.flume.source.MultiportSyslogTCPSource"},
		NewConfig: func() component.Config { return NewMultiportSyslogTCPConfig() },
		Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			s, err := NewMultiportSyslogTCP(set, *cfg.(*MultiportSyslogTCPConfig))
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}
