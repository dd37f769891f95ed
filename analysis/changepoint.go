package analysis

import "math"

// CUSUM runs Page's two-sided tabular CUSUM over a standardised series z
// (zero mean and unit variance when in control): S⁺ = max(0, S⁺ + z - k),
// S⁻ = max(0, S⁻ - z - k), alarming when either exceeds h. k is the
// reference value (half the shift to detect, in σ; 0.5 is usual) and h the
// decision interval (4 or 5 is usual). It returns the index of the first
// alarm and the onset estimate, the index just after the alarming sum was
// last zero; both are -1 when there is no alarm.
func CUSUM(z []float64, k, h float64) (alarm, onset int) {
	var up, down float64
	upStart, downStart := 0, 0
	for i, v := range z {
		if up == 0 {
			upStart = i
		}
		if down == 0 {
			downStart = i
		}
		up = math.Max(0, up+v-k)
		down = math.Max(0, down-v-k)
		switch {
		case up > h:
			return i, upStart
		case down > h:
			return i, downStart
		}
	}
	return -1, -1
}

// MeanShift finds the single change in mean of x that best splits it in
// two segments: the τ in [1, len(x)) maximising
//
//	|mean(x[τ:]) - mean(x[:τ])| · sqrt(τ·(n-τ)/n)
//
// (the likelihood-ratio statistic for one mean shift with known variance,
// as in binary segmentation). With sigma > 0 the statistic is returned in
// units of sigma, so a value above 3–4 is a real shift for i.i.d. noise.
// It returns (-1, 0) for fewer than two values.
func MeanShift(x []float64, sigma float64) (tau int, stat float64) {
	n := len(x)
	if n < 2 {
		return -1, 0
	}
	total := 0.0
	for _, v := range x {
		total += v
	}
	tau = -1
	left := 0.0
	fn := float64(n)
	for t := 1; t < n; t++ {
		left += x[t-1]
		ft := float64(t)
		d := math.Abs((total-left)/(fn-ft)-left/ft) * math.Sqrt(ft*(fn-ft)/fn)
		if d > stat {
			tau, stat = t, d
		}
	}
	if tau < 0 {
		tau = 1
	}
	if sigma > 0 {
		stat /= sigma
	}
	return tau, stat
}
