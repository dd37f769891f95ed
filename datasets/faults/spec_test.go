package faults

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSpec(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		s, err := ParseSpec(in)
		if err != nil {
			t.Errorf("ParseSpec(%q): %v", in, err)
			return
		}
		if got := s.String(); got != want {
			t.Errorf("ParseSpec(%q) = %q, want %q", in, got, want)
		}
		again, err := ParseSpec(s.String())
		if err != nil || again.String() != want {
			t.Errorf("round trip of %q: %q, %v", want, again.String(), err)
		}
	}
	f("slow_sink@col-01,start=+2m,dur=3m", "slow_sink@col-01,start=+2m0s,dur=3m0s")
	f("slow_sink@col-01/k1,start=+2m,dur=3m,delay=500ms", "slow_sink@col-01/k1,start=+2m0s,dur=3m0s,delay=500ms")
	f("net_delay@web-01>col-02,dur=1m,start=30s,delay=80ms,loss=0.01", "net_delay@web-01>col-02,start=+30s,dur=1m0s,delay=80ms,loss=0.01")
	f("cpu_hog@web-02,start=+1m,dur=1m", "cpu_interference@web-02,start=+1m0s,dur=1m0s")
	f("crash@col-02,start=+1m,dur=20s", "collector_crash@col-02,start=+1m0s,dur=20s")
	f("gc_storm@web-01,start=+0s,dur=1m,rate=300MB,gogc=10", "gc_storm@web-01,start=+0s,dur=1m0s,gogc=10,rate=300MB")
	f("disk_full@col-01/c1,start=+1m,dur=1m,free=1MiB", "disk_full@col-01/c1,start=+1m0s,dur=1m0s,free=1MiB")
	// The web store's own form.
	f("flash_crowd:web-02@10m+5m:x8", "flash_crowd@web-02,start=+10m0s,dur=5m0s,factor=8")
	f("error_storm:web-01@20m+3m:0.4", "error_storm@web-01,start=+20m0s,dur=3m0s,rate=0.4")
	f("flash_crowd:*@10m+5m", "flash_crowd@*,start=+10m0s,dur=5m0s")
}

func TestParseSpecErrors(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		_, err := ParseSpec(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSpec(%q) = %v, want an error with %q", in, err, want)
		}
	}
	f("slow_sink", "no @TARGET")
	f("melt@col-01,start=+1m,dur=1m", `unknown kind "melt"`)
	f("slow_sink@col-01,dur=1m", "start= and dur= are required")
	f("slow_sink@col-01,start=+1m", "start= and dur= are required")
	f("slow_sink@col-01,start=+1m,dur=0s", "dur: want a positive duration")
	f("slow_sink@col-01,start=soon,dur=1m", "start: want an offset")
	f("slow_sink@col-01,start=+1m,dur=1m,capacity=5", `slow_sink takes no parameter "capacity" (it takes delay)`)
	f("slow_sink@col-01,start=+1m,dur=1m,delay=slow", "delay=slow")
	f("tiny_channel@web-01,start=+1m,dur=1m,capacity=10", "at least 100")
	f("net_loss@web-01,start=+1m,dur=1m,loss=1.5", "want [0, 1)")
	f("collector_crash@col-01,start=+1m,dur=1m,delay=1s", "takes no parameter")
	f("slow_sink@col-01,start=+1m,dur=1m,delay", "is not KEY=VALUE")
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"4096": 4096, "500k": 500e3, "64MB": 64e6, "1MiB": 1 << 20, "2g": 2e9, "1.5KiB": 1536, "10MB/s": 10e6} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1", "MB"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) succeeded", in)
		}
	}
}

func TestTruthRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "truth.json")
	now := time.Now().UTC().Truncate(time.Millisecond)
	in := []Truth{{Kind: SlowSink, Spec: "slow_sink@col-01,start=+1m0s,dur=1m0s", Host: "col-01", Agent: "col", Component: "k1",
		ComponentKind: "sink", Endpoint: "col-01/col/k1", Start: now, End: now.Add(time.Minute),
		Metrics: []Metric{{Host: "col-01", Agent: "col", Component: "k1", Kind: "sink", Metric: "batch_duration_p99_seconds", Change: "up", Role: "cause"}}}}
	if err := WriteTruth(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadTruth(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Endpoint != "col-01/col/k1" || !out[0].End.Equal(in[0].End) || out[0].Metrics[0] != in[0].Metrics[0] {
		t.Fatalf("read back %+v", out)
	}
	if err := WriteTruth(path, nil); err != nil {
		t.Fatal(err)
	}
	if out, err := ReadTruth(path); err != nil || out == nil || len(out) != 0 {
		t.Fatalf("empty truth read back as %v, %v", out, err)
	}
}

func TestSignal(t *testing.T) {
	gone := map[string]bool{"col-01/col": true}
	cases := []struct {
		a, b [4]string
		same bool
	}{
		{[4]string{"w", "web", "k1", "batch_duration_p50_seconds"}, [4]string{"w", "web", "k1", "batch_duration_p99_seconds"}, true},
		{[4]string{"w", "web", "c1", "ChannelSize"}, [4]string{"w", "web", "c1", "ChannelFillPercentage"}, true},
		{[4]string{"w", "web", "r1", "EventReceivedRate"}, [4]string{"w", "web", "r1", "EventAcceptedRate"}, true},
		{[4]string{"w", "web", "c1", "EventPutSuccessRate"}, [4]string{"w", "web", "r1", "EventAcceptedRate"}, true},
		{[4]string{"w", "web", "c1", "EventTakeSuccessRate"}, [4]string{"w", "web", "k1", "EventDrainSuccessRate"}, true},
		{[4]string{"w", "", "cpu", "idle_percent"}, [4]string{"w", "", "cpu", "user_percent"}, true},
		{[4]string{"w", "web", "process", "cpu_system_seconds_per_second"}, [4]string{"w", "web", "process", "cpu_user_seconds_per_second"}, true},
		{[4]string{"col-01", "col", "process", "cpu_user_seconds_per_second"}, [4]string{"col-01", "col", "k1", "EventDrainSuccessRate"}, true},
		{[4]string{"w", "web", "k1", "batch_duration_p50_seconds"}, [4]string{"w", "web", "r1", "put_duration_p50_seconds"}, false},
		{[4]string{"w", "web", "c1", "EventPutSuccessRate"}, [4]string{"w", "web", "c1", "EventTakeSuccessRate"}, false},
		{[4]string{"w", "web", "r1", "EventAcceptedRate"}, [4]string{"v", "web", "r1", "EventAcceptedRate"}, false},
		{[4]string{"w", "", "disk:vda", "busy_percent"}, [4]string{"w", "", "cpu", "user_percent"}, false},
		{[4]string{"col-02", "col", "k1", "EventDrainSuccessRate"}, [4]string{"col-01", "col", "k1", "EventDrainSuccessRate"}, false},
	}
	sig := func(x [4]string) string { return Signal(x[0], x[1], x[2], x[3], gone) }
	for _, c := range cases {
		if a, b := sig(c.a), sig(c.b); (a == b) != c.same {
			t.Errorf("%v (%s) and %v (%s): same %v, want %v", c.a, a, c.b, b, a == b, c.same)
		}
	}
}
