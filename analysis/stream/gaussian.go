package stream

import "math"

// WindowedGaussian is NAB's windowedGaussian detector
// (nab/detectors/gaussian/windowedGaussian_detector.py): the score of a value
// is 1 - Q(|x - mean| / std), the Gaussian tail probability against the mean
// and standard deviation of the previous values, over a window that grows to
// WindowSize values and then slides by StepSize values at a time. Mean and
// standard deviation are summed the way numpy sums (pairwise), so scores
// match NAB's to the last bit in practice.
type WindowedGaussian struct {
	// WindowSize and StepSize default to NAB's 6400 and 100.
	WindowSize, StepSize int

	window, step []float64
	mean, std    float64
	tmp          []float64
}

// NewWindowedGaussian returns the detector with NAB's parameters.
func NewWindowedGaussian() *WindowedGaussian {
	return &WindowedGaussian{WindowSize: 6400, StepSize: 100, std: 1}
}

// Update scores x, then adds it to the window.
func (d *WindowedGaussian) Update(x float64) float64 {
	score := 0.0
	if len(d.window) > 0 {
		score = 1 - normalTail(x, d.mean, d.std)
	}
	if len(d.window) < d.WindowSize {
		d.window = append(d.window, x)
		d.refit()
	} else {
		d.step = append(d.step, x)
		if len(d.step) == d.StepSize {
			d.window = append(d.window[:0:0], append(d.window[d.StepSize:], d.step...)...)
			d.step = d.step[:0]
			d.refit()
		}
	}
	return score
}

func (d *WindowedGaussian) refit() {
	n := float64(len(d.window))
	d.mean = npSum(d.window) / n
	d.tmp = d.tmp[:0]
	for _, v := range d.window {
		e := v - d.mean
		d.tmp = append(d.tmp, e*e)
	}
	d.std = math.Sqrt(npSum(d.tmp) / n)
	if d.std == 0 {
		d.std = 0.000001
	}
}

// normalTail is Q(|x-mean|/std), the upper tail of the normal distribution.
func normalTail(x, mean, std float64) float64 {
	if x < mean {
		x = 2*mean - x
	}
	z := (x - mean) / std
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// npSum sums like numpy's add.reduce on a contiguous float64 array: numpy's
// pairwise summation (blocks of up to 128 values summed in 8 lanes).
func npSum(a []float64) float64 {
	return pairwiseSum(a)
}

func pairwiseSum(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		res := 0.0
		for _, v := range a {
			res += v
		}
		return res
	case n <= 128:
		r0, r1, r2, r3, r4, r5, r6, r7 := a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
		i := 8
		for ; i < n-n%8; i += 8 {
			b := a[i : i+8 : i+8]
			r0 += b[0]
			r1 += b[1]
			r2 += b[2]
			r3 += b[3]
			r4 += b[4]
			r5 += b[5]
			r6 += b[6]
			r7 += b[7]
		}
		res := ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
		for ; i < n; i++ {
			res += a[i]
		}
		return res
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
	}
}
