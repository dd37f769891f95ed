package analysis

import (
	"math"
	"testing"
)

func TestKernelsMatchNaive(t *testing.T) {
	r := newRand(2)
	for _, sz := range [][3]int{{1, 1, 1}, {37, 1030, 7}, {5, 3, 9}, {64, 600, 30}} {
		n, p, l := sz[0], sz[1], sz[2]
		xs := p + 3 // a row stride wider than the row
		x := make([]float64, n*xs)
		for i := range x {
			x[i] = r.NormFloat64()
		}
		w := make([]float64, l*p)
		for i := range w {
			w[i] = r.NormFloat64()
		}
		y := make([]float64, n*l)
		mulABt(x, n, p, xs, w, l, y)
		for i := range n {
			for c := range l {
				s := 0.0
				for j := range p {
					s += x[i*xs+j] * w[c*p+j]
				}
				if math.Abs(s-y[i*l+c]) > 1e-9 {
					t.Fatalf("%v: mulABt[%d,%d] = %v, want %v", sz, i, c, y[i*l+c], s)
				}
			}
		}
		q := make([]float64, n*l)
		for i := range q {
			q[i] = r.NormFloat64()
		}
		b := make([]float64, l*p)
		mulAtB(q, n, l, x, p, xs, b)
		for c := range l {
			for j := range p {
				s := 0.0
				for i := range n {
					s += q[i*l+c] * x[i*xs+j]
				}
				if math.Abs(s-b[c*p+j]) > 1e-9 {
					t.Fatalf("%v: mulAtB[%d,%d] = %v, want %v", sz, c, j, b[c*p+j], s)
				}
			}
		}
	}
}
