package nabscore_test

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vscope/vscope/analysis/nabscore"
	"github.com/vscope/vscope/analysis/stream"
	"github.com/vscope/vscope/datasets/nab"
)

// nabDir is NAB's data beside the repository (never copied into it).
const nabDir = "../../../shared/datasets/nab"

var profileNames = []string{"standard", "reward_low_FP_rate", "reward_low_FN_rate"}

type corpus struct {
	labels   nab.Labels
	profiles map[string]nabscore.Costs
	series   []*nab.Series
}

func loadCorpus(t *testing.T) corpus {
	t.Helper()
	if _, err := os.Stat(filepath.Join(nabDir, "labels", "combined_windows.json")); err != nil {
		t.Skipf("NAB data not found at %s (it lives beside the repository, in ../shared/datasets/nab): %v", nabDir, err)
	}
	labels, err := nab.LoadWindows(filepath.Join(nabDir, "labels", "combined_windows.json"))
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := nab.LoadProfiles(filepath.Join(nabDir, "config", "profiles.json"))
	if err != nil {
		t.Fatal(err)
	}
	series, err := nab.LoadDataDir(filepath.Join(nabDir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if len(series) == 0 {
		t.Skip("no NAB data files")
	}
	return corpus{labels, profiles, series}
}

func loadScores(t *testing.T, detector, profile string) (map[string]nab.ScoreRow, nab.ScoreRow) {
	t.Helper()
	f, err := os.Open(filepath.Join(nabDir, "results", detector, detector+"_"+profile+"_scores.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, totals, err := nab.ReadScores(f)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]nab.ScoreRow, len(rows))
	for _, r := range rows {
		m[r.File] = r
	}
	return m, totals
}

// py2str rounds x the way NAB's official results files store anomaly
// scores: Python 2's str(float), 12 significant digits. The official scores
// were computed from those files, so a detector reproduced bit for bit must
// go through the same rounding to reproduce them.
func py2str(x float64) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 12, 64), 64)
	if err != nil {
		panic(err)
	}
	return v
}

// TestOfficialPerFile reproduces, for every data file present, every
// profile, and two listed detectors whose anomaly scores can be recomputed
// exactly (the null detector and NAB's windowed Gaussian, which is
// deterministic and ported in analysis/stream), the official per-file rows of
// results/<detector>/<detector>_<profile>_scores.csv: raw score to 1e-9 and
// the TP/TN/FP/FN/total counts exactly, at the official threshold.
func TestOfficialPerFile(t *testing.T) {
	c := loadCorpus(t)
	scores := map[string][][]float64{"null": nil, "windowedGaussian": nil}
	for _, s := range c.series {
		wg := stream.NewWindowedGaussian()
		g := make([]float64, s.Len())
		for i, v := range s.Value {
			g[i] = py2str(wg.Update(v))
		}
		scores["windowedGaussian"] = append(scores["windowedGaussian"], g)
		scores["null"] = append(scores["null"], make([]float64, s.Len()))
	}
	var maxDiff float64
	compared := 0
	for det, perSeries := range scores {
		files := make([]nabscore.File, len(c.series))
		for i, s := range c.series {
			_, ws, ok := c.labels.Lookup(s.Name)
			if !ok {
				t.Fatalf("%s: no windows", s.Name)
			}
			f, err := s.ScoringFile(ws, perSeries[i])
			if err != nil {
				t.Fatal(err)
			}
			files[i] = f
		}
		for _, prof := range profileNames {
			official, _ := loadScores(t, det, prof)
			for _, f := range files {
				want, ok := official[f.Name]
				if !ok {
					t.Errorf("%s %s: %s not in the official results", det, prof, f.Name)
					continue
				}
				got, err := nabscore.ScoreFile(f, c.profiles[prof], nabscore.DefaultProbation, want.Threshold)
				if err != nil {
					t.Fatal(err)
				}
				maxDiff = math.Max(maxDiff, math.Abs(got.Score-want.Score))
				compared++
				if math.Abs(got.Score-want.Score) > 1e-9 || got.Counts != want.Counts() || got.Total != want.Total {
					t.Errorf("%s %s %s: got score %.12g %+v total %d, official %.12g %+v total %d",
						det, prof, f.Name, got.Score, got.Counts, got.Total, want.Score, want.Counts(), want.Total)
				}
			}
		}
	}
	t.Logf("%d official per-file rows reproduced; largest score difference %.3g", compared, maxDiff)
}

// staleThresholds are the detectors whose config/thresholds.json entries do
// not describe their results files (numentaTM's is a copy of htmjava's; the
// others were not updated when the results were re-run). The scoreboard is
// computed from the results files, so only thresholds.json is affected.
var staleThresholds = map[string]bool{
	"htmjava": true, "knncad": true, "null": true, "numentaTM": true,
	"twitterADVec": true, "windowedGaussian": true,
}

// TestOfficialNormalisation reproduces results/final_results.json, every
// detector and profile, from the Totals rows of the official scores files and
// the labels: 100 (raw - null)/(perfect - null), perfect = A_TP x 116 windows.
// It also checks config/thresholds.json against the same Totals rows.
func TestOfficialNormalisation(t *testing.T) {
	c := loadCorpus(t)
	if n := c.labels.Count(); n != 116 {
		t.Fatalf("combined_windows.json has %d windows, want NAB v1.1's 116", n)
	}
	f, err := os.Open(filepath.Join(nabDir, "results", "final_results.json"))
	if err != nil {
		t.Fatal(err)
	}
	final, err := nab.ReadFinalResults(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err = os.Open(filepath.Join(nabDir, "config", "thresholds.json"))
	if err != nil {
		t.Fatal(err)
	}
	thresholds, err := nab.ReadThresholds(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, prof := range profileNames {
		costs := c.profiles[prof]
		results, err := nab.LoadResults(filepath.Join(nabDir, "results"), prof)
		if err != nil {
			t.Fatal(err)
		}
		_, nullTotals := loadScores(t, "null", prof)
		if want := -costs.FN * 116; nullTotals.Score != want {
			t.Errorf("%s: null raw %v, want %v", prof, nullTotals.Score, want)
		}
		perfect := costs.TP * float64(c.labels.Count())
		for _, r := range results {
			want, ok := final[r.Detector][prof]
			if !ok {
				continue
			}
			if r.Detector == "random" {
				// The scoreboard's Random is a mean over seeds; the scores
				// file holds one earlier run (see nab-eval.md).
				continue
			}
			got := nabscore.Normalize(r.Totals.Score, nullTotals.Score, perfect)
			if math.Abs(got-want) > 1e-8 {
				t.Errorf("%s %s: normalised %.10f, official %.10f", r.Detector, prof, got, want)
			}
			sum := 0.0
			for _, row := range r.Rows {
				sum += row.Score
			}
			if math.Abs(sum-r.Totals.Score) > 1e-8 {
				t.Errorf("%s %s: files sum to %.10f, Totals row %.10f", r.Detector, prof, sum, r.Totals.Score)
			}
			if th, ok := thresholds[r.Detector][prof]; ok {
				if math.Abs(th.Score-r.Totals.Score) > 1e-8 || math.Abs(th.Threshold-r.Rows[0].Threshold) > 1e-9 {
					if staleThresholds[r.Detector] {
						t.Logf("%s %s: thresholds.json %+v is stale: scores file threshold %v raw %v",
							r.Detector, prof, th, r.Rows[0].Threshold, r.Totals.Score)
					} else {
						t.Errorf("%s %s: thresholds.json %+v, scores file threshold %v raw %v",
							r.Detector, prof, th, r.Rows[0].Threshold, r.Totals.Score)
					}
				}
			}
			checked++
		}
	}
	if checked < 3*13 {
		t.Errorf("checked %d detector-profile pairs, want at least 39", checked)
	}
}
