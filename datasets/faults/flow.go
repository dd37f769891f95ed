package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vscope/vscope/datasets/replay"
	"github.com/vscope/vscope/vscope/store"
)

// Agent and component names of a local flow. Agent names repeat across
// hosts, as they do in a real deployment (every web server runs the same
// "web" agent); the store's host column tells them apart.
const (
	Tier1Agent     = "web"
	CollectorAgent = "col"
	// Each agent has one source r1, one channel c1 and one sink k1.
	SourceName  = "r1"
	ChannelName = "c1"
	SinkName    = "k1"
)

// FlowConfig describes a local 3-tier flow on 127.0.0.1:
//
//	replay -> tier-1 agent per host (http -> channel -> forward sink)
//	       -> delaying proxy per link -> collectors (forward -> file channel -> parquet)
//
// every agent a process of its own, sampling its metrics into one store.
type FlowConfig struct {
	// Dir is the run directory (created; it should be empty).
	Dir string
	// Hosts are the tier-1 hosts (web-01, web-02, ...): one agent each.
	Hosts []string
	// DefaultHost, if set, is the tier-1 host whose agent takes the lines
	// of hosts that have none; otherwise those lines are skipped.
	DefaultHost string
	// Collectors is the number of collectors col-01... (default 2).
	Collectors int
	// Channel is the tier-1 channel type: memory (default) or file. A
	// disk_full fault in Prepare gives its target a file channel anyway.
	Channel string
	// CollectorChannel is the collectors' channel type: file (default, so
	// a killed collector loses nothing) or memory.
	CollectorChannel string
	// GroupMode is the forward group's mode: round_robin (default),
	// least_loaded or fan_out.
	GroupMode string
	// Command is the argument list that runs a member process; the flow
	// appends "agent ..." or "burn ..." (see MemberMain). For the vscope
	// binary: {os.Executable(), "replay", "member"}.
	Command []string
	// Env is added to the members' environment.
	Env []string
	// SampleInterval is how often members sample their metrics (1 s).
	SampleInterval time.Duration
	// Prepare lists the faults that will be injected, so the flow can be
	// built for them: a disk_full target's file channel goes on a tmpfs of
	// its own.
	Prepare []Spec
	// DiskSize is the size of such a tmpfs (default 64 MiB).
	DiskSize int64
	// Retry is how long the replay retries a batch an agent does not take
	// (default 10 minutes): a web server's log file waits for its agent.
	Retry time.Duration
	// NoCgroups keeps every member on the machine's CPU metrics.
	NoCgroups bool
	// Logger receives the flow's own messages (default slog.Default()).
	Logger *slog.Logger
}

func (c *FlowConfig) setDefaults() error {
	if c.Dir == "" {
		return errors.New("flow: Dir is required")
	}
	if len(c.Hosts) == 0 {
		return errors.New("flow: no tier-1 hosts")
	}
	if c.DefaultHost != "" && !slices.Contains(c.Hosts, c.DefaultHost) {
		return fmt.Errorf("flow: default host %q is not a tier-1 host", c.DefaultHost)
	}
	if len(c.Command) == 0 {
		return errors.New("flow: Command (how to run a member process) is required")
	}
	if c.Collectors <= 0 {
		c.Collectors = 2
	}
	if c.Channel == "" {
		c.Channel = "memory"
	}
	if c.CollectorChannel == "" {
		c.CollectorChannel = "file"
	}
	for _, ch := range []string{c.Channel, c.CollectorChannel} {
		if ch != "memory" && ch != "file" {
			return fmt.Errorf("flow: channel %q: want memory or file", ch)
		}
	}
	if c.GroupMode == "" {
		c.GroupMode = "round_robin"
	}
	if c.SampleInterval <= 0 {
		c.SampleInterval = time.Second
	}
	if c.DiskSize <= 0 {
		c.DiskSize = 64 << 20
	}
	if c.Retry <= 0 {
		c.Retry = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// layout is who is where in a flow.
type layout struct {
	tier1, cols []string
}

func (l *layout) isCollector(host string) bool { return slices.Contains(l.cols, host) }
func (l *layout) isTier1(host string) bool     { return slices.Contains(l.tier1, host) }

func (l *layout) agentOf(host string) string {
	if l.isCollector(host) {
		return CollectorAgent
	}
	return Tier1Agent
}

// CollectorHost is the host name of collector i (0-based): col-01, ...
func CollectorHost(i int) string { return fmt.Sprintf("col-%02d", i+1) }

// proc is one member process of the flow.
type proc struct {
	host, agent string
	conf        string // its Flume file
	cgroup      string
	port        int // http source (tier 1) or forward source (collector)
	fileChannel bool
	diskDir     string // tmpfs under the file channel, if any

	mu        sync.Mutex // protects the fields below
	overrides confOverrides
	cmd       *exec.Cmd
	done      chan struct{} // closed when cmd has exited
	err       error
	control   string // the control API's address
	pid       int
}

// confOverrides change a member's configuration for a fault.
type confOverrides struct {
	capacity  int // channel capacity (tiny channel); 0: the normal one
	sinkBatch int // the sink's batch size; 0: the normal one
}

// Flow is a running local flow. Its methods are safe for concurrent use.
type Flow struct {
	cfg    FlowConfig
	lay    layout
	log    *slog.Logger
	runID  string
	procs  map[string]*proc // by host
	order  []*proc          // tier 1 first, then collectors
	links  map[[2]string]*Proxy
	store  *store.DuckDB
	srv    *http.Server
	url    string
	router *router

	mu       sync.Mutex // protects active, truths, burners, stopped
	active   []*Injection
	truths   []Truth
	burners  map[string]*exec.Cmd
	stopped  bool
	speed    float64 // the replay's, once Schedule knows it
	schedErr []error
	schedWG  sync.WaitGroup
	schedCtx context.Context
	cancel   context.CancelFunc
}

// StartFlow starts the flow: the metric store, the collectors, the
// proxies, the tier-1 agents, in that order, and returns once every agent
// runs. Stop ends it.
func StartFlow(ctx context.Context, cfg FlowConfig) (_ *Flow, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(dir, ", \t\n") {
		return nil, fmt.Errorf("flow: run directory %q: a comma or blank would split the file channels' dataDirs", dir)
	}
	cfg.Dir = dir
	for _, d := range []string{"conf", "logs", "run", "data", "channels"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	f := &Flow{
		cfg: cfg, log: cfg.Logger, procs: map[string]*proc{}, links: map[[2]string]*Proxy{},
		runID: strconv.FormatInt(time.Now().UnixNano(), 36), burners: map[string]*exec.Cmd{},
	}
	f.schedCtx, f.cancel = context.WithCancel(context.Background())
	f.lay.tier1 = slices.Clone(cfg.Hosts)
	for i := range cfg.Collectors {
		f.lay.cols = append(f.lay.cols, CollectorHost(i))
	}
	defer func() {
		if err != nil {
			f.teardown(context.Background())
		}
	}()

	// The metric store, served to the members over HTTP (Arrow IPC).
	f.store, err = store.OpenDuckDB(ctx, f.StorePath(), store.Options{})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.url = "http://" + ln.Addr().String()
	f.srv = &http.Server{Handler: store.Handler(f.store, store.HandlerOptions{SQL: f.store, Logger: f.log}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()

	// Which hosts need a file channel on a disk of their own.
	disk := map[string]bool{}
	for _, s := range cfg.Prepare {
		if s.Kind == DiskFull {
			h, _, _ := strings.Cut(s.Target, "/")
			disk[h] = true
		}
	}
	for _, h := range slices.Concat(f.lay.tier1, f.lay.cols) {
		if _, dup := f.procs[h]; dup {
			return nil, fmt.Errorf("flow: host %s named twice", h)
		}
		p := &proc{host: h, agent: f.lay.agentOf(h), conf: filepath.Join(dir, "conf", h+".conf")}
		if p.port, err = freePort(); err != nil {
			return nil, err
		}
		p.fileChannel = cfg.Channel == "file"
		if f.lay.isCollector(h) {
			p.fileChannel = cfg.CollectorChannel == "file"
		}
		if disk[h] {
			p.fileChannel = true
			p.diskDir = filepath.Join(dir, "disk", h)
			if err := mountTmpfs(p.diskDir, cfg.DiskSize); err != nil {
				f.log.Warn("disk_full: no tmpfs; the file channel stays on the run directory's disk and the fault cannot fill it", "host", h, "err", err)
				p.diskDir = ""
			}
		}
		if !cfg.NoCgroups {
			if p.cgroup, err = makeHostCgroup(f.runID, h); err != nil {
				f.log.Debug("no cgroup for the host; its cpu metrics are the machine's", "host", h, "err", err)
				p.cgroup, err = "", nil
			}
		}
		f.procs[h] = p
	}
	for _, h := range slices.Concat(f.lay.tier1, f.lay.cols) {
		f.order = append(f.order, f.procs[h])
	}
	// A proxy per link, passing bytes through until a network fault.
	for _, t := range f.lay.tier1 {
		for _, c := range f.lay.cols {
			px, err := NewProxy("127.0.0.1:0", "127.0.0.1:"+strconv.Itoa(f.procs[c].port))
			if err != nil {
				return nil, err
			}
			f.links[[2]string{t, c}] = px
		}
	}
	for _, p := range f.order {
		if err := os.WriteFile(p.conf, []byte(f.confText(p)), 0o644); err != nil {
			return nil, err
		}
	}
	if err := f.writeTopology(); err != nil {
		return nil, err
	}
	// Collectors first, so the tier-1 sinks find them.
	for _, group := range [][]string{f.lay.cols, f.lay.tier1} {
		errc := make(chan error, len(group))
		for _, h := range group {
			go func() { errc <- f.startProc(ctx, f.procs[h]) }()
		}
		var errs []error
		for range group {
			errs = append(errs, <-errc)
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	f.router = newRouter(f)
	f.log.Info("local flow running", "dir", dir, "tier1", len(f.lay.tier1), "collectors", len(f.lay.cols), "store", f.url)
	return f, nil
}

// Dir is the run directory.
func (f *Flow) Dir() string { return f.cfg.Dir }

// StorePath is the metric store's DuckDB file. While the flow runs the
// flow holds it (readers use StoreURL or Store); after Stop any reader can
// open it.
func (f *Flow) StorePath() string { return filepath.Join(f.cfg.Dir, "metrics.duckdb") }

// StoreURL is the store's HTTP address while the flow runs: members post
// to /api/v1/ingest, readers (vscope sql --store URL) to /api/v1/sql.
func (f *Flow) StoreURL() string { return f.url }

// Store is the open store, for a caller in this process that wants to
// read windows while the flow runs (vscope diagnose in a suite).
func (f *Flow) Store() *store.DuckDB { return f.store }

// TopologyPath is the flow graph as vscope diagnose reads it (--topology).
func (f *Flow) TopologyPath() string { return filepath.Join(f.cfg.Dir, "topology.json") }

// DataDir is where the collectors write their Parquet files (one
// directory per collector).
func (f *Flow) DataDir() string { return filepath.Join(f.cfg.Dir, "data") }

// Hosts are the tier-1 hosts; Collectors the collector hosts.
func (f *Flow) Hosts() []string      { return slices.Clone(f.lay.tier1) }
func (f *Flow) Collectors() []string { return slices.Clone(f.lay.cols) }

// Control is the control API address of the member on host ("" if it is
// not running).
func (f *Flow) Control(host string) string {
	p := f.procs[host]
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.control
}

// Link is the proxy between a tier-1 host and a collector.
func (f *Flow) Link(tier1, collector string) *Proxy { return f.links[[2]string{tier1, collector}] }

// Sink is where a replay sends the web servers' lines: each host's lines
// go to its own tier-1 agent, through a queue of its own (the host's log
// file, in effect), so a slow agent holds up only its own host's lines.
// Lines of hosts without an agent are skipped and counted.
func (f *Flow) Sink() replay.Sink { return f.router }

// confText is the Flume file of a member.
func (f *Flow) confText(p *proc) string {
	var b strings.Builder
	a := p.agent
	line := func(format string, args ...any) { fmt.Fprintf(&b, a+"."+format+"\n", args...) }
	line("sources = %s", SourceName)
	line("channels = %s", ChannelName)
	line("sinks = %s", SinkName)
	src, ch, sk := "sources."+SourceName+".", "channels."+ChannelName+".", "sinks."+SinkName+"."
	capacity, tx := 100000, 1000
	if p.fileChannel {
		capacity = 1000000
	}
	p.mu.Lock()
	o := p.overrides
	p.mu.Unlock()
	if o.capacity > 0 {
		capacity = o.capacity
		tx = min(tx, capacity)
	}
	batch := min(500, tx)
	if o.sinkBatch > 0 {
		batch = min(batch, o.sinkBatch)
	}
	if f.lay.isCollector(p.host) {
		line(src + "type = forward")
		line(src + "bind = 127.0.0.1")
		line(src+"port = %d", p.port)
		line(src + "group = collectors")
	} else {
		line(src + "type = http")
		line(src + "bind = 127.0.0.1")
		line(src+"port = %d", p.port)
	}
	line(src+"channels = %s", ChannelName)
	if p.fileChannel {
		base := filepath.Join(f.cfg.Dir, "channels", p.host)
		if p.diskDir != "" {
			base = p.diskDir
		}
		line(ch + "type = file")
		line(ch+"checkpointDir = %s", filepath.Join(base, "checkpoint"))
		line(ch+"dataDirs = %s", filepath.Join(base, "data"))
		line(ch+"minimumRequiredSpace = %d", minSpace)
		line(ch+"maxFileSize = %d", 8<<20)
		line(ch + "checkpointInterval = 5000")
	} else {
		line(ch + "type = memory")
	}
	line(ch+"capacity = %d", capacity)
	line(ch+"transactionCapacity = %d", tx)
	line(sk+"channel = %s", ChannelName)
	if f.lay.isCollector(p.host) {
		line(sk + "type = parquet")
		line(sk+"parquet.path = %s", filepath.Join(f.DataDir(), p.host))
		line(sk + "parquet.filePrefix = events")
		line(sk + "parquet.rollInterval = 30")
		line(sk + "parquet.rollSize = 0")
		line(sk + "parquet.rollCount = 0")
		pb := min(1000, tx)
		if o.sinkBatch > 0 {
			pb = min(pb, o.sinkBatch)
		}
		line(sk+"parquet.batchSize = %d", pb)
		line(sk + "parquet.headers = host tier")
	} else {
		var members []string
		for _, c := range f.lay.cols {
			members = append(members, f.links[[2]string{p.host, c}].Addr())
		}
		line(sk + "type = forward")
		line(sk+"batch-size = %d", batch)
		line(sk + "connect-timeout = 2000")
		line(sk + "request-timeout = 20000")
		line(sk + "group = collectors")
		line(sk+"groups.collectors.members = %s", strings.Join(members, " "))
		line(sk+"groups.collectors.mode = %s", f.cfg.GroupMode)
		line(sk + "groups.collectors.backoff = 250")
		line(sk + "groups.collectors.maxBackoff = 2000")
	}
	return b.String()
}

// minSpace is the file channels' minimumRequiredSpace: small, so that a
// disk_full fault needs only a small tmpfs.
const minSpace = 8 << 20

// writeTopology writes the flow graph for vscope diagnose, and that every
// emulated host is on this one machine: they share its CPUs, so one host's
// busy CPU slows the others' agents.
func (f *Flow) writeTopology() error {
	var paths [][]string
	ep := func(h, comp string) string { return h + "/" + f.lay.agentOf(h) + "/" + comp }
	for _, t := range f.lay.tier1 {
		for _, c := range f.lay.cols {
			paths = append(paths, []string{ep(t, SourceName), ep(t, ChannelName), ep(t, SinkName), ep(c, SourceName), ep(c, ChannelName), ep(c, SinkName)})
		}
	}
	machine, err := os.Hostname()
	if err != nil || machine == "" {
		machine = "localhost"
	}
	b, err := json.MarshalIndent(map[string]any{
		"paths":    paths,
		"machines": map[string][]string{machine: slices.Concat(f.lay.tier1, f.lay.cols)},
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(f.TopologyPath(), append(b, '\n'), 0o644)
}

// startProc starts a member process and waits until its agent runs.
func (f *Flow) startProc(ctx context.Context, p *proc) error {
	ready := filepath.Join(f.cfg.Dir, "run", p.host+".ready")
	_ = os.Remove(ready)
	args := slices.Concat(f.cfg.Command, []string{"agent",
		"--conf", p.conf, "--name", p.agent, "--host", p.host, "--store", f.url,
		"--ready", ready, "--sample-interval", f.cfg.SampleInterval.String()})
	if p.cgroup != "" {
		args = append(args, "--cgroup", p.cgroup)
	}
	logf, err := os.OpenFile(filepath.Join(f.cfg.Dir, "logs", p.host+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), f.cfg.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.host, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.control, p.pid = cmd, done, "", cmd.Process.Pid
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(ready); err == nil {
			var r memberReady
			if json.Unmarshal(b, &r) == nil && r.Control != "" {
				p.mu.Lock()
				p.control = r.Control
				p.mu.Unlock()
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited while starting: %v (see %s)", p.host, p.err, filepath.Join(f.cfg.Dir, "logs", p.host+".log"))
		case <-deadline.C:
			_ = cmd.Process.Kill()
			return fmt.Errorf("%s did not start within 60 s (see %s)", p.host, filepath.Join(f.cfg.Dir, "logs", p.host+".log"))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// signalProc sends sig to a member and, with wait, waits up to timeout for
// it to exit (SIGKILL after that).
func (p *proc) signal(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not stop within %v; killed", p.host, wait)
	}
}

// running reports whether the member's process is alive.
func (p *proc) running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// control posts to a member's control API.
func (f *Flow) control(ctx context.Context, host, path string, form map[string]string) error {
	addr := f.Control(host)
	if addr == "" {
		return fmt.Errorf("%s is not running", host)
	}
	q := make([]string, 0, len(form))
	for k, v := range form {
		q = append(q, k+"="+v)
	}
	url := "http://" + addr + path
	if len(q) > 0 {
		url += "?" + strings.Join(q, "&")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s control %s: %w", host, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg [512]byte
		n, _ := resp.Body.Read(msg[:])
		return fmt.Errorf("%s control %s: %s: %s", host, path, resp.Status, strings.TrimSpace(string(msg[:n])))
	}
	return nil
}

// Counters returns a member's Flume counters ({"SINK.k1": {...}}).
func (f *Flow) Counters(ctx context.Context, host string) (map[string]map[string]string, error) {
	addr := f.Control(host)
	if addr == "" {
		return nil, fmt.Errorf("%s is not running", host)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics.json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, fmt.Errorf("%s counters: %w", host, err)
	}
	return m, nil
}

// Stop ends the flow: faults still in force are taken out, the replay's
// queues are drained into the tier-1 agents, the tier-1 agents stop
// (draining their channels into the collectors), then the collectors
// (draining into Parquet and finishing their files), then the store. The
// truth and the store file are complete when it returns. Safe twice.
func (f *Flow) Stop(ctx context.Context) error {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return nil
	}
	f.stopped = true
	f.mu.Unlock()
	var errs []error
	f.cancel() // scheduled faults not yet started never start
	f.schedWG.Wait()
	if err := f.RevertAll(ctx); err != nil {
		errs = append(errs, err)
	}
	if f.router != nil {
		if err := f.router.close(ctx); err != nil {
			errs = append(errs, err)
		}
		f.mu.Lock()
		f.truths = append(f.truths, f.router.generatedTruth(f)...)
		f.mu.Unlock()
	}
	if err := f.teardown(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// teardown stops the processes, proxies and store.
func (f *Flow) teardown(ctx context.Context) error {
	var errs []error
	wait := 60 * time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = max(time.Until(d)/2, time.Second)
	}
	stopGroup := func(hosts []string) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, h := range hosts {
			p := f.procs[h]
			if p == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p.signal(syscall.SIGTERM, wait); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	f.mu.Lock()
	for h, b := range f.burners {
		_ = b.Process.Kill()
		_ = b.Wait()
		delete(f.burners, h)
	}
	f.mu.Unlock()
	// An agent that stops does not wait for a durable (file) channel to
	// drain: its events would stay on disk, not reach the Parquet files.
	// So each tier stops only once its channels are empty and its sinks
	// idle.
	f.waitDrained(ctx, f.lay.tier1, wait)
	stopGroup(f.lay.tier1)
	for _, px := range f.links {
		_ = px.Close()
	}
	f.waitDrained(ctx, f.lay.cols, wait)
	stopGroup(f.lay.cols)
	var cgroups []string
	for _, p := range f.procs {
		cgroups = append(cgroups, p.cgroup)
		if p.diskDir != "" {
			if err := unmount(p.diskDir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	removeHostCgroups(f.runID, cgroups)
	if f.srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = f.srv.Shutdown(sctx)
		cancel()
	}
	if f.store != nil {
		if err := f.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newCmd makes the command of args.
func newCmd(args []string) *exec.Cmd { return exec.Command(args[0], args[1:]...) }

// waitDrained waits (up to limit) until every running member of hosts has
// an empty channel and a sink that drained nothing since the last look:
// nothing queued, nothing in flight.
func (f *Flow) waitDrained(ctx context.Context, hosts []string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	type look struct{ size, drained string }
	last := map[string]look{}
	for {
		busy := []string{}
		for _, h := range hosts {
			if p := f.procs[h]; p == nil || !p.running() {
				continue
			}
			c, err := f.Counters(ctx, h)
			if err != nil {
				continue
			}
			now := look{c["CHANNEL."+ChannelName]["ChannelSize"], c["SINK."+SinkName]["EventDrainSuccessCount"]}
			if now.size != "0" || now != last[h] {
				busy = append(busy, h)
			}
			last[h] = now
		}
		if len(busy) == 0 {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			f.log.Warn("stopping agents whose channels have not drained; their events stay in their channels", "hosts", busy)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
