package monitor

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Kind is the component kind a counter group belongs to, in Flume's JSON
// spelling.
type Kind string

// The kinds of counter groups.
const (
	KindSource  Kind = "SOURCE"
	KindChannel Kind = "CHANNEL"
	KindSink    Kind = "SINK"
)

// field is one named value of a group, in the order Flume lists them.
type field struct {
	name    string // Flume name, e.g. EventReceivedCount
	get     func() float64
	counter bool // monotonically increasing; sampled as a rate
}

// hist is a latency histogram of a group, sampled as quantiles.
type hist struct {
	name string // e.g. batch_duration_seconds
	h    *metrics.Histogram
}

// group is the counters of one component.
type group struct {
	kind      Kind
	name      string
	typ       string
	fields    []field
	hists     []hist
	startTime atomic.Int64 // unix millis, 0 if never started
	stopTime  atomic.Int64
	counters  any // *SourceCounter, *ChannelCounter or *SinkCounter
}

func (g *group) key() string { return string(g.kind) + "." + g.name }

// Registry holds the counter groups of one agent. It is safe for
// concurrent use; mu protects groups only, counters are atomic.
type Registry struct {
	agent string
	set   *metrics.Set

	mu     sync.Mutex
	groups map[string]*group
}

// NewRegistry returns an empty registry for the named agent.
func NewRegistry(agent string) *Registry {
	return &Registry{agent: agent, set: metrics.NewSet(), groups: map[string]*group{}}
}

// Agent is the name of the agent the registry belongs to.
func (r *Registry) Agent() string { return r.agent }

// Set is the underlying metrics set, for callers that add their own series.
func (r *Registry) Set() *metrics.Set { return r.set }

// lookup returns the existing group for kind.name, or creates it with build.
// Existing groups are reused so counters stay continuous across a reload.
func (r *Registry) lookup(kind Kind, name, typ string, build func(g *group)) *group {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := string(kind) + "." + name
	if g, ok := r.groups[k]; ok && g.typ == typ {
		return g
	} else if ok {
		r.removeLocked(g)
	}
	g := &group{kind: kind, name: name, typ: typ}
	build(g)
	r.groups[k] = g
	return g
}

// Remove drops the counters of a component that no longer exists.
func (r *Registry) Remove(kind Kind, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g, ok := r.groups[string(kind)+"."+name]; ok {
		r.removeLocked(g)
	}
}

func (r *Registry) removeLocked(g *group) {
	delete(r.groups, g.key())
	prefix := r.labels(g)
	for _, n := range r.set.ListMetricNames() {
		if strings.Contains(n, prefix) {
			r.set.UnregisterMetric(n)
		}
	}
}

func (r *Registry) labels(g *group) string {
	return fmt.Sprintf(`{agent=%q,component=%q,type=%q}`, r.agent, g.name, g.typ)
}

// counter registers a monotonically increasing Flume counter.
func (r *Registry) counter(g *group, flumeName string) *metrics.Counter {
	c := r.set.NewCounter(promName(g.kind, flumeName, true) + r.labels(g))
	g.fields = append(g.fields, field{flumeName, func() float64 { return float64(c.Get()) }, true})
	return c
}

// gauge registers a Flume gauge computed by f.
func (r *Registry) gauge(g *group, flumeName string, f func() float64) {
	r.set.NewGauge(promName(g.kind, flumeName, false)+r.labels(g), f)
	g.fields = append(g.fields, field{flumeName, f, false})
}

func (r *Registry) histogram(g *group, name string) *metrics.Histogram {
	h := r.set.NewHistogram("flume_" + strings.ToLower(string(g.kind)) + "_" + name + r.labels(g))
	g.hists = append(g.hists, hist{name, h})
	return h
}

// promName turns a Flume counter name into a Prometheus metric name:
// EventReceivedCount on a source becomes flume_source_event_received_total;
// gauges get no _total suffix.
func promName(kind Kind, flumeName string, counter bool) string {
	base, _ := strings.CutSuffix(flumeName, "Count")
	// ChannelSize on a channel is flume_channel_size, not ..._channel_channel_size.
	if k := string(kind[0]) + strings.ToLower(string(kind[1:])); strings.HasPrefix(base, k) && len(base) > len(k) {
		base = base[len(k):]
	}
	var b strings.Builder
	b.WriteString("flume_")
	b.WriteString(strings.ToLower(string(kind)))
	b.WriteByte('_')
	for i, c := range base {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	if counter {
		b.WriteString("_total")
	}
	return b.String()
}

// WritePrometheus writes every counter of the agent in Prometheus text
// format, sorted by name.
func (r *Registry) WritePrometheus(w io.Writer) { r.set.WritePrometheus(w) }

// Sample is one value of one component at one instant.
type Sample struct {
	Kind      Kind
	Component string
	Type      string
	Metric    string // Flume name
	Value     float64
	Counter   bool // a cumulative count, not a gauge
}

// Samples returns the current value of every Flume counter, ordered by
// component key, in Flume's field order.
func (r *Registry) Samples() []Sample {
	var out []Sample
	for _, g := range r.sortedGroups() {
		for _, f := range g.fields {
			out = append(out, Sample{g.kind, g.name, g.typ, f.name, f.get(), f.counter})
		}
	}
	return out
}

func (r *Registry) sortedGroups() []*group {
	r.mu.Lock()
	gs := make([]*group, 0, len(r.groups))
	for _, g := range r.groups {
		gs = append(gs, g)
	}
	r.mu.Unlock()
	sort.Slice(gs, func(i, j int) bool { return gs[i].key() < gs[j].key() })
	return gs
}

// WriteJSON writes the counters in the shape of Flume's HTTP monitoring:
// {"CHANNEL.c1": {"Type": "CHANNEL", "ChannelSize": "0", ...}, ...}.
// Values are strings, as Flume writes them.
func (r *Registry) WriteJSON(w io.Writer) error {
	out := map[string]map[string]string{}
	for _, g := range r.sortedGroups() {
		m := map[string]string{"Type": string(g.kind)}
		for _, f := range g.fields {
			m[f.name] = formatValue(f.get())
		}
		m["StartTime"] = strconv.FormatInt(g.startTime.Load(), 10)
		m["StopTime"] = strconv.FormatInt(g.stopTime.Load(), 10)
		out[g.key()] = m
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func formatValue(v float64) string {
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// lifecycle records start and stop times; it is embedded in every counter.
type lifecycle struct{ g *group }

// MarkStarted records the component's start time.
func (l lifecycle) MarkStarted() {
	l.g.startTime.Store(time.Now().UnixMilli())
	l.g.stopTime.Store(0)
}

// MarkStopped records the component's stop time.
func (l lifecycle) MarkStopped() { l.g.stopTime.Store(time.Now().UnixMilli()) }
