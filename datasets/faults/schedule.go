package faults

import (
	"fmt"
	"strconv"
	"time"

	"github.com/vscope/vscope/datasets/webstore"
)

// Schedule puts each fault in force at its Start and takes it out after
// its Dur, on the replay's clock: the first line the flow's Sink receives
// is time 0, and log-time offsets are divided by speed (at speed 0, the
// offsets are wall time). Generated faults are not injected; their truth
// is timed by when the replay passes their log times, counted from
// origin (the generator's Config.Start). Schedule returns at once, after
// checking every target; Stop takes out what is still in force, and
// reports the faults that failed to go in.
func (f *Flow) Schedule(specs []Spec, speed float64, origin time.Time) error {
	for _, s := range specs {
		if _, err := f.resolve(s); err != nil {
			return err
		}
	}
	f.mu.Lock()
	f.speed = speed
	f.mu.Unlock()
	scale := func(d time.Duration) time.Duration {
		if speed <= 0 {
			return d
		}
		return time.Duration(float64(d) / speed)
	}
	for _, s := range specs {
		if s.Kind.Generated() {
			f.router.trackGenerated(s, origin)
			continue
		}
		f.schedWG.Add(1)
		go func() {
			defer f.schedWG.Done()
			ctx := f.schedCtx
			select {
			case <-f.router.started:
			case <-ctx.Done():
				return
			}
			wall, _, _ := f.router.clock()
			if !sleepUntil(ctx, wall.Add(scale(s.Start))) {
				return
			}
			in, err := f.Inject(ctx, s)
			if err != nil {
				f.log.Error("fault not injected", "fault", s.String(), "err", err)
				f.mu.Lock()
				f.schedErr = append(f.schedErr, fmt.Errorf("inject %s: %w", s, err))
				f.mu.Unlock()
				return
			}
			if !sleepUntil(ctx, wall.Add(scale(s.Start+s.Dur))) {
				return // Stop reverts it
			}
			if err := in.Revert(ctx); err != nil {
				f.mu.Lock()
				f.schedErr = append(f.schedErr, err)
				f.mu.Unlock()
			}
		}()
	}
	return nil
}

// sleepUntil waits until t; false if ctx ended first.
func sleepUntil(ctx interface{ Done() <-chan struct{} }, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// GeneratorFaults converts the generated faults among specs (flash_crowd,
// error_storm) into the web store generator's faults.
func GeneratorFaults(specs []Spec) ([]webstore.Fault, error) {
	var out []webstore.Fault
	for _, s := range specs {
		if !s.Kind.Generated() {
			continue
		}
		wf := webstore.Fault{Kind: webstore.FaultKind(s.Kind), At: s.Start, For: s.Dur}
		if s.Target != "*" {
			wf.Host = s.Target
		}
		switch s.Kind {
		case FlashCrowd:
			wf.Factor = s.Float("factor", 0)
			if r := s.Params["ramp"]; r != "" {
				d, err := time.ParseDuration(r)
				if err != nil {
					return nil, fmt.Errorf("%s: ramp: %w", s, err)
				}
				wf.Ramp = d
			}
		case ErrorStorm:
			wf.ErrorRate = s.Float("rate", 0)
		}
		out = append(out, wf)
	}
	return out, nil
}

// WebHosts are the web servers of a generator config: web-01, ...
func WebHosts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "web-" + pad2(i+1)
	}
	return out
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}
