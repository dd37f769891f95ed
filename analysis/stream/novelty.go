package stream

import (
	"fmt"
	"math"
	"sort"
)

// NoveltyConfig parameterises a Novelty detector. Lengths are in rows (for
// NAB's 5-minute series: 12 rows = 1 hour, 288 = 1 day, 4032 = 2 weeks).
type NoveltyConfig struct {
	// Means are the lengths of the trailing means checked besides the raw
	// value: a level shift that stays inside the range of single values
	// still takes the hourly mean out of its range.
	Means []int
	// History is how many past values (and past means) define the range.
	History int
	// Scale is the quantile q that sets the unit of excess: the spread
	// between the q and 1-q quantiles of the history.
	Scale float64
	// Suppress is how many rows a score must beat: a score that is not
	// above every raw score of the last Suppress rows is reported as 0, so
	// one event is reported once, at its start.
	Suppress int
	// Warmup is how many rows are seen before anything is scored.
	Warmup int
}

// DefaultNovelty is the configuration used for NAB: value and 1-hour mean,
// two weeks of history, 1%-99% spread, one day of suppression.
func DefaultNovelty() NoveltyConfig {
	return NoveltyConfig{Means: []int{12}, History: 4032, Scale: 0.01, Suppress: 288, Warmup: 20}
}

// Validate reports a configuration that cannot run.
func (c NoveltyConfig) Validate() error {
	var errs []string
	if c.History < 2 {
		errs = append(errs, fmt.Sprintf("history %d < 2", c.History))
	}
	if c.Scale < 0 || c.Scale >= 0.5 {
		errs = append(errs, fmt.Sprintf("scale %v outside [0, 0.5)", c.Scale))
	}
	if c.Suppress < 0 || c.Warmup < 0 {
		errs = append(errs, "negative suppress or warmup")
	}
	for _, k := range c.Means {
		if k < 2 {
			errs = append(errs, fmt.Sprintf("mean length %d < 2", k))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("stream: novelty config: %v", errs)
	}
	return nil
}

// Novelty is this project's streaming detector for metric series. It scores
// how far the newest value, or a trailing mean of values, falls outside the
// range [min, max] of the same quantity over the last History rows, in units
// of that history's q..1-q spread: e = max(0, f-max, min-f) / spread. The
// largest excess e over the checked quantities becomes the score e/(1+e) in
// [0, 1). A new extreme of level or of hourly level is what operators page
// on (a CPU pinned at 100%, a request count at zero, a disk that writes ten
// times its usual), and it needs no model of the series, so the one
// threshold that NAB fits over a whole corpus works across series of very
// different scales.
//
// Scores that do not beat the last Suppress raw scores are reported as 0:
// the first alarm of an event counts, repeats do not.
type Novelty struct {
	cfg   NoveltyConfig
	recs  []*rangeWindow // value, then one per mean
	last  []float64      // last max(Means) values
	raw   []float64      // ring of the last Suppress raw scores
	rawAt int
	n     int
}

// NewNovelty returns a detector, or an error for a bad configuration.
func NewNovelty(cfg NoveltyConfig) (*Novelty, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Novelty{cfg: cfg, recs: make([]*rangeWindow, 1+len(cfg.Means))}
	for i := range d.recs {
		d.recs[i] = newRangeWindow(cfg.History)
	}
	return d, nil
}

// Update scores x against the history, then adds it.
func (d *Novelty) Update(x float64) float64 {
	d.n++
	keep := 1
	for _, k := range d.cfg.Means {
		keep = max(keep, k)
	}
	d.last = append(d.last, x)
	if len(d.last) > keep {
		d.last = d.last[len(d.last)-keep:]
	}
	e := 0.0
	for i, r := range d.recs {
		f := x
		if i > 0 {
			k := d.cfg.Means[i-1]
			if len(d.last) < k {
				continue
			}
			f = mean(d.last[len(d.last)-k:])
		}
		if d.n > d.cfg.Warmup {
			e = math.Max(e, r.excess(f, d.cfg.Scale))
		}
		r.add(f)
	}
	score := e / (1 + e)
	if d.cfg.Suppress == 0 {
		return score
	}
	out := score
	for _, v := range d.raw {
		if v >= score {
			out = 0
			break
		}
	}
	if len(d.raw) < d.cfg.Suppress {
		d.raw = append(d.raw, score)
	} else {
		d.raw[d.rawAt] = score
		d.rawAt = (d.rawAt + 1) % d.cfg.Suppress
	}
	return out
}

func mean(a []float64) float64 {
	s := 0.0
	for _, v := range a {
		s += v
	}
	return s / float64(len(a))
}

// rangeWindow keeps the last n values in arrival order and sorted, for the
// range and quantiles of a sliding window. Insert and evict are O(n) memory
// moves, which for a few thousand values is faster than a tree.
type rangeWindow struct {
	n      int
	ring   []float64
	at     int
	sorted []float64
}

func newRangeWindow(n int) *rangeWindow {
	return &rangeWindow{n: n, ring: make([]float64, 0, n), sorted: make([]float64, 0, n)}
}

func (w *rangeWindow) add(x float64) {
	if math.IsNaN(x) {
		return
	}
	if len(w.ring) == w.n {
		old := w.ring[w.at]
		w.ring[w.at] = x
		w.at = (w.at + 1) % w.n
		j := sort.SearchFloat64s(w.sorted, old)
		w.sorted = append(w.sorted[:j], w.sorted[j+1:]...)
	} else {
		w.ring = append(w.ring, x)
	}
	i := sort.SearchFloat64s(w.sorted, x)
	w.sorted = append(w.sorted, 0)
	copy(w.sorted[i+1:], w.sorted[i:])
	w.sorted[i] = x
}

// quantile interpolates linearly between order statistics.
func (w *rangeWindow) quantile(q float64) float64 {
	n := len(w.sorted)
	p := q * float64(n-1)
	i := int(p)
	if i >= n-1 {
		return w.sorted[n-1]
	}
	f := p - float64(i)
	return w.sorted[i]*(1-f) + w.sorted[i+1]*f
}

// excess is how far f lies outside [min, max], in units of the q..1-q
// spread (with a floor for flat histories); 0 with fewer than two values.
func (w *rangeWindow) excess(f, q float64) float64 {
	if len(w.sorted) < 2 || math.IsNaN(f) {
		return 0
	}
	lo, hi := w.sorted[0], w.sorted[len(w.sorted)-1]
	spread := w.quantile(1-q) - w.quantile(q)
	if floor := 1e-9 * math.Max(1, math.Max(math.Abs(lo), math.Abs(hi))); spread < floor {
		spread = floor
	}
	return math.Max(0, math.Max(f-hi, lo-f)) / spread
}
