package webstore

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchGenerate generates b.N lines of cfg (restarting when it runs out)
// and reports lines/s and MB/s of wall time and of CPU time.
func benchGenerate(b *testing.B, cfg Config) {
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	g.Next() // the warm-up runs here, outside the measurement
	b.ReportAllocs()
	var bytes int64
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		rec, ok := g.Next()
		if !ok {
			b.StopTimer()
			if g, err = New(cfg); err != nil {
				b.Fatal(err)
			}
			g.Next()
			b.StartTimer()
			rec, _ = g.Next()
		}
		bytes += int64(len(rec.Line)) + 1
	}
	wall := time.Since(start).Seconds()
	cpu := (cpuTime() - cpu0).Seconds()
	b.ReportMetric(float64(b.N)/wall, "lines/s")
	b.ReportMetric(float64(bytes)/wall/1e6, "MB/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu, "lines/cpu-s")
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "B/line")
}

// BenchmarkGenerate is the default data centre (4 web, 6 app, 2 db
// servers, 20 sessions/s) over a day.
func BenchmarkGenerate(b *testing.B) {
	benchGenerate(b, NewConfig(24*time.Hour))
}

// BenchmarkGenerateLarge is a large site: 64 web servers, 128 app
// servers, 2000 sessions/s (about 250k sessions in progress at once).
func BenchmarkGenerateLarge(b *testing.B) {
	cfg := NewConfig(24 * time.Hour)
	cfg.WebHosts, cfg.AppHosts, cfg.DBHosts = 64, 128, 8
	cfg.SessionsPerSecond = 2000
	benchGenerate(b, cfg)
}
