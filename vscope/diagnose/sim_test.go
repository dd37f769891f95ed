package diagnose

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/vscope/vscope/vscope/store"
)

// simAgent is one simulated agent: source r1 -> channel c1 -> sink k1.
type simAgent struct {
	host, agent string
	rate        float64 // events/s offered to the source
}

// sim generates what agent/monitor's sampler writes for a flow of tier-1
// agents forwarding to one collector, second by second: per component
// the Flume rates, gauges and batch latency quantiles, plus each host's
// cpu and memory and each agent process's CPU. fault, when set, changes
// the state at each second before the metrics are derived.
type sim struct {
	tier1     []simAgent
	collector simAgent
	capacity  float64 // channel capacity, events
	rng       *rand.Rand

	// State, per agent (tier-1 then collector).
	size     []float64 // channel fill, events
	drainCap []float64 // events/s each sink can drain
	sinkLat  []float64 // batch latency p99, seconds
	srcSlow  []float64 // factor on a source's intake (1 normal)
	cpuUser  map[string]float64
}

func newSim(seed uint64) *sim {
	s := &sim{
		tier1:     []simAgent{{"h1", "t1", 1000}, {"h2", "t2", 800}},
		collector: simAgent{"h3", "col", 0},
		capacity:  100000,
		rng:       rand.New(rand.NewPCG(seed, 7)),
		cpuUser:   map[string]float64{"h1": 20, "h2": 20, "h3": 30},
	}
	n := len(s.tier1) + 1
	s.size = make([]float64, n)
	s.drainCap = make([]float64, n)
	s.sinkLat = make([]float64, n)
	s.srcSlow = make([]float64, n)
	for i := range n {
		s.drainCap[i] = 5000
		s.sinkLat[i] = 0.005
		s.srcSlow[i] = 1
	}
	return s
}

// bucket rounds a latency to a histogram bucket bound, as the sampler's
// quantiles do (VictoriaMetrics histograms: 18 buckets per decade).
func bucket(v float64) float64 {
	if v <= 0 {
		return 0
	}
	e := math.Floor(math.Log10(v))
	step := math.Pow(10, e) / 18 * 10
	return math.Ceil(v/step) * step
}

func (s *sim) noise(v, rel float64) float64 { return math.Max(0, v*(1+rel*s.rng.NormFloat64())) }

// step advances one second and appends its points at ts.
func (s *sim) step(ts int64, add func(host, agent, comp, kind, metric string, v float64)) {
	n := len(s.tier1)
	col := n
	forwarded := 0.0
	// The collector's channel refuses what does not fit; tier-1 sinks
	// forward only what the collector accepts.
	colRoom := s.capacity - s.size[col]
	want := make([]float64, n)
	total := 0.0
	for i, a := range s.tier1 {
		want[i] = math.Min(s.size[i]+s.noise(a.rate*s.srcSlow[i], 0.03), s.drainCap[i])
		total += want[i]
	}
	colDrain := math.Min(s.size[col], s.drainCap[col])
	accept := math.Min(total, colRoom+colDrain)
	for i, a := range s.tier1 {
		in := s.noise(a.rate*s.srcSlow[i], 0.03)
		room := s.capacity - s.size[i]
		put := math.Min(in, room+want[i])
		out := want[i]
		lat := s.sinkLat[i]
		if total > 0 && accept < total {
			out = want[i] * accept / total
			lat = math.Max(lat, 0.5) // the collector holds the batch until its channel has room
		}
		s.size[i] = math.Max(0, math.Min(s.capacity, s.size[i]+put-out))
		forwarded += out
		s.emit(i, a, in, put, out, lat, ts, add)
	}
	s.size[col] = math.Max(0, math.Min(s.capacity, s.size[col]+forwarded-colDrain))
	s.emit(col, s.collector, forwarded, forwarded, colDrain, s.sinkLat[col], ts, add)
	for _, h := range []string{"h1", "h2", "h3"} {
		u := s.noise(s.cpuUser[h], 0.05)
		add(h, "", "cpu", "host", "user_percent", u)
		add(h, "", "cpu", "host", "system_percent", s.noise(5, 0.1))
		add(h, "", "cpu", "host", "idle_percent", math.Max(0, 100-u-5))
		add(h, "", "memory", "host", "used_bytes", s.noise(4<<30, 0.001))
		add(h, "", "process", "process", "cpu_user_seconds_per_second", s.noise(0.2, 0.1))
		add(h, "", "go", "runtime", "goroutines", math.Round(s.noise(40, 0.02)))
	}
}

func (s *sim) emit(i int, a simAgent, in, put, out, lat float64, ts int64, add func(host, agent, comp, kind, metric string, v float64)) {
	h, ag := a.host, a.agent
	add(h, ag, "r1", "source", "EventReceivedRate", in)
	add(h, ag, "r1", "source", "EventAcceptedRate", put)
	add(h, ag, "r1", "source", "AppendBatchReceivedRate", in/100)
	add(h, ag, "r1", "source", "put_duration_p99_seconds", bucket(s.noise(0.0005, 0.2)))
	fill := 100 * s.size[i] / s.capacity
	add(h, ag, "c1", "channel", "ChannelSize", math.Round(s.size[i]+s.noise(50, 0.5)))
	add(h, ag, "c1", "channel", "ChannelFillPercentage", fill+s.noise(0.05, 0.5))
	add(h, ag, "c1", "channel", "ChannelCapacity", s.capacity)
	add(h, ag, "c1", "channel", "EventPutSuccessRate", put)
	add(h, ag, "c1", "channel", "EventTakeSuccessRate", out)
	add(h, ag, "k1", "sink", "EventDrainSuccessRate", out)
	add(h, ag, "k1", "sink", "BatchCompleteRate", out/100)
	add(h, ag, "k1", "sink", "ConnectionFailedRate", 0)
	add(h, ag, "k1", "sink", "batch_duration_p50_seconds", bucket(s.noise(lat*0.6, 0.1)))
	add(h, ag, "k1", "sink", "batch_duration_p99_seconds", bucket(s.noise(lat, 0.1)))
}

// simStore writes secs seconds of the simulation, starting at start, into
// a fresh DuckDB store file; fault is called before each second with the
// seconds elapsed.
func simStore(t testing.TB, s *sim, start time.Time, secs int, fault func(s *sim, sec int)) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenDuckDB(ctx, filepath.Join(t.TempDir(), "metrics.duckdb"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	b := &store.Batch{}
	for sec := range secs {
		if fault != nil {
			fault(s, sec)
		}
		// The sampler's timestamps: one per sample, a few ms late.
		ts := start.Add(time.Duration(sec)*time.Second).UnixMilli() + int64(s.rng.IntN(4))
		s.step(ts, func(host, agent, comp, kind, metric string, v float64) {
			b.Add(b.SeriesRef(store.Series{Host: host, Agent: agent, Component: comp, Kind: kind, Metric: metric}), ts, v)
		})
		if b.Len() >= 100_000 || sec == secs-1 {
			if err := st.Append(ctx, b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	return st
}

// simTopology is the flow: each tier-1 sink forwards to the collector's
// source.
func simTopology() *Topology {
	t, err := ParseTopology([]byte(`{"paths": [
		["t1/r1", "t1/c1", "t1/k1", "col/r1"],
		["t2/r1", "t2/c1", "t2/k1", "col/r1"],
		["col/r1", "col/c1", "col/k1"]]}`))
	if err != nil {
		panic(err)
	}
	return t
}
