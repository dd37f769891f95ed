package sink

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/monitor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rig is a memory channel and the settings of a sink draining it.
type rig struct {
	ch  *channel.Memory
	reg *monitor.Registry
	set component.SinkSettings
}

func newRig(t testing.TB, typ string, capacity, tx int) *rig {
	t.Helper()
	reg := monitor.NewRegistry("a1")
	cfg := channel.NewMemoryConfig()
	cfg.Capacity, cfg.TxCapacity = capacity, tx
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ch := channel.NewMemory(*cfg, reg.Channel("c1", "memory"))
	return &rig{ch: ch, reg: reg, set: component.SinkSettings{
		Settings: component.Settings{Agent: "a1", Name: "k1", Type: typ},
		Counter:  reg.Sink("k1", typ),
		Channel:  ch,
	}}
}

func (r *rig) counter() *monitor.SinkCounter { return r.set.Counter }

// bodies returns n distinct bodies, "event-0000" and so on.
func bodies(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("event-%04d", i)
	}
	return out
}

// put puts the bodies in batches of at most tx events.
func (r *rig) put(t testing.TB, tx int, bodies ...string) {
	t.Helper()
	for len(bodies) > 0 {
		k := min(tx, len(bodies))
		batch := make([]event.Event, k)
		for i, b := range bodies[:k] {
			batch[i] = event.Event{Body: []byte(b)}
		}
		if err := r.ch.Put(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		bodies = bodies[k:]
	}
}

// drainAll calls Process until it backs off on an empty channel, failing
// on any error or if that takes more than limit calls.
func drainAll(t testing.TB, s component.Sink, ch *channel.Memory) {
	t.Helper()
	for i := 0; i < 100000; i++ {
		st, err := s.Process(context.Background())
		if err != nil {
			t.Fatalf("Process: %v", err)
		}
		if st == component.Backoff && ch.Len() == 0 {
			return
		}
	}
	t.Fatalf("channel not drained: %d events left", ch.Len())
}

func counts(t testing.TB, name string, got, want uint64) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %d, want %d", name, got, want)
	}
}

// TestLifecycle is the lifecycle every sink must pass: built from its
// factory's defaults, Stop is safe without Start and twice, Start-Stop
// works repeatedly, and an empty channel gives Backoff.
func TestLifecycle(t *testing.T) {
	facts := []struct {
		f       component.SinkFactory
		alias   string
		prepare func(t *testing.T, cfg component.Config)
	}{
		{NullFactory(), "org.apache.flume.sink.NullSink", nil},
		{LoggerFactory(), "org.apache.flume.sink.LoggerSink", nil},
		{RollFactory(), "org.apache.flume.sink.RollingFileSink", func(t *testing.T, cfg component.Config) {
			cfg.(*RollConfig).Directory = t.TempDir()
		}},
		{ParquetFactory(), "parquet", func(t *testing.T, cfg component.Config) {
			cfg.(*ParquetConfig).Path = t.TempDir()
		}},
	}
	all := make([]component.SinkFactory, len(facts))
	for i, f := range facts {
		all[i] = f.f
	}
	catalog := component.NewFactories(nil, nil, all)
	for _, tc := range facts {
		t.Run(tc.f.Type, func(t *testing.T) {
			if got := catalog.Sinks[tc.alias].Type; got != tc.f.Type {
				t.Errorf("alias %s resolves to %q", tc.alias, got)
			}
			cfg := tc.f.NewConfig()
			if bs, ok := cfg.(component.BatchSizer); !ok || bs.BatchSize() != 100 {
				t.Errorf("default config %T is not a BatchSizer of 100", cfg)
			}
			if tc.prepare != nil {
				tc.prepare(t, cfg)
			}
			if v, ok := cfg.(component.Validator); ok {
				if err := v.Validate(); err != nil {
					t.Fatalf("default config: %v", err)
				}
			}
			r := newRig(t, tc.f.Type, 100, 100)
			s, err := tc.f.Create(r.set, cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for i := 0; i < 2; i++ {
				if err := s.Stop(ctx); err != nil {
					t.Fatalf("Stop without Start #%d: %v", i+1, err)
				}
			}
			for round := 0; round < 2; round++ {
				if err := s.Start(ctx, component.HostFunc(func(err error) { t.Errorf("ReportFatal: %v", err) })); err != nil {
					t.Fatalf("Start: %v", err)
				}
				st, err := s.Process(ctx)
				if err != nil || st != component.Backoff {
					t.Fatalf("Process on empty channel = %v, %v; want BACKOFF, nil", st, err)
				}
				r.put(t, 100, bodies(3)...)
				if st, err := s.Process(ctx); err != nil || st != component.Ready {
					t.Fatalf("Process = %v, %v; want READY, nil", st, err)
				}
				for i := 0; i < 2; i++ {
					if err := s.Stop(ctx); err != nil {
						t.Fatalf("Stop #%d: %v", i+1, err)
					}
				}
			}
			counts(t, "EventDrainSuccess", r.counter().EventDrainSuccess.Get(), 6)
			counts(t, "BatchEmpty", r.counter().BatchEmpty.Get(), 2)
		})
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	r := newRig(t, "null", 100, 100)
	noChannel := r.set
	noChannel.Channel = nil
	if _, err := NewNull(noChannel, *NewNullConfig()); err == nil {
		t.Error("NewNull without channel: no error")
	}
	noCounter := r.set
	noCounter.Counter = nil
	if _, err := NewLogger(noCounter, *NewLoggerConfig()); err == nil {
		t.Error("NewLogger without counter: no error")
	}
	if _, err := NewRoll(r.set, *NewRollConfig()); err == nil {
		t.Error("NewRoll without directory: no error")
	}
}

// failingChannel fails every Take.
type failingChannel struct{ component.Channel }

func (failingChannel) Take(context.Context, int) (component.Take, error) {
	return nil, errors.New("disk on fire")
}

func TestTakeFailureIsCounted(t *testing.T) {
	r := newRig(t, "null", 100, 100)
	r.set.Channel = failingChannel{r.ch}
	s, err := NewNull(r.set, *NewNullConfig())
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Process(context.Background())
	if err == nil || st != component.Backoff {
		t.Fatalf("Process = %v, %v; want BACKOFF and an error", st, err)
	}
	counts(t, "ChannelReadFail", r.counter().ChannelReadFail.Get(), 1)
}
