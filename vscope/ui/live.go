package ui

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/vscope/vscope/vscope/diagnose"
	"github.com/vscope/vscope/vscope/store"
)

// Live is what the view shows of the flows: throughput and channel fill
// per component over the last span of the store, and each agent's latest
// values.
type Live struct {
	Store string `json:"store"`
	// Latest is the newest point of the store (zero: unknown); the span
	// ends there, or now when unknown.
	Latest time.Time `json:"latest"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Step   string    `json:"step"`
	// Times are the rows of the series, in unix milliseconds.
	Times []int64 `json:"times"`
	// Throughput is events per second: sources accepted
	// (EventAcceptedRate) and sinks drained (EventDrainSuccessRate), the
	// busiest first; Fill is channel fill in percent
	// (ChannelFillPercentage), the fullest first. Each holds at most
	// MaxLines series; Totals the sum over every component.
	Throughput []LiveSeries `json:"throughput"`
	Fill       []LiveSeries `json:"fill"`
	Totals     []LiveSeries `json:"totals"`
	// Agents are the latest values per agent, fullest channel first, at
	// most MaxAgents of AgentCount.
	Agents     []LiveAgent `json:"agents"`
	AgentCount int         `json:"agent_count"`
	// Series counts the components seen (before MaxLines).
	Series int `json:"series"`
}

// LiveSeries is one line of a live chart.
type LiveSeries struct {
	Name   string          `json:"name"` // host/agent/component
	Kind   string          `json:"kind"`
	Metric string          `json:"metric"`
	Values diagnose.Floats `json:"values"`
}

// LiveAgent is the latest of one agent's components (null: not reported
// in the span).
type LiveAgent struct {
	Host     string   `json:"host"`
	Agent    string   `json:"agent"`
	Accepted *float64 `json:"accepted"` // events/s into its sources
	Drained  *float64 `json:"drained"`  // events/s out of its sinks
	Fill     *float64 `json:"fill"`     // its fullest channel, percent
}

// MaxLines bounds the lines of each live chart; MaxAgents the agents listed.
const (
	MaxLines  = 12
	MaxAgents = 200
)

// liveMetrics are the series the view reads.
var liveMetrics = []struct{ kind, metric string }{
	{"source", "EventAcceptedRate"},
	{"sink", "EventDrainSuccessRate"},
	{"channel", "ChannelFillPercentage"},
}

// ReadLive reads the live view's data: the span before the store's newest
// point (or before now), at step.
func ReadLive(ctx context.Context, st store.Store, span, step time.Duration, now time.Time) (*Live, error) {
	latest, err := Latest(ctx, st)
	if err != nil {
		return nil, err
	}
	end := now
	if !latest.IsZero() {
		end = latest
	}
	to := end.Truncate(step).Add(step)
	l := &Live{Latest: latest, From: to.Add(-span).UTC(), To: to.UTC(), Step: step.String(),
		Throughput: []LiveSeries{}, Fill: []LiveSeries{}, Totals: []LiveSeries{}, Agents: []LiveAgent{}}
	type agentKey struct{ host, agent string }
	agents := map[agentKey]*LiveAgent{}
	agentOf := func(s store.Series) *LiveAgent {
		k := agentKey{s.Host, s.Agent}
		if agents[k] == nil {
			agents[k] = &LiveAgent{Host: s.Host, Agent: s.Agent}
		}
		return agents[k]
	}
	for _, lm := range liveMetrics {
		m, err := st.Read(ctx, store.Query{Filter: store.Filter{Kind: lm.kind, Metric: lm.metric}, From: l.From, To: l.To, Step: step})
		if err != nil {
			return nil, fmt.Errorf("read %s %s: %w", lm.kind, lm.metric, err)
		}
		if l.Times == nil {
			l.Times = m.Times
		}
		var lines []LiveSeries
		var peaks []float64
		total := make(diagnose.Floats, len(m.Times))
		seen := make([]bool, len(m.Times))
		for j, s := range m.Series {
			if s.Agent == "" {
				continue
			}
			vals := diagnose.Floats(m.Column(j))
			peak, last := math.Inf(-1), math.NaN()
			for i, v := range vals {
				if math.IsNaN(v) {
					continue
				}
				peak, last = math.Max(peak, v), v
				total[i] += v
				seen[i] = true
			}
			if math.IsInf(peak, -1) {
				continue // nothing in the span
			}
			lines = append(lines, LiveSeries{Name: s.Host + "/" + s.Agent + "/" + s.Component, Kind: s.Kind, Metric: s.Metric, Values: vals})
			peaks = append(peaks, peak)
			a := agentOf(s)
			switch lm.kind {
			case "source":
				a.Accepted = addTo(a.Accepted, last)
			case "sink":
				a.Drained = addTo(a.Drained, last)
			case "channel":
				if a.Fill == nil || last > *a.Fill {
					a.Fill = &last
				}
			}
		}
		l.Series += len(lines)
		order := make([]int, len(lines))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return peaks[order[a]] > peaks[order[b]] })
		for k, i := range order {
			if k == MaxLines {
				break
			}
			if lm.kind == "channel" {
				l.Fill = append(l.Fill, lines[i])
			} else {
				l.Throughput = append(l.Throughput, lines[i])
			}
		}
		if lm.kind != "channel" && len(lines) > 0 {
			for i := range total {
				if !seen[i] {
					total[i] = math.NaN()
				}
			}
			name := "all sources (accepted)"
			if lm.kind == "sink" {
				name = "all sinks (drained)"
			}
			l.Totals = append(l.Totals, LiveSeries{Name: name, Kind: lm.kind, Metric: lm.metric, Values: total})
		}
	}
	for _, a := range agents {
		l.Agents = append(l.Agents, *a)
	}
	sort.Slice(l.Agents, func(i, j int) bool {
		fi, fj := fillOf(l.Agents[i]), fillOf(l.Agents[j])
		if fi != fj {
			return fi > fj
		}
		if l.Agents[i].Host != l.Agents[j].Host {
			return l.Agents[i].Host < l.Agents[j].Host
		}
		return l.Agents[i].Agent < l.Agents[j].Agent
	})
	l.AgentCount = len(l.Agents)
	l.Agents = l.Agents[:min(len(l.Agents), MaxAgents)]
	return l, nil
}

func addTo(p *float64, v float64) *float64 {
	if math.IsNaN(v) {
		return p
	}
	if p == nil {
		return &v
	}
	s := *p + v
	return &s
}

func fillOf(a LiveAgent) float64 {
	if a.Fill == nil {
		return -1
	}
	return *a.Fill
}
