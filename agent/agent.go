package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/monitor"
)

// Options tune an agent; the zero value gives Flume's defaults.
type Options struct {
	Logger *slog.Logger
	// SourceBackoff and SinkBackoff are the runners' waits (Flume: 1 s
	// growing to 5 s). A sink runner also wakes when its channel gets events.
	SourceBackoff Backoff
	SinkBackoff   Backoff
	// Restart is the supervisor's wait before restarting a failed component.
	Restart Backoff
	// DrainTimeout bounds how long a reload or shutdown waits for sinks to
	// empty channels that are going away (default 10 s).
	DrainTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SourceBackoff == (Backoff{}) {
		o.SourceBackoff = Backoff{Increment: time.Second, Max: 5 * time.Second}
	}
	if o.SinkBackoff == (Backoff{}) {
		o.SinkBackoff = Backoff{Increment: time.Second, Max: 5 * time.Second}
	}
	if o.Restart == (Backoff{}) {
		o.Restart = Backoff{Increment: time.Second, Max: 30 * time.Second}
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 10 * time.Second
	}
}

// Agent is one running Flume agent.
type Agent struct {
	name string
	f    component.Factories
	opts Options
	reg  *monitor.Registry
	log  *slog.Logger

	mu       sync.Mutex // serialises Apply and Stop; protects the fields below
	cfg      *config.Agent
	channels map[string]*channelUnit
	sources  []*unit
	sinks    []*unit
	stopped  bool

	fileMu   sync.Mutex // protects fileText
	fileText []byte     // the configuration file content last applied or tried
}

type channelUnit struct {
	unit
	spec *config.ChannelSpec
	ch   component.Channel
}

// New returns an agent that builds components from f. It runs nothing
// until Apply.
func New(name string, f component.Factories, opts Options) *Agent {
	opts.setDefaults()
	return &Agent{
		name:     name,
		f:        f,
		opts:     opts,
		reg:      monitor.NewRegistry(name),
		log:      opts.Logger.With("agent", name),
		channels: map[string]*channelUnit{},
	}
}

// Name is the agent's name.
func (a *Agent) Name() string { return a.name }

// Registry holds the agent's counters.
func (a *Agent) Registry() *monitor.Registry { return a.reg }

// Channel returns the running channel of that name, or nil.
func (a *Agent) Channel(name string) component.Channel {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.channels[name]; ok {
		return c.ch
	}
	return nil
}

func (a *Agent) settings(name, typ, kind string) component.Settings {
	return component.Settings{Agent: a.name, Name: name, Type: typ, Logger: a.log.With(kind, name)}
}

// plan is a new configuration built but not yet started.
type plan struct {
	channels map[string]*channelUnit // every channel of the new config
	fresh    []*channelUnit          // the ones newly created
	sources  []*unit
	sinks    []*unit
}

// build creates the components of cfg. Channels whose spec did not change
// are reused, so their events carry over.
func (a *Agent) build(cfg *config.Agent) (*plan, error) {
	p := &plan{channels: map[string]*channelUnit{}}
	var errs []error
	for _, cs := range cfg.Channels {
		if old, ok := a.channels[cs.Name]; ok && old.spec.Same(&cs.Spec) {
			p.channels[cs.Name] = old
			continue
		}
		set := component.ChannelSettings{Settings: a.settings(cs.Name, cs.Type, "channel"), Counter: a.reg.Channel(cs.Name, cs.Type)}
		ch, err := cs.Factory.Create(set, cs.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: create channel: %w", cs.Prefix, err))
			continue
		}
		cu := &channelUnit{spec: cs, ch: ch}
		cu.unit = unit{kind: "channel", name: cs.Name, comp: ch, log: set.Logger, restart: a.opts.Restart}
		p.channels[cs.Name] = cu
		p.fresh = append(p.fresh, cu)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, ss := range cfg.Sources {
		chans := map[string]component.Channel{}
		for _, c := range ss.Channels {
			chans[c] = p.channels[c].ch
		}
		settings := a.settings(ss.Name, ss.Type, "source")
		var icpts []component.Interceptor
		for _, is := range ss.Interceptors {
			ic, err := is.Factory.Create(component.Settings{Agent: a.name, Name: is.Name, Type: is.Type, Logger: settings.Logger.With("interceptor", is.Name)}, is.Config)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: create interceptor: %w", is.Prefix, err))
				continue
			}
			icpts = append(icpts, ic)
		}
		log := settings.Logger
		proc := newChannelProcessor(ss, chans, icpts, func(ch string, err error) {
			log.Warn("put into optional channel failed", "channel", ch, "err", err)
		})
		set := component.SourceSettings{Settings: settings, Counter: a.reg.Source(ss.Name, ss.Type), Processor: proc}
		src, err := ss.Factory.Create(set, ss.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: create source: %w", ss.Prefix, err))
			continue
		}
		u := &unit{kind: "source", name: ss.Name, comp: src, log: set.Logger, restart: a.opts.Restart}
		if poller, ok := src.(component.Poller); ok {
			u.run = &runner{p: poller, backoff: a.opts.SourceBackoff, log: set.Logger}
		}
		p.sources = append(p.sources, u)
	}
	grouped := map[string]*config.SinkGroupSpec{}
	for _, g := range cfg.SinkGroups {
		for _, k := range g.Sinks {
			grouped[k] = g
		}
	}
	built := map[string]component.Sink{}
	chanOf := map[string]component.Channel{}
	for _, ks := range cfg.Sinks {
		ch := p.channels[ks.Channel].ch
		set := component.SinkSettings{Settings: a.settings(ks.Name, ks.Type, "sink"), Counter: a.reg.Sink(ks.Name, ks.Type), Channel: ch}
		sk, err := ks.Factory.Create(set, ks.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: create sink: %w", ks.Prefix, err))
			continue
		}
		built[ks.Name], chanOf[ks.Name] = sk, ch
		if _, ok := grouped[ks.Name]; ok {
			continue
		}
		u := &unit{kind: "sink", name: ks.Name, comp: sk, log: set.Logger, restart: a.opts.Restart}
		u.run = &runner{p: sk, wake: ch.Notify, backoff: a.opts.SinkBackoff, log: set.Logger}
		p.sinks = append(p.sinks, u)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, g := range cfg.SinkGroups {
		log := a.log.With("sinkgroup", g.Name)
		var members []*groupSink
		var wake func() <-chan struct{}
		for i, k := range g.Sinks {
			members = append(members, &groupSink{name: k, sink: built[k]})
			// One runner drives the group; it can wait on the channel
			// only when every sink of the group shares it.
			if i == 0 {
				wake = chanOf[k].Notify
			} else if chanOf[k] != chanOf[g.Sinks[0]] {
				wake = nil
			}
		}
		sg := newSinkGroup(g.Processor, members, log)
		u := &unit{kind: "sinkgroup", name: g.Name, comp: sg, log: log, restart: a.opts.Restart}
		u.run = &runner{p: sg, wake: wake, backoff: a.opts.SinkBackoff, log: log}
		p.sinks = append(p.sinks, u)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Apply starts the agent on cfg, or moves a running agent to cfg. On a
// change, sources stop first; channels that are unchanged keep their
// events; a channel that is replaced has its remaining events moved into
// its successor; a removed channel is drained by its old sinks first.
// If the new components cannot be built, the old ones keep running.
func (a *Agent) Apply(ctx context.Context, cfg *config.Agent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return component.ErrStopped
	}
	p, err := a.build(cfg)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		a.log.Warn(w)
	}
	var moves []*channelUnit // replaced channels whose events go to their successor
	if a.cfg != nil {
		var err error
		if moves, err = a.retire(ctx, p); err != nil {
			a.log.Error("reload", "err", err)
		}
	}
	for _, c := range p.fresh {
		c.supervise(context.WithoutCancel(ctx))
	}
	for _, c := range p.fresh {
		// Sources should not put into a channel that has not started; a
		// channel that keeps failing to start is retried by its supervisor
		// while the rest of the flow comes up.
		if !c.waitReady(ctx, 5*time.Second) {
			a.log.Warn("channel not started yet; starting the flow anyway", "channel", c.name)
		}
	}
	for _, u := range p.sinks {
		u.supervise(context.WithoutCancel(ctx))
	}
	// A replaced channel's events move into its successor while the new
	// sinks drain it, so a smaller successor takes them all, and before the
	// sources start, so they stay ahead of new events.
	for _, old := range moves {
		next := p.channels[old.name]
		n, err := moveAll(ctx, old.ch, next.ch)
		if err != nil {
			a.log.Error("reload: events left in the replaced channel", "channel", old.name, "moved", n, "left", queued(old.ch), "err", err)
		} else if n > 0 {
			a.log.Info("moved events into reconfigured channel", "channel", old.name, "events", n)
		}
		if err := old.stop(ctx); err != nil {
			a.log.Error("reload", "err", err)
		}
	}
	for _, u := range p.sources {
		u.supervise(context.WithoutCancel(ctx))
	}
	// Return once the flow is up, so a caller can use the servers at once;
	// a component that cannot start yet is retried in the background.
	for _, u := range append(p.sinks, p.sources...) {
		if !u.waitReady(ctx, 5*time.Second) {
			a.log.Warn("component not started yet; its supervisor keeps retrying", u.kind, u.name)
		}
	}
	a.cfg, a.channels, a.sources, a.sinks = cfg, p.channels, p.sources, p.sinks
	return nil
}

// retire stops the running components in favour of plan p. It returns the
// replaced channels whose events Apply moves into their successors once
// the new sinks run; those are not stopped yet.
func (a *Agent) retire(ctx context.Context, p *plan) ([]*channelUnit, error) {
	var moves []*channelUnit
	var errs []error
	if err := stopAll(ctx, a.sources); err != nil {
		errs = append(errs, err)
	}
	// Let the old sinks drain channels that will not survive.
	var leaving []*channelUnit
	for name, c := range a.channels {
		if p.channels[name] != c {
			leaving = append(leaving, c)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, a.opts.DrainTimeout)
	for _, c := range leaving {
		if _, replaced := p.channels[c.name]; !replaced {
			waitEmpty(dctx, c.ch)
		}
	}
	cancel()
	if err := stopAll(ctx, a.sinks); err != nil {
		errs = append(errs, err)
	}
	for _, c := range leaving {
		if next, ok := p.channels[c.name]; ok {
			if !sharesStorage(next.ch, c.ch) {
				moves = append(moves, c)
				continue
			}
			a.log.Info("reconfigured channel recovers its events from its own storage", "channel", c.name, "events", queued(c.ch))
		} else if n := queued(c.ch); n > 0 {
			errs = append(errs, fmt.Errorf("channel %s removed with %d events not drained", c.name, n))
		}
		if err := c.stop(ctx); err != nil {
			errs = append(errs, err)
		}
		if _, ok := p.channels[c.name]; !ok {
			a.reg.Remove(monitor.KindChannel, c.name)
		}
	}
	return moves, errors.Join(errs...)
}

// storageSharer is implemented by durable channels (the file channel): a
// replacement on the same storage recovers the old channel's events when it
// starts, so a reload must not move them (it could not: the old channel
// holds the storage until it stops).
type storageSharer interface {
	SharesStorage(other component.Channel) bool
}

func sharesStorage(next, old component.Channel) bool {
	s, ok := next.(storageSharer)
	return ok && s.SharesStorage(old)
}

// durable is implemented by channels whose events survive a restart.
type durable interface{ Durable() bool }

func isDurable(ch component.Channel) bool {
	d, ok := ch.(durable)
	return ok && d.Durable()
}

// lener is implemented by channels that know how many events they hold.
type lener interface{ Len() int }

func queued(ch component.Channel) int {
	if l, ok := ch.(lener); ok {
		return l.Len()
	}
	return -1
}

// waitEmpty waits until ch holds no events or ctx ends.
func waitEmpty(ctx context.Context, ch component.Channel) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for queued(ch) > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// transfer moves every event of from into to, a batch at a time, each
// batch committed in to before it is committed out of from.
func transfer(ctx context.Context, from, to component.Channel) (int, error) {
	moved, chunk := 0, 100
	for {
		tx, err := from.Take(ctx, chunk)
		if err != nil {
			return moved, err
		}
		evs := tx.Events()
		if len(evs) == 0 {
			return moved, tx.Commit()
		}
		if err := to.Put(ctx, evs); err != nil {
			_ = tx.Rollback()
			if errors.Is(err, component.ErrTooLarge) && chunk > 1 {
				chunk /= 2 // the successor's transactionCapacity is smaller
				continue
			}
			return moved, err
		}
		if err := tx.Commit(); err != nil {
			return moved, err
		}
		moved += len(evs)
	}
}

// moveAll transfers every event of from into to, waiting while to is full
// (its sinks are draining it) until ctx ends.
func moveAll(ctx context.Context, from, to component.Channel) (int, error) {
	total := 0
	for {
		n, err := transfer(ctx, from, to)
		total += n
		if err == nil || !errors.Is(err, component.ErrChannelFull) {
			return total, err
		}
		if !sleepCtx(ctx, 10*time.Millisecond) {
			return total, ctx.Err()
		}
	}
}

// Stop shuts the agent down: sources first, then it waits (until ctx's
// deadline or DrainTimeout) for sinks to empty the channels, then stops the
// sinks and the channels. Events still in a memory channel are reported.
// Stop is safe to call twice and without Apply.
func (a *Agent) Stop(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return nil
	}
	a.stopped = true
	var errs []error
	if err := stopAll(ctx, a.sources); err != nil {
		errs = append(errs, err)
	}
	// Durable channels keep their events across a restart: only volatile
	// ones are worth draining before the sinks stop.
	dctx, cancel := context.WithTimeout(ctx, a.opts.DrainTimeout)
	for _, c := range a.channels {
		if !isDurable(c.ch) {
			waitEmpty(dctx, c.ch)
		}
	}
	cancel()
	if err := stopAll(ctx, a.sinks); err != nil {
		errs = append(errs, err)
	}
	for _, c := range a.channels {
		if n := queued(c.ch); n > 0 && !isDurable(c.ch) {
			a.log.Warn("channel stopped with events in it; they are lost", "channel", c.name, "events", n)
		}
		if err := c.stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
