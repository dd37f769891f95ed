package diagnose

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vscope/vscope/vscope/store"
)

// benchInput is a window of 600 points after a baseline of brows points
// of p series with a few shared factors and noise, one series shifting
// 200 points into the window: the in-memory part of diagnose, without the
// store (docs/bench/diagnose.sh measures the whole command).
func benchInput(brows, p int) *Input {
	rng := rand.New(rand.NewPCG(7, uint64(p)))
	series := make([]store.Series, p)
	load := make([]float64, p)
	for j := range series {
		series[j] = store.Series{Host: fmt.Sprintf("h%03d", j/100), Agent: fmt.Sprintf("a%04d", j/20),
			Component: []string{"r1", "c1", "k1"}[j%3], Kind: []string{"source", "channel", "sink"}[j%3],
			Metric: fmt.Sprintf("m%02dRate", j%20)}
		load[j] = 100 + 900*rng.Float64()
	}
	f := func(i, j int) float64 {
		day := 1 + 0.2*math.Sin(2*math.Pi*float64(i)/3600)
		v := load[j] * day * (1 + 0.03*rng.NormFloat64())
		if j == 0 && i >= brows+200 {
			v *= 3
		}
		return v
	}
	return input(brows, 600, series, f)
}

// BenchmarkAnalyze: clean, fit, score, rank and explain, from matrices.
func BenchmarkAnalyze(b *testing.B) {
	for _, c := range []struct{ brows, p int }{{3600, 1000}, {600, 10000}} {
		b.Run(fmt.Sprintf("%dx%d", c.brows, c.p), func(b *testing.B) {
			o := Options{Window: 10 * time.Minute, Baseline: time.Duration(c.brows) * time.Second}
			for b.Loop() {
				b.StopTimer()
				in := benchInput(c.brows, c.p) // Analyze cleans in place
				b.StartTimer()
				r, err := Analyze(in, o)
				if err != nil {
					b.Fatal(err)
				}
				if r.Ranking[0].Metric != "m00Rate" {
					b.Fatalf("rank 1 is %s", r.Ranking[0].Metric)
				}
			}
			b.ReportMetric(float64(c.p)*float64(b.N)/b.Elapsed().Seconds(), "metrics/s")
		})
	}
}
