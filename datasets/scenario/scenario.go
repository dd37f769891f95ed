// Package scenario runs the fault-injection suite of vscope eval suite: a
// scenario is a fault kind x a placement (tier-1 or collector) x a seed.
// Each run starts the local 3-tier flow of package faults (2 web servers,
// 2 collectors, agents as real processes), replays a few minutes of web
// store logs at high speed, injects the fault after a baseline stretch,
// stops, and diagnoses the fault window with the stretch before it as
// baseline (vscope/diagnose on the run's store and topology). The
// diagnosis is then scored against the fault's ground truth.
//
// # Component identity
//
// The truth names the root cause as host/agent/component (host/component
// for a host-wide cause: host/cpu, host/go, host/process) and lists other
// acceptable endpoints in Also (the other end of a slowed link, the
// components of a killed agent). A diagnosed component is correct when
// its endpoint, built the same way from the component result (host,
// agent, component), equals the truth's endpoint or one in Also. For a
// host-wide truth (agent "") the agent of the diagnosed component is
// ignored: host web-01 component go matches whatever agent label the
// runtime metrics carry. A diagnosed host-wide group (agent "") whose
// host and component match a truth with an agent is accepted too
// (cpu_interference reported as web-01/web/cpu). AC@k is 1 when one of
// the first k components of the diagnosis (its Components list, causes
// first, as vscope diagnose prints them) is correct.
//
// # Metrics
//
// Ranked metrics are compared with the truth's expected metrics
// (Truth.Metrics, cause and symptom roles alike) by the signal they
// measure (faults.Signal: p50 and p99 of one histogram, a channel's size
// and fill, a source's received and accepted events are one signal each).
// The truth's entries of one signal count once, and so does a ranking:
// its second series of a signal takes a place and hits nothing, so a
// ranking that names one quantity twice scores lower. Avg@5 is
// analysis.AvgK over the ranking, HitRate@150% analysis.HitRate;
// Avg5Series is Avg@5 by series name (host/agent/component/metric), the
// stricter figure.
//
// # Pairs
//
// A pair (Pairs, vscope eval suite --pairs) injects a second fault of
// another kind on the placement's second host (web-02, col-02), PairDelay
// of log time after the first: two causes at about the same time, which
// the suite's single faults never show. The diagnosis covers both faults'
// time; AC@k is the share of the two causes among the first k components
// (as many as k allows: AC@1 is whether the first is either), and the
// metrics are scored against both truths' expected metrics.
//
// # Time to a correct top-1
//
// After the run, the store is diagnosed again over growing windows from
// the fault's start (every Step of TTDStep up to the fault's end), each
// with the same baseline; the first window whose top-1 component is
// correct gives the time from the fault's start to a correct top-1
// (-1 when none is).
package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vscope/vscope/analysis"
	"github.com/vscope/vscope/datasets/faults"
	"github.com/vscope/vscope/datasets/webstore"
	"github.com/vscope/vscope/vscope/diagnose"
	"github.com/vscope/vscope/vscope/store"
)

// Placements.
const (
	Tier1     = "tier1"
	Collector = "collector"
)

// Case is one scenario: a fault kind at a placement with a seed, and
// optionally a second fault (With, at WithPlacement) on the placement's
// second host (web-02, col-02), starting PairDelay of log time after the
// first: two things gone wrong at about the same time.
type Case struct {
	Kind      faults.Kind
	Placement string
	Seed      uint64

	With          faults.Kind
	WithPlacement string
}

// PairDelay is the log time from a pair's first fault to its second.
const PairDelay = 30 * time.Second

// String is kind@placement#seed, or kind@placement+kind@placement#seed
// for a pair.
func (c Case) String() string {
	if c.With != "" {
		return fmt.Sprintf("%s@%s+%s@%s#%d", c.Kind, c.Placement, c.With, c.WithPlacement, c.Seed)
	}
	return fmt.Sprintf("%s@%s#%d", c.Kind, c.Placement, c.Seed)
}

// target is where the fault goes for a placement on its first host
// (web-01, col-01), or its second (web-02, col-02) when second; "" if the
// kind has no such placement (the generated faults only happen on web
// servers, a crash only on a collector).
func target(k faults.Kind, placement string, second bool) string {
	n := 1
	if second {
		n = 2
	}
	host := fmt.Sprintf("web-%02d", n)
	if k == faults.CollectorCrash && placement != Collector {
		// A tier-1 agent's memory channel dies with it: the flow refuses
		// to kill it (the crash is a collector's fault).
		return ""
	}
	if placement == Collector {
		if k.Generated() {
			return ""
		}
		host = fmt.Sprintf("col-%02d", n)
	}
	switch k {
	case faults.SlowSink:
		return host + "/k1"
	case faults.TinyChannel:
		return host + "/c1"
	case faults.NetDelay, faults.NetLoss:
		return host // every link out of a web server, or into a collector
	}
	return host
}

// params are the fault's parameters: strong enough to be seen in a short
// run.
func params(k faults.Kind) string {
	switch k {
	case faults.SlowSink:
		return ",delay=300ms"
	case faults.CPUInterference:
		return ",threads=2"
	case faults.NetDelay:
		return ",delay=150ms"
	case faults.NetLoss:
		return ",loss=0.3,rto=300ms"
	case faults.TinyChannel:
		return ",capacity=200"
	case faults.GCStorm:
		return ",rate=100MB,live=16MB,gogc=10"
	case faults.FlashCrowd:
		return ",factor=10"
	case faults.ErrorStorm:
		return ",rate=0.5"
	}
	return ""
}

// Cases lists kinds x placements x seeds, leaving out kinds with no such
// placement.
func Cases(kinds []faults.Kind, placements []string, seeds []uint64) []Case {
	var out []Case
	for _, s := range seeds {
		for _, k := range kinds {
			for _, p := range placements {
				if target(k, p, false) != "" {
					out = append(out, Case{Kind: k, Placement: p, Seed: s})
				}
			}
		}
	}
	return out
}

// Pairs gives each of Cases(kinds, placements, seeds) a second fault of
// another kind on the second host of its placement: the case that comes
// 1+seed places later among the seed's cases, so that over seeds every
// kind meets different partners. Kinds with no placement on a second host
// are skipped as partners.
func Pairs(kinds []faults.Kind, placements []string, seeds []uint64) []Case {
	var out []Case
	for _, s := range seeds {
		one := Cases(kinds, placements, []uint64{s})
		for i, c := range one {
			for k := 1; k < len(one); k++ {
				w := one[(i+int(s%uint64(len(one)))+k)%len(one)]
				if w.Kind != c.Kind && target(w.Kind, w.Placement, true) != "" {
					c.With, c.WithPlacement = w.Kind, w.Placement
					out = append(out, c)
					break
				}
			}
		}
	}
	return out
}

// Config is how each run is done.
type Config struct {
	// Command runs a member process of the flow (see faults.FlowConfig).
	Command []string
	Env     []string
	// Dir is where the run directories go (one per run, created).
	Dir string
	// WebHosts and Collectors size the flow (2 and 2).
	WebHosts, Collectors int
	// Warmup is the log time replayed before the baseline (1m; negative:
	// none): freshly started agents' heaps, connections and caches settle
	// in it. Lead is the log time before the fault that is the baseline,
	// Dur the fault's, After the log time replayed after it (2m, 2m, 30s).
	Warmup, Lead, Dur, After time.Duration
	// Speed is the replay's speed (10).
	Speed float64
	// SampleInterval is the agents' sampling period and the diagnosis'
	// step (250ms).
	SampleInterval time.Duration
	// TTDStep is the growth of the windows of the time to a correct top-1
	// (wall time; 0: Dur/Speed/8; negative: not measured).
	TTDStep time.Duration
	// Logger gets the flow's messages (default: discarded).
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.WebHosts <= 0 {
		c.WebHosts = 2
	}
	if c.Collectors <= 0 {
		c.Collectors = 2
	}
	switch {
	case c.Warmup == 0:
		c.Warmup = time.Minute
	case c.Warmup < 0:
		c.Warmup = 0
	}
	if c.Lead <= 0 {
		c.Lead = 2 * time.Minute
	}
	if c.Dur <= 0 {
		c.Dur = 2 * time.Minute
	}
	if c.After <= 0 {
		c.After = 30 * time.Second
	}
	if c.Speed <= 0 {
		c.Speed = 10
	}
	if c.SampleInterval <= 0 {
		c.SampleInterval = 250 * time.Millisecond
	}
	if c.TTDStep == 0 {
		c.TTDStep = time.Duration(float64(c.Dur) / c.Speed / 8)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Run is the outcome of one scenario.
type Run struct {
	Fault     string `json:"fault"`
	Placement string `json:"placement"`
	Seed      uint64 `json:"seed"`
	Spec      string `json:"spec"`
	// Truth is the truth's endpoint (Also the other accepted ones).
	Truth string   `json:"truth"`
	Also  []string `json:"also,omitempty"`
	// For a pair, Truths are both faults' endpoints and Ranks the rank of
	// the first component matching each (0: none).
	Truths []string `json:"truths,omitempty"`
	Ranks  []int    `json:"ranks,omitempty"`
	// Top3 are the first three components of the diagnosis, TopMetrics
	// its first five metrics (host/agent/component/metric).
	Top3       []string `json:"top3"`
	TopMetrics []string `json:"top_metrics"`
	// Correct is whether the top-1 component is right; Rank the rank of
	// the first right component (0: none).
	Correct bool `json:"correct"`
	Rank    int  `json:"rank"`
	// AC1, AC3, Avg5, HitRate150 are this run's scores, Avg5 and
	// HitRate150 by signal (Score); Avg5Series is Avg@5 by series name.
	// With two faults AC@k is the share of them found in the first k
	// components (k = 1: either).
	AC1        float64 `json:"ac1"`
	AC3        float64 `json:"ac3"`
	Avg5       float64 `json:"avg5"`
	HitRate150 float64 `json:"hitrate150"`
	Avg5Series float64 `json:"avg5_series"`
	// Expected is how many metrics the truth lists, Observed how many of
	// them moved as expected (observed): Avg5 and HitRate150 score
	// against those.
	Expected int `json:"expected"`
	Observed int `json:"observed"`
	// Moved are the expected metrics that moved (host/agent/component/
	// metric).
	Moved []string `json:"moved"`
	// TTD is the seconds from the fault's start to the first growing
	// window with a correct top-1 (-1: none, or not measured).
	TTD float64 `json:"ttd_seconds"`
	// Status is the diagnosis' status; Err what went wrong, if anything.
	Status  string  `json:"status"`
	Seconds float64 `json:"seconds"`
	Dir     string  `json:"dir"`
	Err     string  `json:"error,omitempty"`
}

// RunCase runs one scenario and scores it. A run whose flow or diagnosis
// failed comes back with Err set and zero scores.
func RunCase(ctx context.Context, cfg Config, c Case) Run {
	cfg.defaults()
	t0 := time.Now()
	r := Run{Fault: string(c.Kind), Placement: c.Placement, Seed: c.Seed, TTD: -1}
	if c.With != "" {
		r.Fault += "+" + string(c.With)
		r.Placement += "+" + c.WithPlacement
	}
	err := runCase(ctx, cfg, c, &r)
	if err != nil {
		r.Err = err.Error()
	}
	r.Seconds = math.Round(time.Since(t0).Seconds()*10) / 10
	return r
}

func runCase(ctx context.Context, cfg Config, c Case, r *Run) error {
	specs, err := caseSpecs(cfg, c)
	if err != nil {
		return err
	}
	var names []string
	for _, sp := range specs {
		names = append(names, sp.String())
	}
	r.Spec = strings.Join(names, " + ")
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(cfg.Dir, strings.ReplaceAll(c.String(), "#", "-")+"-")
	if err != nil {
		return err
	}
	r.Dir = dir
	end := cfg.Warmup + cfg.Lead + cfg.Dur + cfg.After
	if c.With != "" {
		end += PairDelay
	}
	ws := webstore.NewConfig(end)
	ws.Seed = c.Seed
	ws.WebHosts = cfg.WebHosts
	sc := faults.Scenario{
		Flow: faults.FlowConfig{
			Dir: dir, Collectors: cfg.Collectors, Command: cfg.Command, Env: cfg.Env,
			SampleInterval: cfg.SampleInterval, Retry: time.Minute, Logger: cfg.Logger,
		},
		Webstore: &ws, Speed: cfg.Speed, Faults: specs,
	}
	res, err := faults.Run(ctx, sc)
	if res == nil {
		return err
	}
	if err != nil {
		// The scenario's own errors (a fault that did not go in or out)
		// are reported, the store is still diagnosed.
		r.Err = err.Error()
	}
	if len(res.Truth) < len(specs) {
		return errors.Join(err, fmt.Errorf("%d faults, %d truths recorded", len(specs), len(res.Truth)))
	}
	rec := record{Case: c.String(), Kind: r.Fault, Placement: r.Placement, Seed: c.Seed, Spec: r.Spec, Start: res.Start}
	if b, jerr := json.MarshalIndent(rec, "", "  "); jerr == nil {
		err = errors.Join(err, os.WriteFile(filepath.Join(dir, recordFile), append(b, '\n'), 0o644))
	}
	return errors.Join(err, score(ctx, cfg, res, res.Truth, r))
}

// caseSpecs are the case's faults: the first after the warm-up and the
// lead, a pair's second PairDelay later on the second host.
func caseSpecs(cfg Config, c Case) ([]faults.Spec, error) {
	type one struct {
		kind      faults.Kind
		placement string
		second    bool
		at        time.Duration
	}
	todo := []one{{c.Kind, c.Placement, false, cfg.Warmup + cfg.Lead}}
	if c.With != "" {
		todo = append(todo, one{c.With, c.WithPlacement, true, cfg.Warmup + cfg.Lead + PairDelay})
	}
	var specs []faults.Spec
	for _, o := range todo {
		tg := target(o.kind, o.placement, o.second)
		if tg == "" {
			return nil, fmt.Errorf("%s has no %s placement", o.kind, o.placement)
		}
		spec, err := faults.ParseSpec(fmt.Sprintf("%s@%s,start=+%v,dur=%v%s", o.kind, tg, o.at, cfg.Dur, params(o.kind)))
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// recordFile is written into each run directory: what Rescore needs
// beside the store, the truth and the topology.
const recordFile = "scenario.json"

type record struct {
	Case      string    `json:"case"`
	Kind      string    `json:"kind"`
	Placement string    `json:"placement"`
	Seed      uint64    `json:"seed"`
	Spec      string    `json:"spec"`
	Start     time.Time `json:"start"` // the replay's first line, wall time
}

// Rescore diagnoses a kept run directory again (its store, truth and
// topology, as RunCase left them with --keep) and scores it: the way to
// compare two versions of the diagnosis on the same runs.
func Rescore(ctx context.Context, cfg Config, dir string) Run {
	cfg.defaults()
	t0 := time.Now()
	r := Run{TTD: -1, Dir: dir}
	err := func() error {
		b, err := os.ReadFile(filepath.Join(dir, recordFile))
		if err != nil {
			return err
		}
		var rec record
		if err := json.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, recordFile), err)
		}
		r.Fault, r.Placement, r.Seed, r.Spec = rec.Kind, rec.Placement, rec.Seed, rec.Spec
		truth, err := faults.ReadTruth(filepath.Join(dir, "truth.json"))
		if err != nil {
			return err
		}
		if len(truth) == 0 {
			return fmt.Errorf("%s: no truth recorded", dir)
		}
		res := &faults.Result{Start: rec.Start, StorePath: filepath.Join(dir, "metrics.duckdb"),
			TopologyPath: filepath.Join(dir, "topology.json")}
		return score(ctx, cfg, res, truth, &r)
	}()
	if err != nil {
		r.Err = err.Error()
	}
	r.Seconds = math.Round(time.Since(t0).Seconds()*10) / 10
	return r
}

// KeptRuns lists the run directories under dir that Rescore can read.
func KeptRuns(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), recordFile)); err == nil {
				out = append(out, filepath.Join(dir, e.Name()))
			}
		}
	}
	return out, nil
}

// Diagnose diagnoses a run's fault window (the truth's start to end) with
// the Lead before it, after the warm-up, as baseline, at the sampling
// step, with the run's topology.
func Diagnose(ctx context.Context, cfg Config, res *faults.Result, tr faults.Truth) (*diagnose.Result, error) {
	cfg.defaults()
	st, err := store.OpenDuckDB(ctx, res.StorePath, store.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	d, _, err := diagnoseAt(ctx, st, cfg, res, []faults.Truth{tr}, nil)
	return d, err
}

// span is one truth covering several: from the first start to the last
// end, with all their expected metrics, the first's endpoint.
func span(truths []faults.Truth) faults.Truth {
	sp := truths[0]
	sp.Metrics = nil
	for _, t := range truths {
		if t.Start.Before(sp.Start) {
			sp.Start = t.Start
		}
		if t.End.After(sp.End) {
			sp.End = t.End
		}
		sp.Metrics = append(sp.Metrics, t.Metrics...)
	}
	return sp
}

// matchesAny: the component is one of the truths' causes.
func matchesAny(truths []faults.Truth, c diagnose.ComponentResult) bool {
	return slices.ContainsFunc(truths, func(t faults.Truth) bool { return Matches(t, c) })
}

// baseline is how long before the fault the diagnosis' baseline reaches:
// the Lead, after the warm-up.
func baseline(cfg Config, res *faults.Result, tr faults.Truth) time.Duration {
	return min(tr.Start.Sub(res.Start), time.Duration(float64(cfg.Lead)/cfg.Speed))
}

// diagnoseAt diagnoses the window from the (first) fault's start to each
// of at (the last fault's end when empty), returning the last diagnosis
// and the first time whose top-1 component is a truth's (zero: none).
func diagnoseAt(ctx context.Context, st store.Store, cfg Config, res *faults.Result, truths []faults.Truth, at []time.Time) (*diagnose.Result, time.Time, error) {
	tr := span(truths)
	topo, err := diagnose.ReadTopologyFile(res.TopologyPath)
	if err != nil {
		return nil, time.Time{}, err
	}
	base := baseline(cfg, res, tr)
	if base < 10*cfg.SampleInterval {
		return nil, time.Time{}, fmt.Errorf("baseline %v too short", base)
	}
	if len(at) == 0 {
		at = []time.Time{tr.End}
	}
	var d *diagnose.Result
	var first time.Time
	for _, t := range at {
		if ctx.Err() != nil {
			break
		}
		g, err := diagnose.Run(ctx, st, diagnose.Options{At: t, Window: t.Sub(tr.Start), Baseline: base,
			Step: cfg.SampleInterval, Topology: topo, Top: 50})
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("diagnose: %w", err)
		}
		d = g
		if len(g.Components) > 0 && matchesAny(truths, g.Components[0]) {
			first = t
			break
		}
	}
	return d, first, nil
}

// score diagnoses the run's store and compares it with the truths.
func score(ctx context.Context, cfg Config, res *faults.Result, truths []faults.Truth, r *Run) error {
	tr := span(truths)
	r.Truth, r.Also = tr.Endpoint, tr.Also // also when the diagnosis fails
	st, err := store.OpenDuckDB(ctx, res.StorePath, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	d, _, err := diagnoseAt(ctx, st, cfg, res, truths, nil)
	if err != nil {
		return err
	}
	r.Status = d.Status
	seen, err := observed(ctx, st, cfg, res, tr)
	if err != nil {
		return err
	}
	Score(d, truths, seen, r)
	if cfg.TTDStep > 0 {
		var at []time.Time
		for t := tr.Start.Add(cfg.TTDStep); !t.After(tr.End); t = t.Add(cfg.TTDStep) {
			at = append(at, t)
		}
		if len(at) > 0 {
			_, first, err := diagnoseAt(ctx, st, cfg, res, truths, at)
			if err == nil && !first.IsZero() {
				r.TTD = math.Round(first.Sub(tr.Start).Seconds()*100) / 100
			}
		}
	}
	return nil
}

// Endpoint is a diagnosed component's host/agent/component
// (host/component when it has no agent).
func Endpoint(c diagnose.ComponentResult) string {
	if c.Agent == "" {
		return c.Host + "/" + c.Component
	}
	return c.Host + "/" + c.Agent + "/" + c.Component
}

// Matches reports whether a diagnosed component is the truth's cause (see
// the package doc).
func Matches(tr faults.Truth, c diagnose.ComponentResult) bool {
	ep := Endpoint(c)
	if ep == tr.Endpoint {
		return true
	}
	for _, a := range tr.Also {
		if ep == a {
			return true
		}
	}
	if c.Host != tr.Host || c.Component != tr.Component {
		return false
	}
	return tr.Agent == "" || c.Agent == ""
}

func metricID(host, agent, comp, metric string) string {
	return host + "/" + agent + "/" + comp + "/" + metric
}

// observed returns the truth's expected metrics that moved as expected
// in the run: a quarter of the fault's points or more past the range of
// the baseline the diagnosis uses, its 5% extremes on each side left out
// ("up": above it; "down": below it), or for "absent" a step of the fault
// without a value. Chance puts a point or two of a noisy rate past that
// range, not a quarter of them; a count of failures flat through the
// baseline (none) needs one point off its value. The truth lists what the
// fault should do to the flow; whether it did depends on the load and the
// machine (a channel of capacity 200 never fills when its sink keeps
// up), and an expert points at what happened. The check reads the raw
// series, not the diagnosis. All are returned when none moved.
func observed(ctx context.Context, st store.Store, cfg Config, res *faults.Result, tr faults.Truth) ([]faults.Metric, error) {
	step := cfg.SampleInterval
	from := tr.Start.Add(-baseline(cfg, res, tr)).Truncate(step)
	m, err := st.Read(ctx, store.Query{From: from, To: tr.End, Step: step})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", res.StorePath, err)
	}
	col := map[string]int{}
	for j, s := range m.Series {
		col[metricID(s.Host, s.Agent, s.Component, s.Metric)] = j
	}
	startMS := tr.Start.UnixMilli()
	var out []faults.Metric
	for _, e := range tr.Metrics {
		j, ok := col[metricID(e.Host, e.Agent, e.Component, e.Metric)]
		if !ok {
			if e.Change == "absent" {
				out = append(out, e)
			}
			continue
		}
		var b, w []float64
		gap := false
		for i, t := range m.Times {
			switch v := m.At(i, j); {
			case t < startMS && !math.IsNaN(v):
				b = append(b, v)
			case t >= startMS && math.IsNaN(v):
				gap = true
			case t >= startMS:
				w = append(w, v)
			}
		}
		if e.Change == "absent" {
			if gap {
				out = append(out, e)
			}
			continue
		}
		// The baseline's range without its 5% extremes on each side: the
		// fault's start is taken as the injector saw it, and a change it
		// made can reach the store a point or two before.
		sort.Float64s(b)
		if len(b) == 0 {
			continue
		}
		lo, hi := b[len(b)*5/100], b[len(b)-1-len(b)*5/100]
		past := 0
		for _, v := range w {
			if (e.Change == "up" && v > hi) || (e.Change == "down" && v < lo) {
				past++
			}
		}
		// A count of failures flat through the baseline (none) that
		// leaves its value has changed however briefly.
		if past > 0 && (past >= len(w)/4 || (lo == hi && failures(e.Metric))) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return tr.Metrics, nil
	}
	return out, nil
}

// failures: a count of failures or errors, by its name.
func failures(metric string) bool {
	m := strings.ToLower(metric)
	return strings.Contains(m, "fail") || strings.Contains(m, "error")
}

// Score fills r's truth, top components and metrics and its scores from
// a diagnosis of the fault window: Avg5 and HitRate150 against seen, the
// expected metrics that moved (observed), Avg5Series against all of
// them. With several truths (a pair of faults) AC@k is the share of them
// whose cause is among the first k components, as many as k allows
// (AC@1: either is first).
func Score(d *diagnose.Result, truths []faults.Truth, seen []faults.Metric, r *Run) {
	tr := span(truths)
	r.Truth, r.Also, r.Truths, r.Ranks = truths[0].Endpoint, truths[0].Also, nil, nil
	r.Top3, r.TopMetrics, r.Rank = nil, nil, 0
	for _, c := range d.Components[:min(3, len(d.Components))] {
		r.Top3 = append(r.Top3, Endpoint(c))
	}
	// Each truth's rank: its first matching component (0: none). The
	// run's rank is the best of them.
	ranks := make([]int, len(truths))
	for k, t := range truths {
		if i := slices.IndexFunc(d.Components, func(c diagnose.ComponentResult) bool { return Matches(t, c) }); i >= 0 {
			ranks[k] = i + 1
			if r.Rank == 0 || i+1 < r.Rank {
				r.Rank = i + 1
			}
		}
	}
	r.Correct = r.Rank == 1
	found := func(k int) float64 {
		n := 0
		for _, rank := range ranks {
			if rank >= 1 && rank <= k {
				n++
			}
		}
		return min(1, float64(n)/float64(min(k, len(truths))))
	}
	r.AC1, r.AC3 = found(1), found(3)
	if len(truths) > 1 {
		for _, t := range truths {
			r.Truths = append(r.Truths, t.Endpoint)
		}
		r.Ranks = ranks
	}
	// Both are scored by signal (faults.Signal): two series of one
	// quantity are one hit, and a second series of a signal already
	// ranked fills its place without a hit. Avg5Series scores the series
	// by name, as the truth lists them.
	sigs, names := idents{}, idents{}
	var gtNames []int
	gone := map[string]bool{}
	for _, m := range tr.Metrics {
		if m.Change == "absent" {
			gone[m.Host+"/"+m.Agent] = true
		}
		if n := names.id(metricID(m.Host, m.Agent, m.Component, m.Metric)); !slices.Contains(gtNames, n) {
			gtNames = append(gtNames, n)
		}
	}
	r.Expected, r.Observed, r.Moved = len(tr.Metrics), len(seen), nil
	for _, m := range seen {
		r.Moved = append(r.Moved, metricID(m.Host, m.Agent, m.Component, m.Metric))
	}
	sig := func(host, agent, comp, metric string) string { return faults.Signal(host, agent, comp, metric, gone) }
	var gt []int
	for _, m := range seen {
		// "absent" metrics (a killed process's) are ranked as stopped
		// reporting.
		if n := sigs.id(sig(m.Host, m.Agent, m.Component, m.Metric)); !slices.Contains(gt, n) {
			gt = append(gt, n)
		}
	}
	var ranking, rankNames []int
	shown := map[int]bool{}
	for i, m := range d.Ranking {
		s := metricID(m.Host, m.Agent, m.Component, m.Metric)
		if i < 5 {
			r.TopMetrics = append(r.TopMetrics, s)
		}
		n := sigs.id(sig(m.Host, m.Agent, m.Component, m.Metric))
		if shown[n] {
			n = -1 - i // a repeat: a place that hits nothing
		}
		shown[n] = true
		ranking = append(ranking, n)
		rankNames = append(rankNames, names.id(s))
	}
	r.Avg5, r.HitRate150, r.Avg5Series = 0, 0, 0
	if len(gt) > 0 {
		r.Avg5 = analysis.AvgK(ranking, gt, 5)
		r.HitRate150 = analysis.HitRate(ranking, gt, 1.5)
		r.Avg5Series = analysis.AvgK(rankNames, gtNames, 5)
	}
}

// idents numbers strings in the order they are first seen.
type idents map[string]int

func (ids idents) id(s string) int {
	if n, ok := ids[s]; ok {
		return n
	}
	ids[s] = len(ids)
	return ids[s]
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Summary is the suite's figures over its runs.
type Summary struct {
	AC1        float64 `json:"ac1"`
	AC3        float64 `json:"ac3"`
	Avg5       float64 `json:"avg5"`
	HitRate150 float64 `json:"hitrate150"`
	Avg5Series float64 `json:"avg5_series"`
	// Expected is how many metrics the truth lists, Observed how many of
	// them moved as expected (observed): Avg5 and HitRate150 score
	// against those.
	Expected int `json:"expected"`
	Observed int `json:"observed"`
	// Moved are the expected metrics that moved (host/agent/component/
	// metric).
	Moved []string `json:"moved"`
	// TTDMedian is the median time to a correct top-1 over the runs that
	// reached one (-1: none did); TTDFound how many did.
	TTDMedian float64 `json:"ttd_median_seconds"`
	TTDFound  int     `json:"ttd_found"`
	Runs      int     `json:"runs"`
	Errors    int     `json:"errors"`
	Details   []Run   `json:"details"`
}

// Summarize averages the runs' scores (a failed run counts as a miss).
func Summarize(runs []Run) Summary {
	s := Summary{Runs: len(runs), Details: runs, TTDMedian: -1}
	if len(runs) == 0 {
		return s
	}
	var ttd []float64
	for _, r := range runs {
		s.AC1 += r.AC1
		s.AC3 += r.AC3
		s.Avg5 += r.Avg5
		s.HitRate150 += r.HitRate150
		s.Avg5Series += r.Avg5Series
		if r.Err != "" {
			s.Errors++
		}
		if r.TTD >= 0 {
			ttd = append(ttd, r.TTD)
		}
	}
	n := float64(len(runs))
	s.AC1, s.AC3, s.Avg5, s.HitRate150, s.Avg5Series = s.AC1/n, s.AC3/n, s.Avg5/n, s.HitRate150/n, s.Avg5Series/n
	s.TTDFound = len(ttd)
	if len(ttd) > 0 {
		sortFloats(ttd)
		s.TTDMedian = ttd[len(ttd)/2]
	}
	return s
}

func sortFloats(x []float64) {
	for i := 1; i < len(x); i++ {
		for j := i; j > 0 && x[j] < x[j-1]; j-- {
			x[j], x[j-1] = x[j-1], x[j]
		}
	}
}

// RunDir is a default parent directory for the runs.
func RunDir() string {
	return filepath.Join(os.TempDir(), "vscope-suite-"+time.Now().Format("20060102-150405"))
}
