package watch

import (
	"context"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/monitor"
)

type discard struct{}

func (discard) Send(context.Context, Peer, string, string, []byte) error { return nil }

// BenchmarkLeafStep is one sampling interval of a fitted leaf on an agent
// of three components: the Sampler reading the registry, the Go runtime,
// the process and the host's /proc files, the detector scoring every
// series, and every tenth step a window's summary (refits included). At
// the default 1 s interval, ns/op over 1e9 is the share of one core the
// operator takes.
func BenchmarkLeafStep(b *testing.B) {
	reg := monitor.NewRegistry("a1")
	src := reg.Source("r1", "seq")
	ch := reg.Channel("c1", "memory")
	snk := reg.Sink("k1", "null")
	ch.SetCapacity(10000)
	h := NewHost(Options{Name: "bench", Registries: []*monitor.Registry{reg}, Sender: discard{}, Logger: discardLogger()})
	spec := `{"deployment": "b", "node": 1, "level": 1, "role": "leaf", "key": "` + testKey + `",
		"parent": {"url": "http://127.0.0.1:1", "id": "b.0"}, "root": {"url": "http://127.0.0.1:1", "id": "b.0"}}`
	if _, _, err := h.Put("b.1", []byte(spec)); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	step := func() {
		src.EventAccepted.Add(1000)
		snk.EventDrainSuccess.Add(1000)
		now = now.Add(time.Second)
		h.Step(now)
	}
	for range 70 { // a detect window and more: fitted
		step()
	}
	if st := h.Statuses()[0]; st.Fitted == 0 {
		b.Fatalf("not fitted: %+v", st)
	}
	b.ResetTimer()
	for b.Loop() {
		step()
	}
	b.ReportMetric(float64(h.Statuses()[0].Series), "series")
}
