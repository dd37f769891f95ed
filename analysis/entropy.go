package analysis

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// EbAT is entropy-based anomaly testing (Wang et al., "Online detection of
// utility cloud anomalies using metric distributions", NOMS 2010). Each
// metric's values are binned on the baseline's range; the Shannon entropy
// of the bin counts over a trailing window describes how the metric is
// distributed right now. A metric that starts to flap (entropy up) or gets
// stuck (entropy down) changes its entropy even when every single value is
// in range. The m-event entropy of the paper (the entropy of whole binned
// observation vectors) is given by MEventEntropy for small metric sets.
type EbAT struct {
	// Window is the number of trailing rows an entropy is computed over.
	Window int
	// Bins is the number of equal-width bins over [Lo, Hi]; values below
	// Lo and above Hi fall in two extra overflow bins.
	Bins int
	// Lo and Hi are each metric's baseline minimum and maximum.
	Lo, Hi []float64
	// Mean and Std describe each metric's window entropy over the baseline.
	Mean, Std []float64
}

// FitEbAT bins every metric of the baseline X on its own range and records
// the mean and standard deviation of its trailing-window entropy.
func FitEbAT(X *mat.Dense, window, bins int) (*EbAT, error) {
	n, p := X.Dims()
	if n < 1 || p < 1 {
		return nil, fmt.Errorf("%w: baseline is %d x %d", ErrEmpty, n, p)
	}
	e, err := newEbAT(p, window, bins)
	if err != nil {
		return nil, err
	}
	raw := X.RawMatrix()
	columnPass(raw.Data, n, p, raw.Stride, func() func(int, []float64) {
		f := e.newFitter(n)
		return func(j int, col []float64) {
			mn, mx := math.Inf(1), math.Inf(-1)
			for _, v := range col {
				mn, mx = min(mn, v), max(mx, v)
			}
			f.column(j, col, mn, mx)
		}
	})
	return e, nil
}

// newEbAT returns an EbAT of p metrics with its fields to be fitted.
func newEbAT(p, window, bins int) (*EbAT, error) {
	if window < 2 || bins < 1 {
		return nil, fmt.Errorf("%w: ebat window %d (need >= 2), bins %d (need >= 1)", ErrConfig, window, bins)
	}
	return &EbAT{
		Window: window, Bins: bins,
		Lo: make([]float64, p), Hi: make([]float64, p),
		Mean: make([]float64, p), Std: make([]float64, p),
	}, nil
}

// ebatFitter fits one metric at a time, with its own scratch space and
// tables: c·log2(c) for the counts and log2(w) for the window lengths a
// sliding window takes, so that no logarithm is computed per value.
type ebatFitter struct {
	e      *EbAT
	counts []int
	bins   []int32
	ent    []float64
	clog   []float64 // c·log2(c), c = 0..Window
	log2   []float64 // log2(w), w = 0..Window
}

func (e *EbAT) newFitter(n int) *ebatFitter {
	f := &ebatFitter{e: e, counts: make([]int, e.Bins+2), bins: make([]int32, n), ent: make([]float64, n),
		clog: make([]float64, e.Window+1), log2: make([]float64, e.Window+1)}
	for c := 1; c <= e.Window; c++ {
		if c >= 2 {
			f.clog[c] = float64(c) * math.Log2(float64(c))
		}
		f.log2[c] = math.Log2(float64(c))
	}
	return f
}

// column fits metric j from its baseline values col, whose minimum and
// maximum are lo and hi.
func (f *ebatFitter) column(j int, col []float64, lo, hi float64) {
	e := f.e
	e.Lo[j], e.Hi[j] = lo, hi
	ent := f.entropies(j, col)
	start := min(e.Window-1, len(ent)-1) // skip windows not yet full
	full := ent[start:]
	m, s := 0.0, 0.0
	for _, h := range full {
		m += h
	}
	m /= float64(len(full))
	for _, h := range full {
		s += (h - m) * (h - m)
	}
	if len(full) > 1 {
		s = math.Sqrt(s / float64(len(full)-1))
	}
	e.Mean[j], e.Std[j] = m, s
}

// bin returns the bin of value v of metric j: 0 below the range, 1..Bins
// inside it, Bins+1 above it.
func (e *EbAT) bin(j int, v float64) int {
	lo, hi := e.Lo[j], e.Hi[j]
	switch {
	case v < lo:
		return 0
	case v > hi:
		return e.Bins + 1
	case hi == lo:
		return 1
	}
	b := int(float64(e.Bins) * (v - lo) / (hi - lo))
	return 1 + min(b, e.Bins-1)
}

// entropies returns the entropy (bits) of metric j's bins over the trailing
// window ending at each index of series (windows at the start are
// shorter), in scratch space valid until the next call. The histogram
// slides one value at a time and the entropy is kept as
// H = log2(w) - Σ c·log2(c) / w, so each step costs O(1).
func (f *ebatFitter) entropies(j int, series []float64) []float64 {
	e := f.e
	if len(series) > len(f.ent) {
		f.ent, f.bins = make([]float64, len(series)), make([]int32, len(series))
	}
	counts, clog := f.counts, f.clog
	clear(counts)
	w, nb := e.Window, e.Bins
	lo, hi := e.Lo[j], e.Hi[j]
	fb, width := float64(nb), hi-lo
	sum := 0.0 // Σ c·log2(c) over the bins
	ent, bins := f.ent[:len(series)], f.bins[:len(series)]
	for i, v := range series {
		if i >= w {
			b := bins[i-w]
			sum -= clog[counts[b]]
			counts[b]--
			sum += clog[counts[b]]
		}
		var b int
		switch { // as e.bin
		case v < lo:
			b = 0
		case v > hi:
			b = nb + 1
		case hi == lo:
			b = 1
		default:
			b = 1 + min(int(fb*(v-lo)/width), nb-1)
		}
		bins[i] = int32(b)
		sum -= clog[counts[b]]
		counts[b]++
		sum += clog[counts[b]]
		k := min(i+1, w)
		ent[i] = max(0, f.log2[k]-sum/float64(k))
	}
	return ent
}

// windowEntropies appends to dst the entropy (bits) of metric j's bins over
// the trailing window ending at each index of series (see entropies).
func (e *EbAT) windowEntropies(dst []float64, j int, series []float64) []float64 {
	return append(dst, e.newFitter(len(series)).entropies(j, series)...)
}

// MetricEntropy returns the entropy (bits) of metric j's values in series
// (typically the trailing window) and its deviation from the baseline in
// baseline standard deviations (0 when the baseline entropy never varied).
func (e *EbAT) MetricEntropy(j int, series []float64) (h, z float64) {
	counts := make([]int, e.Bins+2)
	for _, v := range series {
		counts[e.bin(j, v)]++
	}
	h = histEntropy(counts, len(series))
	if e.Std[j] > 0 {
		z = (h - e.Mean[j]) / e.Std[j]
	} else if h != e.Mean[j] {
		z = math.Copysign(math.Inf(1), h-e.Mean[j])
	}
	return h, z
}

// MEventEntropy returns the entropy (bits) of the m-events of the rows of
// X: each row's vector of bin indices is one event, as in EbAT. With many
// metrics nearly every event is distinct; use it on small metric sets (one
// component's metrics) as the paper does.
func (e *EbAT) MEventEntropy(X *mat.Dense) float64 {
	n, p := X.Dims()
	seen := make(map[string]int)
	key := make([]byte, 0, 2*p)
	for i := range n {
		key = key[:0]
		for j := range p {
			b := e.bin(j, X.At(i, j))
			key = append(key, byte(b), byte(b>>8))
		}
		seen[string(key)]++
	}
	h := 0.0
	for _, c := range seen {
		q := float64(c) / float64(n)
		h -= q * math.Log2(q)
	}
	return h
}

// Entropy returns the Shannon entropy (bits) of values binned into bins
// equal-width bins over [lo, hi] (values outside are clamped to the end
// bins).
func Entropy(values []float64, lo, hi float64, bins int) float64 {
	if len(values) == 0 || bins < 1 {
		return 0
	}
	counts := make([]int, bins)
	for _, v := range values {
		b := 0
		if hi > lo {
			b = int(float64(bins) * (v - lo) / (hi - lo))
		}
		counts[min(max(b, 0), bins-1)]++
	}
	return histEntropy(counts, len(values))
}

func histEntropy(counts []int, total int) float64 {
	if total <= 0 {
		return 0
	}
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			q := float64(c) / float64(total)
			h -= q * math.Log2(q)
		}
	}
	return h
}
