package analysis

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// JacksonMudholkar returns the upper control limit of the squared
// prediction error (SPE, Q statistic) at significance alpha, given the sums
// θ1, θ2, θ3 of the first three powers of the residual eigenvalues
// (Jackson & Mudholkar 1979):
//
//	h0 = 1 - 2·θ1·θ3 / (3·θ2²)
//	Q_α = θ1 · [ c_α·sqrt(2·θ2·h0²)/θ1 + 1 + θ2·h0·(h0-1)/θ1² ]^(1/h0)
//
// where c_α is the standard normal (1-α) quantile. When h0 <= 0 (a residual
// spectrum dominated by one eigenvalue) the approximation breaks down and
// Box's (1954) g·χ²_h with g = θ2/θ1, h = θ1²/θ2 is used instead. It returns
// 0 when there is no residual variance.
func JacksonMudholkar(theta1, theta2, theta3, alpha float64) float64 {
	if theta1 <= 0 || theta2 <= 0 {
		return 0
	}
	h0 := 1 - 2*theta1*theta3/(3*theta2*theta2)
	if h0 <= 1e-6 {
		return boxSPELimit(theta1, theta2, alpha)
	}
	c := distuv.UnitNormal.Quantile(1 - alpha)
	base := c*math.Sqrt(2*theta2*h0*h0)/theta1 + 1 + theta2*h0*(h0-1)/(theta1*theta1)
	if base <= 0 {
		return boxSPELimit(theta1, theta2, alpha)
	}
	return theta1 * math.Pow(base, 1/h0)
}

// boxSPELimit is Box's scaled chi-square approximation of the SPE limit.
func boxSPELimit(theta1, theta2, alpha float64) float64 {
	g := theta2 / theta1
	h := theta1 * theta1 / theta2
	return g * distuv.ChiSquared{K: h}.Quantile(1-alpha)
}

// HotellingT2Limit returns the upper control limit of Hotelling's T² for a
// new observation scored against k components estimated from n baseline
// rows, at significance alpha (Tracy, Young & Mason 1992):
//
//	T²_α = k·(n-1)·(n+1) / (n·(n-k)) · F_α(k, n-k)
//
// It returns +Inf when k is 0 or n <= k.
func HotellingT2Limit(k, n int, alpha float64) float64 {
	if k <= 0 || n <= k {
		return math.Inf(1)
	}
	fk, fn := float64(k), float64(n)
	f := distuv.F{D1: fk, D2: fn - fk}.Quantile(1 - alpha)
	return fk * (fn - 1) * (fn + 1) / (fn * (fn - fk)) * f
}

// SPELimit returns the Jackson–Mudholkar SPE limit of the model at alpha.
func (m *PCA) SPELimit(alpha float64) float64 {
	return JacksonMudholkar(m.Theta[0], m.Theta[1], m.Theta[2], alpha)
}

// T2Limit returns the Hotelling T² limit of the model at alpha.
func (m *PCA) T2Limit(alpha float64) float64 {
	return HotellingT2Limit(m.K, m.N, alpha)
}
