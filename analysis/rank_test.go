package analysis

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// plantSystem generates rows [start, start+n) of a 40-metric system:
// metrics 0-7 follow a daily cycle (period 288 rows, 5-minute samples),
// metrics 8-11 a faster cycle, each with 10% noise, so they are strongly
// correlated within their group; metrics 12-39 are independent AR(1) noise.
// fault, when non-nil, may rewrite row i (absolute index) in place.
func plantSystem(r *rand.Rand, start, n int, fault func(i int, row []float64)) *mat.Dense {
	const p = 40
	amp := []float64{1, 2, 0.5, 3, 1.5, 0.8, 2.5, 1.2, 1, 0.7, 2, 1.4}
	x := mat.NewDense(n, p, nil)
	ar := make([]float64, p)
	row := make([]float64, p)
	for i := start; i < start+n; i++ {
		f1 := math.Sin(2 * math.Pi * float64(i) / 288)
		f2 := math.Cos(2 * math.Pi * float64(i) / 97)
		for j := range p {
			switch {
			case j < 8:
				row[j] = 10 + amp[j]*(f1+0.1*r.NormFloat64())
			case j < 12:
				row[j] = 5 + amp[j]*(f2+0.1*r.NormFloat64())
			default:
				ar[j] = 0.7*ar[j] + math.Sqrt(1-0.49)*r.NormFloat64()
				row[j] = 50 + ar[j]
			}
		}
		if fault != nil {
			fault(i, row)
		}
		x.SetRow(i-start, row)
	}
	return x
}

// rankOf returns the position of metric j in the ranking of row i.
func rankOf(d *Diagnosis, i, j int) int {
	for k, m := range d.Order(i, nil) {
		if m == j {
			return k
		}
	}
	return -1
}

func fitPlanted(t *testing.T, r *rand.Rand) *Model {
	t.Helper()
	m, err := Fit(plantSystem(r, 0, 2880, nil), Config{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPlantedJump(t *testing.T) {
	r := newRand(21)
	m := fitPlanted(t, r)
	const metric = 5 // in the daily group
	X := plantSystem(r, 2880, 400, func(i int, row []float64) {
		if i >= 2880+200 && i < 2880+260 {
			row[metric] += 1.6 // 2.8 sd of the metric, 20 sd of its noise around the cycle
		}
	})
	d, err := m.Diagnose(X)
	if err != nil {
		t.Fatal(err)
	}
	for i := 200; i < 260; i++ {
		if k := rankOf(d, i, metric); k != 0 {
			t.Errorf("row %d: jumping metric ranked %d", i, k+1)
		}
		if !d.Anomalous[i] {
			t.Errorf("row %d: not flagged (score %.2f)", i, d.Score[i])
		}
	}
	rk := d.Ranking(205, 3)
	if rk[0].Metric != metric || rk[0].Evidence&EvidenceRBC == 0 || rk[0].Onset != 200 {
		t.Errorf("evidence at row 205: %+v (%s)", rk[0], rk[0].Evidence)
	}
}

func TestPlantedDrift(t *testing.T) {
	r := newRand(22)
	m := fitPlanted(t, r)
	const metric = 17 // an independent noisy metric
	X := plantSystem(r, 2880, 400, func(i int, row []float64) {
		if k := i - 2880 - 100; k > 0 {
			row[metric] += 8 * float64(k) / 300 // 0 -> 8 sd over 300 rows
		}
	})
	d, err := m.Diagnose(X)
	if err != nil {
		t.Fatal(err)
	}
	first := -1
	for i := 100; i < 400; i++ {
		if rankOf(d, i, metric) == 0 && first < 0 {
			first = i
		}
		if i >= 288 && rankOf(d, i, metric) != 0 { // drift >= 5 sd
			t.Errorf("row %d: drifting metric ranked %d", i, rankOf(d, i, metric)+1)
		}
	}
	t.Logf("drift first ranked first at row %d (drift %.1f sd)", first, 8*float64(first-100)/300)
}

func TestPlantedCorrelationBreak(t *testing.T) {
	r := newRand(23)
	m := fitPlanted(t, r)
	const metric = 3 // daily group, amplitude 3
	// Metric 3 turns against its group: 10 - 3·f1 instead of 10 + 3·f1.
	// Every value stays inside its normal range.
	X := plantSystem(r, 2880, 288, func(i int, row []float64) {
		if i >= 2880+100 && i < 2880+200 {
			row[metric] = 20 - row[metric]
		}
	})
	d, err := m.Diagnose(X)
	if err != nil {
		t.Fatal(err)
	}
	first, zFirst, fired := 0, 0, 0
	rows := 0
	for i := 100; i < 200; i++ {
		f1 := math.Sin(2 * math.Pi * float64(2880+i) / 288)
		if math.Abs(f1) < 0.4 {
			continue // near the cycle's mean the two relations (almost) agree
		}
		rows++
		if rankOf(d, i, metric) == 0 {
			first++
		}
		ms := d.explain(i, metric)
		if ms.Evidence&(EvidenceZ|EvidenceTukey|EvidenceEWMA) != 0 {
			fired++
		}
		// The univariate view alone: rank by |robust z|.
		z := m.Base.RobustZ(nil, mat.Row(nil, i, X))
		for j := range z {
			z[j] = math.Abs(z[j])
		}
		if argmax(z) == metric {
			zFirst++
		}
	}
	if first != rows {
		t.Errorf("broken metric ranked first at %d of %d rows", first, rows)
	}
	if fired != 0 || zFirst > rows/10 {
		t.Errorf("univariate detectors caught it: fired at %d rows, z first at %d of %d", fired, zFirst, rows)
	}
	t.Logf("broken correlation: fused ranking first at %d/%d rows; robust z first at %d; univariate evidence at %d", first, rows, zFirst, fired)
}

// TestPlantedNeedleIn10kMetrics hides a 6-sigma jump of one metric among
// 10,000 noisy metrics driven by a few common factors.
func TestPlantedNeedleIn10kMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	r := newRand(24)
	const n, p, planted = 600, 10000, 7777
	X, load := factorData(r, n, p, 4, 1)
	m, err := Fit(X, Config{})
	if err != nil {
		t.Fatal(err)
	}
	win := factorRows(r, 120, load, 1)
	for i := 60; i < 120; i++ {
		win.Set(i, planted, win.At(i, planted)+6*m.PCA.Scale[planted])
	}
	d, err := m.Diagnose(win)
	if err != nil {
		t.Fatal(err)
	}
	for i := 60; i < 120; i++ {
		if k := rankOf(d, i, planted); k != 0 {
			t.Errorf("row %d: planted metric ranked %d of %d", i, k+1, p)
		}
	}
}

func TestDiagnoseDeterministicAndValidates(t *testing.T) {
	r := newRand(25)
	m := fitPlanted(t, r)
	X := plantSystem(r, 2880, 50, nil)
	a, _ := m.Diagnose(X)
	b, _ := m.Diagnose(X)
	for i := range 50 {
		if a.Score[i] != b.Score[i] || !equalInts(a.Order(i, nil), b.Order(i, nil)) {
			t.Fatalf("row %d differs between runs", i)
		}
	}
	if _, err := m.Diagnose(mat.NewDense(3, 5, nil)); err == nil {
		t.Error("wrong width accepted")
	}
	if _, err := Fit(X, Config{Window: -1}); err == nil {
		t.Error("negative window accepted")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
