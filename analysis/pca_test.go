package analysis

import (
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// knownX is the small hand-checkable baseline of the known-answer tests
// (12 rows x 4 metrics, the first three strongly related).
var knownX = mat.NewDense(12, 4, []float64{
	1.0, 2.0, 0.5, 3.0,
	1.2, 2.5, 0.4, 3.1,
	0.9, 1.8, 0.7, 2.7,
	1.5, 3.1, 0.2, 3.6,
	1.1, 2.2, 0.6, 2.9,
	0.8, 1.5, 0.9, 2.6,
	1.3, 2.7, 0.3, 3.3,
	1.0, 2.1, 0.5, 3.0,
	1.4, 2.9, 0.1, 3.5,
	0.7, 1.4, 1.0, 2.4,
	1.2, 2.3, 0.6, 3.2,
	1.1, 2.4, 0.4, 2.8,
})

// knownTest is the observation scored in the known-answer tests.
var knownTest = []float64{1.0, 2.6, 0.9, 2.5}

// The expected numbers below were computed independently with numpy 1.24 and
// scipy 1.10 (Debian python3-numpy, python3-scipy):
//
//	mu = X.mean(0); sd = X.std(0, ddof=1); Z = (X - mu) / sd
//	w, V = np.linalg.eigh(Z.T @ Z / (n - 1)); sorted descending; P = V[:, :2]
//	theta_i = sum(w[2:] ** i)
//	h0 = 1 - 2*t1*t3/(3*t2**2); c = stats.norm.ppf(1 - a)
//	Q = t1*(c*sqrt(2*t2*h0**2)/t1 + 1 + t2*h0*(h0-1)/t1**2)**(1/h0)
//	T2lim = k*(n-1)*(n+1)/(n*(n-k)) * stats.f.ppf(1 - a, k, n - k)
//	z = (x - mu)/sd; Ct = I - P P^T; r = Ct z; plain = r**2; rbc = r**2/diag(Ct)
//	D = P diag(1/w[:2]) P^T; rbc_t2 = (D z)**2 / diag(D)
var (
	knownEig    = []float64{3.83192270e+00, 1.10019798e-01, 5.54668263e-02, 2.59068040e-03}
	knownTheta  = [3]float64{0.058057506732706106, 0.0030832804481090007, 0.00017066489628292633}
	knownJM05   = 0.21211091208773447
	knownJM01   = 0.37449056982974466
	knownT2L05  = 9.778390086060789
	knownT2L01  = 18.016646642155827
	knownSPE    = 3.104263035888019
	knownT2     = 0.43117282645766836
	knownPlain  = []float64{0.04897764, 1.78416573, 0.63682703, 0.63429264}
	knownRBC    = []float64{0.0731148, 2.45726624, 3.10163435, 1.59078383}
	knownRBCT2  = []float64{0.02047302, 0.16010647, 0.01639787, 0.00132707}
	knownConfig = PCAConfig{Components: 2, Solver: SolverExact}
)

func TestPCAKnownAnswer(t *testing.T) {
	m, err := FitPCA(knownX, knownConfig)
	if err != nil {
		t.Fatal(err)
	}
	if m.K != 2 || !m.Exact {
		t.Fatalf("K = %d exact = %v, want 2 exact", m.K, m.Exact)
	}
	for i, want := range knownEig {
		approx(t, "eigenvalue", m.Eigenvalues[i], want, 1e-8)
	}
	for i, want := range knownTheta {
		approx(t, "theta", m.Theta[i], want, 1e-10)
	}
	approx(t, "TotalVariance", m.TotalVariance, 4, 1e-12)
	z := m.Standardize(nil, knownTest)
	_, spe, t2 := m.Residual(nil, z)
	approx(t, "SPE", spe, knownSPE, 1e-10)
	approx(t, "T2", t2, knownT2, 1e-10)

	// The batch path agrees with the vector path.
	_, spes, t2s, err := m.ResidualMatrix(mat.NewDense(1, 4, knownTest))
	if err != nil {
		t.Fatal(err)
	}
	approx(t, "batch SPE", spes[0], knownSPE, 1e-10)
	approx(t, "batch T2", t2s[0], knownT2, 1e-10)
}

func TestPCAGramMatchesCovariance(t *testing.T) {
	// n < p takes the Gram-matrix path; its transpose problem the
	// covariance path. Both must give the same spectrum and subspace.
	r := newRand(3)
	X, _ := factorData(r, 40, 90, 3, 0.5)
	gram, err := FitPCA(X, PCAConfig{Components: 3, Solver: SolverExact})
	if err != nil {
		t.Fatal(err)
	}
	// Reference: covariance eigendecomposition of the same standardised data.
	z := gram.standardized(X.RawMatrix())
	var c mat.SymDense
	c.SymOuterK(1/39.0, z.T())
	var eig mat.EigenSym
	if !eig.Factorize(&c, true) {
		t.Fatal("eigen failed")
	}
	vals := eig.Values(nil)
	order := descending(vals)
	for i := range 10 {
		approx(t, "eigenvalue", gram.Eigenvalues[i], vals[order[i]], 1e-8)
	}
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	ref := mat.NewDense(90, 3, nil)
	for c := range 3 {
		for j := range 90 {
			ref.Set(j, c, vecs.At(j, order[c]))
		}
	}
	if d := subspaceDistance(gram.Loadings, ref); d > 1e-8 {
		t.Errorf("Gram and covariance subspaces differ by %g", d)
	}
	t1 := 0.0
	for _, v := range vals[:len(vals)-3] { // all but the three largest
		t1 += math.Max(v, 0)
	}
	approx(t, "theta1", gram.Theta[0], t1, 1e-8)
}

// subspaceDistance returns ‖A·Aᵀ - B·Bᵀ‖_F for orthonormal column sets.
func subspaceDistance(a, b *mat.Dense) float64 {
	var pa, pb mat.Dense
	pa.Mul(a, a.T())
	pb.Mul(b, b.T())
	pa.Sub(&pa, &pb)
	return mat.Norm(&pa, 2)
}

func TestPCARandomizedMatchesExact(t *testing.T) {
	r := newRand(4)
	X, _ := factorData(r, 500, 300, 5, 1)
	exact, err := FitPCA(X, PCAConfig{Components: 5, Solver: SolverExact})
	if err != nil {
		t.Fatal(err)
	}
	for _, iters := range []int{0, 1} {
		rnd, err := FitPCA(X, PCAConfig{Components: 5, Solver: SolverRandomized, PowerIters: iters})
		if err != nil {
			t.Fatal(err)
		}
		if rnd.Exact || rnd.K != 5 {
			t.Fatalf("randomized: exact=%v K=%d", rnd.Exact, rnd.K)
		}
		for i := range 5 {
			approx(t, "eigenvalue", rnd.Eigenvalues[i], exact.Eigenvalues[i], 0.02)
		}
		if d := subspaceDistance(rnd.Loadings, exact.Loadings); d > 0.1 {
			t.Errorf("power iterations %d: subspace distance %.3f", iters, d)
		}
		approx(t, "theta1", rnd.Theta[0], exact.Theta[0], 0.01)
		approx(t, "SPE limit", rnd.SPELimit(0.01), exact.SPELimit(0.01), 0.05)
	}
}

func TestPCAComponentRule(t *testing.T) {
	r := newRand(5)
	X, _ := factorData(r, 500, 30, 3, 0.2)
	m, err := FitPCA(X, PCAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// Three strong factors explain well over 90%: the rule keeps 3 or fewer.
	if m.K < 1 || m.K > 3 {
		t.Errorf("K = %d, want 1..3", m.K)
	}
	sum := 0.0
	for _, v := range m.Eigenvalues[:m.K] {
		sum += v
	}
	if sum < 0.9*m.TotalVariance {
		t.Errorf("kept variance %.3f < 90%% of %.3f", sum, m.TotalVariance)
	}
	capped, _ := FitPCA(X, PCAConfig{VarianceFraction: 1, MaxComponents: 4, KeepNoise: true})
	if capped.K != 4 {
		t.Errorf("capped K = %d, want 4", capped.K)
	}
	// Asking for all the variance, the noise edge still stops at the three
	// real factors.
	if all, _ := FitPCA(X, PCAConfig{VarianceFraction: 1}); all.K != 3 {
		t.Errorf("noise-edge K = %d, want 3", all.K)
	}
	// 12 correlated metrics in two groups among 28 noise metrics: two
	// components stand above the noise (a third may, since the AR(1) noise
	// has fewer effective rows than the edge assumes), while 90% of the
	// variance would take 20.
	sys, _ := FitPCA(plantSystem(newRand(5), 0, 2880, nil), PCAConfig{})
	keep, _ := FitPCA(plantSystem(newRand(5), 0, 2880, nil), PCAConfig{KeepNoise: true})
	if sys.K < 2 || sys.K > 3 || keep.K != 20 {
		t.Errorf("planted system: K = %d (want 2-3), without the noise rule %d (want 20)", sys.K, keep.K)
	}
}

func TestPCAConstantColumns(t *testing.T) {
	r := newRand(6)
	X, _ := factorData(r, 200, 6, 2, 0.3)
	for i := range 200 {
		X.Set(i, 2, 7.5) // a constant metric
	}
	m, err := FitPCA(X, PCAConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Constant[2] || m.Scale[2] <= 0 || m.TotalVariance != 5 {
		t.Fatalf("constant=%v scale=%v total=%v", m.Constant[2], m.Scale[2], m.TotalVariance)
	}
	if m.resDiag[2] < 1-1e-9 {
		t.Errorf("constant metric has weight %g in the principal subspace", 1-m.resDiag[2])
	}
	// A constant metric that moves is pure residual and tops the RBC.
	x := mat.Row(nil, 0, X)
	x[2] = 7.5 + 5*m.Scale[2]
	rbc := m.RBC(nil, m.Standardize(nil, x))
	if argmax(rbc) != 2 {
		t.Errorf("RBC %v: constant metric that moved is not first", rbc)
	}
}

func TestPCADeterministic(t *testing.T) {
	r := newRand(7)
	X, _ := factorData(r, 700, 600, 4, 1)
	a, _ := FitPCA(X, PCAConfig{Solver: SolverRandomized, MaxComponents: 4, VarianceFraction: 1})
	b, _ := FitPCA(X, PCAConfig{Solver: SolverRandomized, MaxComponents: 4, VarianceFraction: 1})
	if !mat.Equal(a.Loadings, b.Loadings) || a.Theta != b.Theta {
		t.Error("two fits of the same data differ")
	}
}

func TestPCAErrors(t *testing.T) {
	if _, err := FitPCA(mat.NewDense(1, 3, nil), PCAConfig{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("one row: err = %v, want ErrEmpty", err)
	}
	bad := mat.NewDense(3, 2, []float64{1, 2, math.NaN(), 4, 5, 6})
	if _, err := FitPCA(bad, PCAConfig{}); !errors.Is(err, ErrNotFinite) {
		t.Errorf("NaN: err = %v, want ErrNotFinite", err)
	}
	if _, err := FitPCA(knownX, PCAConfig{VarianceFraction: 1.5}); !errors.Is(err, ErrConfig) {
		t.Errorf("fraction 1.5: err = %v, want ErrConfig", err)
	}
	m, _ := FitPCA(knownX, knownConfig)
	if _, _, _, err := m.ResidualMatrix(mat.NewDense(2, 3, nil)); !errors.Is(err, ErrShape) {
		t.Errorf("3 columns: err = %v, want ErrShape", err)
	}
}
