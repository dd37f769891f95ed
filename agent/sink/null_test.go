package sink

import (
	"context"
	"testing"

	"github.com/vscope/vscope/agent/component"
)

func TestNullDrainsAndCounts(t *testing.T) {
	r := newRig(t, "null", 1000, 100)
	s, err := NewNull(r.set, *NewNullConfig())
	if err != nil {
		t.Fatal(err)
	}
	r.put(t, 100, bodies(250)...)
	want := []component.Status{component.Ready, component.Ready, component.Ready, component.Backoff}
	for i, w := range want {
		st, err := s.Process(context.Background())
		if err != nil || st != w {
			t.Fatalf("Process #%d = %v, %v; want %v", i+1, st, err, w)
		}
	}
	if n := r.ch.Len(); n != 0 {
		t.Errorf("channel holds %d events, want 0", n)
	}
	c := r.counter()
	counts(t, "EventDrainAttempt", c.EventDrainAttempt.Get(), 250)
	counts(t, "EventDrainSuccess", c.EventDrainSuccess.Get(), 250)
	counts(t, "BatchComplete", c.BatchComplete.Get(), 2)
	counts(t, "BatchUnderflow", c.BatchUnderflow.Get(), 1)
	counts(t, "BatchEmpty", c.BatchEmpty.Get(), 1)
	counts(t, "channel EventTakeSuccess", r.reg.Channel("c1", "memory").EventTakeSuccess.Get(), 250)
	if h := c.BatchDuration; h == nil {
		t.Error("no BatchDuration histogram")
	}
}

func TestNullConfig(t *testing.T) {
	f := func(batch int, ok bool) {
		t.Helper()
		c := NewNullConfig()
		c.Batch = batch
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("batchSize %d: Validate() = %v, want ok=%v", batch, err, ok)
		}
	}
	f(1, true)
	f(100, true)
	f(0, false)
	f(-5, false)
}
