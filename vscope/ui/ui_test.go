package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vscope/vscope/vscope/diagnose"
	"github.com/vscope/vscope/vscope/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

const (
	secs    = 1800 // 30 minutes of points
	faultAt = 1500 // agent a2's sink slows down here
)

// writeFlow writes a store of secs seconds: agents a1 (host h1) and a2
// (host h2), each a source, a channel and a sink, 100 events/s through
// a1 and 200 through a2 until a2's sink slows down at faultAt: its drain
// falls to 50/s, its channel fills by 150 events a second (capacity
// 100000) and its batch latency rises 100-fold. Every point is exact, so
// tests know what a window holds.
func writeFlow(t testing.TB, path string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenDuckDB(ctx, path, store.Options{RawRetention: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Append(ctx, flowBatch()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// flowBatch holds the points of writeFlow.
func flowBatch() *store.Batch {
	b := &store.Batch{}
	size := map[string]float64{}
	for sec := range secs {
		ts := t0.Add(time.Duration(sec) * time.Second).UnixMilli()
		for _, a := range []struct {
			host, agent string
			rate        float64
		}{{"h1", "a1", 100}, {"h2", "a2", 200}} {
			in, out, lat := flowRates(a.agent, a.rate, sec)
			size[a.agent] += in - out
			add := func(comp, kind, metric string, v float64) {
				b.Add(b.SeriesRef(store.Series{Host: a.host, Agent: a.agent, Component: comp, Kind: kind, Metric: metric}), ts, v)
			}
			add("r1", "source", "EventAcceptedRate", in)
			add("r1", "source", "EventReceivedRate", in)
			add("c1", "channel", "ChannelFillPercentage", 100*size[a.agent]/100000)
			add("c1", "channel", "ChannelSize", size[a.agent])
			add("c1", "channel", "EventTakeSuccessRate", out)
			add("k1", "sink", "EventDrainSuccessRate", out)
			add("k1", "sink", "batch_duration_p99_seconds", lat*(1+0.1*math.Cos(float64(sec)/3)))
		}
		b.Add(b.SeriesRef(store.Series{Host: "h1", Component: "cpu", Kind: "host", Metric: "user_percent"}), ts, 20+math.Sin(float64(sec)/5))
	}
	return b
}

// flowRates are an agent's rates in and out and its sink's latency at sec.
func flowRates(agent string, rate float64, sec int) (in, out, lat float64) {
	wave := 1 + 0.05*math.Sin(float64(sec)/7+float64(len(agent)))
	in, out, lat = rate*wave, rate*wave, 0.004
	if agent == "a2" && sec >= faultAt {
		out, lat = 50, 0.4
	}
	return in, out, lat
}

func newServer(t *testing.T, location string, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	stores, err := NewStores(location, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stores.Close() })
	cfg.Stores = stores
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs
}

func get(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v\n%s", url, err, b)
		}
	}
	return resp.StatusCode
}

func post(t *testing.T, url, contentType, body string, v any) (int, string) {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("POST %s: %v\n%s", url, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

// TestLive: the live data ends at the store's newest point and holds what
// was written there.
func TestLive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.duckdb")
	writeFlow(t, path)
	_, hs := newServer(t, path, Config{Span: 5 * time.Minute, Step: 5 * time.Second, Every: -1})
	var l Live
	if code := get(t, hs.URL+"/api/live", &l); code != http.StatusOK {
		t.Fatalf("GET /api/live: %d", code)
	}
	end := t0.Add((secs - 1) * time.Second)
	// The span ends at the step after the newest point: 10:30:00.
	if !l.Latest.Equal(end) || !l.To.Equal(t0.Add(secs*time.Second)) || !l.From.Equal(l.To.Add(-5*time.Minute)) || len(l.Times) != 60 {
		t.Fatalf("live latest %v, from %v to %v, %d rows; want the 5 minutes to %v at 5s", l.Latest, l.From, l.To, len(l.Times), end)
	}
	if len(l.Throughput) != 4 || len(l.Fill) != 2 || len(l.Totals) != 2 || len(l.Agents) != 2 {
		t.Fatalf("throughput %d lines, fill %d, totals %d, agents %d; want 4, 2, 2, 2", len(l.Throughput), len(l.Fill), len(l.Totals), len(l.Agents))
	}
	// The fullest channel first: a2's, filling since the fault.
	if l.Fill[0].Name != "h2/a2/c1" || l.Agents[0].Agent != "a2" || l.Agents[0].Fill == nil {
		t.Fatalf("fullest first: fill %s, agent %+v", l.Fill[0].Name, l.Agents[0])
	}
	// a2 drains 50/s after the fault; its fill at the end is what came in
	// since then, less what went out, over its capacity of 100000.
	if d := l.Agents[0].Drained; d == nil || *d != 50 {
		t.Errorf("a2 drained %v, want 50", d)
	}
	// The latest value is the last step's: the mean of its 5 points.
	size, sum := 0.0, 0.0
	for sec := range secs {
		in, out, _ := flowRates("a2", 200, sec)
		size += in - out
		if sec >= secs-5 {
			sum += size
		}
	}
	wantFill := 100 * sum / 5 / 100000
	if f := *l.Agents[0].Fill; math.Abs(f-wantFill) > 1e-6 {
		t.Errorf("a2 fill %v, want %v", f, wantFill)
	}
	// The totals add the components row by row.
	var src LiveSeries
	for _, s := range l.Totals {
		if s.Kind == "source" {
			src = s
		}
	}
	var a1, a2 float64
	for _, s := range l.Throughput {
		switch s.Name {
		case "h1/a1/r1":
			a1 = s.Values[10]
		case "h2/a2/r1":
			a2 = s.Values[10]
		}
	}
	if math.Abs(src.Values[10]-(a1+a2)) > 1e-9 || a1 < 90 || a2 < 180 {
		t.Errorf("total %v, a1 %v, a2 %v", src.Values[10], a1, a2)
	}
}

// TestDiagnose: a diagnosis of the newest window from the page names a2's
// sink; it becomes the latest, and /report is its HTML report.
func TestDiagnose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.duckdb")
	writeFlow(t, path)
	s, hs := newServer(t, path, Config{Every: -1, Diagnose: diagnose.Options{Window: 10 * time.Minute, Baseline: 15 * time.Minute}})
	if code := get(t, hs.URL+"/api/diagnosis", nil); code != http.StatusNotFound {
		t.Fatalf("GET /api/diagnosis before any: %d, want 404", code)
	}
	var d Diagnosis
	code, body := post(t, hs.URL+"/api/diagnose", "application/json", `{"window": "8m"}`, &d)
	if code != http.StatusOK {
		t.Fatalf("POST /api/diagnose: %d %s", code, body)
	}
	r := d.Result
	if r.Status != diagnose.StatusAnomaly || len(r.Ranking) == 0 {
		t.Fatalf("status %q, summary %q", r.Status, r.Summary)
	}
	if top := r.Ranking[0]; top.Agent != "a2" || top.Component != "k1" {
		t.Errorf("rank 1 %s/%s %s, want a2/k1", top.Agent, top.Component, top.Metric)
	}
	// The window covers the 8 minutes to the latest point, in whole steps
	// (1 s): its ends are rounded outwards.
	if want := t0.Add(secs * time.Second); !r.Window.To.Equal(want) || r.Window.To.Sub(r.Window.From) < 8*time.Minute ||
		r.Window.To.Sub(r.Window.From) > 8*time.Minute+time.Second {
		t.Errorf("window %v .. %v, want the 8 minutes to %v", r.Window.From, r.Window.To, want)
	}
	if len(r.Traces.BeforeTimes) == 0 || len(r.Topology.Flow) == 0 {
		t.Errorf("no report data: %d points before the window, %d flow edges", len(r.Traces.BeforeTimes), len(r.Topology.Flow))
	}
	var last Diagnosis
	if code := get(t, hs.URL+"/api/diagnosis", &last); code != http.StatusOK || !last.RanAt.Equal(d.RanAt) {
		t.Errorf("GET /api/diagnosis: %d, ran at %v, want %v", code, last.RanAt, d.RanAt)
	}
	resp, err := http.Get(hs.URL + "/report")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(page, []byte("sink k1 of agent a2 on host h2")) {
		t.Errorf("the report does not name a2's sink")
	}

	// An explicit window before the fault: nothing to blame.
	code, body = post(t, hs.URL+"/api/diagnose", "application/json",
		`{"at": "2026-01-01T10:24:00Z", "window": "4m", "baseline": "15m", "filter": "agent=a*"}`, &d)
	if code != http.StatusOK {
		t.Fatalf("POST /api/diagnose: %d %s", code, body)
	}
	if d.Result.Status == diagnose.StatusAnomaly {
		t.Errorf("before the fault: %q", d.Result.Summary)
	}
	if d.Result.Window.Filter != "agent=a*" {
		t.Errorf("filter %q", d.Result.Window.Filter)
	}

	// One at a time.
	s.run.Lock()
	code, _ = post(t, hs.URL+"/api/diagnose", "application/json", `{}`, nil)
	s.run.Unlock()
	if code != http.StatusConflict {
		t.Errorf("while one runs: %d, want 409", code)
	}
	// Refused: not JSON (a form another site could post), another origin,
	// bad fields.
	for _, c := range []struct {
		ct, origin, body string
		want             int
	}{
		{"application/x-www-form-urlencoded", "", "window=5m", http.StatusUnsupportedMediaType},
		{"text/plain", "", `{}`, http.StatusUnsupportedMediaType},
		{"application/json", "http://evil.example", `{}`, http.StatusForbidden},
		{"application/json", "", `{"window": "five"}`, http.StatusBadRequest},
		{"application/json", "", `{"at": "yesterday"}`, http.StatusBadRequest},
		{"application/json", "", `{"filter": "colour=red"}`, http.StatusBadRequest},
		{"application/json", "", `{"wndow": "5m"}`, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/diagnose", strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.ct)
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %q from %q: %d %s, want %d", c.ct, c.body, c.origin, resp.StatusCode, msg, c.want)
		}
	}
}

// TestToken: with a token, the page, the API and the report need it; the
// static assets do not.
func TestToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.duckdb")
	writeFlow(t, path)
	_, hs := newServer(t, path, Config{Every: -1, Token: "s3cret"})
	f := func(path string, want int) {
		t.Helper()
		if code := get(t, hs.URL+path, nil); code != want {
			t.Errorf("GET %s: %d, want %d", path, code, want)
		}
	}
	f("/", http.StatusUnauthorized)
	f("/api/live", http.StatusUnauthorized)
	f("/report", http.StatusUnauthorized)
	f("/?token=wrong", http.StatusUnauthorized)
	f("/?token=s3cret", http.StatusOK)
	f("/api/live?token=s3cret", http.StatusOK)
	f("/assets/report.css", http.StatusOK)
	f("/assets/ui.js", http.StatusOK)
	f("/assets/nothing.js", http.StatusNotFound)
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/api/live", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with the bearer token: %d", resp.StatusCode)
	}
}

// TestCollector: through a collector's SQL endpoint, windows hold the
// cells the DuckDB file gives, and the view works the same.
func TestCollector(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "metrics.duckdb")
	writeFlow(t, path)
	db, err := store.OpenDuckDB(ctx, path, store.Options{NoFileAccess: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	col := httptest.NewServer(store.Handler(db, store.HandlerOptions{SQL: db}))
	defer col.Close()
	s := newSQLStore(store.NewClient(col.URL, "", nil))
	defer s.Close()
	for _, q := range []store.Query{
		{From: t0.Add(1400 * time.Second), To: t0.Add(1620 * time.Second), Step: time.Second},
		{Filter: store.Filter{Agent: "a2", Kind: "channel"}, From: t0.Add(1000 * time.Second), To: t0.Add(1801 * time.Second), Step: 7 * time.Second},
		{Filter: store.Filter{Host: "h1"}, From: t0.Add(-10 * time.Second), To: t0.Add(30*time.Second + 500*time.Millisecond), Step: 2500 * time.Millisecond},
		{Filter: store.Filter{Metric: "nothing"}, From: t0, To: t0.Add(time.Minute)},
	} {
		want, err := db.Read(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Read(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got.From != want.From || got.Step != want.Step || len(got.Times) != len(want.Times) || len(got.Series) != len(want.Series) {
			t.Fatalf("%+v: shape %d x %d from %d, want %d x %d from %d", q, len(got.Times), len(got.Series), got.From, len(want.Times), len(want.Series), want.From)
		}
		for j := range want.Series {
			if got.Series[j] != want.Series[j] {
				t.Fatalf("%+v: column %d is %v, want %v", q, j, got.Series[j], want.Series[j])
			}
		}
		for i, w := range want.Values {
			g := got.Values[i]
			if math.IsNaN(w) != math.IsNaN(g) || (!math.IsNaN(w) && math.Abs(g-w) > 1e-9*math.Max(1, math.Abs(w))) {
				t.Fatalf("%+v: cell %d is %v, want %v", q, i, g, w)
			}
		}
	}
	latest, err := Latest(ctx, s)
	if err != nil || !latest.Equal(t0.Add((secs-1)*time.Second)) {
		t.Errorf("newest point through the collector: %v, %v", latest, err)
	}
	infos, err := s.Series(ctx, store.Filter{Agent: "a1"})
	if err != nil || len(infos) != 7 || infos[0].Points != secs {
		t.Errorf("series of a1 through the collector: %d, %v", len(infos), err)
	}

	_, hs := newServer(t, col.URL, Config{Every: -1})
	var d Diagnosis
	if code, body := post(t, hs.URL+"/api/diagnose", "application/json", `{"baseline": "15m"}`, &d); code != http.StatusOK {
		t.Fatalf("POST /api/diagnose through the collector: %d %s", code, body)
	}
	if top := d.Result.Ranking[0]; top.Agent != "a2" || top.Component != "k1" {
		t.Errorf("through the collector, rank 1 is %s/%s", top.Agent, top.Component)
	}
}

// TestRun: Run diagnoses the newest window at start, serves, and stops
// when its context ends.
func TestRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.duckdb")
	writeFlow(t, path)
	stores, err := NewStores(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer stores.Close()
	s, err := New(Config{Stores: stores, Diagnose: diagnose.Options{Baseline: 15 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	deadline := time.Now().Add(time.Minute)
	for s.Last() == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling the condition, not waiting for time
	}
	if s.Last() == nil {
		t.Fatal("no diagnosis within a minute of the start")
	}
	if top := s.Last().Result.Ranking[0]; top.Agent != "a2" {
		t.Errorf("the start's diagnosis ranks %s/%s first", top.Agent, top.Component)
	}
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`id="chart-throughput"`, `id="chart-fill"`, `id="diagnose-form"`, `"refresh_ms":5000`} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the page lacks %s", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	// The file is closed once no request holds it: a writer can open it.
	w, err := store.OpenDuckDB(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatalf("the view still holds the store: %v", err)
	}
	w.Close()
}

// TestVictoriaMetrics: the live data read from VictoriaMetrics (Debian's
// victoria-metrics; the test skips without it), which cannot tell its
// newest point, so the span ends at the clock.
func TestVictoriaMetrics(t *testing.T) {
	ctx := context.Background()
	vm, err := store.StartVictoriaMetrics(ctx, t.TempDir(), nil)
	if errors.Is(err, store.ErrNoVictoriaMetrics) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Stop()
	st := store.NewVictoriaMetrics(vm.URL, nil)
	defer st.Close()
	if err := st.Append(ctx, flowBatch()); err != nil {
		t.Fatal(err)
	}
	end := t0.Add(secs * time.Second)
	_, hs := newServer(t, "vm+"+vm.URL, Config{Every: -1, Span: 5 * time.Minute, Step: 5 * time.Second, Now: func() time.Time { return end }})
	// VictoriaMetrics makes points searchable within a second or so of
	// their import: wait until the last one is.
	var l Live
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code := get(t, hs.URL+"/api/live", &l); code != http.StatusOK {
			t.Fatalf("GET /api/live: %d", code)
		}
		if len(l.Agents) == 2 && l.Agents[0].Drained != nil && len(l.Fill) == 2 && !math.IsNaN(l.Fill[0].Values[len(l.Fill[0].Values)-2]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the live data never held both agents: %+v", l.Agents)
		}
		time.Sleep(100 * time.Millisecond) // polling the condition above
	}
	if !l.Latest.IsZero() || !l.To.Equal(end.Add(5*time.Second)) {
		t.Errorf("latest %v, to %v: want no newest point and the span to the clock's next step", l.Latest, l.To)
	}
	if l.Fill[0].Name != "h2/a2/c1" || l.Agents[0].Agent != "a2" || *l.Agents[0].Drained != 50 {
		t.Errorf("fullest %s, first agent %s drained %v; want a2's, draining 50/s", l.Fill[0].Name, l.Agents[0].Agent, *l.Agents[0].Drained)
	}
}

func TestMissingStore(t *testing.T) {
	if _, err := NewStores(filepath.Join(t.TempDir(), "none.duckdb"), ""); err == nil || !strings.Contains(err.Error(), "no metric store") {
		t.Errorf("NewStores of a missing file: %v", err)
	}
	if _, err := os.Stat("static/index.html"); err != nil {
		t.Fatal(err)
	}
}
