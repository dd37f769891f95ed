package analysis

import "testing"

func TestCUSUMOnset(t *testing.T) {
	r := newRand(13)
	z := make([]float64, 300)
	for i := range z {
		z[i] = r.NormFloat64()
		if i >= 200 {
			z[i] += 2 // a 2-sigma shift at row 200
		}
	}
	alarm, onset := CUSUM(z, 0.5, 8) // h = 8: in-control run length in the thousands
	if alarm < 200 || alarm > 215 {
		t.Errorf("alarm at %d, want shortly after 200", alarm)
	}
	if onset < 190 || onset > 205 {
		t.Errorf("onset %d, want about 200", onset)
	}
	if a, o := CUSUM(z[:200], 0.5, 8); a != -1 || o != -1 {
		t.Errorf("in control: alarm %d onset %d", a, o)
	}
	// A downward shift alarms on the lower side.
	down := make([]float64, 50)
	for i := 20; i < 50; i++ {
		down[i] = -3
	}
	if a, o := CUSUM(down, 0.5, 5); a != 22 || o != 20 {
		t.Errorf("downward: alarm %d onset %d, want 22 20", a, o)
	}
}

func TestMeanShift(t *testing.T) {
	x := []float64{1, 1, 1, 1, 1, 1, 3, 3, 3, 3}
	tau, stat := MeanShift(x, 0.5)
	if tau != 6 {
		t.Errorf("tau = %d, want 6", tau)
	}
	// |3-1| * sqrt(6*4/10) / 0.5
	approx(t, "stat", stat, 2*1.5491933384829668/0.5, 1e-12)
	if tau, _ := MeanShift([]float64{1}, 1); tau != -1 {
		t.Errorf("single value: tau %d", tau)
	}
}
