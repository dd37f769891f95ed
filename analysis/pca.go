package analysis

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Solver selects how FitPCA decomposes the standardised baseline.
type Solver int

const (
	// SolverAuto picks SolverExact when the smaller dimension of the
	// baseline is at most ExactLimit and SolverRandomized otherwise.
	SolverAuto Solver = iota
	// SolverExact eigendecomposes the p x p covariance (p <= n) or the
	// n x n Gram matrix (n < p, the Gram-matrix trick). Every eigenvalue is
	// known, so the SPE limit uses the exact residual spectrum.
	SolverExact
	// SolverRandomized runs a randomised range finder (Halko, Martinsson &
	// Tropp 2011) on the row space with a sparse sign sketch, then a small
	// SVD. Cost is O(n·p·l) for l = MaxComponents + Oversample.
	SolverRandomized
)

// ExactLimit is the largest min(n, p) for which SolverAuto decomposes exactly.
const ExactLimit = 512

// String returns the solver name used in flags and reports.
func (s Solver) String() string {
	switch s {
	case SolverAuto:
		return "auto"
	case SolverExact:
		return "exact"
	case SolverRandomized:
		return "randomized"
	}
	return fmt.Sprintf("Solver(%d)", int(s))
}

// PCAConfig says how the normal subspace is chosen. The zero value means the
// defaults documented on each field.
type PCAConfig struct {
	// VarianceFraction is the share of baseline variance the normal subspace
	// must explain: k is the smallest count whose eigenvalues reach it.
	// Default 0.90.
	VarianceFraction float64
	// MaxComponents caps k. Operational metrics are driven by a few common
	// factors (load, time of day, batch jobs); with thousands of noisy
	// metrics a variance rule alone would keep hundreds of noise components.
	// Default 20.
	MaxComponents int
	// Components, when positive, fixes k and overrides both rules (still
	// capped so that a residual subspace remains).
	Components int
	// KeepNoise turns off the noise rule. By default a component is kept
	// only if its eigenvalue stands above the Marchenko–Pastur upper edge
	// (1+sqrt(γ))², γ = p/(n-1): the largest eigenvalue that p uncorrelated
	// standardised metrics produce from n rows. Without it, a baseline with
	// many independent noisy metrics has its variance rule satisfied by
	// noise directions, which then hide real faults from the residual.
	KeepNoise bool
	// Solver chooses the decomposition. Default SolverAuto.
	Solver Solver
	// Oversample is the number of extra sketch columns of the randomised
	// solver. Default 10.
	Oversample int
	// PowerIters is the number of subspace (power) iterations of the
	// randomised solver; each costs two passes over the data. Default 0.
	PowerIters int
	// Seed seeds the randomised solver; 0 means 1. Fits are deterministic.
	Seed uint64
}

func (c PCAConfig) withDefaults() PCAConfig {
	if c.VarianceFraction == 0 {
		c.VarianceFraction = 0.90
	}
	if c.MaxComponents == 0 {
		c.MaxComponents = 20
	}
	if c.Oversample == 0 {
		c.Oversample = 10
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

// Validate reports the first out-of-range field.
func (c PCAConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case !(c.VarianceFraction > 0 && c.VarianceFraction <= 1):
		return fmt.Errorf("%w: pca variance fraction %v not in (0, 1]", ErrConfig, c.VarianceFraction)
	case c.MaxComponents < 0:
		return fmt.Errorf("%w: pca max components %d < 0", ErrConfig, c.MaxComponents)
	case c.Components < 0:
		return fmt.Errorf("%w: pca components %d < 0", ErrConfig, c.Components)
	case c.Oversample < 0:
		return fmt.Errorf("%w: pca oversample %d < 0", ErrConfig, c.Oversample)
	case c.PowerIters < 0:
		return fmt.Errorf("%w: pca power iterations %d < 0", ErrConfig, c.PowerIters)
	case c.Solver < SolverAuto || c.Solver > SolverRandomized:
		return fmt.Errorf("%w: pca solver %d", ErrConfig, int(c.Solver))
	}
	return nil
}

// PCA is a normal-subspace model fitted on a baseline matrix (rows are time
// points, columns are metrics). Metrics are standardised with the baseline
// mean and standard deviation; the first K principal directions span the
// normal subspace and the rest is the residual subspace, where SPE lives.
type PCA struct {
	// N and P are the baseline's row and column counts.
	N, P int
	// Mean and Scale standardise a metric: z = (x - Mean) / Scale. Scale is
	// the baseline standard deviation, or for a constant column the median
	// standard deviation of the other columns (1 if all are constant).
	Mean, Scale []float64
	// Constant marks columns that did not vary in the baseline. They carry
	// no variance, so any movement of theirs is residual.
	Constant []bool
	// K is the number of principal components kept.
	K int
	// Loadings holds the K orthonormal principal directions as columns (P x K).
	Loadings *mat.Dense
	// Eigenvalues are the covariance eigenvalues in descending order: all
	// of them from the exact solver, the sketched ones from the randomised.
	Eigenvalues []float64
	// TotalVariance is the trace of the standardised covariance (the count
	// of non-constant columns).
	TotalVariance float64
	// Theta holds θ1, θ2, θ3: the sums of the first three powers of the
	// residual eigenvalues, used by the Jackson–Mudholkar limit. The
	// randomised solver knows the sketched eigenvalues and spreads the rest
	// of the trace evenly over the remaining rank (an approximation).
	Theta [3]float64
	// Exact reports whether every eigenvalue was computed.
	Exact bool
	// ResidualVar is each metric's variance in the residual subspace over
	// the baseline, 1 - Σ_c λ_c·P_jc² (the normal level of its squared
	// residual, and of its RBC times C̃_jj). Constant metrics get 1.
	ResidualVar []float64

	resDiag []float64 // diagonal of I - P·Pᵀ, used by RBC
}

// FitPCA fits the normal-subspace model on the baseline X (n x p, n >= 2).
func FitPCA(X *mat.Dense, cfg PCAConfig) (*PCA, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n, p := X.Dims()
	if n < 2 || p < 1 {
		return nil, fmt.Errorf("%w: baseline is %d x %d, need at least 2 rows and 1 column", ErrEmpty, n, p)
	}
	raw := X.RawMatrix()
	for i := range n {
		if err := checkFinite(raw.Data[i*raw.Stride : i*raw.Stride+p]); err != nil {
			return nil, fmt.Errorf("baseline row %d: %w", i, err)
		}
	}
	m := &PCA{N: n, P: p}
	m.Mean, m.Scale = colMeanStd(raw.Data, n, p, raw.Stride)
	m.Constant = make([]bool, p)
	var stds []float64
	nonConst := 0
	for j, s := range m.Scale {
		if s <= 1e-12*math.Max(1, math.Abs(m.Mean[j])) {
			m.Constant[j] = true
			continue
		}
		nonConst++
		stds = append(stds, s)
	}
	fallback := 1.0
	if len(stds) > 0 {
		fallback = medianInPlace(stds)
	}
	for j := range m.Scale {
		if m.Constant[j] {
			m.Scale[j] = fallback
		}
	}
	m.TotalVariance = float64(nonConst)
	rank := min(n-1, nonConst)

	solver := cfg.Solver
	if solver == SolverAuto {
		solver = SolverExact
		if min(n, p) > ExactLimit {
			solver = SolverRandomized
		}
	}
	var vecs *mat.Dense // P x L candidate directions, descending eigenvalues
	switch {
	case rank < 1:
		m.Eigenvalues = nil
		vecs = mat.NewDense(p, 1, nil)
		m.Exact = true
	case solver == SolverExact:
		vecs = m.fitExact(raw)
		m.Exact = true
	default:
		vecs = m.fitRandomized(raw, cfg, rank)
	}

	m.K = chooseK(m.Eigenvalues, m.TotalVariance, cfg, rank, n)
	if m.K > 0 {
		m.Loadings = mat.DenseCopyOf(vecs.Slice(0, p, 0, m.K))
	} else {
		m.Loadings = mat.NewDense(p, 1, nil) // a zero direction: everything is residual
	}
	m.setTheta(rank)
	m.resDiag = make([]float64, p)
	m.ResidualVar = make([]float64, p)
	for j := range p {
		s, e := 0.0, 0.0
		for c := range m.K {
			v := m.Loadings.At(j, c)
			s += v * v
			e += m.Eigenvalues[c] * v * v
		}
		m.resDiag[j] = math.Max(0, 1-s)
		m.ResidualVar[j] = math.Max(0, 1-e)
		if m.Constant[j] {
			m.ResidualVar[j] = 1
		}
	}
	return m, nil
}

// chooseK applies the component rules to descending eigenvalues: the
// smallest k reaching VarianceFraction, at most the count above the noise
// edge, at most MaxComponents, and leaving a residual.
func chooseK(eig []float64, total float64, cfg PCAConfig, rank, n int) int {
	limit := min(len(eig), rank-1, cfg.MaxComponents)
	if cfg.Components > 0 {
		limit = min(len(eig), rank-1, cfg.Components)
		return max(limit, 0)
	}
	if limit <= 0 || total <= 0 {
		return 0
	}
	if !cfg.KeepNoise {
		limit = min(limit, aboveNoiseEdge(eig, int(total), n))
		if limit <= 0 {
			return 0
		}
	}
	sum := 0.0
	for k := 1; k <= limit; k++ {
		sum += eig[k-1]
		if sum >= cfg.VarianceFraction*total*(1-1e-12) {
			return k
		}
	}
	return limit
}

// aboveNoiseEdge counts the eigenvalues above the Marchenko–Pastur upper
// edge (1+sqrt(p/(n-1)))² of p uncorrelated standardised metrics over n
// rows: components that explain more than uncorrelated metrics can by
// chance. Every standardised metric has variance 1, so its noise variance
// is at most 1 and the edge is conservative. (Re-estimating the noise
// variance from the eigenvalues below the edge, as for homogeneous noise,
// fails here: tightly coupled metrics have tiny residual variance, pull
// the estimate down and let the noise metrics' eigenvalues over the edge.)
func aboveNoiseEdge(eig []float64, p, n int) int {
	if p < 1 || n < 2 {
		return 0
	}
	edge := math.Pow(1+math.Sqrt(float64(p)/float64(n-1)), 2)
	k := 0
	for _, l := range eig {
		if l > edge {
			k++
		}
	}
	return k
}

// setTheta fills Theta from the eigenvalues beyond K. The exact solver
// knows them all. The randomised solver knows θ1 exactly (the trace minus
// the kept eigenvalues) but only the sketched part of the residual
// spectrum, so θ2 and θ3 are the larger of two estimates that each
// undercount: (a) the sketched residual eigenvalues plus the rest of the
// trace spread evenly over the remaining rank; (b) the expected moments of
// a sample covariance with n-1 degrees of freedom (Wishart moments) whose
// population residual is independent across metrics with variances
// s_j = 1 - Σ_c λ_c·P_jc² (the PCA premise that the residual is noise).
// (b) captures the spread a flat sketch misses when metrics are many.
func (m *PCA) setTheta(rank int) {
	var t [3]float64
	known := 0.0
	for i, l := range m.Eigenvalues {
		known += l
		if i < m.K {
			continue
		}
		t[0] += l
		t[1] += l * l
		t[2] += l * l * l
	}
	if m.Exact {
		m.Theta = t
		return
	}
	rest := m.TotalVariance - known
	if r := float64(rank - len(m.Eigenvalues)); rest > 0 && r > 0 {
		e := rest / r
		t[0] += rest
		t[1] += rest * e
		t[2] += rest * e * e
	}
	// (b): Wishart moments of the residual with diagonal population s.
	var s1, s2, s3 float64
	for j := range m.P {
		if m.Constant[j] {
			continue
		}
		s := 1.0
		for c := range m.K {
			v := m.Loadings.At(j, c)
			s -= m.Eigenvalues[c] * v * v
		}
		s = math.Max(s, 0)
		s1 += s
		s2 += s * s
		s3 += s * s * s
	}
	nu := float64(m.N - 1)
	w2 := (1+1/nu)*s2 + s1*s1/nu
	w3 := (1+3/nu+4/(nu*nu))*s3 + 3*(1+1/nu)*s2*s1/nu + s1*s1*s1/(nu*nu)
	t[1] = math.Max(t[1], w2)
	t[2] = math.Max(t[2], w3)
	m.Theta = t
}

// standardized returns the n x p standardised copy of the baseline with
// constant columns set to exactly zero.
func (m *PCA) standardized(raw blas64.General) *mat.Dense {
	n, p := raw.Rows, raw.Cols
	z := make([]float64, n*p)
	inv := make([]float64, p)
	for j := range p {
		if !m.Constant[j] {
			inv[j] = 1 / m.Scale[j]
		}
	}
	parallelRange(n, 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			src := raw.Data[i*raw.Stride : i*raw.Stride+p]
			dst := z[i*p : (i+1)*p]
			for j, v := range src {
				dst[j] = (v - m.Mean[j]) * inv[j]
			}
		}
	})
	return mat.NewDense(n, p, z)
}

// fitExact eigendecomposes the covariance or, when n < p, the Gram matrix.
func (m *PCA) fitExact(raw blas64.General) *mat.Dense {
	n, p := raw.Rows, raw.Cols
	z := m.standardized(raw)
	var eig mat.EigenSym
	if p <= n {
		var c mat.SymDense
		c.SymOuterK(1/float64(n-1), z.T())
		if !eig.Factorize(&c, true) {
			panic("analysis: symmetric eigendecomposition did not converge")
		}
		vals := eig.Values(nil)
		var vecs mat.Dense
		eig.VectorsTo(&vecs)
		order := descending(vals)
		m.Eigenvalues = make([]float64, len(vals))
		out := mat.NewDense(p, p, nil)
		for c, idx := range order {
			m.Eigenvalues[c] = math.Max(0, vals[idx])
			for j := range p {
				out.Set(j, c, vecs.At(j, idx))
			}
		}
		return out
	}
	// Gram-matrix trick: Z·Zᵀ/(n-1) = U·Λ·Uᵀ has the same non-zero
	// eigenvalues as the covariance, and v = Zᵀ·u / sqrt((n-1)·λ).
	var g mat.SymDense
	g.SymOuterK(1/float64(n-1), z)
	if !eig.Factorize(&g, true) {
		panic("analysis: symmetric eigendecomposition did not converge")
	}
	vals := eig.Values(nil)
	var u mat.Dense
	eig.VectorsTo(&u)
	order := descending(vals)
	m.Eigenvalues = make([]float64, 0, len(vals))
	for _, idx := range order {
		m.Eigenvalues = append(m.Eigenvalues, math.Max(0, vals[idx]))
	}
	// Directions only for clearly positive eigenvalues; at most MaxComponents
	// are ever kept, but computing all positive ones is cheap next to the Gram.
	keep := 0
	for _, l := range m.Eigenvalues {
		if l > 1e-10*m.Eigenvalues[0] {
			keep++
		}
	}
	keep = max(keep, 1)
	us := mat.NewDense(n, keep, nil)
	for c := range keep {
		idx := order[c]
		s := 0.0
		if m.Eigenvalues[c] > 0 {
			s = 1 / math.Sqrt(float64(n-1)*m.Eigenvalues[c])
		}
		for i := range n {
			us.Set(i, c, u.At(i, idx)*s)
		}
	}
	var v mat.Dense
	v.Mul(z.T(), us)
	return &v
}

// descending returns the indices of vals ordered by decreasing value.
func descending(vals []float64) []int {
	idx := make([]int, len(vals))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case vals[a] > vals[b]:
			return -1
		case vals[a] < vals[b]:
			return 1
		}
		return 0
	})
	return idx
}

// fitRandomized is the randomised SVD of the standardised baseline
// Z = (X - 1·μᵀ)·D⁻¹, without forming Z: centring and scaling are folded
// into the small factors.
//
//  1. W = Ψ·Z with a sparse sign matrix Ψ (l x n, ζ = min(l, 4) non-zeros
//     per column, Tropp et al. 2019): each baseline row is added to ζ
//     sketch rows, O(n·p·ζ). Orthonormalising W's rows gives a basis Q_r
//     of an approximate row space.
//  2. Y = Z·Q_rᵀ (n x l) and Q_c = orth(Y). Since Y = Z·Zᵀ·Ψᵀ·R⁻¹, this is
//     the column-space sketch after one power iteration, the accuracy that
//     a flat tail of many noisy metrics needs.
//  3. PowerIters more rounds of W = Q_cᵀ·Z, Y = Z·Q_rᵀ.
//  4. B = Q_cᵀ·Z (l x p); its SVD gives the principal directions (right
//     singular vectors) and the eigenvalues σ²/(n-1).
//
// The default costs one sparse pass and two dense passes over the data.
func (m *PCA) fitRandomized(raw blas64.General, cfg PCAConfig, rank int) *mat.Dense {
	n, p := raw.Rows, raw.Cols
	l := min(cfg.MaxComponents+cfg.Oversample, rank)
	if cfg.Components > 0 {
		l = min(cfg.Components+cfg.Oversample, rank)
	}
	l = max(l, 1)
	inv := make([]float64, p)
	for j := range p {
		if !m.Constant[j] {
			inv[j] = 1 / m.Scale[j]
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	w, colsum := sparseSignSketch(raw, l, min(l, 4), rng)
	for c := range l {
		row := w[c*p : (c+1)*p]
		for j := range row {
			row[j] = (row[j] - colsum[c]*m.Mean[j]) * inv[j]
		}
	}
	l = orthonormalizeRows(w, l, p)
	y := make([]float64, n*l)
	for it := 0; ; it++ {
		y = y[:n*l]
		m.zTimesQt(raw, w, l, inv, y)
		orthonormalizeCols(y, n, l)
		m.qtTimesZ(raw, y, l, inv, w) // B = Q_cᵀ·Z, or the next row sketch
		if it == cfg.PowerIters {
			break
		}
		l = orthonormalizeRows(w, l, p)
	}
	// SVD of B (l x p) through its transpose: Bᵀ = U·Σ·Ṽᵀ, and the left
	// singular vectors of Bᵀ are the principal directions.
	bt := mat.NewDense(l, p, w[:l*p]).T()
	var svd mat.SVD
	if !svd.Factorize(bt, mat.SVDThinU) {
		panic("analysis: SVD of the sketch did not converge")
	}
	sv := svd.Values(nil)
	m.Eigenvalues = make([]float64, len(sv))
	for c, s := range sv {
		m.Eigenvalues[c] = s * s / float64(n-1)
	}
	var u mat.Dense
	svd.UTo(&u) // p x l
	return &u
}

// zTimesQt computes y = Z·qᵀ for the standardised baseline without forming
// it: y = X·(D⁻¹qᵀ) - 1·(μᵀD⁻¹qᵀ).
func (m *PCA) zTimesQt(raw blas64.General, q []float64, l int, inv, y []float64) {
	n, p := raw.Rows, raw.Cols
	qs := make([]float64, l*p)
	off := make([]float64, l)
	for c := range l {
		for j := range p {
			v := q[c*p+j] * inv[j]
			qs[c*p+j] = v
			off[c] += m.Mean[j] * v
		}
	}
	mulABt(raw.Data, n, p, raw.Stride, qs, l, y)
	for i := range n {
		row := y[i*l : (i+1)*l]
		for c := range row {
			row[c] -= off[c]
		}
	}
}

// qtTimesZ computes w = yᵀ·Z = (yᵀX - (yᵀ1)·μᵀ)·D⁻¹ (l x p).
func (m *PCA) qtTimesZ(raw blas64.General, y []float64, l int, inv, w []float64) {
	n, p := raw.Rows, raw.Cols
	mulAtB(y, n, l, raw.Data, p, raw.Stride, w)
	for c := range l {
		s := 0.0
		for i := range n {
			s += y[i*l+c]
		}
		row := w[c*p : (c+1)*p]
		for j := range row {
			row[j] = (row[j] - s*m.Mean[j]) * inv[j]
		}
	}
}

// sparseSignSketch returns W = Ψ·X (l x p) and Ψ·1 (l), where Ψ is l x n
// with zeta random ±1 entries in distinct rows of each column.
func sparseSignSketch(raw blas64.General, l, zeta int, rng *rand.Rand) (w, colsum []float64) {
	n, p := raw.Rows, raw.Cols
	idx := make([]int32, n*zeta)
	sign := make([]float64, n*zeta)
	colsum = make([]float64, l)
	perm := make([]int32, l)
	for i := range perm {
		perm[i] = int32(i)
	}
	for i := range n {
		// Partial Fisher–Yates: zeta distinct rows out of l.
		for k := range zeta {
			r := k + rng.IntN(l-k)
			perm[k], perm[r] = perm[r], perm[k]
			idx[i*zeta+k] = perm[k]
			s := 1.0
			if rng.Uint64()&1 == 1 {
				s = -1
			}
			sign[i*zeta+k] = s
			colsum[perm[k]] += s
		}
	}
	w = make([]float64, l*p)
	const jb = 512
	blocks := (p + jb - 1) / jb
	parallelRange(blocks, 1, func(blo, bhi int) {
		for blk := blo; blk < bhi; blk++ {
			j0, j1 := blk*jb, min(p, (blk+1)*jb)
			for i := range n {
				x := raw.Data[i*raw.Stride+j0 : i*raw.Stride+j1]
				for k := range zeta {
					c := int(idx[i*zeta+k])
					dst := w[c*p+j0 : c*p+j1][:len(x)]
					if sign[i*zeta+k] > 0 {
						for j, v := range x {
							dst[j] += v
						}
					} else {
						for j, v := range x {
							dst[j] -= v
						}
					}
				}
			}
		}
	})
	return w, colsum
}

// orthonormalizeRows makes the first l rows of w (each of length p)
// orthonormal with two passes of modified Gram–Schmidt, drops rows that are
// numerically dependent, and returns how many rows remain (packed first).
func orthonormalizeRows(w []float64, l, p int) int {
	out := 0
	for c := range l {
		v := w[c*p : (c+1)*p]
		orig := math.Sqrt(dot(v, v))
		for range 2 {
			for d := range out {
				u := w[d*p : (d+1)*p]
				axpy(-dot(u, v), u, v)
			}
		}
		nrm := math.Sqrt(dot(v, v))
		if orig == 0 || nrm <= 1e-10*orig {
			continue
		}
		dst := w[out*p : (out+1)*p]
		for j := range v {
			dst[j] = v[j] / nrm
		}
		out++
	}
	if out == 0 {
		// Degenerate sketch: fall back to a unit vector so shapes stay valid.
		clear(w[:p])
		w[0] = 1
		out = 1
	}
	return out
}

// orthonormalizeCols orthonormalises the l columns of the row-major n x l
// matrix y in place (two passes of modified Gram–Schmidt); dependent
// columns become zero.
func orthonormalizeCols(y []float64, n, l int) {
	col := make([]float64, n)
	cols := make([][]float64, 0, l)
	for c := range l {
		v := make([]float64, n)
		for i := range n {
			v[i] = y[i*l+c]
		}
		orig := math.Sqrt(dot(v, v))
		for range 2 {
			for _, u := range cols {
				axpy(-dot(u, v), u, v)
			}
		}
		nrm := math.Sqrt(dot(v, v))
		if orig == 0 || nrm <= 1e-10*orig {
			clear(v)
		} else {
			for i := range v {
				v[i] /= nrm
			}
			cols = append(cols, v)
		}
		copy(col, v)
		for i := range n {
			y[i*l+c] = col[i]
		}
	}
}

// dotUnitary is gonum's f64.DotUnitary (the dot product of its Dgemm and
// Ddot) written out in Go with the same order of operations: four running
// sums of lanes i mod 4, the 1-3 trailing products added to the first,
// then (s1+s3) + (s0+s2). The conversions keep each product rounded on
// its own (no fused multiply-add), as SSE2's MULPD and ADDPD do.
func dotUnitary(x, y []float64) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i] * y[i])
		s1 += float64(x[i+1] * y[i+1])
		s2 += float64(x[i+2] * y[i+2])
		s3 += float64(x[i+3] * y[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i] * y[i])
	}
	return (s1 + s3) + (s0 + s2)
}

func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+3 < len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy computes y += a·x.
func axpy(a float64, x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// Standardize writes (x - Mean) / Scale into dst (allocated when nil or
// short) and returns it.
func (m *PCA) Standardize(dst, x []float64) []float64 {
	if cap(dst) < m.P {
		dst = make([]float64, m.P)
	}
	dst = dst[:m.P]
	for j, v := range x[:m.P] {
		dst[j] = (v - m.Mean[j]) / m.Scale[j]
	}
	return dst
}

// Scores returns the principal-component scores t = Pᵀz of a standardised
// vector z (length K).
func (m *PCA) Scores(dst, z []float64) []float64 {
	if cap(dst) < m.K {
		dst = make([]float64, m.K)
	}
	dst = dst[:m.K]
	clear(dst)
	raw := m.Loadings.RawMatrix()
	for j, v := range z[:m.P] {
		if v == 0 {
			continue
		}
		row := raw.Data[j*raw.Stride : j*raw.Stride+m.K]
		for c, l := range row {
			dst[c] += v * l
		}
	}
	return dst
}

// Residual writes the residual r = (I - P·Pᵀ)·z of a standardised vector
// into dst and returns it with the SPE (‖r‖²) and Hotelling's T²
// (Σ t_c²/λ_c over the K kept components).
func (m *PCA) Residual(dst, z []float64) (r []float64, spe, t2 float64) {
	t := m.Scores(nil, z)
	if cap(dst) < m.P {
		dst = make([]float64, m.P)
	}
	r = dst[:m.P]
	copy(r, z[:m.P])
	raw := m.Loadings.RawMatrix()
	for j := range r {
		row := raw.Data[j*raw.Stride : j*raw.Stride+m.K]
		s := 0.0
		for c, l := range row {
			s += l * t[c]
		}
		r[j] -= s
		spe += r[j] * r[j]
	}
	for c, v := range t {
		if m.Eigenvalues[c] > 0 {
			t2 += v * v / m.Eigenvalues[c]
		}
	}
	return r, spe, t2
}

// residuals is ResidualMatrix without its n x p reconstruction matrix:
// the residual z - t·Pᵀ of each cell is taken at once, with the dot
// product gonum's Dgemm computes for that cell of t·Pᵀ (DotUnitary over
// the K components, added to zero, for K up to its block size of 64;
// dotUnitary here), so R is the same to the bit. Rows are standardised and reconstructed in
// parallel, each by one goroutine.
func (m *PCA) residuals(X *mat.Dense) (R *mat.Dense, spe, t2 []float64, err error) {
	n, p := X.Dims()
	if p != m.P || m.K == 0 || m.K > 64 {
		return m.ResidualMatrix(X)
	}
	raw := X.RawMatrix()
	for i := range n {
		if err := checkFinite(raw.Data[i*raw.Stride : i*raw.Stride+p]); err != nil {
			return nil, nil, nil, fmt.Errorf("row %d: %w", i, err)
		}
	}
	z := mat.NewDense(n, p, nil)
	zr := z.RawMatrix()
	parallelRange(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			m.Standardize(zr.Data[i*p:(i+1)*p], raw.Data[i*raw.Stride:i*raw.Stride+p])
		}
	})
	var t mat.Dense
	t.Mul(z, m.Loadings) // n x K
	tr := t.RawMatrix()
	lr := m.Loadings.RawMatrix()
	k := m.K
	spe = make([]float64, n)
	t2 = make([]float64, n)
	parallelRange(n, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ti := tr.Data[i*tr.Stride : i*tr.Stride+k]
			r := zr.Data[i*p : (i+1)*p]
			for j := range r {
				rec := 0.0
				rec += dotUnitary(ti, lr.Data[j*lr.Stride:j*lr.Stride+k])
				r[j] -= rec
			}
			spe[i] = dot(r, r)
			for c := range k {
				if m.Eigenvalues[c] > 0 {
					v := ti[c]
					t2[i] += v * v / m.Eigenvalues[c]
				}
			}
		}
	})
	return z, spe, t2, nil
}

// ResidualMatrix standardises every row of X (rows x P) and returns the
// residual matrix R (rows x P) with the SPE and T² of each row. It is the
// batch form of Standardize + Residual, using matrix products.
func (m *PCA) ResidualMatrix(X *mat.Dense) (R *mat.Dense, spe, t2 []float64, err error) {
	n, p := X.Dims()
	if p != m.P {
		return nil, nil, nil, fmt.Errorf("%w: matrix has %d columns, model %d", ErrShape, p, m.P)
	}
	raw := X.RawMatrix()
	z := mat.NewDense(n, p, nil)
	zr := z.RawMatrix()
	for i := range n {
		src := raw.Data[i*raw.Stride : i*raw.Stride+p]
		if err := checkFinite(src); err != nil {
			return nil, nil, nil, fmt.Errorf("row %d: %w", i, err)
		}
		m.Standardize(zr.Data[i*p:(i+1)*p], src)
	}
	spe = make([]float64, n)
	t2 = make([]float64, n)
	if m.K == 0 {
		for i := range n {
			spe[i] = dot(zr.Data[i*p:(i+1)*p], zr.Data[i*p:(i+1)*p])
		}
		return z, spe, t2, nil
	}
	var t mat.Dense
	t.Mul(z, m.Loadings) // n x K
	var rec mat.Dense
	rec.Mul(&t, m.Loadings.T())
	z.Sub(z, &rec)
	for i := range n {
		r := zr.Data[i*p : (i+1)*p]
		spe[i] = dot(r, r)
		for c := range m.K {
			if m.Eigenvalues[c] > 0 {
				v := t.At(i, c)
				t2[i] += v * v / m.Eigenvalues[c]
			}
		}
	}
	return z, spe, t2, nil
}
