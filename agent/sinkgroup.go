package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
)

// ErrNoSinkAvailable is returned by a failover or load-balancing group when
// no sink of the group could take the batch.
var ErrNoSinkAvailable = errors.New("no sink of the group is available")

// groupSink is one sink of a group with its failure bookkeeping. Only the
// group's runner goroutine touches it.
type groupSink struct {
	name     string
	sink     component.Sink
	priority int
	failures int       // consecutive failures
	until    time.Time // not tried again before this
}

// penalty is the wait after n consecutive failures: 1 s doubling per
// failure, capped, as Flume's failover and load-balancing processors do.
func penalty(n int, max time.Duration) time.Duration {
	if n > 20 {
		return max
	}
	return min(time.Second<<(n-1), max)
}

// sinkGroup runs several sinks as one component under one runner: Start
// and Stop cover every sink, Process is the processor's choice.
type sinkGroup struct {
	sinks []*groupSink
	proc  component.Poller
}

func (g *sinkGroup) Start(ctx context.Context, host component.Host) error {
	for i, s := range g.sinks {
		if err := s.sink.Start(ctx, host); err != nil {
			for _, started := range g.sinks[:i] {
				_ = started.sink.Stop(ctx)
			}
			return fmt.Errorf("sink %s: %w", s.name, err)
		}
	}
	return nil
}

func (g *sinkGroup) Stop(ctx context.Context) error {
	var errs []error
	for _, s := range g.sinks {
		if err := s.sink.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sink %s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

func (g *sinkGroup) Process(ctx context.Context) (component.Status, error) {
	return g.proc.Process(ctx)
}

func newSinkGroup(spec config.ProcessorSpec, sinks []*groupSink, log *slog.Logger) *sinkGroup {
	g := &sinkGroup{sinks: sinks}
	switch spec.Type {
	case config.ProcessorFailover:
		for _, s := range sinks {
			s.priority = spec.Priority[s.name]
		}
		g.proc = &failover{sinks: sinks, maxPenalty: time.Duration(spec.MaxPenalty) * time.Millisecond, now: time.Now, log: log}
	case config.ProcessorLoadBalance:
		g.proc = &loadBalance{sinks: sinks, random: spec.Selector == "random", backoff: spec.Backoff,
			maxTimeOut: time.Duration(spec.MaxTimeOut) * time.Millisecond, now: time.Now, log: log}
	default:
		g.proc = sinks[0].sink
	}
	return g
}

// failover sends every batch to the live sink of highest priority. A sink
// that fails is set aside for a penalty that doubles with each failure up
// to maxpenalty; once the penalty is over it is tried again and, on
// success, takes its place back.
type failover struct {
	sinks      []*groupSink
	maxPenalty time.Duration
	now        func() time.Time
	log        *slog.Logger
}

func (f *failover) Process(ctx context.Context) (component.Status, error) {
	now := f.now()
	order := make([]*groupSink, len(f.sinks))
	copy(order, f.sinks)
	// Highest priority first; among equals, configuration order.
	sort.SliceStable(order, func(i, j int) bool { return order[i].priority > order[j].priority })
	var lastErr error
	for _, s := range order {
		if s.failures > 0 && now.Before(s.until) {
			continue
		}
		st, err := s.sink.Process(ctx)
		if err == nil {
			if s.failures > 0 {
				f.log.Info("sink is back", "sink", s.name, "after_failures", s.failures)
			}
			s.failures = 0
			return st, nil
		}
		if ctx.Err() != nil {
			return component.Backoff, err
		}
		s.failures++
		s.until = now.Add(penalty(s.failures, f.maxPenalty))
		f.log.Warn("sink failed; failing over", "sink", s.name, "err", err, "penalty", s.until.Sub(now))
		lastErr = err
	}
	if lastErr == nil {
		lastErr = ErrNoSinkAvailable
	} else {
		lastErr = fmt.Errorf("%w: last error: %w", ErrNoSinkAvailable, lastErr)
	}
	return component.Backoff, lastErr
}

// loadBalance spreads batches over its sinks, round robin or at random.
// With backoff, a failed sink is blacklisted for a time that doubles with
// each failure up to selector.maxTimeOut.
type loadBalance struct {
	sinks      []*groupSink
	random     bool
	backoff    bool
	maxTimeOut time.Duration
	next       int
	now        func() time.Time
	log        *slog.Logger
}

func (l *loadBalance) Process(ctx context.Context) (component.Status, error) {
	now := l.now()
	n := len(l.sinks)
	// The turn passes only when a sink delivered a batch: with a source
	// slower than its sinks, a turn spent on an empty channel would
	// otherwise always land on the same sink.
	start := l.next
	var perm []int
	if l.random {
		perm = rand.Perm(n)
	}
	var lastErr error
	for i := 0; i < n; i++ {
		idx := (start + i) % n
		if perm != nil {
			idx = perm[i]
		}
		s := l.sinks[idx]
		if l.backoff && s.failures > 0 && now.Before(s.until) {
			continue
		}
		st, err := s.sink.Process(ctx)
		if err == nil {
			s.failures = 0
			if st == component.Ready {
				l.next = (idx + 1) % n
			}
			return st, nil
		}
		if ctx.Err() != nil {
			return component.Backoff, err
		}
		lastErr = err
		l.next = (idx + 1) % n
		if l.backoff {
			s.failures++
			s.until = now.Add(penalty(s.failures, l.maxTimeOut))
			l.log.Warn("sink failed; blacklisted", "sink", s.name, "err", err, "for", s.until.Sub(now))
		}
	}
	if lastErr == nil {
		return component.Backoff, ErrNoSinkAvailable
	}
	return component.Backoff, fmt.Errorf("%w: last error: %w", ErrNoSinkAvailable, lastErr)
}
