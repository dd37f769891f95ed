package nabscore

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Errors returned for malformed input.
var (
	// ErrWindow reports a window that is empty, out of range, unsorted or
	// overlapping another window of the same file.
	ErrWindow = errors.New("nabscore: bad window")
	// ErrEmpty reports a corpus without files.
	ErrEmpty = errors.New("nabscore: no files")
	// ErrCounts reports per-file results whose row counts do not fit the
	// file's labels: they were scored against other labels or lengths.
	ErrCounts = errors.New("nabscore: counts do not match the labels")
)

// DefaultProbation is NAB's probationary fraction: the first 15% of each
// file (at most 750 rows) is not scored.
const DefaultProbation = 0.15

// Costs is a NAB application profile's cost matrix (config/profiles.json).
// TN is carried for completeness; NAB's score does not use it.
type Costs struct {
	TP, FP, FN, TN float64
}

// NAB's three application profiles, as in config/profiles.json.
var (
	Standard    = Costs{TP: 1, FP: 0.11, FN: 1, TN: 1}
	RewardLowFP = Costs{TP: 1, FP: 0.22, FN: 1, TN: 1}
	RewardLowFN = Costs{TP: 1, FP: 0.11, FN: 2, TN: 1}
)

// Profiles maps NAB's profile names to their built-in cost matrices.
func Profiles() map[string]Costs {
	return map[string]Costs{
		"standard":           Standard,
		"reward_low_FP_rate": RewardLowFP,
		"reward_low_FN_rate": RewardLowFN,
	}
}

// Window is a labelled anomaly window: inclusive row indices.
type Window struct {
	Start, End int
}

// File is one data file to score: its anomaly scores, one per row, and its
// labelled windows, sorted and disjoint.
type File struct {
	Name    string
	Scores  []float64
	Windows []Window
}

// Validate checks that the windows are inside the file, sorted and disjoint.
func (f File) Validate() error {
	prev := -1
	for _, w := range f.Windows {
		if w.Start < 0 || w.End < w.Start || w.End >= len(f.Scores) || w.Start <= prev {
			return fmt.Errorf("%w: %s: [%d, %d] in %d rows after a window ending at %d",
				ErrWindow, f.Name, w.Start, w.End, len(f.Scores), prev)
		}
		prev = w.End
	}
	return nil
}

// ProbationLength is NAB's probationary period for a file of n rows:
// min(floor(fraction n), fraction 5000). Row i is scored when i >= it.
func ProbationLength(n int, fraction float64) float64 {
	return math.Min(math.Floor(fraction*float64(n)), fraction*5000)
}

// ScaledSigmoid is NAB's weighting curve: 2/(1+exp(5x)) - 1, and -1 beyond
// x = 3. It is about 0.987 at -1, 0 at 0 and -0.987 at 1.
func ScaledSigmoid(x float64) float64 {
	if x > 3 {
		return -1
	}
	return 2*(1/(1+math.Exp(5*x))) - 1
}

// Outside and Probation are the Point.Window values of rows outside every
// window and of rows in the probationary period.
const (
	Outside   = -1
	Probation = -2
)

// Point is one row as the scorer sees it.
type Point struct {
	// Score is the detector's anomaly score.
	Score float64
	// Weight is NAB's S(t): what a detection at this row is worth.
	Weight float64
	// Window is the index of the row's window in File.Windows, Outside, or
	// Probation (the row is not scored).
	Window int
}

// Sweep returns every row of f with its NAB weight under costs c.
func Sweep(f File, c Costs, probation float64) ([]Point, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	n := len(f.Scores)
	pts := make([]Point, n)
	maxTP := ScaledSigmoid(-1)
	plen := ProbationLength(n, probation)
	next := 0 // next window to enter
	cur := -1 // window the row is in, or -1
	prevEnd, prevWidth := -1, 0.0
	for i := 0; i < n; i++ {
		if cur < 0 && next < len(f.Windows) && i == f.Windows[next].Start {
			cur = next
			next++
		}
		var weight float64
		if cur >= 0 {
			w := f.Windows[cur]
			width := float64(w.End - w.Start + 1)
			weight = ScaledSigmoid(float64(-(w.End-i+1))/width) * c.TP / maxTP
		} else if prevEnd < 0 {
			weight = -1 * c.FP
		} else {
			// NAB divides by zero after a one-row window; its older scorer
			// used position 2 there, and so do we.
			pos := 2.0
			if prevWidth > 1 {
				pos = float64(abs(prevEnd-i)) / (prevWidth - 1)
			}
			weight = ScaledSigmoid(pos) * c.FP
		}
		win := Outside
		if cur >= 0 {
			win = cur
		}
		if float64(i) < plen {
			win = Probation
		}
		pts[i] = Point{Score: f.Scores[i], Weight: weight, Window: win}
		if cur >= 0 && i == f.Windows[cur].End {
			prevEnd = i
			prevWidth = float64(f.Windows[cur].End - f.Windows[cur].Start + 1)
			cur = -1
		}
	}
	return pts, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Counts are row counts of scorable rows.
type Counts struct {
	TP, TN, FP, FN int
}

// Add returns the element-wise sum.
func (c Counts) Add(o Counts) Counts {
	return Counts{TP: c.TP + o.TP, TN: c.TN + o.TN, FP: c.FP + o.FP, FN: c.FN + o.FN}
}

// Precision is TP/(TP+FP), 0 when nothing was detected.
func (c Counts) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall is TP/(TP+FN), 0 when there is nothing to find.
func (c Counts) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// F1 is the point-wise F1 (no point adjustment): 2TP/(2TP+FP+FN).
func (c Counts) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Result is one file's score at one threshold, as a row of NAB's
// results/<detector>/<detector>_<profile>_scores.csv.
type Result struct {
	Name      string
	Threshold float64
	// Score is the file's raw NAB score.
	Score float64
	Counts
	// Total is the number of rows in the file, scored or not.
	Total int
	// Windows is the number of windows with at least one scorable row;
	// Detected is how many of them hold a detection.
	Windows, Detected int
	// WindowRows is the number of scorable rows in detected windows: the
	// true positives under point adjustment.
	WindowRows int
}

// ScoreFile scores f at threshold: rows with score >= threshold detect.
func ScoreFile(f File, c Costs, probation, threshold float64) (Result, error) {
	pts, err := Sweep(f, c, probation)
	if err != nil {
		return Result{}, err
	}
	return scorePoints(f.Name, pts, len(f.Windows), c, threshold), nil
}

func scorePoints(name string, pts []Point, nwin int, c Costs, threshold float64) Result {
	r := Result{Name: name, Threshold: threshold, Total: len(pts)}
	best := make([]float64, nwin)
	seen := make([]bool, nwin)
	rows := make([]int, nwin)
	detected := make([]bool, nwin)
	var fp float64
	for _, p := range pts {
		if p.Window == Probation {
			continue
		}
		det := p.Score >= threshold // false for NaN
		if p.Window == Outside {
			if det {
				r.FP++
				fp += p.Weight
			} else {
				r.TN++
			}
			continue
		}
		w := p.Window
		if !seen[w] {
			seen[w] = true
			best[w] = -c.FN
		}
		rows[w]++
		if det {
			r.TP++
			detected[w] = true
			best[w] = math.Max(best[w], p.Weight)
		} else {
			r.FN++
		}
	}
	r.Score = fp
	for w := range best {
		if !seen[w] {
			continue
		}
		r.Score += best[w]
		r.Windows++
		if detected[w] {
			r.Detected++
			r.WindowRows += rows[w]
		}
	}
	return r
}

// Summary is a corpus scored at one threshold.
type Summary struct {
	Profile   string
	Threshold float64
	// Raw is the sum of the files' raw scores; Null and Perfect are the raw
	// scores of the null and the perfect detector on the same files.
	Raw, Null, Perfect float64
	// Score is NAB's normalised score, 100 (Raw-Null)/(Perfect-Null).
	Score float64
	Counts
	// Windows counts scorable windows, Detected those with a detection.
	Windows, Detected int
	// F1PA is the F1 with point adjustment: every scorable row of a window
	// with a detection counts as a true positive.
	F1PA  float64
	Files []Result
}

// Normalize is NAB's normalisation: 100 (raw-null)/(perfect-null).
func Normalize(raw, null, perfect float64) float64 {
	if perfect == null {
		return 0
	}
	return 100 * (raw - null) / (perfect - null)
}

// NullScore is the raw score of the null detector (no detections) on files:
// -A_FN for every window with a scorable row.
func NullScore(files []File, c Costs, probation float64) (float64, error) {
	var null float64
	for _, f := range files {
		r, err := ScoreFile(File{Name: f.Name, Scores: make([]float64, len(f.Scores)), Windows: f.Windows}, c, probation, 1)
		if err != nil {
			return 0, err
		}
		null += r.Score
	}
	return null, nil
}

// PerfectScore is NAB's perfect raw score: A_TP for every labelled window,
// as runner.normalize counts them (windows inside the probationary period
// included).
func PerfectScore(files []File, c Costs) float64 {
	n := 0
	for _, f := range files {
		n += len(f.Windows)
	}
	return float64(n) * c.TP
}

// ScoreCorpus scores files at threshold and normalises the sum.
func ScoreCorpus(files []File, profile string, c Costs, probation, threshold float64) (Summary, error) {
	if len(files) == 0 {
		return Summary{}, ErrEmpty
	}
	s := Summary{Profile: profile, Threshold: threshold, Perfect: PerfectScore(files, c)}
	var wrows int
	for _, f := range files {
		r, err := ScoreFile(f, c, probation, threshold)
		if err != nil {
			return Summary{}, err
		}
		s.Files = append(s.Files, r)
		s.Raw += r.Score
		s.Counts = s.Counts.Add(r.Counts)
		s.Windows += r.Windows
		s.Detected += r.Detected
		wrows += r.WindowRows
		s.Null -= float64(r.Windows) * c.FN
	}
	s.Score = Normalize(s.Raw, s.Null, s.Perfect)
	// Point adjustment: all rows of detected windows become true positives.
	pa := Counts{TP: wrows, FP: s.FP, FN: s.TP + s.FN - wrows}
	s.F1PA = pa.F1()
	return s, nil
}

// ThresholdScore is the corpus raw score when every row with an anomaly
// score >= Threshold detects.
type ThresholdScore struct {
	Threshold float64
	Raw       float64
	Counts
}

// Sweeps returns the corpus raw score at every distinct anomaly score of the
// scorable rows, highest threshold first, starting with a threshold above
// every score (no detections). This is NAB's calcScoreByThreshold over the
// concatenated files.
func Sweeps(files []File, c Costs, probation float64) ([]ThresholdScore, error) {
	if len(files) == 0 {
		return nil, ErrEmpty
	}
	type row struct {
		score, weight float64
		win           int // global window id, or -1
	}
	var (
		rows   []row
		counts Counts
		parts  []float64 // best weight per global window
		live   []bool    // the window has a scorable row, so it counts
	)
	for _, f := range files {
		pts, err := Sweep(f, c, probation)
		if err != nil {
			return nil, err
		}
		base := len(parts)
		for range f.Windows {
			parts = append(parts, -c.FN)
			live = append(live, false)
		}
		for _, p := range pts {
			if p.Window == Probation {
				continue
			}
			g := -1
			if p.Window >= 0 {
				g = base + p.Window
				live[g] = true
				counts.FN++
			} else {
				counts.TN++
			}
			if !math.IsNaN(p.Score) { // NaN never detects
				rows = append(rows, row{p.Score, p.Weight, g})
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].score > rows[j].score })
	total := func(fp float64) float64 {
		s := fp
		for w, v := range parts {
			if live[w] {
				s += v
			}
		}
		return s
	}

	start := 1.1
	if len(rows) > 0 && rows[0].score >= start {
		start = math.Nextafter(rows[0].score, math.Inf(1))
	}
	out := []ThresholdScore{}
	cur := start
	var fp float64
	for _, r := range rows {
		if r.score != cur {
			out = append(out, ThresholdScore{Threshold: cur, Raw: total(fp), Counts: counts})
			cur = r.score
		}
		if r.win < 0 {
			counts.FP++
			counts.TN--
			fp += r.weight
		} else {
			counts.TP++
			counts.FN--
			parts[r.win] = math.Max(parts[r.win], r.weight)
		}
	}
	out = append(out, ThresholdScore{Threshold: cur, Raw: total(fp), Counts: counts})
	return out, nil
}

// Optimize returns the threshold with the highest corpus raw score (the
// highest such threshold on ties), as NAB's optimizer picks the thresholds of
// the official scoreboard.
func Optimize(files []File, c Costs, probation float64) (ThresholdScore, error) {
	sw, err := Sweeps(files, c, probation)
	if err != nil {
		return ThresholdScore{}, err
	}
	best := sw[0]
	for _, s := range sw[1:] {
		if s.Raw > best.Raw {
			best = s
		}
	}
	return best, nil
}

// Summarize aggregates per-file results already computed elsewhere (for
// instance the official rows of a NAB scores file) over files, normalising
// between the null and the perfect detector on those same files. Results are
// matched to files by name; a file without a result is an error, and so is
// a result whose TP+FN and TN+FP are not the file's scorable rows inside and
// outside its windows (ErrCounts). F1PA is NaN and Detected zero: per-file
// rows do not say which windows were hit.
func Summarize(files []File, results []Result, profile string, c Costs, probation float64) (Summary, error) {
	if len(files) == 0 {
		return Summary{}, ErrEmpty
	}
	byName := make(map[string]Result, len(results))
	for _, r := range results {
		byName[r.Name] = r
	}
	null, err := NullScore(files, c, probation)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{Profile: profile, Null: null, Perfect: PerfectScore(files, c), F1PA: math.NaN()}
	for i, f := range files {
		r, ok := byName[f.Name]
		if !ok {
			return Summary{}, fmt.Errorf("nabscore: no result for %s", f.Name)
		}
		in, out := scorableRows(f, probation)
		// Total is not checked: some official files (ARTime) count only
		// the scored rows there.
		if r.TP+r.FN != in || r.TN+r.FP != out {
			return Summary{}, fmt.Errorf("%w: %s: TP+FN %d, TN+FP %d; the labels give %d, %d",
				ErrCounts, f.Name, r.TP+r.FN, r.TN+r.FP, in, out)
		}
		if i == 0 {
			s.Threshold = r.Threshold
		}
		s.Files = append(s.Files, r)
		s.Raw += r.Score
		s.Counts = s.Counts.Add(r.Counts)
	}
	for _, f := range files {
		s.Windows += ScorableWindows(f, probation)
	}
	s.Score = Normalize(s.Raw, s.Null, s.Perfect)
	return s, nil
}

// ScorableWindows counts the windows of f with a row after the probationary
// period: the windows that score (-A_FN when missed).
func ScorableWindows(f File, probation float64) int {
	plen := ProbationLength(len(f.Scores), probation)
	n := 0
	for _, w := range f.Windows {
		if float64(w.End) >= plen {
			n++
		}
	}
	return n
}

// scorableRows counts the rows after the probationary period inside and
// outside the windows of f.
func scorableRows(f File, probation float64) (in, out int) {
	first := int(math.Ceil(ProbationLength(len(f.Scores), probation)))
	if first > len(f.Scores) {
		first = len(f.Scores)
	}
	for _, w := range f.Windows {
		if w.End >= first {
			in += w.End - max(w.Start, first) + 1
		}
	}
	return in, len(f.Scores) - first - in
}
