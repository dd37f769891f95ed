package watch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/vscope/vscope/dpg/model"
)

// Roles of a watch node.
const (
	RoleLeaf       = "leaf"
	RoleAggregator = "aggregator"
	RoleFlowRoot   = "flow-root" // runs as an aggregator
	RoleRoot       = "root"
)

// Detector methods.
const (
	MethodRobustZ = "robust_z"
	MethodEWMA    = "ewma"
	MethodSPE     = "spe"
)

// Message kinds, the last element of a data-plane path.
const (
	KindSummary = "summary" // Summary, child -> parent
	KindRaw     = "raw"     // RawWindow, leaf -> root on alarm
	KindSamples = "samples" // Samples, centralized leaf -> root
)

// Peer names another watch node: the control endpoint of its process and
// its operator id there.
type Peer struct {
	URL string `json:"url"`
	ID  string `json:"id"`
}

// String is "URL#ID", empty for no peer.
func (p *Peer) String() string {
	if p == nil {
		return ""
	}
	return p.URL + "#" + p.ID
}

// Spec is one watch node as deployed. JSON; unknown keys are errors.
type Spec struct {
	// Deployment names the DPG the node belongs to; undeploy removes a
	// deployment's nodes together.
	Deployment string `json:"deployment"`
	// Node is the node's id in the plan; Level its distance from the root.
	Node  int    `json:"node"`
	Level int    `json:"level"`
	Role  string `json:"role"`
	// Host is the plan's host name; a leaf's samples carry it.
	Host string `json:"host,omitempty"`
	Flow string `json:"flow,omitempty"`
	// Key is the deployment's data-plane bearer token: peers present it
	// when they send this node summaries or raw windows. Never reported.
	Key string `json:"key"`
	// Parent receives this node's summaries (every node but the root);
	// Root receives a leaf's raw windows.
	Parent *Peer `json:"parent,omitempty"`
	Root   *Peer `json:"root,omitempty"`
	// Children is how many children report to this node each window; an
	// aggregator sends a window as soon as all of them did.
	Children  int           `json:"children,omitempty"`
	Filter    FilterSpec    `json:"filter,omitzero"`
	Detect    DetectSpec    `json:"detect,omitzero"`
	Aggregate AggregateSpec `json:"aggregate,omitzero"`
	Forward   ForwardSpec   `json:"forward,omitzero"`
}

// FilterSpec chooses the series a leaf watches. Patterns are path.Match
// globs over "kind/component/metric" (kind: source, channel, sink,
// process, runtime, host), e.g. "host/disk:*/*".
type FilterSpec struct {
	Include []string `json:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty"`
}

// DetectSpec is a leaf's detector (and a centralized root's).
type DetectSpec struct {
	Method string `json:"method,omitempty"`
	// WindowSamples is the history the detector is fitted on.
	WindowSamples int `json:"window_samples,omitempty"`
	// Threshold is the score that counts as anomalous: robust z and EWMA
	// in robust standard deviations, SPE as a multiple of its limit.
	Threshold float64 `json:"threshold,omitempty"`
	// Persist is how many samples in a row must reach the threshold
	// before the component alarms.
	Persist int `json:"persist,omitempty"`
	// MinScale is the least robust scale of a series as a fraction of its
	// median's magnitude (robust z and EWMA): changes smaller than that
	// share of a level do not count however still the series was.
	MinScale float64 `json:"min_scale,omitempty"`
}

// AggregateSpec is the summary period and size.
type AggregateSpec struct {
	Window model.Duration `json:"window,omitempty"`
	// TopK bounds the components a summary lists.
	TopK int `json:"top_k,omitempty"`
	// Report is the score from which a leaf lists a component in its
	// summary (default half the threshold): quiet components cost nothing.
	Report float64 `json:"report,omitempty"`
	// Metrics are the key series merged up the tree, as "kind/metric".
	Metrics []string `json:"metrics,omitempty"`
}

// ForwardSpec is what a leaf ships on alarm.
type ForwardSpec struct {
	// RawWindow is the raw history shipped per component.
	RawWindow model.Duration `json:"raw_window,omitempty"`
	// Scope is the number of components shipped per alarm: the alarmed
	// one and the most anomalous others of its agent.
	Scope int `json:"scope,omitempty"`
	// PerMinute and Burst are a leaf's escalation budget: raw windows
	// ship at most PerMinute a minute on average, Burst at once. An alarm
	// over budget is still counted and summarised; the most severe one
	// held is shipped when the budget allows (within two minutes), so a
	// burst of noise cannot hide a fault for long, nor flood the root.
	PerMinute float64 `json:"per_minute,omitempty"`
	Burst     int     `json:"burst,omitempty"`
	// EverySample makes the leaf a centralized one: it ships every
	// sample to the root, which detects.
	EverySample bool `json:"every_sample,omitempty"`
}

// DefaultMetrics are the key series summaries carry.
var DefaultMetrics = []string{
	"source/EventAcceptedRate",
	"channel/ChannelFillPercentage",
	"sink/EventDrainSuccessRate",
	"sink/batch_duration_p99_seconds",
	"process/cpu_user_seconds_per_second",
}

var defaultThreshold = map[string]float64{MethodRobustZ: 8, MethodEWMA: 8, MethodSPE: 4}

// ErrSpec marks a spec that cannot run; the message names the field.
var ErrSpec = errors.New("bad watch spec")

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidID reports whether id can name an operator: letters, digits,
// '.', '_', '-', at most 128, starting with a letter or digit.
func ValidID(id string) bool { return idRE.MatchString(id) }

// ParseSpec decodes a spec strictly, fills defaults and validates it,
// naming every bad field.
func ParseSpec(b []byte) (Spec, error) {
	var s Spec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("%w: %v", ErrSpec, err)
	}
	if dec.More() {
		return s, fmt.Errorf("%w: trailing data after the spec", ErrSpec)
	}
	return s, s.Normalize()
}

// Normalize fills zero fields with defaults and checks the spec.
func (s *Spec) Normalize() error {
	fill(&s.Detect.Method, MethodRobustZ)
	fill(&s.Detect.WindowSamples, 60)
	if t, ok := defaultThreshold[s.Detect.Method]; ok {
		fill(&s.Detect.Threshold, t)
	}
	fill(&s.Detect.Persist, 3)
	fill(&s.Detect.MinScale, 0.02)
	fill(&s.Aggregate.Window, model.Duration(10*time.Second))
	fill(&s.Aggregate.TopK, 8)
	fill(&s.Aggregate.Report, s.Detect.Threshold/2)
	if s.Aggregate.Metrics == nil {
		s.Aggregate.Metrics = DefaultMetrics
	}
	fill(&s.Forward.RawWindow, model.Duration(30*time.Second))
	fill(&s.Forward.Scope, 3)
	fill(&s.Forward.PerMinute, 1)
	fill(&s.Forward.Burst, 3)

	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrSpec, field, fmt.Sprintf(format, a...)))
	}
	if !ValidID(s.Deployment) {
		bad("deployment", "%q: want 1-128 letters, digits, '.', '_' or '-'", s.Deployment)
	}
	if s.Node < 0 {
		bad("node", "%d: must be >= 0", s.Node)
	}
	if s.Level < 0 {
		bad("level", "%d: must be >= 0", s.Level)
	}
	switch s.Role {
	case RoleLeaf, RoleAggregator, RoleFlowRoot:
		if s.Parent == nil {
			bad("parent", "required for a %s", s.Role)
		}
	case RoleRoot:
		if s.Parent != nil {
			bad("parent", "a root has none")
		}
	default:
		bad("role", "%q: want leaf, aggregator, flow-root or root", s.Role)
	}
	if s.Role == RoleLeaf && s.Root == nil {
		bad("root", "required for a leaf (where raw windows go)")
	}
	if len(s.Key) < 16 {
		bad("key", "want at least 16 characters")
	}
	for name, p := range map[string]*Peer{"parent": s.Parent, "root": s.Root} {
		if p == nil {
			continue
		}
		if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(name+".url", "%q: want http://HOST:PORT", p.URL)
		}
		if !ValidID(p.ID) {
			bad(name+".id", "%q: not an operator id", p.ID)
		}
	}
	if s.Children < 0 {
		bad("children", "%d: must be >= 0", s.Children)
	}
	if _, ok := defaultThreshold[s.Detect.Method]; !ok {
		bad("detect.method", "%q: want robust_z, ewma or spe", s.Detect.Method)
	}
	if s.Detect.WindowSamples < 10 || s.Detect.WindowSamples > 100000 {
		bad("detect.window_samples", "%d: want 10 to 100000", s.Detect.WindowSamples)
	}
	if !(s.Detect.Threshold > 0) {
		bad("detect.threshold", "%v: must be > 0", s.Detect.Threshold)
	}
	if !(s.Detect.MinScale >= 0 && s.Detect.MinScale < 1) {
		bad("detect.min_scale", "%v: want a fraction in [0, 1)", s.Detect.MinScale)
	}
	if s.Detect.Persist < 1 {
		bad("detect.persist", "%d: must be >= 1", s.Detect.Persist)
	}
	if time.Duration(s.Aggregate.Window) < 100*time.Millisecond {
		bad("aggregate.window", "%v: want at least 100ms", s.Aggregate.Window)
	}
	if s.Aggregate.TopK < 0 || s.Aggregate.TopK > 10000 {
		bad("aggregate.top_k", "%d: want 0 to 10000", s.Aggregate.TopK)
	}
	if s.Aggregate.Report < 0 {
		bad("aggregate.report", "%v: must be >= 0", s.Aggregate.Report)
	}
	for i, m := range s.Aggregate.Metrics {
		if k, n, ok := strings.Cut(m, "/"); !ok || k == "" || n == "" {
			bad(fmt.Sprintf("aggregate.metrics[%d]", i), "%q: want kind/metric", m)
		}
	}
	if s.Forward.Scope < 1 {
		bad("forward.scope", "%d: must be >= 1", s.Forward.Scope)
	}
	if !(s.Forward.PerMinute > 0 && s.Forward.PerMinute <= 6000) {
		bad("forward.per_minute", "%v: want more than 0, at most 6000", s.Forward.PerMinute)
	}
	if s.Forward.Burst < 1 || s.Forward.Burst > 1000 {
		bad("forward.burst", "%d: want 1 to 1000", s.Forward.Burst)
	}
	if s.Forward.EverySample && s.Role != RoleLeaf {
		bad("forward.every_sample", "only a leaf ships every sample")
	}
	for field, pats := range map[string][]string{"filter.include": s.Filter.Include, "filter.exclude": s.Filter.Exclude} {
		for i, p := range pats {
			if _, err := path.Match(p, ""); err != nil {
				bad(fmt.Sprintf("%s[%d]", field, i), "%q: %v", p, err)
			}
		}
	}
	return errors.Join(errs...)
}

func fill[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// keeps reports whether the filter keeps the series kind/component/metric.
func (f *FilterSpec) keeps(kind, comp, metric string) bool {
	if len(f.Include) == 0 && len(f.Exclude) == 0 {
		return true
	}
	s := kind + "/" + comp + "/" + metric
	if len(f.Include) > 0 {
		in := false
		for _, p := range f.Include {
			if ok, _ := path.Match(p, s); ok {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	for _, p := range f.Exclude {
		if ok, _ := path.Match(p, s); ok {
			return false
		}
	}
	return true
}
