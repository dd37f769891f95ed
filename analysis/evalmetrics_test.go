package analysis

import (
	"math"
	"slices"
	"testing"
)

func TestHitRateNDCG(t *testing.T) {
	ranking := []int{4, 0, 7, 2, 9, 1, 3, 5, 6, 8}
	gt := []int{0, 2, 8} // |gt| = 3: @100% looks at 3, @150% at ceil(4.5) = 5
	approx(t, "HitRate@100", HitRate(ranking, gt, 1), 1.0/3, 1e-12)
	approx(t, "HitRate@150", HitRate(ranking, gt, 1.5), 2.0/3, 1e-12)
	// NDCG@100: hits at ranks 2 -> 1/log2(3); ideal 1 + 1/log2(3) + 1/2.
	ideal3 := 1 + 1/math.Log2(3) + 0.5
	approx(t, "NDCG@100", NDCG(ranking, gt, 1), (1/math.Log2(3))/ideal3, 1e-12)
	// NDCG@150 (k = 5): hits at ranks 2 and 4; ideal still has 3 hits.
	approx(t, "NDCG@150", NDCG(ranking, gt, 1.5), (1/math.Log2(3)+1/math.Log2(5))/ideal3, 1e-12)
	// Perfect ranking.
	if HitRate([]int{0, 2, 8, 1}, gt, 1) != 1 || NDCG([]int{8, 0, 2, 1}, gt, 1) != 1 {
		t.Error("perfect ranking should score 1")
	}
	// |gt| = 2 at 150% is exactly 3, not 4.
	approx(t, "cutoff", HitRate([]int{5, 6, 1, 2}, []int{1, 2}, 1.5), 0.5, 1e-12)
	// The cut-off never exceeds the number of metrics.
	approx(t, "short", HitRate([]int{1, 0}, []int{0, 1}, 1.5), 1, 1e-12)
	if !math.IsNaN(HitRate(ranking, nil, 1)) {
		t.Error("empty ground truth should be NaN")
	}
}

func TestACkAvgk(t *testing.T) {
	ranking := []int{3, 1, 2, 0}
	gt := []int{1, 0}
	// AC@1 = 0, AC@2 = 1/2, AC@3 = 1/2, AC@4 = 2/2.
	approx(t, "AC@1", ACk(ranking, gt, 1), 0, 1e-12)
	approx(t, "AC@2", ACk(ranking, gt, 2), 0.5, 1e-12)
	approx(t, "AC@4", ACk(ranking, gt, 4), 1, 1e-12)
	approx(t, "Avg@4", AvgK(ranking, gt, 4), (0+0.5+0.5+1)/4, 1e-12)
	approx(t, "random", RandomHitRate(19, 3, 1.5), 5.0/19, 1e-12)
}

func TestPRFAndPointAdjust(t *testing.T) {
	truth := []bool{false, true, true, true, false, false, true, true, false, false}
	pred := []bool{true, false, true, false, false, false, false, false, false, true}
	r := PrecisionRecallF1(pred, truth)
	if r.TP != 1 || r.FP != 2 || r.FN != 4 {
		t.Fatalf("counts %+v", r)
	}
	approx(t, "F1", r.F1, 2*(1.0/3)*(1.0/5)/(1.0/3+1.0/5), 1e-12)
	adj := PointAdjust(pred, truth)
	want := []bool{true, true, true, true, false, false, false, false, false, true}
	if !slices.Equal(adj, want) {
		t.Fatalf("adjusted %v, want %v", adj, want)
	}
	ra := PrecisionRecallF1(adj, truth)
	if ra.TP != 3 || ra.FP != 2 || ra.FN != 2 {
		t.Fatalf("adjusted counts %+v", ra)
	}
	best, th := BestF1([]float64{0, 0.9, 0.8, 0.7, 0.1, 0.2, 0.6, 0.95, 0.3, 0}, truth, false)
	if best.F1 != 1 || th < 0.3 || th >= 0.6 {
		t.Errorf("best F1 %v at %v", best.F1, th)
	}
}
