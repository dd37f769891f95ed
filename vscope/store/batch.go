package store

import (
	"unicode/utf8"
)

// Batch is a columnar batch of points: each distinct series once, and per
// point a reference to its series, a timestamp and a value. It is the unit
// of writing and of transfer (one Arrow record batch).
type Batch struct {
	Series []Series
	Ref    []int32   // per point: index into Series
	TS     []int64   // per point: unix milliseconds
	Value  []float64 // per point

	index   *seriesIndex
	indexed int // b.Series[:indexed] are in index
}

// NewBatch builds a batch from points.
func NewBatch(points []Point) *Batch {
	b := &Batch{}
	b.AddPoints(points)
	return b
}

// Len is the number of points.
func (b *Batch) Len() int { return len(b.Ref) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	b.Series, b.Ref, b.TS, b.Value = b.Series[:0], b.Ref[:0], b.TS[:0], b.Value[:0]
	if b.index != nil {
		b.index.reset()
	}
	b.indexed = 0
}

// SeriesRef returns the index of s in b.Series, adding it if new.
func (b *Batch) SeriesRef(s Series) int32 {
	if b.index == nil {
		b.index = newSeriesIndex(len(b.Series))
	}
	if b.indexed > len(b.Series) { // Series was cut short directly
		b.index.reset()
		b.indexed = 0
	}
	for ; b.indexed < len(b.Series); b.indexed++ { // Series set directly
		if _, ok := b.index.get(b.Series[b.indexed], b.Series); !ok {
			b.index.put(b.Series[b.indexed], int32(b.indexed))
		}
	}
	if i, ok := b.index.get(s, b.Series); ok {
		return i
	}
	i := int32(len(b.Series))
	b.Series = append(b.Series, s)
	b.index.put(s, i)
	b.indexed++
	return i
}

// Add appends one point of series ref (from SeriesRef).
func (b *Batch) Add(ref int32, ts int64, v float64) {
	b.Ref = append(b.Ref, ref)
	b.TS = append(b.TS, ts)
	b.Value = append(b.Value, v)
}

// AddPoints appends points.
func (b *Batch) AddPoints(points []Point) {
	for _, p := range points {
		b.Add(b.SeriesRef(Series{p.Host, p.Agent, p.Component, p.Kind, p.Metric}), p.TS, p.Value)
	}
}

// Points returns the batch in long format.
func (b *Batch) Points() []Point {
	out := make([]Point, len(b.Ref))
	for i, r := range b.Ref {
		s := b.Series[r]
		out[i] = Point{b.TS[i], s.Host, s.Agent, s.Component, s.Kind, s.Metric, b.Value[i]}
	}
	return out
}

// Validate checks the batch's shape: columns of one length, references in
// range, every series with a metric name and valid UTF-8 names.
func (b *Batch) Validate() error {
	if err := b.validateShape(); err != nil {
		return err
	}
	return b.validateNames()
}

func (b *Batch) validateShape() error {
	if len(b.TS) != len(b.Ref) || len(b.Value) != len(b.Ref) {
		return badBatch("columns of different lengths: %d refs, %d timestamps, %d values", len(b.Ref), len(b.TS), len(b.Value))
	}
	for i, r := range b.Ref {
		if r < 0 || int(r) >= len(b.Series) {
			return badBatch("point %d refers to series %d of %d", i, r, len(b.Series))
		}
	}
	return nil
}

func (b *Batch) validateNames() error {
	for i, s := range b.Series {
		if s.Metric == "" {
			return badBatch("series %d (%s) has no metric name", i, s)
		}
		for _, x := range []string{s.Host, s.Agent, s.Component, s.Kind, s.Metric} {
			if !utf8.ValidString(x) {
				return badBatch("series %d: name %q is not valid UTF-8", i, x)
			}
		}
	}
	return nil
}
