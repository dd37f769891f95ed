package config

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/vscope/vscope/agent/component"
)

// Spec is what every component entry has: its name, type, where it was
// declared, its own properties and the decoded config.
type Spec struct {
	Name   string
	Type   string // the type as written
	Prefix string // "a1.sources.r1"
	Pos    Prop   // the declaring key (its type line, or its listing)
	Props  Section
	Config component.Config
}

// Same reports whether two specs have the same type and properties, so a
// reload can keep a component whose configuration did not change.
func (s *Spec) Same(o *Spec) bool {
	if s.Type != o.Type || len(s.Props.Props) != len(o.Props.Props) {
		return false
	}
	for k, p := range s.Props.Props {
		if q, ok := o.Props.Props[k]; !ok || q.Value != p.Value {
			return false
		}
	}
	return true
}

// SourceSpec is one configured source.
type SourceSpec struct {
	Spec
	Channels     []string
	Selector     SelectorSpec
	Interceptors []*InterceptorSpec
	Factory      component.SourceFactory
}

// ChannelSpec is one configured channel.
type ChannelSpec struct {
	Spec
	Factory component.ChannelFactory
}

// SinkSpec is one configured sink.
type SinkSpec struct {
	Spec
	Channel string
	Factory component.SinkFactory
}

// SinkGroupSpec is one configured sink group.
type SinkGroupSpec struct {
	Name      string
	Sinks     []string
	Processor ProcessorSpec
	Pos       Prop
}

// Agent is the validated configuration of one agent.
type Agent struct {
	Name       string
	File       string
	Sources    []*SourceSpec
	Channels   []*ChannelSpec
	Sinks      []*SinkSpec
	SinkGroups []*SinkGroupSpec
	Warnings   []string
}

// Channel returns the named channel spec, or nil.
func (a *Agent) Channel(name string) *ChannelSpec {
	for _, c := range a.Channels {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// LoadFile reads, substitutes ${VAR} from the environment, and validates
// the named agent of a Flume properties file.
func LoadFile(path, agent string, f component.Factories) (*Agent, error) {
	props, err := ParseFile(path)
	if err != nil {
		return nil, err
	}
	return Load(props, path, agent, f, os.LookupEnv)
}

// Load substitutes variables and validates the named agent's keys. Keys of
// other agents in the same file are ignored, as in Flume. Every error found
// is returned at once, as Errors.
func Load(props []Prop, file, agent string, f component.Factories, lookup func(string) (string, bool)) (*Agent, error) {
	var errs Errors
	var mine []Prop
	for _, p := range props {
		if strings.HasPrefix(p.Key, agent+".") {
			mine = append(mine, p)
		}
	}
	// Only this agent's values are substituted: a variable that another
	// agent in the file needs may be unset here.
	mine, err := Substitute(mine, lookup)
	if es, ok := err.(Errors); ok {
		errs = append(errs, es...)
	} else if err != nil {
		return nil, err
	}
	b := &builder{a: &Agent{Name: agent, File: file}, f: f, file: file}
	b.byKey = map[string]Prop{}
	for _, p := range mine {
		if rest, ok := strings.CutPrefix(p.Key, agent+"."); ok {
			if old, dup := b.byKey[rest]; dup {
				b.a.Warnings = append(b.a.Warnings, fmt.Sprintf("%s: %s: set again at line %d; the last value wins", old.Pos(), p.Key, p.Line))
			}
			b.byKey[rest] = p
		}
	}
	if len(b.byKey) == 0 {
		errs = append(errs, &Error{File: file, Msg: fmt.Sprintf("no properties for agent %q (keys must start with %q)", agent, agent+".")})
		return nil, errs
	}
	b.build()
	// A value whose variable is unset was left as written; what the
	// builder says about that key follows from it and is not repeated.
	unset := map[Error]bool{}
	for _, e := range errs {
		unset[Error{File: e.File, Line: e.Line, Key: e.Key}] = true
	}
	for _, e := range b.errs {
		if !unset[Error{File: e.File, Line: e.Line, Key: e.Key}] {
			errs = append(errs, e)
		}
	}
	sort.SliceStable(errs, func(i, j int) bool { return lineKey(errs[i]) < lineKey(errs[j]) })
	if len(errs) > 0 {
		return nil, errs
	}
	return b.a, nil
}

// lineKey orders errors by line, with those that have no line last.
func lineKey(e *Error) int {
	if e.Line == 0 {
		return int(^uint(0) >> 1)
	}
	return e.Line
}

type builder struct {
	a     *Agent
	f     component.Factories
	file  string
	byKey map[string]Prop // agent-relative key -> prop
	errs  Errors
	// failed holds the prefixes of components whose config did not
	// decode; cross-checks skip them rather than report on defaults.
	failed map[string]bool
}

// group splits the agent's keys by kind and component name.
type entries struct {
	list  []string           // names in the listing key, in order
	pos   Prop               // the listing key
	props map[string]Section // name -> its keys
}

func (b *builder) build() {
	kinds := map[string]*entries{"sources": {}, "channels": {}, "sinks": {}, "sinkgroups": {}}
	for _, e := range kinds {
		e.props = map[string]Section{}
	}
	keys := make([]string, 0, len(b.byKey))
	for k := range b.byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := b.byKey[k]
		kind, rest, _ := strings.Cut(k, ".")
		e, ok := kinds[kind]
		if !ok {
			b.errs = append(b.errs, errAt(p, "unknown key (an agent's keys start with %[1]s.sources, %[1]s.channels, %[1]s.sinks or %[1]s.sinkgroups)", b.a.Name))
			continue
		}
		if rest == "" {
			e.pos = p
			seen := map[string]bool{}
			for _, n := range strings.Fields(p.Value) {
				if seen[n] {
					b.errs = append(b.errs, errAt(p, "%s %q is listed twice", strings.TrimSuffix(kind, "s"), n))
					continue
				}
				seen[n] = true
				e.list = append(e.list, n)
			}
			continue
		}
		name, sub, _ := strings.Cut(rest, ".")
		if sub == "" {
			b.errs = append(b.errs, errAt(p, "unknown key (expected %s.%s.%s.<property>)", b.a.Name, kind, name))
			continue
		}
		s, ok := e.props[name]
		if !ok {
			s = Section{Prefix: b.a.Name + "." + kind + "." + name + ".", Props: map[string]Prop{}}
			e.props[name] = s
		}
		s.Props[sub] = p
	}
	for _, kind := range []string{"sources", "channels", "sinks", "sinkgroups"} {
		e := kinds[kind]
		names := make([]string, 0, len(e.props))
		for n := range e.props {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if !slices.Contains(e.list, n) {
				p := firstProp(e.props[n])
				b.errs = append(b.errs, errAt(p, "%s %q is configured but not listed in %s.%s", strings.TrimSuffix(kind, "s"), n, b.a.Name, kind))
			}
		}
	}
	for _, n := range kinds["channels"].list {
		b.channel(n, kinds["channels"])
	}
	for _, n := range kinds["sources"].list {
		b.source(n, kinds["sources"])
	}
	for _, n := range kinds["sinks"].list {
		b.sink(n, kinds["sinks"])
	}
	for _, n := range kinds["sinkgroups"].list {
		b.sinkGroup(n, kinds["sinkgroups"])
	}
	b.crossCheck()
}

func firstProp(s Section) Prop {
	var first Prop
	for _, p := range s.Props {
		if first.Line == 0 || p.Line < first.Line {
			first = p
		}
	}
	return first
}

// spec fills the common part of an entry: its type and its own keys.
func (b *builder) spec(kind, name string, e *entries, generic ...string) (Spec, string, bool) {
	s, ok := e.props[name]
	prefix := b.a.Name + "." + kind + "." + name
	if !ok {
		b.errs = append(b.errs, &Error{File: e.pos.File, Line: e.pos.Line, Key: prefix + ".type", Msg: fmt.Sprintf("%s %q is listed but has no type", strings.TrimSuffix(kind, "s"), name)})
		return Spec{}, "", false
	}
	sp := Spec{Name: name, Prefix: prefix, Props: s.Without(append([]string{"type"}, generic...)...)}
	tp, ok := s.Props["type"]
	if !ok {
		p := firstProp(s)
		b.errs = append(b.errs, &Error{File: p.File, Line: p.Line, Key: prefix + ".type", Msg: "required property is missing"})
		return sp, "", false
	}
	sp.Type = strings.TrimSpace(tp.Value)
	sp.Pos = tp
	return sp, sp.Type, true
}

// lookupType finds a factory by exact type, then case-insensitively (Flume
// upper-cases short type names before looking them up).
func lookupType[F any](m map[string]F, typ string) (F, bool) {
	if f, ok := m[typ]; ok {
		return f, true
	}
	for k, f := range m {
		if strings.EqualFold(k, typ) {
			return f, true
		}
	}
	var zero F
	return zero, false
}

func (b *builder) decode(sp *Spec, cfg component.Config) {
	sp.Config = cfg
	errs := Decode(sp.Props, cfg, sp.Pos)
	if len(errs) > 0 {
		if b.failed == nil {
			b.failed = map[string]bool{}
		}
		b.failed[sp.Prefix] = true
	}
	b.errs = append(b.errs, errs...)
}

func (b *builder) channel(name string, e *entries) {
	sp, typ, ok := b.spec("channels", name, e)
	if !ok {
		return
	}
	f, ok := lookupType(b.f.Channels, typ)
	if !ok {
		b.errs = append(b.errs, errAt(sp.Pos, "unknown channel type %q", typ))
		return
	}
	b.decode(&sp, f.NewConfig())
	b.a.Channels = append(b.a.Channels, &ChannelSpec{Spec: sp, Factory: f})
}

func (b *builder) source(name string, e *entries) {
	sp, typ, ok := b.spec("sources", name, e, "channels", "channel", "selector.", "interceptors", "interceptors.")
	raw := e.props[name]
	src := &SourceSpec{Spec: sp}
	singular, hasSingular := raw.Props["channel"]
	if hasSingular {
		b.errs = append(b.errs, errAt(singular, `unknown property "channel" (a source's channels are set with %s.sources.%s.channels)`, b.a.Name, name))
	}
	if cp, ok := raw.Props["channels"]; ok {
		src.Channels = strings.Fields(cp.Value)
		for _, c := range src.Channels {
			if b.channelListed(c) == nil {
				b.errs = append(b.errs, errAt(cp, "channel %q does not exist", c))
			}
		}
	}
	if ok && len(src.Channels) == 0 && !hasSingular {
		b.errs = append(b.errs, &Error{File: sp.Pos.File, Line: sp.Pos.Line, Key: sp.Prefix + ".channels", Msg: "source has no channels"})
	}
	b.selector(src, raw.Sub("selector"))
	b.interceptors(src, raw)
	if !ok {
		return
	}
	f, ok := lookupType(b.f.Sources, typ)
	if !ok {
		b.errs = append(b.errs, errAt(sp.Pos, "unknown source type %q", typ))
		return
	}
	b.decode(&src.Spec, f.NewConfig())
	src.Factory = f
	b.a.Sources = append(b.a.Sources, src)
}

func (b *builder) channelListed(name string) *Prop {
	p, ok := b.byKey["channels"]
	if !ok || !slices.Contains(strings.Fields(p.Value), name) {
		return nil
	}
	return &p
}

func (b *builder) sink(name string, e *entries) {
	sp, typ, ok := b.spec("sinks", name, e, "channel", "channels")
	raw := e.props[name]
	sk := &SinkSpec{Spec: sp}
	plural, hasPlural := raw.Props["channels"]
	if hasPlural {
		b.errs = append(b.errs, errAt(plural, `unknown property "channels" (a sink takes one channel, set with %s.sinks.%s.channel)`, b.a.Name, name))
	}
	if cp, has := raw.Props["channel"]; has {
		switch fs := strings.Fields(cp.Value); len(fs) {
		case 0:
			b.errs = append(b.errs, errAt(cp, "sink has no channel"))
		case 1:
			sk.Channel = fs[0]
			if b.channelListed(sk.Channel) == nil {
				b.errs = append(b.errs, errAt(cp, "channel %q does not exist", sk.Channel))
			}
		default:
			b.errs = append(b.errs, errAt(cp, "a sink takes one channel, got %d: %s", len(fs), strings.Join(fs, " ")))
		}
	} else if ok && !hasPlural {
		b.errs = append(b.errs, &Error{File: sp.Pos.File, Line: sp.Pos.Line, Key: sp.Prefix + ".channel", Msg: "sink has no channel"})
	}
	if !ok {
		return
	}
	f, ok := lookupType(b.f.Sinks, typ)
	if !ok {
		b.errs = append(b.errs, errAt(sp.Pos, "unknown sink type %q", typ))
		return
	}
	b.decode(&sk.Spec, f.NewConfig())
	sk.Factory = f
	b.a.Sinks = append(b.a.Sinks, sk)
}

func (b *builder) sinkGroup(name string, e *entries) {
	s, ok := e.props[name]
	prefix := b.a.Name + ".sinkgroups." + name
	if !ok {
		b.errs = append(b.errs, &Error{File: e.pos.File, Line: e.pos.Line, Key: prefix + ".sinks", Msg: fmt.Sprintf("sink group %q is listed but has no sinks", name)})
		return
	}
	g := &SinkGroupSpec{Name: name}
	for k, p := range s.Without("sinks", "processor.").Props {
		b.errs = append(b.errs, errAt(p, "unknown property %q", k))
	}
	sp, ok := s.Props["sinks"]
	if !ok {
		p := firstProp(s)
		b.errs = append(b.errs, &Error{File: p.File, Line: p.Line, Key: prefix + ".sinks", Msg: "required property is missing"})
		return
	}
	g.Pos = sp
	g.Sinks = strings.Fields(sp.Value)
	if len(g.Sinks) == 0 {
		b.errs = append(b.errs, errAt(sp, "sink group has no sinks"))
		return
	}
	listed := strings.Fields(b.byKey["sinks"].Value)
	for _, k := range g.Sinks {
		if !slices.Contains(listed, k) {
			b.errs = append(b.errs, errAt(sp, "sink %q does not exist", k))
		}
	}
	// A group whose processor is bad is still recorded, so a sink listed in
	// two groups is reported too.
	if b.processor(g, s.Sub("processor")) && g.Processor.Type == ProcessorDefault && len(g.Sinks) > 1 {
		b.errs = append(b.errs, errAt(sp, "the default sink processor drives one sink, got %d (use failover or load_balance)", len(g.Sinks)))
	}
	b.a.SinkGroups = append(b.a.SinkGroups, g)
}

// crossCheck validates what spans components: batch sizes against the
// channel's transactionCapacity, and sinks in more than one group.
func (b *builder) crossCheck() {
	txCap := func(name string) (int, bool) {
		c := b.a.Channel(name)
		if c == nil || b.failed[c.Prefix] {
			return 0, false
		}
		t, ok := c.Config.(component.TxCapacity)
		if !ok {
			return 0, false
		}
		return t.TransactionCapacity(), true
	}
	for _, s := range b.a.Sources {
		bs, ok := s.Config.(component.BatchSizer)
		if !ok || b.failed[s.Prefix] {
			continue
		}
		for _, c := range s.Channels {
			if tc, ok := txCap(c); ok && bs.BatchSize() > tc && !lowerDefault(&s.Spec, tc) {
				b.errs = append(b.errs, b.batchErr(&s.Spec, bs.BatchSize(), c, tc))
			}
		}
	}
	for _, s := range b.a.Sinks {
		if bs, ok := s.Config.(component.BatchSizer); ok && !b.failed[s.Prefix] {
			if tc, ok := txCap(s.Channel); ok && bs.BatchSize() > tc && !lowerDefault(&s.Spec, tc) {
				b.errs = append(b.errs, b.batchErr(&s.Spec, bs.BatchSize(), s.Channel, tc))
			}
		}
	}
	inGroup := map[string]string{}
	for _, g := range b.a.SinkGroups {
		for _, k := range g.Sinks {
			if other, ok := inGroup[k]; ok {
				b.errs = append(b.errs, errAt(g.Pos, "sink %q is already in sink group %q", k, other))
			}
			inGroup[k] = g.Name
		}
	}
	used := map[string]bool{}
	for _, s := range b.a.Sources {
		for _, c := range s.Channels {
			used[c] = true
		}
	}
	for _, s := range b.a.Sinks {
		used[s.Channel] = true
	}
	for _, c := range b.a.Channels {
		if !used[c.Name] {
			b.a.Warnings = append(b.a.Warnings, fmt.Sprintf("%s: channel %q is connected to no source or sink", c.Pos.Pos(), c.Name))
		}
	}
}

// batchKeys are the properties that set a batch size: the common one and
// the prefixed ones of file_roll (sink.batchSize) and parquet
// (parquet.batchSize, Flume's hdfs.batchSize), and the forward sink's batch-size.
var batchKeys = []string{"sink.batchSize", "parquet.batchSize", "batch-size", "batchSize"}

// batchProp returns the property that set sp's batch size, if the user set
// one.
func batchProp(sp *Spec) (Prop, bool) {
	for _, k := range batchKeys {
		if p, ok := sp.Props.Props[k]; ok {
			return p, true
		}
	}
	return Prop{}, false
}

// lowerDefault fits a batch size the user did not set to the channel's
// transactionCapacity, if the config allows it.
func lowerDefault(sp *Spec, tc int) bool {
	_, set := batchProp(sp)
	s, ok := sp.Config.(component.BatchSizeSetter)
	if set || !ok {
		return false
	}
	s.SetBatchSize(tc)
	return true
}

func (b *builder) batchErr(sp *Spec, size int, ch string, tc int) *Error {
	p, ok := batchProp(sp)
	what := strings.TrimPrefix(p.Key, sp.Prefix+".")
	if !ok {
		p = sp.Pos
		p.Key = sp.Prefix + ".batchSize"
		what = "default batchSize"
	}
	return errAt(p, "%s %d exceeds transactionCapacity %d of channel %q", what, size, tc, ch)
}
