package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/vscope/vscope/agent"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/monitor"
)

// Several agents in one process, for local testing (`vscope agent -n
// a1,a2` or `--all`): each has its own components and counter registry,
// exactly as if it ran alone; they start in the order given and stop in
// the same order, so list the upstream agents (the senders) first and
// they drain into the collectors before those stop.

// agentNames resolves --name (one name or a comma-separated list) and
// --all into the agents to run.
func agentNames(file, names string, all bool) ([]string, error) {
	if file == "" || (names == "" && !all) {
		return nil, errors.New("both --conf-file (-f) and --name (-n) are required (or --all for every agent of the file)")
	}
	if names != "" && all {
		return nil, errors.New("--name and --all exclude each other")
	}
	if all {
		return agentsInFile(file)
	}
	var out []string
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("agent %q is named twice", n)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--name %q names no agent", names)
	}
	return out, nil
}

// agentsInFile lists the agents a Flume file defines (those with a
// sources, channels or sinks listing), in order of first appearance.
func agentsInFile(file string) ([]string, error) {
	props, err := config.ParseFile(file)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range props {
		name, rest, ok := strings.Cut(p.Key, ".")
		if !ok || slices.Contains(out, name) {
			continue
		}
		switch rest {
		case "sources", "channels", "sinks":
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s defines no agent (no NAME.sources, NAME.channels or NAME.sinks key)", file)
	}
	return out, nil
}

// loadAgents validates every named agent of file; all problems of all of
// them are reported together.
func loadAgents(file string, names []string, f component.Factories) ([]*config.Agent, error) {
	var cfgs []*config.Agent
	var errs []error
	for _, n := range names {
		cfg, err := config.LoadFile(file, n, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cfgs = append(cfgs, cfg)
	}
	return cfgs, errors.Join(errs...)
}

// startAgents applies each configuration in order; if one fails, those
// already started are stopped.
func startAgents(ctx context.Context, f component.Factories, cfgs []*config.Agent) ([]*agent.Agent, error) {
	var agents []*agent.Agent
	for _, cfg := range cfgs {
		a := agent.New(cfg.Name, f, agent.Options{Logger: slog.Default()})
		if err := a.Apply(ctx, cfg); err != nil {
			_ = stopAgents(context.Background(), agents)
			if len(cfgs) > 1 {
				err = fmt.Errorf("agent %s: %w", cfg.Name, err)
			}
			return nil, err
		}
		agents = append(agents, a)
	}
	return agents, nil
}

// stopAgents stops the agents in order, each within ctx.
func stopAgents(ctx context.Context, agents []*agent.Agent) error {
	var errs []error
	for _, a := range agents {
		if err := a.Stop(ctx); err != nil {
			if len(agents) > 1 {
				err = fmt.Errorf("agent %s: %w", a.Name(), err)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func registries(agents []*agent.Agent) []*monitor.Registry {
	regs := make([]*monitor.Registry, len(agents))
	for i, a := range agents {
		regs[i] = a.Registry()
	}
	return regs
}
