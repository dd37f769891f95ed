package interp

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	in := "# comment\n760-765:4,5,7\n\n1064-1298:19,6, 6\n"
	f := func(conv Range, want []Segment) {
		t.Helper()
		got, err := ParseLabels(strings.NewReader(in), conv)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", conv, got, want)
		}
	}
	// ASD: 760-765 is rows 760..765 -> [760, 766); ids are 1-based.
	f(Inclusive, []Segment{
		{Start: 760, End: 766, Metrics: []int{3, 4, 6}, Line: 2},
		{Start: 1064, End: 1299, Metrics: []int{5, 18}, Line: 4},
	})
	// SMD: [760, 765).
	f(HalfOpen, []Segment{
		{Start: 760, End: 765, Metrics: []int{3, 4, 6}, Line: 2},
		{Start: 1064, End: 1298, Metrics: []int{5, 18}, Line: 4},
	})
}

func TestParseLabelsErrors(t *testing.T) {
	f := func(in string, conv Range, wantLine string) {
		t.Helper()
		_, err := ParseLabels(strings.NewReader(in), conv)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), wantLine) {
			t.Errorf("%q: err = %v, want ErrFormat at %s", in, err, wantLine)
		}
	}
	f("1-2:1\n3-4\n", Inclusive, "line 2")
	f("a-2:1\n", Inclusive, "line 1")
	f("5-5:1\n", HalfOpen, "line 1")  // empty half-open range
	f("1-2:0\n", Inclusive, "line 1") // ids are 1-based
	f("1-2:\n", Inclusive, "line 1")
	f("7:1\n", Inclusive, "line 1")
	if _, err := ParseLabels(strings.NewReader("5-5:1\n"), Inclusive); err != nil {
		t.Errorf("one-row inclusive range rejected: %v", err)
	}
}

func TestParseRange(t *testing.T) {
	for in, want := range map[string]Range{"inclusive": Inclusive, "half-open": HalfOpen, "HalfOpen": HalfOpen} {
		if got, err := ParseRange(in); err != nil || got != want {
			t.Errorf("ParseRange(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseRange("closed"); err == nil {
		t.Error("unknown convention accepted")
	}
}

func TestValidateAndRowTruth(t *testing.T) {
	segs := []Segment{
		{Start: 1, End: 3, Metrics: []int{0, 2}, Line: 1},
		{Start: 2, End: 4, Metrics: []int{1}, Line: 2},
	}
	if err := Validate(segs, 4, 3); err != nil {
		t.Fatal(err)
	}
	err := Validate(append(segs, Segment{Start: 3, End: 9, Metrics: []int{5}, Line: 3}), 4, 3)
	if !errors.Is(err, ErrRange) || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "metric id 6") {
		t.Errorf("err = %v", err)
	}
	got := RowTruth(segs, 5)
	want := [][]int{nil, {0, 2}, {0, 1, 2}, {1}, nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RowTruth = %v, want %v", got, want)
	}
}

func TestParseMatrix(t *testing.T) {
	m, err := ParseMatrix(strings.NewReader("0.5,1,2\n\n3, 4 ,5e-1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r, c := m.Dims(); r != 2 || c != 3 || m.At(1, 2) != 0.5 || m.At(1, 1) != 4 {
		t.Errorf("matrix %v", m)
	}
	if _, err := ParseMatrix(strings.NewReader("1,2\n3\n")); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ragged: %v", err)
	}
	if _, err := ParseMatrix(strings.NewReader("1,x\n")); !errors.Is(err, ErrFormat) {
		t.Errorf("not a number: %v", err)
	}
	if _, err := ParseMatrix(strings.NewReader("")); !errors.Is(err, ErrFormat) {
		t.Errorf("empty: %v", err)
	}
	path := filepath.Join(t.TempDir(), "m.csv")
	if err := os.WriteFile(path, []byte("1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMatrixFile(path); err != nil {
		t.Error(err)
	}
}

// TestASDLabels reads every ASD label file when the public data is present
// beside the project (it is never copied into the repository).
func TestASDLabels(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "datasets", "asd", "interpretation_label")
	files, _ := filepath.Glob(filepath.Join(dir, "omi-*.txt"))
	if len(files) == 0 {
		t.Skipf("no ASD data at %s", dir)
	}
	for _, f := range files {
		segs, err := ReadLabelsFile(f, Inclusive)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(segs, 4320, 19); err != nil || len(segs) == 0 {
			t.Errorf("%s: %d segments, %v", f, len(segs), err)
		}
	}
}
