package diagnose

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/vscope/vscope/analysis"
	"github.com/vscope/vscope/vscope/store"
)

// metricInfo is what the scoring learnt about one series (column).
type metricInfo struct {
	col int
	// score is the analysis' fused score at the metric's strongest
	// (persisted over Window rows); for metrics outside the analysis'
	// top candidates, the robust |z| at the peak (a lower bound of it).
	score    float64
	fused    bool
	evidence analysis.Evidence
	// z is the robust z-score at peakRow, the row of the largest |z|.
	z       float64
	peakRow int
	// onset is the first row of a sustained excursion (-1: none); flagged
	// says the metric left its normal range for a sustained time.
	onset   int
	flagged bool
	// missing: the metric stopped reporting (a gap longer than MaxGap
	// from onset; to the window's end when stopped). early: it differed
	// from the baseline already at the window's start.
	missing, stopped, early bool
	// peerShare is the part of the metric's peak deviation its peers
	// shared (0: none, or no peers; see peers.go). shared: not flagged
	// only because of that share (z and onset are then the undiscounted
	// ones): it moved, with its peers.
	peerShare float64
	shared    bool
	// baseline is the raw baseline median; factor converts a transformed
	// deviation back to raw units (raw = median + (x - median)·factor).
	baseline, factor float64
}

// scored is the outcome of scoring the window.
type scored struct {
	mode                    string
	rowScore, spe, t2, maxr []float64
	anomalous, strict       []bool
	metrics                 []metricInfo
	// inWindow: some metric changed inside the window (flagged, not
	// early).
	inWindow bool
	info     BaselineInfo
	timing   map[string]float64 // fit, score, rank: wall and CPU ms
	// peers maps a column to its peer group (peers.go).
	peers map[int][]int
	notes []string
}

// unitScale is the scale against which a metric that was constant in the
// baseline is measured, from the unit its name implies: a departure of one
// unit is a one-sigma event. Without it the analysis would measure it
// against the median spread of all other metrics, whose units (bytes,
// events/s, percent) have nothing to do with it.
func unitScale(metric string, level float64) float64 {
	var u float64
	switch unitOf(metric) {
	case unitPercent:
		u = 1 // one percentage point
	case unitSeconds:
		u = 0.001 // one millisecond
	case unitBytes, unitByteRate:
		u = 1 << 20
	case unitShare:
		u = 0.02 // 2 % of a CPU
	default:
		u = 1 // one event, one event/s, one thread, ...
	}
	return math.Max(u, 0.05*math.Abs(level))
}

// minScale is the smallest normal spread a varying metric is measured
// against: a change smaller than this is not worth an operator's attention
// however steady the metric was (a put latency of 15 µs going to 60 µs on
// a loaded machine, half a percentage point of CPU, 64 KiB of memory).
func minScale(metric string) float64 {
	switch unitOf(metric) {
	case unitPercent:
		return 0.5
	case unitSeconds:
		return 1e-4
	case unitBytes, unitByteRate:
		return 64 << 10
	case unitShare:
		// /proc counts CPU time in 10 ms ticks: over a 250 ms sample one
		// tick is 0.04 of a CPU, and a process that idles moves by ticks.
		return 0.02
	}
	return 0
}

// floorScale is the normal spread s of a varying metric at its level
// med, floored by its unit (minScale) and by 1 % of its level: a rate
// that polled at a steady 188 batches/s in the baseline, sampled to a
// hair, moves by whole counts per sample, and a change of a hundredth of
// a level is not worth attention however steady the level was.
func floorScale(metric string, med, s float64) float64 {
	return max(s, minScale(metric), 0.01*math.Abs(med))
}

const (
	unitOther = iota
	unitPercent
	unitSeconds
	unitBytes
	unitShare    // seconds per second: a share of a CPU, of the time
	unitByteRate // bytes per second
)

func unitOf(metric string) int {
	m := strings.ToLower(metric)
	switch {
	case strings.Contains(m, "percent"):
		return unitPercent
	case strings.Contains(m, "seconds_per_second"):
		return unitShare
	case strings.Contains(m, "bytes_per_second"):
		return unitByteRate
	case strings.Contains(m, "per_second") || strings.HasSuffix(m, "rate"):
		return unitOther
	case strings.HasSuffix(m, "_seconds") || strings.Contains(m, "duration") || strings.Contains(m, "latency"):
		return unitSeconds
	case strings.Contains(m, "bytes"):
		return unitBytes
	}
	return unitOther
}

// transformScales rescales, in place, the window deviations of the
// metrics constant in the baseline, which the analysis measures against a
// fallback (base.Scale[j], the median spread of all the other metrics,
// whose units have nothing to do with this one), so that they are
// measured against unitScale instead. It fills factor and baseline of
// metrics. (Metrics steadier than minScale are not rescaled: shrinking
// them toward the median would offset them in the PCA, which centres on
// the mean; the floor applies to the robust z-scores of univariatePass.)
func transformScales(W *mat.Dense, base *analysis.Baseline, series []store.Series, metrics []metricInfo) {
	n, p := W.Dims()
	raw := W.RawMatrix()
	for j := range p {
		metrics[j].baseline = base.Median[j]
		metrics[j].factor = 1
		if !base.Constant[j] {
			continue
		}
		c := base.Median[j]
		f := base.Scale[j] / unitScale(series[j].Metric, c)
		metrics[j].factor = 1 / f
		for i := range n {
			v := &raw.Data[i*raw.Stride+j]
			*v = c + (*v-c)*f
		}
	}
}

// score fits the model and scores the window.
func score(pr *prepared, o Options) (*scored, error) {
	n, p := pr.W.Dims()
	cfg := o.Analysis
	cfgD := withAnalysisDefaults(cfg)
	sc := &scored{metrics: make([]metricInfo, p), timing: map[string]float64{}, peers: peerGroups(pr.series)}
	for j := range sc.metrics {
		sc.metrics[j].col = j
	}
	nb := 0
	if pr.B != nil {
		nb, _ = pr.B.Dims()
	}
	sc.info.UsedRows = nb
	sc.info.Alpha = cfgD.Alpha
	if nb >= o.MinBaselineRows {
		t0, c0 := time.Now(), cpuTime()
		model, err := analysis.Fit(pr.B, cfg)
		sc.timing["fit"], sc.timing["fit_cpu"] = ms(time.Since(t0)), ms(cpuTime()-c0)
		if err == nil {
			sc.mode = "pca"
			if err := sc.scorePCA(pr, model, o, n, p); err != nil {
				return nil, err
			}
			sc.flagGaps(pr, n)
			sc.finish()
			return sc, nil
		}
		if !errors.Is(err, analysis.ErrEmpty) && !errors.Is(err, analysis.ErrShape) && !errors.Is(err, analysis.ErrNotFinite) {
			return nil, err
		}
		sc.notes = append(sc.notes, fmt.Sprintf("the multivariate model could not be fitted (%v): univariate guidance only", err))
	} else {
		switch {
		case nb == 0:
			sc.notes = append(sc.notes, "no baseline points: univariate guidance only, each metric against its own window (robust z-scores; a change lasting more than half the window is missed)")
		default:
			sc.notes = append(sc.notes, fmt.Sprintf("the baseline has %d points, fewer than the %d the multivariate model needs: univariate guidance only (robust z-scores per metric against the baseline)", nb, o.MinBaselineRows))
		}
	}
	sc.mode = "univariate"
	if err := sc.scoreUnivariate(pr, o, n, p); err != nil {
		return nil, err
	}
	sc.flagGaps(pr, n)
	sc.finish()
	return sc, nil
}

func (sc *scored) finish() {
	for _, m := range sc.metrics {
		if m.flagged && !m.early {
			sc.inWindow = true
		}
	}
}

// flagGaps flags the metrics that stopped reporting inside the window: a
// gap longer than MaxGap is a change of its own (an agent that hung or
// died, a sink that completes no batch), with its start as the onset. A
// gap that most of the metric's peers on other hosts had at the same time
// (peers.go) is not: the whole machine, or the way to the store, stalled.
func (sc *scored) flagGaps(pr *prepared, n int) {
	shared := 0
	for j, gs := range pr.gaps {
		g := gs[0]
		if g.from == 0 && (pr.bFinite == nil || pr.bFinite[j] == 0) {
			// Reported late, with nothing before to compare with (a
			// series that reported in the baseline and went missing as
			// the window began has stopped, for a while or for good).
			if len(gs) == 1 {
				continue
			}
			g = gs[1]
		}
		if peersGapped(pr.gaps, sc.peers[j], j, g) {
			shared++
			continue
		}
		m := &sc.metrics[j]
		m.missing, m.stopped = true, gs[len(gs)-1].to == n
		if !m.flagged || m.onset < 0 || g.from < m.onset || m.early {
			m.flagged, m.onset, m.early = true, g.from, false
			m.evidence |= analysis.EvidenceChange
		}
	}
	if shared > 0 {
		sc.notes = append(sc.notes, fmt.Sprintf("%d series stopped reporting for a while together with their peers on other hosts (a stall of the machine or of the way to the store, not of one component): not counted as changes", shared))
	}
}

// peersGapped reports whether more than half of column j's peers have a
// gap overlapping g.
func peersGapped(gaps map[int][]gap, members []int, j int, g gap) bool {
	others, hit := 0, 0
	for _, k := range members {
		if k == j {
			continue
		}
		others++
		for _, h := range gaps[k] {
			if h.from < g.to && g.from < h.to {
				hit++
				break
			}
		}
	}
	return others > 0 && 2*hit > others
}

func withAnalysisDefaults(c analysis.Config) analysis.Config {
	if c.Alpha == 0 {
		c.Alpha = 0.01
	}
	if c.Window == 0 {
		c.Window = 12
	}
	if c.ZThreshold == 0 {
		c.ZThreshold = 3
	}
	return c
}

func (sc *scored) scorePCA(pr *prepared, model *analysis.Model, o Options, n, p int) error {
	cfg := model.Config
	transformScales(pr.W, model.Base, pr.series, sc.metrics)
	t0, c0 := time.Now(), cpuTime()
	d, err := model.Diagnose(pr.W)
	if err != nil {
		return err
	}
	sc.timing["score"], sc.timing["score_cpu"] = ms(time.Since(t0)), ms(cpuTime()-c0)
	t0, c0 = time.Now(), cpuTime()
	defer func() { sc.timing["rank"], sc.timing["rank_cpu"] = ms(time.Since(t0)), ms(cpuTime()-c0) }()
	sc.info.Mode = "pca"
	sc.info.Components = model.PCA.K
	sc.info.SPELimit = finite(model.SPELimit)
	sc.info.T2Limit = finite(model.T2Limit)
	sc.info.MaxResidualLimit = finite(model.MaxResidualLimit)
	sc.rowScore, sc.spe, sc.t2, sc.maxr, sc.anomalous = d.Score, d.SPE, d.T2, d.MaxResidual, d.Anomalous

	// The same limits at a significance corrected for the n rows (Šidák):
	// one row past these is anomalous on its own.
	aRow := sidak(cfg.Alpha, n)
	speL, t2L := model.PCA.SPELimit(aRow), model.PCA.T2Limit(aRow)
	mrL := distuv.UnitNormal.Quantile(1 - sidak(aRow, p)/2)
	sc.strict = make([]bool, n)
	for i := range n {
		sc.strict[i] = d.MaxResidual[i] > mrL || (speL > 0 && d.SPE[i] > speL) ||
			(!math.IsInf(t2L, 1) && t2L > 0 && d.T2[i] > t2L)
	}

	// The window's ranking: persisted scores cover Window rows, so the
	// rankings at rows Window-1, 2·Window-1, ... and the last row see every
	// row's fused score; the union of their top K holds the window's top K.
	k := min(p, max(4*o.Top, 100))
	best := make([]analysis.MetricScore, p)
	have := make([]bool, p)
	rows := sampleRows(n, cfg.Window)
	for _, i := range rows {
		for _, ms := range d.Ranking(i, k) {
			if !have[ms.Metric] || ms.Score > best[ms.Metric].Score {
				best[ms.Metric], have[ms.Metric] = ms, true
			}
		}
	}
	sc.peerPass(pr.W, pr.B, model.Base, pr.series, cfg.ZThreshold, cfg.Alpha, sustainRows(cfg.Window, o.Step))
	for j := range sc.metrics {
		m := &sc.metrics[j]
		m.score = math.Abs(m.z)
		if have[j] {
			// The fused score less the share of the change the metric's
			// peers had too.
			ms := best[j]
			// The fused score measures against the baseline's own
			// spread; a metric steadier than its unit's floor (minScale)
			// is measured against the floor, as its z is.
			fused := ms.Score * (1 - m.peerShare)
			if s := model.Base.Scale[j]; !model.Base.Constant[j] && s > 0 {
				fused *= s / floorScale(pr.series[j].Metric, model.Base.Median[j], s)
			}
			m.score, m.fused, m.evidence = math.Max(fused, m.score), true, ms.Evidence
		}
		if m.onset >= 0 {
			m.evidence |= analysis.EvidenceChange
		}
		if math.Abs(m.z) >= cfg.ZThreshold {
			m.evidence |= analysis.EvidenceZ
		}
	}
	return nil
}

// sampleRows returns the rows Window-1, 2·Window-1, ... and the last.
func sampleRows(n, w int) []int {
	var rows []int
	for i := w - 1; i < n-1; i += w {
		rows = append(rows, i)
	}
	return append(rows, n-1)
}

func sidak(alpha float64, k int) float64 {
	if k <= 1 {
		return alpha
	}
	return -math.Expm1(math.Log1p(-alpha) / float64(k))
}

func finite(v float64) float64 {
	switch {
	case math.IsNaN(v):
		return 0
	case math.IsInf(v, 1):
		return math.MaxFloat64
	case math.IsInf(v, -1):
		return -math.MaxFloat64
	}
	return v
}

// sustainRows is the span, in points, over which a metric must stay past
// its threshold half of the time to be flagged: the analysis Window, and
// at least 5 seconds, so that at a fine step a sub-second stall of a
// loaded machine is not taken for a change.
func sustainRows(window int, step time.Duration) int {
	if step <= 0 {
		return window
	}
	return max(window, int((5*time.Second+step-1)/step))
}

// onsetOf dates the change that led to the peak of z (sign is the peak's
// sign; y is scratch space). It splits the excursion y = log(1 + sign·z),
// from the first row to a little after the peak, into the two segments
// whose means differ most (analysis.MeanShift): the logarithm makes a ramp
// rise like a step, so a channel that fills slowly is dated where it
// starts, and a large change is dated where it happened even when a small
// deviation preceded it. The split counts when the second segment stands
// clearly above the first (statistic >= 4 in units of the compressed
// noise); otherwise, when the metric was already past th at the window's
// first rows, it differed before the window: onset 0 and early. Else the
// onset is the first row of the sustained excursion, traced back while
// past th/2 (at most w rows).
func onsetOf(z, y []float64, sign float64, peak int, th float64, w int) (onset int, early bool) {
	n := len(z)
	end := min(n, peak+w)
	for i := range end {
		y[i] = math.Log1p(math.Max(0, sign*z[i]))
	}
	if tau, stat := analysis.MeanShift(y[:end], 0.5); tau > 0 && stat >= 4 {
		before, after := 0.0, 0.0
		for i := range tau {
			before += y[i]
		}
		for i := tau; i < end; i++ {
			after += y[i]
		}
		before /= float64(tau)
		after /= float64(end - tau)
		if after > before+math.Log(2) && after >= math.Log1p(th) {
			// The split falls at the first row of the new level or just
			// after it on a ramp's first rows: step back over rows that
			// already passed th.
			t := tau
			for k := 0; k < w && t > 0 && sign*z[t-1] >= th; k++ {
				t--
			}
			return t, t == 0
		}
	}
	head := 0
	for i := range min(w, n) {
		if sign*z[i] >= th {
			head++
		}
	}
	if head*2 >= min(w, n) {
		return 0, true
	}
	for i := range n {
		if sign*z[i] < th {
			continue
		}
		t := i
		for k := 0; k < w && t > 0 && sign*z[t-1] >= th/2; k++ {
			t--
		}
		return t, false
	}
	return -1, false
}

func (sc *scored) scoreUnivariate(pr *prepared, o Options, n, p int) error {
	cfg := withAnalysisDefaults(o.Analysis)
	sc.info.Mode = "univariate"
	var base *analysis.Baseline
	nb := 0
	if pr.B != nil {
		nb, _ = pr.B.Dims()
	}
	if nb >= o.MinBaselineRows {
		var err error
		if base, err = analysis.FitBaseline(pr.B); err != nil {
			return err
		}
	} else {
		base = windowBaseline(pr.W, pr.B, pr.bFinite, cfg.Window)
	}
	transformScales(pr.W, base, pr.series, sc.metrics)
	var B *mat.Dense
	if nb >= o.MinBaselineRows {
		B = pr.B
	}
	sc.peerPass(pr.W, B, base, pr.series, cfg.ZThreshold, cfg.Alpha, sustainRows(cfg.Window, o.Step))
	lower, upper := base.TukeyFences(3)
	raw := pr.W.RawMatrix()
	for j := range sc.metrics {
		m := &sc.metrics[j]
		m.score = math.Abs(m.z)
		if m.score >= cfg.ZThreshold {
			m.evidence |= analysis.EvidenceZ
		}
		if v := raw.Data[m.peakRow*raw.Stride+j]; v < lower[j] || v > upper[j] {
			m.evidence |= analysis.EvidenceTukey
		}
		if m.onset >= 0 {
			m.evidence |= analysis.EvidenceChange
		}
	}
	// Rows: the largest |z| against its Šidák limit over the metrics.
	lim := distuv.UnitNormal.Quantile(1 - sidak(cfg.Alpha, p)/2)
	strict := distuv.UnitNormal.Quantile(1 - sidak(sidak(cfg.Alpha, n), p)/2)
	sc.info.MaxResidualLimit = lim
	sc.rowScore = make([]float64, n)
	sc.maxr = make([]float64, n)
	sc.spe = make([]float64, n)
	sc.t2 = make([]float64, n)
	sc.anomalous = make([]bool, n)
	sc.strict = make([]bool, n)
	for i := range n {
		mx := 0.0
		for j := range p {
			mx = math.Max(mx, math.Abs(raw.Data[i*raw.Stride+j]-base.Median[j])/base.Scale[j])
		}
		sc.maxr[i] = mx
		sc.rowScore[i] = mx / lim
		sc.anomalous[i] = mx > lim
		sc.strict[i] = mx > strict
	}
	return nil
}

// windowBaseline is the reference when the baseline is too short for the
// model: a metric's location is the median of its baseline points (of the
// window's first w points when it has none), its scale the robust spread
// of the window's first differences, which a level shift inside the window
// hardly moves (1.4826·MAD(Δx)/√2 is σ for white noise).
func windowBaseline(W, B *mat.Dense, bFinite []int, w int) *analysis.Baseline {
	n, p := W.Dims()
	b := &analysis.Baseline{Median: make([]float64, p), Scale: make([]float64, p), Q1: make([]float64, p),
		Q3: make([]float64, p), Resolution: make([]float64, p), Constant: make([]bool, p)}
	nb := 0
	if B != nil {
		nb, _ = B.Dims()
	}
	var scales []float64
	loc := make([]float64, 0, max(nb, w))
	diff := make([]float64, 0, n)
	for j := range p {
		loc = loc[:0]
		if nb > 0 && j < len(bFinite) && bFinite[j] > 0 {
			for i := range nb {
				loc = append(loc, B.At(i, j))
			}
		} else {
			for i := range min(w, n) {
				loc = append(loc, W.At(i, j))
			}
		}
		b.Median[j] = analysis.Median(loc)
		diff = diff[:0]
		for i := 1; i < n; i++ {
			diff = append(diff, W.At(i, j)-W.At(i-1, j))
		}
		s := 0.0
		if len(diff) > 0 {
			s = 1.4826 * analysis.MAD(diff) / math.Sqrt2
			if s == 0 {
				sum := 0.0
				for _, d := range diff {
					sum += math.Abs(d)
				}
				s = 1.2533 * sum / float64(len(diff)) / math.Sqrt2
			}
		}
		if s == 0 {
			b.Constant[j] = true
			continue
		}
		b.Scale[j] = s
		scales = append(scales, s)
	}
	fallback := 1.0
	if len(scales) > 0 {
		fallback = analysis.Median(scales)
	}
	for j := range p {
		if b.Constant[j] {
			b.Scale[j] = fallback
		}
		b.Q1[j] = b.Median[j] - 0.6745*b.Scale[j]
		b.Q3[j] = b.Median[j] + 0.6745*b.Scale[j]
	}
	return b
}
