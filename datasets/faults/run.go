package faults

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/vscope/vscope/datasets/replay"
	"github.com/vscope/vscope/datasets/webstore"
)

// Scenario is one run of the story: a local flow, a replay through it, and
// faults injected while it runs. It is what a suite runner varies.
type Scenario struct {
	// Flow is the flow to start. With Webstore set and Flow.Hosts empty,
	// the web servers of the generator are the tier-1 hosts. Flow.Prepare
	// gets Faults.
	Flow FlowConfig
	// Webstore, when Source is nil, is the generator to replay; the
	// generated faults among Faults are added to its Faults.
	Webstore *webstore.Config
	// Source is the replay's source, if not the web store; Origin is the
	// log time generated fault offsets count from.
	Source replay.Source
	Origin time.Time
	// Speed is the replay's speed (log time per wall time; 0: unlimited).
	Speed float64
	// Faults are injected on the replay's clock (see Flow.Schedule).
	Faults []Spec
	// Replay tunes the replay (BatchSize, Window, Progress); Speed is set
	// from the field above.
	Replay replay.Options
	// Tail keeps the flow running this long after the replay's last line,
	// so the store sees the flow settle (default 2 sample intervals).
	Tail time.Duration
	// StopTimeout bounds Stop (default 2 minutes).
	StopTimeout time.Duration
	// Verify reads the Parquet files back and counts lost lines.
	Verify bool
	// OnStart, if set, is called once the flow runs, before the replay.
	OnStart func(*Flow)
}

// Result is what a scenario did and where its evidence is.
type Result struct {
	// Dir is the run directory; StorePath the metric store (DuckDB),
	// TopologyPath the flow graph, TruthPath the faults' ground truth.
	Dir, StorePath, TopologyPath, TruthPath string
	// Truth is the ground truth, in order of start.
	Truth []Truth
	// Replay is the pacer's account (sent and timing); Route the tier-1
	// agents' (acknowledged, refused, skipped lines of other tiers).
	Replay replay.Stats
	Route  RouteStats
	// Delivery is the Parquet check, with Scenario.Verify.
	Delivery *Delivery
	// Start and End are the wall times of the replay's first line and of
	// the flow's stop.
	Start, End time.Time
}

// Lost is the replay's lost lines: read, not skipped, not acknowledged by
// a tier-1 agent, plus acknowledged lines missing from the Parquet files.
func (r *Result) Lost() int64 {
	n := r.Replay.Read - r.Route.Skipped - r.Route.Acked
	if r.Delivery != nil {
		n += r.Delivery.Lost
	}
	return n
}

// Run runs a scenario to the end: start the flow, schedule the faults,
// replay, wait Tail, stop, verify, write the truth to Dir/truth.json.
func Run(ctx context.Context, sc Scenario) (*Result, error) {
	src, origin := sc.Source, sc.Origin
	if src == nil {
		if sc.Webstore == nil {
			return nil, errors.New("scenario: no Source and no Webstore")
		}
		cfg := *sc.Webstore
		gen, err := GeneratorFaults(sc.Faults)
		if err != nil {
			return nil, err
		}
		cfg.Faults = append(append([]webstore.Fault(nil), cfg.Faults...), gen...)
		g, err := webstore.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("webstore: %w", err)
		}
		src, origin = replay.Webstore(g), g.Config().Start
		if len(sc.Flow.Hosts) == 0 {
			sc.Flow.Hosts = WebHosts(g.Config().WebHosts)
		}
	}
	sc.Flow.Prepare = append(sc.Flow.Prepare, sc.Faults...)
	if sc.StopTimeout <= 0 {
		sc.StopTimeout = 2 * time.Minute
	}
	f, err := StartFlow(ctx, sc.Flow)
	if err != nil {
		return nil, err
	}
	res := &Result{Dir: f.Dir(), StorePath: f.StorePath(), TopologyPath: f.TopologyPath(), TruthPath: filepath.Join(f.Dir(), "truth.json")}
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sc.StopTimeout)
		defer cancel()
		return f.Stop(sctx)
	}
	if err := f.Schedule(sc.Faults, sc.Speed, origin); err != nil {
		return res, errors.Join(err, stop())
	}
	if sc.OnStart != nil {
		sc.OnStart(f)
	}
	opt := sc.Replay
	opt.Speed = sc.Speed
	st, runErr := replay.Run(ctx, src, f.Sink(), opt)
	res.Replay = st
	res.Start, _, _ = f.router.clock()
	tail := sc.Tail
	if tail <= 0 {
		tail = 2 * f.cfg.SampleInterval
	}
	if runErr == nil {
		sleepUntil(ctx, time.Now().Add(tail))
	}
	errs := []error{runErr, stop()}
	res.End = time.Now()
	errs = append(errs, f.ScheduleErrors()...)
	res.Route = f.RouteStats()
	res.Truth = f.Truth()
	errs = append(errs, WriteTruth(res.TruthPath, res.Truth))
	if sc.Verify {
		d, err := f.Verify(context.WithoutCancel(ctx)) // also after an interrupt
		res.Delivery = &d
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// RouteStats is what the tier-1 agents took from the replay so far.
func (f *Flow) RouteStats() RouteStats { return f.router.stats() }

// ScheduleErrors are the scheduled faults that failed to go in or out.
func (f *Flow) ScheduleErrors() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.schedErr...)
}
