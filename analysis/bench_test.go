//go:build unix

package analysis

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"
)

// benchBaseline is n x p: 10 common factors plus independent noise, the
// shape of a 1-hour baseline at 1 s of p metrics.
func benchBaseline(n, p int) *mat.Dense {
	X, _ := factorData(newRand(99), n, p, 10, 1)
	return X
}

// BenchmarkPCAFit fits the normal subspace (standardisation included) with
// the default configuration: for 3600 x 10000 that is the randomised
// solver, up to 20 components. Compare with scikit-learn through
// docs/bench/asd-eval.sh pca.
func BenchmarkPCAFit(b *testing.B) {
	for _, p := range []int{1000, 10000} {
		X := benchBaseline(3600, p)
		b.Run(fmt.Sprintf("3600x%d", p), func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := FitPCA(X, PCAConfig{}); err != nil {
					b.Fatal(err)
				}
			}
			// CPU seconds (all threads) per fit: steadier than wall time on
			// a shared machine.
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// BenchmarkFit fits the whole model (PCA, robust statistics, EbAT, EWMA)
// on 600 x 10000, the sampled baseline of `vscope diagnose` at 10k series.
func BenchmarkFit(b *testing.B) {
	X := benchBaseline(600, 10000)
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := Fit(X, Config{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkDiagnose scores a 10-minute window at 1 s (600 rows) of 10000
// metrics against a model fitted on a 1-hour baseline, and ranks every row.
func BenchmarkDiagnose(b *testing.B) {
	const p = 10000
	X := benchBaseline(3600, p)
	m, err := Fit(X, Config{})
	if err != nil {
		b.Fatal(err)
	}
	win := benchBaseline(600, p)
	b.ResetTimer()
	for b.Loop() {
		d, err := m.Diagnose(win)
		if err != nil {
			b.Fatal(err)
		}
		_ = d.Ranking(599, 10)
	}
}

// cpuTime returns the process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
