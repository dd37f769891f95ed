package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writeInterpData writes a small data set in the interpretation-label
// format: 6 metrics, the first four following one cycle, with metric id 3
// (1-based) breaking away in test rows 100..139 (labels inclusive).
func writeInterpData(t *testing.T) (train, test, labels string) {
	t.Helper()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 7))
	gen := func(n, offset int, fault bool) string {
		var b strings.Builder
		for i := range n {
			f := math.Sin(2 * math.Pi * float64(i+offset) / 50)
			row := []float64{
				0.5 + 0.3*f + 0.01*r.NormFloat64(),
				0.5 + 0.2*f + 0.01*r.NormFloat64(),
				0.5 + 0.25*f + 0.01*r.NormFloat64(),
				0.5 + 0.1*f + 0.01*r.NormFloat64(),
				0.5 + 0.05*r.NormFloat64(),
				0.3 + 0.05*r.NormFloat64(),
			}
			if fault && i >= 100 && i < 140 {
				row[2] += 0.2
			}
			for j, v := range row {
				if j > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%.4f", v)
			}
			b.WriteByte('\n')
		}
		return b.String()
	}
	train = filepath.Join(dir, "train.csv")
	test = filepath.Join(dir, "test.csv")
	labels = filepath.Join(dir, "labels.txt")
	for path, body := range map[string]string{
		train:  gen(1000, 0, false),
		test:   gen(200, 1000, true),
		labels: "100-139:3\n",
	} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return train, test, labels
}

func TestEvalInterpJSONAndDump(t *testing.T) {
	train, test, labels := writeInterpData(t)
	dump := filepath.Join(t.TempDir(), "rows.jsonl")
	var out bytes.Buffer
	err := runEvalInterp(&out, interpOptions{train: train, test: test, labels: labels,
		rangeConv: "inclusive", format: "json", dump: dump})
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	for _, k := range []string{"hitrate_100", "hitrate_150", "ndcg_100", "ndcg_150", "f1", "f1_pa",
		"hitrate_100_detected", "zscore_hitrate_100", "random_hitrate_150"} {
		if _, ok := res[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if res["labelled_rows"].(float64) != 40 || res["hitrate_100"].(float64) < 0.95 {
		t.Errorf("labelled rows %v, hitrate_100 %v", res["labelled_rows"], res["hitrate_100"])
	}
	f, err := os.Open(dump)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var line struct {
			Row     int     `json:"row"`
			Score   float64 `json:"score"`
			Ranking []int   `json:"ranking"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("dump line %d: %v", n+1, err)
		}
		if line.Row != n || len(line.Ranking) != 6 {
			t.Fatalf("dump line %d: %+v", n+1, line)
		}
		if line.Row == 120 && line.Ranking[0] != 3 {
			t.Errorf("row 120 ranking %v, want metric id 3 first", line.Ranking)
		}
		n++
	}
	if n != 200 {
		t.Errorf("dump has %d lines, want 200", n)
	}
}

func TestEvalInterpErrors(t *testing.T) {
	train, test, labels := writeInterpData(t)
	bad := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(bad, []byte("100-139:3\n150-400:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := func(o interpOptions, want string) {
		t.Helper()
		err := runEvalInterp(&bytes.Buffer{}, o)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
	f(interpOptions{train: train, test: test, labels: labels, rangeConv: "closed", format: "table"}, "--range")
	f(interpOptions{train: train, test: test, labels: labels, rangeConv: "inclusive", format: "xml"}, "--format")
	f(interpOptions{train: train, test: test, labels: bad, rangeConv: "inclusive", format: "table"}, "line 2")
	f(interpOptions{train: train, test: filepath.Join(t.TempDir(), "none.csv"), labels: labels, rangeConv: "inclusive", format: "table"}, "none.csv")
}

func TestEvalInterpDegenerateBaseline(t *testing.T) {
	// A baseline where nothing varies: no components, no limits; the JSON
	// must still encode (no Inf) and the ranking still work.
	dir := t.TempDir()
	train := filepath.Join(dir, "train.csv")
	test := filepath.Join(dir, "test.csv")
	labels := filepath.Join(dir, "labels.txt")
	for path, body := range map[string]string{
		train:  strings.Repeat("1,2,3\n", 20),
		test:   "1,2,3\n1,5,3\n1,2,3\n",
		labels: "1-1:2\n",
	} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := runEvalInterp(&out, interpOptions{train: train, test: test, labels: labels, rangeConv: "inclusive", format: "json"}); err != nil {
		t.Fatal(err)
	}
	var res struct {
		H100 float64 `json:"hitrate_100"`
		K    int     `json:"components"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.H100 != 1 || res.K != 0 {
		t.Errorf("res %+v err %v\n%s", res, err, out.String())
	}
}

func TestEvalInterpCLI(t *testing.T) {
	train, test, labels := writeInterpData(t)
	out, err := exec.Command(vscopeBin, "eval", "interp", "--train", train, "--test", test,
		"--labels", labels, "--range", "inclusive").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "HitRate@150%") || !strings.Contains(string(out), "z-score floor") {
		t.Errorf("table output:\n%s", out)
	}
	out, err = exec.Command(vscopeBin, "eval", "interp", "--train", train).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "required") {
		t.Errorf("missing flags: err %v\n%s", err, out)
	}
}

// TestEvalInterpASD runs the evaluation on one ASD entity when the public
// data sits beside the project (../shared/datasets/asd, or VSCOPE_ASD_DIR)
// and checks that the ranking beats the per-metric z-score floor computed in
// the same run. omi-6 is the entity the method was developed on (see
// docs/bench/asd-eval.md); all twelve are run by docs/bench/asd-eval.sh.
func TestEvalInterpASD(t *testing.T) {
	dir := os.Getenv("VSCOPE_ASD_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "datasets", "asd")
	}
	train := filepath.Join(dir, "csv", "omi-6_train.csv")
	if _, err := os.Stat(train); err != nil {
		t.Skipf("no ASD data at %s (set VSCOPE_ASD_DIR): %v", dir, err)
	}
	out, err := exec.Command(vscopeBin, "eval", "interp", "--format", "json",
		"--train", train, "--test", filepath.Join(dir, "csv", "omi-6_test.csv"),
		"--labels", filepath.Join(dir, "interpretation_label", "omi-6.txt"), "--range", "inclusive").Output()
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		H100  float64 `json:"hitrate_100"`
		H150  float64 `json:"hitrate_150"`
		Z100  float64 `json:"zscore_hitrate_100"`
		Z150  float64 `json:"zscore_hitrate_150"`
		R150  float64 `json:"random_hitrate_150"`
		Rows  int     `json:"labelled_rows"`
		Score float64 `json:"ndcg_150"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("omi-6: HitRate@100 %.3f (z %.3f), HitRate@150 %.3f (z %.3f, random %.3f), %d rows",
		res.H100, res.Z100, res.H150, res.Z150, res.R150, res.Rows)
	if res.Rows == 0 || res.H100 <= res.Z100 || res.H150 <= res.Z150 {
		t.Errorf("does not beat the z-score floor: %+v", res)
	}
}

// TestEvalSuiteRescoreBadDir: --rescore on a directory without kept runs,
// or one that does not exist, is an error that names it.
func TestEvalSuiteRescoreBadDir(t *testing.T) {
	empty := t.TempDir()
	for _, dir := range []string{empty, filepath.Join(empty, "missing")} {
		out, err := exec.Command(vscopeBin, "eval", "suite", "--rescore", dir).CombinedOutput()
		if err == nil || !strings.Contains(string(out), dir) {
			t.Errorf("--rescore %s: %v, output %q; want an error naming the directory", dir, err, out)
		}
	}
}

// TestEvalSuiteBadFlow: a flow without web servers or collectors is
// refused before anything starts, naming the flag.
func TestEvalSuiteBadFlow(t *testing.T) {
	for _, args := range [][]string{{"--web-hosts", "0"}, {"--collectors", "-1"}} {
		out, err := exec.Command(vscopeBin, append([]string{"eval", "suite", "--dir", t.TempDir()}, args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), args[0]) {
			t.Errorf("%v: %v, output %q; want an error naming %s", args, err, out, args[0])
		}
	}
}
