package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vscope/vscope/agent/component"
)

// unit is one supervised component: a channel, a source, or a sink. A
// pollable source or a sink also gets a runner.
type unit struct {
	kind string // "source", "channel", "sink"
	name string
	comp component.Component
	run  *runner // nil for channels and event-driven sources

	log     *slog.Logger
	restart Backoff // wait between failed starts, growing to Max

	cancel    context.CancelFunc
	done      chan struct{}
	fatal     chan error
	ready     chan struct{} // closed at the first successful Start
	readyOnce sync.Once

	mu       sync.Mutex // protects started, restarts
	started  bool
	restarts int
}

// supervise starts u and keeps it running until stop is called: a failed
// Start is retried, and a component that reports a fatal error is stopped
// and started again, both after a growing back-off.
func (u *unit) supervise(ctx context.Context) {
	ctx, u.cancel = context.WithCancel(ctx)
	u.done = make(chan struct{})
	u.fatal = make(chan error, 1)
	u.ready = make(chan struct{})
	go u.loop(ctx)
}

func (u *unit) loop(ctx context.Context) {
	defer close(u.done)
	host := component.HostFunc(func(err error) {
		select {
		case u.fatal <- err:
		default:
		}
	})
	failures := 0
	for {
		if err := u.comp.Start(ctx, host); err != nil {
			failures++
			u.log.Error("start failed; will retry", "err", err, "retry_in", u.restart.next(failures))
			if !sleepCtx(ctx, u.restart.next(failures)) {
				return
			}
			continue
		}
		u.mu.Lock()
		u.started = true
		u.mu.Unlock()
		u.readyOnce.Do(func() { close(u.ready) })
		runCtx, stopRun := context.WithCancel(ctx)
		runDone := make(chan struct{})
		go func() {
			defer close(runDone)
			if u.run != nil {
				u.run.run(runCtx)
			}
		}()
		select {
		case <-ctx.Done():
			stopRun()
			<-runDone
			return
		case err := <-u.fatal:
			stopRun()
			<-runDone
			failures++
			u.log.Error("component failed; restarting", "err", err, "retry_in", u.restart.next(failures))
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if serr := u.comp.Stop(stopCtx); serr != nil {
				u.log.Warn("stop after failure", "err", serr)
			}
			cancel()
			u.mu.Lock()
			u.started = false
			u.restarts++
			u.mu.Unlock()
			if !sleepCtx(ctx, u.restart.next(failures)) {
				return
			}
		}
	}
}

// stop ends supervision, waits for the runner to finish its current batch,
// then stops the component within ctx's deadline.
func (u *unit) stop(ctx context.Context) error {
	if u.cancel == nil {
		return nil
	}
	u.cancel()
	select {
	case <-u.done:
	case <-ctx.Done():
		return fmt.Errorf("%s %s: runner did not finish: %w", u.kind, u.name, ctx.Err())
	}
	if err := u.comp.Stop(ctx); err != nil {
		return fmt.Errorf("stop %s %s: %w", u.kind, u.name, err)
	}
	return nil
}

// waitReady waits until u first started, ctx ended, or max passed.
func (u *unit) waitReady(ctx context.Context, max time.Duration) bool {
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-u.ready:
		return true
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

// Restarts is how many times the supervisor restarted the component after
// a fatal error.
func (u *unit) Restarts() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.restarts
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// stopAll stops units in order, collecting every error.
func stopAll(ctx context.Context, units []*unit) error {
	var errs []error
	for _, u := range units {
		if err := u.stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
