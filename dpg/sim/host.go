package sim

import (
	"math"
	"math/rand/v2"

	"github.com/vscope/vscope/agent/monitor"
)

// series is one simulated metric of a host.
type series struct {
	agent, comp, kind, metric string
	level                     float64
	shape                     shape
	// fault multiplies the value while the host's fault is active.
	fault float64
}

// group is series of one component sharing a level and shape.
type group struct {
	comp, kind string
	metrics    []string
	level      float64
	s          shape
}

type shape uint8

const (
	rate     shape = iota // follows the host's load, 2% noise
	gauge                 // independent, 10% noise
	constant              // never moves (a capacity)
	rare                  // 0, now and then a small count (failures)
	latency               // follows load, 10% noise, skewed
)

// Host simulates one host of dpg/model.Synth: two agents (access, app),
// each a source, two channels and two sinks with the counters the agent
// samples (Flume's names), and the process, Go runtime and host series.
type Host struct {
	Name   string
	series []series
	rng    *rand.Rand
	load   float64 // AR(1) deviation of the host's load
	out    []monitor.Point
	// FaultAt (unix ms, 0: none) activates the series' fault factors.
	FaultAt int64
}

// Fault is the planted anomaly: a slow sink. From At on, the sink's batch
// p99 latency is eight times its level and it drains 30% less.
type Fault struct {
	Host, Agent, Component string
	At                     int64 // unix ms
}

var (
	sourceMetrics = []string{"EventReceivedRate", "EventAcceptedRate", "AppendReceivedRate", "AppendAcceptedRate",
		"AppendBatchReceivedRate", "AppendBatchAcceptedRate", "OpenConnectionCount", "ChannelWriteFailRate",
		"EventReadFailRate", "GenericProcessingFailRate", "put_duration_p50_seconds", "put_duration_p99_seconds"}
	channelMetrics = []string{"ChannelSize", "ChannelCapacity", "ChannelFillPercentage", "EventPutAttemptRate",
		"EventPutSuccessRate", "EventTakeAttemptRate", "EventTakeSuccessRate", "EventRollbackRate"}
	sinkMetrics = []string{"ConnectionCreatedRate", "ConnectionClosedRate", "ConnectionFailedRate", "BatchEmptyRate",
		"BatchUnderflowRate", "BatchCompleteRate", "EventDrainAttemptRate", "EventDrainSuccessRate", "EventWriteFailRate",
		"ChannelReadFailRate", "batch_duration_p50_seconds", "batch_duration_p99_seconds"}
)

// NewHost builds host name; seed makes its levels and noise reproducible.
// fault, when it names this host, plants the slow sink in its series.
func NewHost(name string, seed uint64, fault *Fault) *Host {
	h := &Host{Name: name, rng: rand.New(rand.NewPCG(seed, 0x51f7))}
	if fault != nil && fault.Host == name {
		h.FaultAt = fault.At
	}
	r := h.rng
	add := func(agent, comp, kind, metric string, level float64, s shape) {
		f := 1.0
		if fault != nil && fault.Host == name && fault.Agent == agent && fault.Component == comp {
			switch metric {
			case "batch_duration_p99_seconds":
				f = 8
			case "batch_duration_p50_seconds":
				f = 3
			case "EventDrainAttemptRate", "EventDrainSuccessRate", "BatchCompleteRate":
				f = 0.7
			}
		}
		h.series = append(h.series, series{agent, comp, kind, metric, level, s, f})
	}
	for _, agent := range []string{"access", "app"} {
		ev := 200 + 1800*r.Float64() // events/s of this agent
		for _, m := range sourceMetrics {
			switch {
			case m == "OpenConnectionCount":
				add(agent, "r1", "source", m, float64(1+r.IntN(8)), gauge)
			case len(m) > 4 && m[len(m)-8:] == "FailRate":
				add(agent, "r1", "source", m, 0, rare)
			case m == "put_duration_p50_seconds" || m == "put_duration_p99_seconds":
				add(agent, "r1", "source", m, 0.0005+0.002*r.Float64(), latency)
			case m == "AppendBatchReceivedRate" || m == "AppendBatchAcceptedRate":
				add(agent, "r1", "source", m, ev/100, rate)
			default:
				add(agent, "r1", "source", m, ev, rate)
			}
		}
		for _, c := range []string{"c1", "c2"} {
			for _, m := range channelMetrics {
				switch m {
				case "ChannelCapacity":
					add(agent, c, "channel", m, 10000, constant)
				case "ChannelSize":
					add(agent, c, "channel", m, 50+200*r.Float64(), gauge)
				case "ChannelFillPercentage":
					add(agent, c, "channel", m, 0.5+2*r.Float64(), gauge)
				case "EventRollbackRate":
					add(agent, c, "channel", m, 0, rare)
				default:
					add(agent, c, "channel", m, ev/2, rate)
				}
			}
		}
		for _, k := range []string{"k1", "k2"} {
			for _, m := range sinkMetrics {
				switch m {
				case "ConnectionCreatedRate", "ConnectionClosedRate", "ConnectionFailedRate", "EventWriteFailRate", "ChannelReadFailRate":
					add(agent, k, "sink", m, 0, rare)
				case "BatchEmptyRate", "BatchUnderflowRate", "BatchCompleteRate":
					add(agent, k, "sink", m, ev/2/100, rate)
				case "batch_duration_p50_seconds", "batch_duration_p99_seconds":
					add(agent, k, "sink", m, 0.002+0.01*r.Float64(), latency)
				default:
					add(agent, k, "sink", m, ev/2, rate)
				}
			}
		}
	}
	hostSeries := []group{
		{"process", "process", []string{"cpu_user_seconds_per_second", "cpu_system_seconds_per_second"}, 0.1 + 0.3*r.Float64(), rate},
		{"process", "process", []string{"threads", "open_fds"}, float64(10 + r.IntN(40)), constant},
		{"process", "process", []string{"vmrss_bytes", "vmhwm_bytes"}, 50e6 + 200e6*r.Float64(), gauge},
		{"process", "process", []string{"io_rchar_per_second", "io_wchar_per_second", "io_read_bytes_per_second", "io_write_bytes_per_second"}, 1e5 + 1e6*r.Float64(), rate},
		{"go", "runtime", []string{"goroutines"}, float64(20 + r.IntN(80)), gauge},
		{"go", "runtime", []string{"heap_objects_bytes", "memory_total_bytes", "heap_goal_bytes"}, 20e6 + 100e6*r.Float64(), gauge},
		{"go", "runtime", []string{"heap_alloc_bytes_per_second"}, 1e6 + 1e7*r.Float64(), rate},
		{"go", "runtime", []string{"gc_cycles_per_second", "gc_cpu_seconds_per_second", "gc_pause_seconds_per_second"}, 0.01 + 0.1*r.Float64(), rate},
		{"cpu", "host", []string{"user_percent", "system_percent", "iowait_percent", "softirq_percent"}, 2 + 20*r.Float64(), rate},
		{"cpu", "host", []string{"idle_percent"}, 50 + 40*r.Float64(), gauge},
		{"cpu", "host", []string{"nice_percent", "irq_percent", "steal_percent"}, 0, rare},
		{"memory", "host", []string{"available_bytes", "dirty_bytes"}, 1e9 + 8e9*r.Float64(), gauge},
		{"memory", "host", []string{"used_percent"}, 20 + 60*r.Float64(), gauge},
		{"load", "host", []string{"load1", "load5"}, 0.5 + 4*r.Float64(), gauge},
	}
	for _, d := range []string{"disk:sda", "disk:sdb"} {
		hostSeries = append(hostSeries, group{d, "host", []string{"read_bytes_per_second", "write_bytes_per_second", "reads_per_second", "writes_per_second", "busy_percent"}, 1e4 + 1e6*r.Float64(), rate})
	}
	for _, n := range []string{"net:eth0", "net:eth1"} {
		hostSeries = append(hostSeries, group{n, "host", []string{"rx_bytes_per_second", "rx_packets_per_second", "tx_bytes_per_second", "tx_packets_per_second"}, 1e5 + 1e7*r.Float64(), rate},
			group{n, "host", []string{"rx_errors_per_second", "rx_drops_per_second", "tx_errors_per_second", "tx_drops_per_second"}, 0, rare})
	}
	for _, hs := range hostSeries {
		for _, m := range hs.metrics {
			add("", hs.comp, hs.kind, m, hs.level*(0.8+0.4*r.Float64()), hs.s)
		}
	}
	return h
}

// Series is the number of series the host emits.
func (h *Host) Series() int { return len(h.series) }

// Sample returns the host's values at ts. The slice is reused by the next
// call.
func (h *Host) Sample(ts int64) []monitor.Point {
	r := h.rng
	h.load = 0.995*h.load + 0.004*r.NormFloat64()
	load := 1 + h.load
	faulty := h.FaultAt != 0 && ts >= h.FaultAt
	h.out = h.out[:0]
	for i := range h.series {
		s := &h.series[i]
		var v float64
		switch s.shape {
		case rate:
			v = s.level * load * (1 + 0.02*r.NormFloat64())
		case gauge:
			v = s.level * (1 + 0.1*r.NormFloat64())
		case constant:
			v = s.level
		case rare:
			if r.Float64() < 0.002 {
				v = float64(1 + r.IntN(5))
			}
		case latency:
			v = s.level * load * math.Exp(0.1*r.NormFloat64())
		}
		if faulty {
			v *= s.fault
		}
		h.out = append(h.out, monitor.Point{TS: ts, Host: h.Name, Agent: s.agent, Component: s.comp, Kind: s.kind, Metric: s.metric, Value: math.Max(v, 0)})
	}
	return h.out
}
