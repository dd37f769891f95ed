package analysis

import (
	"math"
	"runtime"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// The fast kernels of Fit, Diagnose and Order (column blocks, radix sort,
// merged MAD, log tables, sliding maxima, top-k selection) must give
// bit-for-bit the results of the plain algorithms they replaced, which are
// kept here as references.

// refFitBaseline is the plain FitBaseline: a full sort of each column, the
// MAD by selection over a copy of the deviations.
func refFitBaseline(X *mat.Dense) *Baseline {
	n, p := X.Dims()
	b := &Baseline{Median: make([]float64, p), Scale: make([]float64, p), Q1: make([]float64, p),
		Q3: make([]float64, p), Constant: make([]bool, p), Resolution: make([]float64, p)}
	col := make([]float64, n)
	dev := make([]float64, n)
	for j := range p {
		for i := range n {
			col[i] = X.At(i, j)
		}
		slices.Sort(col)
		med := quantileSorted(col, 0.5)
		b.Median[j] = med
		b.Q1[j] = quantileSorted(col, 0.25)
		b.Q3[j] = quantileSorted(col, 0.75)
		if col[0] == col[n-1] {
			b.Constant[j] = true
			continue
		}
		sumAbs := 0.0
		for i, v := range col {
			dev[i] = math.Abs(v - med)
			sumAbs += dev[i]
		}
		s := 1.4826 * medianInPlace(dev)
		if s == 0 {
			s = 1.2533 * sumAbs / float64(n)
		}
		b.Resolution[j] = resolution(col)
		b.Scale[j] = math.Max(s, b.Resolution[j])
	}
	var scales []float64
	for j, c := range b.Constant {
		if !c {
			scales = append(scales, b.Scale[j])
		}
	}
	fallback := 1.0
	if len(scales) > 0 {
		fallback = medianInPlace(scales)
	}
	for j, c := range b.Constant {
		if c {
			b.Scale[j] = fallback
		}
	}
	return b
}

// refFitEbAT is the plain FitEbAT: a logarithm per window.
func refFitEbAT(X *mat.Dense, window, bins int) *EbAT {
	n, p := X.Dims()
	e := &EbAT{Window: window, Bins: bins, Lo: make([]float64, p), Hi: make([]float64, p),
		Mean: make([]float64, p), Std: make([]float64, p)}
	for j := range p {
		col := make([]float64, n)
		mn, mx := math.Inf(1), math.Inf(-1)
		for i := range n {
			v := X.At(i, j)
			col[i] = v
			mn, mx = math.Min(mn, v), math.Max(mx, v)
		}
		e.Lo[j], e.Hi[j] = mn, mx
		counts := make([]int, bins+2)
		binOf := make([]int, n)
		clog := make([]float64, window+1)
		for c := 2; c <= window; c++ {
			clog[c] = float64(c) * math.Log2(float64(c))
		}
		sum := 0.0
		move := func(b, delta int) {
			sum -= clog[counts[b]]
			counts[b] += delta
			sum += clog[counts[b]]
		}
		var ent []float64
		for i, v := range col {
			if i >= window {
				move(binOf[i-window], -1)
			}
			b := e.bin(j, v)
			binOf[i] = b
			move(b, 1)
			w := float64(min(i+1, window))
			ent = append(ent, math.Max(0, math.Log2(w)-sum/w))
		}
		full := ent[min(window-1, len(ent)-1):]
		m, s := 0.0, 0.0
		for _, h := range full {
			m += h
		}
		m /= float64(len(full))
		for _, h := range full {
			s += (h - m) * (h - m)
		}
		if len(full) > 1 {
			s = math.Sqrt(s / float64(len(full)-1))
		}
		e.Mean[j], e.Std[j] = m, s
	}
	return e
}

// refSignals is the plain per-cell loop of Diagnose: row by row, with the
// persistence as a scan of the previous Window-1 rows.
func refSignals(m *Model, X *mat.Dense) (z, ew, rbc, persist []float32, maxRes []float64) {
	n, p := X.Dims()
	R, _, _, err := m.PCA.ResidualMatrix(X)
	if err != nil {
		panic(err)
	}
	z, ew, rbc, persist = make([]float32, n*p), make([]float32, n*p), make([]float32, n*p), make([]float32, n*p)
	maxRes = make([]float64, n)
	fused := make([]float32, n*p)
	e := &EWMA{Alpha: NewEWMA(m.Config.Window).Alpha, Level: slices.Clone(m.ewma0)}
	dev := make([]float64, p)
	for i := range n {
		x := X.RawRowView(i)
		e.Update(x, dev)
		r := R.RawRowView(i)
		for j, v := range x {
			zz := (v - m.Base.Median[j]) / m.Base.Scale[j]
			ee := math.Abs(dev[j]) / m.Base.Scale[j]
			c := math.Abs(r[j]) / m.resScale[j]
			if m.Config.SpreadRBC {
				c = 0
				if dd := m.PCA.resDiag[j]; dd > 1e-10 {
					c = math.Abs(r[j]) / math.Sqrt(dd)
				}
			}
			z[i*p+j], ew[i*p+j], rbc[i*p+j] = float32(zz), float32(ee), float32(c)
			fused[i*p+j] = float32(math.Abs(zz) + ee + c)
			maxRes[i] = math.Max(maxRes[i], math.Abs(r[j])/m.resScale[j])
		}
	}
	w := m.Config.Window
	for i := range n {
		copy(persist[i*p:(i+1)*p], fused[i*p:(i+1)*p])
		for k := max(0, i-w+1); k < i; k++ {
			for j := range p {
				persist[i*p+j] = max(persist[i*p+j], fused[k*p+j])
			}
		}
	}
	return z, ew, rbc, persist, maxRes
}

// refOrder is the plain Order: a stable sort of every metric.
func refOrder(d *Diagnosis, i int) []int {
	p := d.Metrics
	dst := make([]int, p)
	for j := range dst {
		dst[j] = j
	}
	off := i * p
	key := d.persist[off : off+p]
	slices.SortStableFunc(dst, func(a, b int) int {
		switch {
		case key[a] > key[b]:
			return -1
		case key[a] < key[b]:
			return 1
		}
		na := math.Abs(float64(d.z[off+a])) + float64(d.ew[off+a]) + float64(d.rbc[off+a])
		nb := math.Abs(float64(d.z[off+b])) + float64(d.ew[off+b]) + float64(d.rbc[off+b])
		switch {
		case na > nb:
			return -1
		case na < nb:
			return 1
		}
		return a - b
	})
	return dst
}

// refData is n x p with the shapes that stress the kernels: smooth and
// noisy columns, quantised columns with many ties, a column that mostly
// sits on one value, a constant one, negative values and zeros of both
// signs, a shift in the last rows.
func refData(seed uint64, n, p int) *mat.Dense {
	r := newRand(seed)
	X := mat.NewDense(n, p, nil)
	for j := range p {
		level := 1000 * r.NormFloat64()
		for i := range n {
			var v float64
			switch j % 7 {
			case 0:
				v = level + 10*r.NormFloat64()
			case 1:
				v = math.Round(level + 3*r.NormFloat64()) // ties
			case 2:
				v = 0 // mostly zero, rare spikes
				if r.IntN(50) == 0 {
					v = float64(1 + r.IntN(5))
				}
			case 3:
				v = 42 // constant
			case 4:
				v = r.NormFloat64() * 1e-9 // tiny, both signs
				if i%5 == 0 {
					v = math.Copysign(0, r.NormFloat64())
				}
			case 5:
				v = level*math.Sin(float64(i)/30) + r.NormFloat64()
			default:
				v = float64(r.IntN(3)) * 0.25 // ties, zeros of both signs
				if v == 0 && r.IntN(2) == 0 {
					v = math.Copysign(0, -1)
				}
			}
			if i >= n-n/8 && j%11 == 0 {
				v += 50
			}
			X.Set(i, j, v)
		}
	}
	return X
}

func sameFloats(t *testing.T, name string, got, want []float64) {
	t.Helper()
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) && !(got[i] == 0 && want[i] == 0) {
			t.Fatalf("%s[%d] = %v, reference %v", name, i, got[i], want[i])
		}
	}
}

func sameFloat32s(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] == 0 && want[i] == 0) {
			t.Fatalf("%s[%d] = %v, reference %v", name, i, got[i], want[i])
		}
	}
}

func TestFastKernelsMatchReference(t *testing.T) {
	for _, c := range []struct {
		n, p int
		seed uint64
	}{{2, 3, 1}, {7, 20, 2}, {47, 30, 3}, {48, 33, 4}, {100, 50, 5}, {601, 70, 6}, {600, 130, 7}} {
		X := refData(c.seed, c.n, c.p)
		b, err := FitBaseline(X)
		if err != nil {
			t.Fatal(err)
		}
		rb := refFitBaseline(X)
		sameFloats(t, "median", b.Median, rb.Median)
		sameFloats(t, "scale", b.Scale, rb.Scale)
		sameFloats(t, "q1", b.Q1, rb.Q1)
		sameFloats(t, "q3", b.Q3, rb.Q3)
		sameFloats(t, "resolution", b.Resolution, rb.Resolution)
		if !slices.Equal(b.Constant, rb.Constant) {
			t.Fatalf("%dx%d: constant columns differ", c.n, c.p)
		}
		for _, w := range []int{2, 12, 17} {
			e, err := FitEbAT(X, w, 8)
			if err != nil {
				t.Fatal(err)
			}
			re := refFitEbAT(X, w, 8)
			sameFloats(t, "ebat lo", e.Lo, re.Lo)
			sameFloats(t, "ebat hi", e.Hi, re.Hi)
			sameFloats(t, "ebat mean", e.Mean, re.Mean)
			sameFloats(t, "ebat std", e.Std, re.Std)
		}
		if c.n < 3 {
			continue
		}
		for _, cfg := range []Config{{}, {Window: 5}, {SpreadRBC: true}, {PCA: PCAConfig{Components: 3}}, {PCA: PCAConfig{KeepNoise: true, MaxComponents: 70}}} {
			m, err := Fit(X, cfg)
			if err != nil {
				t.Fatal(err)
			}
			sameFloats(t, "fit median", m.Base.Median, rb.Median)
			cfgD := cfg.withDefaults()
			re := refFitEbAT(X, max(cfgD.Window, 2), cfgD.EntropyBins)
			for j := range re.Lo { // bit for bit, the sign of zero too
				if math.Float64bits(m.EbAT.Lo[j]) != math.Float64bits(re.Lo[j]) || math.Float64bits(m.EbAT.Hi[j]) != math.Float64bits(re.Hi[j]) {
					t.Fatalf("fit ebat range %d: [%v, %v], reference [%v, %v]", j, m.EbAT.Lo[j], m.EbAT.Hi[j], re.Lo[j], re.Hi[j])
				}
			}
			ref := NewEWMA(cfgD.Window)
			for i := range c.n {
				ref.Update(X.RawRowView(i), nil)
			}
			sameFloats(t, "ewma level", m.ewma0, ref.Level)
			sameFloats(t, "fit ebat mean", m.EbAT.Mean, re.Mean)
			sameFloats(t, "fit ebat std", m.EbAT.Std, re.Std)
			W := refData(c.seed+100, c.n, c.p)
			d, err := m.Diagnose(W)
			if err != nil {
				t.Fatal(err)
			}
			R0, spe0, t20, err := m.PCA.ResidualMatrix(W)
			if err != nil {
				t.Fatal(err)
			}
			R1, spe1, t21, err := m.PCA.residuals(W)
			if err != nil {
				t.Fatal(err)
			}
			sameFloats(t, "residuals", R1.RawMatrix().Data, R0.RawMatrix().Data)
			sameFloats(t, "spe", spe1, spe0)
			sameFloats(t, "t2", t21, t20)
			z, ew, rbc, persist, maxRes := refSignals(m, W)
			sameFloat32s(t, "z", d.z, z)
			sameFloat32s(t, "ewma", d.ew, ew)
			sameFloat32s(t, "rbc", d.rbc, rbc)
			sameFloat32s(t, "persist", d.persist, persist)
			sameFloats(t, "max residual", d.MaxResidual, maxRes)
			for i := range c.n {
				want := refOrder(d, i)
				if got := d.Order(i, nil); !slices.Equal(got, want) {
					t.Fatalf("%dx%d row %d: order %v, reference %v", c.n, c.p, i, got[:min(10, len(got))], want[:min(10, len(want))])
				}
				for _, k := range []int{1, 5, c.p / 2, c.p} {
					rk := d.Ranking(i, k)
					for x, ms := range rk {
						if ms.Metric != want[x] {
							t.Fatalf("%dx%d row %d: ranking(%d)[%d] = %d, reference %d", c.n, c.p, i, k, x, ms.Metric, want[x])
						}
					}
				}
			}
		}
	}
}

func TestFloatSorterAndMAD(t *testing.T) {
	r := newRand(3)
	var s floatSorter
	for trial := range 300 {
		n := 1 + r.IntN(700)
		xs := make([]float64, n)
		for i := range xs {
			switch trial % 4 {
			case 0:
				xs[i] = r.NormFloat64() * math.Pow(10, float64(r.IntN(20)-10))
			case 1:
				xs[i] = float64(r.IntN(5) - 2) // ties, negatives
			case 2:
				xs[i] = 1e300 * r.NormFloat64()
			default:
				xs[i] = math.Copysign(0, r.NormFloat64())
				if r.IntN(3) == 0 {
					xs[i] = math.SmallestNonzeroFloat64 * float64(r.IntN(3)-1)
				}
			}
		}
		want := slices.Clone(xs)
		slices.Sort(want)
		got := slices.Clone(xs)
		s.sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: radix sort differs from slices.Sort", trial)
		}
		med := quantileSorted(got, 0.5)
		dev := make([]float64, n)
		for i, v := range got {
			dev[i] = math.Abs(v - med)
		}
		if a, b := madSorted(got, med), medianInPlace(dev); a != b {
			t.Fatalf("trial %d: madSorted %v, median of deviations %v", trial, a, b)
		}
	}
}

// TestDotUnitaryMatchesGonum: the Go copy of gonum's DotUnitary gives its
// results to the bit, at every length's tail.
func TestDotUnitaryMatchesGonum(t *testing.T) {
	r := newRand(5)
	for n := range 70 {
		x, y := make([]float64, n), make([]float64, n)
		for i := range x {
			x[i], y[i] = r.NormFloat64()*math.Pow(10, float64(r.IntN(12)-6)), r.NormFloat64()
		}
		want := blas64.Dot(blas64.Vector{N: n, Inc: 1, Data: x}, blas64.Vector{N: n, Inc: 1, Data: y})
		if got := dotUnitary(x, y); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("n %d: %v, gonum %v", n, got, want)
		}
	}
}

// TestSameResultsOnAnyCPUCount: Fit and Diagnose give the same bits with
// 1, 2 and 3 CPUs (the parallel kernels split work by index, in chunks
// taken in any order, and sum in a fixed order).
func TestSameResultsOnAnyCPUCount(t *testing.T) {
	X := refData(11, 700, 1100) // the randomised solver (min(n, p) > ExactLimit)
	W := refData(12, 300, 1100)
	type out struct {
		load, med, scale, ebat []float64
		spe, persist           []float64
	}
	run := func(procs int) out {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m, err := Fit(X, Config{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := m.Diagnose(W)
		if err != nil {
			t.Fatal(err)
		}
		o := out{load: m.PCA.Loadings.RawMatrix().Data, med: m.Base.Median, scale: m.Base.Scale, ebat: m.EbAT.Std, spe: d.SPE}
		for _, v := range d.persist {
			o.persist = append(o.persist, float64(v))
		}
		return o
	}
	want := run(1)
	for _, procs := range []int{2, 3} {
		got := run(procs)
		for _, c := range []struct {
			name      string
			got, want []float64
		}{{"loadings", got.load, want.load}, {"median", got.med, want.med}, {"scale", got.scale, want.scale},
			{"ebat std", got.ebat, want.ebat}, {"spe", got.spe, want.spe}, {"persist", got.persist, want.persist}} {
			if len(c.got) != len(c.want) {
				t.Fatalf("%d CPUs: %s has %d values, %d with one", procs, c.name, len(c.got), len(c.want))
			}
			for i := range c.want {
				if math.Float64bits(c.got[i]) != math.Float64bits(c.want[i]) {
					t.Fatalf("%d CPUs: %s[%d] = %v, %v with one", procs, c.name, i, c.got[i], c.want[i])
				}
			}
		}
	}
}
