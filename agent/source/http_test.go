package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vscope/vscope/agent/component"
)

// startHTTP starts an http source on 127.0.0.1, port 0, configured by the
// defaults changed by edit, and stops it when the test ends. It returns
// the source's URL and a client whose idle connections are closed at the
// end, so goleak sees no stray goroutines.
func startHTTP(t *testing.T, p *pipe, edit func(*HTTPConfig)) (string, *http.Client) {
	t.Helper()
	cfg := NewHTTPConfig()
	if edit != nil {
		edit(cfg)
	}
	h, err := NewHTTP(p.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	host := component.HostFunc(func(err error) { t.Errorf("ReportFatal(%v)", err) })
	if err := h.Start(context.Background(), host); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		if err := h.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return "http://" + h.Addr().String() + "/", &http.Client{Transport: tr}
}

// do sends a request and returns the status code and body.
func do(t *testing.T, c *http.Client, method, url, contentType string, body io.Reader) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func post(t *testing.T, c *http.Client, url, body string) (int, string, http.Header) {
	t.Helper()
	return do(t, c, http.MethodPost, url, "application/json", strings.NewReader(body))
}

func TestHTTPGoodBatch(t *testing.T) {
	p := newPipe(t, "http", 100, 0)
	url, c := startHTTP(t, p, nil)
	code, body, _ := post(t, c, url, `[
		{"headers": {"host": "web1", "path": "/a"}, "body": "first"},
		{"body": "second ✓"},
		{"headers": {"h": "v"}},
		{"headers": {}, "body": "", "ignored": 1}
	]`)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	evs := p.drain(t)
	if got := fmt.Sprint(len(evs), bodies(evs)); got != "4 [first second ✓  ]" {
		t.Errorf("events %s", got)
	}
	if got := fmt.Sprint(evs[0].Headers, evs[1].Headers, evs[2].Headers); got != "map[host:web1 path:/a] map[] map[h:v]" {
		t.Errorf("headers %s", got)
	}
	p.wantMetrics(t, map[string]float64{
		"AppendBatchReceivedCount": 1, "AppendBatchAcceptedCount": 1,
		"EventReceivedCount": 4, "EventAcceptedCount": 4, "EventReadFail": 0,
	})

	// An empty array is fine and puts nothing.
	if code, body, _ := post(t, c, url, ` [ ] `); code != http.StatusOK {
		t.Fatalf("empty array: %d %s", code, body)
	}
	if n := p.ch.Len(); n != 0 {
		t.Errorf("empty array put %d events", n)
	}

	// The client keeps one connection alive between the requests.
	if v := p.metric(t, "OpenConnectionCount"); v != 1 {
		t.Errorf("OpenConnectionCount = %v, want 1", v)
	}
	c.CloseIdleConnections()
	eventually(t, "the connection to close", func() bool { return p.metric(t, "OpenConnectionCount") == 0 })
}

func TestHTTPBadRequests(t *testing.T) {
	p := newPipe(t, "http", 100, 0)
	url, c := startHTTP(t, p, nil)
	f := func(body, want string) {
		t.Helper()
		code, got, _ := post(t, c, url, body)
		if code != http.StatusBadRequest || !strings.Contains(got, want) {
			t.Errorf("%s: %d %q, want 400 containing %q", body, code, got, want)
		}
	}
	f(``, "empty body: expected a JSON array of events")
	f(`[{"body":"x",}]`, "invalid JSON at line 1, column 14 (byte 14)")
	f("[\n{\"body\":\"x\"},\n{\"body\" \"y\"}\n]", "invalid JSON at line 3, column 9")
	f(`[{"body":"x"}`, "unexpected end of JSON input")
	f(`[{"body":"x"}] trailing`, "invalid JSON")
	f(`{"body":"x"}`, "expected a JSON array of events, got object")
	f(`"x"`, "expected a JSON array of events, got string")
	f(`[{"body":"a"},{"body":"b"},{"headers":{"h":1},"body":"c"}]`, `event at index 2: header "h" must be a string, got number`)
	f(`[{"headers":{"a":"ok","b":{"x":"y"}}}]`, `event at index 0: header "b" must be a string, got object`)
	f(`[{"body":"a"},{"body":42}]`, "event at index 1: body must be a string, got number")
	f(`[{"body":"a"},{"body":["a"]}]`, "event at index 1: body must be a string, got array")
	f(`[{"headers":["h"]}]`, "event at index 0: headers must be an object of strings, got array")
	f(`[{"body":"a"}, 5]`, "event at index 1 must be a JSON object, got number")
	if n := p.ch.Len(); n != 0 {
		t.Errorf("bad requests put %d events", n)
	}
	p.wantMetrics(t, map[string]float64{"EventReadFail": 13, "AppendBatchReceivedCount": 0})
}

func TestHTTPNullEvent(t *testing.T) {
	p := newPipe(t, "http", 100, 0)
	url, c := startHTTP(t, p, nil)
	if code, body, _ := post(t, c, url, `[null, {"headers": null, "body": null}, {"headers": {"h": null}}]`); code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	evs := p.drain(t)
	if got := fmt.Sprint(len(evs), evs[2].Headers); got != "3 map[h:]" {
		t.Errorf("events %s", got)
	}
}

func TestHTTPTooLarge(t *testing.T) {
	p := newPipe(t, "http", 100, 0)
	url, c := startHTTP(t, p, func(cfg *HTTPConfig) { cfg.MaxRequestBytes = 100 })
	big := `[{"body":"` + strings.Repeat("x", 200) + `"}]`
	code, body, _ := post(t, c, url, big)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "exceeds maxRequestBytes 100") {
		t.Errorf("with Content-Length: %d %q", code, body)
	}
	// Without a Content-Length (chunked), the limit applies while reading.
	code, body, _ = do(t, c, http.MethodPost, url, "", io.MultiReader(strings.NewReader(big)))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "exceeds maxRequestBytes 100") {
		t.Errorf("chunked: %d %q", code, body)
	}
	// Exactly at the limit is accepted.
	exact := `[{"body":"` + strings.Repeat("y", 100-13) + `"}]`
	if code, body, _ := post(t, c, url, exact); code != http.StatusOK || len(exact) != 100 {
		t.Errorf("%d-byte body: %d %q", len(exact), code, body)
	}
	p.wantMetrics(t, map[string]float64{"EventReadFail": 2, "EventAcceptedCount": 1})
}

func TestHTTPMethods(t *testing.T) {
	p := newPipe(t, "http", 100, 0)
	url, c := startHTTP(t, p, nil)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		code, body, h := do(t, c, m, url, "", strings.NewReader(`[{"body":"x"}]`))
		if code != http.StatusMethodNotAllowed || h.Get("Allow") != "POST" || !strings.Contains(body, "POST") {
			t.Errorf("%s: %d %q Allow=%q", m, code, body, h.Get("Allow"))
		}
	}
	if n := p.ch.Len(); n != 0 {
		t.Errorf("%d events put", n)
	}
}

func TestHTTPCharset(t *testing.T) {
	p := newPipe(t, "http", 100, 0)
	url, c := startHTTP(t, p, nil)
	code, body, _ := do(t, c, http.MethodPost, url, "application/json; charset=ISO-8859-1", strings.NewReader(`[{"body":"x"}]`))
	if code != http.StatusUnsupportedMediaType {
		t.Errorf("ISO-8859-1: %d %q", code, body)
	}
	code, body, _ = do(t, c, http.MethodPost, url, "application/json; charset=UTF-8", strings.NewReader(`[{"body":"x"}]`))
	if code != http.StatusOK {
		t.Errorf("UTF-8: %d %q", code, body)
	}
}

// TestHTTPChannelFull puts into a channel of capacity 3 that nobody
// drains: a batch that does not fit now is 503 (retry), a batch that can
// never fit is 413 (split it).
func TestHTTPChannelFull(t *testing.T) {
	p := newPipe(t, "http", 3, 0)
	url, c := startHTTP(t, p, nil)
	if code, body, _ := post(t, c, url, `[{"body":"1"},{"body":"2"}]`); code != http.StatusOK {
		t.Fatalf("first batch: %d %s", code, body)
	}
	code, body, h := post(t, c, url, `[{"body":"3"},{"body":"4"}]`)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(body, "channel full") {
		t.Errorf("full channel: %d %q Retry-After=%q", code, body, h.Get("Retry-After"))
	}
	code, body, _ = post(t, c, url, `[{"body":"a"},{"body":"b"},{"body":"c"},{"body":"d"}]`)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "split the request") {
		t.Errorf("batch over transactionCapacity: %d %q", code, body)
	}
	if got := strings.Join(bodies(p.drain(t)), "|"); got != "1|2" {
		t.Errorf("channel holds %q", got)
	}
	p.wantMetrics(t, map[string]float64{
		"ChannelWriteFail": 2, "AppendBatchReceivedCount": 3, "AppendBatchAcceptedCount": 1,
		"EventReceivedCount": 8, "EventAcceptedCount": 2,
	})
}

// TestHTTPPutError checks an unexpected put failure is a 500.
func TestHTTPPutError(t *testing.T) {
	p := newPipe(t, "http", 100, 0)
	p.set.Processor = failN(p.set.Processor, 0)
	url, c := startHTTP(t, p, nil)
	code, body, _ := post(t, c, url, `[{"body":"x"}]`)
	if code != http.StatusInternalServerError || !strings.Contains(body, "boom") {
		t.Errorf("%d %q", code, body)
	}
	if code, _, _ := post(t, c, url, `[{"body":"x"}]`); code != http.StatusOK {
		t.Errorf("second request: %d", code)
	}
}

// TestHTTPStopDeadline stops while a request waits for room in a full
// channel: Stop gives up at its deadline, the put is cancelled, and Stop
// returns after the handler ended.
func TestHTTPStopDeadline(t *testing.T) {
	p := newPipe(t, "http", 1, 60) // a put waits up to a minute for room
	h, err := NewHTTP(p.set, *NewHTTPConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	url := "http://" + h.Addr().String() + "/"
	if code, body, _ := post(t, c, url, `[{"body":"fits"}]`); code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	done := make(chan int)
	go func() {
		code := 0
		if resp, err := c.Post(url, "application/json", strings.NewReader(`[{"body":"waits"}]`)); err == nil {
			code = resp.StatusCode
			resp.Body.Close()
		}
		done <- code
	}()
	chc := p.reg.Channel("c1", "memory")
	eventually(t, "the second put to start", func() bool { return chc.EventPutAttempt.Get() == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop: %v, want DeadlineExceeded", err)
	}
	if code := <-done; code == http.StatusOK {
		t.Error("the cancelled put was answered 200")
	}
	if got := strings.Join(bodies(p.drain(t)), "|"); got != "fits" {
		t.Errorf("channel holds %q", got)
	}
	if f := p.metric(t, "ChannelWriteFail"); f != 1 {
		t.Errorf("ChannelWriteFail = %v, want 1", f)
	}
}

func TestHTTPConfigValidate(t *testing.T) {
	f := func(edit func(*HTTPConfig), want string) {
		t.Helper()
		cfg := NewHTTPConfig()
		edit(cfg)
		err := cfg.Validate()
		if (want == "" && err != nil) || (want != "" && (err == nil || !strings.Contains(err.Error(), want))) {
			t.Errorf("%+v: %v, want %q", cfg, err, want)
		}
	}
	f(func(*HTTPConfig) {}, "")
	f(func(c *HTTPConfig) { c.Handler = "JSONHandler" }, "")
	f(func(c *HTTPConfig) { c.Handler = "org.example.MyHandler" }, `handler "org.example.MyHandler" is not supported`)
	f(func(c *HTTPConfig) { c.Port = -1 }, "port must be 0 to 65535")
	f(func(c *HTTPConfig) { c.MaxRequestBytes = -5 }, "maxRequestBytes must be positive")
}
