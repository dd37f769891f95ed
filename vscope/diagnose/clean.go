package diagnose

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/vscope/vscope/vscope/store"
)

// gap is a run of missing points of one series in the window that was
// too long to interpolate.
type gap struct {
	from, to int // rows [from, to)
}

// prepared is the cleaned data: the window and baseline on the same
// columns, finite everywhere.
type prepared struct {
	series []store.Series
	W      *mat.Dense // window rows x series
	B      *mat.Dense // baseline rows x series; nil without a baseline
	times  []int64    // window row times (unix ms)
	gaps   map[int][]gap
	notes  []string
	read   int // distinct series read
	// stopped lists the series that reported in the baseline but not in
	// the window; fresh those in the window but not in the baseline.
	stopped, fresh []store.Series
	constant       int
	// bFinite counts each column's baseline points (before filling).
	bFinite []int
}

// prepare aligns the window and baseline on one set of series,
// interpolates short gaps, and drops what cannot be scored: series absent
// from the baseline (nothing to compare with), series absent from the
// window, and series constant throughout. It never fails; what it drops
// is said in notes.
func prepare(in *Input, maxGap, minRows int) *prepared {
	pr := &prepared{gaps: map[int][]gap{}}
	w := in.Window
	if w == nil {
		w = &store.Matrix{}
	}
	pr.times = w.Times
	nw, pw := len(w.Times), len(w.Series)
	if len(w.Values) != nw*pw {
		nw, pw = 0, 0
		pr.times = nil
	}

	// Baseline: finite counts per series across the slices (row-major
	// passes: the matrices are time x series).
	// Rows without any point (the store was down, the agents had not
	// started) are left out.
	// Slices that list the window's series (the same slice, as the store
	// reads them) are counted by position (inBaseW, baseW), the others by
	// name (base), unless the window names a series twice.
	inWindow := make(map[store.Series]bool, pw)
	for _, s := range w.Series {
		inWindow[s] = true
	}
	byPosition := len(inWindow) == len(w.Series)
	base := map[store.Series]int{}
	baseW := make([]int, len(w.Series))
	inBaseW := make([]bool, len(w.Series))
	nb, totalRows := 0, 0
	var slices []*store.Matrix
	var hasData [][]bool // per slice, per row
	for _, m := range in.Baseline {
		if m == nil || len(m.Values) != len(m.Times)*len(m.Series) || len(m.Times) == 0 {
			continue
		}
		slices = append(slices, m)
		totalRows += len(m.Times)
		p := len(m.Series)
		finite := make([]int, p)
		has := make([]bool, len(m.Times))
		for i := range m.Times {
			row := m.Values[i*p : (i+1)*p]
			for j, v := range row {
				if !math.IsNaN(v) && !math.IsInf(v, 0) {
					finite[j]++
					has[i] = true
				}
			}
			if has[i] {
				nb++
			}
		}
		hasData = append(hasData, has)
		if byPosition && sameSeries(m.Series, w.Series) {
			for j, f := range finite {
				baseW[j] += f
				inBaseW[j] = true
			}
			continue
		}
		for j, s := range m.Series {
			base[s] += finite[j]
		}
	}
	if nb < totalRows {
		pr.notes = append(pr.notes, fmt.Sprintf("the baseline has points at %d of the %d steps read (steps without any left out)", nb, totalRows))
	}
	// With a baseline too short for the model, series new in the window
	// are kept and measured against their own window.
	short := nb < minRows

	// Keep window series that have points in both.
	finite := make([]int, pw)
	for i := range nw {
		row := w.Values[i*pw : (i+1)*pw]
		for j, v := range row {
			switch {
			case math.IsInf(v, 0):
				row[j] = math.NaN()
			case !math.IsNaN(v):
				finite[j]++
			}
		}
	}
	keep := make([]int, 0, pw)
	for j, s := range w.Series {
		b, inBase := base[s]
		if inBaseW[j] {
			b += baseW[j]
			inBase = true
		}
		switch {
		case finite[j] == 0 && b > 0:
			pr.stopped = append(pr.stopped, s)
		case finite[j] == 0:
			// never reported in either: nothing to say
		case len(slices) > 0 && (!inBase || b == 0) && !short:
			pr.fresh = append(pr.fresh, s)
		default:
			keep = append(keep, j)
		}
	}
	for s, b := range base {
		if !inWindow[s] && b > 0 {
			pr.stopped = append(pr.stopped, s)
		}
	}
	pr.read = len(inWindow)
	for s := range base {
		if !inWindow[s] {
			pr.read++
		}
	}
	sortSeries(pr.stopped)
	if len(pr.stopped) > 0 {
		pr.notes = append(pr.notes, fmt.Sprintf("%d series reported in the baseline but not in the window (not scored): %s",
			len(pr.stopped), seriesList(pr.stopped, 5)))
	}
	if len(pr.fresh) > 0 {
		pr.notes = append(pr.notes, fmt.Sprintf("%d series are absent from the baseline (new; not scored): %s",
			len(pr.fresh), seriesList(pr.fresh, 5)))
	}

	p := len(keep)
	pr.series = make([]store.Series, p)
	wMissing := make([]bool, p)
	for k, j := range keep {
		pr.series[k] = w.Series[j]
		wMissing[k] = finite[j] < nw
	}
	if p == 0 || nw == 0 {
		pr.W = nil
		return pr
	}
	pr.W = compactColumns(w.Values, nw, pw, keep)

	bMissing := make([]bool, p)
	bFinite := make([]int, p)
	pr.bFinite = bFinite
	if nb > 0 {
		// Slices read from the same dictionary list the same series as
		// the window: they are mapped by position, not by name, and when
		// the store laid them out one after another (store.Contiguous),
		// the baseline is gathered in their memory: each kept value moves
		// to a place at or before its own, after it was read.
		var data []float64
		inPlace := true
		for _, m := range slices {
			inPlace = inPlace && sameSeries(m.Series, w.Series)
		}
		if all := store.Contiguous(slices); inPlace && all != nil {
			data = all[:nb*p]
		} else {
			data = make([]float64, nb*p)
		}
		row := 0
		var col map[store.Series]int
		fromWindow := make([]int, pw) // window column -> kept column or -1
		for j := range fromWindow {
			fromWindow[j] = -1
		}
		for k, j := range keep {
			fromWindow[j] = k
		}
		for si, m := range slices {
			mp := len(m.Series)
			var dst []int // slice column -> kept column or -1
			present := make([]bool, p)
			if sameSeries(m.Series, w.Series) {
				dst = fromWindow
				for k := range present {
					present[k] = true
				}
			} else {
				if col == nil {
					col = make(map[store.Series]int, p)
					for k, s := range pr.series {
						col[s] = k
					}
				}
				dst = make([]int, mp)
				for j, s := range m.Series {
					if k, ok := col[s]; ok {
						dst[j] = k
						present[k] = true
					} else {
						dst[j] = -1
					}
				}
			}
			all := true
			for k, ok := range present {
				if !ok {
					bMissing[k], all = true, false
				}
			}
			for i := range m.Times {
				if !hasData[si][i] {
					continue
				}
				out := data[row*p : (row+1)*p]
				row++
				if !all {
					for k := range out {
						out[k] = math.NaN()
					}
				}
				src := m.Values[i*mp : (i+1)*mp]
				for j, k := range dst {
					if k < 0 {
						continue
					}
					v := src[j]
					if math.IsNaN(v) || math.IsInf(v, 0) {
						out[k] = math.NaN()
						bMissing[k] = true
						continue
					}
					out[k] = v
					bFinite[k]++
				}
			}
		}
		pr.B = mat.NewDense(nb, p, data)
	}

	// Interpolate the columns with missing points.
	var sparse int
	wraw := pr.W.RawMatrix()
	for k := range p {
		if wMissing[k] {
			if gs, _ := fillColumn(wraw.Data, nw, p, k, maxGap); len(gs) > 0 {
				pr.gaps[k] = gs
			}
		}
		if pr.B != nil && bMissing[k] {
			braw := pr.B.RawMatrix()
			fillColumn(braw.Data, nb, p, k, maxGap)
			if bFinite[k]*2 < nb {
				sparse++
			}
		}
	}
	if sparse > 0 {
		pr.notes = append(pr.notes, fmt.Sprintf("%d series have points at fewer than half of the baseline's steps (gaps filled with the nearest value)", sparse))
	}
	if len(pr.gaps) > 0 {
		pr.notes = append(pr.notes, fmt.Sprintf("%d series have gaps longer than %d steps in the window (held at the nearest value, not interpolated)", len(pr.gaps), maxGap))
	}

	// Drop series constant in both.
	constant := constantColumns(wraw.Data, nw, p, pr.B)
	keep = keep[:0]
	for k := range p {
		if !constant[k] {
			keep = append(keep, k)
		}
	}
	if len(keep) < p {
		pr.constant = p - len(keep)
		pr.notes = append(pr.notes, fmt.Sprintf("%d series are constant in the baseline and the window (dropped)", pr.constant))
		series := make([]store.Series, len(keep))
		gaps := map[int][]gap{}
		for nk, k := range keep {
			series[nk] = pr.series[k]
			if g, ok := pr.gaps[k]; ok {
				gaps[nk] = g
			}
		}
		bf := make([]int, len(keep))
		for nk, k := range keep {
			bf[nk] = pr.bFinite[k]
		}
		pr.series, pr.gaps, pr.bFinite = series, gaps, bf
		if len(keep) == 0 {
			pr.W, pr.B = nil, nil
			return pr
		}
		pr.W = compactColumns(wraw.Data, nw, p, keep)
		if pr.B != nil {
			braw := pr.B.RawMatrix()
			pr.B = compactColumns(braw.Data, nb, p, keep)
		}
	}
	return pr
}

// constantColumns reports the columns that hold one value in the window
// data (n x p, row-major) and in B.
func constantColumns(w []float64, n, p int, B *mat.Dense) []bool {
	out := make([]bool, p)
	if n == 0 {
		for k := range out {
			out[k] = true
		}
		return out
	}
	first := w[:p]
	// The columns not yet seen to vary: after a few rows only the
	// constant ones are left to compare.
	cand := make([]int, p)
	for k := range cand {
		cand[k] = k
	}
	scan := func(data []float64, rows, stride int) {
		for i := 0; i < rows && len(cand) > 0; i++ {
			row := data[i*stride : i*stride+p]
			kept := cand[:0]
			for _, k := range cand {
				if row[k] == first[k] {
					kept = append(kept, k)
				}
			}
			cand = kept
		}
	}
	scan(w, n, p)
	if B != nil {
		raw := B.RawMatrix()
		rows, _ := B.Dims()
		scan(raw.Data, rows, raw.Stride)
	}
	for _, k := range cand {
		out[k] = true
	}
	return out
}

func sameSeries(a, b []store.Series) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) > 0 && &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// compactColumns returns the n x len(keep) matrix of the columns keep
// (increasing) of the n x p row-major data, reusing data's memory.
func compactColumns(data []float64, n, p int, keep []int) *mat.Dense {
	q := len(keep)
	if q == p {
		return mat.NewDense(n, p, data[:n*p])
	}
	for i := range n {
		src := i * p
		dst := i * q
		for k, j := range keep {
			// dst+k <= src+j: writes never pass the reads still to come.
			data[dst+k] = data[src+j]
		}
	}
	return mat.NewDense(n, q, data[:n*q])
}

// fillColumn fills the NaN cells of column j in place: interior runs of at
// most maxGap linearly, longer runs and the ends with the nearest value
// before (or after, at the start). It returns the runs longer than maxGap
// and the count of finite cells. An all-NaN column is set to 0.
func fillColumn(data []float64, n, p, j, maxGap int) (long []gap, finite int) {
	last := -1
	for i := 0; i <= n; i++ {
		if i < n && math.IsNaN(data[i*p+j]) {
			continue
		}
		if i < n {
			finite++
		}
		// Cells (last, i) are missing.
		if i-last > 1 {
			a, b := last+1, i
			if b-a > maxGap {
				long = append(long, gap{a, b})
			}
			switch {
			case last < 0 && i == n:
				for r := a; r < b; r++ {
					data[r*p+j] = 0
				}
			case last < 0:
				v := data[i*p+j]
				for r := a; r < b; r++ {
					data[r*p+j] = v
				}
			case i == n || b-a > maxGap:
				v := data[last*p+j]
				for r := a; r < b; r++ {
					data[r*p+j] = v
				}
			default:
				v0, v1 := data[last*p+j], data[i*p+j]
				for r := a; r < b; r++ {
					f := float64(r-last) / float64(i-last)
					data[r*p+j] = v0 + f*(v1-v0)
				}
			}
		}
		last = i
	}
	return long, finite
}

func sortSeries(s []store.Series) {
	sort.Slice(s, func(i, j int) bool { return s[i].String() < s[j].String() })
}

// seriesList names up to n series, then how many more.
func seriesList(s []store.Series, n int) string {
	var parts []string
	for i, x := range s {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(s)-n))
			break
		}
		parts = append(parts, x.String())
	}
	return strings.Join(parts, ", ")
}
