package diagnose

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
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

// BenchmarkRunStore is Run over a store file named by VSCOPE_BENCH_STORE
// (one of docs/bench/diagnose.sh's stores, whose window ends at
// VSCOPE_BENCH_AT, default 2026-01-01T12:00:00Z): the read path and the
// analysis together, in one process, for a CPU profile
// (go test -tags duckdb_arrow -run '^$' -bench RunStore -cpuprofile ...).
// It does not include the process start (DuckDB's own open, package
// init), which the script's wall times do.
func BenchmarkRunStore(b *testing.B) {
	path := os.Getenv("VSCOPE_BENCH_STORE")
	if path == "" {
		b.Skip("VSCOPE_BENCH_STORE names no store file")
	}
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if s := os.Getenv("VSCOPE_BENCH_AT"); s != "" {
		var err error
		if at, err = time.Parse(time.RFC3339, s); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	st, err := store.OpenDuckDB(ctx, path, store.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	o := Options{At: at, Window: 10 * time.Minute, Baseline: time.Hour, Step: time.Second}
	stages := []string{"load", "clean", "fit", "score", "rank", "explain"}
	sum := make([]float64, len(stages))
	runs := 0
	for b.Loop() {
		r, err := Run(ctx, st, o)
		if err != nil {
			b.Fatal(err)
		}
		if r.Status != StatusAnomaly || len(r.Ranking) == 0 {
			b.Fatalf("status %s, %d ranked", r.Status, len(r.Ranking))
		}
		for i, k := range stages {
			sum[i] += r.TimingMS[k]
		}
		runs++
	}
	for i, k := range stages {
		b.ReportMetric(sum[i]/float64(runs), k+"-ms")
	}
}
