package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vscope/vscope/vscope/store"
)

// storeBenchResult is one measured figure.
type storeBenchResult struct {
	Name     string  `json:"name"`
	Backend  string  `json:"backend"`
	Points   int64   `json:"points"`
	Seconds  float64 `json:"seconds"`           // wall clock
	CPU      float64 `json:"cpu_seconds"`       // this process's user+system time
	PointsPS float64 `json:"points_per_second"` // ingest
	Bytes    int64   `json:"bytes,omitempty"`   // on disk after the run
	BytesPP  float64 `json:"bytes_per_point"`   // Bytes / Points
	Extra    string  `json:"note,omitempty"`    //
	ReadMS   float64 `json:"read_ms,omitempty"` // window reads: median wall time
	ReadCPU  float64 `json:"read_cpu_ms,omitempty"`
}

func newStoreBenchCmd() *cobra.Command {
	var (
		dir, seriesList, jsonOut string
		cpuProfile               string
		points                   int
		winSeries, winSamples    int
		batchPoints              int
		noVM                     bool
		runs, writers            int
	)
	cmd := &cobra.Command{
		Use:    "bench",
		Short:  "Measure the metric store: ingest, window reads, bytes per point, next to VictoriaMetrics",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "vscope-storebench-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				dir = d
			}
			var counts []int
			for _, f := range strings.Split(seriesList, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n <= 0 {
					return fmt.Errorf("--series %q: want counts like 1000,100000", seriesList)
				}
				counts = append(counts, n)
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			b := &storeBench{runs: max(1, runs), writers: max(1, writers), out: cmd.OutOrStdout(), dir: dir, batchPoints: batchPoints, withVM: !noVM}
			return b.run(cmd.Context(), counts, points, winSeries, winSamples, jsonOut)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "scratch directory (default: a temporary one)")
	fl.StringVar(&seriesList, "series", "1000,100000", "series counts of the ingest runs")
	fl.IntVar(&points, "points", 5_000_000, "points per ingest run")
	fl.IntVar(&batchPoints, "batch", 100_000, "points per batch (whole samples: at least one per series)")
	fl.IntVar(&winSeries, "window-series", 10_000, "series of the window read")
	fl.IntVar(&winSamples, "window-samples", 600, "samples per series of the window read")
	fl.BoolVar(&noVM, "no-vm", false, "skip VictoriaMetrics")
	fl.IntVar(&runs, "runs", 3, "ingest runs per backend and series count (the median is reported)")
	fl.IntVar(&writers, "writers", 1, "concurrent writers of the ingest runs (DuckDB commits their batches in groups)")
	fl.StringVar(&jsonOut, "json", "", "also write the results to this JSON file")
	fl.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run")
	return cmd
}

type storeBench struct {
	runs        int
	writers     int
	out         io.Writer
	dir         string
	batchPoints int
	withVM      bool
	results     []storeBenchResult
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSeries names n series the way agents do: 20 metrics per component,
// 10 components per agent, 10 agents per host.
func benchSeries(n int) []store.Series {
	kinds := []string{"source", "channel", "sink", "process", "runtime"}
	out := make([]store.Series, n)
	for i := range out {
		comp := i / 20
		out[i] = store.Series{
			Host:      fmt.Sprintf("host-%03d", comp/100),
			Agent:     fmt.Sprintf("a%d", comp/10%10),
			Component: fmt.Sprintf("%s%d", kinds[comp%len(kinds)][:1], comp%10),
			Kind:      kinds[comp%len(kinds)],
			Metric:    fmt.Sprintf("Metric%02dRate", i%20),
		}
	}
	return out
}

// benchValues makes samples like the sampler's, per 20 metrics of a
// component: 8 counter rates (count delta over the measured interval: full
// precision), 4 integer gauges (sizes, a random walk), 2 constants
// (capacities), 2 percentages (busy ticks over total ticks), 2 latency
// quantiles (histogram bucket bounds of 4 significant digits), 2 byte counts
// (RSS-like, pages). Every sample of an agent has one timestamp, 1 s apart
// with a few ms of jitter.
type benchValues struct {
	rng  *rand.Rand
	last []float64
	dt   float64
}

func newBenchValues(n int) *benchValues {
	v := &benchValues{rng: rand.New(rand.NewPCG(1, 2)), last: make([]float64, n), dt: 1}
	for i := range v.last {
		switch i % 20 {
		case 8, 9, 10, 11:
			v.last[i] = float64(v.rng.IntN(1000))
		case 12, 13:
			v.last[i] = float64(1000 * (1 + i%7))
		case 16, 17:
			v.last[i] = float64(20 + v.rng.IntN(20))
		case 18, 19:
			v.last[i] = float64(10000 + v.rng.IntN(10000))
		}
	}
	return v
}

// sample starts a sample taken dt seconds after the previous one.
func (v *benchValues) sample(dt float64) { v.dt = dt }

func (v *benchValues) next(i int) float64 {
	switch i % 20 {
	case 8, 9, 10, 11: // integer gauge
		v.last[i] = math.Max(0, v.last[i]+float64(v.rng.IntN(21)-10))
		return v.last[i]
	case 12, 13: // constant
		return v.last[i]
	case 14, 15: // percentage of 100 Hz ticks
		total := math.Round(100 * v.dt)
		return 100 * float64(v.rng.IntN(int(total)+1)) / total
	case 16, 17: // latency quantile: a bucket bound, 18 buckets per decade
		v.last[i] = math.Max(0, math.Min(60, v.last[i]+float64(v.rng.IntN(3)-1)))
		b := math.Pow(10, -4+v.last[i]/18)
		return math.Round(b*1e4/math.Pow(10, math.Floor(math.Log10(b)))) / 1e4 * math.Pow(10, math.Floor(math.Log10(b)))
	case 18, 19: // bytes, in pages
		v.last[i] += float64(v.rng.IntN(5) - 2)
		return v.last[i] * 4096
	default: // counter rate
		return float64(900+v.rng.IntN(200)) / v.dt
	}
}

// batches yields the batches of total points of n series, whole samples
// per batch, one second apart, from t0.
func (b *storeBench) batches(n, total int, t0 int64, fn func(*store.Batch) error) error {
	series := benchSeries(n)
	vals := newBenchValues(n)
	perBatch := max(1, b.batchPoints/n)
	samples := total / n
	batch := &store.Batch{}
	jitter := rand.New(rand.NewPCG(3, 4))
	prev := t0 - 1000
	for s := 0; s < samples; s += perBatch {
		batch.Reset()
		refs := make([]int32, n)
		for i, x := range series {
			refs[i] = batch.SeriesRef(x)
		}
		for k := s; k < min(samples, s+perBatch); k++ {
			ts := t0 + int64(k)*1000 + int64(jitter.IntN(4))
			vals.sample(float64(ts-prev) / 1000)
			prev = ts
			for i := range series {
				batch.Add(refs[i], ts, vals.next(i))
			}
		}
		if err := fn(batch); err != nil {
			return err
		}
	}
	return nil
}

// pregenerate builds the batches in memory first, so ingest times the
// store and not the generator.
func (b *storeBench) pregenerate(n, total int, t0 int64) ([]*store.Batch, int64) {
	var out []*store.Batch
	var pts int64
	_ = b.batches(n, total, t0, func(x *store.Batch) error {
		c := &store.Batch{Series: append([]store.Series(nil), x.Series...), Ref: append([]int32(nil), x.Ref...),
			TS: append([]int64(nil), x.TS...), Value: append([]float64(nil), x.Value...)}
		out = append(out, c)
		pts += int64(c.Len())
		return nil
	})
	return out, pts
}

func (b *storeBench) run(ctx context.Context, counts []int, points, winSeries, winSamples int, jsonOut string) error {
	fmt.Fprintf(b.out, "store bench: %s/%s, %d CPUs, Arrow path %v; %d points per ingest run, batches of %d points, %d writers\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), store.ArrowPath, points, b.batchPoints, b.writers)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for ci, n := range counts {
		batches, total := b.pregenerate(n, points, t0+int64(ci)*86_400_000*10)
		name := fmt.Sprintf("ingest %d series", n)
		var duck, vict []storeBenchResult
		for run := 0; run < b.runs; run++ { // alternating, fresh stores
			r, err := b.ingestDuckDB(ctx, name, fmt.Sprintf("ingest-%d-%d.duckdb", n, run), batches, total)
			if err != nil {
				return err
			}
			duck = append(duck, r)
			if b.withVM {
				r, err := b.ingestVM(ctx, name, fmt.Sprintf("vm-ingest-%d-%d", n, run), batches, total)
				if err != nil {
					return err
				}
				vict = append(vict, r)
			}
		}
		b.add(medianIngest(duck))
		if b.withVM {
			b.add(medianIngest(vict))
		}
		batches = nil
		runtime.GC()
	}
	// Window read: winSeries x winSamples into fresh stores, then read the
	// whole window as a matrix.
	batches, total := b.pregenerate(winSeries, winSeries*winSamples, t0+int64(len(counts)+1)*86_400_000*10)
	from := batches[0].TS[0] / 1000 * 1000 // whole seconds: cell k holds sample k
	q := store.Query{From: time.UnixMilli(from), To: time.UnixMilli(from + int64(winSamples)*1000), Step: time.Second}
	name := fmt.Sprintf("window read %d series x %d samples", winSeries, winSamples)
	path := filepath.Join(b.dir, "window.duckdb")
	d, err := store.OpenDuckDB(ctx, path, store.Options{RawRetention: -1})
	if err != nil {
		return err
	}
	for _, x := range batches {
		if err := d.Append(ctx, x); err != nil {
			return err
		}
	}
	if err := d.Checkpoint(ctx); err != nil {
		return err
	}
	r, err := b.read(ctx, name, "duckdb", d, q, total)
	_ = d.Close()
	if err != nil {
		return err
	}
	b.add(r)
	if b.withVM {
		vm, err := b.startVM(ctx, "vm-window")
		if err != nil {
			return err
		}
		defer vm.Stop()
		v := store.NewVictoriaMetrics(vm.URL, nil)
		for _, x := range batches {
			if err := v.Append(ctx, x); err != nil {
				return err
			}
		}
		if err := v.Flush(ctx); err != nil {
			return err
		}
		s0 := vm.CPUTime()
		r, err := b.read(ctx, name, "victoriametrics", v, q, total)
		if err != nil {
			return err
		}
		server := float64((vm.CPUTime() - s0).Microseconds()) / 1000 / 3
		r.Extra = fmt.Sprintf("/api/v1/export JSON lines, parsed and aligned; server cpu %.0f ms per read", server)
		b.add(r)
	}
	b.summary()
	if jsonOut != "" {
		data, _ := json.MarshalIndent(b.results, "", "  ")
		return os.WriteFile(jsonOut, append(data, '\n'), 0o644)
	}
	return nil
}

func (b *storeBench) startVM(ctx context.Context, sub string) (*store.VMServer, error) {
	vm, err := store.StartVictoriaMetrics(ctx, filepath.Join(b.dir, sub), nil)
	if err != nil {
		return nil, fmt.Errorf("victoria-metrics (--no-vm skips it): %w", err)
	}
	return vm, nil
}

// ingestDuckDB ingests into a fresh file and measures it after a
// checkpoint.
func (b *storeBench) ingestDuckDB(ctx context.Context, name, file string, batches []*store.Batch, total int64) (storeBenchResult, error) {
	path := filepath.Join(b.dir, file)
	defer os.Remove(path)
	d, err := store.OpenDuckDB(ctx, path, store.Options{RawRetention: -1})
	if err != nil {
		return storeBenchResult{}, err
	}
	r, err := b.ingest(ctx, name, "duckdb", d, batches, total)
	if err == nil {
		err = d.Checkpoint(ctx)
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	r.Bytes = fileBytes(path)
	r.BytesPP = float64(r.Bytes) / float64(total)
	return r, err
}

// ingestVM ingests into a fresh server; stopped with SIGINT, the server
// writes all it holds, and then its directory is measured.
func (b *storeBench) ingestVM(ctx context.Context, name, sub string, batches []*store.Batch, total int64) (storeBenchResult, error) {
	vm, err := b.startVM(ctx, sub)
	if err != nil {
		return storeBenchResult{}, err
	}
	defer os.RemoveAll(vm.Dir)
	s0 := vm.CPUTime()
	r, err := b.ingest(ctx, name, "victoriametrics", store.NewVictoriaMetrics(vm.URL, nil), batches, total)
	server := vm.CPUTime() - s0
	if serr := vm.Shutdown(); err == nil && serr != nil {
		err = serr
	}
	r.Bytes = vm.DiskBytes()
	r.BytesPP = float64(r.Bytes) / float64(total)
	r.CPU += server.Seconds()
	r.Extra = fmt.Sprintf("cpu: client %.2f s + server %.2f s; import answers before data is durable; time includes force_flush", r.CPU-server.Seconds(), server.Seconds())
	return r, err
}

// medianIngest is the run of median ingest rate.
func medianIngest(rs []storeBenchResult) storeBenchResult {
	sort.Slice(rs, func(i, j int) bool { return rs[i].PointsPS < rs[j].PointsPS })
	r := rs[len(rs)/2]
	if len(rs) > 1 {
		var all []string
		for _, x := range rs {
			all = append(all, fmt.Sprintf("%.2fM", x.PointsPS/1e6))
		}
		r.Extra += fmt.Sprintf("; median of %d runs: %s points/s", len(rs), strings.Join(all, " "))
	}
	return r
}

func (b *storeBench) ingest(ctx context.Context, name, backend string, s store.Store, batches []*store.Batch, total int64) (storeBenchResult, error) {
	runtime.GC()
	c0, w0 := cpuTime(), time.Now()
	// Writers take batches in turn, as a collector's concurrent requests.
	errs := make(chan error, b.writers)
	var next atomic.Int64
	for w := 0; w < b.writers; w++ {
		go func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(batches) {
					errs <- nil
					return
				}
				if err := s.Append(ctx, batches[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for w := 0; w < b.writers; w++ {
		if err := <-errs; err != nil {
			next.Store(int64(len(batches)))
			return storeBenchResult{}, err
		}
	}
	if v, ok := s.(*store.VictoriaMetrics); ok {
		if err := v.Flush(ctx); err != nil {
			return storeBenchResult{}, err
		}
	}
	wall, cpu := time.Since(w0), cpuTime()-c0
	return storeBenchResult{Name: name, Backend: backend, Points: total, Seconds: wall.Seconds(), CPU: cpu.Seconds(),
		PointsPS: float64(total) / wall.Seconds()}, nil
}

func (b *storeBench) read(ctx context.Context, name, backend string, s store.Store, q store.Query, total int64) (storeBenchResult, error) {
	var walls, cpus []float64
	for i := 0; i < 3; i++ {
		runtime.GC()
		c0, w0 := cpuTime(), time.Now()
		m, err := s.Read(ctx, q)
		if err != nil {
			return storeBenchResult{}, err
		}
		walls = append(walls, float64(time.Since(w0).Microseconds())/1000)
		cpus = append(cpus, float64((cpuTime()-c0).Microseconds())/1000)
		got := 0
		for _, v := range m.Values {
			if !math.IsNaN(v) {
				got++
			}
		}
		if int64(got) != total {
			return storeBenchResult{}, fmt.Errorf("%s read %d of %d points (%d series x %d times)", backend, got, total, len(m.Series), len(m.Times))
		}
	}
	sort.Float64s(walls)
	sort.Float64s(cpus)
	return storeBenchResult{Name: name, Backend: backend, Points: total, ReadMS: walls[1], ReadCPU: cpus[1]}, nil
}

func (b *storeBench) add(r storeBenchResult) {
	b.results = append(b.results, r)
	if r.ReadMS > 0 {
		fmt.Fprintf(b.out, "%-42s %-16s %10.0f ms (cpu %.0f ms)  %s\n", r.Name, r.Backend, r.ReadMS, r.ReadCPU, r.Extra)
		return
	}
	fmt.Fprintf(b.out, "%-42s %-16s %12.0f points/s  %6.2f s (cpu %.2f s)  %6.2f bytes/point  %s\n",
		r.Name, r.Backend, r.PointsPS, r.Seconds, r.CPU, r.BytesPP, r.Extra)
}

// summary prints DuckDB against VictoriaMetrics as ratios and the targets.
func (b *storeBench) summary() {
	find := func(name, backend string) *storeBenchResult {
		for i := range b.results {
			if x := &b.results[i]; x.Name == name && x.Backend == backend {
				return x
			}
		}
		return nil
	}
	fmt.Fprintln(b.out, "\nDuckDB vs VictoriaMetrics (targets: ingest >= 5M points/s and >= 1x VM; window read < 300 ms; bytes/point <= 3x VM)")
	seen := map[string]bool{}
	for _, r := range b.results {
		if seen[r.Name] {
			continue
		}
		seen[r.Name] = true
		d, v := find(r.Name, "duckdb"), find(r.Name, "victoriametrics")
		if d == nil {
			continue
		}
		if d.ReadMS > 0 {
			line := fmt.Sprintf("%-42s read %.0f ms", r.Name, d.ReadMS)
			if v != nil {
				line += fmt.Sprintf(", VM %.0f ms: DuckDB %.1fx faster", v.ReadMS, v.ReadMS/d.ReadMS)
			}
			fmt.Fprintln(b.out, line, verdict(d.ReadMS < 300))
			continue
		}
		line := fmt.Sprintf("%-42s ingest %.2fM points/s %s", r.Name, d.PointsPS/1e6, verdict(d.PointsPS >= 5e6))
		if v != nil {
			line += fmt.Sprintf(", %.2fx VM %s; bytes/point %.2f vs VM %.2f = %.2fx %s",
				d.PointsPS/v.PointsPS, verdict(d.PointsPS >= v.PointsPS), d.BytesPP, v.BytesPP, d.BytesPP/v.BytesPP, verdict(d.BytesPP <= 3*v.BytesPP))
		}
		fmt.Fprintln(b.out, line)
	}
}

func verdict(ok bool) string {
	if ok {
		return "(met)"
	}
	return "(NOT met)"
}

func fileBytes(path string) int64 {
	var n int64
	for _, p := range []string{path, path + ".wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}
