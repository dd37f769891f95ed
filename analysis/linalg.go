package analysis

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelRange splits [0, n) into contiguous chunks of at least minChunk
// items, about four per available CPU, and runs f on them from one
// goroutine per CPU, each taking the next chunk when it is done with one
// (on a shared machine a CPU that is taken away leaves its share to the
// others). Each index is handled by exactly one call, so results written
// per index do not depend on the number of CPUs or on which goroutine
// ran which chunk.
func parallelRange(n, minChunk int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if minChunk < 1 {
		minChunk = 1
	}
	if workers <= 1 || n <= minChunk {
		if n > 0 {
			f(0, n)
		}
		return
	}
	chunk := max(minChunk, (n+4*workers-1)/(4*workers))
	chunks := (n + chunk - 1) / chunk
	workers = min(workers, chunks)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= chunks {
					return
				}
				f(k*chunk, min(n, (k+1)*chunk))
			}
		}()
	}
	wg.Wait()
}

// mulABt computes y = x * wᵀ for row-major x (n x p, row stride xs), w (l x p,
// stride p) and y (n x l, stride l): y[i][c] = Σ_j x[i][j]·w[c][j].
// It is the tall-skinny product of the randomised range finder, written for
// the case l << p where general GEMM kernels lose most of their speed. The
// summation order of every output is fixed, so results are deterministic.
func mulABt(x []float64, n, p, xs int, w []float64, l int, y []float64) {
	const jb = 512 // columns per block: two x rows and four w rows stay in L1
	parallelRange(n, 16, func(lo, hi int) {
		// Keep the row-pair alignment independent of the split: pairs start
		// at even rows, so each y row is summed the same way whatever lo is.
		for i := lo; i < hi; i++ {
			clear(y[i*l : (i+1)*l])
		}
		for j0 := 0; j0 < p; j0 += jb {
			j1 := min(p, j0+jb)
			i := lo
			for ; i+1 < hi; i += 2 {
				x0 := x[i*xs+j0 : i*xs+j1]
				x1 := x[(i+1)*xs+j0 : (i+1)*xs+j1][:len(x0)]
				y0 := y[i*l : (i+1)*l]
				y1 := y[(i+1)*l : (i+2)*l]
				c := 0
				for ; c+3 < l; c += 4 {
					w0 := w[c*p+j0 : c*p+j1][:len(x0)]
					w1 := w[(c+1)*p+j0 : (c+1)*p+j1][:len(x0)]
					w2 := w[(c+2)*p+j0 : (c+2)*p+j1][:len(x0)]
					w3 := w[(c+3)*p+j0 : (c+3)*p+j1][:len(x0)]
					var s00, s01, s02, s03, s10, s11, s12, s13 float64
					for j, a := range x0 {
						b := x1[j]
						v0, v1, v2, v3 := w0[j], w1[j], w2[j], w3[j]
						s00 += a * v0
						s01 += a * v1
						s02 += a * v2
						s03 += a * v3
						s10 += b * v0
						s11 += b * v1
						s12 += b * v2
						s13 += b * v3
					}
					y0[c] += s00
					y0[c+1] += s01
					y0[c+2] += s02
					y0[c+3] += s03
					y1[c] += s10
					y1[c+1] += s11
					y1[c+2] += s12
					y1[c+3] += s13
				}
				for ; c < l; c++ {
					w0 := w[c*p+j0 : c*p+j1][:len(x0)]
					var s0, s1 float64
					for j, v := range w0 {
						s0 += x0[j] * v
						s1 += x1[j] * v
					}
					y0[c] += s0
					y1[c] += s1
				}
			}
			for ; i < hi; i++ {
				x0 := x[i*xs+j0 : i*xs+j1]
				for c := range l {
					w0 := w[c*p+j0 : c*p+j1][:len(x0)]
					var s float64
					for j, v := range w0 {
						s += x0[j] * v
					}
					y[i*l+c] += s
				}
			}
		}
	})
}

// mulAtB computes b = qᵀ * x for row-major q (n x l, stride l), x (n x p,
// row stride xs) and b (l x p, stride p): b[c][j] = Σ_i q[i][c]·x[i][j].
// Work is split by column blocks of x, and every output is summed over i in
// the same order, so results are deterministic.
func mulAtB(q []float64, n, l int, x []float64, p, xs int, b []float64) {
	const jb = 256
	blocks := (p + jb - 1) / jb
	parallelRange(blocks, 1, func(blo, bhi int) {
		for blk := blo; blk < bhi; blk++ {
			j0, j1 := blk*jb, min(p, (blk+1)*jb)
			for c := range l {
				clear(b[c*p+j0 : c*p+j1])
			}
			i := 0
			for ; i+3 < n; i += 4 {
				x0 := x[i*xs+j0 : i*xs+j1]
				x1 := x[(i+1)*xs+j0 : (i+1)*xs+j1][:len(x0)]
				x2 := x[(i+2)*xs+j0 : (i+2)*xs+j1][:len(x0)]
				x3 := x[(i+3)*xs+j0 : (i+3)*xs+j1][:len(x0)]
				q0, q1, q2, q3 := q[i*l:(i+1)*l], q[(i+1)*l:(i+2)*l], q[(i+2)*l:(i+3)*l], q[(i+3)*l:(i+4)*l]
				c := 0
				for ; c+1 < l; c += 2 {
					a0, a1, a2, a3 := q0[c], q1[c], q2[c], q3[c]
					e0, e1, e2, e3 := q0[c+1], q1[c+1], q2[c+1], q3[c+1]
					b0 := b[c*p+j0 : c*p+j1][:len(x0)]
					b1 := b[(c+1)*p+j0 : (c+1)*p+j1][:len(x0)]
					for j, u0 := range x0 {
						u1, u2, u3 := x1[j], x2[j], x3[j]
						b0[j] += a0*u0 + a1*u1 + a2*u2 + a3*u3
						b1[j] += e0*u0 + e1*u1 + e2*u2 + e3*u3
					}
				}
				for ; c < l; c++ {
					a0, a1, a2, a3 := q0[c], q1[c], q2[c], q3[c]
					b0 := b[c*p+j0 : c*p+j1][:len(x0)]
					for j, u0 := range x0 {
						b0[j] += a0*u0 + a1*x1[j] + a2*x2[j] + a3*x3[j]
					}
				}
			}
			for ; i < n; i++ {
				x0 := x[i*xs+j0 : i*xs+j1]
				qi := q[i*l : (i+1)*l]
				for c := range l {
					a := qi[c]
					b0 := b[c*p+j0 : c*p+j1][:len(x0)]
					for j, u := range x0 {
						b0[j] += a * u
					}
				}
			}
		}
	})
}
