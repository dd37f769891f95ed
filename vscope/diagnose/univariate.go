package diagnose

import (
	"math"
	"sync"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/vscope/vscope/analysis"
	"github.com/vscope/vscope/vscope/store"
)

// zview computes each metric's robust z-score over the window at two time
// scales. The point scale is (x - median) / scale against the baseline.
// The level scale is the mean of the last w point z-scores, each clipped
// to ±clipZ (so one outlier moves it by at most clipZ/w), measured against
// the spread of the same mean over the baseline. A sustained shift that
// is small next to a metric's point-to-point noise shows at the level
// scale: the throughput of a bursty flow sampled every 250 ms is 0 or
// several thousand from one point to the next, and its fall from 1,000 to
// 20 events/s is plain only in its mean. A level shift counts from one
// normal spread (one unit of the point scale) up. A metric's z at a row is
// whichever of the two is larger in magnitude.
type zview struct {
	raw        blas64.General // the window
	n, w       int
	med, scale []float64 // point scale
	// level scale: the baseline's tail (the w-1 points before the
	// window, for the window's first means) and the median and spread of
	// the baseline's means; levelScale 0 means no level scale.
	tail                 [][]float64 // per column, clipped z of the last w-1 baseline points
	levelMed, levelScale []float64
	clipZ                float64
	// levelGain maps a level z onto the point scale's threshold: a
	// rolling mean stays past a threshold for many rows once it crosses
	// it, so the "sustained" rule does not guard it against chance; its
	// threshold is instead corrected for the (rows / w) x metrics
	// independent means of the window (Šidák at alpha).
	levelGain float64
	// failOn marks failure counts that stayed at one value through the
	// baseline (no failures): they are flagged once they leave it in two
	// rows or more of the window, however far apart (a client retrying
	// a dead server every few seconds).
	failOn []bool
}

// levelFloor is the least spread of a level mean: that of the mean of w
// independent unit-variance points.
func levelFloor(w int) float64 { return 1 / math.Sqrt(float64(w)) }

func newZView(W, B *mat.Dense, base *analysis.Baseline, series []store.Series, th, alpha float64, w int) *zview {
	n, p := W.Dims()
	v := &zview{raw: W.RawMatrix(), n: n, w: w, med: base.Median, scale: make([]float64, p), clipZ: 2 * th}
	trials := max(1, n/max(w, 1)) * max(p, 1)
	v.levelGain = th / math.Max(th, distuv.UnitNormal.Quantile(1-sidak(alpha, trials)/2))
	v.failOn = make([]bool, p)
	for j := range p {
		s := base.Scale[j]
		if !base.Constant[j] {
			s = floorScale(series[j].Metric, base.Median[j], s)
		}
		v.scale[j] = s
		v.failOn[j] = base.Constant[j] && metricKind(series[j]) == mkFailure
	}
	if B == nil || w < 2 {
		return v
	}
	nb, _ := B.Dims()
	if nb < 2*w {
		return v
	}
	v.tail = make([][]float64, p)
	v.levelMed, v.levelScale = make([]float64, p), make([]float64, p)
	braw := B.RawMatrix()
	var wg sync.WaitGroup
	const workers = 2
	for g := range workers {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			c := make([]float64, nb)
			means := make([]float64, 0, nb)
			for j := g; j < p; j += workers {
				for i := range nb {
					c[i] = v.clip((braw.Data[i*braw.Stride+j] - v.med[j]) / v.scale[j])
				}
				means = means[:0]
				sum := 0.0
				for i := range nb {
					sum += c[i]
					if i >= w {
						sum -= c[i-w]
					}
					if i >= w-1 {
						means = append(means, sum/float64(w))
					}
				}
				med, mad := analysis.MedianMAD(means) // means is never empty: nb >= 2w
				v.levelMed[j] = med
				v.levelScale[j] = math.Max(1.4826*mad, levelFloor(w))
				v.tail[j] = append([]float64(nil), c[nb-(w-1):]...)
			}
		}(g)
	}
	wg.Wait()
	return v
}

// normalTail reports whether the baseline's last points before the window
// sat within one normal spread of its median, on average, on the side of
// sign: a step at the window's first row, not a drift (the end of a
// steady climb through the baseline sits above one spread) or a change
// older than the window. False when the tail is not known.
func (v *zview) normalTail(j int, sign float64) bool {
	if v.tail == nil || len(v.tail[j]) == 0 {
		return false
	}
	sum := 0.0
	for _, c := range v.tail[j] {
		sum += sign * c
	}
	return sum/float64(len(v.tail[j])) < 1
}

// excursion finds the peak of z, its side, and whether z passed th on
// that side in need of some w consecutive rows (up and dn, of length
// len(z)+1, are scratch for the counts). When the larger peak is a brief
// spike and the other side is sustained (a rate at zero for minutes, with
// a burst as it catches up), the sustained side's peak is the excursion.
func excursion(z []float64, th float64, w, need int, up, dn []int) (peak int, sign float64, sustained bool) {
	n := len(z)
	hi, lo := 0, 0
	for i := range n {
		if z[i] > z[hi] {
			hi = i
		}
		if z[i] < z[lo] {
			lo = i
		}
		up[i+1], dn[i+1] = up[i], dn[i]
		if z[i] >= th {
			up[i+1]++
		} else if z[i] <= -th {
			dn[i+1]++
		}
	}
	if n == 0 {
		return 0, 1, false
	}
	held := func(count []int) bool {
		for i := 0; i+need <= n; i++ {
			if count[min(i+w, n)]-count[i] >= need {
				return true
			}
		}
		return false
	}
	type side struct {
		peak  int
		sign  float64
		count []int
	}
	first, second := side{hi, 1, up}, side{lo, -1, dn}
	if math.Abs(z[lo]) > math.Abs(z[hi]) {
		first, second = second, first
	}
	if math.Abs(z[first.peak]) < th {
		return first.peak, first.sign, false
	}
	if held(first.count) {
		return first.peak, first.sign, true
	}
	if math.Abs(z[second.peak]) >= th && held(second.count) {
		return second.peak, second.sign, true
	}
	return first.peak, first.sign, false
}

// departures counts the window's rows where column j is off its
// baseline median, and gives the first of them (-1: none).
func (v *zview) departures(j int) (first, count int) {
	first = -1
	for i := range v.n {
		if x := v.raw.Data[i*v.raw.Stride+j]; !math.IsNaN(x) && x != v.med[j] {
			if first < 0 {
				first = i
			}
			count++
		}
	}
	return first, count
}

func (v *zview) clip(z float64) float64 { return max(-v.clipZ, min(v.clipZ, z)) }

// column writes column j's z-scores into out (length n).
func (v *zview) column(j int, out []float64) {
	n, raw := v.n, v.raw
	for i := range n {
		out[i] = (raw.Data[i*raw.Stride+j] - v.med[j]) / v.scale[j]
	}
	if v.tail == nil {
		return
	}
	tail, w := v.tail[j], v.w
	sum := 0.0
	for _, c := range tail {
		sum += c
	}
	ring := make([]float64, w) // clipped point z of the last w rows
	for i := range n {
		c := v.clip(out[i])
		ring[i%w] = c
		sum += c // now the sum of rows i-w+1 .. i
		// A level shift counts once it is at least one normal spread of
		// the metric (the point scale, itself floored by minScale): a
		// steadier shift is significant but not worth attention.
		d := sum/float64(w) - v.levelMed[j]
		lz := 0.0
		if math.Abs(d) >= 1 {
			lz = d / v.levelScale[j] * v.levelGain
		}
		if r := i - (w - 1); r < 0 {
			sum -= tail[len(tail)+r]
		} else {
			sum -= ring[r%w]
		}
		if math.Abs(lz) > math.Abs(out[i]) {
			out[i] = lz
		}
	}
}

// univariatePass finds, for every metric, its peak z (zview) and whether
// it left its normal range for a sustained time: |z| past th, same sign,
// for at least half of some w consecutive rows. Noise does not do that:
// for Gaussian noise the chance that 6 of 12 consecutive rows pass 3σ is
// about 1e-12. For those metrics it finds the onset (see onsetOf). With
// peers (peerGroups), z is first discounted by what the metric's peers
// share (peers.go); nil peers: no discount.
func (sc *scored) univariatePass(v *zview, th float64, w int, peers map[int][]int) {
	n, p := v.n, len(v.scale)
	need := min((w+1)/2, max(1, (n+1)/2))
	var common map[int][]float32
	if len(peers) > 0 {
		candidate := make([]bool, p)
		z := make([]float64, n)
		for j := range peers {
			v.column(j, z)
			for i := range n {
				if math.Abs(z[i]) >= th {
					candidate[j] = true
					break
				}
			}
		}
		common = peerCommon(n, peers, candidate, v)
	}
	var wg sync.WaitGroup
	const workers = 2
	for g := range workers {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			z := make([]float64, n)
			y := make([]float64, n)
			up := make([]int, n+1) // prefix counts of z >= th
			dn := make([]int, n+1) // prefix counts of z <= -th
			for j := g; j < p; j += workers {
				m := &sc.metrics[j]
				c := common[j]
				v.column(j, z)
				rawPeak := 0.0
				for i := range n {
					rawPeak = math.Max(rawPeak, math.Abs(z[i]))
					if c != nil {
						z[i] = discount(z[i], float64(c[i]))
					}
				}
				peak, sign, sustained := excursion(z, th, w, need, up, dn)
				m.peakRow, m.z, m.onset, m.flagged, m.early, m.peerShare, m.shared = peak, z[peak], -1, false, false, 0, false
				if c != nil && rawPeak > 0 {
					m.peerShare = 1 - math.Abs(z[peak])/rawPeak
				}
				// onset dates the excursion to peak. One from the first
				// row began before the window, unless the baseline's last
				// points were normal: then it began as the window did (a
				// window opened at a fault's start) and is as much a
				// change inside it as any.
				onset := func(peak int, sign float64) {
					m.onset, _ = onsetOf(z, y, sign, peak, th, w)
					m.early = m.onset == 0 && !v.normalTail(j, sign)
				}
				first, departed := -1, 0
				if v.failOn[j] {
					first, departed = v.departures(j)
				}
				switch {
				case sustained:
					m.flagged = true
					onset(peak, sign)
				case departed >= 2:
					m.flagged, m.onset = true, first
				case c != nil && rawPeak >= th:
					// Flagged but for its peers' share: keep what it did
					// undiscounted, as shared.
					v.column(j, z)
					if pk, sg, ok := excursion(z, th, w, need, up, dn); ok {
						m.shared, m.peakRow, m.z = true, pk, z[pk]
						onset(pk, sg)
					}
				}
			}
		}(g)
	}
	wg.Wait()
}

// peerPass is univariatePass with the peer discount, falling back to none
// when the discount leaves nothing flagged (a cause shared by every peer:
// see peers.go). B is the baseline for the level scale (nil: none).
func (sc *scored) peerPass(W, B *mat.Dense, base *analysis.Baseline, series []store.Series, th, alpha float64, w int) {
	v := newZView(W, B, base, series, th, alpha, w)
	peers := sc.peers
	sc.univariatePass(v, th, w, peers)
	if len(peers) == 0 {
		return
	}
	for _, m := range sc.metrics {
		if m.flagged {
			return
		}
	}
	sc.univariatePass(v, th, w, nil)
	for _, m := range sc.metrics {
		if m.flagged {
			sc.notes = append(sc.notes, "every change in the window is shared by the peers of the metrics that changed (the same metric on other hosts): a cause common to them all; peers not discounted")
			return
		}
	}
}
