package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/vscope/vscope/agent/control"
	"github.com/vscope/vscope/agent/monitor"
	"github.com/vscope/vscope/dpg/watch"
	"github.com/vscope/vscope/vscope/store"
)

// controlFlags are the flags of an agent's control API (agent/control),
// through which vscope dpg deploy runs watch operators in the agent.
type controlFlags struct {
	addr, tokenFile, addrFile, host string
	interval                        time.Duration
}

func (c *controlFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&c.addr, "control", "", "serve the control API (watch operators) on this address (\":PORT\" binds 127.0.0.1); needs a token")
	fl.StringVar(&c.tokenFile, "control-token-file", "", "file holding the control API's bearer token, at least 16 characters (default $"+control.TokenEnv+")")
	fl.StringVar(&c.addrFile, "control-addr-file", "", "write the control API's URL to this file once it listens (for --control 127.0.0.1:0)")
	fl.StringVar(&c.host, "watch-host", "", "host name the watch operators report, the plan's name for this host (default the machine's name)")
	fl.DurationVar(&c.interval, "watch-interval", time.Second, "how often watch operators sample the agent's metrics")
}

// startControl runs the watch host of this process and its control API.
// stop closes the API (requests under way finish) and stops the operators.
func startControl(ctx context.Context, c controlFlags, agents []string, regs []*monitor.Registry, rawSink func(watch.RawWindow)) (stop func(), err error) {
	if c.interval <= 0 {
		return nil, fmt.Errorf("--watch-interval %v: want a positive duration", c.interval)
	}
	tok, err := control.LoadToken(c.tokenFile)
	if err != nil {
		return nil, err
	}
	sender := watch.NewHTTPSender(nil)
	host := watch.NewHost(watch.Options{Name: c.host, Registries: regs, Interval: c.interval, Sender: sender, RawSink: rawSink, Logger: slog.Default()})
	srv, err := control.Start(host, control.Options{Addr: c.addr, Token: tok, AddrFile: c.addrFile, Agents: agents, Logger: slog.Default()})
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { host.Run(hctx) })
	return func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Close(sctx)
		cancel()
		wg.Wait()
		sender.CloseIdleConnections()
	}, nil
}

// storeRawSink writes the raw windows a root receives into the metric
// store at location, from one goroutine with a bounded queue: a slow store
// costs raw windows (logged), never the control API's requests.
func storeRawSink(ctx context.Context, location, token string) (sink func(watch.RawWindow), stop func(), err error) {
	loc, err := store.ParseLocation(location)
	if err != nil {
		return nil, nil, err
	}
	var app store.Appender
	var closeStore func() error
	if loc.Kind == "collector" {
		c := store.NewClient(loc.URL, envToken(token), nil)
		app, closeStore = c, c.Close
	} else {
		s, err := store.Open(ctx, location, store.Options{RetainEvery: time.Minute})
		if err != nil {
			return nil, nil, err
		}
		app, closeStore = s, s.Close
	}
	q := make(chan watch.RawWindow, 64)
	var wg sync.WaitGroup
	wg.Go(func() {
		for rw := range q {
			b := &store.Batch{}
			for _, s := range rw.Series {
				ref := b.SeriesRef(store.Series{Host: s.Host, Agent: s.Agent, Component: s.Component, Kind: s.Kind, Metric: s.Metric})
				for i, ts := range s.TS {
					b.Add(ref, ts, s.Values[i])
				}
			}
			actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := app.Append(actx, b); err != nil {
				slog.Error("raw window not stored", "alarm", rw.Alarm.Key(), "points", b.Len(), "err", err)
			}
			cancel()
		}
	})
	var mu sync.Mutex // protects closed; held while sending so close cannot race a send
	closed := false
	sink = func(rw watch.RawWindow) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		select {
		case q <- rw:
		default:
			slog.Warn("raw window dropped: the store is behind", "alarm", rw.Alarm.Key())
		}
	}
	stop = func() {
		mu.Lock()
		if closed {
			mu.Unlock()
			return
		}
		closed = true
		close(q)
		mu.Unlock()
		wg.Wait()
		if err := closeStore(); err != nil {
			slog.Error("closing store", "err", err)
		}
	}
	return sink, stop, nil
}
