package analysis

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"
)

// Config configures Fit and Diagnose. The zero value means the defaults
// documented on each field; they were chosen on principle, not tuned to a
// data set (see docs/bench/asd-eval.md).
type Config struct {
	// PCA chooses the normal subspace.
	PCA PCAConfig
	// Alpha is the significance of the SPE and T² control limits; a row is
	// anomalous when either statistic exceeds its limit. Default 0.01.
	Alpha float64
	// Window is the local time scale in rows: the EWMA span, the
	// persistence of the ranking (a metric keeps the strongest evidence it
	// showed over the last Window rows, because a fault's symptoms come
	// and go within an episode) and the EbAT entropy window. Default 12.
	Window int
	// ZThreshold is the level, in robust standard deviations, at which a
	// z-like signal is reported as evidence. Default 3.
	ZThreshold float64
	// TukeyK is the multiple of the IQR of the Tukey fences. Default 3
	// ("far out").
	TukeyK float64
	// EntropyBins is the number of EbAT bins. Default 8.
	EntropyBins int
	// OnsetLookback is how many rows before a ranked row the change-point
	// search looks at. Default 4·Window.
	OnsetLookback int
	// MinResidualScale is the smallest normal residual level, as a share
	// of the metric's baseline standard deviation, against which a
	// residual is measured: a break smaller than a tenth of a metric's
	// normal spread is not worth an operator's attention however well the
	// other metrics predict it. Default 0.1.
	MinResidualScale float64
	// SpreadRBC ranks with sqrt(RBC) in units of the metric's baseline
	// spread instead of its normal residual level (an ablation: it misses
	// correlation breaks inside the normal range when many noisy metrics
	// are present, see TestPlantedCorrelationBreak).
	SpreadRBC bool
}

func (c Config) withDefaults() Config {
	c.PCA = c.PCA.withDefaults()
	if c.Alpha == 0 {
		c.Alpha = 0.01
	}
	if c.Window == 0 {
		c.Window = 12
	}
	if c.ZThreshold == 0 {
		c.ZThreshold = 3
	}
	if c.TukeyK == 0 {
		c.TukeyK = 3
	}
	if c.EntropyBins == 0 {
		c.EntropyBins = 8
	}
	if c.OnsetLookback == 0 {
		c.OnsetLookback = 4 * c.Window
	}
	if c.MinResidualScale == 0 {
		c.MinResidualScale = 0.1
	}
	return c
}

// Validate reports the first out-of-range field.
func (c Config) Validate() error {
	if err := c.PCA.Validate(); err != nil {
		return err
	}
	c = c.withDefaults()
	switch {
	case !(c.Alpha > 0 && c.Alpha < 1):
		return fmt.Errorf("%w: alpha %v not in (0, 1)", ErrConfig, c.Alpha)
	case c.Window < 1:
		return fmt.Errorf("%w: window %d < 1", ErrConfig, c.Window)
	case !(c.ZThreshold > 0):
		return fmt.Errorf("%w: z threshold %v <= 0", ErrConfig, c.ZThreshold)
	case !(c.TukeyK > 0):
		return fmt.Errorf("%w: tukey k %v <= 0", ErrConfig, c.TukeyK)
	case c.EntropyBins < 1:
		return fmt.Errorf("%w: entropy bins %d < 1", ErrConfig, c.EntropyBins)
	case c.OnsetLookback < 2:
		return fmt.Errorf("%w: onset lookback %d < 2", ErrConfig, c.OnsetLookback)
	case !(c.MinResidualScale > 0):
		return fmt.Errorf("%w: min residual scale %v <= 0", ErrConfig, c.MinResidualScale)
	}
	return nil
}

// Model is everything learnt from a baseline: the PCA normal subspace with
// its limits and the univariate statistics of every metric.
type Model struct {
	// Config is the configuration with defaults filled in.
	Config Config
	// PCA is the normal-subspace model.
	PCA *PCA
	// Base holds the robust per-metric statistics.
	Base *Baseline
	// EbAT holds the per-metric entropy model.
	EbAT *EbAT
	// SPELimit and T2Limit are the control limits at Config.Alpha.
	SPELimit, T2Limit float64
	// MaxResidualLimit is the limit of the largest per-metric residual
	// signal: the Gaussian (1 - α'/2) quantile with α' = 1 - (1-α)^(1/p).
	MaxResidualLimit float64

	resScale     []float64  // normal residual std per metric (standardised units)
	lower, upper []float64  // Tukey fences
	ewma0        []float64  // EWMA level at the end of the baseline
	tail         *mat.Dense // the last Window-1 baseline rows, for entropy windows
}

// Fit learns a Model from the baseline matrix (rows are time points,
// columns metrics).
func Fit(baseline *mat.Dense, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n, p := baseline.Dims()
	eb, err := newEbAT(p, max(cfg.Window, 2), cfg.EntropyBins)
	if err != nil {
		return nil, err
	}
	// The robust statistics, EbAT and the EWMA level in one pass over the
	// columns, while the PCA is fitted: each is parallel, and the one
	// fills the CPUs where the other runs serial parts (the small SVD).
	ew := NewEWMA(cfg.Window)
	ew.Level = make([]float64, p)
	var base *Baseline
	var errU error
	done := make(chan struct{})
	go func() {
		defer close(done)
		base, errU = fitUnivariate(baseline, eb, ew)
	}()
	pca, err := FitPCA(baseline, cfg.PCA)
	<-done
	if err != nil {
		return nil, err
	}
	if errU != nil {
		return nil, errU
	}
	m := &Model{
		Config:   cfg,
		PCA:      pca,
		Base:     base,
		EbAT:     eb,
		SPELimit: pca.SPELimit(cfg.Alpha),
		T2Limit:  pca.T2Limit(cfg.Alpha),
	}
	m.lower, m.upper = base.TukeyFences(cfg.TukeyK)
	sidak := -math.Expm1(math.Log1p(-cfg.Alpha) / float64(p))
	m.MaxResidualLimit = distuv.UnitNormal.Quantile(1 - sidak/2)
	// The residual signal of metric j is sqrt(RBC_j / E[RBC_j]) over the
	// baseline, which is |r_j| / sqrt(ResidualVar_j): the residual in units
	// of its own normal level, so that a metric the others predict tightly
	// counts a small break as a large one (a correlation break inside the
	// normal range). The normal level is floored at MinResidualScale of the
	// metric's baseline spread: near-duplicate metrics (per-core CPU,
	// replicated counters) predict each other almost exactly, and without
	// the floor their rounding noise would outrank real faults.
	m.resScale = make([]float64, p)
	for j := range p {
		m.resScale[j] = math.Max(math.Sqrt(pca.ResidualVar[j]), cfg.MinResidualScale)
	}
	m.ewma0 = ew.Level
	t := min(n, max(cfg.Window-1, 1))
	m.tail = mat.DenseCopyOf(baseline.Slice(n-t, n, 0, p))
	return m, nil
}

// Evidence is the set of detectors that fired for a metric at a time point.
type Evidence uint8

// The detectors behind Evidence.
const (
	// EvidenceZ: the robust z-score against the baseline passed ZThreshold.
	EvidenceZ Evidence = 1 << iota
	// EvidenceEWMA: the jump from the metric's recent EWMA passed ZThreshold.
	EvidenceEWMA
	// EvidenceRBC: the reconstruction-based contribution to the SPE passed
	// ZThreshold² (the metric broke its correlation with the others).
	EvidenceRBC
	// EvidenceTukey: the value lies outside the Tukey fences.
	EvidenceTukey
	// EvidenceEntropy: the EbAT entropy of the trailing window moved by
	// more than ZThreshold baseline standard deviations.
	EvidenceEntropy
	// EvidenceChange: a mean shift was found in the lookback; see Onset.
	EvidenceChange
)

var evidenceNames = []string{"z", "ewma", "rbc", "tukey", "entropy", "change"}

// String lists the detectors that fired, comma-separated ("-" for none).
func (e Evidence) String() string {
	var parts []string
	for i, name := range evidenceNames {
		if e&(1<<i) != 0 {
			parts = append(parts, name)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// MetricScore explains one metric's place in a ranking.
type MetricScore struct {
	// Metric is the 0-based column index.
	Metric int
	// Score is the ranking key: the largest fused score the metric reached
	// over the trailing Window rows.
	Score float64
	// Now is the fused score at this row: |Z| + EWMA + RBC, each in units
	// of the metric's own normal variation.
	Now float64
	// Z is the signed robust z-score against the baseline.
	Z float64
	// EWMA is the jump from the metric's EWMA, in robust scale units.
	EWMA float64
	// RBC is the square root of the reconstruction-based contribution to
	// the SPE relative to its normal (baseline) level: 1 is typical,
	// 3 is a residual three times its normal size.
	RBC float64
	// Entropy is the EbAT entropy deviation (baseline standard deviations).
	Entropy float64
	// Onset is the row where the metric's mean shifted (a change point in
	// the lookback before this row), or -1 if none was found.
	Onset int
	// Evidence is the set of detectors that fired at this row.
	Evidence Evidence
}

// Diagnosis is the result of scoring a window (rows are time points) with a
// Model: per-row anomaly statistics and, per row, a ranking of metrics.
type Diagnosis struct {
	// Rows and Metrics are the window's dimensions.
	Rows, Metrics int
	// SPE and T2 are the statistics of each row; SPELimit and T2Limit
	// their control limits.
	SPE, T2           []float64
	SPELimit, T2Limit float64
	// MaxResidual is each row's largest residual signal (the RBC of the
	// worst metric relative to its normal level, in standard deviations)
	// and MaxResidualLimit its Šidák-corrected Gaussian limit at Alpha over
	// all metrics. The SPE sums the residual of every metric, so with
	// thousands of noisy metrics a large break in one tightly predicted
	// metric barely moves it; this test catches that sparse case.
	MaxResidual      []float64
	MaxResidualLimit float64
	// Score is each row's anomaly score, the largest of SPE/SPELimit,
	// T2/T2Limit and MaxResidual/MaxResidualLimit; above 1 is anomalous.
	Score []float64
	// Anomalous marks rows whose Score exceeds 1.
	Anomalous []bool

	model *Model
	x     *mat.Dense
	// Per row x metric signals, row-major, float32 to halve the memory of
	// wide windows: signed robust z, EWMA jump, sqrt(RBC), persisted fused.
	z, ew, rbc, persist []float32
}

// Diagnose scores every row of X (rows x the model's metrics). X is kept
// by reference for the evidence of Ranking and must not change afterwards.
func (m *Model) Diagnose(X *mat.Dense) (*Diagnosis, error) {
	n, p := X.Dims()
	if n < 1 {
		return nil, fmt.Errorf("%w: window has no rows", ErrEmpty)
	}
	if p != m.PCA.P {
		return nil, fmt.Errorf("%w: window has %d metrics, model %d", ErrShape, p, m.PCA.P)
	}
	R, spe, t2, err := m.PCA.residuals(X)
	if err != nil {
		return nil, err
	}
	d := &Diagnosis{
		Rows: n, Metrics: p,
		SPE: spe, T2: t2, SPELimit: m.SPELimit, T2Limit: m.T2Limit,
		MaxResidual:      make([]float64, n),
		MaxResidualLimit: m.MaxResidualLimit,
		Score:            make([]float64, n),
		Anomalous:        make([]bool, n),
		model:            m,
		x:                X,
		z:                make([]float32, n*p),
		ew:               make([]float32, n*p),
		rbc:              make([]float32, n*p),
		persist:          make([]float32, n*p),
	}
	m.signals(d, X, R)
	for i := range n {
		s := d.MaxResidual[i] / m.MaxResidualLimit
		if m.SPELimit > 0 {
			s = math.Max(s, spe[i]/m.SPELimit)
		} else if spe[i] > 1e-12 {
			s = math.Inf(1)
		}
		if !math.IsInf(m.T2Limit, 1) && m.T2Limit > 0 {
			s = math.Max(s, t2[i]/m.T2Limit)
		}
		d.Score[i] = s
		d.Anomalous[i] = s > 1
	}
	return d, nil
}

// signalBlock is the number of columns signals handles at a time: the
// block's rows of fused scores and sliding maxima stay in cache.
const signalBlock = 128

// signals fills the per-cell signals of d (z, EWMA jump, sqrt(RBC), the
// persisted fused score) and each row's largest residual, from the window
// X and its residuals R. Columns are independent (the EWMA runs down each
// column), so they are split over the CPUs in fixed ranges; the per-row
// maxima of the ranges are combined with max, which is exact in any order.
func (m *Model) signals(d *Diagnosis, X, R *mat.Dense) {
	n, p := X.Dims()
	raw, rr := X.RawMatrix(), R.RawMatrix()
	alpha := NewEWMA(m.Config.Window).Alpha
	w := m.Config.Window
	var mu sync.Mutex
	parallelRange(p, signalBlock, func(lo, hi int) {
		maxRes := make([]float64, n)
		fused := make([]float32, n*signalBlock)
		back := make([]float32, n*signalBlock)
		level := make([]float64, signalBlock)
		for j0 := lo; j0 < hi; j0 += signalBlock {
			q := min(signalBlock, hi-j0)
			lv := level[:q]
			if m.ewma0 != nil {
				copy(lv, m.ewma0[j0:j0+q])
			}
			median, scale := m.Base.Median[j0:j0+q], m.Base.Scale[j0:j0+q]
			resScale, resDiag := m.resScale[j0:j0+q], m.PCA.resDiag[j0:j0+q]
			for i := range n {
				x := raw.Data[i*raw.Stride+j0 : i*raw.Stride+j0+q]
				r := rr.Data[i*rr.Stride+j0 : i*rr.Stride+j0+q][:q]
				off := i*p + j0
				zs, es, cs := d.z[off:off+q], d.ew[off:off+q], d.rbc[off:off+q]
				fs := fused[i*q : (i+1)*q]
				mr := maxRes[i]
				first := i == 0 && m.ewma0 == nil
				if first {
					copy(lv, x) // as EWMA.Update: the first value starts the level
				}
				for k, v := range x {
					// EWMA.Update: the deviation from the previous level.
					dev := v - lv[k]
					lv[k] += alpha * (v - lv[k])
					if first {
						dev = 0
					}
					z := (v - median[k]) / scale[k]
					e := math.Abs(dev) / scale[k]
					res := math.Abs(r[k]) / resScale[k]
					c := res
					if m.Config.SpreadRBC {
						c = 0
						if dd := resDiag[k]; dd > 1e-10 {
							c = math.Abs(r[k]) / math.Sqrt(dd)
						}
					}
					zs[k] = float32(z)
					es[k] = float32(e)
					cs[k] = float32(c)
					fs[k] = float32(math.Abs(z) + e + c)
					mr = max(mr, res)
				}
				maxRes[i] = mr
			}
			slidingMax(d.persist[j0:], p, fused[:n*q], back[:n*q], n, q, w)
		}
		mu.Lock()
		for i, v := range maxRes {
			d.MaxResidual[i] = max(d.MaxResidual[i], v)
		}
		mu.Unlock()
	})
}

// slidingMax writes into dst (row stride stride) the maximum of each
// column of the row-major n x q src over the trailing w rows (fewer at
// the start), with van Herk and Gil-Werman's blocks: a running maximum
// forward within each block of w rows, one backward (in back), and one
// max of the two per value. Maxima are exact, so this is the plain scan.
func slidingMax(dst []float32, stride int, src, back []float32, n, q, w int) {
	for i := range n {
		out := dst[i*stride : i*stride+q]
		in := src[i*q : (i+1)*q]
		if i%w == 0 {
			copy(out, in)
			continue
		}
		prev := dst[(i-1)*stride : (i-1)*stride+q][:q]
		for k, v := range in {
			out[k] = max(prev[k], v)
		}
	}
	if w <= 1 {
		return
	}
	for i := n - 1; i >= 0; i-- {
		out := back[i*q : (i+1)*q]
		in := src[i*q : (i+1)*q]
		if i%w == w-1 || i == n-1 {
			copy(out, in)
			continue
		}
		next := back[(i+1)*q : (i+2)*q][:q]
		for k, v := range in {
			out[k] = max(next[k], v)
		}
	}
	for i := w; i < n; i++ {
		a := i - w + 1
		if a%w == 0 {
			continue // the window is one whole block
		}
		out := dst[i*stride : i*stride+q]
		b := back[a*q : (a+1)*q][:q]
		for k, v := range b {
			out[k] = max(out[k], v)
		}
	}
}

// Order writes the metrics of row i, most responsible first, into dst
// (grown as needed) and returns it. Ties are broken by the fused score at
// the row, then by column index, so the order is deterministic.
func (d *Diagnosis) Order(i int, dst []int) []int {
	p := d.Metrics
	dst = slices.Grow(dst[:0], p)[:p]
	for j := range dst {
		dst[j] = j
	}
	d.sortMetrics(i, dst)
	return dst
}

// sortMetrics sorts the metrics js by their order at row i: the persisted
// score, then the fused score at the row, then the column. The order is
// total, so any sort gives the one result.
func (d *Diagnosis) sortMetrics(i int, js []int) {
	off := i * d.Metrics
	key := d.persist[off : off+d.Metrics]
	type item struct {
		j   int
		now float64 // the fused score at the row
	}
	items := make([]item, len(js))
	for x, j := range js {
		items[x] = item{j, math.Abs(float64(d.z[off+j])) + float64(d.ew[off+j]) + float64(d.rbc[off+j])}
	}
	slices.SortFunc(items, func(a, b item) int {
		switch {
		case key[a.j] > key[b.j]:
			return -1
		case key[a.j] < key[b.j]:
			return 1
		case a.now > b.now:
			return -1
		case a.now < b.now:
			return 1
		}
		return a.j - b.j
	})
	for x, it := range items {
		js[x] = it.j
	}
}

// top returns the n metrics first in row i's order, in that order: the
// metrics whose persisted score reaches the n-th largest are the only
// candidates, and only they are sorted.
func (d *Diagnosis) top(i, n int) []int {
	p := d.Metrics
	if n <= 0 || n >= p {
		return d.Order(i, nil)
	}
	key := d.persist[i*p : (i+1)*p]
	th := selectK(slices.Clone(key), p-n) // the n-th largest
	cand := make([]int, 0, n)
	for j, k := range key {
		if k >= th {
			cand = append(cand, j)
		}
	}
	d.sortMetrics(i, cand)
	return cand[:n]
}

// Ranking returns the top n metrics of row i (all when n <= 0) with their
// scores and evidence.
func (d *Diagnosis) Ranking(i, n int) []MetricScore {
	order := d.top(i, n)
	out := make([]MetricScore, len(order))
	for k, j := range order {
		out[k] = d.explain(i, j)
	}
	return out
}

// explain gathers the scores and evidence of metric j at row i.
func (d *Diagnosis) explain(i, j int) MetricScore {
	m := d.model
	cfg := m.Config
	off := i*d.Metrics + j
	s := MetricScore{
		Metric: j,
		Score:  float64(d.persist[off]),
		Z:      float64(d.z[off]),
		EWMA:   float64(d.ew[off]),
		RBC:    float64(d.rbc[off]),
		Onset:  -1,
	}
	s.Now = math.Abs(s.Z) + s.EWMA + s.RBC
	th := cfg.ZThreshold
	if math.Abs(s.Z) >= th {
		s.Evidence |= EvidenceZ
	}
	if s.EWMA >= th {
		s.Evidence |= EvidenceEWMA
	}
	if s.RBC >= th {
		s.Evidence |= EvidenceRBC
	}
	x := d.x.At(i, j)
	if x < m.lower[j] || x > m.upper[j] {
		s.Evidence |= EvidenceTukey
	}
	// Entropy over the trailing window, reaching back into the baseline.
	w := m.EbAT.Window
	win := make([]float64, 0, w)
	tn, _ := m.tail.Dims()
	for k := i - w + 1; k <= i; k++ {
		switch {
		case k >= 0:
			win = append(win, d.x.At(k, j))
		case tn+k >= 0:
			win = append(win, m.tail.At(tn+k, j))
		}
	}
	_, s.Entropy = m.EbAT.MetricEntropy(j, win)
	if math.Abs(s.Entropy) >= th {
		s.Evidence |= EvidenceEntropy
	}
	// Onset: the change point of the metric's fused score (in units of
	// normal variation, so sigma 1) over the lookback. The split statistic
	// is the maximum over the lookback of a standard normal under no
	// change, so it must clear ZThreshold + 1 to count.
	lo := max(0, i-cfg.OnsetLookback+1)
	if i-lo >= 1 {
		series := make([]float64, 0, i-lo+1)
		for k := lo; k <= i; k++ {
			o := k*d.Metrics + j
			series = append(series, math.Abs(float64(d.z[o]))+float64(d.ew[o])+float64(d.rbc[o]))
		}
		if tau, stat := MeanShift(series, 1); stat >= th+1 {
			s.Onset = lo + tau
			s.Evidence |= EvidenceChange
		}
	}
	return s
}
