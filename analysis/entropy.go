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
	if window < 2 || bins < 1 {
		return nil, fmt.Errorf("%w: ebat window %d (need >= 2), bins %d (need >= 1)", ErrConfig, window, bins)
	}
	e := &EbAT{
		Window: window, Bins: bins,
		Lo: make([]float64, p), Hi: make([]float64, p),
		Mean: make([]float64, p), Std: make([]float64, p),
	}
	raw := X.RawMatrix()
	parallelRange(p, 32, func(lo, hi int) {
		col := make([]float64, n)
		ent := make([]float64, n)
		for j := lo; j < hi; j++ {
			mn, mx := math.Inf(1), math.Inf(-1)
			for i := range n {
				v := raw.Data[i*raw.Stride+j]
				col[i] = v
				mn, mx = math.Min(mn, v), math.Max(mx, v)
			}
			e.Lo[j], e.Hi[j] = mn, mx
			ent = e.windowEntropies(ent[:0], j, col)
			start := min(window-1, len(ent)-1) // skip windows not yet full
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
	})
	return e, nil
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

// windowEntropies appends to dst the entropy (bits) of metric j's bins over
// the trailing window ending at each index of series (windows at the start
// are shorter). The histogram slides one value at a time and the entropy
// is kept as H = log2(w) - Σ c·log2(c) / w, so each step costs O(1).
func (e *EbAT) windowEntropies(dst []float64, j int, series []float64) []float64 {
	counts := make([]int, e.Bins+2)
	bins := make([]int, len(series))
	clog := make([]float64, e.Window+1) // c·log2(c)
	for c := 2; c <= e.Window; c++ {
		clog[c] = float64(c) * math.Log2(float64(c))
	}
	sum := 0.0 // Σ c·log2(c) over the bins
	move := func(b, delta int) {
		sum -= clog[counts[b]]
		counts[b] += delta
		sum += clog[counts[b]]
	}
	for i, v := range series {
		if i >= e.Window {
			move(bins[i-e.Window], -1)
		}
		b := e.bin(j, v)
		bins[i] = b
		move(b, 1)
		w := float64(min(i+1, e.Window))
		dst = append(dst, math.Max(0, math.Log2(w)-sum/w))
	}
	return dst
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
