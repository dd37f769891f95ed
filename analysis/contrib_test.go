package analysis

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestContributionsKnownAnswer(t *testing.T) {
	m, err := FitPCA(knownX, knownConfig)
	if err != nil {
		t.Fatal(err)
	}
	z := m.Standardize(nil, knownTest)
	plain := m.Contributions(nil, z)
	rbc := m.RBC(nil, z)
	rbct2 := m.RBCT2(nil, z)
	sum := 0.0
	for j := range plain {
		approx(t, "plain", plain[j], knownPlain[j], 1e-7)
		approx(t, "rbc", rbc[j], knownRBC[j], 1e-7)
		approx(t, "rbc t2", rbct2[j], knownRBCT2[j], 1e-7)
		sum += plain[j]
	}
	approx(t, "sum of plain contributions = SPE", sum, knownSPE, 1e-9)
	// Here the two disagree on the top metric: plain blames metric 2,
	// RBC metric 3.
	if argmax(plain) != 1 || argmax(rbc) != 2 {
		t.Errorf("top plain %d, top RBC %d", argmax(plain), argmax(rbc))
	}
}

// TestRBCBeatsPlainOnCorrelatedMetrics plants a fault of 10 standard
// deviations in each metric in turn of a correlated system. RBC ranks the
// faulty metric first every time (Alcalá & Qin's guarantee); plain squared
// residuals blame a correlated neighbour for at least one of them.
func TestRBCBeatsPlainOnCorrelatedMetrics(t *testing.T) {
	// Metrics share three factors but differ in how much of their variance
	// the factors explain (noise sd from 0.05 to 1.5), as real metrics do:
	// a highly explained metric has a small residual variance, and its
	// fault leaks into its neighbours' residuals.
	r := newRand(9)
	const n, p, k = 3000, 8, 3
	load := mat.NewDense(p, k, nil)
	noise := make([]float64, p)
	for j := range p {
		noise[j] = 0.05 + 1.45*r.Float64()
		for c := range k {
			load.Set(j, c, r.NormFloat64())
		}
	}
	X := mat.NewDense(n, p, nil)
	for i := range n {
		f := []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
		for j := range p {
			v := noise[j] * r.NormFloat64()
			for c := range k {
				v += load.At(j, c) * f[c]
			}
			X.Set(i, j, v)
		}
	}
	m, err := FitPCA(X, PCAConfig{Components: 3})
	if err != nil {
		t.Fatal(err)
	}
	plainWrong := 0
	for j := range m.P {
		x := slicesClone(m.Mean)
		x[j] += 10 * m.Scale[j]
		z := m.Standardize(nil, x)
		if got := argmax(m.RBC(nil, z)); got != j {
			t.Errorf("fault in metric %d: RBC blames %d", j, got)
		}
		if argmax(m.Contributions(nil, z)) != j {
			plainWrong++
		}
	}
	if plainWrong == 0 {
		t.Error("plain contributions were right for every metric; the case does not show the difference")
	}
	t.Logf("plain contributions blamed the wrong metric for %d of %d faults; RBC for none", plainWrong, m.P)
}

func slicesClone(x []float64) []float64 { return append([]float64(nil), x...) }

func TestRBCUnreconstructable(t *testing.T) {
	// Two identical metrics and one more: with K = 2 a metric can lie
	// entirely in the principal subspace; its RBC must be 0, not NaN.
	m := &PCA{P: 2, K: 1, Loadings: mat.NewDense(2, 1, []float64{1, 0}),
		Eigenvalues: []float64{1}, Mean: []float64{0, 0}, Scale: []float64{1, 1},
		resDiag: []float64{0, 1}}
	rbc := m.RBC(nil, []float64{3, 1})
	if rbc[0] != 0 || math.Abs(rbc[1]-1) > 1e-12 {
		t.Errorf("rbc = %v, want [0 1]", rbc)
	}
}
