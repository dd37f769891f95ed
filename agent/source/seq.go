package source

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// SeqConfig is the configuration of a seq source (Flume's
// SequenceGeneratorSource), with Flume's property names and defaults.
type SeqConfig struct {
	// TotalEvents is how many events the source generates before it only
	// returns Backoff. Default: unlimited (math.MaxInt64, Flume's
	// Long.MAX_VALUE).
	TotalEvents int64 `prop:"totalEvents"`
	// Batch is the number of events put per Process call. Default 1.
	Batch int `prop:"batchSize"`
	// BodySize is a vscope extension for throughput tests. 0 (the default,
	// Flume's behaviour) makes the body the sequence number's decimal
	// text; a positive value pads that text with leading zeros to exactly
	// BodySize bytes. A number wider than BodySize keeps its low-order
	// BodySize digits, so bodies stay unique only while the count fits
	// (always when BodySize >= 19).
	BodySize int `prop:"bodySize"`
}

// NewSeqConfig returns Flume's defaults.
func NewSeqConfig() *SeqConfig {
	return &SeqConfig{TotalEvents: math.MaxInt64, Batch: 1}
}

// maxSeqBatchBytes bounds the body bytes of one generated batch, so a typo
// in bodySize or batchSize is a config error rather than an out-of-memory
// crash.
const maxSeqBatchBytes = 1 << 30

// Validate checks the bounds.
func (c *SeqConfig) Validate() error {
	switch {
	case c.TotalEvents < 0:
		return fmt.Errorf("totalEvents must not be negative, got %d", c.TotalEvents)
	case c.Batch <= 0:
		return fmt.Errorf("batchSize must be positive, got %d", c.Batch)
	case c.BodySize < 0:
		return fmt.Errorf("bodySize must not be negative, got %d", c.BodySize)
	case int64(c.Batch)*int64(max(c.BodySize, 20)) > maxSeqBatchBytes:
		return fmt.Errorf("batchSize %d x bodySize %d exceeds %d bytes per batch", c.Batch, c.BodySize, maxSeqBatchBytes)
	}
	return nil
}

// BatchSize implements component.BatchSizer.
func (c *SeqConfig) BatchSize() int { return c.Batch }

// SetBatchSize lowers a default batch size to fit the channel.
func (c *SeqConfig) SetBatchSize(n int) { c.Batch = n }

// seqDigits is wide enough for any int64 sequence number plus a carry.
const seqDigits = 20

// Seq is a pollable source that generates events whose bodies are the
// sequence numbers 0, 1, 2, ... as decimal text. It is built for speed:
// the next number is kept as ASCII digits and incremented in place, the
// bodies of a batch are cut from one fresh slab (the channel keeps
// referencing them, so a slab is never reused), and the batch slice is
// reused between calls.
//
// Process is driven by one runner goroutine and is not safe for concurrent
// use.
type Seq struct {
	cfg SeqConfig
	set component.SourceSettings

	// Owned by the goroutine calling Process.
	next  int64         // sequence number of the next event
	num   []byte        // next as ASCII, right-aligned, zero-filled on the left
	start int           // index in num of next's first significant digit
	batch []event.Event // reused between calls
}

// NewSeq builds a seq source. set.Processor is required; a nil Logger or
// Counter is replaced by a discarding logger or private counters.
func NewSeq(set component.SourceSettings, cfg SeqConfig) (*Seq, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Processor == nil {
		return nil, errors.New("seq: no processor")
	}
	s := &Seq{cfg: cfg, set: withDefaults(set), num: make([]byte, max(cfg.BodySize, seqDigits))}
	s.setNext(0)
	return s, nil
}

// setNext sets the next sequence number, rewriting its digits.
func (s *Seq) setNext(v int64) {
	s.next = v
	for i := range s.num {
		s.num[i] = '0'
	}
	d := strconv.AppendInt(make([]byte, 0, seqDigits), v, 10)
	s.start = len(s.num) - len(d)
	copy(s.num[s.start:], d)
}

// incr adds one to the digits. It cannot run off the left end: num has
// room for 20 digits and an int64 has at most 19.
func (s *Seq) incr() {
	i := len(s.num) - 1
	for s.num[i] == '9' {
		s.num[i] = '0'
		i--
	}
	s.num[i]++
	if i < s.start {
		s.start = i
	}
}

// Start implements component.Component.
func (s *Seq) Start(context.Context, component.Host) error {
	s.set.Counter.MarkStarted()
	return nil
}

// Stop implements component.Component. The sequence is kept, so a
// restarted source continues where it stopped.
func (s *Seq) Stop(context.Context) error {
	s.set.Counter.MarkStopped()
	return nil
}

// Next is the sequence number the next generated event will carry. Call
// it from the goroutine that calls Process, or after that goroutine ended.
func (s *Seq) Next() int64 { return s.next }

// Process implements component.Poller: it generates one batch of up to
// batchSize events and puts it. It returns Ready when the batch was put
// and Backoff once totalEvents have been put. A failed put also returns
// Backoff, with the processor's error; the same sequence numbers are
// generated again on the next call, so a failure leaves no gap.
func (s *Seq) Process(ctx context.Context) (component.Status, error) {
	n := int64(s.cfg.Batch)
	if left := s.cfg.TotalEvents - s.next; left < n {
		n = left
	}
	if n <= 0 {
		return component.Backoff, nil
	}
	if int64(cap(s.batch)) < n {
		s.batch = make([]event.Event, n)
	}
	batch := s.batch[:n]
	if size := s.cfg.BodySize; size > 0 {
		slab := make([]byte, int(n)*size)
		digits := s.num[len(s.num)-size:]
		for i := range batch {
			b := slab[i*size : (i+1)*size : (i+1)*size]
			copy(b, digits)
			batch[i] = event.Event{Body: b}
			s.incr()
		}
	} else {
		// The last number of the batch is the widest.
		last := s.next + n - 1
		width := 1
		for v := last; v >= 10; v /= 10 {
			width++
		}
		slab := make([]byte, 0, int(n)*width)
		for i := range batch {
			off := len(slab)
			slab = append(slab, s.num[s.start:]...)
			batch[i] = event.Event{Body: slab[off:len(slab):len(slab)]}
			s.incr()
		}
	}
	if err := deliver(ctx, &s.set, batch); err != nil {
		s.setNext(s.next) // rewind the digits; the batch is generated again
		return component.Backoff, fmt.Errorf("seq: put %d events: %w", n, err)
	}
	s.next += n
	return component.Ready, nil
}

// SeqFactory is the factory of `type = seq`.
func SeqFactory() component.SourceFactory {
	return component.SourceFactory{
		Type:      "seq",
		Aliases:   []string{"org.apache.flume.source.SequenceGeneratorSource"},
		NewConfig: func() component.Config { return NewSeqConfig() },
		Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			s, err := NewSeq(set, *cfg.(*SeqConfig))
			if err != nil {
				return nil, err
			}
			return s, nil
		},
	}
}
