package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vscope/vscope/agent/monitor"
	"github.com/vscope/vscope/dpg/watch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	token = "control-token-0123456789"
	key   = "deployment-key-0123456789"
)

// syncBuf is a log destination several goroutines write.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a host and its control server on 127.0.0.1:0.
func start(t *testing.T) (*Server, *watch.Host, *syncBuf) {
	t.Helper()
	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	reg := monitor.NewRegistry("a1")
	reg.Sink("k1", "null")
	h := watch.NewHost(watch.Options{Name: "web-01", Registries: []*monitor.Registry{reg}, Interval: 50 * time.Millisecond, Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	addrFile := filepath.Join(t.TempDir(), "control.addr")
	s, err := Start(h, Options{Addr: ":0", Token: token, AddrFile: addrFile, Agents: []string{"a1"}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Close(context.Background())
		cancel()
		<-done
	})
	b, err := os.ReadFile(addrFile)
	if err != nil || strings.TrimSpace(string(b)) != s.URL() || !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("address file %q (%v), url %s", b, err, s.URL())
	}
	return s, h, logs
}

func call(t *testing.T, method, url, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func spec(role, parent string) string {
	s := map[string]any{"deployment": "d1", "node": 1, "role": role, "key": key, "aggregate": map[string]any{"window": "200ms"}}
	if role == "root" {
		s["node"], s["children"] = 0, 1
	}
	if parent != "" {
		s["parent"] = map[string]string{"url": parent, "id": "d1.0"}
		s["root"] = map[string]string{"url": parent, "id": "d1.0"}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func TestAuthRefusedAndCounted(t *testing.T) {
	s, _, logs := start(t)
	f := func(method, path, auth, body string, want int, msg string) {
		t.Helper()
		code, out := call(t, method, s.URL()+path, auth, body)
		if code != want || !strings.Contains(out, msg) {
			t.Errorf("%s %s with %q: %d %s, want %d %q", method, path, auth, code, out, want, msg)
		}
	}
	f("GET", "/v1/status", "", "", 401, "missing bearer token")
	f("GET", "/v1/status", "Basic dXNlcjpwYXNz", "", 401, "malformed Authorization header")
	f("GET", "/v1/status", "Bearer nope-"+token, "", 401, "wrong bearer token")
	f("PUT", "/v1/operators/d1.0", "Bearer wrong", spec("root", ""), 401, "wrong bearer token")
	f("DELETE", "/v1/operators?deployment=d1", "", "", 401, "missing bearer token")
	// The deployment key is not a control token.
	f("PUT", "/v1/operators/d1.0", "Bearer "+token, spec("root", ""), 201, `"state": "running"`)
	f("GET", "/v1/status", "Bearer "+key, "", 401, "wrong bearer token")
	f("POST", "/v1/operators/d1.0/summary", "Bearer "+key[1:], `{}`, 401, "wrong bearer token for operator d1.0")
	f("POST", "/v1/operators/d1.0/summary", "", `{}`, 401, "missing bearer token")
	f("GET", "/healthz", "", "", 200, "ok")
	if a := s.AuthFailures(); a.Missing != 3 || a.Malformed != 1 || a.Wrong != 4 {
		t.Errorf("counted %+v", a)
	}
	code, out := call(t, "GET", s.URL()+"/v1/status", "bearer "+token, "")
	var st StatusResponse
	if code != 200 || json.Unmarshal([]byte(out), &st) != nil || st.AuthFailures.Total() != 8 || st.Host != "web-01" || len(st.Agents) != 1 {
		t.Fatalf("status %d %s", code, out)
	}
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), key) || !strings.Contains(logs.String(), "request refused") {
		t.Errorf("logs leak a token or lack the refusal:\n%s", logs)
	}
}

func TestOperatorsLifecycle(t *testing.T) {
	s, h, _ := start(t)
	auth := "Bearer " + token
	f := func(method, path, body string, want int, msg string) string {
		t.Helper()
		code, out := call(t, method, s.URL()+path, auth, body)
		if code != want || !strings.Contains(out, msg) {
			t.Errorf("%s %s: %d %s, want %d %q", method, path, code, out, want, msg)
		}
		return out
	}
	f("PUT", "/v1/operators/d1.0", spec("root", ""), 201, `"role": "root"`)
	f("PUT", "/v1/operators/d1.1", spec("leaf", s.URL()), 201, `"role": "leaf"`)
	f("PUT", "/v1/operators/d1.1", strings.Replace(spec("leaf", s.URL()), `"key"`, `"detect":{"method":"ewma"},"key"`, 1), 200, `"method": "ewma"`)
	f("PUT", "/v1/operators/d1.2", `{"deployment": "d1", "role": "leaf", "key": "`+key+`", "detect": {"threshold": -1}}`, 400,
		"operator d1.2: bad watch spec: parent: required")
	f("PUT", "/v1/operators/d1.2", `{"deployment": "d1", "role": "root", "key": "`+key+`", "detect": {"threshold": -1}}`, 400, "detect.threshold")
	f("PUT", "/v1/operators/d1.2", `not json`, 400, "bad watch spec")
	f("PUT", "/v1/operators/d1.2", strings.Repeat(" ", 2<<20), 413, "body over")
	f("GET", "/v1/operators/nope", "", 404, `no operator \"nope\"`)
	f("DELETE", "/v1/operators/nope", "", 404, "no such operator")
	f("POST", "/v1/operators/nope/summary", "{}", 404, `no operator \"nope\"`)
	f("POST", "/v1/operators/d1.0/summary", `{"start": 5, "end": 1}`, 400, "window [5, 1) is empty")
	f("DELETE", "/v1/operators?deployment=", "", 400, "give ?deployment=NAME")
	f("PATCH", "/v1/operators/d1.0", "", 405, "Method Not Allowed")

	// The leaf samples the registry, sends its summaries to the root over
	// the data plane with the deployment key, and the root merges them.
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, _ := h.Node("d1.0")
		st := n.Status()
		if st.SummariesReceived >= 2 && st.Window != nil && st.Window.Hosts == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("root got no summaries: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := s.AuthFailures(); a.Total() != 0 {
		t.Errorf("data plane refused: %+v", a)
	}
	var leaf watch.Status
	out := f("GET", "/v1/operators/d1.1", "", 200, `"state": "running"`)
	if err := json.Unmarshal([]byte(out), &leaf); err != nil || leaf.SummariesSent < 2 || leaf.BytesShipped == 0 || leaf.SendErrors != 0 {
		t.Errorf("leaf %+v %v", leaf, err)
	}
	out = f("DELETE", "/v1/operators?deployment=d1", "", 200, `"removed"`)
	var del DeleteResponse
	if err := json.Unmarshal([]byte(out), &del); err != nil || fmt.Sprint(del.Removed) != "[d1.0 d1.1]" {
		t.Errorf("removed %+v %v", del, err)
	}
	if len(h.Statuses()) != 0 {
		t.Errorf("left %+v", h.Statuses())
	}
}

func TestClient(t *testing.T) {
	s, _, _ := start(t)
	ctx := context.Background()
	c := NewClient(s.URL(), token, nil)
	defer c.hc.CloseIdleConnections()
	sp, err := watch.ParseSpec([]byte(spec("root", "")))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Put(ctx, "d1.0", &sp); err != nil || st.State != "running" {
		t.Fatalf("put %+v %v", st, err)
	}
	if st, err := c.Status(ctx); err != nil || len(st.Operators) != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	if err := c.Delete(ctx, "d1.0"); err != nil {
		t.Fatal(err)
	}
	var api *APIError
	if err := c.Delete(ctx, "d1.0"); !errors.As(err, &api) || api.Code != 404 {
		t.Errorf("second delete: %v", err)
	}
	bad := NewClient(s.URL(), "wrong-token-0123456789", nil)
	defer bad.hc.CloseIdleConnections()
	if _, err := bad.Status(ctx); !errors.As(err, &api) || api.Code != 401 || !strings.Contains(err.Error(), "401 Unauthorized: wrong bearer token") {
		t.Errorf("wrong token: %v", err)
	}
}

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	short := filepath.Join(dir, "short")
	_ = os.WriteFile(good, []byte("  "+token+"\n"), 0o600)
	_ = os.WriteFile(short, []byte("abc\n"), 0o600)
	if tok, err := LoadToken(good); err != nil || tok != token {
		t.Errorf("good: %q %v", tok, err)
	}
	if _, err := LoadToken(short); err == nil || !strings.Contains(err.Error(), "3 characters, want at least 16") || strings.Contains(err.Error(), "abc") {
		t.Errorf("short: %v", err)
	}
	if _, err := LoadToken(filepath.Join(dir, "none")); err == nil {
		t.Error("missing file accepted")
	}
	t.Setenv(TokenEnv, "")
	if _, err := LoadToken(""); err == nil || !strings.Contains(err.Error(), "--control-token-file") {
		t.Errorf("no token: %v", err)
	}
	t.Setenv(TokenEnv, token)
	if tok, err := LoadToken(""); err != nil || tok != token {
		t.Errorf("env: %q %v", tok, err)
	}
	if _, err := Start(nil, Options{Token: "short"}); err == nil {
		t.Error("short token accepted by Start")
	}
}
