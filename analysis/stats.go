package analysis

import (
	"math"
	"slices"
	"sync"
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
func selectK[T float32 | float64](xs []T, k int) T {
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

// MedianMAD returns the median of xs (the mean of the two middle values
// for an even count) and the raw median absolute deviation from it (not
// scaled by 1.4826), sorting xs in place. It costs one radix sort and a
// binary search, where sorting the deviations again would cost a second
// sort; the results are those of Median and MAD. NaN for an empty slice.
func MedianMAD(xs []float64) (median, mad float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	s := sorters.Get().(*floatSorter)
	s.sort(xs)
	sorters.Put(s)
	median = quantileSorted(xs, 0.5)
	return median, madSorted(xs, median)
}

var sorters = sync.Pool{New: func() any { return new(floatSorter) }}

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

// floatSorter sorts float64 slices by a least-significant-digit radix sort
// of their bits (8 passes of 8 bits, skipping the passes whose digit is the
// same in every value, as the exponent bytes of a metric's values mostly
// are); fewer than 48 values by insertion. For the few hundred to few
// thousand values of a baseline column it is 3-4x faster than slices.Sort.
// It is exact and stable: the result is the ascending order of the values,
// -0 before +0 (NaN is not expected), so its ends are the minimum and
// maximum as math.Min and math.Max give them.
// The zero value is ready to use; it keeps its buffers between calls.
type floatSorter struct {
	keys, tmp []uint64
	hist      [8][256]uint32
}

// sortKey maps a float64 to a uint64 whose unsigned order is the float's.
func sortKey(v float64) uint64 {
	b := math.Float64bits(v)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

func sortKeyValue(k uint64) float64 {
	if k>>63 == 1 {
		return math.Float64frombits(k &^ (1 << 63))
	}
	return math.Float64frombits(^k)
}

// sort sorts xs in place.
func (s *floatSorter) sort(xs []float64) {
	n := len(xs)
	if n < 2 {
		return
	}
	if n < 48 { // insertion sort, in the same order (-0 before +0)
		for i := 1; i < n; i++ {
			v := xs[i]
			k := sortKey(v)
			j := i
			for ; j > 0 && sortKey(xs[j-1]) > k; j-- {
				xs[j] = xs[j-1]
			}
			xs[j] = v
		}
		return
	}
	if cap(s.keys) < n {
		s.keys, s.tmp = make([]uint64, n), make([]uint64, n)
	}
	src, dst := s.keys[:n], s.tmp[:n]
	s.hist = [8][256]uint32{}
	h := &s.hist
	for i, v := range xs {
		k := sortKey(v)
		src[i] = k
		h[0][k&255]++
		h[1][(k>>8)&255]++
		h[2][(k>>16)&255]++
		h[3][(k>>24)&255]++
		h[4][(k>>32)&255]++
		h[5][(k>>40)&255]++
		h[6][(k>>48)&255]++
		h[7][k>>56]++
	}
	for d := range 8 {
		shift := 8 * uint(d)
		c := &h[d]
		if c[(src[0]>>shift)&255] == uint32(n) {
			continue // every value has this digit
		}
		var sum uint32
		for b := range c {
			x := c[b]
			c[b] = sum
			sum += x
		}
		for _, k := range src {
			b := (k >> shift) & 255
			dst[c[b]] = k
			c[b]++
		}
		src, dst = dst, src
	}
	for i, k := range src {
		xs[i] = sortKeyValue(k)
	}
}

// madSorted returns the median absolute deviation from med of the sorted
// slice s, without reordering or copying it: the deviations |s[i] - med|
// rise from the split at med outwards in both directions (rounding is
// monotonic), so they are two sorted runs, and their middle order
// statistics are found by a binary search over how many come from each
// run. It equals medianInPlace of the deviations.
func madSorted(s []float64, med float64) float64 {
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	r, _ := slices.BinarySearch(s, med) // s[:r] < med <= s[r:]
	// Run a: |s[r-1-i] - med|, i < r; run b: |s[r+i] - med|, i < n-r.
	a := func(i int) float64 { return math.Abs(s[r-1-i] - med) }
	b := func(i int) float64 { return math.Abs(s[r+i] - med) }
	na, nb := r, n-r
	// kth returns the k-th smallest (0-based) of the two runs: the
	// largest i in [max(0, k+1-nb), min(k+1, na)] such that taking i from
	// a and k+1-i from b is a valid prefix of the merge.
	kth := func(k int) float64 {
		lo, hi := max(0, k+1-nb), min(k+1, na)
		for lo < hi { // find the smallest i with a(i) >= b(k-i), or hi
			i := (lo + hi) / 2
			if a(i) < b(k-i) {
				lo = i + 1
			} else {
				hi = i
			}
		}
		// lo elements come from a and k+1-lo from b; the k-th is the
		// larger of the last taken from each.
		v := math.Inf(-1)
		if lo > 0 {
			v = a(lo - 1)
		}
		if j := k - lo; j >= 0 {
			v = max(v, b(j))
		}
		return v
	}
	hi := kth(n / 2)
	if n%2 == 1 {
		return hi
	}
	return (kth(n/2-1) + hi) / 2
}

// colBlock is the number of columns columnPass copies out at a time: one
// row of a block is colBlock·8 = 128 contiguous bytes, where reading a
// single column touches a cache line (and a page, for wide matrices) per
// value.
const colBlock = 16

// columnPass calls visit(j, col) for every column j of the row-major
// n x p matrix data (row stride stride), with col holding the column's
// n values contiguously. Columns are split into contiguous ranges, one
// per CPU (parallelRange), and each worker gets its own visit from
// newWorker, so per-worker scratch space needs no locking; every column is
// handled by exactly one call, so results written per column do not depend
// on the number of CPUs.
func columnPass(data []float64, n, p, stride int, newWorker func() func(j int, col []float64)) {
	parallelRange(p, colBlock, func(lo, hi int) {
		visit := newWorker()
		buf := make([]float64, colBlock*n)
		for j0 := lo; j0 < hi; j0 += colBlock {
			w := min(colBlock, hi-j0)
			for i := range n {
				row := data[i*stride+j0 : i*stride+j0+w]
				for k, v := range row {
					buf[k*n+i] = v
				}
			}
			for k := range w {
				visit(j0+k, buf[k*n:(k+1)*n])
			}
		}
	})
}
