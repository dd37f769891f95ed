package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vscope/vscope/agent/monitor"
)

// Sender delivers a message to a peer node, presenting key.
type Sender interface {
	Send(ctx context.Context, to Peer, kind, key string, body []byte) error
}

// env is what the nodes of one Host (or one simulation) share.
type env struct {
	sender   Sender
	sync     bool          // send in the caller's goroutine (simulation)
	interval time.Duration // sampling interval of leaves
	rawSink  func(RawWindow)
	log      *slog.Logger
}

// counters are a node's cumulative figures; they survive a change of its
// spec. Atomic: the status reader does not take the node's lock.
type counters struct {
	summariesSent, summariesReceived atomic.Int64
	rawSent, rawReceived             atomic.Int64
	samplesSent, samplesReceived     atomic.Int64
	bytesSent, bytesReceived         atomic.Int64
	sendErrors, dropped, late        atomic.Int64
	badInput, alarms                 atomic.Int64
	points                           atomic.Int64 // samples (leaf) or raw values (root) seen
	held                             atomic.Int64 // raw windows held back by the escalation budget
	lastErr                          atomic.Pointer[string]
}

func (c *counters) setErr(err error) {
	s := err.Error()
	c.lastErr.Store(&s)
}

// Node is one running watch node.
type Node struct {
	id  string
	env *env
	c   *counters
	out *outbox

	started time.Time

	mu      sync.Mutex // protects everything below
	spec    Spec
	changed time.Time
	w       *watcher            // leaf
	m       *merger             // aggregator, flow root, root
	central map[string]*watcher // centralized root: one per host beneath
	alarms  []Alarm             // recent, oldest first
	raws    []RawWindow         // root: recent raw windows
	recent  []Summary           // root: recent merged windows
	stopped bool
	scratch []monitor.Point
	budget  budget // leaf: the escalation budget
}

// budget is a token bucket of raw windows, refilled by sample time.
type budget struct {
	tokens  float64
	last    int64      // unix ms of the last refill; 0: full
	pending *RawWindow // the most severe alarm held back
}

// maxHold is how long a held raw window stays worth shipping.
const maxHold = 2 * 60 * 1000

func (b *budget) refill(ts int64, perMinute float64, burst int) {
	if b.last == 0 {
		b.tokens = float64(burst)
	} else if ts > b.last {
		b.tokens = min(float64(burst), b.tokens+float64(ts-b.last)/60000*perMinute)
	}
	b.last = ts
}

const (
	keepAlarms  = 64
	keepRaws    = 16
	keepWindows = 30
)

func newNode(id string, spec Spec, e *env, now time.Time) *Node {
	n := &Node{id: id, env: e, c: &counters{}, started: now, changed: now}
	n.out = newOutbox(e, n.c)
	n.apply(spec)
	return n
}

// apply installs spec, keeping what state still fits: a leaf keeps its
// history (its detectors refit at the next window), a merger its pending
// windows.
func (n *Node) apply(spec Spec) {
	n.spec = spec
	switch {
	case spec.Role == RoleLeaf:
		n.m, n.central = nil, nil
		if n.w == nil {
			n.w = newWatcher(spec.Host, &n.spec, n.env.interval)
		} else {
			n.w.host = spec.Host
			n.w.configure(&n.spec, n.env.interval)
		}
	default:
		n.w = nil
		if n.m == nil {
			n.m = newMerger()
		}
		n.m.configure(&n.spec)
		for _, w := range n.central {
			w.configure(&n.spec, n.env.interval)
		}
	}
}

// ID is the node's operator id.
func (n *Node) ID() string { return n.id }

// Observe gives a leaf one sample vector of its host (every point taken
// at ts). Other roles ignore it.
func (n *Node) Observe(ts int64, pts []monitor.Point) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.w == nil || n.stopped {
		return
	}
	n.c.points.Add(int64(len(pts)))
	if n.spec.Forward.EverySample {
		n.sendSamples(ts, pts)
		return
	}
	closed, alarms := n.w.observe(ts, pts)
	if closed != nil {
		n.sendSummary(closed)
	}
	b := &n.budget
	b.refill(ts, n.spec.Forward.PerMinute, n.spec.Forward.Burst)
	if p := b.pending; p != nil && (b.tokens >= 1 || ts-p.Alarm.At > maxHold) {
		if ts-p.Alarm.At <= maxHold {
			b.tokens--
			n.send(*n.spec.Root, KindRaw, p, &n.c.rawSent)
		}
		b.pending = nil
	}
	for _, a := range alarms {
		n.c.alarms.Add(1)
		n.remember(a.Alarm)
		rw := &RawWindow{Deployment: n.spec.Deployment, From: n.spec.Node, Alarm: a.Alarm, Series: n.w.rawWindow(a)}
		if b.tokens >= 1 {
			b.tokens--
			n.send(*n.spec.Root, KindRaw, rw, &n.c.rawSent)
			continue
		}
		n.c.held.Add(1)
		if b.pending == nil || rw.Alarm.Score > b.pending.Alarm.Score {
			b.pending = rw
		}
	}
}

func (n *Node) sendSamples(ts int64, pts []monitor.Point) {
	msg := Samples{Deployment: n.spec.Deployment, From: n.spec.Node, Host: n.spec.Host, TS: ts, Points: make([]Sample, 0, len(pts))}
	for i := range pts {
		p := &pts[i]
		if n.spec.Filter.keeps(p.Kind, p.Component, p.Metric) {
			msg.Points = append(msg.Points, Sample{p.Agent, p.Component, p.Kind, p.Metric, finite(p.Value)})
		}
	}
	n.send(*n.spec.Parent, KindSamples, &msg, &n.c.samplesSent)
}

func (n *Node) sendSummary(s *Summary) {
	s.Deployment, s.From = n.spec.Deployment, n.spec.Node
	n.send(*n.spec.Parent, KindSummary, s, &n.c.summariesSent)
}

func (n *Node) send(to Peer, kind string, msg any, count *atomic.Int64) {
	body, err := json.Marshal(msg)
	if err != nil { // only non-finite numbers, which finite() rules out
		n.c.setErr(fmt.Errorf("encode %s: %w", kind, err))
		n.c.sendErrors.Add(1)
		return
	}
	count.Add(1)
	n.out.push(outMsg{to: to, kind: kind, key: n.spec.Key, body: body})
}

func (n *Node) remember(a Alarm) {
	n.alarms = append(n.alarms, a)
	if len(n.alarms) > keepAlarms {
		n.alarms = slices.Delete(n.alarms, 0, len(n.alarms)-keepAlarms)
	}
}

// Tick lets aggregators and roots send windows whose children did not all
// report in time. now is the wall clock, or the simulation's.
func (n *Node) Tick(now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil || n.stopped {
		return
	}
	for _, s := range n.m.due(now.UnixMilli()) {
		n.flushed(s)
	}
}

// flushed handles a merged window: up the tree, or kept at the root.
func (n *Node) flushed(s *Summary) {
	if n.spec.Role != RoleRoot {
		n.sendSummary(s)
		return
	}
	s.Deployment, s.From = n.spec.Deployment, n.spec.Node
	n.recent = append(n.recent, *s)
	if len(n.recent) > keepWindows {
		n.recent = slices.Delete(n.recent, 0, len(n.recent)-keepWindows)
	}
}

// Errors of Deliver.
var (
	// ErrBadMessage is a message that does not decode or does not fit
	// the node; the sender gets 400.
	ErrBadMessage = errors.New("bad message")
	// ErrWrongRole is a message this node's role does not take.
	ErrWrongRole = errors.New("message not accepted by this node's role")
)

// Deliver hands the node a message from a peer. The caller has checked
// the sender's key.
func (n *Node) Deliver(kind string, body []byte) error {
	n.c.bytesReceived.Add(int64(len(body)))
	err := n.deliver(kind, body)
	if err != nil {
		n.c.badInput.Add(1)
	}
	return err
}

func (n *Node) deliver(kind string, body []byte) error {
	switch kind {
	case KindSummary:
		var s Summary
		if err := decode(body, &s); err != nil {
			return fmt.Errorf("%w: summary: %v", ErrBadMessage, err)
		}
		if err := s.check(); err != nil {
			return fmt.Errorf("%w: summary from node %d: %v", ErrBadMessage, s.From, err)
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.m == nil {
			return fmt.Errorf("%w: %s to a %s", ErrWrongRole, kind, n.spec.Role)
		}
		n.c.summariesReceived.Add(1)
		late, done := n.m.add(&s)
		if late {
			n.c.late.Add(1)
		}
		if done != nil {
			n.flushed(done)
		}
		return nil
	case KindRaw:
		var rw RawWindow
		if err := decode(body, &rw); err != nil {
			return fmt.Errorf("%w: raw window: %v", ErrBadMessage, err)
		}
		points := 0
		for i, s := range rw.Series {
			if len(s.TS) != len(s.Values) {
				return fmt.Errorf("%w: raw window series[%d]: %d timestamps, %d values", ErrBadMessage, i, len(s.TS), len(s.Values))
			}
			points += len(s.Values)
		}
		n.mu.Lock()
		if n.spec.Role != RoleRoot {
			n.mu.Unlock()
			return fmt.Errorf("%w: %s to a %s", ErrWrongRole, kind, n.spec.Role)
		}
		n.c.rawReceived.Add(1)
		n.c.alarms.Add(1)
		n.c.points.Add(int64(points))
		rw.Alarm.Points = points
		n.remember(rw.Alarm)
		n.raws = append(n.raws, rw)
		if len(n.raws) > keepRaws {
			n.raws = slices.Delete(n.raws, 0, len(n.raws)-keepRaws)
		}
		sink := n.env.rawSink
		n.mu.Unlock()
		if sink != nil {
			sink(rw)
		}
		return nil
	case KindSamples:
		var sm Samples
		if err := decode(body, &sm); err != nil {
			return fmt.Errorf("%w: samples: %v", ErrBadMessage, err)
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.spec.Role != RoleRoot {
			return fmt.Errorf("%w: %s to a %s", ErrWrongRole, kind, n.spec.Role)
		}
		n.c.samplesReceived.Add(1)
		pts := n.scratch[:0]
		for _, p := range sm.Points {
			pts = append(pts, monitor.Point{TS: sm.TS, Host: sm.Host, Agent: p.Agent, Component: p.Component, Kind: p.Kind, Metric: p.Metric, Value: p.Value})
		}
		n.scratch = pts
		n.observeCentral(sm.Host, sm.TS, pts)
		return nil
	}
	return fmt.Errorf("%w: unknown kind %q (want summary, raw or samples)", ErrBadMessage, kind)
}

// ObserveCentral gives a root one host's samples at ts that reached the
// centre some other way (the metric store's ingest): the root runs the
// leaves' detector on them, as for a centralized leaf's samples.
func (n *Node) ObserveCentral(host string, ts int64, pts []monitor.Point) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.spec.Role != RoleRoot {
		return fmt.Errorf("%w: samples to a %s", ErrWrongRole, n.spec.Role)
	}
	n.observeCentral(host, ts, pts)
	return nil
}

func (n *Node) observeCentral(host string, ts int64, pts []monitor.Point) {
	n.c.points.Add(int64(len(pts)))
	if n.central == nil {
		n.central = map[string]*watcher{}
	}
	w := n.central[host]
	if w == nil {
		w = newWatcher(host, &n.spec, n.env.interval)
		n.central[host] = w
	}
	_, alarms := w.observe(ts, pts)
	for _, a := range alarms {
		n.c.alarms.Add(1)
		n.remember(a.Alarm)
	}
}

// decode reads a peer's message; fields a newer peer adds are ignored.
func decode(b []byte, v any) error { return json.Unmarshal(b, v) }

// stop ends the node: nothing more is sent or accepted.
func (n *Node) stop() {
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	n.out.close()
}

// Status is a node's state as the control API reports it.
type Status struct {
	ID         string    `json:"id"`
	Deployment string    `json:"deployment"`
	Node       int       `json:"node"`
	Level      int       `json:"level"`
	Role       string    `json:"role"`
	Host       string    `json:"host,omitempty"`
	Flow       string    `json:"flow,omitempty"`
	State      string    `json:"state"` // running, stopped
	Started    time.Time `json:"started"`
	Changed    time.Time `json:"changed"`
	Parent     string    `json:"parent,omitempty"`
	Method     string    `json:"method,omitempty"`
	// Leaf: components and series seen; Fitted the components whose
	// detector is fitted (a component needs half a detect window of
	// samples); Warm once all are.
	Components int  `json:"components,omitempty"`
	Series     int  `json:"series,omitempty"`
	Fitted     int  `json:"fitted,omitempty"`
	Warm       bool `json:"warm,omitempty"`

	Alarms            int64 `json:"alarms"`
	SummariesSent     int64 `json:"summaries_sent"`
	SummariesReceived int64 `json:"summaries_received"`
	RawSent           int64 `json:"raw_windows_sent"`
	// RawHeld counts alarms whose raw window the escalation budget held
	// back (the most severe of them ships when the budget allows).
	RawHeld         int64  `json:"raw_windows_held,omitempty"`
	RawReceived     int64  `json:"raw_windows_received"`
	SamplesSent     int64  `json:"samples_sent,omitempty"`
	SamplesReceived int64  `json:"samples_received,omitempty"`
	BytesShipped    int64  `json:"bytes_shipped"`
	BytesReceived   int64  `json:"bytes_received"`
	Points          int64  `json:"points"`
	SendErrors      int64  `json:"send_errors"`
	Dropped         int64  `json:"dropped"`
	Late            int64  `json:"late,omitempty"`
	BadInput        int64  `json:"bad_input"`
	LastError       string `json:"last_error,omitempty"`

	RecentAlarms []Alarm   `json:"recent_alarms,omitempty"`
	Window       *Summary  `json:"window,omitempty"` // root: the last merged window
	Findings     []Finding `json:"findings,omitempty"`
}

// Status reports the node's state.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Status{ID: n.id, Deployment: n.spec.Deployment, Node: n.spec.Node, Level: n.spec.Level, Role: n.spec.Role,
		Host: n.spec.Host, Flow: n.spec.Flow, State: "running", Started: n.started, Changed: n.changed,
		Parent: n.spec.Parent.String()}
	if e := n.c.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	if n.stopped {
		s.State = "stopped"
	}
	if n.w != nil {
		s.Method = n.spec.Detect.Method
		s.Components, s.Series, s.Fitted = len(n.w.order), n.w.series(), n.w.fitted()
		s.Warm = s.Components > 0 && s.Fitted == s.Components
	}
	c := n.c
	s.Alarms, s.SummariesSent, s.SummariesReceived = c.alarms.Load(), c.summariesSent.Load(), c.summariesReceived.Load()
	s.RawSent, s.RawReceived, s.SamplesSent, s.SamplesReceived = c.rawSent.Load(), c.rawReceived.Load(), c.samplesSent.Load(), c.samplesReceived.Load()
	s.RawHeld = c.held.Load()
	s.BytesShipped, s.BytesReceived, s.Points = c.bytesSent.Load(), c.bytesReceived.Load(), c.points.Load()
	s.SendErrors, s.Dropped, s.Late, s.BadInput = c.sendErrors.Load(), c.dropped.Load(), c.late.Load(), c.badInput.Load()
	s.RecentAlarms = slices.Clone(n.alarms)
	if n.spec.Role == RoleRoot {
		if len(n.recent) > 0 {
			w := n.recent[len(n.recent)-1]
			s.Window = &w
		}
		s.Findings = n.findingsLocked()
	}
	return s
}

// Finding is one component the root holds evidence against: its alarms
// and the raw values shipped with them, ranked by score.
type Finding struct {
	Component
	Alarms int   `json:"alarms"`
	First  int64 `json:"first"` // earliest onset
	Points int   `json:"points"`
}

// Findings ranks the components alarmed beneath the root (a root node
// only): highest score first.
func (n *Node) Findings() []Finding {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.findingsLocked()
}

func (n *Node) findingsLocked() []Finding {
	by := map[string]*Finding{}
	var out []*Finding
	for _, a := range n.alarms {
		f := by[a.Key()]
		if f == nil {
			f = &Finding{Component: a.Component, First: a.Onset}
			by[a.Key()] = f
			out = append(out, f)
		}
		f.Alarms++
		f.Points += a.Points
		f.First = min(f.First, a.Onset)
		if a.Score > f.Score {
			f.Score, f.Metric = a.Score, a.Metric
		}
	}
	res := make([]Finding, len(out))
	for i, f := range out {
		res[i] = *f
	}
	slices.SortStableFunc(res, func(a, b Finding) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	return res
}

// outbox queues a node's messages for one sender goroutine, so sampling
// never waits on the network. A full queue drops the message (counted).
type outbox struct {
	e      *env
	c      *counters
	ch     chan outMsg
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

type outMsg struct {
	to        Peer
	kind, key string
	body      []byte
}

const outboxSize = 64

func newOutbox(e *env, c *counters) *outbox {
	o := &outbox{e: e, c: c, done: make(chan struct{})}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	if e.sync {
		close(o.done)
		return o
	}
	o.ch = make(chan outMsg, outboxSize)
	go o.run()
	return o
}

func (o *outbox) push(m outMsg) {
	if o.e.sync {
		o.deliver(m)
		return
	}
	select {
	case o.ch <- m:
	default:
		o.c.dropped.Add(1)
	}
}

func (o *outbox) run() {
	defer close(o.done)
	for {
		select {
		case <-o.ctx.Done():
			return
		case m := <-o.ch:
			o.deliver(m)
		}
	}
}

func (o *outbox) deliver(m outMsg) {
	if err := o.e.sender.Send(o.ctx, m.to, m.kind, m.key, m.body); err != nil {
		if o.ctx.Err() != nil {
			return
		}
		o.c.sendErrors.Add(1)
		o.c.setErr(fmt.Errorf("send %s to %s: %w", m.kind, m.to.String(), err))
		return
	}
	o.c.bytesSent.Add(int64(len(m.body)))
}

func (o *outbox) close() {
	o.once.Do(func() {
		o.cancel()
		<-o.done
	})
}
