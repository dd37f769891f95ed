package nabscore

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestScaledSigmoid(t *testing.T) {
	f := func(x, want float64) {
		t.Helper()
		if got := ScaledSigmoid(x); math.Abs(got-want) > 1e-10 {
			t.Errorf("ScaledSigmoid(%v) = %.12f, want %.12f", x, got, want)
		}
	}
	f(-1, 0.986614298151) // 2*sigmoid(5)-1, NAB's docstring
	f(-0.5, 0.848283639958)
	f(0, 0)
	f(1, -0.986614298151)
	f(3, 2/(1+math.Exp(15))-1)
	f(3.0001, -1)
}

func TestProbationLength(t *testing.T) {
	f := func(n int, want float64) {
		t.Helper()
		if got := ProbationLength(n, DefaultProbation); got != want {
			t.Errorf("ProbationLength(%d) = %v, want %v", n, got, want)
		}
	}
	f(4032, 604) // floor(604.8)
	f(1243, 186)
	f(22695, 750) // capped at 0.15*5000
	f(0, 0)
}

// file of n rows, all scores 0 except the detections (score 1).
func mkFile(n int, windows []Window, detections ...int) File {
	s := make([]float64, n)
	for _, i := range detections {
		s[i] = 1
	}
	return File{Name: "f", Scores: s, Windows: windows}
}

// The cases below follow NAB's own scorer tests (tests/unit/*_test.py):
// known answers computed by hand from the rules in the package comment.
// Rows 0-14 of a 100-row file are the probationary period.
func TestScoreFile(t *testing.T) {
	maxTP := ScaledSigmoid(-1)
	w := []Window{{Start: 50, End: 59}} // width 10
	cases := []struct {
		name   string
		f      File
		costs  Costs
		want   float64
		counts Counts
	}{
		{"null case: no windows, no detections", mkFile(10, nil), Standard, 0, Counts{TN: 9}},
		{"one missed window", mkFile(100, w), Standard, -1, Counts{TN: 75, FN: 10}},
		{"missed window, low-FN profile", mkFile(100, w), RewardLowFN, -2, Counts{TN: 75, FN: 10}},
		{"detection at the window's left edge is worth A_TP", mkFile(100, w, 50), Standard, 1, Counts{TP: 1, TN: 75, FN: 9}},
		{"detection at the right edge", mkFile(100, w, 59), Standard, ScaledSigmoid(-1.0/10) / maxTP, Counts{TP: 1, TN: 75, FN: 9}},
		{"only the earliest detection of a window counts", mkFile(100, w, 59, 55, 52), Standard, ScaledSigmoid(-8.0/10) / maxTP, Counts{TP: 3, TN: 75, FN: 7}},
		{"false positive before any window", mkFile(100, w, 30), Standard, -0.11 - 1, Counts{TN: 74, FP: 1, FN: 10}},
		{"false positive before any window, low-FP profile", mkFile(100, w, 30), RewardLowFP, -0.22 - 1, Counts{TN: 74, FP: 1, FN: 10}},
		{"false positive just after the window", mkFile(100, w, 60), Standard, 0.11*ScaledSigmoid(1.0/9) - 1, Counts{TN: 74, FP: 1, FN: 10}},
		{"false positive far after the window", mkFile(100, w, 99), Standard, 0.11*ScaledSigmoid(40.0/9) - 1, Counts{TN: 74, FP: 1, FN: 10}},
		{"probation hides detections", mkFile(100, w, 0, 14), Standard, -1, Counts{TN: 75, FN: 10}},
		{"window inside probation does not count", mkFile(100, []Window{{2, 5}}, 3), Standard, 0, Counts{TN: 85}},
		{"window straddling probation counts from row 15", mkFile(100, []Window{{10, 19}}, 12), Standard, -1, Counts{TN: 80, FN: 5}},
	}
	for _, tc := range cases {
		r, err := ScoreFile(tc.f, tc.costs, DefaultProbation, 0.5)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !near(r.Score, tc.want) || r.Counts != tc.counts || r.Total != len(tc.f.Scores) {
			t.Errorf("%s: got %.12f %+v, want %.12f %+v", tc.name, r.Score, r.Counts, tc.want, tc.counts)
		}
	}
}

func TestThresholdIsInclusive(t *testing.T) {
	f := File{Name: "f", Scores: make([]float64, 100), Windows: []Window{{50, 59}}}
	f.Scores[50] = 0.7
	for _, tc := range []struct {
		th   float64
		want float64
	}{{0.7, 1}, {math.Nextafter(0.7, 1), -1}, {0.2, 1}} {
		r, err := ScoreFile(f, Standard, DefaultProbation, tc.th)
		if err != nil {
			t.Fatal(err)
		}
		if !near(r.Score, tc.want) {
			t.Errorf("threshold %v: score %v, want %v", tc.th, r.Score, tc.want)
		}
	}
	f.Scores[50] = math.NaN()
	if r, _ := ScoreFile(f, Standard, DefaultProbation, 0.5); !near(r.Score, -1) {
		t.Errorf("NaN detected: %v", r.Score)
	}
}

func TestValidate(t *testing.T) {
	bad := []File{
		mkFile(10, []Window{{5, 4}}),
		mkFile(10, []Window{{5, 10}}),
		mkFile(10, []Window{{-1, 3}}),
		mkFile(10, []Window{{2, 5}, {5, 7}}),
		mkFile(10, []Window{{6, 7}, {2, 3}}),
	}
	for _, f := range bad {
		if _, err := ScoreFile(f, Standard, DefaultProbation, 0.5); !errors.Is(err, ErrWindow) {
			t.Errorf("windows %v: err %v, want ErrWindow", f.Windows, err)
		}
	}
	if _, err := ScoreCorpus(nil, "standard", Standard, DefaultProbation, 0.5); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty corpus: %v", err)
	}
}

func TestCorpusNormalisation(t *testing.T) {
	files := []File{
		mkFile(100, []Window{{20, 29}, {60, 69}}),
		mkFile(200, []Window{{100, 119}}),
		mkFile(100, []Window{{1, 3}}), // inside probation: perfect counts it, null does not
	}
	null, err := NullScore(files, Standard, DefaultProbation)
	if err != nil {
		t.Fatal(err)
	}
	if null != -3 || PerfectScore(files, Standard) != 4 {
		t.Fatalf("null %v perfect %v, want -3 and 4", null, PerfectScore(files, Standard))
	}
	s, err := ScoreCorpus(files, "standard", Standard, DefaultProbation, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if s.Score != 0 || s.Windows != 3 || s.Detected != 0 {
		t.Errorf("null detector: %+v", s)
	}
	// Perfect detections: each scorable window hit at its left edge.
	files[0].Scores[20], files[0].Scores[60], files[1].Scores[100] = 1, 1, 1
	s, _ = ScoreCorpus(files, "standard", Standard, DefaultProbation, 0.5)
	if want := Normalize(3, -3, 4); !near(s.Score, want) || s.Detected != 3 {
		t.Errorf("left-edge detector: score %v, want %v", s.Score, want)
	}
	if s.F1PA != 1 || !near(s.F1(), 2*3.0/(2*3+37)) {
		t.Errorf("F1PA %v F1 %v", s.F1PA, s.F1())
	}
	if Normalize(4, -3, 4) != 100 || Normalize(-3, -3, 4) != 0 {
		t.Error("Normalize ends")
	}
}

// TestSweepsAgreeWithScoreCorpus checks the one-pass threshold sweep against
// scoring the corpus afresh at every threshold, on random data.
func TestSweepsAgreeWithScoreCorpus(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var files []File
	for k := 0; k < 4; k++ {
		n := 300 + rng.IntN(300)
		f := File{Name: "r", Scores: make([]float64, n)}
		for i := range f.Scores {
			f.Scores[i] = math.Round(rng.Float64()*50) / 50 // ties on purpose
		}
		for s := 60 + rng.IntN(40); s+20 < n; s += 80 + rng.IntN(100) {
			f.Windows = append(f.Windows, Window{s, s + 5 + rng.IntN(15)})
		}
		files = append(files, f)
	}
	for name, c := range Profiles() {
		sw, err := Sweeps(files, c, DefaultProbation)
		if err != nil {
			t.Fatal(err)
		}
		if sw[0].TP != 0 || sw[0].FP != 0 {
			t.Errorf("%s: first sweep entry detects: %+v", name, sw[0])
		}
		for i, s := range sw {
			if i > 0 && s.Threshold >= sw[i-1].Threshold {
				t.Fatalf("%s: thresholds not decreasing at %d", name, i)
			}
			got, err := ScoreCorpus(files, name, c, DefaultProbation, s.Threshold)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.Raw-s.Raw) > 1e-9 || got.Counts != s.Counts {
				t.Errorf("%s threshold %v: sweep %v %+v, rescored %v %+v", name, s.Threshold, s.Raw, s.Counts, got.Raw, got.Counts)
			}
		}
		best, _ := Optimize(files, c, DefaultProbation)
		for _, s := range sw {
			if s.Raw > best.Raw {
				t.Errorf("%s: Optimize %+v is not the best (%+v)", name, best, s)
			}
		}
	}
}

func TestSummarize(t *testing.T) {
	files := []File{mkFile(100, []Window{{20, 29}}), mkFile(100, []Window{{60, 69}})}
	files[1].Name = "g"
	rows := []Result{
		{Name: "f", Threshold: 0.5, Score: 1, Counts: Counts{TP: 10, TN: 75}, Total: 100},
		{Name: "g", Threshold: 0.5, Score: -1.11, Counts: Counts{FP: 1, TN: 74, FN: 10}, Total: 100},
	}
	s, err := Summarize(files, rows, "standard", Standard, DefaultProbation)
	if err != nil {
		t.Fatal(err)
	}
	if !near(s.Raw, -0.11) || !near(s.Score, Normalize(-0.11, -2, 2)) || s.TP != 10 || s.Windows != 2 {
		t.Errorf("%+v", s)
	}
	if _, err := Summarize(files, rows[:1], "standard", Standard, DefaultProbation); err == nil {
		t.Error("missing result accepted")
	}
	rows[1].FN = 9 // scored against a window one row shorter
	if _, err := Summarize(files, rows, "standard", Standard, DefaultProbation); !errors.Is(err, ErrCounts) {
		t.Errorf("stale counts: %v", err)
	}
}
