package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// flowState is shared by the test factories: what the generator accepted
// and what the sink delivered, by event id.
type flowState struct {
	mu        sync.Mutex
	accepted  map[int]int
	delivered map[int]int
	next      atomic.Int64
	starts    atomic.Int64 // generator Start calls
	failStart atomic.Int64 // remaining Start calls that fail
	fatalOnce atomic.Bool  // report a fatal error after the first Start
	order     []string     // lifecycle events, "start gen", "stop out", ...
}

func newFlowState() *flowState {
	return &flowState{accepted: map[int]int{}, delivered: map[int]int{}}
}

func (s *flowState) log(ev string) {
	s.mu.Lock()
	s.order = append(s.order, ev)
	s.mu.Unlock()
}

type genConfig struct {
	Batch int `prop:"batchSize"`
	Total int `prop:"total"`
}

func (c *genConfig) BatchSize() int { return c.Batch }

// gen is a pollable source that numbers its events.
type gen struct {
	cfg   genConfig
	set   component.SourceSettings
	st    *flowState
	batch []event.Event
}

func (g *gen) Start(ctx context.Context, host component.Host) error {
	g.st.starts.Add(1)
	g.st.log("start " + g.set.Name)
	if g.st.failStart.Load() > 0 {
		g.st.failStart.Add(-1)
		return errors.New("port busy")
	}
	if g.st.fatalOnce.CompareAndSwap(true, false) {
		go host.ReportFatal(errors.New("listener died"))
	}
	return nil
}

func (g *gen) Stop(context.Context) error { g.st.log("stop " + g.set.Name); return nil }

func (g *gen) Process(ctx context.Context) (component.Status, error) {
	if g.cfg.Total > 0 && int(g.st.next.Load()) >= g.cfg.Total {
		return component.Backoff, nil
	}
	g.batch = g.batch[:0]
	first := int(g.st.next.Add(int64(g.cfg.Batch))) - g.cfg.Batch
	for i := 0; i < g.cfg.Batch; i++ {
		g.batch = append(g.batch, event.Event{Body: []byte(strconv.Itoa(first + i))})
	}
	if err := g.set.Processor.Process(ctx, g.batch); err != nil {
		return component.Backoff, err
	}
	g.st.mu.Lock()
	for i := 0; i < g.cfg.Batch; i++ {
		g.st.accepted[first+i]++
	}
	g.st.mu.Unlock()
	return component.Ready, nil
}

type collectConfig struct {
	Batch int `prop:"batchSize"`
}

func (c *collectConfig) BatchSize() int { return c.Batch }

// collect is a sink that records every event it commits.
type collect struct {
	cfg collectConfig
	set component.SinkSettings
	st  *flowState
}

func (c *collect) Start(context.Context, component.Host) error {
	c.st.log("start " + c.set.Name)
	return nil
}
func (c *collect) Stop(context.Context) error { c.st.log("stop " + c.set.Name); return nil }

func (c *collect) Process(ctx context.Context) (component.Status, error) {
	tx, err := c.set.Channel.Take(ctx, c.cfg.Batch)
	if err != nil {
		return component.Backoff, err
	}
	evs := tx.Events()
	if len(evs) == 0 {
		return component.Backoff, tx.Commit()
	}
	c.st.mu.Lock()
	for _, e := range evs {
		id, _ := strconv.Atoi(string(e.Body))
		c.st.delivered[id]++
	}
	c.st.mu.Unlock()
	return component.Ready, tx.Commit()
}

func testFactories(st *flowState) component.Factories {
	return component.NewFactories(
		[]component.SourceFactory{{
			Type:      "gen",
			NewConfig: func() component.Config { return &genConfig{Batch: 10} },
			Create: func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
				return &gen{cfg: *cfg.(*genConfig), set: set, st: st}, nil
			},
		}},
		[]component.ChannelFactory{channel.MemoryFactory()},
		[]component.SinkFactory{{
			Type:      "collect",
			NewConfig: func() component.Config { return &collectConfig{Batch: 10} },
			Create: func(set component.SinkSettings, cfg component.Config) (component.Sink, error) {
				return &collect{cfg: *cfg.(*collectConfig), set: set, st: st}, nil
			},
		}},
	)
}

func loadConf(t *testing.T, f component.Factories, text string) *config.Agent {
	t.Helper()
	props, err := config.Parse(strings.NewReader(text), "test.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(props, "test.conf", "a1", f, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const flowConf = `
a1.sources = gen
a1.channels = c1
a1.sinks = out
a1.sources.gen.type = gen
a1.sources.gen.batchSize = %d
a1.sources.gen.total = %d
a1.sources.gen.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = %d
a1.channels.c1.transactionCapacity = 100
a1.sinks.out.type = collect
a1.sinks.out.channel = c1
a1.sinks.out.batchSize = %d
`

func fastOptions() Options {
	return Options{
		SourceBackoff: Backoff{Increment: time.Millisecond, Max: 5 * time.Millisecond},
		SinkBackoff:   Backoff{Increment: time.Millisecond, Max: 5 * time.Millisecond},
		Restart:       Backoff{Increment: time.Millisecond, Max: 10 * time.Millisecond},
		DrainTimeout:  5 * time.Second,
	}
}

// await polls cond until it holds or the deadline passes.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *flowState) deliveredCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.delivered)
}

// checkExactlyOnce asserts every accepted event was delivered exactly once
// and nothing else was delivered.
func (s *flowState) checkExactlyOnce(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.accepted) == 0 {
		t.Fatal("no events were accepted")
	}
	for id, n := range s.accepted {
		if n != 1 {
			t.Fatalf("event %d accepted %d times", id, n)
		}
		if d := s.delivered[id]; d != 1 {
			t.Fatalf("event %d accepted but delivered %d times", id, d)
		}
	}
	if len(s.delivered) != len(s.accepted) {
		t.Fatalf("delivered %d distinct events, accepted %d", len(s.delivered), len(s.accepted))
	}
}

func TestStopWithoutStartAndTwice(t *testing.T) {
	a := New("a1", testFactories(newFlowState()), fastOptions())
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(context.Background(), nil); !errors.Is(err, component.ErrStopped) {
		t.Fatalf("Apply after Stop: got %v, want ErrStopped", err)
	}
}

func TestFlowDeliversEverythingAndStopsInOrder(t *testing.T) {
	st := newFlowState()
	f := testFactories(st)
	a := New("a1", f, fastOptions())
	if err := a.Apply(context.Background(), loadConf(t, f, fmt.Sprintf(flowConf, 50, 20000, 1000, 100))); err != nil {
		t.Fatal(err)
	}
	await(t, "all events delivered", func() bool { return st.deliveredCount() == 20000 })
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.checkExactlyOnce(t)
	// Intake stops first, sinks after.
	st.mu.Lock()
	order := strings.Join(st.order, ",")
	st.mu.Unlock()
	if !strings.HasSuffix(order, "stop gen,stop out") {
		t.Fatalf("stop order: %s", order)
	}
	var put, take float64
	for _, s := range a.Registry().Samples() {
		switch s.Metric {
		case "EventPutSuccessCount":
			put = s.Value
		case "EventTakeSuccessCount":
			take = s.Value
		}
	}
	if put != 20000 || take != 20000 {
		t.Fatalf("channel counters: put %v take %v, want 20000 each", put, take)
	}
}

func TestShutdownDrainsChannel(t *testing.T) {
	st := newFlowState()
	f := testFactories(st)
	// A generator that fills the channel faster than one sink batch drains.
	a := New("a1", f, fastOptions())
	if err := a.Apply(context.Background(), loadConf(t, f, fmt.Sprintf(flowConf, 100, 0, 10000, 10))); err != nil {
		t.Fatal(err)
	}
	await(t, "some events queued", func() bool { return a.Channel("c1").(*channel.Memory).Len() > 1000 })
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.checkExactlyOnce(t)
}

func TestSupervisorRestartsFailedSource(t *testing.T) {
	st := newFlowState()
	st.failStart.Store(2) // two failed starts, then one that reports fatal
	st.fatalOnce.Store(true)
	f := testFactories(st)
	a := New("a1", f, fastOptions())
	if err := a.Apply(context.Background(), loadConf(t, f, fmt.Sprintf(flowConf, 10, 1000, 1000, 100))); err != nil {
		t.Fatal(err)
	}
	// 2 failed starts + 1 start that reported fatal + 1 good start.
	await(t, "fourth start", func() bool { return st.starts.Load() == 4 })
	await(t, "events after restarts", func() bool { return st.deliveredCount() == 1000 })
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := st.starts.Load(); n != 4 {
		t.Fatalf("source started %d times, want 4", n)
	}
	st.checkExactlyOnce(t)
}

func TestReloadLosesNothing(t *testing.T) {
	st := newFlowState()
	f := testFactories(st)
	a := New("a1", f, fastOptions())
	ctx := context.Background()
	// Unbounded generator; each step changes something while events flow.
	steps := []string{
		fmt.Sprintf(flowConf, 50, 0, 5000, 20),
		fmt.Sprintf(flowConf, 50, 0, 5000, 100), // sink changed, channel kept
		fmt.Sprintf(flowConf, 50, 0, 8000, 100), // channel replaced: events move
		fmt.Sprintf(flowConf, 20, 0, 8000, 100), // source changed
	}
	for i, conf := range steps {
		if err := a.Apply(ctx, loadConf(t, f, conf)); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		target := st.deliveredCount() + 2000
		await(t, fmt.Sprintf("flow after step %d", i), func() bool { return st.deliveredCount() >= target })
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	st.checkExactlyOnce(t)
}

func TestReloadWithBadConfigKeepsRunning(t *testing.T) {
	st := newFlowState()
	f := testFactories(st)
	a := New("a1", f, fastOptions())
	ctx := context.Background()
	if err := a.Apply(ctx, loadConf(t, f, fmt.Sprintf(flowConf, 10, 0, 1000, 100))); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := dir + "/bad.conf"
	writeFile(t, path, "a1.sources = r1\na1.sources.r1.type = nosuch\n")
	if err := a.LoadAndApply(ctx, path); err == nil || !strings.Contains(err.Error(), `unknown source type "nosuch"`) {
		t.Fatalf("got %v", err)
	}
	target := st.deliveredCount() + 500
	await(t, "flow still running", func() bool { return st.deliveredCount() >= target })
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	st.checkExactlyOnce(t)
}

// durableMemory stands in for a durable channel: a memory channel that
// says its events survive a restart.
type durableMemory struct{ *channel.Memory }

func (durableMemory) Durable() bool { return true }

// Stop does not wait for sinks to drain a durable channel: its events are
// kept for the next start, and a stalled sink must not hold shutdown up.
func TestStopDoesNotDrainDurableChannels(t *testing.T) {
	st := newFlowState()
	f := testFactories(st)
	mem := channel.MemoryFactory()
	f.Channels["durable"] = component.ChannelFactory{
		Type:      "durable",
		NewConfig: mem.NewConfig,
		Create: func(set component.ChannelSettings, cfg component.Config) (component.Channel, error) {
			return durableMemory{channel.NewMemory(*cfg.(*channel.MemoryConfig), set.Counter)}, nil
		},
	}
	f.Sinks["stuck"] = component.SinkFactory{
		Type:      "stuck",
		NewConfig: func() component.Config { return &collectConfig{Batch: 10} },
		Create: func(component.SinkSettings, component.Config) (component.Sink, error) {
			return stuckSink{}, nil
		},
	}
	opts := fastOptions()
	opts.DrainTimeout = 20 * time.Second
	a := New("a1", f, opts)
	conf := strings.NewReplacer("type = memory", "type = durable", "type = collect", "type = stuck").
		Replace(fmt.Sprintf(flowConf, 10, 100, 1000, 10))
	if err := a.Apply(context.Background(), loadConf(t, f, conf)); err != nil {
		t.Fatal(err)
	}
	await(t, "events queued", func() bool { return a.Channel("c1").(durableMemory).Len() == 100 })
	start := time.Now()
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Stop waited %v for a durable channel to drain", d)
	}
}

type stuckSink struct{}

func (stuckSink) Start(context.Context, component.Host) error { return nil }
func (stuckSink) Stop(context.Context) error                  { return nil }
func (stuckSink) Process(context.Context) (component.Status, error) {
	return component.Backoff, nil
}

// A reload that shrinks a memory channel below its backlog (capacity and
// transactionCapacity) loses nothing: the backlog moves into the smaller
// channel while its new sink drains it.
func TestReloadShrinkingChannelWithBacklogLosesNothing(t *testing.T) {
	st := newFlowState()
	f := testFactories(st)
	a := New("a1", f, fastOptions())
	ctx := context.Background()
	if err := a.Apply(ctx, loadConf(t, f, fmt.Sprintf(flowConf, 100, 0, 20000, 10))); err != nil {
		t.Fatal(err)
	}
	await(t, "a backlog", func() bool { return a.Channel("c1").(*channel.Memory).Len() > 3000 })
	small := strings.Replace(fmt.Sprintf(flowConf, 10, 0, 500, 10), "transactionCapacity = 100", "transactionCapacity = 10", 1)
	if err := a.Apply(ctx, loadConf(t, f, small)); err != nil {
		t.Fatal(err)
	}
	if c := a.Channel("c1").(*channel.Memory).Capacity(); c != 500 {
		t.Fatalf("channel capacity %d after reload, want 500", c)
	}
	target := st.deliveredCount() + 500
	await(t, "flow after the reload", func() bool { return st.deliveredCount() >= target })
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	st.checkExactlyOnce(t)
}
