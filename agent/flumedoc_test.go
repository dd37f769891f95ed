package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/catalog"
	"github.com/vscope/vscope/agent/channel"
	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
	"github.com/vscope/vscope/agent/interceptor"
	"github.com/vscope/vscope/agent/sink"
	"github.com/vscope/vscope/agent/source"
)

// The Flume user guide's example configurations live in testdata/flumedoc,
// one per file: the guide's lines unchanged, plus, where the guide shows a
// fragment, a marked "completion" (a channel type, a source) so the agent
// is whole. The tests below load each file as it is, then run it with only
// ports, bind addresses and directories adapted, and check what the guide
// says the configuration does.

const flumedocDir = "testdata/flumedoc"

// flumedocAgent is the agent each file configures; "a1" unless listed.
var flumedocAgent = map[string]string{"multiplexing-optional.conf": "agent_foo"}

// flumedocWarnings are the warnings a file is expected to load with.
var flumedocWarnings = map[string][]string{
	// The guide's optional-channels example sets mapping.AZ twice.
	"multiplexing-optional.conf": {"testdata/flumedoc/multiplexing-optional.conf:24: agent_foo.sources.avro-AppSrv-source1.selector.mapping.AZ: set again at line 27; the last value wins"},
}

func agentOf(file string) string {
	if a, ok := flumedocAgent[file]; ok {
		return a
	}
	return "a1"
}

func TestFlumeDocExamplesValidate(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(flumedocDir, "*.conf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", flumedocDir, err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		if strings.HasSuffix(name, ".bad.conf") {
			continue
		}
		cfg, err := config.LoadFile(path, agentOf(name), catalog.Default())
		if err != nil {
			t.Errorf("%s does not validate:\n%v", name, err)
			continue
		}
		if !slices.Equal(cfg.Warnings, flumedocWarnings[name]) {
			t.Errorf("%s: warnings %q, want %q", name, cfg.Warnings, flumedocWarnings[name])
		}
		if flumedocChecks[name] == nil && !flumedocOwnTest[name] {
			t.Errorf("%s is validated but no test runs it", name)
		}
	}
}

// TestFlumeDocBadExamples: guide examples that cannot work here are
// rejected with an error per line that cannot be honoured.
func TestFlumeDocBadExamples(t *testing.T) {
	want := map[string]string{
		"http-custom-handler.bad.conf": `testdata/flumedoc/http-custom-handler.bad.conf:11: a1.sources.r1.handler.nickname: unknown property "handler.nickname"
testdata/flumedoc/http-custom-handler.bad.conf:12: a1.sources.r1.HttpConfiguration.sendServerVersion: unknown property "HttpConfiguration.sendServerVersion"
testdata/flumedoc/http-custom-handler.bad.conf:13: a1.sources.r1.ServerConnector.idleTimeout: unknown property "ServerConnector.idleTimeout"`,
	}
	files, _ := filepath.Glob(filepath.Join(flumedocDir, "*.bad.conf"))
	if len(files) != len(want) {
		t.Fatalf("bad examples %v, want %d", files, len(want))
	}
	for _, path := range files {
		_, err := config.LoadFile(path, "a1", catalog.Default())
		if err == nil || err.Error() != want[filepath.Base(path)] {
			t.Errorf("%s:\ngot  %v\nwant %s", path, err, want[filepath.Base(path)])
		}
	}
	// Without its Jetty lines, the custom handler itself is refused.
	props, err := config.ParseFile(filepath.Join(flumedocDir, "http-custom-handler.bad.conf"))
	if err != nil {
		t.Fatal(err)
	}
	props = slices.DeleteFunc(props, func(p config.Prop) bool {
		return strings.Contains(p.Key, "Configuration.") || strings.Contains(p.Key, "Connector.") || strings.Contains(p.Key, "handler.")
	})
	_, err = config.Load(props, "http.conf", "a1", catalog.Default(), os.LookupEnv)
	if err == nil || !strings.Contains(err.Error(), `handler "org.example.rest.RestHandler" is not supported`) {
		t.Fatalf("custom handler: %v", err)
	}
}

// docRun is one guide example running in an agent.
type docRun struct {
	t       *testing.T
	a       *Agent
	cfg     *config.Agent
	dir     string    // where file_roll sinks write
	board   *recBoard // what recorder sinks took, if any
	start   time.Time
	srcMu   sync.Mutex
	sources map[string]component.Source
}

// docOptions are fast runner back-offs, a silent logger and a short drain
// wait for examples whose channels have no sink.
func docOptions(drain time.Duration) Options {
	o := fastOptions()
	o.Logger = slog.New(slog.DiscardHandler)
	o.DrainTimeout = drain
	return o
}

// runDoc loads the example file, adapts it to run here (port 0, bind
// 127.0.0.1, sink.directory in a temporary directory), applies the given
// property overrides, and starts an agent on it with
// factories f (catalog.Default() when nil). board is where the recorder
// sinks of f record.
func runDoc(t *testing.T, file string, f *component.Factories, board *recBoard, opts Options, override map[string]string) *docRun {
	t.Helper()
	r := &docRun{t: t, dir: t.TempDir(), board: board, sources: map[string]component.Source{}}
	path := filepath.Join(flumedocDir, file)
	props, err := config.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range props {
		switch {
		case strings.HasSuffix(p.Key, ".port"):
			props[i].Value = "0"
		case strings.HasSuffix(p.Key, ".bind"):
			props[i].Value = "127.0.0.1"
		case strings.HasSuffix(p.Key, ".sink.directory"):
			props[i].Value = r.dir
		}
	}
	for _, k := range slices.Sorted(maps.Keys(override)) {
		v := override[k]
		i := slices.IndexFunc(props, func(p config.Prop) bool { return p.Key == k })
		if i >= 0 {
			props[i].Value = v
		} else {
			props = append(props, config.Prop{Key: k, Value: v, File: path, Line: 1000 + len(props)})
		}
	}
	fs := catalog.Default()
	if f != nil {
		fs = *f
	}
	// Record the sources the agent creates, to find their listen address.
	wrapped := maps.Clone(fs.Sources)
	for typ, sf := range wrapped {
		create := sf.Create
		sf.Create = func(set component.SourceSettings, cfg component.Config) (component.Source, error) {
			s, err := create(set, cfg)
			if err == nil {
				r.srcMu.Lock()
				r.sources[set.Name] = s
				r.srcMu.Unlock()
			}
			return s, err
		}
		wrapped[typ] = sf
	}
	fs.Sources = wrapped
	name := agentOf(file)
	r.cfg, err = config.Load(props, path, name, fs, os.LookupEnv)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	r.a = New(name, fs, opts)
	t.Cleanup(func() { _ = r.a.Stop(context.Background()) })
	r.start = time.Now()
	if err := r.a.Apply(context.Background(), r.cfg); err != nil {
		t.Fatalf("%s: apply: %v", file, err)
	}
	return r
}

func (r *docRun) stop() {
	r.t.Helper()
	if err := r.a.Stop(context.Background()); err != nil {
		r.t.Fatalf("stop: %v", err)
	}
}

// addr is where the named network source listens.
func (r *docRun) addr(name string) string {
	r.t.Helper()
	r.srcMu.Lock()
	s := r.sources[name]
	r.srcMu.Unlock()
	l, ok := s.(interface{ Addr() net.Addr })
	if !ok {
		r.t.Fatalf("source %s (%T) has no address", name, s)
	}
	var a net.Addr
	await(r.t, "source "+name+" listening", func() bool { a = l.Addr(); return a != nil })
	return a.String()
}

// jsonEvent is one event in the http source's JSONHandler format.
type jsonEvent struct {
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body"`
}

// post sends events to the named http source and returns the status.
func (r *docRun) post(name string, events ...jsonEvent) int {
	r.t.Helper()
	body, err := json.Marshal(events)
	if err != nil {
		r.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+r.addr(name), bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	req.Close = true // no idle connection left behind for goleak
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (r *docRun) mustPost(name string, events ...jsonEvent) {
	r.t.Helper()
	if code := r.post(name, events...); code != http.StatusOK {
		r.t.Fatalf("POST to %s: status %d", name, code)
	}
}

func (r *docRun) channel(name string) *channel.Memory {
	r.t.Helper()
	c, ok := r.a.Channel(name).(*channel.Memory)
	if !ok {
		r.t.Fatalf("channel %s is %T", name, r.a.Channel(name))
	}
	return c
}

// take removes up to max events from the named channel, in as many
// transactions as its transactionCapacity needs.
func (r *docRun) take(name string, max int) []event.Event {
	r.t.Helper()
	var out []event.Event
	for len(out) < max {
		tx, err := r.channel(name).Take(context.Background(), max-len(out))
		if err != nil {
			r.t.Fatal(err)
		}
		evs := tx.Events()
		for _, e := range evs {
			out = append(out, e.Clone())
		}
		if err := tx.Commit(); err != nil {
			r.t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
	}
	return out
}

// takeOne waits for an event in the named channel and takes it.
func (r *docRun) takeOne(name string) event.Event {
	r.t.Helper()
	await(r.t, "an event in "+name, func() bool { return r.channel(name).Len() > 0 })
	return r.take(name, 1)[0]
}

// metric is a Flume counter of a component, e.g. ("k1", "EventDrainSuccessCount").
func (r *docRun) metric(comp, name string) float64 {
	for _, s := range r.a.Registry().Samples() {
		if s.Component == comp && s.Metric == name {
			return s.Value
		}
	}
	r.t.Fatalf("no %s counter for %s", name, comp)
	return 0
}

func (r *docRun) awaitDrained(sinks ...string) { r.awaitDrainedN(1, sinks...) }

// awaitDrainedN waits until the sinks drained at least n events together.
func (r *docRun) awaitDrainedN(n float64, sinks ...string) {
	r.t.Helper()
	await(r.t, fmt.Sprint(n, " events drained by ", sinks), func() bool {
		got := 0.0
		for _, k := range sinks {
			got += r.metric(k, "EventDrainSuccessCount")
		}
		return got >= n
	})
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func isIPv4(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() != nil
}

// checkRecentMillis asserts v is epoch milliseconds since the run started.
func (r *docRun) checkRecentMillis(what, v string) {
	r.t.Helper()
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < r.start.UnixMilli() || ms > time.Now().UnixMilli() {
		r.t.Fatalf("%s = %q, want epoch millis since %d", what, v, r.start.UnixMilli())
	}
}

// flumedocOwnTest lists the examples run by a test of their own; the
// others are run by TestFlumeDocExamplesRun with a flumedocChecks entry.
var flumedocOwnTest = map[string]bool{
	"replicating.conf":           true, // TestFlumeDocReplicatingOptional
	"multiplexing.conf":          true, // TestFlumeDocMultiplexing
	"multiplexing-optional.conf": true, // TestFlumeDocMultiplexingOptional
	"failover.conf":              true, // TestFlumeDocFailover
	"load_balance.conf":          true, // TestFlumeDocLoadBalance*
}

// flumedocChecks runs each simple example with the real components and
// checks what the guide says it does.
var flumedocChecks = map[string]func(r *docRun){
	"example.conf": func(r *docRun) {
		// The guide's telnet session: a line in, "OK" back, logged by k1.
		conn, err := net.Dial("tcp", r.addr("r1"))
		if err != nil {
			r.t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "Hello world!\r\n")
		if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || line != "OK\n" {
			r.t.Fatalf("netcat answered %q, %v", line, err)
		}
		r.awaitDrained("k1")
	},
	"netcat.conf": func(r *docRun) {
		conn, err := net.Dial("tcp", r.addr("r1"))
		if err != nil {
			r.t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "hello\n")
		if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || line != "OK\n" {
			r.t.Fatalf("netcat answered %q, %v", line, err)
		}
		if e := r.takeOne("c1"); string(e.Body) != "hello" {
			r.t.Fatalf("body %q", e.Body)
		}
	},
	"seq.conf": func(r *docRun) {
		if e := r.takeOne("c1"); string(e.Body) != "0" {
			r.t.Fatalf("first seq event %q, want 0", e.Body)
		}
	},
	"http.conf": func(r *docRun) {
		// The guide's JSONHandler example request.
		r.mustPost("r1",
			jsonEvent{Headers: map[string]string{"timestamp": "434324343", "host": "random_host.example.com"}, Body: "random_body"},
			jsonEvent{Headers: map[string]string{"namenode": "namenode.example.com", "datanode": "random_datanode.example.com"}, Body: "really_random_body"})
		evs := r.take("c1", 10)
		if len(evs) != 2 || string(evs[0].Body) != "random_body" || evs[0].Headers["host"] != "random_host.example.com" ||
			string(evs[1].Body) != "really_random_body" || evs[1].Headers["datanode"] != "random_datanode.example.com" {
			r.t.Fatalf("events %v", evs)
		}
	},
	"memory.conf":    func(r *docRun) { r.awaitDrained("k1") },
	"logger.conf":    func(r *docRun) { r.awaitDrained("k1") },
	"null.conf":      func(r *docRun) { r.awaitDrained("k1") },
	"sinkgroup.conf": func(r *docRun) { r.awaitDrained("k1", "k2") },
	"file_roll.conf": func(r *docRun) {
		r.awaitDrainedN(20, "k1")
		r.stop()
		if got := r.rolled(); !strings.HasPrefix(got, "0\n1\n2\n") {
			r.t.Fatalf("files hold %.20q, want the seq numbers one per line", got)
		}
	},
	"file_roll-text.conf": func(r *docRun) {
		r.awaitDrainedN(20, "k1")
		r.stop()
		if got := r.rolled(); !strings.HasPrefix(got, "0123456789101112") {
			r.t.Fatalf("files hold %.20q, want the seq numbers with no newline", got)
		}
	},
	"interceptors.conf": func(r *docRun) {
		e := r.board.sink("k1").first(r.t)
		if !isIPv4(e.Headers["hostname"]) {
			r.t.Fatalf("hostname header %q, want this host's IPv4 address", e.Headers["hostname"])
		}
		r.checkRecentMillis("timestamp", e.Headers["timestamp"])
	},
	"timestamp.conf": func(r *docRun) {
		r.checkRecentMillis("timestamp", r.takeOne("c1").Headers["timestamp"])
	},
	"host.conf": func(r *docRun) {
		if h := r.takeOne("c1").Headers["host"]; !isIPv4(h) {
			r.t.Fatalf("host header %q, want this host's IPv4 address (useIP defaults to true)", h)
		}
	},
	"static.conf": func(r *docRun) {
		if e := r.takeOne("c1"); e.Headers["datacenter"] != "NEW_YORK" || len(e.Headers) != 1 {
			r.t.Fatalf("headers %v, want datacenter=NEW_YORK", e.Headers)
		}
	},
	"uuid.conf": func(r *docRun) {
		if id := r.takeOne("c1").Headers["id"]; !uuidV4.MatchString(id) {
			r.t.Fatalf("id %q is not a version 4 UUID", id)
		}
	},
	"remove_header.conf": func(r *docRun) {
		r.mustPost("r1", jsonEvent{Body: "x", Headers: map[string]string{
			"password": "1", "user": "2", "session": "3", "token": "4", "x-debug-a": "5", "x-debug-b": "6",
			"keep": "7", "my-x-debug-a": "8", "tokens": "9"}})
		got := slices.Sorted(maps.Keys(r.takeOne("c1").Headers))
		if want := []string{"keep", "my-x-debug-a", "tokens"}; !slices.Equal(got, want) {
			r.t.Fatalf("headers left %v, want %v", got, want)
		}
	},
	"search_replace.conf": func(r *docRun) {
		r.mustPost("avroSrc", jsonEvent{Body: "lorem_ipsum dolor sit"})
		if b := string(r.takeOne("c1").Body); b != " dolor sit" {
			r.t.Fatalf("body %q", b)
		}
	},
	"search_replace-groups.conf": func(r *docRun) {
		r.mustPost("avroSrc", jsonEvent{Body: "The quick brown fox jumped over the lazy dog"})
		if b := string(r.takeOne("c1").Body); b != "The hungry dog ate the careless fox" {
			r.t.Fatalf("body %q", b)
		}
	},
	"regex_filter.conf": func(r *docRun) {
		r.mustPost("r1", jsonEvent{Body: "ERROR disk"}, jsonEvent{Body: "INFO ok"}, jsonEvent{Body: "WARN slow"}, jsonEvent{Body: "DEBUG x ERROR"})
		await(r.t, "the kept events", func() bool { return r.channel("c1").Len() == 2 })
		evs := r.take("c1", 10)
		if len(evs) != 2 || string(evs[0].Body) != "ERROR disk" || string(evs[1].Body) != "WARN slow" {
			r.t.Fatalf("kept %v", evs)
		}
		// The source counts what it received, before interceptors drop.
		if n := r.metric("r1", "EventAcceptedCount"); n != 4 {
			r.t.Fatalf("EventAcceptedCount %v, want 4", n)
		}
	},
	"regex_extractor.conf": func(r *docRun) {
		r.mustPost("r1", jsonEvent{Body: "1:2:3.4foobar5"})
		e := r.takeOne("c1")
		if want := map[string]string{"one": "1", "two": "2", "three": "3"}; !maps.Equal(e.Headers, want) || string(e.Body) != "1:2:3.4foobar5" {
			r.t.Fatalf("event %v, want headers %v and the body unchanged", e, want)
		}
	},
	"regex_extractor-millis.conf": func(r *docRun) {
		r.mustPost("r1", jsonEvent{Body: "2012-10-18 18:47:57,614 some log line"})
		want := strconv.FormatInt(time.Date(2012, 10, 18, 18, 47, 0, 0, time.Local).UnixMilli(), 10)
		if e := r.takeOne("c1"); e.Headers["timestamp"] != want {
			r.t.Fatalf("headers %v, want timestamp=%s", e.Headers, want)
		}
	},
}

// rolled is the content of every file the file_roll sink wrote.
func (r *docRun) rolled() string {
	entries, err := os.ReadDir(r.dir)
	if err != nil || len(entries) == 0 {
		r.t.Fatalf("no files in %s: %v", r.dir, err)
	}
	var b strings.Builder
	for _, e := range entries { // names sort in the order they were rolled
		data, err := os.ReadFile(filepath.Join(r.dir, e.Name()))
		if err != nil {
			r.t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

func TestFlumeDocExamplesRun(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(flumedocChecks)) {
		t.Run(strings.TrimSuffix(name, ".conf"), func(t *testing.T) {
			board := newRecBoard()
			f := catalog.Default()
			f.Sinks = maps.Clone(f.Sinks)
			f.Sinks["recorder"] = recorderFactory(board)
			var override map[string]string
			if name == "interceptors.conf" {
				// To see the headers, k1 records what it takes.
				override = map[string]string{"a1.sinks.k1.type": "recorder"}
			}
			r := runDoc(t, name, &f, board, docOptions(100*time.Millisecond), override)
			flumedocChecks[name](r)
			r.stop()
		})
	}
}

// recBoard holds what the recorder sinks of one test did, by sink name; a
// sink's record outlives restarts of the sink.
type recBoard struct {
	mu    sync.Mutex
	sinks map[string]*recState
}

func newRecBoard() *recBoard { return &recBoard{sinks: map[string]*recState{}} }

func (b *recBoard) sink(name string) *recState {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.sinks[name]
	if !ok {
		s = &recState{}
		b.sinks[name] = s
	}
	return s
}

// recState is what one recorder sink did. Setting fail makes it roll back
// every batch it takes and return an error, as a sink whose destination is
// down does.
type recState struct {
	fail atomic.Bool

	mu       sync.Mutex // protects the fields below
	batches  int        // batches delivered (committed)
	events   int        // events delivered
	ids      []uint8    // deliveries per seq event number
	kept     []event.Event
	failedAt []time.Time // when a batch was taken and rolled back
}

func (s *recState) delivered() (batches, events int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches, s.events
}

func (s *recState) failures() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.failedAt)
}

// first waits for the sink's first delivered event.
func (s *recState) first(t *testing.T) event.Event {
	t.Helper()
	await(t, "an event delivered", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.kept) > 0 })
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kept[0]
}

// errSinkDown is the recorder's failure while its fail flag is set.
var errSinkDown = errors.New("destination down")

type recConfig struct {
	Batch int `prop:"batchSize"`
}

func (c *recConfig) BatchSize() int { return c.Batch }

// recorder is a sink that records what it delivers and can be made to fail.
type recorder struct {
	st    *recState
	ch    component.Channel
	batch int
}

func (k *recorder) Start(context.Context, component.Host) error { return nil }
func (k *recorder) Stop(context.Context) error                  { return nil }

func (k *recorder) Process(ctx context.Context) (component.Status, error) {
	tx, err := k.ch.Take(ctx, k.batch)
	if err != nil {
		return component.Backoff, err
	}
	evs := tx.Events()
	if len(evs) == 0 {
		return component.Backoff, tx.Commit()
	}
	if k.st.fail.Load() {
		k.st.mu.Lock()
		k.st.failedAt = append(k.st.failedAt, time.Now())
		k.st.mu.Unlock()
		if err := tx.Rollback(); err != nil {
			return component.Backoff, err
		}
		return component.Backoff, errSinkDown
	}
	k.st.mu.Lock()
	k.st.batches++
	k.st.events += len(evs)
	for _, e := range evs {
		if id, err := strconv.Atoi(string(e.Body)); err == nil && id >= 0 {
			if id >= len(k.st.ids) {
				k.st.ids = append(k.st.ids, make([]uint8, id+1-len(k.st.ids)+1<<16)...)
			}
			k.st.ids[id]++
		}
		if len(k.st.kept) < 1000 {
			k.st.kept = append(k.st.kept, e.Clone())
		}
	}
	k.st.mu.Unlock()
	return component.Ready, tx.Commit()
}

func recorderFactory(b *recBoard) component.SinkFactory {
	return component.SinkFactory{
		Type:      "recorder",
		NewConfig: func() component.Config { return &recConfig{Batch: 10} },
		Create: func(set component.SinkSettings, cfg component.Config) (component.Sink, error) {
			return &recorder{st: b.sink(set.Name), ch: set.Channel, batch: cfg.(*recConfig).Batch}, nil
		},
	}
}

// groupFactories are the types the routing tests run the guide's files
// with: the real seq and http sources, memory channel and null sink, the
// recorder sink, and every interceptor.
func groupFactories(b *recBoard) *component.Factories {
	f := component.NewFactories(
		[]component.SourceFactory{source.SeqFactory(), source.HTTPFactory()},
		[]component.ChannelFactory{channel.MemoryFactory()},
		[]component.SinkFactory{sink.NullFactory(), recorderFactory(b)},
	).WithInterceptors(interceptor.All()...)
	return &f
}

// checkExactlyOnce asserts that the recorder sinks delivered every event
// the seq source r1 accepted exactly once, and nothing else.
func (r *docRun) checkExactlyOnce(sinks ...string) {
	r.t.Helper()
	accepted := int(r.metric("r1", "EventAcceptedCount"))
	if accepted == 0 {
		r.t.Fatal("no events accepted")
	}
	total := make([]int, accepted)
	for _, k := range sinks {
		st := r.board.sink(k)
		st.mu.Lock()
		for id, n := range st.ids {
			if n == 0 {
				continue
			}
			if id >= accepted {
				st.mu.Unlock()
				r.t.Fatalf("sink %s delivered event %d, but only %d were accepted", k, id, accepted)
			}
			total[id] += int(n)
		}
		st.mu.Unlock()
	}
	for id, n := range total {
		if n != 1 {
			r.t.Fatalf("event %d delivered %d times (of %d accepted)", id, n, accepted)
		}
	}
}

// TestFlumeDocReplicatingOptional: with the guide's replicating selector,
// every event reaches c1 and c2; c3 is optional, so when it is full the
// flow goes on without it.
func TestFlumeDocReplicatingOptional(t *testing.T) {
	const total = 1000
	r := runDoc(t, "replicating.conf", groupFactories(newRecBoard()), nil, docOptions(100*time.Millisecond), map[string]string{
		"a1.sources.r1.totalEvents":          strconv.Itoa(total),
		"a1.sources.r1.batchSize":            "10",
		"a1.channels.c1.capacity":            strconv.Itoa(total),
		"a1.channels.c2.capacity":            strconv.Itoa(total),
		"a1.channels.c3.capacity":            "20", // no sink: full after 20 events
		"a1.channels.c3.transactionCapacity": "10",
		"a1.channels.c3.keep-alive":          "0",
	})
	await(t, "every event in c1 and c2", func() bool {
		return r.channel("c1").Len() == total && r.channel("c2").Len() == total
	})
	if n := r.channel("c3").Len(); n != 20 {
		t.Fatalf("c3 holds %d events, want 20 (full)", n)
	}
	if n := r.metric("r1", "EventAcceptedCount"); n != total {
		t.Fatalf("EventAcceptedCount %v, want %d", n, total)
	}
	for _, c := range []string{"c1", "c2"} {
		evs := r.take(c, total)
		if len(evs) != total {
			t.Fatalf("%s: took %d events, want %d", c, len(evs), total)
		}
		for i, e := range evs {
			if string(e.Body) != strconv.Itoa(i) {
				t.Fatalf("%s event %d is %q", c, i, e.Body)
			}
		}
	}
	r.stop()
}

// TestFlumeDocMultiplexing: the guide's multiplexing selector routes by the
// "state" header: CZ to c1, US to c2 and c3, anything else to c4.
func TestFlumeDocMultiplexing(t *testing.T) {
	r := runDoc(t, "multiplexing.conf", groupFactories(newRecBoard()), nil, docOptions(100*time.Millisecond), nil)
	var batch []jsonEvent
	for i := range 40 {
		var h map[string]string
		switch i % 5 {
		case 0:
			h = map[string]string{"state": "CZ"}
		case 1:
			h = map[string]string{"state": "US"}
		case 2:
			h = map[string]string{"state": "CA"} // not mapped
		case 3:
			h = map[string]string{"State": "CZ"} // header names are case-sensitive
		case 4: // no header
		}
		batch = append(batch, jsonEvent{Headers: h, Body: strconv.Itoa(i)})
	}
	r.mustPost("r1", batch...)
	want := map[string][]string{}
	for i, e := range batch {
		switch e.Headers["state"] {
		case "CZ":
			want["c1"] = append(want["c1"], strconv.Itoa(i))
		case "US":
			want["c2"] = append(want["c2"], strconv.Itoa(i))
			want["c3"] = append(want["c3"], strconv.Itoa(i))
		default:
			want["c4"] = append(want["c4"], strconv.Itoa(i))
		}
	}
	for _, c := range []string{"c1", "c2", "c3", "c4"} {
		var got []string
		for _, e := range r.take(c, 100) {
			got = append(got, string(e.Body))
			if c != "c4" && e.Headers["state"] == "" {
				t.Fatalf("%s: event %q without a state header", c, e.Body)
			}
		}
		if !slices.Equal(got, want[c]) {
			t.Fatalf("%s holds %v, want %v", c, got, want[c])
		}
	}
	r.stop()
}

// TestFlumeDocMultiplexingOptional: the guide's fan-out example with
// optional channels, State CA/AZ/NY. A failing optional channel does not
// fail CA events; the same channel, required for AZ, does.
func TestFlumeDocMultiplexingOptional(t *testing.T) {
	board := newRecBoard()
	src, mem, file := "avro-AppSrv-source1", "hdfs-Cluster1-sink1", "avro-forward-sink2"
	r := runDoc(t, "multiplexing-optional.conf", groupFactories(board), board, docOptions(5*time.Second), map[string]string{
		"agent_foo.sinks." + mem + ".type":                      "recorder",
		"agent_foo.sinks." + file + ".type":                     "recorder",
		"agent_foo.channels.file-channel-2.capacity":            "10",
		"agent_foo.channels.file-channel-2.transactionCapacity": "10",
		"agent_foo.channels.file-channel-2.keep-alive":          "0",
	})
	post := func(state string, n int) int {
		var evs []jsonEvent
		for i := range n {
			evs = append(evs, jsonEvent{Headers: map[string]string{"State": state}, Body: fmt.Sprintf("%s-%d", state, i)})
		}
		return r.post(src, evs...)
	}
	states := func(k string, events int) map[string]int {
		t.Helper()
		st := board.sink(k)
		await(t, fmt.Sprintf("%d events at %s", events, k), func() bool { _, n := st.delivered(); return n >= events })
		st.mu.Lock()
		defer st.mu.Unlock()
		m := map[string]int{}
		for _, e := range st.kept {
			m[e.Headers["State"]]++
		}
		return m
	}
	// file-channel-2 holds 10 events: let the sinks drain each request
	// before the next.
	for _, s := range []struct {
		state     string
		mem, file int // events delivered by then
	}{{"CA", 5, 5}, {"AZ", 5, 10}, {"NY", 10, 15}, {"TX", 15, 15}} {
		if code := post(s.state, 5); code != http.StatusOK {
			t.Fatalf("POST %s: %d", s.state, code)
		}
		states(mem, s.mem)
		states(file, s.file)
	}
	// CA: mem-channel-1 (required) and file-channel-2 (optional); AZ:
	// file-channel-2; NY: both; TX: the default, mem-channel-1.
	if got, want := states(mem, 15), map[string]int{"CA": 5, "NY": 5, "TX": 5}; !maps.Equal(got, want) {
		t.Fatalf("%s took %v, want %v", mem, got, want)
	}
	if got, want := states(file, 15), map[string]int{"CA": 5, "AZ": 5, "NY": 5}; !maps.Equal(got, want) {
		t.Fatalf("%s took %v, want %v", file, got, want)
	}

	// file-channel-2's sink goes down and its channel fills up.
	board.sink(file).fail.Store(true)
	if code := post("AZ", 10); code != http.StatusOK {
		t.Fatalf("POST AZ into an empty file-channel-2: %d", code)
	}
	await(t, "file-channel-2 full", func() bool { return r.channel("file-channel-2").Len() == 10 })
	// Optional for CA: the events still go to mem-channel-1.
	if code := post("CA", 5); code != http.StatusOK {
		t.Fatalf("POST CA with the optional channel full: %d, want 200", code)
	}
	states(mem, 20)
	// Required for AZ: the source refuses the batch.
	if code := post("AZ", 1); code != http.StatusServiceUnavailable {
		t.Fatalf("POST AZ with its required channel full: %d, want 503", code)
	}
	board.sink(file).fail.Store(false)
	states(file, 25)
	r.stop()
}

// TestFlumeDocFailover: with the guide's failover processor, k2 (priority
// 10) takes every batch; when it fails, k1 (priority 5) takes over; once
// k2's penalty is over it is tried again and takes its place back. No
// event is lost or delivered twice.
func TestFlumeDocFailover(t *testing.T) {
	const penalty = 200 * time.Millisecond
	board := newRecBoard()
	r := runDoc(t, "failover.conf", groupFactories(board), board, docOptions(5*time.Second), map[string]string{
		"a1.sinks.k1.type":                      "recorder",
		"a1.sinks.k2.type":                      "recorder",
		"a1.sinkgroups.g1.processor.maxpenalty": strconv.Itoa(int(penalty / time.Millisecond)),
		"a1.sources.r1.batchSize":               "10",
		"a1.channels.c1.capacity":               "1000",
	})
	k1, k2 := board.sink("k1"), board.sink("k2")
	batches := func(s *recState) int { b, _ := s.delivered(); return b }
	awaitMore := func(s *recState, name string, n int) {
		t.Helper()
		target := batches(s) + n
		await(t, fmt.Sprintf("%d more batches at %s", n, name), func() bool { return batches(s) >= target })
	}

	awaitMore(k2, "k2", 50)
	if b := batches(k1); b != 0 {
		t.Fatalf("k1 took %d batches while k2, of higher priority, worked", b)
	}

	k2.fail.Store(true)
	awaitMore(k1, "k1", 50)
	// While down, k2 is tried again only after each penalty.
	await(t, "k2 tried again after its penalty", func() bool { return len(k2.failures()) >= 3 })
	k2.fail.Store(false)
	fails := k2.failures()
	for i := 1; i < len(fails); i++ {
		if gap := fails[i].Sub(fails[i-1]); gap < penalty*9/10 {
			t.Fatalf("k2 retried %v after failure %d, before its %v penalty", gap, i, penalty)
		}
	}

	// k2 is back: it takes its place again and k1 goes idle.
	awaitMore(k2, "k2", 20)
	idle := batches(k1)
	awaitMore(k2, "k2", 50)
	if b := batches(k1); b != idle {
		t.Fatalf("k1 took %d batches after k2 came back", b-idle)
	}
	r.stop()
	r.checkExactlyOnce("k1", "k2")
}

// loadBalanceSpread runs the guide's load_balance example with the given
// selector until the group delivered 2000 batches, and checks that each
// healthy sink took its share within 10%.
func loadBalanceSpread(t *testing.T, selector string, sinks ...string) {
	board := newRecBoard()
	override := map[string]string{
		"a1.sinkgroups.g1.processor.selector": selector,
		"a1.sources.r1.batchSize":             "100",
		"a1.channels.c1.capacity":             "10000",
	}
	if len(sinks) > 2 { // a third sink, like the others
		override["a1.sinks"] = strings.Join(sinks, " ")
		override["a1.sinkgroups.g1.sinks"] = strings.Join(sinks, " ")
	}
	for _, k := range sinks {
		override["a1.sinks."+k+".type"] = "recorder"
		override["a1.sinks."+k+".channel"] = "c1"
	}
	r := runDoc(t, "load_balance.conf", groupFactories(board), board, docOptions(5*time.Second), override)
	const want = 2000
	total := func() int {
		n := 0
		for _, k := range sinks {
			b, _ := board.sink(k).delivered()
			n += b
		}
		return n
	}
	await(t, "2000 batches", func() bool { return total() >= want })
	r.stop()
	r.checkExactlyOnce(sinks...)
	n := total()
	share := float64(n) / float64(len(sinks))
	for _, k := range sinks {
		b, _ := board.sink(k).delivered()
		if d := float64(b) - share; d > share/10 || d < -share/10 {
			t.Fatalf("%s: %s took %d of %d batches, want %.0f ± 10%%", selector, k, b, n, share)
		}
	}
}

func TestFlumeDocLoadBalanceSpread(t *testing.T) {
	t.Run("random", func(t *testing.T) { loadBalanceSpread(t, "random", "k1", "k2") })
	t.Run("round_robin", func(t *testing.T) { loadBalanceSpread(t, "round_robin", "k1", "k2") })
	t.Run("random_3", func(t *testing.T) { loadBalanceSpread(t, "random", "k1", "k2", "k3") })
	t.Run("round_robin_3", func(t *testing.T) { loadBalanceSpread(t, "round_robin", "k1", "k2", "k3") })
}

// TestFlumeDocLoadBalanceBackoff: with backoff=true (the guide's example) a
// failing sink is blacklisted: skipped until its time is over, then tried
// again, and back in the rotation once it works. With backoff=false it is
// tried on every turn.
func TestFlumeDocLoadBalanceBackoff(t *testing.T) {
	const maxTimeOut = 300 * time.Millisecond
	for _, backoff := range []bool{true, false} {
		t.Run(fmt.Sprint("backoff=", backoff), func(t *testing.T) {
			board := newRecBoard()
			r := runDoc(t, "load_balance.conf", groupFactories(board), board, docOptions(5*time.Second), map[string]string{
				"a1.sinks.k1.type":                               "recorder",
				"a1.sinks.k2.type":                               "recorder",
				"a1.sinkgroups.g1.processor.backoff":             strconv.FormatBool(backoff),
				"a1.sinkgroups.g1.processor.selector.maxTimeOut": strconv.Itoa(int(maxTimeOut / time.Millisecond)),
				"a1.sources.r1.batchSize":                        "10",
				"a1.channels.c1.capacity":                        "1000",
			})
			k1, k2 := board.sink("k1"), board.sink("k2")
			batches := func(s *recState) int { b, _ := s.delivered(); return b }
			await(t, "both sinks in use", func() bool { return batches(k1) > 10 && batches(k2) > 10 })

			k1.fail.Store(true)
			await(t, "k1 failing", func() bool { return len(k1.failures()) >= 1 })
			start := k1.failures()[0]
			k2From := batches(k2)
			// Watch for one blacklist period (and a bit).
			await(t, "one blacklist period", func() bool { return time.Since(start) > maxTimeOut*3/2 })
			fails := k1.failures()
			during := 0
			for _, f := range fails {
				if f.Sub(start) < maxTimeOut*9/10 {
					during++
				}
			}
			if backoff {
				if during != 1 {
					t.Fatalf("blacklisted k1 was tried %d times within its %v", during, maxTimeOut)
				}
				await(t, "k1 tried again after its blacklist", func() bool { return len(k1.failures()) >= 2 })
				if gap := k1.failures()[1].Sub(start); gap < maxTimeOut*9/10 {
					t.Fatalf("k1 retried after %v, before its %v blacklist ended", gap, maxTimeOut)
				}
			} else if during < 5 {
				t.Fatalf("without backoff k1 was tried only %d times in %v", during, maxTimeOut)
			}
			if k2got := batches(k2) - k2From; k2got < 20 {
				t.Fatalf("k2 took %d batches while k1 failed", k2got)
			}

			k1.fail.Store(false)
			k1From := batches(k1)
			await(t, "k1 back in rotation", func() bool { return batches(k1) >= k1From+20 })
			r.stop()
			r.checkExactlyOnce("k1", "k2")
		})
	}
}

// TestLoadBalanceRoundRobinSlowSource: a source slower than the sinks
// leaves the channel empty between events; round robin must still alternate
// (a turn spent finding the channel empty does not pass the turn on).
func TestLoadBalanceRoundRobinSlowSource(t *testing.T) {
	board := newRecBoard()
	r := runDoc(t, "load_balance.conf", groupFactories(board), board, docOptions(5*time.Second), map[string]string{
		"a1.sinkgroups.g1.processor.selector": "round_robin",
		"a1.sources.r1.type":                  "http",
		"a1.sources.r1.port":                  "0",
		"a1.sinks.k1.type":                    "recorder",
		"a1.sinks.k2.type":                    "recorder",
	})
	const n = 100
	for i := 0; i < n; i++ {
		r.mustPost("r1", jsonEvent{Body: strconv.Itoa(i)})
		await(t, "event delivered", func() bool {
			_, e1 := board.sink("k1").delivered()
			_, e2 := board.sink("k2").delivered()
			return e1+e2 == i+1
		})
	}
	r.stop()
	_, e1 := board.sink("k1").delivered()
	_, e2 := board.sink("k2").delivered()
	if e1 < n*45/100 || e2 < n*45/100 {
		t.Fatalf("round robin with a slow source: k1 %d, k2 %d events of %d", e1, e2, n)
	}
}
