package diagnose

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vscope/vscope/analysis"
	"github.com/vscope/vscope/vscope/store"
)

// Errors of the package.
var (
	// ErrOptions marks an option out of range.
	ErrOptions = errors.New("diagnose: invalid options")
)

// Options configure a diagnosis. The zero value means the defaults
// documented on each field.
type Options struct {
	// Filter selects the series (store.ParseFilter syntax).
	Filter store.Filter
	// At is the end of the window (exclusive). Zero means now.
	At time.Time
	// Window is the span diagnosed, ending at At, its ends rounded
	// outwards to whole Steps. Default 10 minutes.
	Window time.Duration
	// Baseline is the span before the window the model learns normal
	// behaviour from. Default 1 hour.
	Baseline time.Duration
	// Step is the alignment of both. Default 1 second.
	Step time.Duration
	// BaselineRows caps the baseline time points read and fitted: when the
	// baseline has more, evenly spread slices of SliceRows consecutive
	// points are read instead, the last one ending where the window
	// begins. 0 means auto: every point while points x series stays within
	// BaselineCells, else as many as fit (never fewer than 600). Negative
	// means every point.
	BaselineRows int
	// BaselineCells is the budget of the auto rule. Default 4,000,000
	// (the whole hour at 1 s up to 1,100 series; 600 points from 6,600).
	BaselineCells int
	// SliceRows is the length of a baseline slice. Default 60: more,
	// shorter slices cover the baseline's variation (a daily cycle, a
	// drifting load) better than a few long ones; each costs a read.
	SliceRows int
	// MaxGap is the longest run of missing points, in steps, that is
	// interpolated; longer gaps hold the nearest value and are reported.
	// Default 10.
	MaxGap int
	// MinBaselineRows is the fewest baseline points the multivariate
	// model is fitted on; below it the diagnosis falls back to robust
	// z-scores per metric. Default 30.
	MinBaselineRows int
	// Top is the number of ranked metrics reported. Default 20.
	Top int
	// OnsetTolerance is how close, in steps, two onsets are to count as
	// simultaneous; then the direction the fault spreads decides.
	// Default 2.
	OnsetTolerance int
	// Topology is the flow graph from a file or the agents'
	// configurations; nil means only what the metric names tell.
	Topology *Topology
	// Analysis configures the model (analysis.Config defaults).
	Analysis analysis.Config
}

func (o Options) withDefaults() Options {
	if o.Window == 0 {
		o.Window = 10 * time.Minute
	}
	if o.Baseline == 0 {
		o.Baseline = time.Hour
	}
	if o.Step == 0 {
		o.Step = time.Second
	}
	if o.BaselineCells == 0 {
		o.BaselineCells = 4_000_000
	}
	if o.SliceRows == 0 {
		o.SliceRows = 60
	}
	if o.MaxGap == 0 {
		o.MaxGap = 10
	}
	if o.MinBaselineRows == 0 {
		o.MinBaselineRows = 30
	}
	if o.Top == 0 {
		o.Top = 20
	}
	if o.OnsetTolerance == 0 {
		o.OnsetTolerance = 2
	}
	return o
}

// Validate reports options out of range.
func (o Options) Validate() error {
	d := o.withDefaults()
	switch {
	case d.Step < time.Millisecond:
		return fmt.Errorf("%w: step %v: want at least 1ms", ErrOptions, o.Step)
	case d.Window < d.Step:
		return fmt.Errorf("%w: window %v shorter than the step %v", ErrOptions, o.Window, d.Step)
	case d.Baseline < 0:
		return fmt.Errorf("%w: baseline %v is negative", ErrOptions, o.Baseline)
	case d.Window/d.Step > 1<<20:
		return fmt.Errorf("%w: window %v at %v is over a million points", ErrOptions, d.Window, d.Step)
	case d.Baseline/d.Step > 1<<22:
		return fmt.Errorf("%w: baseline %v at %v is over four million points", ErrOptions, d.Baseline, d.Step)
	case d.SliceRows < 1 || d.MaxGap < 0 || d.MinBaselineRows < 2 || d.Top < 0 || d.OnsetTolerance < 0:
		return fmt.Errorf("%w: slice rows, max gap, min baseline rows, top and onset tolerance must be positive", ErrOptions)
	case d.BaselineCells < 1:
		return fmt.Errorf("%w: baseline cells %d", ErrOptions, d.BaselineCells)
	}
	if err := o.Filter.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrOptions, err)
	}
	return o.Analysis.Validate()
}

// Input is what a diagnosis reads from a store: the window and the
// baseline, each aligned on the step. Baseline may be several slices of
// the baseline period (see Options.BaselineRows), in time order.
type Input struct {
	Window   *store.Matrix
	Baseline []*store.Matrix
	// WindowFrom/To and BaselineFrom/To are the periods asked for.
	WindowFrom, WindowTo     time.Time
	BaselineFrom, BaselineTo time.Time
}

// Run loads the window and baseline from st and diagnoses them.
func Run(ctx context.Context, st store.Store, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	t0, c0 := time.Now(), cpuTime()
	in, err := Load(ctx, st, o)
	if err != nil {
		return nil, err
	}
	load, loadCPU := time.Since(t0), cpuTime()-c0
	r, err := Analyze(in, o)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	addReportData(ctx, st, o, r) // report.go: flow edges, the baseline before the window
	r.TimingMS["report_data"] = ms(time.Since(t1))
	r.TimingMS["load"] = ms(load)
	r.TimingMS["load_cpu"] = ms(loadCPU)
	r.TimingMS["total"] = ms(time.Since(t0))
	r.TimingMS["total_cpu"] = ms(cpuTime() - c0)
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Load reads the window and the baseline (whole, or slices of it) from st.
func Load(ctx context.Context, st store.Store, o Options) (*Input, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	at := o.At
	if at.IsZero() {
		at = time.Now()
	}
	step := o.Step
	to := at.Truncate(step)
	if to.Before(at) {
		to = to.Add(step) // include the partial step that holds At's points
	}
	// The window's start is rounded down as its end is rounded up: a
	// window opened at a fault's start holds the step with the fault's
	// first points rather than leaving them to the baseline.
	from := at.Add(-o.Window).Truncate(step)
	in := &Input{WindowTo: to, WindowFrom: from}
	in.BaselineTo = in.WindowFrom
	in.BaselineFrom = in.BaselineTo.Add(-o.Baseline)
	// The window and the baseline slices are read together (store.ReadMany:
	// in pieces over the store's connections, the values of the slices one
	// after another, which lets clean gather them in place) when the store
	// knows how many series the filter selects, which the plan of the
	// slices needs; else the window first. Slices listing the same series
	// as the window share its list, which clean maps by position.
	wq := store.Query{Filter: o.Filter, From: in.WindowFrom, To: in.WindowTo, Step: step}
	if o.Baseline <= 0 {
		w, err := st.Read(ctx, wq)
		if err != nil {
			return nil, fmt.Errorf("read window: %w", err)
		}
		in.Window = w
		return in, nil
	}
	plan := func(series int) []store.Query {
		rows := o.BaselineRows
		if rows == 0 {
			rows = max(600, o.BaselineCells/max(series, 1))
		}
		var qs []store.Query
		for _, sl := range baselineSlices(int(o.Baseline/step), rows, o.SliceRows) {
			qs = append(qs, store.Query{Filter: o.Filter, Step: step,
				From: in.BaselineFrom.Add(time.Duration(sl[0]) * step), To: in.BaselineFrom.Add(time.Duration(sl[1]) * step)})
		}
		return qs
	}
	var ms []*store.Matrix
	if n, ok := store.SeriesCount(st, o.Filter); ok {
		all, err := store.ReadMany(ctx, st, append([]store.Query{wq}, plan(n)...))
		if err != nil {
			return nil, fmt.Errorf("read window and baseline: %w", err)
		}
		in.Window, ms = all[0], all[1:]
	} else {
		w, err := st.Read(ctx, wq)
		if err != nil {
			return nil, fmt.Errorf("read window: %w", err)
		}
		in.Window = w
		if ms, err = store.ReadMany(ctx, st, plan(len(w.Series))); err != nil {
			return nil, fmt.Errorf("read baseline: %w", err)
		}
	}
	w := in.Window
	same := map[*store.Series]bool{}
	for _, m := range ms {
		if len(m.Series) > 0 && len(m.Series) == len(w.Series) && &m.Series[0] != &w.Series[0] {
			p := &m.Series[0]
			eq, seen := same[p]
			if !seen {
				eq = slices.Equal(m.Series, w.Series)
				same[p] = eq
			}
			if eq {
				m.Series = w.Series
			}
		}
	}
	in.Baseline = ms
	return in, nil
}

// baselineSlices picks [from, to) row ranges of a baseline of total rows:
// all of it when want < 0 or want >= total, else ceil(want/slice) slices
// of slice rows spread evenly, the last ending at total.
func baselineSlices(total, want, slice int) [][2]int {
	if total <= 0 {
		return nil
	}
	if want < 0 || want >= total {
		return [][2]int{{0, total}}
	}
	want = max(want, 1)
	slice = min(max(slice, 1), want)
	k := (want + slice - 1) / slice
	if k*slice >= total {
		return [][2]int{{0, total}}
	}
	out := make([][2]int, 0, k)
	// Slice i ends at total - (k-1-i)·gap, gap = (total - slice)/(k-1).
	for i := range k {
		end := total
		if k > 1 {
			end = slice + (total-slice)*i/(k-1)
		}
		out = append(out, [2]int{end - slice, end})
	}
	return out
}
