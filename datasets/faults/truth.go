package faults

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Truth is the ground truth of one injected fault: what it was, where, when
// (on the metric store's clock), and the metrics a human expert would point
// at. A run writes a JSON array of them (--truth).
type Truth struct {
	// Kind and Spec say what was injected (Spec in ParseSpec's form).
	Kind Kind   `json:"kind"`
	Spec string `json:"spec"`
	// Host, Agent and Component name the root cause the way the metric
	// store does: host web-01, agent web, component k1; a host-wide cause
	// (CPU interference) has agent "" and component "cpu"; a process-wide
	// one the agent of the process and component "go" (GC storm) or
	// "process" (a dead process).
	// ComponentKind is the store's kind of it (sink, channel, source,
	// host, runtime, process).
	Host          string `json:"host"`
	Agent         string `json:"agent"`
	Component     string `json:"component"`
	ComponentKind string `json:"component_kind"`
	// Endpoint is host/agent/component (host/component for host-wide
	// causes), the form vscope diagnose's topology uses.
	Endpoint string `json:"endpoint"`
	// Also lists other endpoints an expert would accept as the cause: the
	// other end of a slowed link, the components of a killed agent.
	Also []string `json:"also,omitempty"`
	// Start and End are wall times, the clock of the metric store's ts
	// column: when the fault was put in and taken out.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// LogStart and LogEnd are the same instants in the replayed log time.
	LogStart *time.Time `json:"log_start,omitempty"`
	LogEnd   *time.Time `json:"log_end,omitempty"`
	// Params are the fault's parameters as applied (defaults filled in).
	Params map[string]string `json:"params,omitempty"`
	// Metrics are the expected symptoms, most telling first: the cause's
	// own metrics (Role "cause") then the effects elsewhere ("symptom").
	Metrics []Metric `json:"metrics"`
	// Effect says what the injection did physically, as measured where
	// it could be (the proxy's added delay, the process killed and its
	// restart).
	Effect string `json:"effect,omitempty"`
}

// Metric is one expected symptom: a series of the metric store and the
// direction it moves.
type Metric struct {
	Host      string `json:"host"`
	Agent     string `json:"agent"`
	Component string `json:"component"`
	Kind      string `json:"kind"`
	Metric    string `json:"metric"`
	// Change is "up", "down" or "absent" (no samples: the process is
	// dead).
	Change string `json:"change"`
	// Role is "cause" or "symptom".
	Role string `json:"role"`
}

// WriteTruth writes records as an indented JSON array.
func WriteTruth(path string, records []Truth) error {
	if records == nil {
		records = []Truth{}
	}
	b, err := json.MarshalIndent(records, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write truth: %w", err)
	}
	return nil
}

// ReadTruth reads what WriteTruth wrote.
func ReadTruth(path string) ([]Truth, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Truth
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// ref is a component of the flow as the store names it.
type ref struct {
	host, agent, comp, kind string
}

func (r ref) endpoint() string {
	if r.agent == "" {
		return r.host + "/" + r.comp
	}
	return r.host + "/" + r.agent + "/" + r.comp
}

func (r ref) m(metric, change, role string) Metric {
	return Metric{Host: r.host, Agent: r.agent, Component: r.comp, Kind: r.kind, Metric: metric, Change: change, Role: role}
}

// Store kinds of the components.
const (
	kSource  = "source"
	kChannel = "channel"
	kSink    = "sink"
	kHost    = "host"
	kRuntime = "runtime"
	kProcess = "process"
)

// expectedMetrics lists what an expert would look at for a fault of kind on
// cause, given the flow around it: up are the upstream senders into
// cause's agent (tier-1 sinks for a collector), peers the other
// collectors (all of them for a fault on a web server). The list is what
// the fault can do; the suite scores against those that did move
// (scenario.observed).
func expectedMetrics(kind Kind, cause ref, up, peers []string, fl *layout) []Metric {
	host := cause.host
	ag := fl.agentOf(host)
	src := ref{host, ag, SourceName, kSource}
	ch := ref{host, ag, ChannelName, kChannel}
	sk := ref{host, ag, SinkName, kSink}
	cpu := ref{host, "", "cpu", kHost}
	gort := ref{host, ag, "go", kRuntime}
	proc := ref{host, ag, "process", kProcess}
	var out []Metric
	add := func(ms ...Metric) { out = append(out, ms...) }
	upstream := func(metrics ...[2]string) {
		for _, h := range up {
			u := ref{h, fl.agentOf(h), SinkName, kSink}
			uc := ref{h, fl.agentOf(h), ChannelName, kChannel}
			for _, m := range metrics {
				if m[0] == "ChannelFillPercentage" {
					add(uc.m(m[0], m[1], "symptom"))
				} else {
					add(u.m(m[0], m[1], "symptom"))
				}
			}
		}
	}
	// peersLoad adds more arriving at the peers (the collectors), for a
	// fault on a collector when onCollector (what it refuses goes to the
	// others) and else for one on a web server (more sent arrives at
	// them).
	peersLoad := func(onCollector bool) {
		if fl.isCollector(host) != onCollector {
			return
		}
		for _, h := range peers {
			add(ref{h, fl.agentOf(h), SourceName, kSource}.m("EventAcceptedRate", "up", "symptom"))
		}
	}
	switch kind {
	case SlowSink:
		add(sk.m("batch_duration_p99_seconds", "up", "cause"),
			sk.m("batch_duration_p50_seconds", "up", "cause"),
			sk.m("EventDrainSuccessRate", "down", "cause"),
			ch.m("ChannelFillPercentage", "up", "symptom"),
			ch.m("ChannelSize", "up", "symptom"))
		upstream([2]string{"batch_duration_p99_seconds", "up"}, [2]string{"ChannelFillPercentage", "up"})
	case CPUInterference:
		add(cpu.m("user_percent", "up", "cause"),
			cpu.m("idle_percent", "down", "cause"),
			sk.m("batch_duration_p99_seconds", "up", "symptom"),
			src.m("put_duration_p99_seconds", "up", "symptom"),
			sk.m("EventDrainSuccessRate", "down", "symptom"),
			src.m("EventAcceptedRate", "down", "symptom"))
	case NetDelay, NetLoss:
		// cause is the sending sink; peers here are the receiving sources.
		add(sk.m("batch_duration_p99_seconds", "up", "cause"),
			sk.m("batch_duration_p50_seconds", "up", "cause"),
			sk.m("EventDrainSuccessRate", "down", "cause"),
			ch.m("ChannelFillPercentage", "up", "symptom"))
		for _, h := range peers {
			r := ref{h, fl.agentOf(h), SourceName, kSource}
			add(r.m("EventAcceptedRate", "down", "symptom"), r.m("put_duration_p99_seconds", "up", "symptom"))
		}
	case TinyChannel:
		add(ch.m("ChannelCapacity", "down", "cause"),
			ch.m("ChannelFillPercentage", "up", "cause"),
			src.m("ChannelWriteFailRate", "up", "symptom"),
			src.m("EventAcceptedRate", "down", "symptom"),
			sk.m("EventDrainSuccessRate", "down", "symptom"))
		upstream([2]string{"ChannelFillPercentage", "up"})
		peersLoad(true)
	case GCStorm:
		add(gort.m("gc_cycles_per_second", "up", "cause"),
			gort.m("gc_cpu_seconds_per_second", "up", "cause"),
			gort.m("heap_alloc_bytes_per_second", "up", "cause"),
			gort.m("memory_total_bytes", "up", "cause"),
			proc.m("cpu_user_seconds_per_second", "up", "cause"),
			gort.m("gc_pause_seconds_per_second", "up", "symptom"),
			sk.m("batch_duration_p99_seconds", "up", "symptom"),
			src.m("put_duration_p99_seconds", "up", "symptom"))
	case CollectorCrash:
		add(proc.m("cpu_user_seconds_per_second", "absent", "cause"),
			src.m("EventAcceptedRate", "absent", "cause"),
			sk.m("EventDrainSuccessRate", "absent", "cause"))
		upstream([2]string{"ConnectionFailedRate", "up"})
		for _, h := range peers {
			r := ref{h, fl.agentOf(h), SourceName, kSource}
			add(r.m("EventAcceptedRate", "up", "symptom"))
		}
	case DiskFull:
		add(src.m("ChannelWriteFailRate", "up", "cause"),
			ch.m("EventPutSuccessRate", "down", "cause"),
			src.m("EventAcceptedRate", "down", "cause"),
			sk.m("EventDrainSuccessRate", "down", "symptom"))
		upstream([2]string{"ChannelFillPercentage", "up"})
		peersLoad(true)
	case FlashCrowd:
		add(src.m("EventReceivedRate", "up", "cause"),
			src.m("EventAcceptedRate", "up", "cause"),
			src.m("AppendBatchReceivedRate", "up", "cause"),
			ch.m("EventPutSuccessRate", "up", "symptom"),
			sk.m("EventDrainSuccessRate", "up", "symptom"))
		peersLoad(false)
	case ErrorStorm:
		add(src.m("EventReceivedRate", "up", "cause"),
			src.m("EventAcceptedRate", "up", "cause"),
			sk.m("EventDrainSuccessRate", "up", "symptom"))
		peersLoad(false)
	}
	return out
}

// Signal names the quantity a series measures, for scoring a ranking
// against the truth: an expert pointing at "the sink's batches got slow"
// means either quantile, so series that measure one quantity in the flows
// of this package share a signal and count once. They are the quantiles
// of one histogram (batch_duration_p50 and _p99); a channel's size and
// its fill percentage (size over a fixed capacity); a source's received
// and accepted events (equal unless its channel refuses, which
// ChannelWriteFail counts on its own); the events at the two ends of one
// hand-off inside an agent, whose agents are all SourceName ->
// ChannelName -> SinkName (the source's accepted are the channel's puts,
// the channel's takes the sink's drained); a host's CPU user, system and
// idle percentages (idle is what the others leave); a process's user and
// system CPU time. gone names the agents
// (host/agent) whose process died: every series of such an agent tells
// the one fact that it is gone. The signal is host/agent/component/name
// with the representative's component and name.
func Signal(host, agent, comp, metric string, gone map[string]bool) string {
	if agent != "" && gone[host+"/"+agent] {
		return host + "/" + agent + "/gone"
	}
	if q := strings.LastIndex(metric, "_p"); q > 0 && strings.HasSuffix(metric, "_seconds") {
		if n := metric[q+2 : len(metric)-len("_seconds")]; n != "" && strings.Trim(n, "0123456789") == "" {
			metric = metric[:q] + "_seconds"
		}
	}
	switch {
	case metric == "ChannelSize":
		metric = "ChannelFillPercentage"
	case metric == "EventReceivedRate":
		metric = "EventAcceptedRate"
	case comp == ChannelName && agent != "" && metric == "EventPutSuccessRate":
		comp, metric = SourceName, "EventAcceptedRate"
	case comp == ChannelName && agent != "" && metric == "EventTakeSuccessRate":
		comp, metric = SinkName, "EventDrainSuccessRate"
	case agent == "" && comp == "cpu" && (metric == "user_percent" || metric == "system_percent" || metric == "idle_percent"):
		metric = "busy_percent"
	case comp == "process" && (metric == "cpu_user_seconds_per_second" || metric == "cpu_system_seconds_per_second"):
		metric = "cpu_seconds_per_second"
	}
	return host + "/" + agent + "/" + comp + "/" + metric
}
