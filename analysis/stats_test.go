package analysis

import (
	"math"
	"slices"
	"testing"
)

func TestMedianQuantileMAD(t *testing.T) {
	f := func(xs []float64, median, q25, mad float64) {
		t.Helper()
		approx(t, "median", Median(xs), median, 1e-12)
		approx(t, "q25", Quantile(xs, 0.25), q25, 1e-12)
		approx(t, "mad", MAD(xs), mad, 1e-12)
	}
	f([]float64{3, 1, 2}, 2, 1.5, 1)
	f([]float64{4, 1, 3, 2}, 2.5, 1.75, 1)
	f([]float64{5, 5, 5, 5, 100}, 5, 5, 0)
	f([]float64{-1, 7}, 3, 1, 4)
	if !math.IsNaN(Median(nil)) || !math.IsNaN(Quantile(nil, 0.5)) || !math.IsNaN(MAD(nil)) {
		t.Error("empty input should give NaN")
	}
}

func TestSelectKMatchesSort(t *testing.T) {
	r := newRand(1)
	for trial := range 200 {
		n := 1 + r.IntN(60)
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(r.IntN(7)) // many ties, like quantised metrics
		}
		sorted := slices.Clone(xs)
		slices.Sort(sorted)
		k := r.IntN(n)
		if got := selectK(slices.Clone(xs), k); got != sorted[k] {
			t.Fatalf("trial %d: selectK(%v, %d) = %v, want %v", trial, xs, k, got, sorted[k])
		}
	}
}

func TestColMeanStd(t *testing.T) {
	// A large offset next to a small spread: the shifted one-pass sums
	// must not cancel.
	data := []float64{1e9 + 1, 5, 1e9 + 2, 6, 1e9 + 3, 7}
	mean, std := colMeanStd(data, 3, 2, 2)
	approx(t, "mean0", mean[0], 1e9+2, 1e-15)
	approx(t, "std0", std[0], 1, 1e-9)
	approx(t, "mean1", mean[1], 6, 1e-15)
	approx(t, "std1", std[1], 1, 1e-12)
}

func TestResolution(t *testing.T) {
	if got := resolution([]float64{0.1, 0.1, 0.12, 0.15, 0.15}); math.Abs(got-0.02) > 1e-12 {
		t.Errorf("resolution = %v, want 0.02", got)
	}
	if got := resolution([]float64{3, 3}); got != 0 {
		t.Errorf("resolution of a constant = %v, want 0", got)
	}
}

func TestMedianMAD(t *testing.T) {
	r := newRand(8)
	for trial := range 200 {
		n := 1 + r.IntN(900)
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(r.IntN(20)) + r.Float64()*float64(trial%3)
		}
		wantMed, wantMAD := Median(xs), MAD(xs)
		med, mad := MedianMAD(slices.Clone(xs))
		if med != wantMed || mad != wantMAD {
			t.Fatalf("trial %d (n %d): MedianMAD %v, %v; Median, MAD %v, %v", trial, n, med, mad, wantMed, wantMAD)
		}
	}
	if m, d := MedianMAD(nil); !math.IsNaN(m) || !math.IsNaN(d) {
		t.Error("empty input should give NaN")
	}
}
