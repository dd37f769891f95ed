package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/vscope/vscope/agent/component"
)

// Backoff is how long a runner waits after a Backoff status: the wait
// grows by Increment each time, up to Max, and resets after a Ready.
// Flume's runners use 1 s and 5 s.
type Backoff struct {
	Increment time.Duration
	Max       time.Duration
}

// next returns the wait after n consecutive back-offs (n >= 1).
func (b Backoff) next(n int) time.Duration {
	d := time.Duration(n) * b.Increment
	if d > b.Max || d <= 0 {
		return b.Max
	}
	return d
}

// runner drives a Poller until its context ends. wake, when set, cuts a
// back-off short: a sink runner waits on its channel's Notify so a sink
// sleeping on an empty channel starts as soon as events arrive.
type runner struct {
	p       component.Poller
	wake    func() <-chan struct{}
	backoff Backoff
	log     *slog.Logger
}

// run calls Process until ctx is done. Errors are logged at most once per
// errEvery with the number suppressed, so a failing sink cannot flood logs.
func (r *runner) run(ctx context.Context) {
	const errEvery = 5 * time.Second
	var (
		streak     int
		lastLog    time.Time
		suppressed int
		timer      = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
	for ctx.Err() == nil {
		st, err := r.p.Process(ctx)
		if err != nil && ctx.Err() == nil {
			if time.Since(lastLog) >= errEvery {
				r.log.Warn("process failed", "err", err, "suppressed", suppressed)
				lastLog, suppressed = time.Now(), 0
			} else {
				suppressed++
			}
		}
		if st == component.Ready && err == nil {
			streak = 0
			continue
		}
		streak++
		var wake <-chan struct{}
		if r.wake != nil && err == nil {
			wake = r.wake()
		}
		timer.Reset(r.backoff.next(streak))
		select {
		case <-ctx.Done():
		case <-timer.C:
		case <-wake:
			timer.Stop() // since Go 1.23 no stale tick can be received after Stop
			streak = 0
		}
	}
}
