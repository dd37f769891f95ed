package monitor

import (
	"context"
	"os"
	rtmetrics "runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Point is one sampled value in the metric store's long format.
type Point struct {
	TS        int64 // unix milliseconds
	Host      string
	Agent     string // empty for host-wide metrics
	Component string // r1, c1, k1; "process", "go"; "cpu", "disk:sda", ...
	Kind      string // source, channel, sink, process, runtime, host
	Metric    string
	Value     float64
}

// Point kinds beyond the component kinds.
const (
	PointProcess = "process"
	PointRuntime = "runtime"
	PointHost    = "host"
)

// Sampler turns the counters of one process's agents, the Go runtime, the
// process and the host into Points, once per call. Counters become
// per-second rates over the interval since the previous call (Flume's
// EventAcceptedCount is sampled as EventAcceptedRate); gauges are sampled as
// they are; latency histograms as the p50/p99 of the interval.
//
// A Sampler is used by one goroutine.
type Sampler struct {
	host string
	regs []*Registry
	// proc labels the process and Go runtime series: the agents of the
	// process, so that two agent processes on one host are two series and
	// peers across hosts are the same agent's processes.
	proc string

	prevTime time.Time
	prev     map[string]float64           // cumulative values by series key
	prevHist map[string]map[string]uint64 // bucket counts by histogram key
	rt       []rtmetrics.Sample
	out      []Point
}

// NewSampler samples the given registries; host names the machine (the
// hostname when empty).
func NewSampler(host string, regs ...*Registry) *Sampler {
	if host == "" {
		host, _ = os.Hostname()
	}
	s := &Sampler{host: host, regs: regs, prev: map[string]float64{}, prevHist: map[string]map[string]uint64{}}
	names := make([]string, 0, len(regs))
	for _, r := range regs {
		names = append(names, r.agent)
	}
	sort.Strings(names)
	s.proc = strings.Join(names, ",")
	for _, name := range runtimeMetrics {
		s.rt = append(s.rt, rtmetrics.Sample{Name: name.name})
	}
	return s
}

// Run samples every interval until ctx ends, handing each sample to emit.
// The slice passed to emit is reused by the next sample.
func (s *Sampler) Run(ctx context.Context, interval time.Duration, emit func([]Point)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	s.Sample(time.Now()) // prime the rates
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			emit(s.Sample(now))
		}
	}
}

// rate records a cumulative value and returns its per-second rate since
// the last sample; ok is false on the first sample of the series or after
// a reset (the counter went down: a restarted component).
func (s *Sampler) rate(key string, v float64, dt float64) (float64, bool) {
	old, seen := s.prev[key]
	s.prev[key] = v
	if !seen || dt <= 0 || v < old {
		return 0, false
	}
	return (v - old) / dt, true
}

// Sample reads everything once. The returned slice is reused by the next
// call.
func (s *Sampler) Sample(now time.Time) []Point {
	dt := 0.0
	if !s.prevTime.IsZero() {
		dt = now.Sub(s.prevTime).Seconds()
	}
	s.prevTime = now
	ts := now.UnixMilli()
	s.out = s.out[:0]
	add := func(agent, comp, kind, metric string, v float64) {
		s.out = append(s.out, Point{ts, s.host, agent, comp, kind, metric, v})
	}
	for _, r := range s.regs {
		for _, g := range r.sortedGroups() {
			kind := strings.ToLower(string(g.kind))
			for _, f := range g.fields {
				v := f.get()
				if !f.counter {
					add(r.agent, g.name, kind, f.name, v)
					continue
				}
				name := rateName(f.name)
				if rt, ok := s.rate(r.agent+"\x00"+g.key()+"\x00"+f.name, v, dt); ok {
					add(r.agent, g.name, kind, name, rt)
				}
			}
			for _, h := range g.hists {
				p50, p99, ok := s.quantiles(r.agent+"\x00"+g.key()+"\x00"+h.name, h.h)
				if ok {
					base := strings.TrimSuffix(h.name, "_seconds")
					add(r.agent, g.name, kind, base+"_p50_seconds", p50)
					add(r.agent, g.name, kind, base+"_p99_seconds", p99)
				}
			}
		}
	}
	s.sampleRuntime(add, dt)
	s.sampleProcess(add, dt)
	s.sampleHost(add, dt)
	return s.out
}

// rateName turns a Flume counter name into its rate's name:
// EventAcceptedCount -> EventAcceptedRate, ChannelWriteFail ->
// ChannelWriteFailRate.
func rateName(flume string) string {
	if base, ok := strings.CutSuffix(flume, "Count"); ok {
		return base + "Rate"
	}
	return flume + "Rate"
}

// quantiles estimates the median and 99th percentile of the observations
// made since the last call, from the histogram's bucket counts.
func (s *Sampler) quantiles(key string, h *metrics.Histogram) (p50, p99 float64, ok bool) {
	type bucket struct {
		upper float64
		n     uint64
	}
	prev := s.prevHist[key]
	cur := map[string]uint64{}
	var delta []bucket
	var total uint64
	h.VisitNonZeroBuckets(func(vmrange string, count uint64) {
		cur[vmrange] = count
		if d := count - prev[vmrange]; d > 0 {
			_, hi, _ := strings.Cut(vmrange, "...")
			up, err := strconv.ParseFloat(hi, 64)
			if err != nil {
				return
			}
			delta = append(delta, bucket{up, d})
			total += d
		}
	})
	s.prevHist[key] = cur
	if prev == nil || total == 0 {
		return 0, 0, false
	}
	// Buckets are visited in increasing order of their bounds.
	q := func(f float64) float64 {
		target := uint64(f*float64(total) + 0.5)
		var run uint64
		for _, b := range delta {
			run += b.n
			if run >= target {
				return b.upper
			}
		}
		return delta[len(delta)-1].upper
	}
	return q(0.5), q(0.99), true
}
