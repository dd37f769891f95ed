package diagnose

import (
	"math"
	"strconv"
	"time"
)

// Roles of a component or host in a diagnosis.
const (
	// RoleCause: anomalous, and no connected anomalous component explains
	// it (nothing connected changed earlier, or in the same second in the
	// direction the fault spreads).
	RoleCause = "cause"
	// RoleSymptom: anomalous, and explained by a connected anomalous
	// component that changed earlier (Why says which and how).
	RoleSymptom = "symptom"
	// RoleUnrelated: no metric of it left its normal range.
	RoleUnrelated = "unrelated"
)

// Status values of a Result.
const (
	// StatusAnomaly: at least one episode of anomalous time points.
	StatusAnomaly = "anomaly"
	// StatusNoAnomaly: no episode; isolated points over the per-row limits
	// are counted in Notes but are what chance alone produces.
	StatusNoAnomaly = "no anomaly"
	// StatusNoData: the window holds nothing to score.
	StatusNoData = "no data"
)

// Result is a diagnosis of a window: what is anomalous, when, ranked, and
// why. It is everything the table, JSON and HTML reports are made from, so
// that a richer report can be generated from it later without re-running
// the analysis. JSON keys are stable.
type Result struct {
	// Status is StatusAnomaly, StatusNoAnomaly or StatusNoData; Summary
	// says the same in sentences, most important first.
	Status  string   `json:"status"`
	Summary []string `json:"summary"`
	// Window and Baseline describe the data that was analysed.
	Window   WindowInfo   `json:"window"`
	Baseline BaselineInfo `json:"baseline"`
	// AnomalousPoints are the time points of the episodes, in time order.
	AnomalousPoints []AnomalousPoint `json:"anomalous_points"`
	// Episodes are the runs of anomalous points.
	Episodes []Episode `json:"episodes"`
	// Ranking is the ranked metrics, most responsible first.
	Ranking []RankedMetric `json:"ranking"`
	// Components aggregates the metrics to components (and host-level
	// groups such as a host's cpu), causes first.
	Components []ComponentResult `json:"components"`
	// Hosts aggregates the components to hosts.
	Hosts []HostResult `json:"hosts"`
	// Topology says where the flow graph came from.
	Topology TopologyInfo `json:"topology"`
	// Notes are what cleaning and fitting did to the data (dropped series,
	// gaps, fallbacks), for the careful reader.
	Notes []string `json:"notes"`
	// Traces hold the series behind the report's charts.
	Traces Traces `json:"traces"`
	// TimingMS is the wall time of each stage in milliseconds.
	TimingMS map[string]float64 `json:"timing_ms"`
}

// WindowInfo describes the diagnosed window.
type WindowInfo struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Step    string    `json:"step"`
	Rows    int       `json:"rows"`
	Series  int       `json:"series"`  // series read
	Metrics int       `json:"metrics"` // series scored after cleaning
	Filter  string    `json:"filter,omitempty"`
}

// BaselineInfo describes the baseline and the model fitted on it.
type BaselineInfo struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Rows is the number of time points of the baseline period; UsedRows
	// how many were read and fitted (a sample of slices when the baseline
	// is large, see Options.BaselineRows).
	Rows     int `json:"rows"`
	UsedRows int `json:"used_rows"`
	// Mode is "pca" (the multivariate model) or "univariate" (too few
	// baseline points for it: robust z-scores only).
	Mode string `json:"mode"`
	// Components is the number of principal components of the normal
	// subspace; the limits are the per-point control limits.
	Components       int     `json:"components,omitempty"`
	SPELimit         float64 `json:"spe_limit,omitempty"`
	T2Limit          float64 `json:"t2_limit,omitempty"`
	MaxResidualLimit float64 `json:"max_residual_limit,omitempty"`
	Alpha            float64 `json:"alpha,omitempty"`
}

// AnomalousPoint is one time point over its limits, inside an episode.
// Score is the largest of SPE, T² and the largest residual, each over its
// limit: above 1 is anomalous.
type AnomalousPoint struct {
	Time        time.Time `json:"time"`
	Score       float64   `json:"score"`
	SPE         float64   `json:"spe"`
	T2          float64   `json:"t2"`
	MaxResidual float64   `json:"max_residual"`
}

// Episode is a run of anomalous points.
type Episode struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"` // the last anomalous point
	Points int       `json:"points"`
	Peak   time.Time `json:"peak"`
	Score  float64   `json:"score"`
}

// RankedMetric is one metric of the ranking.
type RankedMetric struct {
	Rank      int    `json:"rank"`
	Metric    string `json:"metric"`
	Component string `json:"component"`
	Agent     string `json:"agent"`
	Host      string `json:"host"`
	Kind      string `json:"kind"`
	// Score is the analysis' fused score at its peak: robust |z| + EWMA
	// jump + residual (RBC), each in units of the metric's own normal
	// variation.
	Score float64 `json:"score"`
	// Onset is when the metric left its normal range (nil: no sustained
	// change was found).
	Onset *time.Time `json:"onset"`
	// Evidence says which detectors fired and what the values did.
	Evidence string `json:"evidence"`
	// Role is the role of the metric's component; Flagged whether the
	// metric itself left its normal range for a sustained time.
	Role    string `json:"role"`
	Flagged bool   `json:"flagged"`
	// Baseline is the baseline median, Peak the value at the peak, Z the
	// robust z-score there.
	Baseline float64 `json:"baseline"`
	Peak     float64 `json:"peak"`
	Z        float64 `json:"z"`
}

// ComponentResult is one component (or host-level group) of the diagnosis.
type ComponentResult struct {
	Component string `json:"component"`
	Agent     string `json:"agent"`
	Host      string `json:"host"`
	Kind      string `json:"kind"`
	// Score is the largest score of its metrics.
	Score float64 `json:"score"`
	// Onset is the earliest onset of its flagged metrics.
	Onset *time.Time `json:"onset"`
	// Role is RoleCause, RoleSymptom or RoleUnrelated; Why explains it.
	Role string `json:"role"`
	Why  string `json:"why"`
	// Flagged is the number of its metrics that left their normal range;
	// Top the highest-scoring of them.
	Flagged int    `json:"flagged"`
	Top     string `json:"top"`
	// CausedBy names the cause a symptom traces back to
	// ("host/agent/component").
	CausedBy string `json:"caused_by,omitempty"`
}

// Name is host/agent/component, or host/component for a host-level group.
func (c ComponentResult) Name() string {
	return compKey{c.Host, c.Agent, c.Component, c.Kind}.String()
}

// HostResult aggregates the components of one host.
type HostResult struct {
	Host  string  `json:"host"`
	Score float64 `json:"score"`
	// Role is RoleCause if a cause is on it, RoleSymptom if only symptoms
	// are, RoleUnrelated otherwise.
	Role string `json:"role"`
	Why  string `json:"why"`
	// Flagged counts its anomalous components; HostLevel lists its
	// anomalous host-wide groups (cpu, memory, disks) and the process.
	Flagged   int      `json:"flagged"`
	HostLevel []string `json:"host_level"`
}

// TopologyInfo says where the flow graph came from.
type TopologyInfo struct {
	// Source lists what was used: "file", "config", "inferred".
	Source []string `json:"source"`
	// Edges is the number of flow edges between components in the data;
	// CrossAgent those between agents.
	Edges      int `json:"edges"`
	CrossAgent int `json:"cross_agent"`
	// Assumed is true when no cross-agent edge was known and agents were
	// taken as connected in an unknown direction.
	Assumed bool `json:"assumed"`
	// Flow lists the flow edges between the components of the result, for
	// drawing the flow graph (Run fills it; see FlowEdges).
	Flow []FlowEdge `json:"flow,omitempty"`
}

// FlowEdge is a flow edge between two components, named as
// ComponentResult.Name names them.
type FlowEdge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Traces are the series behind the charts of a report: the anomaly score
// of every time point and the values of the ranked metrics.
type Traces struct {
	Times    []time.Time   `json:"times"`
	RowScore Floats        `json:"row_score"`
	Metrics  []MetricTrace `json:"metrics"`
	// BeforeTimes are the time points of the stretch of the baseline just
	// before the window (as long as the window, at most 3600 steps), which
	// a report plots ahead of it; MetricTrace.Before holds the values. Run
	// reads them again from the store for the ranked metrics only.
	BeforeTimes []time.Time `json:"before_times,omitempty"`
}

// MetricTrace is the window of one ranked metric.
type MetricTrace struct {
	Rank     int     `json:"rank"`
	Baseline float64 `json:"baseline"`
	Values   Floats  `json:"values"` // missing points are null
	// Before is the metric at Traces.BeforeTimes, as stored (missing
	// points are null).
	Before Floats `json:"before,omitempty"`
}

// Floats is a series whose NaN (missing) values are written to JSON as null.
type Floats []float64

// MarshalJSON writes the values, NaN and ±Inf as null.
func (f Floats) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(f)*8)
	b = append(b, '[')
	for i, v := range f {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return append(b, ']'), nil
}
