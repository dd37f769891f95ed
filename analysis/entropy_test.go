package analysis

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestEntropy(t *testing.T) {
	approx(t, "uniform 4 bins", Entropy([]float64{0.1, 0.3, 0.6, 0.9}, 0, 1, 4), 2, 1e-12)
	approx(t, "one bin", Entropy([]float64{0.5, 0.5, 0.5}, 0, 1, 4), 0, 1e-12)
	approx(t, "half/half", Entropy([]float64{0, 0, 1, 1}, 0, 1, 2), 1, 1e-12)
}

func TestEbATFlagsFlappingAndStuckMetrics(t *testing.T) {
	// Metric 0 wanders smoothly in the baseline; in the test it first
	// flaps between its extremes (entropy changes) and then is stuck at
	// one value (entropy falls); every value stays inside the range.
	r := newRand(12)
	n := 2000
	X := mat.NewDense(n, 1, nil)
	v := 0.5
	for i := range n {
		v = math.Min(1, math.Max(0, v+0.02*r.NormFloat64()))
		X.Set(i, 0, v)
	}
	e, err := FitEbAT(X, 20, 8)
	if err != nil {
		t.Fatal(err)
	}
	flap := make([]float64, 20)
	for i := range flap {
		flap[i] = e.Lo[0] + float64(i%8)/7*(e.Hi[0]-e.Lo[0])
	}
	if _, z := e.MetricEntropy(0, flap); z < 3 {
		t.Errorf("flapping metric: entropy z = %.2f, want >= 3", z)
	}
	stuck := make([]float64, 20)
	for i := range stuck {
		stuck[i] = e.Lo[0] + 0.5*(e.Hi[0]-e.Lo[0])
	}
	h, z := e.MetricEntropy(0, stuck)
	if h != 0 || z > -1 {
		t.Errorf("stuck metric: entropy %.2f z %.2f, want 0 and clearly negative", h, z)
	}
	// m-event entropy of a constant matrix is 0; of distinct rows log2(n).
	distinct := mat.NewDense(4, 1, []float64{e.Lo[0], e.Hi[0], e.Lo[0] - 1, e.Hi[0] + 1})
	approx(t, "m-event", e.MEventEntropy(distinct), 2, 1e-12)
}

func TestWindowEntropiesMatchDirect(t *testing.T) {
	r := newRand(14)
	series := make([]float64, 300)
	for i := range series {
		series[i] = r.NormFloat64()
	}
	X := mat.NewDense(300, 1, series)
	e, err := FitEbAT(X, 17, 6)
	if err != nil {
		t.Fatal(err)
	}
	got := e.windowEntropies(nil, 0, series)
	for i := range series {
		h, _ := e.MetricEntropy(0, series[max(0, i-16):i+1])
		approx(t, "entropy", got[i], h, 1e-9)
	}
}
