package interp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// Errors returned by the loaders, wrapped with file, line and detail.
var (
	// ErrFormat is returned for a line that does not parse.
	ErrFormat = errors.New("interp: bad format")
	// ErrRange is returned for a segment or metric id outside the data.
	ErrRange = errors.New("interp: out of range")
)

// Range is the convention of the end of a label segment.
type Range int

const (
	// Inclusive ranges include their end row (ASD).
	Inclusive Range = iota
	// HalfOpen ranges exclude their end row (SMD).
	HalfOpen
)

// ParseRange accepts "inclusive" or "half-open" (also "halfopen").
func ParseRange(s string) (Range, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "inclusive":
		return Inclusive, nil
	case "half-open", "halfopen", "half_open":
		return HalfOpen, nil
	}
	return 0, fmt.Errorf("%w: range convention %q: want inclusive or half-open", ErrFormat, s)
}

// String returns the flag spelling of r.
func (r Range) String() string {
	if r == HalfOpen {
		return "half-open"
	}
	return "inclusive"
}

// Segment is one labelled anomaly: rows [Start, End) and the metrics
// responsible for it.
type Segment struct {
	// Start is the first row, End one past the last (half-open).
	Start, End int
	// Metrics are the responsible metrics as 0-based column indices (the
	// file's 1-based ids minus one), sorted and without duplicates.
	Metrics []int
	// Line is the 1-based line of the label file the segment came from.
	Line int
}

// ParseLabels reads interpretation labels. Blank lines and lines starting
// with '#' are skipped. Errors carry the line number.
func ParseLabels(r io.Reader, conv Range) ([]Segment, error) {
	var segs []Segment
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		seg, err := parseSegment(text, conv)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		seg.Line = line
		segs = append(segs, seg)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return segs, nil
}

func parseSegment(text string, conv Range) (Segment, error) {
	rng, dims, ok := strings.Cut(text, ":")
	if !ok {
		return Segment{}, fmt.Errorf("%w: %q: want start-end:d1,d2,...", ErrFormat, text)
	}
	a, b, ok := strings.Cut(strings.TrimSpace(rng), "-")
	if !ok {
		return Segment{}, fmt.Errorf("%w: range %q: want start-end", ErrFormat, rng)
	}
	start, err1 := strconv.Atoi(strings.TrimSpace(a))
	end, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || start < 0 {
		return Segment{}, fmt.Errorf("%w: range %q: want non-negative integers", ErrFormat, rng)
	}
	if conv == Inclusive {
		end++
	}
	if end <= start {
		return Segment{}, fmt.Errorf("%w: range %q is empty under the %s convention", ErrFormat, rng, conv)
	}
	var metrics []int
	for f := range strings.SplitSeq(dims, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		id, err := strconv.Atoi(f)
		if err != nil || id < 1 {
			return Segment{}, fmt.Errorf("%w: metric id %q: want an integer >= 1 (ids are 1-based)", ErrFormat, f)
		}
		metrics = append(metrics, id-1)
	}
	if len(metrics) == 0 {
		return Segment{}, fmt.Errorf("%w: %q names no metric", ErrFormat, text)
	}
	slices.Sort(metrics)
	return Segment{Start: start, End: end, Metrics: slices.Compact(metrics)}, nil
}

// ReadLabelsFile reads a label file with ParseLabels.
func ReadLabelsFile(path string, conv Range) ([]Segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	segs, err := ParseLabels(f, conv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return segs, nil
}

// Validate checks every segment against a matrix of rows x cols and
// reports all problems at once.
func Validate(segs []Segment, rows, cols int) error {
	var errs []error
	for _, s := range segs {
		if s.End > rows {
			errs = append(errs, fmt.Errorf("line %d: %w: rows %d..%d beyond the %d test rows", s.Line, ErrRange, s.Start, s.End-1, rows))
		}
		for _, m := range s.Metrics {
			if m >= cols {
				errs = append(errs, fmt.Errorf("line %d: %w: metric id %d beyond the %d metrics", s.Line, ErrRange, m+1, cols))
			}
		}
	}
	return errors.Join(errs...)
}

// RowTruth returns, for rows 0..rows-1, the responsible metrics of each row
// (nil for normal rows). Where segments overlap, their metrics are merged.
func RowTruth(segs []Segment, rows int) [][]int {
	out := make([][]int, rows)
	for _, s := range segs {
		for i := max(s.Start, 0); i < min(s.End, rows); i++ {
			if out[i] == nil {
				out[i] = slices.Clone(s.Metrics)
				continue
			}
			out[i] = append(out[i], s.Metrics...)
			slices.Sort(out[i])
			out[i] = slices.Compact(out[i])
		}
	}
	return out
}

// ParseMatrix reads a headerless CSV of floats into a matrix. Every row must
// have the same number of fields. Blank lines are skipped.
func ParseMatrix(r io.Reader) (*mat.Dense, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var data []float64
	cols, rows, line := -1, 0, 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		n := 0
		for f := range strings.SplitSeq(text, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return nil, fmt.Errorf("line %d field %d: %w: %q is not a number", line, n+1, ErrFormat, f)
			}
			data = append(data, v)
			n++
		}
		if cols >= 0 && n != cols {
			return nil, fmt.Errorf("line %d: %w: %d fields, earlier rows have %d", line, ErrFormat, n, cols)
		}
		cols = n
		rows++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if rows == 0 {
		return nil, fmt.Errorf("%w: no rows", ErrFormat)
	}
	return mat.NewDense(rows, cols, data), nil
}

// ReadMatrixFile reads a matrix with ParseMatrix.
func ReadMatrixFile(path string) (*mat.Dense, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := ParseMatrix(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
