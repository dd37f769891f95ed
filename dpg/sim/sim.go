package sim

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vscope/vscope/agent/monitor"
	"github.com/vscope/vscope/dpg/cost"
	"github.com/vscope/vscope/dpg/deploy"
	"github.com/vscope/vscope/dpg/model"
	"github.com/vscope/vscope/dpg/planner"
	"github.com/vscope/vscope/dpg/watch"
)

// Config is one simulation.
type Config struct {
	// Hosts is the number of simulated hosts (dpg/model.Synth's).
	Hosts int
	// Duration of simulated time, sampled every Interval (1 s).
	Duration, Interval time.Duration
	// FaultAfter is when the slow sink starts; FaultHost is its host's
	// index. The fault is on agent "app", sink "k1".
	FaultAfter time.Duration
	FaultHost  int
	Seed       uint64
	// Option is the DPG option to plan ("" lets the planner choose among
	// the hierarchical and per-flow ones).
	Option string
	// Overrides are dpg/deploy.SetField assignments for every node.
	Overrides []string
	// Store, when set, carries the centralized path instead of the watch
	// nodes' JSON: it encodes one host's sample in the metric store's wire
	// format (the agents' Arrow IPC posts), decodes it as the store's
	// ingest would, and returns the bytes on the wire and the points
	// decoded, which the root's detector then sees.
	Store func(points []monitor.Point) (wire int, decoded []monitor.Point, err error)
}

// Path is the outcome of one way of monitoring the fleet.
type Path struct {
	Name  string `json:"name"`
	Plan  string `json:"plan"`
	Nodes int    `json:"nodes"`
	// Bytes and Messages delivered between watch nodes, by kind.
	Bytes    map[string]int64 `json:"bytes"`
	Messages map[string]int64 `json:"messages"`
	Total    int64            `json:"total_bytes"`
	// PerHostPerSecond is Total over hosts and simulated seconds.
	PerHostPerSecond float64 `json:"bytes_per_host_per_second"`
	// Findings are the root's, highest score first (at most 5).
	Findings []watch.Finding `json:"findings"`
	// Found: the top finding is the planted fault's component.
	Found bool `json:"found"`
	// DelaySeconds from the fault's start to the top finding's onset.
	DelaySeconds float64 `json:"delay_seconds"`
	// FalseAlarms are findings on other components.
	FalseAlarms int     `json:"false_alarms"`
	WallSeconds float64 `json:"wall_seconds"`
}

// Result compares the two paths on the same simulated data.
type Result struct {
	Hosts   int     `json:"hosts"`
	Series  int     `json:"series"`
	Seconds float64 `json:"simulated_seconds"`
	Samples int64   `json:"samples"`
	Fault   Fault   `json:"fault"`
	Central Path    `json:"centralized"`
	DPG     Path    `json:"dpg"`
	// StoreWire is every sample in the store's wire format (Config.Store).
	StoreWire int64 `json:"store_wire_bytes,omitempty"`
	// Floor16 is every sample at 16 bytes (timestamp and value, no
	// names): a lower bound for any central store's wire format.
	Floor16 int64 `json:"floor_16_bytes_per_sample"`
	// Ratio is the central path's bytes over the DPG's: StoreWire when
	// measured, else the centralized watch plan's.
	Ratio      float64 `json:"ratio"`
	RatioFloor float64 `json:"ratio_vs_floor"`
}

func (c *Config) defaults() {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Minute
	}
	if c.FaultAfter <= 0 {
		c.FaultAfter = c.Duration * 2 / 3
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
}

// epoch is the simulation's start: fixed, so runs repeat exactly.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Plans plans the synthetic topology of hosts: the DPG option (the
// planner's choice among the non-centralized ones when option is "") and
// the centralized one.
func Plans(ctx context.Context, hosts int, option string, seed uint64) (dpg, central *planner.PlanJSON, err error) {
	in, err := model.Compile(model.Synth(model.SynthSpec{Hosts: hosts, Seed: seed}))
	if err != nil {
		return nil, nil, err
	}
	plan := func(opts []planner.Option) (*planner.PlanJSON, error) {
		cfg := planner.DefaultConfig()
		cfg.Options = opts
		m, err := cost.NewModel(in, cfg.Config)
		if err != nil {
			return nil, err
		}
		res, err := planner.Plan(ctx, m, cfg)
		if err != nil {
			return nil, err
		}
		return res.JSON().Plan, nil
	}
	var opts []planner.Option
	if option != "" {
		o, err := planner.ParseOption(option)
		if err != nil {
			return nil, nil, err
		}
		opts = []planner.Option{o}
	} else {
		cfg := planner.DefaultConfig()
		m, err := cost.NewModel(in, cfg.Config)
		if err != nil {
			return nil, nil, err
		}
		for _, o := range planner.Options(m, cfg) {
			if o.Kind != cost.Centralized {
				opts = append(opts, o)
			}
		}
	}
	if dpg, err = plan(opts); err != nil {
		return nil, nil, fmt.Errorf("plan the DPG: %w", err)
	}
	if central, err = plan([]planner.Option{{Kind: cost.Centralized}}); err != nil {
		return nil, nil, fmt.Errorf("plan the centralized baseline: %w", err)
	}
	return dpg, central, nil
}

// Run simulates cfg.Hosts hosts for cfg.Duration twice over the same
// samples: once with the planned DPG (leaves detect, summaries merge up
// the tree, raw windows on alarm) and once with every sample shipped to
// the root, which runs the leaves' detector on all of them; both in a
// watch.Mesh that counts the bytes of every message.
func Run(ctx context.Context, cfg Config, dpgPlan, centralPlan *planner.PlanJSON) (*Result, error) {
	cfg.defaults()
	names := make([]string, cfg.Hosts)
	for i := range names {
		names[i] = fmt.Sprintf("h%05d", i) // model.Synth's names
	}
	if cfg.FaultHost < 0 || cfg.FaultHost >= cfg.Hosts {
		return nil, fmt.Errorf("fault host %d: want 0 to %d", cfg.FaultHost, cfg.Hosts-1)
	}
	fault := Fault{Host: names[cfg.FaultHost], Agent: "app", Component: "k1", At: epoch.Add(cfg.FaultAfter).UnixMilli()}
	res := &Result{Hosts: cfg.Hosts, Seconds: cfg.Duration.Seconds(), Fault: fault}
	var err error
	var leafDetect watch.DetectSpec
	if res.DPG, leafDetect, err = runPath(ctx, "dpg", cfg, dpgPlan, names, &fault, res, false, nil); err != nil {
		return nil, err
	}
	// The centralized root runs the leaves' detector: the comparison is
	// of where detection runs, not of which detector.
	if res.Central, _, err = runPath(ctx, "centralized", cfg, centralPlan, names, &fault, res, true, &leafDetect); err != nil {
		return nil, err
	}
	res.Floor16 = res.Samples * 16
	central := res.Central.Total
	if res.StoreWire > 0 {
		central = res.StoreWire
	}
	if res.DPG.Total > 0 {
		res.Ratio = float64(central) / float64(res.DPG.Total)
		res.RatioFloor = float64(res.Floor16) / float64(res.DPG.Total)
	}
	return res, nil
}

// runPath monitors the fleet with plan p in a mesh. central marks the
// centralized path: with cfg.Store every sample goes through the store's
// wire format to the root alone; without, through the plan's leaves.
func runPath(ctx context.Context, name string, cfg Config, p *planner.PlanJSON, names []string, fault *Fault, res *Result, central bool, detect *watch.DetectSpec) (path Path, leafDetect watch.DetectSpec, err error) {
	start := time.Now()
	urls := map[string]string{}
	for _, n := range p.Nodes {
		urls[n.Host] = "http://mesh"
	}
	specs, err := deploy.Specs(p, "sim", "simulation-key-0123456789", urls, cfg.Overrides)
	if err != nil {
		return Path{}, leafDetect, err
	}
	viaStore := central && cfg.Store != nil
	mesh := watch.NewMesh(cfg.Interval)
	leaves := map[string]*watch.Node{}
	var root *watch.Node
	nodes := 0
	for _, s := range specs {
		if viaStore && s.Spec.Role != watch.RoleRoot {
			continue
		}
		if s.Spec.Role == watch.RoleRoot && detect != nil {
			s.Spec.Detect = *detect
		}
		n, err := mesh.Add(s.ID, s.Spec)
		if err != nil {
			return Path{}, leafDetect, err
		}
		nodes++
		switch s.Spec.Role {
		case watch.RoleLeaf:
			leaves[s.Host] = n
			leafDetect = s.Spec.Detect
		case watch.RoleRoot:
			root = n
		}
	}
	hosts := make([]*Host, 0, len(names))
	for i, h := range names {
		if leaves[h] == nil && !viaStore {
			return Path{}, leafDetect, fmt.Errorf("%s plan has no leaf on %s", name, h)
		}
		hosts = append(hosts, NewHost(h, cfg.Seed*1_000_003+uint64(i), fault))
	}
	steps := int(cfg.Duration / cfg.Interval)
	for step := range steps {
		if step%64 == 0 && ctx.Err() != nil {
			return Path{}, leafDetect, ctx.Err()
		}
		now := epoch.Add(time.Duration(step) * cfg.Interval)
		ts := now.UnixMilli()
		for _, h := range hosts {
			pts := h.Sample(ts)
			if central {
				res.Samples += int64(len(pts))
			}
			if !viaStore {
				leaves[h.Name].Observe(ts, pts)
				continue
			}
			wire, back, err := cfg.Store(pts)
			if err != nil {
				return Path{}, leafDetect, fmt.Errorf("store wire format: %w", err)
			}
			res.StoreWire += int64(wire)
			if err := root.ObserveCentral(h.Name, ts, back); err != nil {
				return Path{}, leafDetect, err
			}
		}
		mesh.Tick(now)
	}
	// Let the last windows through the tree.
	end := epoch.Add(cfg.Duration)
	mesh.Tick(end.Add(time.Hour))
	res.Series = hosts[0].Series()
	out := Path{Name: name, Plan: p.Option, Nodes: nodes, WallSeconds: time.Since(start).Seconds()}
	out.Bytes, out.Messages = mesh.Traffic()
	if viaStore {
		out.Plan = "every sample to the store"
		out.Bytes["store"], out.Messages["store"] = res.StoreWire, int64(len(names)*steps)
	}
	for _, b := range out.Bytes {
		out.Total += b
	}
	out.PerHostPerSecond = float64(out.Total) / float64(len(names)) / cfg.Duration.Seconds()
	f := root.Findings()
	for i, x := range f {
		if x.Host != fault.Host || x.Agent != fault.Agent || x.Component.Component != fault.Component {
			out.FalseAlarms++
		} else if i == 0 {
			out.Found = true
			out.DelaySeconds = float64(x.First-fault.At) / 1000
		}
	}
	out.Findings = f[:min(5, len(f))]
	slices.SortStableFunc(out.Findings, func(a, b watch.Finding) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	return out, leafDetect, nil
}
