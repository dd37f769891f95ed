package watch

import (
	"math"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/vscope/vscope/agent/monitor"
)

// watcher is the detection state of one host's components: a leaf's, or
// at a centralized root one per host beneath. It is used by one goroutine
// at a time (its node's lock).
type watcher struct {
	host  string
	spec  *Spec
	winMs int64
	rawMs int64
	warm  int // samples before the first fit: a full detect window
	keep  int // history rows per component

	comps map[compKey]*compState
	order []*compState

	winStart int64
	samples  int64 // sample vectors observed
}

type compKey struct{ agent, comp string }

// compState is one component's history, model and window.
type compState struct {
	Component
	cols  map[string]int
	names []string
	cur   []float64 // latest value per column, carried forward
	seen  bool      // updated by the current sample

	// History ring of the last keep samples: row i of rows is
	// rows[i*pcap : i*pcap+len(names)].
	rows  []float64
	pcap  int
	ts    []int64
	anom  []bool // the row scored over the threshold
	n     int    // rows stored
	head  int    // next row to write
	total int    // rows ever pushed

	det       detector
	fitErr    bool
	last      float64 // last score
	run       int     // samples in a row over the threshold
	runOnset  int64
	alarmedAt int64 // last alarm, 0: never
	rearm     int   // samples in a row under the threshold since the alarm

	// window
	winN      int // samples in the window
	winMax    float64
	winMetric string
	winAlarm  bool
	keys      []keyAcc
}

// keyAcc accumulates one key metric of a component over a window.
type keyAcc struct {
	stat     int // index into the watcher's key list
	col      int
	sum      float64
	n        int
	min, max float64
}

// alarmEvent is an alarm as raised, with the component it concerns.
type alarmEvent struct {
	Alarm
	comp *compState
}

func newWatcher(host string, spec *Spec, interval time.Duration) *watcher {
	w := &watcher{host: host, spec: spec, comps: map[compKey]*compState{}}
	w.configure(spec, interval)
	return w
}

// configure applies a (changed) spec; the history is kept.
func (w *watcher) configure(spec *Spec, interval time.Duration) {
	w.spec = spec
	w.winMs = max(1, time.Duration(spec.Aggregate.Window).Milliseconds())
	w.rawMs = time.Duration(spec.Forward.RawWindow).Milliseconds()
	ws := spec.Detect.WindowSamples
	w.warm = ws
	rawRows := 1
	if interval > 0 {
		rawRows = int(time.Duration(spec.Forward.RawWindow)/interval) + 1
	}
	w.keep = max(ws, rawRows)
	for _, c := range w.order {
		c.resize(w.keep)
		c.keys = nil
		for j, name := range c.names {
			w.addKey(c, j, name)
		}
		// Refit at once on the kept history, with the new method.
		c.det, c.fitErr = nil, false
		if c.total >= w.warm {
			w.fit(c)
		}
	}
}

// observe folds one sample vector (every point has timestamp ts) into the
// components' state. It returns the summary of the window that ended
// before ts, if one did, and the alarms raised by this sample.
func (w *watcher) observe(ts int64, pts []monitor.Point) (closed *Summary, alarms []alarmEvent) {
	if w.winStart == 0 {
		w.winStart = ts - ts%w.winMs
	} else if ts >= w.winStart+w.winMs {
		closed = w.closeWindow()
		w.winStart = ts - ts%w.winMs
	}
	w.samples++
	for i := range pts {
		p := &pts[i]
		if !w.spec.Filter.keeps(p.Kind, p.Component, p.Metric) || math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			continue
		}
		k := compKey{p.Agent, p.Component}
		c := w.comps[k]
		if c == nil {
			c = &compState{Component: Component{Host: w.host, Agent: p.Agent, Component: p.Component, Kind: p.Kind}, cols: map[string]int{}}
			w.comps[k] = c
			w.order = append(w.order, c)
		}
		j, ok := c.cols[p.Metric]
		if !ok {
			j = c.addColumn(p.Metric, p.Value, w.keep)
			w.addKey(c, j, p.Metric)
		}
		c.cur[j] = p.Value
		c.seen = true
	}
	thr, persist := w.spec.Detect.Threshold, w.spec.Detect.Persist
	for _, c := range w.order {
		if !c.seen {
			continue
		}
		c.seen = false
		c.winN++
		score, col := 0.0, -1
		if c.det == nil && !c.fitErr && c.total >= w.warm {
			w.fit(c)
		}
		if c.det != nil {
			score, col = c.det.score(c.cur)
		}
		over := score >= thr
		c.push(ts, over)
		c.last = score
		if score > c.winMax || c.winMetric == "" {
			c.winMax = score
			if col >= 0 {
				c.winMetric = c.names[col]
			}
		}
		for i := range c.keys {
			k := &c.keys[i]
			v := c.cur[k.col]
			if k.n == 0 {
				k.min, k.max = v, v
			}
			k.sum += v
			k.n++
			k.min = math.Min(k.min, v)
			k.max = math.Max(k.max, v)
		}
		if !over {
			c.run = 0
			if c.alarmedAt != 0 {
				c.rearm++
			}
			continue
		}
		if c.run == 0 {
			c.runOnset = ts
		}
		c.run++
		// One alarm per episode: a component alarms again only after its
		// score stayed under the threshold for Persist samples and one raw
		// window has passed.
		rearmed := c.alarmedAt == 0 || (c.rearm >= persist && ts-c.alarmedAt >= w.rawMs)
		if c.run >= persist && rearmed {
			c.alarmedAt, c.rearm = ts, 0
			c.winAlarm = true
			m := c.Component
			m.Score = score
			if col >= 0 {
				m.Metric = c.names[col]
			}
			m.Alarm = true
			alarms = append(alarms, alarmEvent{Alarm{Component: m, At: ts, Onset: c.runOnset}, c})
		}
	}
	return closed, alarms
}

// fit fits the component's detector on its history, leaving out samples
// that scored over the threshold while enough others remain.
func (w *watcher) fit(c *compState) {
	p := len(c.names)
	if p == 0 || c.n < 2 {
		return
	}
	normal := 0
	for i := range c.n {
		if !c.anom[i] {
			normal++
		}
	}
	// A shift that outlasts half the history becomes the new normal.
	skip := normal >= max(10, w.spec.Detect.WindowSamples/2)
	rows := c.n
	if skip {
		rows = normal
	}
	data := make([]float64, 0, rows*p)
	start := (c.head - c.n + len(c.ts)) % len(c.ts)
	for i := range c.n {
		r := (start + i) % len(c.ts)
		if skip && c.anom[r] {
			continue
		}
		data = append(data, c.rows[r*c.pcap:r*c.pcap+p]...)
	}
	if len(data) < 2*p {
		return
	}
	det, err := fitDetector(w.spec.Detect.Method, mat.NewDense(len(data)/p, p, data), max(2, w.spec.Detect.WindowSamples/4), w.spec.Detect.MinScale)
	if err != nil {
		c.fitErr = true // counted as unwatched; a new column clears it
		return
	}
	c.det = det
}

// closeWindow ends the window: the summary of what was seen, and every
// component's model refitted on its history.
func (w *watcher) closeWindow() *Summary {
	s := &Summary{Start: w.winStart, End: w.winStart + w.winMs, Hosts: 1}
	report := w.spec.Aggregate.Report
	for _, c := range w.order {
		if c.winN == 0 {
			continue // not seen in the window
		}
		s.Components++
		s.MaxScore = math.Max(s.MaxScore, c.winMax)
		if c.winAlarm {
			s.Alarms++
		}
		if c.winMax >= report || c.winAlarm {
			m := c.Component
			m.Score, m.Metric, m.Alarm = finite(c.winMax), c.winMetric, c.winAlarm
			s.Top = append(s.Top, m)
		}
		for i := range c.keys {
			k := &c.keys[i]
			if k.n == 0 {
				continue
			}
			s.addStat(w.spec.Aggregate.Metrics[k.stat], Stat{N: 1, Sum: k.sum / float64(k.n), Min: k.min, Max: k.max})
			k.sum, k.n = 0, 0
		}
		c.winN, c.winMax, c.winMetric, c.winAlarm = 0, 0, "", false
		if c.total >= w.warm {
			w.fit(c)
		}
	}
	sortTop(s.Top)
	if len(s.Top) > w.spec.Aggregate.TopK {
		s.Top = s.Top[:w.spec.Aggregate.TopK]
	}
	return s
}

func (s *Summary) addStat(series string, st Stat) {
	st.Series = series
	for i := range s.Stats {
		if s.Stats[i].Series == series {
			x := &s.Stats[i]
			x.N += st.N
			x.Sum += st.Sum
			x.Min = math.Min(x.Min, st.Min)
			x.Max = math.Max(x.Max, st.Max)
			return
		}
	}
	s.Stats = append(s.Stats, st)
}

// addKey registers column j of c when kind/metric is a key metric.
func (w *watcher) addKey(c *compState, j int, metric string) {
	for i, km := range w.spec.Aggregate.Metrics {
		kind, name, _ := strings.Cut(km, "/")
		if kind == c.Kind && name == metric {
			c.keys = append(c.keys, keyAcc{stat: i, col: j})
		}
	}
}

// addColumn adds a series to c; its history so far is taken to be v, so
// a series that appears late does not look like a jump.
func (c *compState) addColumn(name string, v float64, keep int) int {
	j := len(c.names)
	c.cols[name] = j
	c.names = append(c.names, name)
	c.cur = append(c.cur, v)
	if c.ts == nil {
		c.ts = make([]int64, keep)
		c.anom = make([]bool, keep)
	}
	if j >= c.pcap {
		pcap := max(8, 2*c.pcap)
		rows := make([]float64, len(c.ts)*pcap)
		for r := range len(c.ts) {
			copy(rows[r*pcap:], c.rows[r*c.pcap:r*c.pcap+j])
		}
		c.rows, c.pcap = rows, pcap
	}
	for r := range len(c.ts) {
		c.rows[r*c.pcap+j] = v
	}
	c.det, c.fitErr = nil, false // refit with the new column at the window's end
	return j
}

// push appends the current values as the newest history row.
func (c *compState) push(ts int64, over bool) {
	r := c.head
	copy(c.rows[r*c.pcap:r*c.pcap+len(c.names)], c.cur)
	c.ts[r] = ts
	c.anom[r] = over
	c.head = (c.head + 1) % len(c.ts)
	c.n = min(c.n+1, len(c.ts))
	c.total++
}

// resize keeps the newest rows in a ring of keep rows.
func (c *compState) resize(keep int) {
	if len(c.ts) == keep || c.ts == nil {
		return
	}
	n := min(c.n, keep)
	rows := make([]float64, keep*c.pcap)
	ts := make([]int64, keep)
	anom := make([]bool, keep)
	for i := range n {
		src := (c.head - n + i + 2*len(c.ts)) % len(c.ts)
		copy(rows[i*c.pcap:(i+1)*c.pcap], c.rows[src*c.pcap:(src+1)*c.pcap])
		ts[i], anom[i] = c.ts[src], c.anom[src]
	}
	c.rows, c.ts, c.anom, c.n, c.head = rows, ts, anom, n, n%keep
}

// history appends the series of c from fromTS on to out.
func (c *compState) history(fromTS int64, out []Series) []Series {
	start := (c.head - c.n + len(c.ts)) % max(1, len(c.ts))
	var idx []int
	for i := range c.n {
		r := (start + i) % len(c.ts)
		if c.ts[r] >= fromTS {
			idx = append(idx, r)
		}
	}
	ts := make([]int64, len(idx))
	for i, r := range idx {
		ts[i] = c.ts[r]
	}
	for j, name := range c.names {
		v := make([]float64, len(idx))
		for i, r := range idx {
			v[i] = c.rows[r*c.pcap+j]
		}
		out = append(out, Series{Host: c.Host, Agent: c.Agent, Component: c.Component.Component, Kind: c.Kind, Metric: name, TS: ts, Values: v})
	}
	return out
}

// rawWindow builds the escalation of an alarm: the alarmed component's
// history and that of the Scope-1 other components of its agent with the
// highest current scores.
func (w *watcher) rawWindow(a alarmEvent) []Series {
	from := a.At - w.rawMs
	out := a.comp.history(from, nil)
	var others []*compState
	for _, c := range w.order {
		if c != a.comp && c.Agent == a.comp.Agent {
			others = append(others, c)
		}
	}
	slices.SortStableFunc(others, func(x, y *compState) int {
		switch {
		case x.last > y.last:
			return -1
		case x.last < y.last:
			return 1
		}
		return strings.Compare(x.Component.Component, y.Component.Component)
	})
	for i := 0; i < len(others) && i < w.spec.Forward.Scope-1; i++ {
		out = others[i].history(from, out)
	}
	return out
}

// series is the number of series watched.
func (w *watcher) series() int {
	n := 0
	for _, c := range w.order {
		n += len(c.names)
	}
	return n
}

// fitted is the number of components with a fitted detector.
func (w *watcher) fitted() int {
	n := 0
	for _, c := range w.order {
		if c.det != nil {
			n++
		}
	}
	return n
}
