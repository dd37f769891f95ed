package faults

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vscope/vscope/agent"
	"github.com/vscope/vscope/agent/catalog"
	"github.com/vscope/vscope/agent/monitor"
	"github.com/vscope/vscope/vscope/store"
)

// A member is one process of a local flow: one agent of a Flume file,
// labelled with its emulated host, sampling its metrics into the flow's
// store, and answering a small control API on loopback through which
// faults reach inside it (a sink's delay, a GC storm, a reload).

// MemberConfig is what a member process runs.
type MemberConfig struct {
	// Conf is the Flume properties file and Agent the agent in it.
	Conf, Agent string
	// Host labels the agent's metrics (the store's host column).
	Host string
	// Store is the flow's metric ingest URL (http://HOST:PORT), or a
	// DuckDB file; empty: no sampling.
	Store string
	// SampleInterval is how often metrics are sampled (default 1 s).
	SampleInterval time.Duration
	// Ready, when set, is a file written once the agent runs, holding the
	// control address and the pid as JSON (memberReady).
	Ready string
	// Cgroup is the emulated host's cgroup: the process joins it and its
	// host cpu metrics are read from it. Empty: the machine's /proc/stat.
	Cgroup string
	// ShutdownTimeout bounds the drain on stop (default 30 s).
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// memberReady is what a member writes to its Ready file.
type memberReady struct {
	Control string `json:"control"`
	PID     int    `json:"pid"`
}

// RunMember runs a member until ctx ends, then stops the agent (draining
// its channels) and returns.
func RunMember(ctx context.Context, cfg MemberConfig) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	log := cfg.Logger.With("host", cfg.Host, "agent", cfg.Agent)
	if err := joinCgroup(cfg.Cgroup, os.Getpid()); err != nil {
		log.Warn("cannot join the host's cgroup; host cpu metrics are the machine's", "cgroup", cfg.Cgroup, "err", err)
		cfg.Cgroup = ""
	}
	delays := newSinkDelays()
	f := withSinkDelays(catalog.Default(), delays)
	a := agent.New(cfg.Agent, f, agent.Options{Logger: log})
	if err := a.LoadAndApply(ctx, cfg.Conf); err != nil {
		_ = a.Stop(context.Background())
		return fmt.Errorf("agent %s: %w", cfg.Agent, err)
	}
	m := &member{cfg: cfg, log: log, agent: a, delays: delays}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = a.Stop(context.Background())
		return err
	}
	srv := &http.Server{Handler: m.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()

	sctx, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	var wg sync.WaitGroup
	if cfg.Store != "" {
		app, closeStore, err := openAppender(ctx, cfg.Store)
		if err != nil {
			_ = srv.Close()
			_ = a.Stop(context.Background())
			return err
		}
		defer closeStore()
		wg.Add(1)
		go func() { defer wg.Done(); m.sample(sctx, app) }()
	}
	if cfg.Ready != "" {
		b, _ := json.Marshal(memberReady{Control: ln.Addr().String(), PID: os.Getpid()})
		tmp := cfg.Ready + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err == nil {
			err = os.Rename(tmp, cfg.Ready)
		}
	}
	log.Info("member running", "control", ln.Addr().String())
	<-ctx.Done()
	m.gc.stop()
	delays.clear() // a slow sink must not hold up the drain
	sctx2, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = a.Stop(sctx2)
	// One more sample after the drain, so the store sees the end.
	stopSampling()
	wg.Wait()
	_ = srv.Close()
	return err
}

// openAppender opens the store a member posts to.
func openAppender(ctx context.Context, location string) (store.Appender, func(), error) {
	loc, err := store.ParseLocation(location)
	if err != nil {
		return nil, nil, err
	}
	if loc.Kind == "collector" {
		c := store.NewClient(loc.URL, os.Getenv("VSCOPE_STORE_TOKEN"), &http.Client{Timeout: 10 * time.Second})
		return c, func() { _ = c.Close() }, nil
	}
	s, err := store.Open(ctx, location, store.Options{})
	if err != nil {
		return nil, nil, err
	}
	return s, func() { _ = s.Close() }, nil
}

type member struct {
	cfg    MemberConfig
	log    *slog.Logger
	agent  *agent.Agent
	delays *sinkDelays
	gc     gcStorm
	reload sync.Mutex // serialises reloads
}

// sample posts the agent's metrics every interval, with the host cpu read
// from the emulated host's cgroup when there is one.
func (m *member) sample(ctx context.Context, app store.Appender) {
	hc := newHostCPU(m.cfg.Cgroup)
	s := monitor.NewSampler(m.cfg.Host, m.agent.Registry())
	b := &store.Batch{}
	failing := false
	emit := func(points []monitor.Point) {
		b.Reset()
		var now int64
		for _, p := range points {
			now = p.TS
			if hc != nil && p.Kind == monitor.PointHost && p.Component == "cpu" {
				continue // replaced below
			}
			b.Add(b.SeriesRef(store.Series{Host: p.Host, Agent: p.Agent, Component: p.Component, Kind: p.Kind, Metric: p.Metric}), p.TS, p.Value)
		}
		if hc != nil && now != 0 {
			if u, sy, idle, ok := hc.percents(time.Now()); ok { // the interval between reads, not between sample stamps
				for _, v := range []struct {
					name string
					v    float64
				}{{"user_percent", u}, {"system_percent", sy}, {"idle_percent", idle}} {
					b.Add(b.SeriesRef(store.Series{Host: m.cfg.Host, Component: "cpu", Kind: monitor.PointHost, Metric: v.name}), now, v.v)
				}
			}
		}
		actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := app.Append(actx, b)
		cancel()
		if err != nil && !failing {
			m.log.Warn("metrics not stored", "err", err)
		}
		failing = err != nil
	}
	if hc != nil {
		hc.percents(time.Now()) // prime
	}
	s.Run(ctx, m.cfg.SampleInterval, emit)
	emit(s.Sample(time.Now()))
}

// handler is the control API (loopback only):
//
//	GET  /metrics, /metrics.json          the agent's counters
//	POST /fault/delay?sink=k1&delay=200ms  a sink's added per-batch latency (0: none)
//	POST /fault/gc?rate=200MB&live=64MB&gogc=20   start a GC storm; ?stop=1 ends it
//	POST /reload                           re-read the Flume file and apply it
func (m *member) handler() http.Handler {
	mux := http.NewServeMux()
	mon := monitor.Handler(m.agent.Registry())
	mux.Handle("/metrics", mon)
	mux.Handle("/metrics.json", mon)
	post := func(path string, h func(r *http.Request) (string, error)) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				http.Error(w, "POST only", http.StatusMethodNotAllowed)
				return
			}
			msg, err := h(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			_, _ = io.WriteString(w, msg+"\n")
		})
	}
	post("/fault/delay", func(r *http.Request) (string, error) {
		sink := r.FormValue("sink")
		d, err := time.ParseDuration(r.FormValue("delay"))
		if sink == "" || err != nil || d < 0 {
			return "", errors.New("want sink=NAME&delay=DURATION")
		}
		m.delays.set(sink, d)
		m.log.Info("fault: sink delay", "sink", sink, "delay", d)
		return fmt.Sprintf("sink %s delay %v", sink, d), nil
	})
	post("/fault/gc", func(r *http.Request) (string, error) {
		if r.FormValue("stop") != "" {
			m.gc.stop()
			m.log.Info("fault: gc storm over")
			return "gc storm stopped", nil
		}
		rate, err1 := parseBytes(r.FormValue("rate"))
		live, err2 := parseBytes(r.FormValue("live"))
		gogc, err3 := strconv.Atoi(r.FormValue("gogc"))
		if err := errors.Join(err1, err2, err3); err != nil {
			return "", err
		}
		m.gc.start(rate, live, gogc)
		m.log.Info("fault: gc storm", "rate", rate, "live", live, "gogc", gogc)
		return "gc storm started", nil
	})
	post("/reload", func(r *http.Request) (string, error) {
		m.reload.Lock()
		defer m.reload.Unlock()
		if err := m.agent.LoadAndApply(r.Context(), m.cfg.Conf); err != nil {
			return "", err
		}
		m.log.Info("configuration reloaded on request")
		return "reloaded", nil
	})
	return mux
}

// RunBurn keeps threads CPUs busy until ctx ends: the busy neighbour of a
// CPU-interference fault.
func RunBurn(ctx context.Context, threads int) {
	if threads <= 0 {
		threads = 1
	}
	var wg sync.WaitGroup
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			x := uint64(1)
			for i := 0; ; i++ {
				x = x*6364136223846793005 + 1442695040888963407
				if i%(1<<20) == 0 && ctx.Err() != nil {
					burnSink.Add(x)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// burnSink keeps the busy loop's result alive.
var burnSink atomic.Uint64

// MemberMain is the entry point of the processes a Flow starts, with
// args as they follow the Flow's Command:
//
//	agent --conf FILE --name AGENT --host HOST [--store URL] [--ready FILE] [--cgroup DIR] [--sample-interval 1s]
//	burn --threads N
//
// It returns when SIGINT or SIGTERM arrives (or, for burn, is killed).
func MemberMain(args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("want agent or burn")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "agent":
		var c MemberConfig
		fs.StringVar(&c.Conf, "conf", "", "Flume properties file")
		fs.StringVar(&c.Agent, "name", "", "agent name in the file")
		fs.StringVar(&c.Host, "host", "", "host label of the metrics")
		fs.StringVar(&c.Store, "store", "", "metric store URL or file")
		fs.StringVar(&c.Ready, "ready", "", "file to write once running")
		fs.StringVar(&c.Cgroup, "cgroup", "", "emulated host's cgroup directory")
		fs.DurationVar(&c.SampleInterval, "sample-interval", time.Second, "metric sampling interval")
		fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "drain deadline on stop")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if c.Conf == "" || c.Agent == "" || c.Host == "" {
			return errors.New("agent: --conf, --name and --host are required")
		}
		c.Conf, _ = filepath.Abs(c.Conf)
		c.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		return RunMember(ctx, c)
	case "burn":
		threads := fs.Int("threads", 1, "busy threads")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		RunBurn(ctx, *threads)
		return nil
	}
	return fmt.Errorf("unknown member command %q: want agent or burn", args[0])
}
