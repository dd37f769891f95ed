package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/component"
)

// Fake source and sink configs, with the property names of the Flume
// components they stand for. The config package only decodes and checks
// them, so the factories have no Create.

type netcatConfig struct {
	Bind string `prop:"bind,required"`
	Port int    `prop:"port,required"`
	Ack  bool   `prop:"ack-every-event"`
}

func (c *netcatConfig) Validate() error {
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("port %d is not between 1 and 65535", c.Port)
	}
	return nil
}

type seqConfig struct {
	Batch       int   `prop:"batchSize"`
	TotalEvents int64 `prop:"totalEvents"`
}

func (c *seqConfig) BatchSize() int { return c.Batch }

type loggerConfig struct {
	MaxBytesToLog int `prop:"maxBytesToLog"`
}

type nullConfig struct {
	Batch int `prop:"batchSize"`
}

func (c *nullConfig) BatchSize() int { return c.Batch }

func (c *nullConfig) SetBatchSize(n int) { c.Batch = n }

func testFactories() component.Factories {
	return component.NewFactories(
		[]component.SourceFactory{
			{
				Type:      "netcat",
				Aliases:   []string{"org.apache.flume.source.NetcatSource"},
				NewConfig: func() component.Config { return &netcatConfig{} },
			},
			{
				Type:      "seq",
				Aliases:   []string{"org.apache.flume.source.SequenceGeneratorSource"},
				NewConfig: func() component.Config { return &seqConfig{Batch: 1, TotalEvents: -1} },
			},
		},
		[]component.ChannelFactory{channel.MemoryFactory()},
		[]component.SinkFactory{
			{
				Type:      "logger",
				Aliases:   []string{"org.apache.flume.sink.LoggerSink"},
				NewConfig: func() component.Config { return &loggerConfig{MaxBytesToLog: 16} },
			},
			{
				Type:      "null",
				Aliases:   []string{"org.apache.flume.sink.NullSink"},
				NewConfig: func() component.Config { return &nullConfig{Batch: 100} },
			},
		},
	)
}

// unsetVar is referenced by the testdata files and must not be set.
const unsetVar = "VSCOPE_TEST_UNSET_VAR"

func checkUnset(t *testing.T) {
	t.Helper()
	if _, ok := os.LookupEnv(unsetVar); ok {
		t.Skipf("%s is set in the environment", unsetVar)
	}
}

// load parses text as f.conf and loads agent a1 with env as the
// environment.
func load(t *testing.T, text string, env map[string]string) (*Agent, error) {
	t.Helper()
	props, err := Parse(strings.NewReader(text), "f.conf")
	if err != nil {
		t.Fatal(err)
	}
	return Load(props, "f.conf", "a1", testFactories(), lookupMap(env))
}

func TestLoadFlumeGuideExample(t *testing.T) {
	a, err := LoadFile("testdata/flume-guide.conf", "a1", testFactories())
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "a1" || a.File != "testdata/flume-guide.conf" {
		t.Errorf("agent %q from %q", a.Name, a.File)
	}
	if len(a.Sources) != 1 || len(a.Channels) != 1 || len(a.Sinks) != 1 || len(a.SinkGroups) != 0 {
		t.Fatalf("got %d sources, %d channels, %d sinks, %d sink groups", len(a.Sources), len(a.Channels), len(a.Sinks), len(a.SinkGroups))
	}
	if len(a.Warnings) != 0 {
		t.Errorf("warnings: %q", a.Warnings)
	}

	r := a.Sources[0]
	if r.Name != "r1" || r.Type != "netcat" || r.Prefix != "a1.sources.r1" || r.Factory.Type != "netcat" {
		t.Errorf("source: %+v", r.Spec)
	}
	if r.Pos.Pos() != "testdata/flume-guide.conf:9" || r.Pos.Key != "a1.sources.r1.type" {
		t.Errorf("source declared at %s %s", r.Pos.Pos(), r.Pos.Key)
	}
	if !reflect.DeepEqual(r.Channels, []string{"c1"}) || r.Selector.Optional != nil {
		t.Errorf("source channels %q, optional %q", r.Channels, r.Selector.Optional)
	}
	if got, want := r.Config, (&netcatConfig{Bind: "localhost", Port: 44444}); !reflect.DeepEqual(got, want) {
		t.Errorf("source config %+v, want %+v", got, want)
	}
	if got := sortedKeys(r.Props.Props); !reflect.DeepEqual(got, []string{"bind", "port"}) {
		t.Errorf("source props %q: type and channels belong to the agent", got)
	}

	c := a.Channel("c1")
	if c == nil || c != a.Channels[0] || c.Type != "memory" || c.Factory.Type != "memory" {
		t.Fatalf("channel: %+v", c)
	}
	want := channel.NewMemoryConfig()
	want.Capacity, want.TxCapacity = 1000, 100
	if !reflect.DeepEqual(c.Config, want) {
		t.Errorf("channel config %+v, want %+v", c.Config, want)
	}
	if a.Channel("c2") != nil {
		t.Error("Channel(c2) is not nil")
	}

	k := a.Sinks[0]
	if k.Name != "k1" || k.Type != "logger" || k.Channel != "c1" || k.Factory.Type != "logger" || len(k.Props.Props) != 0 {
		t.Errorf("sink: %+v", k)
	}
	if got, want := k.Config, (&loggerConfig{MaxBytesToLog: 16}); !reflect.DeepEqual(got, want) {
		t.Errorf("sink config %+v, want %+v", got, want)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestLoadMultiAgent(t *testing.T) {
	checkUnset(t)
	a, err := LoadFile("testdata/multi-agent.conf", "a1", testFactories())
	if err != nil {
		t.Fatalf("a1: %v", err)
	}
	if len(a.Sources) != 1 || a.Sources[0].Type != "seq" || len(a.Sinks) != 1 || a.Sinks[0].Type != "null" {
		t.Errorf("a1: %+v", a)
	}
	_, err = LoadFile("testdata/multi-agent.conf", "a2", testFactories())
	want := `testdata/multi-agent.conf:14: a2.sources.r1.type: unknown source type "nosuchsource"
testdata/multi-agent.conf:16: a2.sources.r1.port: environment variable VSCOPE_TEST_UNSET_VAR is not set
testdata/multi-agent.conf:18: a2.bogus: unknown key (an agent's keys start with a2.sources, a2.channels, a2.sinks or a2.sinkgroups)`
	if err == nil || err.Error() != want {
		t.Errorf("a2: got\n%v\nwant\n%s", err, want)
	}
	_, err = LoadFile("testdata/multi-agent.conf", "a3", testFactories())
	if want := `testdata/multi-agent.conf: no properties for agent "a3" (keys must start with "a3.")`; err == nil || err.Error() != want {
		t.Errorf("a3: got %v", err)
	}
}

// TestLoadTypeNames checks that type names are case-insensitive and that
// Flume's class names are accepted.
func TestLoadTypeNames(t *testing.T) {
	a, err := load(t, `
a1.sources = r1 r2
a1.channels = c1 c2
a1.sinks = k1 k2
a1.sources.r1.type = NETCAT
a1.sources.r1.bind = 0.0.0.0
a1.sources.r1.port = 1
a1.sources.r1.channels = c1
a1.sources.r2.type = org.apache.flume.source.SequenceGeneratorSource
a1.sources.r2.channels = c2
a1.channels.c1.type = Memory
a1.channels.c2.type = org.apache.flume.channel.MemoryChannel
a1.sinks.k1.type = org.apache.flume.sink.LoggerSink
a1.sinks.k1.channel = c1
a1.sinks.k2.type = NULL
a1.sinks.k2.channel = c2
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range a.Sources {
		got = append(got, s.Name+" "+s.Type+" -> "+s.Factory.Type)
	}
	for _, c := range a.Channels {
		got = append(got, c.Name+" "+c.Type+" -> "+c.Factory.Type)
	}
	for _, k := range a.Sinks {
		got = append(got, k.Name+" "+k.Type+" -> "+k.Factory.Type)
	}
	want := []string{
		"r1 NETCAT -> netcat",
		"r2 org.apache.flume.source.SequenceGeneratorSource -> seq",
		"c1 Memory -> memory",
		"c2 org.apache.flume.channel.MemoryChannel -> memory",
		"k1 org.apache.flume.sink.LoggerSink -> logger",
		"k2 NULL -> null",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if _, ok := a.Sources[1].Config.(*seqConfig); !ok {
		t.Errorf("r2 config is %T", a.Sources[1].Config)
	}
}

func TestLoadEnv(t *testing.T) {
	a, err := load(t, `
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = netcat
a1.sources.r1.bind = ${HOST}
a1.sources.r1.port = ${PORT}
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = ${CAP}
a1.sinks.k1.type = logger
a1.sinks.k1.channel = c1
`, map[string]string{"HOST": "example.org", "PORT": "4141", "CAP": "5000"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Sources[0].Config, (&netcatConfig{Bind: "example.org", Port: 4141}); !reflect.DeepEqual(got, want) {
		t.Errorf("source config %+v, want %+v", got, want)
	}
	if got := a.Channels[0].Config.(*channel.MemoryConfig).Capacity; got != 5000 {
		t.Errorf("capacity %d", got)
	}
	// The substituted value is what Same compares.
	if v := a.Sources[0].Props.Props["port"].Value; v != "4141" {
		t.Errorf("port prop %q", v)
	}
}

func TestLoadFileEnv(t *testing.T) {
	t.Setenv("VSCOPE_TEST_PORT", "5555")
	path := filepath.Join(t.TempDir(), "env.conf")
	text := strings.Replace(readFile(t, "testdata/flume-guide.conf"), "44444", "${VSCOPE_TEST_PORT}", 1)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := LoadFile(path, "a1", testFactories())
	if err != nil {
		t.Fatal(err)
	}
	if port := a.Sources[0].Config.(*netcatConfig).Port; port != 5555 {
		t.Errorf("port %d", port)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadSelectorAndSinkGroups(t *testing.T) {
	a, err := load(t, `
a1.sources = r1
a1.channels = c1 c2
a1.sinks = k1 k2 k3
a1.sinkgroups = g1
a1.sources.r1.type = seq
a1.sources.r1.channels = c1 c2
a1.sources.r1.selector.type = REPLICATING
a1.sources.r1.selector.optional = c2
a1.channels.c1.type = memory
a1.channels.c2.type = memory
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
a1.sinks.k2.type = null
a1.sinks.k2.channel = c1
a1.sinks.k3.type = null
a1.sinks.k3.channel = c2
a1.sinkgroups.g1.sinks = k1 k2
a1.sinkgroups.g1.processor.type = failover
a1.sinkgroups.g1.processor.priority.k1 = 5
a1.sinkgroups.g1.processor.priority.k2 = 10
a1.sinkgroups.g1.processor.maxpenalty = 10000
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := a.Sources[0]
	if !reflect.DeepEqual(r.Channels, []string{"c1", "c2"}) || !reflect.DeepEqual(r.Selector.Optional, []string{"c2"}) {
		t.Errorf("channels %q, optional %q", r.Channels, r.Selector.Optional)
	}
	if len(r.Props.Props) != 0 {
		t.Errorf("selector keys left in the source's props: %q", sortedKeys(r.Props.Props))
	}
	if len(a.SinkGroups) != 1 {
		t.Fatalf("sink groups: %+v", a.SinkGroups)
	}
	g := a.SinkGroups[0]
	if g.Name != "g1" || !reflect.DeepEqual(g.Sinks, []string{"k1", "k2"}) || g.Pos.Line != 18 {
		t.Errorf("sink group: %+v", g)
	}
	want := ProcessorSpec{Type: ProcessorFailover, Priority: map[string]int{"k1": 5, "k2": 10}, MaxPenalty: 10000}
	if !reflect.DeepEqual(g.Processor, want) {
		t.Errorf("processor %+v, want %+v", g.Processor, want)
	}
}

func TestLoadWarnings(t *testing.T) {
	a, err := load(t, `a1.sources = r1
a1.channels = c1 c2
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 10
a1.channels.c1.capacity = 20
a1.channels.c1.transactionCapacity = 10
a1.channels.c2.type = memory
a1.sinks.k1.type = null
a1.sinks.k1.batchSize = 5
a1.sinks.k1.channel = c1
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"f.conf:7: a1.channels.c1.capacity: set again at line 8; the last value wins",
		`f.conf:10: channel "c2" is connected to no source or sink`,
	}
	if !reflect.DeepEqual(a.Warnings, want) {
		t.Errorf("warnings:\n%s\nwant\n%s", strings.Join(a.Warnings, "\n"), strings.Join(want, "\n"))
	}
	if got := a.Channel("c1").Config.(*channel.MemoryConfig).Capacity; got != 20 {
		t.Errorf("capacity %d, want the last value 20", got)
	}
}

// badConfigs is the error text expected from each testdata/NAME.bad.conf,
// loaded as agent a1: every problem at once, in line order, each with
// file:line and key path.
var badConfigs = map[string]string{
	"flow-routing": `testdata/flow-routing.bad.conf:9: a1.sources.r1.selector.mapping.CA: channel "c9" is not one of the source's channels
testdata/flow-routing.bad.conf:10: a1.sources.r1.selector.optional.CA: channel "c3" is not one of the source's channels
testdata/flow-routing.bad.conf:12: a1.sources.r1.selector.fallback: unknown property "fallback"
testdata/flow-routing.bad.conf:25: a1.sinkgroups.g1.processor.priority.k1: "high" is not an integer
testdata/flow-routing.bad.conf:26: a1.sinkgroups.g1.processor.priority.k3: sink "k3" is not in sink group "g1"
testdata/flow-routing.bad.conf:29: a1.sinkgroups.g2.processor.selector: unknown selector "fastest" (round_robin or random)
testdata/flow-routing.bad.conf:30: a1.sinkgroups.g2.processor.selector.maxTimeOut: selector.maxTimeOut must be positive, got 0`,
	"bad-number": `testdata/bad-number.bad.conf:18: a1.channels.c1.capacity: "ten" is not an integer`,
	"bare-component-key": `testdata/bare-component-key.bad.conf:12: a1.sources.r1: unknown key (expected a1.sources.r1.<property>)
testdata/bare-component-key.bad.conf:13: a1.channels.c1.type.x: unknown property "type.x"`,
	"batch-size": `testdata/batch-size.bad.conf:11: a1.sources.r1.batchSize: batchSize 500 exceeds transactionCapacity 100 of channel "c1"
testdata/batch-size.bad.conf:18: a1.sinks.k1.batchSize: batchSize 200 exceeds transactionCapacity 100 of channel "c1"`,
	"empty": `testdata/empty.bad.conf: no properties for agent "a1" (keys must start with "a1.")`,
	"interceptors": `testdata/interceptors.bad.conf:23: a1.sources.r1.interceptors.i2.type: interceptor "i2" is listed but has no type
testdata/interceptors.bad.conf:24: a1.sources.r1.interceptors.i1.type: unknown interceptor type "nosuch"
testdata/interceptors.bad.conf:25: a1.sources.r1.interceptors.i3.type: interceptor "i3" is configured but not listed in a1.sources.r1.interceptors`,
	"listed-no-type": `testdata/listed-no-type.bad.conf:4: a1.sources.r2.type: source "r2" is listed but has no type
testdata/listed-no-type.bad.conf:5: a1.sinks.k2.type: sink "k2" is listed but has no type
testdata/listed-no-type.bad.conf:6: a1.channels.c2.type: channel "c2" is listed but has no type
testdata/listed-no-type.bad.conf:24: a1.sinks.k3.type: required property is missing`,
	"listed-twice":     `testdata/listed-twice.bad.conf:4: a1.sources: source "r1" is listed twice`,
	"malformed-escape": `testdata/malformed-escape.bad.conf:10: a1.sources.r1.bind: malformed \uXXXX escape "\u00ho"`,
	"no-agent":         `testdata/no-agent.bad.conf: no properties for agent "a1" (keys must start with "a1.")`,
	"not-listed":       `testdata/not-listed.bad.conf:15: a1.sinks.k2.type: sink "k2" is configured but not listed in a1.sinks`,
	"optional-channel": `testdata/optional-channel.bad.conf:7: a1.sources.r1.selector.optional: channel "c2" is not one of the source's channels`,
	"selector-key": `testdata/selector-key.bad.conf:23: a1.sources.r1.selector.header: unknown property "header"
testdata/selector-key.bad.conf:24: a1.sources.r1.selector.mapping.CA: unknown property "mapping.CA"`,
	"several": `testdata/several.bad.conf:7: a1.sources.r1: port 70000 is not between 1 and 65535
testdata/several.bad.conf:8: a1.sources.r1.bind: environment variable VSCOPE_TEST_UNSET_VAR is not set
testdata/several.bad.conf:10: a1.sources.r1.channels: channel "c3" does not exist
testdata/several.bad.conf:12: a1.sources.r2.type: unknown source type "nosuch"
testdata/several.bad.conf:16: a1.channels.c1.capacity: "ten" is not an integer
testdata/several.bad.conf:18: a1.channels.c2: transactionCapacity 100 exceeds capacity 10
testdata/several.bad.conf:22: a1.sinks.k1.channel: sink has no channel
testdata/several.bad.conf:23: a1.sinks.k1.chanel: unknown property "chanel"
testdata/several.bad.conf:28: a1.sinks.k3.type: sink "k3" is configured but not listed in a1.sinks
testdata/several.bad.conf:29: a1.sinkgroups.g1.sinks: sink "k4" does not exist
testdata/several.bad.conf:29: a1.sinkgroups.g1.sinks: the default sink processor drives one sink, got 2 (use failover or load_balance)
testdata/several.bad.conf:30: a1.foo: unknown key (an agent's keys start with a1.sources, a1.channels, a1.sinks or a1.sinkgroups)`,
	"sink-channel-missing": `testdata/sink-channel-missing.bad.conf:23: a1.sinks.k1.channel: channel "c9" does not exist`,
	"sink-channel-value": `testdata/sink-channel-value.bad.conf:9: a1.sinks.k1.channel: sink has no channel
testdata/sink-channel-value.bad.conf:11: a1.sinks.k2.channel: a sink takes one channel, got 2: c1 c2`,
	"sink-channels-plural": `testdata/sink-channels-plural.bad.conf:23: a1.sinks.k1.channels: unknown property "channels" (a sink takes one channel, set with a1.sinks.k1.channel)`,
	"sink-no-channel":      `testdata/sink-no-channel.bad.conf:14: a1.sinks.k1.channel: sink has no channel`,
	"sinkgroups": `testdata/sinkgroups.bad.conf:4: a1.sinkgroups.g4.sinks: sink group "g4" is listed but has no sinks
testdata/sinkgroups.bad.conf:13: a1.sinkgroups.g1.sinks: sink "k3" does not exist
testdata/sinkgroups.bad.conf:14: a1.sinkgroups.g1.processor.maxpenalty: unknown property "maxpenalty"
testdata/sinkgroups.bad.conf:16: a1.sinkgroups.g2.sinks: sink "k1" is already in sink group "g1"
testdata/sinkgroups.bad.conf:20: a1.sinkgroups.g3.sinks: required property is missing
testdata/sinkgroups.bad.conf:21: a1.sinkgroups.g3.foo: unknown property "foo"
testdata/sinkgroups.bad.conf:23: a1.sinkgroups.g5.sinks: sink group has no sinks`,
	"source-channel-missing":  `testdata/source-channel-missing.bad.conf:22: a1.sources.r1.channels: channel "c2" does not exist`,
	"source-channel-singular": `testdata/source-channel-singular.bad.conf:22: a1.sources.r1.channel: unknown property "channel" (a source's channels are set with a1.sources.r1.channels)`,
	"source-no-channels": `testdata/source-no-channels.bad.conf:4: a1.sources.r1.channels: source has no channels
testdata/source-no-channels.bad.conf:5: a1.sources.r2.channels: source has no channels`,
	"tx-over-capacity":     `testdata/tx-over-capacity.bad.conf:17: a1.channels.c1: transactionCapacity 1000 exceeds capacity 100`,
	"unknown-agent-key":    `testdata/unknown-agent-key.bad.conf:7: a1.foo: unknown key (an agent's keys start with a1.sources, a1.channels, a1.sinks or a1.sinkgroups)`,
	"unknown-channel-type": `testdata/unknown-channel-type.bad.conf:17: a1.channels.c1.type: unknown channel type "memroy"`,
	"unknown-component-key": `testdata/unknown-component-key.bad.conf:9: a1.sources.r1.port: required property is missing
testdata/unknown-component-key.bad.conf:11: a1.sources.r1.prot: unknown property "prot"`,
	"unknown-selector":    `testdata/unknown-selector.bad.conf:23: a1.sources.r1.selector.type: unknown selector type "geographic" (replicating or multiplexing)`,
	"unknown-sink-type":   `testdata/unknown-sink-type.bad.conf:14: a1.sinks.k1.type: unknown sink type "lumberjack"`,
	"unknown-source-type": `testdata/unknown-source-type.bad.conf:9: a1.sources.r1.type: unknown source type "netkitten"`,
	"unset-var":           `testdata/unset-var.bad.conf:11: a1.sources.r1.port: environment variable VSCOPE_TEST_UNSET_VAR is not set`,
}

func TestLoadBad(t *testing.T) {
	checkUnset(t)
	files, err := filepath.Glob("testdata/*.bad.conf")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".bad.conf")
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := badConfigs[name]
			if !ok {
				t.Fatalf("%s has no entry in badConfigs", path)
			}
			a, err := LoadFile(path, "a1", testFactories())
			if err == nil {
				t.Fatalf("loaded without error: %+v", a)
			}
			if a != nil {
				t.Errorf("got an agent as well as errors")
			}
			if got := err.Error(); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
	for name := range badConfigs {
		if !seen[name] {
			t.Errorf("badConfigs[%q] has no testdata/%s.bad.conf", name, name)
		}
	}
}

// TestLoadErrorsLocated checks that every error Load returns is a *Error
// with a file, a line and a key, except the one that no key can carry.
func TestLoadErrorsLocated(t *testing.T) {
	checkUnset(t)
	for name := range badConfigs {
		if name == "empty" || name == "no-agent" {
			continue
		}
		_, err := LoadFile("testdata/"+name+".bad.conf", "a1", testFactories())
		var es Errors
		if !errors.As(err, &es) {
			t.Errorf("%s: %T is not Errors", name, err)
			continue
		}
		for _, e := range es {
			if e.File == "" || e.Line == 0 || !strings.HasPrefix(e.Key, "a1.") {
				t.Errorf("%s: not located: %+v", name, *e)
			}
		}
	}
}

// TestSpecSame checks the reload test: a component is kept when its type
// and property values are unchanged, wherever in the file they moved.
func TestSpecSame(t *testing.T) {
	guide := readFile(t, "testdata/flume-guide.conf")
	base, err := load(t, guide, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same agent, reordered, reformatted and with a capacity that
	// comes from the environment.
	moved, err := load(t, `
a1.channels.c1.transactionCapacity: 100
a1.channels.c1.capacity   ${CAP}
a1.channels.c1.type = memory
a1.channels = c1
a1.sinks = k1
a1.sinks.k1.channel = c1
a1.sinks.k1.type = logger
a1.sources = r1
a1.sources.r1.channels = c1
a1.sources.r1.port = 44444
a1.sources.r1.bind = local\
                     host
a1.sources.r1.type = netcat
`, map[string]string{"CAP": "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if !base.Channels[0].Same(&moved.Channels[0].Spec) {
		t.Error("channel: moved keys are not Same")
	}
	if !base.Sources[0].Same(&moved.Sources[0].Spec) {
		t.Error("source: moved keys are not Same")
	}
	if !base.Sinks[0].Same(&moved.Sinks[0].Spec) {
		t.Error("sink: moved keys are not Same")
	}

	channelSame := func(name, text string, want bool) {
		t.Helper()
		b, err := load(t, text, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := base.Channels[0].Same(&b.Channels[0].Spec); got != want {
			t.Errorf("%s: Same = %v, want %v", name, got, want)
		}
		if got := b.Channels[0].Same(&base.Channels[0].Spec); got != want {
			t.Errorf("%s, the other way: Same = %v, want %v", name, got, want)
		}
	}
	channelSame("unchanged", guide, true)
	channelSame("value changed", strings.Replace(guide, "capacity = 1000", "capacity = 2000", 1), false)
	channelSame("key added", guide+"a1.channels.c1.keep-alive = 3\n", false)
	channelSame("key removed", strings.Replace(guide, "a1.channels.c1.capacity = 1000\n", "", 1), false)
	channelSame("type renamed", strings.Replace(guide, "c1.type = memory", "c1.type = org.apache.flume.channel.MemoryChannel", 1), false)

	a := &Spec{Type: "memory", Props: Section{Props: map[string]Prop{"capacity": {Value: "10"}}}}
	b := &Spec{Type: "memory", Props: Section{Props: map[string]Prop{"keep-alive": {Value: "10"}}}}
	if a.Same(b) || b.Same(a) {
		t.Error("different keys with the same count are Same")
	}
}

// A default batch size larger than a small transactionCapacity is lowered
// to fit, as a Flume user with transactionCapacity 10 would expect; one the
// user set is an error (TestLoadBad).
func TestLoadLowersDefaultBatchSize(t *testing.T) {
	a, err := load(t, `
a1.sources = r1
a1.channels = c1
a1.sinks = k1
a1.sources.r1.type = seq
a1.sources.r1.channels = c1
a1.channels.c1.type = memory
a1.channels.c1.capacity = 50
a1.channels.c1.transactionCapacity = 10
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Sinks[0].Config.(*nullConfig).Batch; got != 10 {
		t.Fatalf("null sink batch size %d, want it lowered to 10", got)
	}
}

func TestLoadMultiplexingAndLoadBalance(t *testing.T) {
	a, err := load(t, `
a1.sources = r1
a1.channels = c1 c2 c3
a1.sinks = k1 k2
a1.sinkgroups = g1
a1.sources.r1.type = seq
a1.sources.r1.channels = c1 c2 c3
a1.sources.r1.selector.type = org.apache.flume.channel.MultiplexingChannelSelector
a1.sources.r1.selector.header = state
a1.sources.r1.selector.mapping.CA = c1
a1.sources.r1.selector.mapping.AZ = c2 c3
a1.sources.r1.selector.optional.CA = c3
a1.sources.r1.selector.default = c2
a1.channels.c1.type = memory
a1.channels.c2.type = memory
a1.channels.c3.type = memory
a1.sinks.k1.type = null
a1.sinks.k1.channel = c1
a1.sinks.k2.type = null
a1.sinks.k2.channel = c1
a1.sinkgroups.g1.sinks = k1 k2
a1.sinkgroups.g1.processor.type = load_balance
a1.sinkgroups.g1.processor.backoff = true
a1.sinkgroups.g1.processor.selector = random
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := SelectorSpec{Type: SelectorMultiplexing, Header: "state", Default: []string{"c2"},
		Mapping:         map[string][]string{"CA": {"c1"}, "AZ": {"c2", "c3"}},
		OptionalMapping: map[string][]string{"CA": {"c3"}}}
	if got := a.Sources[0].Selector; !reflect.DeepEqual(got, want) {
		t.Errorf("selector %+v, want %+v", got, want)
	}
	wantP := ProcessorSpec{Type: ProcessorLoadBalance, Selector: "random", Backoff: true, MaxTimeOut: 30000}
	if got := a.SinkGroups[0].Processor; !reflect.DeepEqual(got, wantP) {
		t.Errorf("processor %+v, want %+v", got, wantP)
	}
}
