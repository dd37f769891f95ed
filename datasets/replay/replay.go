package replay

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Record is one log line to replay.
type Record struct {
	// Time is the line's log time; the pacer keeps the gaps between the
	// times, divided by the speed.
	Time time.Time
	// Host and Tier say where the line came from; sinks that carry
	// headers send them.
	Host, Tier string
	// Line is the text without a newline. A Source may reuse its bytes
	// after the next call of Next; a Sink must not keep a batch after Send
	// returns.
	Line []byte
}

// Source yields records in time order.
type Source interface {
	// Next returns the next record, or false at the end or on an error.
	Next() (Record, bool)
	// Err is the error that ended Next, if any.
	Err() error
}

// Spanner is implemented by sources that know the log time they cover;
// the progress reporter uses it for the fraction done and the ETA.
type Spanner interface {
	Span() (start, end time.Time)
}

// Sink receives batches of records.
type Sink interface {
	// Send delivers a batch. It returns nil when the receiver accepted
	// every record; a *PartialError when it refused some and accepted the
	// rest; any other error when the batch is lost and the replay should
	// stop. Sinks retry what is worth retrying (a full channel, a dropped
	// connection) before they return.
	Send(ctx context.Context, batch []Record) error
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, batch []Record) error

// Send calls f.
func (f SinkFunc) Send(ctx context.Context, batch []Record) error { return f(ctx, batch) }

// PartialError reports that Lost records of a batch were refused and the
// others accepted. The replay goes on.
type PartialError struct {
	Lost int
	Err  error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%d records refused: %v", e.Lost, e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// Options control a replay.
type Options struct {
	// Speed is log time per wall time: 60 replays an hour of logs in a
	// minute. 0 (or +Inf) sends as fast as the sink takes.
	Speed float64
	// BatchSize is the most records per Send (default 100).
	BatchSize int
	// Window groups records due within this much wall time of a batch's
	// first record into that batch, so they go up to Window early
	// (default 5 ms).
	Window time.Duration
	// Progress, if set, is called about every ProgressEvery (default
	// 200 ms) and once more at the end with Done set.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is a replay's state for a progress display.
type Progress struct {
	// Sent, Acked and Failed count records handed to the sink, accepted,
	// and refused or lost.
	Sent, Acked, Failed int64
	// Elapsed is the wall time since the first record.
	Elapsed time.Duration
	// Rate is records sent per second of Elapsed.
	Rate float64
	// LogTime is the log time of the last record sent.
	LogTime time.Time
	// Fraction is the share of the source's log time done, or -1 when
	// the source does not say (not a Spanner).
	Fraction float64
	// ETA is the wall time still needed, or -1 when unknown.
	ETA time.Duration
	// Done is set on the last call.
	Done bool
}

// Stats is what a replay did and how well it kept time.
type Stats struct {
	// Read counts records from the source; Sent those handed to the sink;
	// Acked those accepted; Failed those refused or lost.
	Read, Sent, Acked, Failed int64
	// Batches counts calls of Send; Bytes the bytes of the lines sent.
	Batches, Bytes int64
	// LogStart and LogEnd are the log times of the first and the last
	// record.
	LogStart, LogEnd time.Time
	// Elapsed is the wall time from the first record's send to the last
	// record's send.
	Elapsed time.Duration
	// Ideal is the wall time the schedule gives the same span: (LogEnd -
	// LogStart) / Speed (0 at unlimited speed).
	Ideal time.Duration
	// MeanLag, P99Lag and MaxLag describe each record's lateness: the
	// wall time of its Send minus its due time. Records go up to Window
	// early, which counts as a negative lag (MeanAbsLag is the mean of
	// the absolute values).
	MeanLag, MeanAbsLag, P99Lag, MaxLag time.Duration
	// Behind counts records sent more than 10 ms late.
	Behind int64
}

// TimingError is the relative error of the replay's duration:
// |Elapsed - Ideal| / Ideal (0 when Ideal is 0).
func (s Stats) TimingError() float64 {
	if s.Ideal <= 0 {
		return 0
	}
	return math.Abs(float64(s.Elapsed-s.Ideal)) / float64(s.Ideal)
}

// Lost is Read - Acked: records read but not accepted, whether refused or
// never sent.
func (s Stats) Lost() int64 { return s.Read - s.Acked }

// ParseSpeed reads a speed: "60x", "60", "0.5x", or "max" (0: as fast as
// possible).
func ParseSpeed(s string) (float64, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	if t == "max" || t == "inf" || t == "0" || t == "0x" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(t, "x"), 64)
	if err != nil || v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("speed %q: want a positive factor like 60x, or max", s)
	}
	return v, nil
}

// lagHist counts lags in 100 µs buckets up to 1 s (the last bucket holds
// the rest), for the 99th percentile.
type lagHist struct {
	buckets [10001]int64
	n       int64
}

func (h *lagHist) add(d time.Duration) {
	i := int(d / (100 * time.Microsecond))
	if i < 0 {
		i = 0
	}
	if i >= len(h.buckets) {
		i = len(h.buckets) - 1
	}
	h.buckets[i]++
	h.n++
}

func (h *lagHist) quantile(q float64) time.Duration {
	want := int64(math.Ceil(q * float64(h.n)))
	var c int64
	for i, b := range h.buckets {
		c += b
		if c >= want && want > 0 {
			return time.Duration(i+1) * 100 * time.Microsecond
		}
	}
	return 0
}

// pending is a record waiting in the batch, with its due wall time.
type pending struct {
	due time.Time
}

// Run replays src into sink, pacing records by their log times at
// opt.Speed. It returns when the source ends, the sink fails (an error
// other than *PartialError), or ctx is done. The Stats are valid in
// every case.
func Run(ctx context.Context, src Source, sink Sink, opt Options) (Stats, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 100
	}
	if opt.Window <= 0 {
		opt.Window = 5 * time.Millisecond
	}
	if opt.ProgressEvery <= 0 {
		opt.ProgressEvery = 200 * time.Millisecond
	}
	if math.IsInf(opt.Speed, 1) || opt.Speed < 0 {
		opt.Speed = 0
	}
	p := &pacer{opt: opt, sink: sink, src: src}
	if sp, ok := src.(Spanner); ok {
		p.spanStart, p.spanEnd = sp.Span()
	}
	err := p.run(ctx)
	return p.finish(), err
}

type pacer struct {
	opt  Options
	sink Sink
	src  Source

	st                 Stats
	spanStart, spanEnd time.Time

	start     time.Time // wall time of the first record
	t0        time.Time // log time of the first record
	lastDue   time.Time // the schedule never goes back
	firstSend time.Time
	lastSend  time.Time

	batch []Record
	dues  []pending
	slab  []byte

	lags     lagHist
	lagSum   time.Duration
	absSum   time.Duration
	nextProg time.Time
}

// due is the wall time record r is due: never before the previous one.
func (p *pacer) due(r *Record) time.Time {
	if p.opt.Speed == 0 {
		return time.Now()
	}
	d := p.start.Add(time.Duration(float64(r.Time.Sub(p.t0)) / p.opt.Speed))
	if d.Before(p.lastDue) {
		d = p.lastDue
	}
	p.lastDue = d
	return d
}

func (p *pacer) run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, ok := p.src.Next()
		if !ok {
			break
		}
		p.st.Read++
		if p.st.Read == 1 {
			p.start, p.t0, p.lastDue = time.Now(), rec.Time, time.Time{}
			p.st.LogStart = rec.Time
			p.nextProg = p.start.Add(p.opt.ProgressEvery)
		}
		p.st.LogEnd = rec.Time
		due := p.due(&rec)
		if n := len(p.batch); n > 0 && (n >= p.opt.BatchSize || due.Sub(p.dues[0].due) > p.opt.Window) {
			if err := p.flush(ctx); err != nil {
				return err
			}
		}
		if len(p.batch) == 0 && p.opt.Speed > 0 {
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-timer.C:
				}
			}
		}
		p.add(&rec, due)
	}
	if err := p.src.Err(); err != nil {
		if ferr := p.flush(ctx); ferr != nil {
			return ferr
		}
		return fmt.Errorf("replay source: %w", err)
	}
	return p.flush(ctx)
}

// add copies rec into the batch.
func (p *pacer) add(rec *Record, due time.Time) {
	if len(p.batch) == 0 {
		p.slab = p.slab[:0]
	}
	// The slab may move as it grows; lines are re-pointed in flush.
	off := len(p.slab)
	p.slab = append(p.slab, rec.Line...)
	r := *rec
	r.Line = p.slab[off:len(p.slab):len(p.slab)]
	p.batch = append(p.batch, r)
	p.dues = append(p.dues, pending{due: due})
}

// flush sends the batch and accounts for it.
func (p *pacer) flush(ctx context.Context) error {
	n := len(p.batch)
	if n == 0 {
		return nil
	}
	// Re-point the lines at the final slab.
	off := 0
	for i := range p.batch {
		l := len(p.batch[i].Line)
		p.batch[i].Line = p.slab[off : off+l : off+l]
		off += l
	}
	now := time.Now()
	if p.st.Batches == 0 {
		p.firstSend = now
	}
	for _, d := range p.dues {
		lag := now.Sub(d.due)
		p.lagSum += lag
		if lag < 0 {
			p.absSum -= lag
		} else {
			p.absSum += lag
		}
		p.lags.add(lag)
		if lag > p.st.MaxLag {
			p.st.MaxLag = lag
		}
		if lag > 10*time.Millisecond {
			p.st.Behind++
		}
	}
	p.lastSend = now
	p.st.Batches++
	p.st.Sent += int64(n)
	p.st.Bytes += int64(off)
	err := p.sink.Send(ctx, p.batch)
	var pe *PartialError
	switch {
	case err == nil:
		p.st.Acked += int64(n)
	case errors.As(err, &pe):
		lost := min(max(pe.Lost, 0), n)
		p.st.Failed += int64(lost)
		p.st.Acked += int64(n - lost)
		err = nil
	default:
		p.st.Failed += int64(n)
	}
	clear(p.batch)
	p.batch, p.dues = p.batch[:0], p.dues[:0]
	if p.opt.Progress != nil && !time.Now().Before(p.nextProg) {
		p.nextProg = time.Now().Add(p.opt.ProgressEvery)
		p.opt.Progress(p.progress(false))
	}
	if err != nil {
		return fmt.Errorf("replay sink: %w", err)
	}
	return nil
}

func (p *pacer) progress(done bool) Progress {
	pr := Progress{Sent: p.st.Sent, Acked: p.st.Acked, Failed: p.st.Failed, LogTime: p.st.LogEnd,
		Fraction: -1, ETA: -1, Done: done}
	if !p.start.IsZero() {
		pr.Elapsed = time.Since(p.start)
	}
	if s := pr.Elapsed.Seconds(); s > 0 {
		pr.Rate = float64(pr.Sent) / s
	}
	if span := p.spanEnd.Sub(p.spanStart); span > 0 && !p.st.LogEnd.IsZero() {
		pr.Fraction = min(1, max(0, float64(p.st.LogEnd.Sub(p.spanStart))/float64(span)))
		switch {
		case done:
			pr.ETA = 0
		case p.opt.Speed > 0:
			pr.ETA = time.Duration(float64(p.spanEnd.Sub(p.st.LogEnd)) / p.opt.Speed)
		case pr.Fraction > 0:
			pr.ETA = time.Duration(float64(pr.Elapsed) * (1 - pr.Fraction) / pr.Fraction)
		}
	}
	if done {
		pr.Fraction = 1
		pr.ETA = 0
	}
	return pr
}

func (p *pacer) finish() Stats {
	st := p.st
	if st.Batches > 0 {
		st.Elapsed = p.lastSend.Sub(p.firstSend)
		// The first send happens at the first record's due time, so the
		// ideal span is measured from there too.
		if p.opt.Speed > 0 {
			st.Ideal = time.Duration(float64(p.lastDue.Sub(p.start)))
		}
		st.MeanLag = p.lagSum / time.Duration(st.Sent)
		st.MeanAbsLag = p.absSum / time.Duration(st.Sent)
		st.P99Lag = p.lags.quantile(0.99)
	}
	if p.opt.Progress != nil {
		p.opt.Progress(p.progress(true))
	}
	return st
}

// Sorted wraps a slice of records as a Source, in time order (stable).
func Sorted(recs []Record) Source {
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Time.Before(recs[j].Time) })
	return &sliceSource{recs: recs}
}

type sliceSource struct {
	recs []Record
	i    int
}

func (s *sliceSource) Next() (Record, bool) {
	if s.i >= len(s.recs) {
		return Record{}, false
	}
	s.i++
	return s.recs[s.i-1], true
}

func (s *sliceSource) Err() error { return nil }

func (s *sliceSource) Span() (time.Time, time.Time) {
	if len(s.recs) == 0 {
		return time.Time{}, time.Time{}
	}
	return s.recs[0].Time, s.recs[len(s.recs)-1].Time
}
