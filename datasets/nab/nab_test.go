package nab

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vscope/vscope/analysis/nabscore"
)

func TestParseTime(t *testing.T) {
	a, err := ParseTime("2014-02-19 10:50:00")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseTime("2014-02-19 10:50:00.000000")
	if err != nil || !a.Equal(b) || a != b {
		t.Fatalf("%v %v %v", a, b, err)
	}
	if _, err := ParseTime("19/02/2014"); !errors.Is(err, ErrFormat) {
		t.Errorf("bad time: %v", err)
	}
}

func TestReadSeries(t *testing.T) {
	s, err := ReadSeries(strings.NewReader("timestamp,value\n2014-02-14 14:30:00,0.132\n2014-02-14 14:35:00,1e3\n"), "cat/x.csv")
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 || s.Value[1] != 1000 || s.Time[1].Sub(s.Time[0]) != 5*time.Minute || Category(s.Name) != "cat" {
		t.Errorf("%+v", s)
	}
	for _, bad := range []string{
		"time,value\n",
		"timestamp,value\n2014-02-14 14:30:00,abc\n",
		"timestamp,value\nyesterday,1\n",
	} {
		if _, err := ReadSeries(strings.NewReader(bad), "bad.csv"); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: err %v, want ErrFormat", bad, err)
		}
	}
}

func TestWindowsAndIndex(t *testing.T) {
	l, err := ReadWindows(strings.NewReader(`{"cat/x.csv": [["2014-01-01 00:10:00.000000", "2014-01-01 00:20:00.000000"]],
		"other/y.csv": [], "cat/z.csv": []}`))
	if err != nil {
		t.Fatal(err)
	}
	if l.Count() != 1 {
		t.Errorf("count %d", l.Count())
	}
	if k, _, ok := l.Lookup("x.csv"); !ok || k != "cat/x.csv" {
		t.Errorf("suffix lookup: %q %v", k, ok)
	}
	if _, _, ok := l.Lookup("cat/x.csv"); !ok {
		t.Error("exact lookup failed")
	}
	if _, _, ok := l.Lookup("w.csv"); ok {
		t.Error("unknown file found")
	}
	var csv strings.Builder
	csv.WriteString("timestamp,value\n")
	base := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		csv.WriteString(base.Add(time.Duration(i)*5*time.Minute).Format("2006-01-02 15:04:05") + ",1\n")
	}
	s, err := ReadSeries(strings.NewReader(csv.String()), "cat/x.csv")
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.ScoringFile(l["cat/x.csv"], make([]float64, 10))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Windows) != 1 || f.Windows[0] != (nabscore.Window{Start: 2, End: 4}) {
		t.Errorf("windows %v", f.Windows)
	}
	if _, err := s.ScoringFile(l["cat/x.csv"], make([]float64, 9)); !errors.Is(err, ErrFormat) {
		t.Errorf("short scores: %v", err)
	}
	off := []Window{{Start: base.Add(time.Minute), End: base.Add(10 * time.Minute)}}
	if _, err := s.IndexWindows(off); !errors.Is(err, ErrNoRow) {
		t.Errorf("off-grid window: %v", err)
	}
	for _, bad := range []string{`{"a": [["2014-01-01 00:10:00"]]}`, `{"a": [["x", "y"]]}`, `[`} {
		if _, err := ReadWindows(strings.NewReader(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestReadProfiles(t *testing.T) {
	p, err := ReadProfiles(strings.NewReader(`{"standard": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p["standard"] != nabscore.Standard {
		t.Errorf("%+v", p)
	}
	if _, err := ReadProfiles(strings.NewReader(`{"x": {"CostMatrix": {"tpWeight": 1.0}}}`)); !errors.Is(err, ErrFormat) {
		t.Errorf("missing weights: %v", err)
	}
}

func TestReadScores(t *testing.T) {
	in := `Detector,Profile,File,Threshold,Score,TP,TN,FP,FN,Total_Count
numenta,standard,realAWSCloudwatch/a.csv,0.5,0.556842909788,5,3021,2,400,4032
Totals,,,,0.556842909788,5,3021,2,400,4032.0
`
	rows, tot, err := ReadScores(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Counts() != (nabscore.Counts{TP: 5, TN: 3021, FP: 2, FN: 400}) || tot.Total != 4032 {
		t.Errorf("%+v %+v", rows, tot)
	}
	if _, _, err := ReadScores(strings.NewReader(strings.SplitAfter(in, "\n")[0] + strings.SplitAfter(in, "\n")[1])); !errors.Is(err, ErrFormat) {
		t.Errorf("no Totals: %v", err)
	}
	if _, _, err := ReadScores(strings.NewReader("a,b\n")); !errors.Is(err, ErrFormat) {
		t.Errorf("bad header: %v", err)
	}
}

func TestReadDetections(t *testing.T) {
	in := "timestamp,value,anomaly_score,raw_score,label\n2013-10-09 16:25:00,9926554.0,0.0301029996659,1.0,0\n"
	ts, sc, err := ReadDetections(strings.NewReader(in))
	if err != nil || len(ts) != 1 || sc[0] != 0.0301029996659 {
		t.Fatalf("%v %v %v", ts, sc, err)
	}
	if _, _, err := ReadDetections(strings.NewReader("timestamp,value\n")); !errors.Is(err, ErrFormat) {
		t.Errorf("no anomaly_score: %v", err)
	}
}

// TestSharedData loads the NAB subset beside the repository, when present:
// every data file has labels and every window limit falls on a row.
func TestSharedData(t *testing.T) {
	dir := "../../../shared/datasets/nab"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("NAB data not found at %s (it lives beside the repository): %v", dir, err)
	}
	labels, err := LoadWindows(filepath.Join(dir, "labels", "combined_windows.json"))
	if err != nil {
		t.Fatal(err)
	}
	series, err := LoadDataDir(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 24 {
		t.Errorf("%d data files, want 24 (17 realAWSCloudwatch + 7 realKnownCause)", len(series))
	}
	windows := 0
	for _, s := range series {
		_, ws, ok := labels.Lookup(s.Name)
		if !ok {
			t.Errorf("%s: no labels", s.Name)
			continue
		}
		if _, err := s.IndexWindows(ws); err != nil {
			t.Error(err)
		}
		windows += len(ws)
	}
	if windows != 49 {
		t.Errorf("%d windows, want 49 (30 + 19)", windows)
	}
	p, err := LoadProfiles(filepath.Join(dir, "config", "profiles.json"))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range nabscore.Profiles() {
		if p[name] != c {
			t.Errorf("profile %s: file %+v, built in %+v", name, p[name], c)
		}
	}
	res, err := LoadResults(filepath.Join(dir, "results"), "standard")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) < 10 {
		t.Errorf("%d detectors with standard results", len(res))
	}
}
