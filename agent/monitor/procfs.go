package monitor

import (
	"bufio"
	"bytes"
	"os"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
)

type addFunc func(agent, comp, kind, metric string, v float64)

// runtimeMetrics are the Go runtime series sampled, from runtime/metrics;
// cumulative ones are turned into rates.
var runtimeMetrics = []struct {
	name, metric string
	cumulative   bool
}{
	{"/sched/goroutines:goroutines", "goroutines", false},
	{"/memory/classes/heap/objects:bytes", "heap_objects_bytes", false},
	{"/memory/classes/total:bytes", "memory_total_bytes", false},
	{"/gc/heap/goal:bytes", "heap_goal_bytes", false},
	{"/gc/heap/allocs:bytes", "heap_alloc_bytes_per_second", true},
	{"/gc/cycles/total:gc-cycles", "gc_cycles_per_second", true},
	{"/cpu/classes/gc/total:cpu-seconds", "gc_cpu_seconds_per_second", true},
	{"/sched/pauses/total/gc:seconds", "gc_pause_seconds", false}, // histogram: sum of the interval
}

func (s *Sampler) sampleRuntime(add addFunc, dt float64) {
	rtmetrics.Read(s.rt)
	for i, m := range runtimeMetrics {
		v := s.rt[i].Value
		switch v.Kind() {
		case rtmetrics.KindUint64:
			s.emitRuntime(add, m.metric, float64(v.Uint64()), m.cumulative, dt)
		case rtmetrics.KindFloat64:
			s.emitRuntime(add, m.metric, v.Float64(), m.cumulative, dt)
		case rtmetrics.KindFloat64Histogram:
			// Total pause time in the interval, estimated from bucket
			// midpoints, as seconds of pause per second.
			h := v.Float64Histogram()
			total := 0.0
			for j, c := range h.Counts {
				if c == 0 {
					continue
				}
				lo, hi := h.Buckets[j], h.Buckets[j+1]
				if lo < 0 || hi > 1e9 {
					continue
				}
				total += float64(c) * (lo + hi) / 2
			}
			s.emitRuntime(add, "gc_pause_seconds_per_second", total, true, dt)
		}
	}
}

func (s *Sampler) emitRuntime(add addFunc, metric string, v float64, cumulative bool, dt float64) {
	if !cumulative {
		add(s.proc, "go", PointRuntime, metric, v)
		return
	}
	if r, ok := s.rate("runtime\x00"+metric, v, dt); ok {
		add(s.proc, "go", PointRuntime, metric, r)
	}
}

var clockTicks = 100.0 // USER_HZ on Linux

// sampleProcess reads /proc/self: CPU, memory, threads, open files, I/O.
func (s *Sampler) sampleProcess(add addFunc, dt float64) {
	p := func(metric string, v float64) { add(s.proc, "process", PointProcess, metric, v) }
	cum := func(metric string, v float64) {
		if r, ok := s.rate("process\x00"+metric, v, dt); ok {
			p(metric, r)
		}
	}
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		// Fields after the parenthesised command name.
		if i := bytes.LastIndexByte(b, ')'); i > 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 20 {
				utime, _ := strconv.ParseFloat(f[11], 64)
				stime, _ := strconv.ParseFloat(f[12], 64)
				threads, _ := strconv.ParseFloat(f[17], 64)
				cum("cpu_user_seconds_per_second", utime/clockTicks)
				cum("cpu_system_seconds_per_second", stime/clockTicks)
				p("threads", threads)
			}
		}
	}
	forEachLine("/proc/self/status", func(line string) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			return
		}
		if kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64); err == nil {
			p(strings.ToLower(k)+"_bytes", kb*1024)
		}
	})
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		p("open_fds", float64(len(ents)))
	}
	forEachLine("/proc/self/io", func(line string) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return
		}
		switch k {
		case "rchar", "wchar", "read_bytes", "write_bytes":
			if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				cum("io_"+k+"_per_second", n)
			}
		}
	})
}

// sampleHost reads the machine's CPU, memory, load, disks and network.
func (s *Sampler) sampleHost(add addFunc, dt float64) {
	h := func(comp, metric string, v float64) { add("", comp, PointHost, metric, v) }
	forEachLine("/proc/stat", func(line string) {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu" {
			return
		}
		var total float64
		vals := make([]float64, len(f)-1)
		for i, x := range f[1:] {
			vals[i], _ = strconv.ParseFloat(x, 64)
			total += vals[i]
		}
		// user, nice, system, idle, iowait, irq, softirq, steal
		names := []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}
		dTotal, okT := s.delta("host\x00cpu\x00total", total)
		for i, n := range names {
			if i >= len(vals) {
				break
			}
			d, ok := s.delta("host\x00cpu\x00"+n, vals[i])
			if ok && okT && dTotal > 0 {
				h("cpu", n+"_percent", 100*d/dTotal)
			}
		}
	})
	mem := map[string]float64{}
	forEachLine("/proc/meminfo", func(line string) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return
		}
		if kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64); err == nil {
			mem[k] = kb * 1024
		}
	})
	if mem["MemTotal"] > 0 {
		h("memory", "available_bytes", mem["MemAvailable"])
		h("memory", "used_percent", 100*(1-mem["MemAvailable"]/mem["MemTotal"]))
		h("memory", "dirty_bytes", mem["Dirty"])
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			l1, _ := strconv.ParseFloat(f[0], 64)
			l5, _ := strconv.ParseFloat(f[1], 64)
			h("load", "load1", l1)
			h("load", "load5", l5)
		}
	}
	forEachLine("/proc/diskstats", func(line string) {
		f := strings.Fields(line)
		if len(f) < 14 || !wholeDisk(f[2]) {
			return
		}
		comp := "disk:" + f[2]
		num := func(i int) float64 { v, _ := strconv.ParseFloat(f[i], 64); return v }
		for _, m := range []struct {
			name string
			v    float64
		}{
			{"read_bytes_per_second", num(5) * 512},
			{"write_bytes_per_second", num(9) * 512},
			{"reads_per_second", num(3)},
			{"writes_per_second", num(7)},
			{"busy_percent", num(12) / 10}, // ms busy per s -> percent
		} {
			if r, ok := s.rate("host\x00"+comp+"\x00"+m.name, m.v, dt); ok {
				h(comp, m.name, r)
			}
		}
	})
	forEachLine("/proc/net/dev", func(line string) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			return
		}
		name = strings.TrimSpace(name)
		f := strings.Fields(rest)
		if len(f) < 16 || name == "lo" {
			return
		}
		comp := "net:" + name
		num := func(i int) float64 { v, _ := strconv.ParseFloat(f[i], 64); return v }
		for _, m := range []struct {
			name string
			v    float64
		}{
			{"rx_bytes_per_second", num(0)}, {"rx_packets_per_second", num(1)},
			{"rx_errors_per_second", num(2)}, {"rx_drops_per_second", num(3)},
			{"tx_bytes_per_second", num(8)}, {"tx_packets_per_second", num(9)},
			{"tx_errors_per_second", num(10)}, {"tx_drops_per_second", num(11)},
		} {
			if r, ok := s.rate("host\x00"+comp+"\x00"+m.name, m.v, dt); ok {
				h(comp, m.name, r)
			}
		}
	})
}

// delta records a cumulative value and returns its change since the last
// sample.
func (s *Sampler) delta(key string, v float64) (float64, bool) {
	old, seen := s.prev[key]
	s.prev[key] = v
	return v - old, seen && v >= old
}

// wholeDisk skips partitions, loop and ram devices.
func wholeDisk(name string) bool {
	if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "dm-") {
		return false
	}
	if _, err := os.Stat("/sys/block/" + name); err != nil {
		return false
	}
	return true
}

func forEachLine(path string, f func(string)) {
	file, err := os.Open(path)
	if err != nil {
		return
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		f(sc.Text())
	}
}
