package analysis

import (
	"math"
	"testing"
)

func TestSPEAndT2LimitsKnownAnswer(t *testing.T) {
	m, err := FitPCA(knownX, knownConfig)
	if err != nil {
		t.Fatal(err)
	}
	// See pca_test.go for how the expected values were computed.
	approx(t, "Q(0.05)", m.SPELimit(0.05), knownJM05, 1e-9)
	approx(t, "Q(0.01)", m.SPELimit(0.01), knownJM01, 1e-9)
	approx(t, "T2(0.05)", m.T2Limit(0.05), knownT2L05, 1e-9)
	approx(t, "T2(0.01)", m.T2Limit(0.01), knownT2L01, 1e-9)
	// Hand-set thetas, same scipy formulas:
	// t1, t2, t3 = 3.0, 2.0, 1.5 -> 9.848641333810644;
	// 3*49*51/(50*47) * f.ppf(0.99, 3, 47) -> 13.487902314577838.
	approx(t, "JM(3,2,1.5)", JacksonMudholkar(3, 2, 1.5, 0.01), 9.848641333810644, 1e-9)
	approx(t, "T2(k=3,n=50)", HotellingT2Limit(3, 50, 0.01), 13.487902314577838, 1e-9)
	if HotellingT2Limit(0, 10, 0.01) != math.Inf(1) || JacksonMudholkar(0, 0, 0, 0.01) != 0 {
		t.Error("degenerate limits")
	}
}

func TestSPEFalseAlarmRate(t *testing.T) {
	// On Gaussian data from the baseline's own distribution, SPE and T²
	// exceed their limits at about the nominal rate.
	r := newRand(8)
	X, load := factorData(r, 4000, 25, 3, 0.5)
	m, err := FitPCA(X, PCAConfig{Components: 3})
	if err != nil {
		t.Fatal(err)
	}
	test := factorRows(r, 20000, load, 0.5)
	_, spe, t2, err := m.ResidualMatrix(test)
	if err != nil {
		t.Fatal(err)
	}
	for _, alpha := range []float64{0.01, 0.05} {
		qlim, tlim := m.SPELimit(alpha), m.T2Limit(alpha)
		var qa, ta int
		for i := range spe {
			if spe[i] > qlim {
				qa++
			}
			if t2[i] > tlim {
				ta++
			}
		}
		qr, tr := float64(qa)/float64(len(spe)), float64(ta)/float64(len(spe))
		if qr < 0.6*alpha || qr > 1.5*alpha {
			t.Errorf("alpha %.2f: SPE false-alarm rate %.4f", alpha, qr)
		}
		if tr < 0.6*alpha || tr > 1.5*alpha {
			t.Errorf("alpha %.2f: T2 false-alarm rate %.4f", alpha, tr)
		}
	}
}

func TestJacksonMudholkarFallsBackToBox(t *testing.T) {
	// One dominant residual eigenvalue gives h0 <= 0; the limit must stay
	// finite and above theta1 (the mean SPE).
	q := JacksonMudholkar(20, 101, 1000.1, 0.01)
	if math.IsNaN(q) || math.IsInf(q, 0) || q <= 20 {
		t.Errorf("limit %v", q)
	}
	// h0 = -0.307; Box: g = 101/20, h = 400/101, g * scipy.stats.chi2.ppf(0.99, h).
	approx(t, "Box", q, 66.67444558553376, 1e-9)
}
