package analysis

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// newRand returns a deterministic generator for a test.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 42)) }

// factorData returns n rows of p metrics driven by k latent Gaussian
// factors with the given loadings scale, plus independent noise of sd noise.
func factorData(r *rand.Rand, n, p, k int, noise float64) (*mat.Dense, *mat.Dense) {
	load := mat.NewDense(p, k, nil)
	for j := range p {
		for c := range k {
			load.Set(j, c, r.NormFloat64())
		}
	}
	return factorRows(r, n, load, noise), load
}

func factorRows(r *rand.Rand, n int, load *mat.Dense, noise float64) *mat.Dense {
	p, k := load.Dims()
	x := mat.NewDense(n, p, nil)
	f := make([]float64, k)
	for i := range n {
		for c := range f {
			f[c] = r.NormFloat64()
		}
		for j := range p {
			v := noise * r.NormFloat64()
			for c := range k {
				v += load.At(j, c) * f[c]
			}
			x.Set(i, j, v)
		}
	}
	return x
}

func approx(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.12g, want %.12g (tol %g)", name, got, want, tol)
	}
}

// argmax returns the index of the largest value (first on ties).
func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
