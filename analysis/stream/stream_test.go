package stream

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func hexf(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestNumpySum checks the pairwise sum bit for bit against numpy 1.24
// (np.add.reduce, np.mean, np.std of the same array), where a plain loop
// differs in the last bits.
func TestNumpySum(t *testing.T) {
	a := make([]float64, 1000)
	for i := range a {
		a[i] = 0.1*float64(i) + 1.0/float64(i+3)
	}
	if got, want := npSum(a), hexf(t, "0x1.8647f9956358ap+15"); got != want {
		t.Errorf("npSum(1000) = %x, numpy %x", got, want)
	}
	if got, want := npSum(a[:100]), hexf(t, "0x1.f2b5035aa5737p+8"); got != want {
		t.Errorf("npSum(100) = %x, numpy %x", got, want)
	}
	d := &WindowedGaussian{window: a}
	d.refit()
	if d.mean != hexf(t, "0x1.8fa5dcc1eef25p+5") || d.std != hexf(t, "0x1.cdc4cbebe8c47p+4") {
		t.Errorf("mean %x std %x differ from numpy", d.mean, d.std)
	}
}

func TestWindowedGaussian(t *testing.T) {
	d := NewWindowedGaussian()
	if s := d.Update(5); s != 0 {
		t.Errorf("first score %v, want 0", s)
	}
	// One value so far: std 0 is replaced by 1e-6, so the same value is at
	// the mean (score 1-Q(0) = 0.5) and anything else is a certain anomaly.
	if s := d.Update(5); s != 0.5 {
		t.Errorf("repeat score %v, want 0.5", s)
	}
	if s := d.Update(6); s != 1 {
		t.Errorf("jump score %v, want 1", s)
	}
	// Window slides by StepSize once full.
	d = &WindowedGaussian{WindowSize: 4, StepSize: 2, std: 1}
	for _, v := range []float64{1, 2, 3, 4, 5} {
		d.Update(v)
	}
	if len(d.window) != 4 || len(d.step) != 1 || d.mean != 2.5 {
		t.Errorf("after 5 values: window %v step %v mean %v", d.window, d.step, d.mean)
	}
	d.Update(6)
	if d.window[0] != 3 || d.window[3] != 6 || d.mean != 4.5 {
		t.Errorf("after slide: window %v mean %v", d.window, d.mean)
	}
}

func noisy(rng *rand.Rand, n int, level, sd float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = level + sd*rng.NormFloat64()
	}
	return out
}

func run(t *testing.T, d *Novelty, xs []float64) []float64 {
	t.Helper()
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = d.Update(x)
		if out[i] < 0 || out[i] >= 1 || math.IsNaN(out[i]) {
			t.Fatalf("score %v at %d outside [0, 1)", out[i], i)
		}
	}
	return out
}

func argmax(a []float64) int {
	best := 0
	for i, v := range a {
		if v > a[best] {
			best = i
		}
	}
	return best
}

func TestNoveltyPlanted(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	mk := func() *Novelty {
		d, err := NewNovelty(DefaultNovelty())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	// A spike beyond every earlier value is the top score.
	xs := noisy(rng, 2000, 50, 5)
	xs[1500] = 120
	s := run(t, mk(), xs)
	if argmax(s[600:])+600 != 1500 {
		t.Errorf("spike: top score at %d", argmax(s[600:])+600)
	}

	// A level shift that stays inside the range of single values but takes
	// the hourly mean out of its range is caught within the hour.
	xs = noisy(rng, 3000, 50, 5)
	for i := 2000; i < 3000; i++ {
		xs[i] -= 9 // about the old 4th percentile
	}
	s = run(t, mk(), xs)
	before := s[argmax(s[1000:2000])+1000]
	at := argmax(s[2000:2012]) + 2000
	if s[at] <= before {
		t.Errorf("level shift at 2000: best score in the hour after %v (row %d), not above %v before", s[at], at, before)
	}

	// The same spike twice within a day: only the first is reported.
	xs = noisy(rng, 2000, 50, 5)
	xs[1500], xs[1600] = 120, 120
	s = run(t, mk(), xs)
	if s[1500] == 0 || s[1600] != 0 {
		t.Errorf("repeat spike: scores %v then %v, want >0 then 0", s[1500], s[1600])
	}

	// Flat history (zero spread) does not divide by zero, and NaN inputs
	// are skipped.
	xs = make([]float64, 500)
	xs[300], xs[400] = math.NaN(), 1
	s = run(t, mk(), xs)
	if s[400] == 0 {
		t.Error("change after a flat history not scored")
	}
}

func TestNoveltyConfig(t *testing.T) {
	bad := []NoveltyConfig{
		{History: 1, Scale: 0.01},
		{History: 100, Scale: 0.5},
		{History: 100, Scale: 0.01, Suppress: -1},
		{History: 100, Scale: 0.01, Means: []int{1}},
	}
	for _, c := range bad {
		if _, err := NewNovelty(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	// Deterministic: same input, same scores.
	rng := rand.New(rand.NewPCG(3, 4))
	xs := noisy(rng, 1000, 10, 1)
	a, _ := NewNovelty(DefaultNovelty())
	b, _ := NewNovelty(DefaultNovelty())
	sa, sb := run(t, a, xs), run(t, b, xs)
	for i := range sa {
		if sa[i] != sb[i] {
			t.Fatalf("row %d: %v != %v", i, sa[i], sb[i])
		}
	}
}

func BenchmarkNovelty(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	xs := noisy(rng, 4032, 50, 5)
	b.ResetTimer()
	for b.Loop() {
		d, _ := NewNovelty(DefaultNovelty())
		for _, x := range xs {
			d.Update(x)
		}
	}
	b.ReportMetric(float64(b.N*len(xs))/b.Elapsed().Seconds(), "values/s")
}
