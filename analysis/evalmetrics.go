package analysis

import (
	"math"
	"slices"
)

// Ranking evaluation. A ranking is a slice of metric indices, most
// responsible first; the ground truth is the set of responsible metrics.

// cutoff returns ceil(P·|gt|) (P as a fraction, 1.5 for 150%), at most
// the length of the ranking. A small epsilon keeps 1.5·2 = 3 from becoming
// 4 through rounding.
func cutoff(p float64, gt, n int) int {
	k := int(math.Ceil(p*float64(gt) - 1e-9))
	return min(max(k, 0), n)
}

// HitRate returns HitRate@P% of one ranking (OmniAnomaly, Su et al. KDD'19):
// the share of the ground-truth metrics found among the top ceil(P·|gt|)
// ranked metrics. p is a fraction (1 for 100%, 1.5 for 150%). It returns
// NaN when gt is empty.
func HitRate(ranking, gt []int, p float64) float64 {
	if len(gt) == 0 {
		return math.NaN()
	}
	k := cutoff(p, len(gt), len(ranking))
	hits := 0
	for _, m := range ranking[:k] {
		if slices.Contains(gt, m) {
			hits++
		}
	}
	return float64(hits) / float64(len(gt))
}

// NDCG returns NDCG@P% of one ranking with binary relevance: the DCG of the
// top k = ceil(P·|gt|) ranked metrics, Σ rel_i / log2(i+1), divided by the
// best possible DCG at the same k. NaN when gt is empty.
func NDCG(ranking, gt []int, p float64) float64 {
	if len(gt) == 0 {
		return math.NaN()
	}
	k := cutoff(p, len(gt), len(ranking))
	dcg, ideal := 0.0, 0.0
	for i, m := range ranking[:k] {
		g := 1 / math.Log2(float64(i)+2)
		if slices.Contains(gt, m) {
			dcg += g
		}
		if i < len(gt) {
			ideal += g
		}
	}
	if ideal == 0 {
		return 0
	}
	return dcg / ideal
}

// ACk returns AC@k of one ranking (root-cause localisation, e.g. MicroRCA):
// the number of ground-truth metrics among the top k divided by
// min(k, |gt|), so 1 means the top k are as good as they can be. NaN when gt
// is empty or k < 1.
func ACk(ranking, gt []int, k int) float64 {
	if len(gt) == 0 || k < 1 {
		return math.NaN()
	}
	hits := 0
	for _, m := range ranking[:min(k, len(ranking))] {
		if slices.Contains(gt, m) {
			hits++
		}
	}
	return float64(hits) / float64(min(k, len(gt)))
}

// AvgK returns Avg@k, the mean of AC@1 … AC@k.
func AvgK(ranking, gt []int, k int) float64 {
	if len(gt) == 0 || k < 1 {
		return math.NaN()
	}
	s := 0.0
	for j := 1; j <= k; j++ {
		s += ACk(ranking, gt, j)
	}
	return s / float64(k)
}

// RandomHitRate returns the expected HitRate@P% of a uniformly random
// ranking of n metrics for a ground truth of size gt: min(ceil(P·gt), n)/n.
func RandomHitRate(n, gt int, p float64) float64 {
	if n == 0 || gt == 0 {
		return math.NaN()
	}
	return float64(cutoff(p, gt, n)) / float64(n)
}

// PRF holds detection quality at the level of time points.
type PRF struct {
	TP, FP, FN            int
	Precision, Recall, F1 float64
}

// PrecisionRecallF1 compares predicted and true anomaly flags point by
// point. Precision (recall) is 0 when nothing is predicted (true).
func PrecisionRecallF1(pred, truth []bool) PRF {
	var r PRF
	for i, t := range truth[:min(len(truth), len(pred))] {
		switch {
		case pred[i] && t:
			r.TP++
		case pred[i]:
			r.FP++
		case t:
			r.FN++
		}
	}
	if r.TP+r.FP > 0 {
		r.Precision = float64(r.TP) / float64(r.TP+r.FP)
	}
	if r.TP+r.FN > 0 {
		r.Recall = float64(r.TP) / float64(r.TP+r.FN)
	}
	if r.Precision+r.Recall > 0 {
		r.F1 = 2 * r.Precision * r.Recall / (r.Precision + r.Recall)
	}
	return r
}

// PointAdjust returns a copy of pred in which every true anomaly segment
// (a maximal run of true flags) that has at least one predicted point is
// predicted in full (Xu et al., WWW'18). It flatters detectors that fire
// once in a long segment; report F1 both with and without it.
func PointAdjust(pred, truth []bool) []bool {
	out := slices.Clone(pred)
	n := min(len(pred), len(truth))
	for i := 0; i < n; {
		if !truth[i] {
			i++
			continue
		}
		j := i
		hit := false
		for j < n && truth[j] {
			hit = hit || pred[j]
			j++
		}
		if hit {
			for k := i; k < j; k++ {
				out[k] = true
			}
		}
		i = j
	}
	return out
}

// BestF1 sweeps a threshold over scores (flag = score > threshold) and
// returns the best F1 and its threshold, with point adjustment when
// adjust is true. Reported by many papers; it uses the labels to choose the
// threshold, so it is an upper bound, not a deployable detector.
func BestF1(scores []float64, truth []bool, adjust bool) (best PRF, threshold float64) {
	cand := slices.Clone(scores)
	slices.Sort(cand)
	cand = slices.Compact(cand)
	// At most 1000 candidate thresholds, evenly spread over the quantiles.
	if len(cand) > 1000 {
		thin := make([]float64, 0, 1000)
		for i := range 1000 {
			thin = append(thin, cand[i*(len(cand)-1)/999])
		}
		cand = slices.Compact(thin)
	}
	pred := make([]bool, len(scores))
	best.F1 = -1
	for _, th := range cand {
		for i, s := range scores {
			pred[i] = s > th
		}
		p := pred
		if adjust {
			p = PointAdjust(pred, truth)
		}
		if r := PrecisionRecallF1(p, truth); r.F1 > best.F1 {
			best, threshold = r, th
		}
	}
	if best.F1 < 0 {
		best.F1 = 0
	}
	return best, threshold
}
