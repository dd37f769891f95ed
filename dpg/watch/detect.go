package watch

import (
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/vscope/vscope/analysis"
)

// detector scores one sample vector of a component against a model fitted
// on the component's recent history. score returns the score and the
// column that produced it.
type detector interface {
	score(x []float64) (float64, int)
}

// fitDetector fits method on X (rows are samples, columns the
// component's series). SPE needs two columns and a subspace; where it
// cannot fit, robust z stands in. The robust scale of a series is at
// least rel times its median's magnitude: a gauge that sat still through
// the history (a memory high-water mark) would otherwise make any
// movement of it look like an anomaly of hundreds of deviations.
func fitDetector(method string, X *mat.Dense, span int, rel float64) (detector, error) {
	b, err := analysis.FitBaseline(X)
	if err != nil {
		return nil, err
	}
	for j, m := range b.Median {
		b.Scale[j] = math.Max(b.Scale[j], rel*math.Abs(m))
	}
	switch method {
	case MethodEWMA:
		e := analysis.NewEWMA(span)
		n, _ := X.Dims()
		for i := range n {
			e.Update(X.RawRowView(i), nil)
		}
		return &ewmaDet{b: b, e: e}, nil
	case MethodSPE:
		if _, p := X.Dims(); p >= 2 {
			if m, err := analysis.FitPCA(X, analysis.PCAConfig{}); err == nil && m.K < m.P {
				if lim := m.SPELimit(0.001); lim > 0 && !math.IsNaN(lim) && !math.IsInf(lim, 0) {
					return &speDet{m: m, limit: lim}, nil
				}
			}
		}
	}
	return &robustZ{b: b}, nil
}

// robustZ scores the largest |x - median| / robust scale of the series.
type robustZ struct {
	b   *analysis.Baseline
	buf []float64
}

func (d *robustZ) score(x []float64) (float64, int) {
	d.buf = d.b.RobustZ(d.buf, x)
	return maxAbs(d.buf)
}

// ewmaDet scores the deviation from the moving average in robust scale
// units: a level shift inside the history's range still shows.
type ewmaDet struct {
	b   *analysis.Baseline
	e   *analysis.EWMA
	dev []float64
}

func (d *ewmaDet) score(x []float64) (float64, int) {
	if cap(d.dev) < len(x) {
		d.dev = make([]float64, len(x))
	}
	d.dev = d.dev[:len(x)]
	d.e.Update(x, d.dev)
	for j := range d.dev {
		d.dev[j] /= d.b.Scale[j]
	}
	return maxAbs(d.dev)
}

// speDet scores the squared residual of the standardised sample outside
// the component's normal subspace, over its Jackson-Mudholkar limit; the
// column is the series with the largest residual.
type speDet struct {
	m        *analysis.PCA
	limit    float64
	z, r     []float64
	unscaled []float64
}

func (d *speDet) score(x []float64) (float64, int) {
	d.z = d.m.Standardize(d.z, x)
	var spe float64
	d.r, spe, _ = d.m.Residual(d.r, d.z)
	_, col := maxAbs(d.r)
	return finite(spe / d.limit), col
}

func maxAbs(v []float64) (float64, int) {
	best, col := 0.0, -1
	for j, x := range v {
		if a := math.Abs(x); a > best {
			best, col = a, j
		}
	}
	return finite(best), col
}

// finite keeps scores encodable: NaN is no evidence, infinity is capped.
func finite(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case x > 1e12:
		return 1e12
	}
	return x
}
