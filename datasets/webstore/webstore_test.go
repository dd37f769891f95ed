package webstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// statistical skips the tests that generate millions of lines to measure
// shapes and ratios in -short runs and under the race detector: the
// generator runs in one goroutine, so they can find no race, and they
// take minutes there.
func statistical(t *testing.T) {
	t.Helper()
	if testing.Short() || raceEnabled {
		t.Skip("statistical test: skipped with -short and -race")
	}
}

// fixedConfig is the configuration of the byte-for-byte tests: small, with
// both kinds of fault.
func fixedConfig(seed uint64) Config {
	cfg := NewConfig(3 * time.Minute)
	cfg.Seed = seed
	cfg.Warmup = time.Minute
	cfg.SessionsPerSecond = 15
	cfg.Faults = []Fault{
		{Kind: FlashCrowd, Host: "web-02", At: time.Minute, For: time.Minute, Factor: 4},
		{Kind: ErrorStorm, Host: "web-03", At: 90 * time.Second, For: time.Minute},
	}
	return cfg
}

func generate(t testing.TB, cfg Config) []byte {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSameSeedSameBytes(t *testing.T) {
	a := generate(t, fixedConfig(42))
	b := generate(t, fixedConfig(42))
	if len(a) < 100_000 {
		t.Fatalf("only %d bytes", len(a))
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two runs of the same config differ")
	}
	// Reading record by record gives the same bytes as WriteTo.
	g, _ := New(fixedConfig(42))
	var c bytes.Buffer
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		c.Write(r.Line)
		c.WriteByte('\n')
	}
	if !bytes.Equal(a, c.Bytes()) {
		t.Fatal("Next and WriteTo differ")
	}
	if d := generate(t, fixedConfig(43)); bytes.Equal(a, d) {
		t.Fatal("another seed gave the same bytes")
	}
}

// goldenSHA256 is the digest of fixedConfig(42)'s output. It changes only
// when the generator is changed on purpose; then update it (the test
// prints the new value). Floating-point results may differ on other
// architectures (fused multiply-add), so the digest is checked on amd64.
const goldenSHA256 = "f1825029fdeb4ba0c0d951393c07bfdf7a912cfacda71d558d57ab3ef453bd48"

func TestGolden(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the golden digest is for amd64")
	}
	sum := sha256.Sum256(generate(t, fixedConfig(42)))
	if got := hex.EncodeToString(sum[:]); got != goldenSHA256 {
		t.Errorf("output digest %s, want %s (update goldenSHA256 if the generator changed on purpose)", got, goldenSHA256)
	}
}

var (
	reAccess = regexp.MustCompile(`^(\d+\.\d+\.\d+\.\d+) - - \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "(GET|POST) (/\S*) HTTP/1\.1" (\d{3}) (\d+) "([^"]*)" "([^"]+)" (\d+\.\d{3}) ([0-9a-f]{32})$`)
	reNgxErr = regexp.MustCompile(`^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[error\] \d+#\d+: \*\d+ .* while .* upstream, client: [\d.]+, server: \S+, request: "(GET|POST) /\S* HTTP/1\.1", upstream: "http://[\d.]+:8080/\S*", host: "\S+"$`)
	reApp    = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(?:Z|[+-]\d\d:\d\d)) (INFO |WARN |ERROR) ([a-z-]+) (app-\d\d) (req=[0-9a-f]{32} method=(GET|POST) path=/\S* status=(\d{3}) latency_ms=(\d+) user=(-|u\d+)(?: error="[^"]+")?|msg=health heap_mb=\d+ goroutines=\d+ gc_pause_us=\d+ inflight=\d+)$`)
	reDB     = regexp.MustCompile(`^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (UTC|[+-]\d{4}) \[\d+\] (app@store |\[unknown\]@\[unknown\] )?LOG:  (duration: \d+\.\d{3} ms  statement: .+|connection received: host=[\d.]+ port=\d+|connection authorized: user=app database=store application_name=[a-z-]+|disconnection: session time: \d+:\d\d:\d\d\.\d{3} user=app database=store host=[\d.]+ port=\d+|checkpoint starting: time|checkpoint complete: wrote \d+ buffers .*)$`)
)

// stampOf parses the time written in a line.
func stampOf(t *testing.T, tier Tier, line string, loc *time.Location) (time.Time, time.Duration) {
	t.Helper()
	if m := reAccess.FindStringSubmatch(line); m != nil {
		ts, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[2])
		if err != nil {
			t.Fatal(err)
		}
		return ts, time.Second
	}
	if m := reNgxErr.FindStringSubmatch(line); m != nil {
		ts, err := time.ParseInLocation("2006/01/02 15:04:05", m[1], loc)
		if err != nil {
			t.Fatal(err)
		}
		return ts, time.Second
	}
	if m := reApp.FindStringSubmatch(line); m != nil {
		ts, err := time.Parse("2006-01-02T15:04:05.000Z07:00", m[1])
		if err != nil {
			t.Fatal(err)
		}
		return ts, time.Millisecond
	}
	if m := reDB.FindStringSubmatch(line); m != nil {
		ts, err := time.ParseInLocation("2006-01-02 15:04:05.000", m[1], loc)
		if err != nil {
			t.Fatal(err)
		}
		return ts, time.Millisecond
	}
	t.Fatalf("%s line matches no format:\n%s", tier, line)
	return time.Time{}, 0
}

// TestLinesParse checks every line against its tier's format, that the
// stamp in the text is the record's time truncated, and that the records
// come in time order, in a zone other than UTC.
func TestLinesParse(t *testing.T) {
	cfg := fixedConfig(1)
	loc := time.FixedZone("PST", -8*3600)
	cfg.Start = time.Date(2025, 11, 3, 23, 59, 0, 0, loc) // crosses midnight
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var prev time.Time
	seen := map[string]int{}
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		if r.Time.Before(prev) {
			t.Fatalf("out of order: %v after %v", r.Time, prev)
		}
		prev = r.Time
		if r.Time.Before(cfg.Start) || !r.Time.Before(cfg.Start.Add(cfg.Duration)) {
			t.Fatalf("time %v outside the span", r.Time)
		}
		line := string(r.Line)
		if strings.ContainsAny(line, "\n\r") {
			t.Fatalf("line with a newline: %q", line)
		}
		ts, prec := stampOf(t, r.Tier, line, loc)
		if want := r.Time.Truncate(prec); !ts.Equal(want) {
			t.Fatalf("stamp %v, record time %v: %s", ts, r.Time, line)
		}
		if !strings.HasPrefix(r.Host, r.Tier.String()+"-") {
			t.Fatalf("host %s in tier %s", r.Host, r.Tier)
		}
		kind := r.Tier.String()
		switch {
		case reNgxErr.MatchString(line):
			kind = "nginx-error"
		case strings.Contains(line, "duration:"):
			kind = "slow-query"
		case strings.Contains(line, "checkpoint"):
			kind = "checkpoint"
		case strings.Contains(line, "msg=health"):
			kind = "health"
		}
		seen[kind]++
	}
	for _, k := range []string{"web", "app", "nginx-error", "slow-query", "checkpoint", "health"} {
		if seen[k] == 0 {
			t.Errorf("no %s lines (%v)", k, seen)
		}
	}
	st := g.Stats()
	if st.Lines != int64(seen["web"]+seen["app"]+seen["db"]+seen["nginx-error"]+seen["slow-query"]+seen["checkpoint"]+seen["health"]) {
		t.Errorf("stats count %d lines, saw %v", st.Lines, seen)
	}
	if st.ErrorLog != int64(seen["nginx-error"]) {
		t.Errorf("stats count %d error-log lines, saw %d", st.ErrorLog, seen["nginx-error"])
	}
}

// drained adds a pause of arrivals over the last 40 minutes, so that every
// session that began before it has ended when the logs end and the funnel
// is not biased towards short sessions.
func drained(cfg Config) Config {
	cfg.Faults = append(cfg.Faults, Fault{Kind: FlashCrowd, At: cfg.Duration - 40*time.Minute, For: 40 * time.Minute, Factor: 1e-9, Ramp: -1})
	return cfg
}

func TestFunnelRatios(t *testing.T) {
	statistical(t)
	cfg := NewConfig(2*time.Hour + 40*time.Minute)
	cfg.SessionsPerSecond = 6
	cfg.Diurnal.Amplitude = -1
	cfg.Seed = 3
	g, err := New(drained(cfg))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok := g.Next(); !ok {
			break
		}
	}
	st := g.Stats()
	f := g.Config().Funnel
	t.Logf("%+v", st)
	if st.Sessions < 30000 {
		t.Fatalf("only %d sessions", st.Sessions)
	}
	nonBounce := float64(st.Sessions - st.Bounces)
	check := func(name string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol*want {
			t.Errorf("%s = %.4f, want %.4f within %.0f%%", name, got, want, 100*tol)
		} else {
			t.Logf("%s = %.4f (want %.4f)", name, got, want)
		}
	}
	n := float64(st.Sessions)
	check("bounce", float64(st.Bounces)/n, f.Bounce, 0.05)
	// Product views of sessions that did not bounce, plus the bounces that
	// landed on a product page (20% of landings).
	check("views per session", (float64(st.ProductViews)-0.2*float64(st.Bounces))/nonBounce, f.ViewsPerSession, 0.05)
	check("cart", float64(st.CartSessions)/n, f.Cart, 0.08)
	check("checkout", float64(st.CheckoutSessions)/float64(st.CartSessions), f.Checkout, 0.08)
	check("purchase", float64(st.Purchases)/float64(st.CheckoutSessions), f.Purchase, 0.08)
	check("conversion", float64(st.Purchases)/n, f.Cart*f.Checkout*f.Purchase, 0.12)
}

// TestDiurnalShape fits the first harmonic of the hourly request counts
// over two days in a zone eight hours west of UTC.
func TestDiurnalShape(t *testing.T) {
	statistical(t)
	cfg := NewConfig(48 * time.Hour)
	cfg.SessionsPerSecond = 0.6
	cfg.Diurnal.PeakHour = 14
	cfg.Diurnal.Amplitude = 0.5
	cfg.Start = time.Date(2025, 11, 3, 0, 0, 0, 0, time.FixedZone("PST", -8*3600))
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var hours [24]float64
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		if r.Tier == TierWeb && r.Line[0] != '2' || r.Tier == TierWeb && reAccess.Match(r.Line) {
			hours[r.Time.Hour()]++
		}
	}
	var sum, c, s float64
	for h, n := range hours {
		x := 2 * math.Pi * (float64(h) + 0.5) / 24
		sum += n
		c += n * math.Cos(x)
		s += n * math.Sin(x)
	}
	amp := 2 * math.Hypot(c, s) / sum
	peak := math.Mod(math.Atan2(s, c)*24/(2*math.Pi)+24, 24)
	t.Logf("hourly requests %v: amplitude %.3f, peak at %.2f h", hours, amp, peak)
	if math.Abs(amp-0.5) > 0.05 {
		t.Errorf("amplitude %.3f, want 0.5 +- 0.05", amp)
	}
	if math.Abs(peak-14) > 0.5 {
		t.Errorf("peak at %.2f h, want 14 +- 0.5", peak)
	}
}

// perMinute counts access-log lines of one host per minute of the span.
func perMinute(t *testing.T, cfg Config, host string) (counts []float64, statuses map[int]int, g *Generator) {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	counts = make([]float64, int(cfg.Duration/time.Minute))
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		if r.Host == host && reAccess.Match(r.Line) {
			counts[int(r.Time.Sub(cfg.Start)/time.Minute)]++
		}
	}
	return counts, statuses, g
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func TestFlashCrowd(t *testing.T) {
	statistical(t)
	cfg := NewConfig(30 * time.Minute)
	cfg.SessionsPerSecond = 8
	cfg.Diurnal.Amplitude = -1
	cfg.Faults = []Fault{{Kind: FlashCrowd, Host: "web-02", At: 10 * time.Minute, For: 10 * time.Minute, Factor: 6, Ramp: time.Minute}}
	crowd, _, _ := perMinute(t, cfg, "web-02")
	other, _, g := perMinute(t, cfg, "web-01")
	before, during := mean(crowd[2:10]), mean(crowd[14:20])
	ratio := during / before
	t.Logf("web-02 per minute %v: x%.2f", crowd, ratio)
	if ratio < 4.5 || ratio > 7.5 {
		t.Errorf("web-02 requests x%.2f during the crowd, want about x6", ratio)
	}
	if r := mean(other[14:20]) / mean(other[2:10]); r < 0.75 || r > 1.33 {
		t.Errorf("web-01 requests x%.2f during web-02's crowd, want about x1", r)
	}
	tr := g.Truth()
	if len(tr) != 1 || tr[0].Host != "web-02" || tr[0].Kind != FlashCrowd ||
		!tr[0].Start.Equal(cfg.Start.Add(10*time.Minute)) || !tr[0].End.Equal(cfg.Start.Add(20*time.Minute)) {
		t.Errorf("truth %+v", tr)
	}
	if tr[0].Metrics[0].Name != "requests_per_s" || tr[0].Metrics[0].Factor != 6 {
		t.Errorf("truth metrics %+v", tr[0].Metrics)
	}
}

func TestErrorStorm(t *testing.T) {
	statistical(t)
	cfg := NewConfig(20 * time.Minute)
	cfg.SessionsPerSecond = 8
	cfg.Faults = []Fault{{Kind: ErrorStorm, Host: "web-01", At: 8 * time.Minute, For: 5 * time.Minute, ErrorRate: 0.4}}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s0, s1 := cfg.Start.Add(8*time.Minute), cfg.Start.Add(13*time.Minute)
	type count struct{ req, fail, errlog int }
	var in, out, others count
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		c := &others
		if r.Host == "web-01" {
			c = &out
			if !r.Time.Before(s0) && r.Time.Before(s1) {
				c = &in
			}
		}
		if m := reAccess.FindSubmatch(r.Line); m != nil {
			c.req++
			if m[5][0] == '5' {
				c.fail++
			}
		} else if reNgxErr.Match(r.Line) {
			c.errlog++
		}
	}
	t.Logf("in %+v, out %+v, others %+v", in, out, others)
	if share := float64(in.fail) / float64(in.req); math.Abs(share-0.4) > 0.04 {
		t.Errorf("5xx share %.3f during the storm, want 0.4", share)
	}
	if share := float64(out.fail) / float64(out.req); share > 0.01 {
		t.Errorf("5xx share %.3f outside the storm", share)
	}
	// Every web-tier failure writes one error-log line, a little later.
	if math.Abs(float64(in.errlog-in.fail)) > 0.05*float64(in.fail) {
		t.Errorf("%d error-log lines for %d failures", in.errlog, in.fail)
	}
	if others.errlog > others.req/500 {
		t.Errorf("%d error-log lines from hosts without a storm", others.errlog)
	}
	tr := g.Truth()
	if len(tr) != 1 || tr[0].Host != "web-01" || tr[0].Kind != ErrorStorm || tr[0].Component != "nginx" ||
		!tr[0].Start.Equal(s0) || !tr[0].End.Equal(s1) || tr[0].Metrics[0].Name != "status_5xx_per_s" {
		t.Errorf("truth %+v", tr)
	}
}

// TestStreamingMemory checks that state stays bounded by the sessions in
// progress over a long run.
func TestStreamingMemory(t *testing.T) {
	statistical(t)
	cfg := NewConfig(12 * time.Hour)
	cfg.SessionsPerSecond = 2
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	maxHeap := 0
	for {
		_, ok := g.Next()
		if !ok {
			break
		}
		maxHeap = max(maxHeap, len(g.heap))
	}
	// About 2-3 sessions/s, each a few minutes long: some hundreds at once.
	if len(g.sessions) > 2000 || maxHeap > 4000 {
		t.Errorf("%d session slots, %d queued events at most", len(g.sessions), maxHeap)
	}
	t.Logf("%d lines, %d session slots, %d job slots, %d queued at most", g.Stats().Lines, len(g.sessions), len(g.jobs), maxHeap)
}

func TestValidate(t *testing.T) {
	f := func(mod func(*Config), want string) {
		t.Helper()
		cfg := NewConfig(time.Hour)
		mod(&cfg)
		_, err := New(cfg)
		switch {
		case want == "" && err != nil:
			t.Errorf("unexpected error %v", err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("error %v, want %q", err, want)
		}
	}
	f(func(c *Config) {}, "")
	f(func(c *Config) { c.Duration = -1 }, "duration must be positive")
	f(func(c *Config) { c.Funnel.Cart = 0.9 }, "exceeds the sessions that do not bounce")
	f(func(c *Config) { c.Diurnal.Amplitude = 1.5 }, "amplitude")
	f(func(c *Config) { c.Faults = []Fault{{Kind: ErrorStorm, Host: "web-09", For: time.Minute}} }, `host "web-09" is not a web server`)
	f(func(c *Config) { c.Faults = []Fault{{Kind: ErrorStorm, For: time.Minute}} }, "needs a host")
	f(func(c *Config) { c.Faults = []Fault{{Kind: "meltdown", Host: "web-01", For: time.Minute}} }, "unknown kind")
	f(func(c *Config) { c.Faults = []Fault{{Kind: FlashCrowd, For: time.Minute, Ramp: time.Hour}} }, "ramp")
}

func TestParseFault(t *testing.T) {
	f := func(in string, want Fault, wantErr string) {
		t.Helper()
		got, err := ParseFault(in)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("%q: error %v, want %q", in, err, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
		}
	}
	f("flash_crowd:web-02@10m+5m:x8", Fault{Kind: FlashCrowd, Host: "web-02", At: 10 * time.Minute, For: 5 * time.Minute, Factor: 8}, "")
	f("flash_crowd:*@1h+30m", Fault{Kind: FlashCrowd, At: time.Hour, For: 30 * time.Minute}, "")
	f("error_storm:web-01@20m+3m:0.4", Fault{Kind: ErrorStorm, Host: "web-01", At: 20 * time.Minute, For: 3 * time.Minute, ErrorRate: 0.4}, "")
	f("error_storm:web-01", Fault{}, "no @AT+FOR")
	f("brownout:web-01@1m+1m", Fault{}, "unknown kind")
	f("flash_crowd:web-01@1m+x", Fault{}, "invalid duration")
}

func TestTruthSiteWide(t *testing.T) {
	cfg := Config{WebHosts: 3, Faults: []Fault{{Kind: FlashCrowd, At: time.Minute, For: time.Minute}}}
	tr := cfg.Truth()
	if len(tr) != 3 || tr[2].Host != "web-03" || tr[0].Metrics[0].Factor != 5 {
		t.Errorf("%+v", tr)
	}
}
