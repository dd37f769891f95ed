package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Injection is a fault in force on a flow. Revert takes it out and files
// its truth record.
type Injection struct {
	Spec  Spec
	flow  *Flow
	truth Truth
	undo  func(ctx context.Context) (string, error)

	mu       sync.Mutex // protects reverted
	reverted bool
}

// Truth is the injection's ground truth so far (End is zero until it is
// reverted).
func (in *Injection) Truth() Truth {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.truth
}

// Revert takes the fault out (at once) and records its truth. Safe twice.
func (in *Injection) Revert(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.reverted {
		return nil
	}
	in.reverted = true
	effect, err := in.undo(ctx)
	in.truth.End = time.Now()
	if effect != "" {
		in.truth.Effect += "; " + effect
	}
	if lt, ok := in.flow.logTime(in.truth.End); ok {
		in.truth.LogEnd = &lt
	}
	f := in.flow
	f.mu.Lock()
	f.truths = append(f.truths, in.truth)
	if i := slices.Index(f.active, in); i >= 0 {
		f.active = slices.Delete(f.active, i, i+1)
	}
	f.mu.Unlock()
	f.log.Info("fault reverted", "fault", in.Spec.String(), "err", err)
	if err != nil {
		return fmt.Errorf("revert %s: %w", in.Spec, err)
	}
	return nil
}

// RevertAll reverts every fault in force.
func (f *Flow) RevertAll(ctx context.Context) error {
	f.mu.Lock()
	active := slices.Clone(f.active)
	f.mu.Unlock()
	var errs []error
	for _, in := range active {
		errs = append(errs, in.Revert(ctx))
	}
	return errors.Join(errs...)
}

// Truth returns the truth records of the faults reverted so far (after
// Stop: of every fault, generated ones included), in order of start.
func (f *Flow) Truth() []Truth {
	f.mu.Lock()
	out := slices.Clone(f.truths)
	f.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// logTime maps a wall time to the replayed log time, when the replay has
// begun and runs at a known speed.
func (f *Flow) logTime(wall time.Time) (time.Time, bool) {
	if f.router == nil {
		return time.Time{}, false
	}
	ws, ls, ok := f.router.clock()
	f.mu.Lock()
	speed := f.speed
	f.mu.Unlock()
	if !ok || speed <= 0 {
		return time.Time{}, false
	}
	return ls.Add(time.Duration(float64(wall.Sub(ws)) * speed)), true
}

// target is a resolved fault target.
type target struct {
	host  string
	comp  string      // component named after the slash, if any
	links [][2]string // network faults: (tier-1, collector) pairs
}

// resolve checks a spec's target against the flow.
func (f *Flow) resolve(s Spec) (target, error) {
	t := s.Target
	bad := func(format string, args ...any) (target, error) {
		return target{}, fmt.Errorf("fault %s: target %q: %s (hosts: %s)", s.Kind, t, fmt.Sprintf(format, args...), strings.Join(slices.Concat(f.lay.tier1, f.lay.cols), " "))
	}
	if s.Kind == NetDelay || s.Kind == NetLoss {
		a, b, isLink := strings.Cut(t, ">")
		var links [][2]string
		for _, w := range f.lay.tier1 {
			for _, c := range f.lay.cols {
				switch {
				case isLink && (a == "" || a == w) && (b == "" || b == c):
				case !isLink && (t == w || t == c):
				default:
					continue
				}
				links = append(links, [2]string{w, c})
			}
		}
		if len(links) == 0 {
			return bad("no link matches; want TIER1>COLLECTOR, a tier-1 host or a collector")
		}
		host := a
		if !isLink {
			host = t
		}
		if host == "" {
			host = b
		}
		return target{host: host, links: links}, nil
	}
	if s.Kind.Generated() {
		if t != "*" && !f.lay.isTier1(t) {
			return bad("not a tier-1 (web) host")
		}
		return target{host: t}, nil
	}
	host, comp, _ := strings.Cut(t, "/")
	p := f.procs[host]
	if p == nil {
		return bad("no such host")
	}
	want := map[Kind]string{SlowSink: SinkName, TinyChannel: ChannelName, DiskFull: ChannelName}[s.Kind]
	switch {
	case comp != "" && want == "":
		return bad("%s acts on a whole host; give the host only", s.Kind)
	case comp != "" && comp != want:
		return bad("%s's %s is %q", host, map[string]string{SinkName: "sink", ChannelName: "channel"}[want], want)
	}
	if comp == "" {
		comp = want
	}
	switch s.Kind {
	case DiskFull:
		if p.diskDir == "" {
			return bad("its file channel is not on a disk of its own: list the fault when the flow starts (FlowConfig.Prepare; vscope replay does) and run as root, so a tmpfs can be mounted")
		}
	case CollectorCrash:
		if !p.fileChannel {
			return bad("its channel is a memory channel, whose events die with the process; use a file channel (--channel file)")
		}
	}
	return target{host: host, comp: comp}, nil
}

// Inject puts the fault in force now. Generated faults (flash_crowd,
// error_storm) live in the logs, not in the flow: give them to the
// generator and to Schedule.
func (f *Flow) Inject(ctx context.Context, s Spec) (*Injection, error) {
	if s.Kind.Generated() {
		return nil, fmt.Errorf("fault %s is generated into the logs: give it to the generator and to Schedule", s.Kind)
	}
	f.mu.Lock()
	stopped := f.stopped
	f.mu.Unlock()
	if stopped {
		return nil, errors.New("flow stopped")
	}
	t, err := f.resolve(s)
	if err != nil {
		return nil, err
	}
	p := f.procs[t.host]
	ag := f.lay.agentOf(t.host)
	in := &Injection{Spec: s, flow: f}
	params := map[string]string{}
	var effect string
	var cause ref
	var also []string
	// up: who sends to the target (the tier-1 agents, for a collector);
	// peers: the other collectors.
	var up, peers []string
	if f.lay.isCollector(t.host) {
		up = slices.Clone(f.lay.tier1)
	}
	for _, c := range f.lay.cols {
		if c != t.host {
			peers = append(peers, c)
		}
	}
	switch s.Kind {
	case SlowSink:
		d := s.Duration("delay", 200*time.Millisecond)
		params["delay"] = d.String()
		if err := f.control(ctx, t.host, "/fault/delay", map[string]string{"sink": t.comp, "delay": d.String()}); err != nil {
			return nil, err
		}
		cause = ref{t.host, ag, t.comp, kSink}
		effect = fmt.Sprintf("sink %s holds every batch %v before its commit", cause.endpoint(), d)
		in.undo = func(ctx context.Context) (string, error) {
			return "", f.control(ctx, t.host, "/fault/delay", map[string]string{"sink": t.comp, "delay": "0s"})
		}

	case CPUInterference:
		threads := s.Int("threads", 2)
		pin := s.Params["pin"] != "false"
		params["threads"], params["pin"] = strconv.Itoa(threads), strconv.FormatBool(pin)
		eff, undo, err := f.burn(ctx, p, threads, pin)
		if err != nil {
			return nil, err
		}
		cause = ref{t.host, "", "cpu", kHost}
		also = []string{p.host + "/" + ag + "/" + SourceName, p.host + "/" + ag + "/" + SinkName, p.host + "/" + ag + "/process"}
		effect, in.undo = eff, undo

	case NetDelay, NetLoss:
		l := Link{
			Delay:  s.Duration("delay", 0),
			Jitter: s.Duration("jitter", 0),
			Loss:   s.Float("loss", 0),
			RTO:    s.Duration("rto", 200*time.Millisecond),
		}
		if s.Kind == NetDelay && s.Params["delay"] == "" {
			l.Delay = 100 * time.Millisecond
		}
		if s.Kind == NetLoss && s.Params["loss"] == "" {
			l.Loss = 0.05
		}
		if bw := s.Bytes("bw", 0); bw > 0 {
			l.Bandwidth = bw
		}
		for k, v := range map[string]string{"delay": l.Delay.String(), "jitter": l.Jitter.String(), "loss": strconv.FormatFloat(l.Loss, 'g', -1, 64), "rto": l.RTO.String(), "bw": strconv.FormatInt(l.Bandwidth, 10)} {
			params[k] = v
		}
		prev := map[[2]string]Link{}
		var names []string
		for _, lk := range t.links {
			px := f.links[lk]
			prev[lk] = px.Link()
			px.Set(l)
			names = append(names, lk[0]+">"+lk[1])
		}
		effect = fmt.Sprintf("links %s: %s each way", strings.Join(names, " "), l)
		in.undo = func(ctx context.Context) (string, error) {
			for lk, old := range prev {
				f.links[lk].Set(old)
			}
			return "", nil
		}
		// The cause: the sending sink when one tier-1 host is behind it,
		// else the receiving collector's source.
		senders, receivers := map[string]bool{}, map[string]bool{}
		for _, lk := range t.links {
			senders[lk[0]], receivers[lk[1]] = true, true
		}
		peers, up = nil, nil
		for c := range receivers {
			peers = append(peers, c)
		}
		for w := range senders {
			up = append(up, w)
		}
		sort.Strings(peers)
		sort.Strings(up)
		if len(senders) == 1 {
			cause = ref{up[0], Tier1Agent, SinkName, kSink}
			for _, c := range peers {
				also = append(also, c+"/"+CollectorAgent+"/"+SourceName)
			}
		} else {
			cause = ref{peers[0], CollectorAgent, SourceName, kSource}
			for _, w := range up {
				also = append(also, w+"/"+Tier1Agent+"/"+SinkName)
			}
		}

	case TinyChannel:
		c := s.Int("capacity", 200)
		params["capacity"] = strconv.Itoa(c)
		if err := f.shrinkChannel(ctx, p, c); err != nil {
			return nil, err
		}
		cause = ref{t.host, ag, t.comp, kChannel}
		effect = fmt.Sprintf("channel %s reloaded with capacity %d", cause.endpoint(), c)
		in.undo = func(ctx context.Context) (string, error) {
			return "", f.reconfigure(ctx, p, confOverrides{})
		}

	case GCStorm:
		rate, live, gogc := s.Bytes("rate", 200e6), s.Bytes("live", 64<<20), s.Int("gogc", 20)
		params["rate"], params["live"], params["gogc"] = strconv.FormatInt(rate, 10), strconv.FormatInt(live, 10), strconv.Itoa(gogc)
		if err := f.control(ctx, t.host, "/fault/gc", map[string]string{"rate": params["rate"], "live": params["live"], "gogc": params["gogc"]}); err != nil {
			return nil, err
		}
		cause = ref{t.host, ag, "go", kRuntime}
		also = []string{t.host + "/" + ag + "/process"}
		effect = fmt.Sprintf("agent process on %s allocates %d MB/s over a %d MB live heap with GOGC=%d", t.host, rate/1e6, live>>20, gogc)
		in.undo = func(ctx context.Context) (string, error) {
			return "", f.control(ctx, t.host, "/fault/gc", map[string]string{"stop": "1"})
		}

	case CollectorCrash:
		p.mu.Lock()
		pid := p.pid
		p.mu.Unlock()
		if err := p.signal(syscall.SIGKILL, 10*time.Second); err != nil {
			return nil, err
		}
		cause = ref{t.host, ag, "process", kProcess}
		also = []string{t.host + "/" + ag + "/" + SourceName, t.host + "/" + ag + "/" + ChannelName, t.host + "/" + ag + "/" + SinkName}
		effect = fmt.Sprintf("%s (pid %d) killed with SIGKILL", t.host, pid)
		in.undo = func(ctx context.Context) (string, error) {
			if err := f.startProc(ctx, p); err != nil {
				return "", err
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			return fmt.Sprintf("restarted as pid %d", p.pid), nil
		}

	case DiskFull:
		free := s.Bytes("free", minSpace/2)
		params["free"] = strconv.FormatInt(free, 10)
		ballast := filepath.Join(p.diskDir, "ballast")
		n, err := fillTo(ballast, free)
		if err != nil {
			_ = os.Remove(ballast)
			return nil, fmt.Errorf("disk_full on %s: %w", t.host, err)
		}
		left, _ := freeBytes(p.diskDir)
		cause = ref{t.host, ag, t.comp, kChannel}
		effect = fmt.Sprintf("a %d MB ballast file leaves %d bytes free under %s's file channel (minimumRequiredSpace %d)", n>>20, left, t.host, minSpace)
		in.undo = func(ctx context.Context) (string, error) {
			return "", os.Remove(ballast)
		}
	default:
		return nil, fmt.Errorf("fault %s: not injectable here", s.Kind)
	}
	in.truth = f.truthFor(s, cause, up, peers)
	in.truth.Also = also
	for k, v := range params {
		in.truth.Params[k] = v
	}
	in.truth.Effect = effect
	in.truth.Start = time.Now()
	if lt, ok := f.logTime(in.truth.Start); ok {
		in.truth.LogStart = &lt
	}
	f.mu.Lock()
	f.active = append(f.active, in)
	f.mu.Unlock()
	f.log.Info("fault injected", "fault", s.String(), "effect", effect)
	return in, nil
}

// truthFor starts the truth record of a fault with its cause.
func (f *Flow) truthFor(s Spec, cause ref, up, peers []string) Truth {
	t := Truth{
		Kind: s.Kind, Spec: s.String(), Host: cause.host, Agent: cause.agent, Component: cause.comp,
		ComponentKind: cause.kind, Endpoint: cause.endpoint(), Params: map[string]string{},
	}
	for k, v := range s.Params {
		t.Params[k] = v
	}
	if (s.Kind == NetDelay || s.Kind == NetLoss) && cause.kind == kSource {
		// Every link into one collector: the senders' sinks show it, and
		// their channels back up; what the collector cannot take goes
		// to the others.
		for _, w := range up {
			sk := ref{w, Tier1Agent, SinkName, kSink}
			ch := ref{w, Tier1Agent, ChannelName, kChannel}
			t.Metrics = append(t.Metrics, sk.m("batch_duration_p99_seconds", "up", "cause"), sk.m("EventDrainSuccessRate", "down", "symptom"),
				ch.m("ChannelFillPercentage", "up", "symptom"))
		}
		t.Metrics = append(t.Metrics, cause.m("EventAcceptedRate", "down", "symptom"), cause.m("put_duration_p99_seconds", "up", "symptom"))
		for _, c := range f.lay.cols {
			if c != cause.host {
				t.Metrics = append(t.Metrics, ref{c, CollectorAgent, SourceName, kSource}.m("EventAcceptedRate", "up", "symptom"))
			}
		}
		return t
	}
	if s.Kind == CollectorCrash && !f.lay.isCollector(cause.host) {
		up, peers = nil, nil // a tier-1 agent: only its own metrics vanish
	}
	t.Metrics = expectedMetrics(s.Kind, cause, up, peers, &f.lay)
	return t
}

// reconfigure rewrites a member's Flume file with o and has it reloaded.
func (f *Flow) reconfigure(ctx context.Context, p *proc, o confOverrides) error {
	p.mu.Lock()
	p.overrides = o
	p.mu.Unlock()
	if err := os.WriteFile(p.conf, []byte(f.confText(p)), 0o644); err != nil {
		return err
	}
	return f.control(ctx, p.host, "/reload", nil)
}

// shrinkChannel reloads a member with a channel of capacity c. A file
// channel recovers its events from its own storage. A memory channel is
// replaced and the agent moves the old one's events (and the batch its
// sink had taken) into the new one before the new sinks start, so what
// does not fit would be lost (agent.retire): first the sink's batch is
// made small, then the reload waits until the channel holds little.
func (f *Flow) shrinkChannel(ctx context.Context, p *proc, c int) error {
	if p.fileChannel {
		return f.reconfigure(ctx, p, confOverrides{capacity: c})
	}
	small := confOverrides{sinkBatch: max(c/2, 1)}
	if err := f.reconfigure(ctx, p, small); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		cs, err := f.Counters(ctx, p.host)
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(cs["CHANNEL."+ChannelName]["ChannelSize"])
		if n <= c/2 {
			break
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("tiny_channel on %s: its memory channel still holds %d events, more than the new capacity %d leaves room for; a reload now would lose events", p.host, n, c),
				f.reconfigure(ctx, p, confOverrides{}))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return f.reconfigure(ctx, p, confOverrides{capacity: c, sinkBatch: small.sinkBatch})
}

// burn starts the busy process of a CPU-interference fault next to the
// member p: in p's host cgroup, and with pin, both on the last CPU.
func (f *Flow) burn(ctx context.Context, p *proc, threads int, pin bool) (string, func(context.Context) (string, error), error) {
	args := slices.Concat(f.cfg.Command, []string{"burn", "--threads", strconv.Itoa(threads)})
	cmd := newCmd(args)
	cmd.Env = append(os.Environ(), f.cfg.Env...)
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("cpu_interference: start the busy process: %w", err)
	}
	effect := fmt.Sprintf("a busy process (pid %d, %d threads) on %s", cmd.Process.Pid, threads, p.host)
	if err := joinCgroup(p.cgroup, cmd.Process.Pid); err != nil {
		f.log.Warn("cpu_interference: the busy process is not in the host's cgroup", "host", p.host, "err", err)
	} else if p.cgroup != "" {
		effect += ", counted in the host's cgroup"
	}
	p.mu.Lock()
	victim := p.pid
	p.mu.Unlock()
	cpu := []int{runtime.NumCPU() - 1}
	if pin {
		// Give the burner's threads time to exist, then pin both.
		time.Sleep(50 * time.Millisecond)
		errs := errors.Join(setAffinity(cmd.Process.Pid, cpu), setAffinity(victim, cpu))
		if errs != nil {
			f.log.Warn("cpu_interference: could not pin", "err", errs)
		} else {
			effect += fmt.Sprintf(", both pinned to CPU %d", cpu[0])
		}
	}
	f.mu.Lock()
	f.burners[p.host] = cmd
	f.mu.Unlock()
	undo := func(ctx context.Context) (string, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.mu.Lock()
		delete(f.burners, p.host)
		f.mu.Unlock()
		if pin {
			p.mu.Lock()
			pid := p.pid
			p.mu.Unlock()
			_ = setAffinity(pid, nil)
		}
		return "", nil
	}
	return effect, undo, nil
}
