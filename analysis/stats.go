package analysis

import (
	"math"
	"slices"
)

// colMeanStd returns the mean and the sample standard deviation (n-1
// denominator) of each column of a row-major n x p matrix in one pass over
// the data. Sums are taken of deviations from the first row (the shifted-data
// algorithm), which avoids the cancellation of the naive sum of squares when
// a column's mean is large next to its spread.
func colMeanStd(data []float64, n, p, stride int) (mean, std []float64) {
	mean = make([]float64, p)
	std = make([]float64, p)
	if n == 0 {
		return mean, std
	}
	parallelRange(p, 256, func(lo, hi int) {
		shift := data[lo:hi:hi]
		s1 := mean[lo:hi:hi]
		s2 := std[lo:hi:hi]
		for i := 1; i < n; i++ {
			row := data[i*stride+lo : i*stride+hi][:len(shift)]
			for j, v := range row {
				d := v - shift[j]
				s1[j] += d
				s2[j] += d * d
			}
		}
		fn := float64(n)
		for j := range s1 {
			m := s1[j] / fn
			v := 0.0
			if n > 1 {
				v = max(0, (s2[j]-s1[j]*m)/(fn-1))
			}
			s1[j] = shift[j] + m
			s2[j] = math.Sqrt(v)
		}
	})
	return mean, std
}

// Median returns the median of xs (the mean of the two middle values for an
// even count). xs is not modified. It returns NaN for an empty slice.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return medianInPlace(slices.Clone(xs))
}

// medianInPlace returns the median of xs, reordering xs.
func medianInPlace(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	hi := selectK(xs, n/2)
	if n%2 == 1 {
		return hi
	}
	// The lower middle is the largest value left of position n/2.
	lo := xs[0]
	for _, v := range xs[1 : n/2] {
		if v > lo {
			lo = v
		}
	}
	return (lo + hi) / 2
}

// selectK reorders xs so that xs[k] is the k-th smallest value (0-based),
// everything left of it is <= and everything right of it is >=, and returns
// xs[k]. Deterministic median-of-three quickselect.
func selectK(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for hi > lo {
		mid := lo + (hi-lo)/2
		// Median of three as the pivot, moved to hi.
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[mid] < xs[hi] {
			xs[mid], xs[hi] = xs[hi], xs[mid]
		}
		pivot := xs[hi]
		// Three-way partition copes with the many ties of quantised metrics.
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch {
			case xs[i] < pivot:
				xs[lt], xs[i] = xs[i], xs[lt]
				lt++
				i++
			case xs[i] > pivot:
				xs[gt], xs[i] = xs[i], xs[gt]
				gt--
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt - 1
		case k > gt:
			lo = gt + 1
		default:
			return xs[k]
		}
	}
	return xs[k]
}

// Quantile returns the q-quantile (0 <= q <= 1) of xs with linear
// interpolation between order statistics (the definition numpy and R use by
// default, R type 7). xs is not modified; NaN for an empty slice.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return quantileSorted(s, q)
}

func quantileSorted(s []float64, q float64) float64 {
	if len(s) == 1 {
		return s[0]
	}
	q = min(max(q, 0), 1)
	h := q * float64(len(s)-1)
	i := int(math.Floor(h))
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[i] + (h-float64(i))*(s[i+1]-s[i])
}

// MAD returns the raw median absolute deviation from the median of xs (not
// scaled by 1.4826). xs is not modified.
func MAD(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	m := medianInPlace(s)
	for i, v := range xs {
		s[i] = math.Abs(v - m)
	}
	return medianInPlace(s)
}

// resolution returns the smallest positive gap between distinct values of
// the sorted slice s (the measurement resolution seen in the data), or 0 if
// all values are equal.
func resolution(s []float64) float64 {
	res := math.Inf(1)
	for i := 1; i < len(s); i++ {
		if d := s[i] - s[i-1]; d > 0 && d < res {
			res = d
		}
	}
	if math.IsInf(res, 1) {
		return 0
	}
	return res
}

// checkFinite reports ErrNotFinite if any element of data is NaN or ±Inf.
func checkFinite(data []float64) error {
	for _, v := range data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return ErrNotFinite
		}
	}
	return nil
}
