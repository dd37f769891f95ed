package faults

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vscope/vscope/datasets/replay"
)

// RouteStats is what the tier-1 agents took from the replay.
type RouteStats struct {
	// Routed counts lines handed to a host's queue, Skipped lines of
	// hosts without an agent (the app and database tiers).
	Routed, Skipped int64
	// Acked counts lines a tier-1 agent acknowledged (its channel
	// committed them), Failed those it refused for good.
	Acked, Failed int64
	// MaxLag is the longest a batch waited in its host's queue plus its
	// delivery, from the replay's send to the agent's acknowledgement;
	// P99Lag the 99th percentile over batches.
	MaxLag, P99Lag time.Duration
	// PerHost is Acked by host.
	PerHost map[string]int64
}

// router is the flow's replay.Sink: one queue and one HTTP sender per
// tier-1 host.
type router struct {
	flow     *Flow
	queues   map[string]*hostQueue
	fallback *hostQueue // takes the lines of hosts without an agent, if set
	seed     maphash.Seed

	skipped atomic.Int64
	routed  atomic.Int64

	mu        sync.Mutex // protects the fields below
	started   chan struct{}
	wallStart time.Time
	logStart  time.Time
	marks     []*mark // generated faults' boundaries in log time
	gen       []genFault
	closed    bool
}

// mark is a log time whose wall time is noted when the replay passes it.
type mark struct {
	log  time.Time
	wall time.Time
}

// genFault is a generator fault whose truth the router times.
type genFault struct {
	spec       Spec
	start, end *mark
}

func newRouter(f *Flow) *router {
	r := &router{flow: f, queues: map[string]*hostQueue{}, seed: maphash.MakeSeed(), started: make(chan struct{})}
	for _, h := range f.lay.tier1 {
		q := &hostQueue{host: h, r: r, keys: map[uint64]int32{}}
		q.cond = sync.NewCond(&q.mu)
		q.sink = replay.NewHTTPSink("http://127.0.0.1:" + strconv.Itoa(f.procs[h].port) + "/")
		q.sink.Retry = f.cfg.Retry
		q.done = make(chan struct{})
		r.queues[h] = q
		go q.run()
	}
	r.fallback = r.queues[f.cfg.DefaultHost]
	return r
}

// Send implements replay.Sink: it copies the batch into the hosts' queues
// and returns at once.
func (r *router) Send(ctx context.Context, batch []replay.Record) error {
	if len(batch) == 0 {
		return nil
	}
	now := time.Now()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errors.New("flow stopped")
	}
	if r.wallStart.IsZero() {
		r.wallStart, r.logStart = now, batch[0].Time
		close(r.started)
	}
	last := batch[len(batch)-1].Time
	for _, m := range r.marks {
		if m.wall.IsZero() && !last.Before(m.log) {
			m.wall = now
		}
	}
	r.mu.Unlock()
	per := map[*hostQueue][]replay.Record{}
	for _, rec := range batch {
		q := r.queues[rec.Host]
		if q == nil {
			q = r.fallback
		}
		if q == nil {
			r.skipped.Add(1)
			continue
		}
		rec.Line = append([]byte(nil), rec.Line...)
		per[q] = append(per[q], rec)
	}
	for q, recs := range per {
		r.routed.Add(int64(len(recs)))
		if err := q.push(ctx, recs, now); err != nil {
			return err
		}
	}
	return nil
}

// clock returns the wall and log time of the first replayed line, and
// whether the replay has begun.
func (r *router) clock() (wall, log time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wallStart, r.logStart, !r.wallStart.IsZero()
}

// trackGenerated notes a generator fault, whose log-time window began at
// origin + spec.Start, so its wall times can be noted as the replay
// passes them.
func (r *router) trackGenerated(spec Spec, origin time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := genFault{spec: spec, start: &mark{log: origin.Add(spec.Start)}, end: &mark{log: origin.Add(spec.Start + spec.Dur)}}
	r.marks = append(r.marks, g.start, g.end)
	r.gen = append(r.gen, g)
}

// generatedTruth is the truth of the generator faults, timed by the
// replay (an end the replay never reached is the time it ended).
func (r *router) generatedTruth(f *Flow) []Truth {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Truth
	for _, g := range r.gen {
		hosts := []string{g.spec.Target}
		if g.spec.Target == "*" || g.spec.Target == "" {
			hosts = f.lay.tier1
		}
		for _, h := range hosts {
			t := f.truthFor(g.spec, ref{h, f.lay.agentOf(h), SourceName, kSource}, nil, nil)
			t.Start, t.End = g.start.wall, g.end.wall
			if t.End.IsZero() {
				t.End = time.Now()
			}
			ls, le := g.start.log, g.end.log
			t.LogStart, t.LogEnd = &ls, &le
			t.Effect = "generated into the web server's logs"
			out = append(out, t)
		}
	}
	return out
}

// close waits until every queue is delivered (or ctx ends) and stops the
// senders.
func (r *router) close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	for _, q := range r.queues {
		q.close()
	}
	var errs []error
	for _, q := range r.queues {
		select {
		case <-q.done:
		case <-ctx.Done():
			q.abort()
			<-q.done
			errs = append(errs, fmt.Errorf("%s: replay queue not delivered: %w", q.host, ctx.Err()))
		}
	}
	return errors.Join(errs...)
}

// stats sums the queues' counts.
func (r *router) stats() RouteStats {
	st := RouteStats{Routed: r.routed.Load(), Skipped: r.skipped.Load(), PerHost: map[string]int64{}}
	var lags []time.Duration
	for h, q := range r.queues {
		q.mu.Lock()
		st.Acked += q.acked
		st.Failed += q.failed
		st.PerHost[h] = q.acked
		lags = append(lags, q.lags...)
		q.mu.Unlock()
	}
	if len(lags) > 0 {
		sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
		st.MaxLag = lags[len(lags)-1]
		st.P99Lag = lags[min(len(lags)-1, len(lags)*99/100)]
	}
	return st
}

// ackedKeys merges the queues' multisets of acknowledged lines.
func (r *router) ackedKeys() map[uint64]int32 {
	out := map[uint64]int32{}
	for _, q := range r.queues {
		q.mu.Lock()
		for k, n := range q.keys {
			out[k] += n
		}
		q.mu.Unlock()
	}
	return out
}

// key identifies a line for the delivery check: its host, log time (ms)
// and text. Identical lines of one host in one millisecond count as many.
func (r *router) key(host string, ms int64, line []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(host)
	h.WriteByte(0)
	var b [8]byte
	for i := range b {
		b[i] = byte(ms >> (8 * i))
	}
	h.Write(b[:])
	h.Write(line)
	return h.Sum64()
}

// hostQueue holds one host's lines until its agent takes them.
type hostQueue struct {
	host string
	r    *router
	sink *replay.HTTPSink

	mu      sync.Mutex // protects the fields below
	cond    *sync.Cond
	pending []queued
	bytes   int64
	closed  bool
	cancel  context.CancelFunc
	acked   int64
	failed  int64
	lags    []time.Duration
	keys    map[uint64]int32
	done    chan struct{}
	aborted bool
}

type queued struct {
	recs []replay.Record
	at   time.Time
}

// maxQueueBytes bounds a host's backlog; beyond it the replay waits.
const maxQueueBytes = 256 << 20

func (q *hostQueue) push(ctx context.Context, recs []replay.Record, at time.Time) error {
	n := int64(0)
	for _, r := range recs {
		n += int64(len(r.Line)) + 64
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.bytes > maxQueueBytes && !q.closed && ctx.Err() == nil {
		q.cond.Wait()
	}
	if q.closed {
		return errors.New("flow stopped")
	}
	q.pending = append(q.pending, queued{recs, at})
	q.bytes += n
	q.cond.Broadcast()
	return nil
}

func (q *hostQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// abort gives up on what is still queued.
func (q *hostQueue) abort() {
	q.mu.Lock()
	q.aborted = true
	if q.cancel != nil {
		q.cancel()
	}
	q.cond.Broadcast()
	q.mu.Unlock()
}

func (q *hostQueue) run() {
	defer close(q.done)
	for {
		q.mu.Lock()
		for len(q.pending) == 0 && !q.closed {
			q.cond.Wait()
		}
		if len(q.pending) == 0 || q.aborted {
			for _, p := range q.pending {
				q.failed += int64(len(p.recs))
			}
			q.pending = nil
			q.mu.Unlock()
			return
		}
		item := q.pending[0]
		q.pending = q.pending[1:]
		ctx, cancel := context.WithCancel(context.Background())
		q.cancel = cancel
		q.mu.Unlock()

		err := q.sink.Send(ctx, item.recs)
		cancel()
		lost := 0
		var pe *replay.PartialError
		switch {
		case err == nil:
		case errors.As(err, &pe):
			lost = pe.Lost
		default:
			lost = len(item.recs)
			q.r.flow.log.Error("replay batch lost", "host", q.host, "events", len(item.recs), "err", err)
		}
		lag := time.Since(item.at)
		q.mu.Lock()
		for _, rec := range item.recs {
			q.bytes -= int64(len(rec.Line)) + 64
		}
		q.acked += int64(len(item.recs) - lost)
		q.failed += int64(lost)
		q.lags = append(q.lags, lag)
		if lost == 0 {
			for _, rec := range item.recs {
				q.keys[q.r.key(rec.Host, rec.Time.UnixMilli(), rec.Line)]++
			}
		}
		q.cond.Broadcast()
		q.mu.Unlock()
	}
}
