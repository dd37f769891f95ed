package nab

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vscope/vscope/analysis/nabscore"
)

// Errors returned by the loaders.
var (
	// ErrFormat reports a file that does not have NAB's layout.
	ErrFormat = errors.New("nab: bad format")
	// ErrNoRow reports a window limit that matches no row of its data file.
	ErrNoRow = errors.New("nab: window limit matches no row")
)

// TimeLayout parses NAB's timestamps, with or without fractional seconds.
const TimeLayout = "2006-01-02 15:04:05.999999999"

// ParseTime parses a NAB timestamp (UTC).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeLayout, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: timestamp %q", ErrFormat, s)
	}
	return t, nil
}

// Series is one NAB data file.
type Series struct {
	// Name is the path relative to NAB's data directory, with forward
	// slashes: "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv".
	Name  string
	Time  []time.Time
	Value []float64
}

// Len is the number of rows.
func (s *Series) Len() int { return len(s.Value) }

// ReadSeries reads a "timestamp,value" CSV.
func ReadSeries(r io.Reader, name string) (*Series, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	if len(head) < 2 || strings.TrimSpace(head[0]) != "timestamp" || strings.TrimSpace(head[1]) != "value" {
		return nil, fmt.Errorf("%w: %s: header %q, want timestamp,value", ErrFormat, name, head)
	}
	s := &Series{Name: name}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		t, err := ParseTime(rec[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %s:%d: value %q", ErrFormat, name, line, rec[1])
		}
		s.Time = append(s.Time, t)
		s.Value = append(s.Value, v)
	}
	return s, nil
}

// LoadSeries reads the data file at file, naming it name.
func LoadSeries(file, name string) (*Series, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadSeries(f, name)
}

// LoadDataDir reads every .csv under dir, sorted by name; names are
// relative to dir with forward slashes.
func LoadDataDir(dir string) ([]*Series, error) {
	var out []*Series
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".csv") || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		s, err := LoadSeries(p, filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Window is a labelled anomaly window, both limits inclusive.
type Window struct {
	Start, End time.Time
}

// Labels maps data file names ("<category>/<file>.csv") to their windows,
// as in labels/combined_windows.json.
type Labels map[string][]Window

// ReadWindows reads a combined_windows.json.
func ReadWindows(r io.Reader) (Labels, error) {
	var raw map[string][][]string
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: windows: %v", ErrFormat, err)
	}
	out := make(Labels, len(raw))
	for name, ws := range raw {
		list := make([]Window, 0, len(ws))
		for i, w := range ws {
			if len(w) != 2 {
				return nil, fmt.Errorf("%w: windows: %s[%d] has %d limits, want 2", ErrFormat, name, i, len(w))
			}
			a, err := ParseTime(w[0])
			if err != nil {
				return nil, fmt.Errorf("windows: %s[%d]: %w", name, i, err)
			}
			b, err := ParseTime(w[1])
			if err != nil {
				return nil, fmt.Errorf("windows: %s[%d]: %w", name, i, err)
			}
			list = append(list, Window{Start: a, End: b})
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Start.Before(list[j].Start) })
		out[name] = list
	}
	return out, nil
}

// LoadWindows reads the combined_windows.json at file.
func LoadWindows(file string) (Labels, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadWindows(f)
}

// Count is the number of windows over all files.
func (l Labels) Count() int {
	n := 0
	for _, ws := range l {
		n += len(ws)
	}
	return n
}

// Lookup finds the windows of a data file. name is matched exactly, or, when
// the data directory given was a category directory, as the unique label key
// ending in "/"+name.
func (l Labels) Lookup(name string) (key string, ws []Window, ok bool) {
	if ws, ok := l[name]; ok {
		return name, ws, true
	}
	found := ""
	for k := range l {
		if strings.HasSuffix(k, "/"+name) {
			if found != "" {
				return "", nil, false
			}
			found = k
		}
	}
	if found == "" {
		return "", nil, false
	}
	return found, l[found], true
}

// IndexWindows maps windows onto row ranges of s by exact timestamps, as
// NAB's sweeper does.
func (s *Series) IndexWindows(ws []Window) ([]nabscore.Window, error) {
	idx := make(map[time.Time]int, len(s.Time))
	for i, t := range s.Time {
		if _, dup := idx[t]; !dup {
			idx[t] = i
		}
	}
	out := make([]nabscore.Window, 0, len(ws))
	for _, w := range ws {
		a, ok := idx[w.Start]
		if !ok {
			return nil, fmt.Errorf("%w: %s: window start %s", ErrNoRow, s.Name, w.Start.Format(TimeLayout))
		}
		b, ok := idx[w.End]
		if !ok {
			return nil, fmt.Errorf("%w: %s: window end %s", ErrNoRow, s.Name, w.End.Format(TimeLayout))
		}
		out = append(out, nabscore.Window{Start: a, End: b})
	}
	return out, nil
}

// ScoringFile pairs s with its windows and anomaly scores for nabscore.
func (s *Series) ScoringFile(ws []Window, scores []float64) (nabscore.File, error) {
	if len(scores) != s.Len() {
		return nabscore.File{}, fmt.Errorf("%w: %s: %d scores for %d rows", ErrFormat, s.Name, len(scores), s.Len())
	}
	iw, err := s.IndexWindows(ws)
	if err != nil {
		return nabscore.File{}, err
	}
	f := nabscore.File{Name: s.Name, Scores: scores, Windows: iw}
	return f, f.Validate()
}

// ReadProfiles reads config/profiles.json.
func ReadProfiles(r io.Reader) (map[string]nabscore.Costs, error) {
	var raw map[string]struct {
		CostMatrix map[string]float64
	}
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: profiles: %v", ErrFormat, err)
	}
	out := make(map[string]nabscore.Costs, len(raw))
	for name, p := range raw {
		var c nabscore.Costs
		for k, dst := range map[string]*float64{"tpWeight": &c.TP, "fpWeight": &c.FP, "fnWeight": &c.FN, "tnWeight": &c.TN} {
			v, ok := p.CostMatrix[k]
			if !ok {
				return nil, fmt.Errorf("%w: profiles: %s.CostMatrix.%s missing", ErrFormat, name, k)
			}
			*dst = v
		}
		out[name] = c
	}
	return out, nil
}

// LoadProfiles reads the profiles.json at file.
func LoadProfiles(file string) (map[string]nabscore.Costs, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadProfiles(f)
}

// ScoreRow is one row of a results/<detector>/<detector>_<profile>_scores.csv.
type ScoreRow struct {
	Detector, Profile, File string
	Threshold, Score        float64
	TP, TN, FP, FN, Total   int
}

// Counts returns the row's counts in nabscore's form.
func (r ScoreRow) Counts() nabscore.Counts {
	return nabscore.Counts{TP: r.TP, TN: r.TN, FP: r.FP, FN: r.FN}
}

// ReadScores reads a scores CSV: the per-file rows, and the Totals row.
func ReadScores(r io.Reader) (rows []ScoreRow, totals ScoreRow, err error) {
	cr := csv.NewReader(r)
	head, err := cr.Read()
	if err != nil {
		return nil, ScoreRow{}, fmt.Errorf("scores header: %w", err)
	}
	want := []string{"Detector", "Profile", "File", "Threshold", "Score", "TP", "TN", "FP", "FN", "Total_Count"}
	if strings.Join(head, ",") != strings.Join(want, ",") {
		return nil, ScoreRow{}, fmt.Errorf("%w: scores header %q", ErrFormat, head)
	}
	haveTotals := false
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, ScoreRow{}, err
		}
		row := ScoreRow{Detector: rec[0], Profile: rec[1], File: rec[2]}
		if rec[0] == "Totals" {
			row.Threshold = 0
		} else if row.Threshold, err = strconv.ParseFloat(rec[3], 64); err != nil {
			return nil, ScoreRow{}, fmt.Errorf("%w: scores line %d: threshold %q", ErrFormat, line, rec[3])
		}
		if row.Score, err = strconv.ParseFloat(rec[4], 64); err != nil {
			return nil, ScoreRow{}, fmt.Errorf("%w: scores line %d: score %q", ErrFormat, line, rec[4])
		}
		for i, dst := range []*int{&row.TP, &row.TN, &row.FP, &row.FN, &row.Total} {
			v, err := strconv.ParseFloat(rec[5+i], 64) // Totals may be written as floats
			if err != nil || v != float64(int(v)) {
				return nil, ScoreRow{}, fmt.Errorf("%w: scores line %d: count %q", ErrFormat, line, rec[5+i])
			}
			*dst = int(v)
		}
		if rec[0] == "Totals" {
			totals, haveTotals = row, true
			continue
		}
		rows = append(rows, row)
	}
	if !haveTotals {
		return nil, ScoreRow{}, fmt.Errorf("%w: scores: no Totals row", ErrFormat)
	}
	return rows, totals, nil
}

// Results is a detector's official scores for one profile.
type Results struct {
	Detector string
	Rows     []ScoreRow
	Totals   ScoreRow
}

// LoadResults reads results/<detector>/<detector>_<profile>_scores.csv for
// every detector directory under dir, sorted by detector name.
func LoadResults(dir, profile string) ([]Results, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Results
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		file := filepath.Join(dir, e.Name(), e.Name()+"_"+profile+"_scores.csv")
		f, err := os.Open(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		rows, totals, err := ReadScores(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		out = append(out, Results{Detector: e.Name(), Rows: rows, Totals: totals})
	}
	return out, nil
}

// ReadFinalResults reads results/final_results.json: detector -> profile ->
// normalised score.
func ReadFinalResults(r io.Reader) (map[string]map[string]float64, error) {
	var out map[string]map[string]float64
	if err := json.NewDecoder(r).Decode(&out); err != nil {
		return nil, fmt.Errorf("%w: final results: %v", ErrFormat, err)
	}
	return out, nil
}

// Threshold is one entry of config/thresholds.json: the corpus-optimised
// threshold and the raw score it gives.
type Threshold struct {
	Threshold float64 `json:"threshold"`
	Score     float64 `json:"score"`
}

// ReadThresholds reads config/thresholds.json: detector -> profile -> entry.
func ReadThresholds(r io.Reader) (map[string]map[string]Threshold, error) {
	var out map[string]map[string]Threshold
	if err := json.NewDecoder(r).Decode(&out); err != nil {
		return nil, fmt.Errorf("%w: thresholds: %v", ErrFormat, err)
	}
	return out, nil
}

// ReadDetections reads a detector's per-row NAB output
// ("timestamp,value,anomaly_score[,...]") and returns its timestamps and
// anomaly scores.
func ReadDetections(r io.Reader) ([]time.Time, []float64, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("detections header: %w", err)
	}
	ti, si := -1, -1
	for i, h := range head {
		switch strings.TrimSpace(h) {
		case "timestamp":
			ti = i
		case "anomaly_score":
			si = i
		}
	}
	if ti < 0 || si < 0 {
		return nil, nil, fmt.Errorf("%w: detections header %q lacks timestamp or anomaly_score", ErrFormat, head)
	}
	var ts []time.Time
	var sc []float64
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		t, err := ParseTime(rec[ti])
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[si]), 64)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: line %d: anomaly_score %q", ErrFormat, line, rec[si])
		}
		ts = append(ts, t)
		sc = append(sc, v)
	}
	return ts, sc, nil
}

// Category is the first path element of a data file name.
func Category(name string) string {
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}
