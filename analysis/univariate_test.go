package analysis

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestBaselineRobustScale(t *testing.T) {
	// Columns: Gaussian-ish; mostly one value with rare excursions (MAD 0);
	// constant; quantised with a 0.01 step.
	rows := [][]float64{
		{1, 0, 5, 0.50}, {2, 0, 5, 0.50}, {3, 0, 5, 0.51}, {4, 0, 5, 0.50},
		{5, 0, 5, 0.50}, {6, 0, 5, 0.49}, {7, 0, 5, 0.50}, {8, 4, 5, 0.50},
	}
	X := mat.NewDense(len(rows), 4, nil)
	for i, r := range rows {
		X.SetRow(i, r)
	}
	b, err := FitBaseline(X)
	if err != nil {
		t.Fatal(err)
	}
	// Column 0: median 4.5, MAD 2 -> 1.4826*2.
	approx(t, "median0", b.Median[0], 4.5, 1e-12)
	approx(t, "scale0", b.Scale[0], 1.4826*2, 1e-12)
	// Column 1: MAD 0 -> 1.2533 * mean |x - 0| = 1.2533 * 4/8; resolution 4.
	approx(t, "scale1", b.Scale[1], math.Max(1.2533*0.5, 4), 1e-12)
	// Column 3: MAD 0 -> 1.2533 * 0.02/8 = 0.0031, floored at the 0.01 step.
	approx(t, "scale3", b.Scale[3], 0.01, 1e-9)
	// Column 2 is constant: the median scale of the others.
	if !b.Constant[2] {
		t.Fatal("column 2 not constant")
	}
	approx(t, "scale2", b.Scale[2], Median([]float64{b.Scale[0], b.Scale[1], b.Scale[3]}), 1e-12)

	z := b.RobustZ(nil, []float64{4.5 + 3*1.4826*2, 0, 5, 0.53})
	approx(t, "z0", z[0], 3, 1e-12)
	approx(t, "z3", z[3], 3, 1e-9)
}

func TestTukeyFences(t *testing.T) {
	X := mat.NewDense(5, 1, []float64{1, 2, 3, 4, 5})
	b, _ := FitBaseline(X)
	lo, hi := b.TukeyFences(1.5)
	// numpy quartiles of 1..5: 2 and 4, IQR 2.
	approx(t, "lower", lo[0], -1, 1e-12)
	approx(t, "upper", hi[0], 7, 1e-12)
}

func TestEWMA(t *testing.T) {
	e := NewEWMA(3) // alpha = 0.5
	dev := make([]float64, 1)
	e.Update([]float64{2}, dev)
	if e.Level[0] != 2 || dev[0] != 0 {
		t.Fatalf("first update: level %v dev %v", e.Level, dev)
	}
	e.Update([]float64{4}, dev)
	if e.Level[0] != 3 || dev[0] != 2 {
		t.Fatalf("second update: level %v dev %v", e.Level, dev)
	}
	e.Update([]float64{3}, dev)
	if e.Level[0] != 3 || dev[0] != 0 {
		t.Fatalf("third update: level %v dev %v", e.Level, dev)
	}
}
