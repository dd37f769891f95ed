package faults

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vscope/vscope/datasets/webstore"
)

// Kind names a kind of fault.
type Kind string

// The kinds of faults. Each acts on the running flow (or, for the last
// two, on the logs the web servers write), never on metric values.
const (
	// SlowSink adds latency (delay, default 200ms) to every batch a sink
	// commits: the sink's take is held that much longer before its commit,
	// as a slow disk or HDFS would hold it. Target: host or host/sink.
	SlowSink Kind = "slow_sink"
	// CPUInterference runs a busy process (threads, default 2) next to one
	// agent: both are pinned to the same CPU and the busy process counts
	// as that host's. Target: host.
	CPUInterference Kind = "cpu_interference"
	// NetDelay delays the network between a tier-1 agent and a collector
	// (delay, default 100ms each way; jitter; bw in bytes/s; loss). Target:
	// web-01>col-01 (one link), col-01 (every link into it) or web-01
	// (every link out of it).
	NetDelay Kind = "net_delay"
	// NetLoss loses packets on those links (loss, default 0.05): each lost
	// chunk and what follows it arrive a retransmission timeout (rto,
	// default 200ms) late. Target as NetDelay.
	NetLoss Kind = "net_loss"
	// TinyChannel reloads an agent's configuration with a tiny channel
	// capacity (capacity, default 200; at least 100). Target: host or
	// host/channel.
	TinyChannel Kind = "tiny_channel"
	// GCStorm makes one agent's process allocate garbage (rate, default
	// 200 MB/s, over a live heap of live MB, default 64) with GOGC lowered
	// (gogc, default 20). Target: host.
	GCStorm Kind = "gc_storm"
	// CollectorCrash kills an agent's process with SIGKILL at the start
	// and starts it again at the end. Target: host.
	CollectorCrash Kind = "collector_crash"
	// DiskFull fills the file system under a file channel until less than
	// its minimumRequiredSpace is free (free, default half of it), so puts
	// are refused while takes go on. Target: host or host/channel.
	DiskFull Kind = "disk_full"
	// FlashCrowd multiplies one web server's sessions (factor, default 5;
	// ramp). Generated into the logs. Target: a web host, or * for all.
	FlashCrowd Kind = "flash_crowd"
	// ErrorStorm makes a share (rate, default 0.5) of one web server's
	// requests fail. Generated into the logs. Target: a web host.
	ErrorStorm Kind = "error_storm"
)

// Kinds lists every kind, in a stable order.
var Kinds = []Kind{SlowSink, CPUInterference, NetDelay, NetLoss, TinyChannel, GCStorm, CollectorCrash, DiskFull, FlashCrowd, ErrorStorm}

// aliases are other names accepted for kinds.
var aliases = map[string]Kind{
	"cpu_hog": CPUInterference, "crash": CollectorCrash, "network_delay": NetDelay,
	"packet_loss": NetLoss, "memory_storm": GCStorm, "disk_space": DiskFull,
}

// params are the parameters each kind accepts.
var params = map[Kind][]string{
	SlowSink:        {"delay"},
	CPUInterference: {"threads", "pin"},
	NetDelay:        {"delay", "jitter", "bw", "loss", "rto"},
	NetLoss:         {"loss", "rto", "delay"},
	TinyChannel:     {"capacity"},
	GCStorm:         {"rate", "live", "gogc"},
	CollectorCrash:  {},
	DiskFull:        {"free"},
	FlashCrowd:      {"factor", "ramp"},
	ErrorStorm:      {"rate"},
}

// Generated reports whether the kind is applied by the log generator
// rather than to the running flow.
func (k Kind) Generated() bool { return k == FlashCrowd || k == ErrorStorm }

// Spec is one fault to inject: what, where and when.
type Spec struct {
	Kind Kind
	// Target is where: a host (web-01, col-01), host/component (col-01/k1),
	// or for network faults a link (web-01>col-01).
	Target string
	// Start is the offset from the first replayed line, in log time (so
	// the fault lands on the same lines at every speed; at unlimited speed
	// it is wall time); Dur is how long it lasts, in the same time.
	Start, Dur time.Duration
	// Params are the kind's parameters (delay=200ms, capacity=200, ...).
	Params map[string]string
}

// ParseSpec reads a fault from its command-line form:
//
//	KIND@TARGET,start=+2m,dur=3m[,PARAM=VALUE...]
//
// for example slow_sink@col-01/k1,start=+2m,dur=3m,delay=500ms or
// net_delay@web-01>col-02,start=+1m,dur=2m,delay=80ms,loss=0.01. The web
// store's older form KIND:HOST@AT+FOR[:PARAM] (flash_crowd:web-02@10m+5m:x8)
// is read too.
func ParseSpec(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	bad := func(why string) (Spec, error) {
		return Spec{}, fmt.Errorf("fault %q: %s; want KIND@TARGET,start=+2m,dur=3m[,PARAM=VALUE...] with KIND one of %s", s, why, kindList())
	}
	if k, _, ok := strings.Cut(s, ":"); ok && !strings.Contains(k, "@") {
		if kind := Kind(k); kind.Generated() {
			f, err := webstore.ParseFault(s)
			if err != nil {
				return Spec{}, err
			}
			sp := Spec{Kind: kind, Target: f.Host, Start: f.At, Dur: f.For, Params: map[string]string{}}
			if sp.Target == "" {
				sp.Target = "*"
			}
			if f.Factor > 0 {
				sp.Params["factor"] = strconv.FormatFloat(f.Factor, 'g', -1, 64)
			}
			if f.ErrorRate > 0 {
				sp.Params["rate"] = strconv.FormatFloat(f.ErrorRate, 'g', -1, 64)
			}
			return sp, nil
		}
	}
	head, rest, _ := strings.Cut(s, ",")
	k, target, ok := strings.Cut(head, "@")
	if !ok || target == "" {
		return bad("no @TARGET")
	}
	kind := Kind(strings.ToLower(strings.TrimSpace(k)))
	if a, ok := aliases[string(kind)]; ok {
		kind = a
	}
	allowed, ok := params[kind]
	if !ok {
		return bad("unknown kind " + strconv.Quote(k))
	}
	sp := Spec{Kind: kind, Target: strings.TrimSpace(target), Params: map[string]string{}}
	seenStart, seenDur := false, false
	if rest != "" {
		for _, kv := range strings.Split(rest, ",") {
			key, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || val == "" {
				return bad(fmt.Sprintf("%q is not KEY=VALUE", kv))
			}
			switch key {
			case "start", "at":
				d, err := time.ParseDuration(strings.TrimPrefix(val, "+"))
				if err != nil || d < 0 {
					return bad("start: want an offset like +2m")
				}
				sp.Start, seenStart = d, true
			case "dur", "for":
				d, err := time.ParseDuration(val)
				if err != nil || d <= 0 {
					return bad("dur: want a positive duration like 3m")
				}
				sp.Dur, seenDur = d, true
			default:
				if !contains(allowed, key) {
					return bad(fmt.Sprintf("%s takes no parameter %q (it takes %s)", kind, key, paramList(allowed)))
				}
				sp.Params[key] = val
			}
		}
	}
	if !seenStart || !seenDur {
		return bad("start= and dur= are required")
	}
	if err := sp.check(); err != nil {
		return bad(err.Error())
	}
	return sp, nil
}

// check validates the parameters' values.
func (s Spec) check() error {
	for k, v := range s.Params {
		var err error
		if s.Kind == GCStorm && k == "rate" {
			k = "bw" // bytes per second
		}
		switch k {
		case "delay", "jitter", "rto", "ramp":
			_, err = time.ParseDuration(v)
		case "threads", "capacity", "gogc":
			_, err = strconv.Atoi(v)
		case "loss", "rate", "factor":
			_, err = strconv.ParseFloat(strings.TrimPrefix(v, "x"), 64)
		case "bw", "free", "live":
			_, err = parseBytes(v)
		case "pin":
			_, err = strconv.ParseBool(v)
		}
		if err != nil {
			return fmt.Errorf("%s=%s: %v", k, v, err)
		}
	}
	if s.Kind == TinyChannel && s.Int("capacity", 200) < 100 {
		return fmt.Errorf("capacity %d: at least 100 (one replay batch)", s.Int("capacity", 200))
	}
	if (s.Kind == NetLoss || s.Kind == NetDelay) && (s.Float("loss", 0) < 0 || s.Float("loss", 0) >= 1) {
		return fmt.Errorf("loss %v: want [0, 1)", s.Float("loss", 0))
	}
	return nil
}

// String is the spec in the form ParseSpec reads.
func (s Spec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s@%s,start=+%v,dur=%v", s.Kind, s.Target, s.Start, s.Dur)
	keys := make([]string, 0, len(s.Params))
	for k := range s.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, ",%s=%s", k, s.Params[k])
	}
	return b.String()
}

// Duration is a duration parameter, or def.
func (s Spec) Duration(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(s.Params[key]); err == nil {
		return d
	}
	return def
}

// Int is an integer parameter, or def.
func (s Spec) Int(key string, def int) int {
	if n, err := strconv.Atoi(s.Params[key]); err == nil {
		return n
	}
	return def
}

// Float is a number parameter ("x8" reads as 8), or def.
func (s Spec) Float(key string, def float64) float64 {
	if f, err := strconv.ParseFloat(strings.TrimPrefix(s.Params[key], "x"), 64); err == nil {
		return f
	}
	return def
}

// Bytes is a size parameter (64MB, 1MiB, 500k, 4096), or def.
func (s Spec) Bytes(key string, def int64) int64 {
	if n, err := parseBytes(s.Params[key]); err == nil {
		return n
	}
	return def
}

// parseBytes reads 4096, 500k, 64MB, 1MiB, 2g (decimal K/M/G, binary
// KiB/MiB/GiB; a trailing "/s" is allowed for rates).
func parseBytes(v string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(v), "/s")
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1}} {
		if strings.HasSuffix(lower, u.suf) {
			mult = u.m
			t = t[:len(t)-len(u.suf)]
			break
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes like 4096, 500k, 64MB or 1MiB", v)
	}
	return int64(f * float64(mult)), nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func paramList(p []string) string {
	if len(p) == 0 {
		return "none"
	}
	return strings.Join(p, ", ")
}
