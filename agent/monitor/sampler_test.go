package monitor

import (
	"testing"
	"time"
)

func pointsBy(ps []Point) map[string]float64 {
	m := map[string]float64{}
	for _, p := range ps {
		m[p.Agent+"/"+p.Component+"/"+p.Metric] = p.Value
	}
	return m
}

func TestSamplerRatesGaugesAndQuantiles(t *testing.T) {
	r := NewRegistry("a1")
	src := r.Source("r1", "netcat")
	ch := r.Channel("c1", "memory")
	sk := r.Sink("k1", "null")
	ch.SetCapacity(100)
	s := NewSampler("h1", r)
	t0 := time.Unix(1000, 0)
	first := pointsBy(s.Sample(t0))
	if _, ok := first["a1/r1/EventAcceptedRate"]; ok {
		t.Fatal("a rate needs two samples")
	}
	src.EventAccepted.Add(500)
	ch.SetSize(25)
	for i := 0; i < 100; i++ {
		sk.BatchDuration.Update(0.010)
	}
	sk.BatchDuration.Update(0.500)
	got := pointsBy(s.Sample(t0.Add(2 * time.Second)))
	f := func(key string, want float64) {
		t.Helper()
		v, ok := got[key]
		if !ok {
			t.Fatalf("no point %s", key)
		}
		if v < want*0.9 || v > want*1.1 {
			t.Fatalf("%s = %v, want about %v", key, v, want)
		}
	}
	f("a1/r1/EventAcceptedRate", 250) // 500 events over 2 s
	f("a1/c1/ChannelSize", 25)
	f("a1/c1/ChannelFillPercentage", 25)
	f("a1/k1/batch_duration_p50_seconds", 0.010)
	f("a1/k1/batch_duration_p99_seconds", 0.010)
	// The process's own series carry the name of the agent it runs.
	if _, ok := got["a1/go/goroutines"]; !ok {
		t.Error("no Go runtime points")
	}
	if v, ok := got["a1/process/vmrss_bytes"]; !ok || v <= 0 {
		t.Errorf("process RSS point: %v %v", v, ok)
	}
	if _, ok := got["/memory/used_percent"]; !ok {
		t.Error("no host memory point")
	}
	for _, p := range s.out {
		if p.TS != t0.Add(2*time.Second).UnixMilli() || p.Host != "h1" {
			t.Fatalf("point %+v: wrong timestamp or host", p)
		}
	}
	// CPU percentages need the host's tick counters to move between two
	// samples, which takes real time.
	deadline := time.Now().Add(5 * time.Second)
	for i := 4; ; i++ {
		if _, ok := pointsBy(s.Sample(t0.Add(time.Duration(i) * time.Second)))["/cpu/idle_percent"]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no host CPU point")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A counter that goes down (a restarted component) gives no rate.
	src.EventAccepted.Set(10)
	if _, ok := pointsBy(s.Sample(time.Now().Add(time.Hour)))["a1/r1/EventAcceptedRate"]; ok {
		t.Fatal("rate reported across a counter reset")
	}
}
