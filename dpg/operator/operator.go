// Package operator describes the watch operators of a DPG as data: what
// each costs in CPU and memory for its input, and how many bytes per
// second it emits. The operators are VScope's watch -> scope -> query
// escalation: a leaf filters its host's series, detects anomalies on them
// (EWMA, robust z or SPE on a local subspace), aggregates them into
// per-component summaries, and forwards raw windows only when a detector
// alarms; aggregators merge summaries up the tree.
//
// The numbers are a model, not a measurement: each default is a
// documented estimate (Set's field comments), and every one can be set in
// the planner's configuration.
package operator

import (
	"errors"
	"fmt"
	"math"

	"github.com/vscope/vscope/dpg/model"
)

// Kind is an operator kind.
type Kind string

// Operator kinds.
const (
	KindFilter    Kind = "filter"
	KindDetect    Kind = "detect"
	KindAggregate Kind = "aggregate"
	KindForward   Kind = "forward"
)

// Detector methods.
const (
	MethodEWMA    = "ewma"
	MethodRobustZ = "robust_z"
	MethodSPE     = "spe"
)

// Filter keeps the series detection uses and drops the rest (constants
// such as ChannelCapacity, counters nobody watches).
type Filter struct {
	// Keep is the fraction of series kept, in (0, 1].
	Keep float64 `json:"keep,omitempty"`
	// CPUNsPerSample is the CPU time per input sample, in nanoseconds.
	CPUNsPerSample float64 `json:"cpu_ns_per_sample,omitempty"`
}

// Detect runs a detector on every series (or, for SPE, on each
// component's local subspace) and raises alarms.
type Detect struct {
	// Method is ewma, robust_z or spe.
	Method string `json:"method,omitempty"`
	// CPUNsPerSample is the CPU time per input sample; 0 takes the
	// method's default (ewma 30 ns, robust_z 400 ns, spe 250 ns).
	CPUNsPerSample float64 `json:"cpu_ns_per_sample,omitempty"`
	// WindowSamples is the history kept per series (memory: 8 bytes each).
	WindowSamples int `json:"window_samples,omitempty"`
	// AlarmRate is the expected number of alarms per component per
	// aggregation window, true and false; 0 takes the method's default
	// (ewma 0.002, robust_z 0.001, spe 0.0005).
	AlarmRate float64 `json:"alarm_rate,omitempty"`
}

// Aggregate turns a window of samples into per-component summaries
// (count, mean, min, max of the key series, the anomaly score, a sketch of
// the latency), and merges summaries at aggregators: the merged output
// keeps per-metric sketches and the TopK most anomalous components, so it
// does not grow with the number of inputs.
type Aggregate struct {
	// Window is the summary period; each tree level adds one window of
	// detection delay.
	Window model.Duration `json:"window,omitempty"`
	// BytesPerComponent is the size of one component's summary.
	BytesPerComponent float64 `json:"bytes_per_component,omitempty"`
	// MergeBytes is the size of the merged sketches an aggregator emits
	// per window, besides the TopK component summaries.
	MergeBytes float64 `json:"merge_bytes,omitempty"`
	TopK       int     `json:"top_k,omitempty"`
	// CPUNsPerByte is the CPU time per input byte (summarising samples at a
	// leaf, decoding and merging summaries at an aggregator).
	CPUNsPerByte float64 `json:"cpu_ns_per_byte,omitempty"`
	// MemoryPerComponent is the summary state per watched component.
	MemoryPerComponent float64 `json:"memory_per_component,omitempty"`
}

// Forward ships raw windows to the root when a detector alarms (VScope's
// query step), and nothing otherwise.
type Forward struct {
	// RawWindow is how much raw history is shipped per alarmed component.
	RawWindow model.Duration `json:"raw_window,omitempty"`
	// Scope is the number of component windows shipped per alarm where
	// the leaf alone decides: the component and its flow neighbours
	// (VScope's scope step, done at the root).
	Scope float64 `json:"scope,omitempty"`
	// FlowScope is the same in a per-flow tree, whose root already holds
	// the neighbours' summaries.
	FlowScope float64 `json:"flow_scope,omitempty"`
	// Confirm is the fraction of leaf alarms a per-flow root confirms
	// (SPE over the flow) before raw windows are shipped.
	Confirm float64 `json:"confirm,omitempty"`
	// CPUNsPerByte is the CPU time per byte shipped.
	CPUNsPerByte float64 `json:"cpu_ns_per_byte,omitempty"`
}

// Set is the operator configuration of every DPG the planner builds.
type Set struct {
	Filter    Filter    `json:"filter,omitzero"`
	Detect    Detect    `json:"detect,omitzero"`
	Aggregate Aggregate `json:"aggregate,omitzero"`
	Forward   Forward   `json:"forward,omitzero"`
	// RootDetect is the detector where many components meet: at the root
	// of a centralized DPG (on raw samples) and at per-flow roots (on
	// summaries, FeaturesPerSummary values each).
	RootDetect         Detect  `json:"root_detect,omitzero"`
	FeaturesPerSummary float64 `json:"features_per_summary,omitempty"`
	// SampleInterval is how often a centralized leaf ships its raw
	// samples: the per-hop delay of a centralized DPG.
	SampleInterval model.Duration `json:"sample_interval,omitempty"`
	// IngestCPUNsPerByte is the CPU time to receive and decode a byte
	// from another node.
	IngestCPUNsPerByte float64 `json:"ingest_cpu_ns_per_byte,omitempty"`
	// NodeMemory is the fixed memory of a watch node.
	NodeMemory model.Bytes `json:"node_memory,omitempty"`
}

// DefaultSet returns the defaults: robust z at the leaves over 60 samples,
// 10 s summaries of 128 bytes per component, raw windows of 30 s for the
// alarmed component and two neighbours, SPE at the roots.
func DefaultSet() Set {
	var s Set
	s.fill()
	return s
}

var methodNs = map[string]float64{MethodEWMA: 30, MethodRobustZ: 400, MethodSPE: 250}
var methodAlarm = map[string]float64{MethodEWMA: 0.002, MethodRobustZ: 0.001, MethodSPE: 0.0005}

func fill[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

func (d *Detect) fill(method string) {
	fill(&d.Method, method)
	fill(&d.CPUNsPerSample, methodNs[d.Method])
	fill(&d.WindowSamples, 60)
	fill(&d.AlarmRate, methodAlarm[d.Method])
}

// fill sets every zero field to its default.
func (s *Set) fill() {
	fill(&s.Filter.Keep, 0.8)
	fill(&s.Filter.CPUNsPerSample, 20)
	s.Detect.fill(MethodRobustZ)
	s.RootDetect.fill(MethodSPE)
	fill(&s.Aggregate.Window, model.Duration(10e9))
	fill(&s.Aggregate.BytesPerComponent, 128)
	fill(&s.Aggregate.MergeBytes, 1024)
	fill(&s.Aggregate.TopK, 8)
	fill(&s.Aggregate.CPUNsPerByte, 5)
	fill(&s.Aggregate.MemoryPerComponent, 1024)
	fill(&s.Forward.RawWindow, model.Duration(30e9))
	fill(&s.Forward.Scope, 3)
	fill(&s.Forward.FlowScope, 1)
	fill(&s.Forward.Confirm, 0.3)
	fill(&s.Forward.CPUNsPerByte, 2)
	fill(&s.FeaturesPerSummary, 8)
	fill(&s.SampleInterval, model.Duration(1e9))
	fill(&s.IngestCPUNsPerByte, 5)
	fill(&s.NodeMemory, model.Bytes(4<<20))
}

// Normalize fills zero fields with defaults and checks the values, naming
// every bad one.
func (s *Set) Normalize() error {
	s.fill()
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("operators.%s: %v: %s", field, v, want))
	}
	if !(s.Filter.Keep > 0 && s.Filter.Keep <= 1) {
		bad("filter.keep", s.Filter.Keep, "want a fraction in (0, 1]")
	}
	for _, d := range []struct {
		name string
		d    Detect
	}{{"detect", s.Detect}, {"root_detect", s.RootDetect}} {
		if _, ok := methodNs[d.d.Method]; !ok {
			bad(d.name+".method", d.d.Method, "want ewma, robust_z or spe")
		}
		if d.d.AlarmRate < 0 || d.d.AlarmRate > 1 {
			bad(d.name+".alarm_rate", d.d.AlarmRate, "want a probability")
		}
		if d.d.WindowSamples < 0 {
			bad(d.name+".window_samples", d.d.WindowSamples, "must be >= 0")
		}
	}
	if s.Forward.Confirm < 0 || s.Forward.Confirm > 1 {
		bad("forward.confirm", s.Forward.Confirm, "want a fraction in [0, 1]")
	}
	for name, v := range map[string]float64{
		"filter.cpu_ns_per_sample": s.Filter.CPUNsPerSample, "detect.cpu_ns_per_sample": s.Detect.CPUNsPerSample,
		"root_detect.cpu_ns_per_sample": s.RootDetect.CPUNsPerSample, "aggregate.bytes_per_component": s.Aggregate.BytesPerComponent,
		"aggregate.merge_bytes": s.Aggregate.MergeBytes, "aggregate.cpu_ns_per_byte": s.Aggregate.CPUNsPerByte,
		"aggregate.memory_per_component": s.Aggregate.MemoryPerComponent, "forward.scope": s.Forward.Scope,
		"forward.flow_scope": s.Forward.FlowScope, "forward.cpu_ns_per_byte": s.Forward.CPUNsPerByte,
		"features_per_summary": s.FeaturesPerSummary, "ingest_cpu_ns_per_byte": s.IngestCPUNsPerByte,
	} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			bad(name, v, "must be a finite number >= 0")
		}
	}
	if s.Aggregate.TopK < 0 {
		bad("aggregate.top_k", s.Aggregate.TopK, "must be >= 0")
	}
	return errors.Join(errs...)
}

const ns = 1e-9

// Leaf is what a leaf watch node costs and emits.
type Leaf struct {
	// Summary is the bytes/s of summaries sent up the tree; Alarm the
	// bytes/s of raw windows sent to the root on alarms.
	Summary, Alarm float64
	// CPU in cores, Memory in bytes.
	CPU, Memory float64
	// Components watched.
	Components float64
}

// WatchLeaf is a leaf of a hierarchical, per-flow or reuse DPG: filter,
// detect, aggregate, forward on alarm. perFlow selects the per-flow
// forwarding (flow-root confirmation, FlowScope).
func (s *Set) WatchLeaf(in model.Load, perFlow bool) Leaf {
	f := s.Filter.Keep
	series, samples, bytes := in.Series*f, in.Samples*f, in.Bytes*f
	win := s.Aggregate.Window.Seconds()
	l := Leaf{Components: in.Components}
	l.CPU = s.Filter.CPUNsPerSample*ns*in.Samples + s.Detect.CPUNsPerSample*ns*samples + s.Aggregate.CPUNsPerByte*ns*bytes
	l.Memory = float64(s.NodeMemory) + series*float64(s.Detect.WindowSamples)*8 + in.Components*s.Aggregate.MemoryPerComponent
	if in.Components > 0 {
		l.Summary = in.Components * s.Aggregate.BytesPerComponent / win
		alarms := in.Components * s.Detect.AlarmRate / win // per second
		scope := s.Forward.Scope
		if perFlow {
			alarms *= s.Forward.Confirm
			scope = s.Forward.FlowScope
		}
		perComp := bytes / in.Components // raw bytes/s of an average component
		l.Alarm = alarms * scope * perComp * s.Forward.RawWindow.Seconds()
	} else if in.Series > 0 {
		// Host metrics only: one summary for the host.
		l.Summary = s.Aggregate.BytesPerComponent / win
	}
	l.CPU += s.Forward.CPUNsPerByte * ns * (l.Summary + l.Alarm)
	return l
}

// RawLeaf is a leaf of a centralized DPG: filter and forward every kept
// sample.
func (s *Set) RawLeaf(in model.Load) Leaf {
	out := in.Bytes * s.Filter.Keep
	return Leaf{
		Summary:    out,
		CPU:        s.Filter.CPUNsPerSample*ns*in.Samples + s.Forward.CPUNsPerByte*ns*out,
		Memory:     float64(s.NodeMemory),
		Components: in.Components,
	}
}

// MergeCap is the largest output of an aggregator, in bytes/s: the merged
// sketches and the TopK component summaries per window.
func (s *Set) MergeCap() float64 {
	return (s.Aggregate.MergeBytes + float64(s.Aggregate.TopK)*s.Aggregate.BytesPerComponent) / s.Aggregate.Window.Seconds()
}

// Merge is an aggregator receiving in bytes/s of summaries: it emits
// min(in, MergeCap) and costs CPU per input byte and one window of input
// in memory.
func (s *Set) Merge(in float64) (out, cpu, mem float64) {
	out = min(in, s.MergeCap())
	cpu = (s.IngestCPUNsPerByte + s.Aggregate.CPUNsPerByte) * ns * in
	mem = float64(s.NodeMemory) + in*s.Aggregate.Window.Seconds()
	return out, cpu, mem
}

// FlowRoot is the root of a per-flow tree: a merge plus SPE over the
// flow's component summaries.
func (s *Set) FlowRoot(in float64) (out, cpu, mem float64) {
	out, cpu, mem = s.Merge(in)
	records := in / s.Aggregate.BytesPerComponent
	cpu += records * s.FeaturesPerSummary * s.RootDetect.CPUNsPerSample * ns
	// The flow's components (summaries per window) times their history.
	comps := in * s.Aggregate.Window.Seconds() / s.Aggregate.BytesPerComponent
	mem += comps * s.FeaturesPerSummary * 8 * float64(s.RootDetect.WindowSamples)
	return out, cpu, mem
}

// RootIngest is the CPU per second the analysis root spends receiving in
// bytes/s of summaries or alarm windows.
func (s *Set) RootIngest(in float64) float64 { return s.IngestCPUNsPerByte * ns * in }

// RootRaw is the analysis root of a centralized DPG detecting on every
// kept raw sample: its CPU and memory beyond ingest.
func (s *Set) RootRaw(in model.Load) (cpu, mem float64) {
	f := s.Filter.Keep
	cpu = s.RootDetect.CPUNsPerSample * ns * in.Samples * f
	mem = in.Series * f * float64(s.RootDetect.WindowSamples) * 8
	return cpu, mem
}

// Op is one operator of a node as the plan lists it: its kind and its
// parameters.
type Op struct {
	Kind   Kind           `json:"kind"`
	Params map[string]any `json:"params,omitempty"`
}

// Chains of operators per node role, as deployed.
func (s *Set) LeafOps(perFlow bool) []Op {
	fw := map[string]any{"raw_window": s.Forward.RawWindow.String(), "scope": s.Forward.Scope, "to": "root"}
	if perFlow {
		fw = map[string]any{"raw_window": s.Forward.RawWindow.String(), "scope": s.Forward.FlowScope, "to": "root", "when": "flow root confirms"}
	}
	return []Op{
		{KindFilter, map[string]any{"keep": s.Filter.Keep}},
		{KindDetect, map[string]any{"method": s.Detect.Method, "window_samples": s.Detect.WindowSamples}},
		{KindAggregate, map[string]any{"window": s.Aggregate.Window.String(), "bytes_per_component": s.Aggregate.BytesPerComponent}},
		{KindForward, fw},
	}
}

// RawLeafOps is the chain of a centralized leaf.
func (s *Set) RawLeafOps() []Op {
	return []Op{
		{KindFilter, map[string]any{"keep": s.Filter.Keep}},
		{KindForward, map[string]any{"what": "every sample", "interval": s.SampleInterval.String()}},
	}
}

// MergeOps is the chain of an aggregator.
func (s *Set) MergeOps() []Op {
	return []Op{{KindAggregate, map[string]any{"merge": true, "window": s.Aggregate.Window.String(), "top_k": s.Aggregate.TopK, "merge_bytes": s.Aggregate.MergeBytes}}}
}

// FlowRootOps is the chain of a per-flow root.
func (s *Set) FlowRootOps() []Op {
	return append(s.MergeOps(), Op{KindDetect, map[string]any{"method": s.RootDetect.Method, "on": "flow summaries", "confirms": s.Forward.Confirm}})
}

// RootOps is the chain of the analysis root.
func (s *Set) RootOps(centralized bool) []Op {
	if centralized {
		return []Op{{KindDetect, map[string]any{"method": s.RootDetect.Method, "on": "raw samples"}}}
	}
	return []Op{{KindAggregate, map[string]any{"merge": true}}}
}
