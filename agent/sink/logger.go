package sink

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// LoggerConfig is the configuration of a logger sink.
type LoggerConfig struct {
	// MaxBytesToLog is how much of each body is dumped (Flume's default 16).
	MaxBytesToLog int `prop:"maxBytesToLog"`
	// Batch is events per take. Flume's LoggerSink has no batchSize; it is
	// a vscope extension with the default of the other sinks.
	Batch int `prop:"batchSize"`
}

// NewLoggerConfig returns Flume's defaults.
func NewLoggerConfig() *LoggerConfig {
	return &LoggerConfig{MaxBytesToLog: 16, Batch: defaultBatchSize}
}

// Validate checks the bounds.
func (c *LoggerConfig) Validate() error {
	switch {
	case c.MaxBytesToLog < 0:
		return fmt.Errorf("maxBytesToLog must not be negative, got %d", c.MaxBytesToLog)
	case c.Batch <= 0:
		return fmt.Errorf("batchSize must be positive, got %d", c.Batch)
	}
	return nil
}

// BatchSize implements component.BatchSizer.
func (c *LoggerConfig) BatchSize() int { return c.Batch }

// SetBatchSize lowers a default batch size to fit the channel.
func (c *LoggerConfig) SetBatchSize(n int) { c.Batch = n }

// Logger is Flume's LoggerSink: it logs every event it takes at Info,
// through the component's logger, as
//
//	Event: { headers:{k=v} body: 48 65 6C 6C 6F  ...  Hello }
//
// (Flume's EventHelper.dumpEvent: a hex dump of at most maxBytesToLog
// bytes, sixteen to a line, then the printable characters). Header keys are
// sorted. When the logger does not log Info, events are drained without
// being formatted.
type Logger struct {
	set component.SinkSettings
	cfg LoggerConfig
	log *slog.Logger
	d   drainer
	buf []byte // reused by Process, which one goroutine calls at a time
}

// NewLogger builds a logger sink. A nil set.Logger logs to slog.Default().
func NewLogger(set component.SinkSettings, cfg LoggerConfig) (*Logger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, err := newDrainer(set, cfg.Batch)
	if err != nil {
		return nil, err
	}
	l := set.Logger
	if l == nil {
		l = slog.Default()
	}
	return &Logger{set: set, cfg: cfg, log: l, d: d}, nil
}

// Start implements component.Component.
func (s *Logger) Start(context.Context, component.Host) error {
	s.set.Counter.MarkStarted()
	return nil
}

// Stop implements component.Component; it holds nothing to flush.
func (s *Logger) Stop(context.Context) error {
	s.set.Counter.MarkStopped()
	return nil
}

// Process takes a batch, logs each event and commits.
func (s *Logger) Process(ctx context.Context) (component.Status, error) {
	return s.d.drain(ctx, func(events []event.Event) error {
		if !s.log.Enabled(ctx, slog.LevelInfo) {
			return nil
		}
		for i := range events {
			s.buf = append(s.buf[:0], "Event: "...)
			s.buf = appendDump(s.buf, &events[i], s.cfg.MaxBytesToLog)
			s.log.LogAttrs(ctx, slog.LevelInfo, string(s.buf))
		}
		return nil
	})
}

const hexDigits = "0123456789ABCDEF"

// appendDump appends Flume's EventHelper.dumpEvent(e, maxBytes):
// `{ headers:{...} body:<hex dump> }`. The hex dump is Apache Commons IO's
// HexDump of the first maxBytes bytes, with the first line's offset and the
// last line break removed: each line is an 8-digit offset (except the
// first), sixteen ` XX` columns padded with blanks, a blank, and the bytes
// as text with non-printable ones shown as '.'.
func appendDump(dst []byte, e *event.Event, maxBytes int) []byte {
	dst = append(dst, "{ headers:"...)
	dst = appendHeaders(dst, e.Headers)
	dst = append(dst, " body:"...)
	data := e.Body[:min(len(e.Body), maxBytes)]
	for off := 0; off < len(data); off += 16 {
		if off > 0 {
			dst = append(dst, '\n')
			for shift := 28; shift >= 0; shift -= 4 {
				dst = append(dst, hexDigits[(off>>shift)&0xF])
			}
		}
		row := data[off:min(off+16, len(data))]
		dst = append(dst, ' ')
		for k := 0; k < 16; k++ {
			if k < len(row) {
				dst = append(dst, hexDigits[row[k]>>4], hexDigits[row[k]&0xF])
			} else {
				dst = append(dst, ' ', ' ')
			}
			dst = append(dst, ' ')
		}
		for _, b := range row {
			if b >= ' ' && b < 127 {
				dst = append(dst, b)
			} else {
				dst = append(dst, '.')
			}
		}
	}
	return append(dst, " }"...)
}

// LoggerFactory is the factory of `type = logger`.
func LoggerFactory() component.SinkFactory {
	return component.SinkFactory{
		Type:      "logger",
		Aliases:   []string{"org.apache.flume.sink.LoggerSink"},
		NewConfig: func() component.Config { return NewLoggerConfig() },
		Create: func(set component.SinkSettings, cfg component.Config) (component.Sink, error) {
			return NewLogger(set, *cfg.(*LoggerConfig))
		},
	}
}
