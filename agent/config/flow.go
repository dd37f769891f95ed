package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vscope/vscope/agent/component"
)

// Selector types, as Flume names them.
const (
	SelectorReplicating  = "replicating"
	SelectorMultiplexing = "multiplexing"
)

// SelectorSpec is a source's channel selector.
type SelectorSpec struct {
	Type string
	// Optional lists channels whose put failures are only logged
	// (replicating: selector.optional).
	Optional []string
	// Multiplexing: the header to route on, the channels per header value
	// (selector.mapping.V), optional channels per value
	// (selector.optional.V), and the channels for unmapped values.
	Header          string
	Mapping         map[string][]string
	OptionalMapping map[string][]string
	Default         []string
}

var selectorAliases = map[string]string{
	"org.apache.flume.channel.ReplicatingChannelSelector":  SelectorReplicating,
	"org.apache.flume.channel.MultiplexingChannelSelector": SelectorMultiplexing,
}

type replicatingConfig struct {
	Type     string   `prop:"type"`
	Optional []string `prop:"optional"`
}

type multiplexingConfig struct {
	Type     string            `prop:"type"`
	Header   string            `prop:"header"`
	Mapping  map[string]string `prop:"mapping.*"`
	Optional map[string]string `prop:"optional.*"`
	Default  []string          `prop:"default"`
}

// selector decodes a source's selector.* keys.
func (b *builder) selector(src *SourceSpec, sel Section) {
	typ := SelectorReplicating
	tp, hasType := sel.Props["type"]
	if hasType {
		typ = strings.TrimSpace(tp.Value)
		if a, ok := selectorAliases[typ]; ok {
			typ = a
		}
		typ = strings.ToLower(typ)
	}
	where := tp
	if !hasType {
		where = firstProp(sel)
	}
	inSource := func(p Prop, chans []string) {
		for _, c := range chans {
			if !slices.Contains(src.Channels, c) {
				b.errs = append(b.errs, errAt(p, "channel %q is not one of the source's channels", c))
			}
		}
	}
	switch typ {
	case SelectorReplicating:
		var c replicatingConfig
		b.errs = append(b.errs, Decode(sel, &c, where)...)
		if p, ok := sel.Props["optional"]; ok {
			inSource(p, c.Optional)
		}
		src.Selector = SelectorSpec{Type: typ, Optional: c.Optional}
	case SelectorMultiplexing:
		c := multiplexingConfig{Header: "flume.selector.header"}
		// Keep checking the channels named even if some keys were bad.
		b.errs = append(b.errs, Decode(sel, &c, where)...)
		s := SelectorSpec{Type: typ, Header: c.Header, Default: c.Default,
			Mapping: map[string][]string{}, OptionalMapping: map[string][]string{}}
		for v, chans := range c.Mapping {
			s.Mapping[v] = strings.Fields(chans)
			inSource(sel.Props["mapping."+v], s.Mapping[v])
		}
		for v, chans := range c.Optional {
			s.OptionalMapping[v] = strings.Fields(chans)
			inSource(sel.Props["optional."+v], s.OptionalMapping[v])
		}
		if p, ok := sel.Props["default"]; ok {
			inSource(p, s.Default)
		}
		src.Selector = s
	default:
		b.errs = append(b.errs, errAt(tp, "unknown selector type %q (replicating or multiplexing)", tp.Value))
	}
}

// InterceptorSpec is one interceptor of a source's chain.
type InterceptorSpec struct {
	Spec
	Factory component.InterceptorFactory
}

// interceptors decodes a source's interceptors list and interceptors.* keys.
func (b *builder) interceptors(src *SourceSpec, raw Section) {
	list, hasList := raw.Props["interceptors"]
	sub := raw.Sub("interceptors")
	names := strings.Fields(list.Value)
	groups := map[string]Section{}
	for k, p := range sub.Props {
		name, rest, _ := strings.Cut(k, ".")
		if !slices.Contains(names, name) {
			b.errs = append(b.errs, errAt(p, "interceptor %q is configured but not listed in %sinterceptors", name, raw.Prefix))
			continue
		}
		g, ok := groups[name]
		if !ok {
			g = Section{Prefix: sub.Prefix + name + ".", Props: map[string]Prop{}}
			groups[name] = g
		}
		g.Props[rest] = p
	}
	if !hasList {
		return
	}
	for _, name := range names {
		g, ok := groups[name]
		prefix := sub.Prefix + name
		if !ok {
			b.errs = append(b.errs, &Error{File: list.File, Line: list.Line, Key: prefix + ".type", Msg: fmt.Sprintf("interceptor %q is listed but has no type", name)})
			continue
		}
		tp, ok := g.Props["type"]
		if !ok {
			p := firstProp(g)
			b.errs = append(b.errs, &Error{File: p.File, Line: p.Line, Key: prefix + ".type", Msg: "required property is missing"})
			continue
		}
		f, ok := lookupType(b.f.Interceptors, strings.TrimSpace(tp.Value))
		if !ok {
			b.errs = append(b.errs, errAt(tp, "unknown interceptor type %q", tp.Value))
			continue
		}
		is := &InterceptorSpec{Spec: Spec{Name: name, Type: strings.TrimSpace(tp.Value), Prefix: prefix, Pos: tp, Props: g.Without("type")}, Factory: f}
		b.decode(&is.Spec, f.NewConfig())
		src.Interceptors = append(src.Interceptors, is)
	}
}

// Sink processor types, as Flume names them.
const (
	ProcessorDefault     = "default"
	ProcessorFailover    = "failover"
	ProcessorLoadBalance = "load_balance"
)

var processorAliases = map[string]string{
	"org.apache.flume.sink.DefaultSinkProcessor":       ProcessorDefault,
	"org.apache.flume.sink.FailoverSinkProcessor":      ProcessorFailover,
	"org.apache.flume.sink.LoadBalancingSinkProcessor": ProcessorLoadBalance,
}

// ProcessorSpec is a sink group's processor.
type ProcessorSpec struct {
	Type string
	// Failover: priority per sink (higher first) and the longest penalty
	// in milliseconds a failed sink waits before it is tried again.
	Priority   map[string]int
	MaxPenalty int
	// Load balancing: round_robin or random, whether failed sinks are
	// blacklisted with exponential back-off, and its cap in milliseconds.
	Selector   string
	Backoff    bool
	MaxTimeOut int
}

type failoverConfig struct {
	Type       string            `prop:"type"`
	Priority   map[string]string `prop:"priority.*"`
	MaxPenalty int               `prop:"maxpenalty"`
}

type loadBalanceConfig struct {
	Type       string `prop:"type"`
	Selector   string `prop:"selector"`
	Backoff    bool   `prop:"backoff"`
	MaxTimeOut int    `prop:"selector.maxTimeOut"`
}

// processor decodes a sink group's processor.* keys.
func (b *builder) processor(g *SinkGroupSpec, sec Section) bool {
	typ := ProcessorDefault
	tp, hasType := sec.Props["type"]
	if hasType {
		typ = strings.TrimSpace(tp.Value)
		if a, ok := processorAliases[typ]; ok {
			typ = a
		}
		typ = strings.ToLower(typ)
	}
	where := tp
	if !hasType {
		where = g.Pos
	}
	switch typ {
	case ProcessorDefault:
		var c struct {
			Type string `prop:"type"`
		}
		if errs := Decode(sec, &c, where); len(errs) > 0 {
			b.errs = append(b.errs, errs...)
			return false
		}
		g.Processor = ProcessorSpec{Type: typ}
	case ProcessorFailover:
		c := failoverConfig{MaxPenalty: 30000}
		if errs := Decode(sec, &c, where); len(errs) > 0 {
			b.errs = append(b.errs, errs...)
			return false
		}
		ps := ProcessorSpec{Type: typ, MaxPenalty: c.MaxPenalty, Priority: map[string]int{}}
		for k, v := range c.Priority {
			p := sec.Props["priority."+k]
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				b.errs = append(b.errs, errAt(p, "%q is not an integer", v))
				continue
			}
			if !slices.Contains(g.Sinks, k) {
				b.errs = append(b.errs, errAt(p, "sink %q is not in sink group %q", k, g.Name))
			}
			ps.Priority[k] = n
		}
		if c.MaxPenalty <= 0 {
			b.errs = append(b.errs, errAt(sec.Props["maxpenalty"], "maxpenalty must be positive, got %d", c.MaxPenalty))
		}
		g.Processor = ps
	case ProcessorLoadBalance:
		c := loadBalanceConfig{Selector: "round_robin", MaxTimeOut: 30000}
		if errs := Decode(sec, &c, where); len(errs) > 0 {
			b.errs = append(b.errs, errs...)
			return false
		}
		c.Selector = strings.ToLower(strings.TrimSpace(c.Selector))
		if c.Selector != "round_robin" && c.Selector != "random" {
			b.errs = append(b.errs, errAt(sec.Props["selector"], "unknown selector %q (round_robin or random)", c.Selector))
		}
		if c.MaxTimeOut <= 0 {
			b.errs = append(b.errs, errAt(sec.Props["selector.maxTimeOut"], "selector.maxTimeOut must be positive, got %d", c.MaxTimeOut))
		}
		g.Processor = ProcessorSpec{Type: typ, Selector: c.Selector, Backoff: c.Backoff, MaxTimeOut: c.MaxTimeOut}
	default:
		b.errs = append(b.errs, errAt(tp, "unknown sink processor type %q (default, failover or load_balance)", tp.Value))
		return false
	}
	return true
}
