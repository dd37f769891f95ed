package analysis

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// Baseline holds per-metric robust statistics of a baseline matrix: the
// location and scale of the robust z-score, the quartiles of the Tukey
// fences, and the EWMA state at the end of the baseline.
type Baseline struct {
	// Median is each metric's baseline median.
	Median []float64
	// Scale is each metric's robust scale, in order of preference:
	// 1.4826·MAD (consistent with σ for normal data); if the MAD is 0
	// (a metric that mostly sits on one value), 1.2533·mean absolute
	// deviation from the median (the same consistency for the mean
	// deviation); never below the data's resolution (the smallest gap
	// between distinct baseline values: a change smaller than the
	// measurement step carries no information). Constant metrics get the
	// median scale of the others, so a departure from a constant counts
	// as a typical-size event rather than an infinite one.
	Scale []float64
	// Q1 and Q3 are the baseline quartiles.
	Q1, Q3 []float64
	// Resolution is the smallest gap between distinct baseline values of
	// each metric (0 for constant metrics).
	Resolution []float64
	// Constant marks metrics with a single value in the baseline.
	Constant []bool
}

// FitBaseline computes the robust statistics of every column of X.
func FitBaseline(X *mat.Dense) (*Baseline, error) {
	return fitUnivariate(X, nil, nil)
}

// fitUnivariate computes the robust statistics of every column of X and,
// in the same pass over the columns (columnPass), when eb is not nil
// EbAT's per-metric range and entropy moments, and when ew is not nil the
// EWMA level after the last row (into ew.Level, of X's width), as
// ew.Update row by row would leave it.
func fitUnivariate(X *mat.Dense, eb *EbAT, ew *EWMA) (*Baseline, error) {
	n, p := X.Dims()
	if n < 1 || p < 1 {
		return nil, fmt.Errorf("%w: baseline is %d x %d", ErrEmpty, n, p)
	}
	raw := X.RawMatrix()
	b := &Baseline{
		Median:     make([]float64, p),
		Scale:      make([]float64, p),
		Q1:         make([]float64, p),
		Q3:         make([]float64, p),
		Constant:   make([]bool, p),
		Resolution: make([]float64, p),
	}
	for i := range n {
		if err := checkFinite(raw.Data[i*raw.Stride : i*raw.Stride+p]); err != nil {
			return nil, fmt.Errorf("baseline row %d: %w", i, err)
		}
	}
	columnPass(raw.Data, n, p, raw.Stride, func() func(int, []float64) {
		f := &baselineFitter{b: b, s: make([]float64, n)}
		var ef *ebatFitter
		if eb != nil {
			ef = eb.newFitter(n)
		}
		return func(j int, col []float64) {
			if ew != nil {
				// EWMA.Update: the first row starts the level.
				level := col[0]
				for _, v := range col[1:] {
					level += ew.Alpha * (v - level)
				}
				ew.Level[j] = level
			}
			f.column(j, col) // sorts a copy of col into f.s
			if ef != nil {
				// The ends of the sorted column are its minimum and
				// maximum, as math.Min and math.Max give them (the sort
				// puts -0 before +0).
				ef.column(j, col, f.s[0], f.s[n-1])
			}
		}
	})
	var scales []float64
	for j, c := range b.Constant {
		if !c {
			scales = append(scales, b.Scale[j])
		}
	}
	fallback := 1.0
	if len(scales) > 0 {
		fallback = medianInPlace(scales)
	}
	for j, c := range b.Constant {
		if c {
			b.Scale[j] = fallback
		}
	}
	return b, nil
}

// baselineFitter computes one column's robust statistics at a time, with
// its own scratch space.
type baselineFitter struct {
	b      *Baseline
	s      []float64 // the sorted column
	sorter floatSorter
}

func (f *baselineFitter) column(j int, col []float64) {
	b, n := f.b, len(col)
	s := f.s[:n]
	copy(s, col)
	f.sorter.sort(s)
	med := quantileSorted(s, 0.5)
	b.Median[j] = med
	b.Q1[j] = quantileSorted(s, 0.25)
	b.Q3[j] = quantileSorted(s, 0.75)
	if s[0] == s[n-1] {
		b.Constant[j] = true
		return
	}
	sc := 1.4826 * madSorted(s, med)
	if sc == 0 {
		sumAbs := 0.0
		for _, v := range s {
			sumAbs += math.Abs(v - med)
		}
		sc = 1.2533 * sumAbs / float64(n)
	}
	b.Resolution[j] = resolution(s)
	b.Scale[j] = math.Max(sc, b.Resolution[j])
}

// RobustZ writes the signed robust z-scores (x - Median) / Scale of the
// observation x into dst and returns it.
func (b *Baseline) RobustZ(dst, x []float64) []float64 {
	p := len(b.Median)
	if cap(dst) < p {
		dst = make([]float64, p)
	}
	dst = dst[:p]
	for j, v := range x[:p] {
		dst[j] = (v - b.Median[j]) / b.Scale[j]
	}
	return dst
}

// TukeyFences returns Tukey's fences Q1 - k·IQR and Q3 + k·IQR per metric:
// k = 1.5 marks outliers, k = 3 "far out" values.
func (b *Baseline) TukeyFences(k float64) (lower, upper []float64) {
	p := len(b.Median)
	lower = make([]float64, p)
	upper = make([]float64, p)
	for j := range p {
		iqr := b.Q3[j] - b.Q1[j]
		lower[j] = b.Q1[j] - k*iqr
		upper[j] = b.Q3[j] + k*iqr
	}
	return lower, upper
}

// EWMA is an exponentially weighted moving average per metric:
// m_t = α·x_t + (1-α)·m_{t-1}. Its deviation |x_t - m_{t-1}| is the
// surprise of x_t relative to the recent past, which catches a level shift
// at any absolute level (inside the baseline's range too).
type EWMA struct {
	// Alpha is the smoothing weight of the newest value, in (0, 1].
	Alpha float64
	// Level is the current average per metric; nil until the first Update.
	Level []float64
}

// NewEWMA returns an EWMA whose span is n observations (α = 2/(n+1), the
// usual span convention: the centre of mass of the weights is (n-1)/2
// rows back).
func NewEWMA(span int) *EWMA {
	return &EWMA{Alpha: 2 / (float64(max(span, 1)) + 1)}
}

// Update folds the observation x into the average. When dev is non-nil it
// first writes the deviations x - m_{t-1} into it (0 on the first call).
func (e *EWMA) Update(x, dev []float64) {
	if e.Level == nil {
		e.Level = slices.Clone(x)
		if dev != nil {
			clear(dev[:len(x)])
		}
		return
	}
	for j, v := range x {
		if dev != nil {
			dev[j] = v - e.Level[j]
		}
		e.Level[j] += e.Alpha * (v - e.Level[j])
	}
}
