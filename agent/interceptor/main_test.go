package interceptor

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
)

// TestMain fails the package if a test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testPrefix is where the interceptors of the tests live in a Flume file.
const testPrefix = "a1.sources.r1.interceptors.i1."

// section builds the interceptor's config.Section from Flume property
// names and values, one line each in test.conf, in key order.
func section(props map[string]string) config.Section {
	s := config.Section{Prefix: testPrefix, Props: map[string]config.Prop{}}
	for i, k := range slices.Sorted(maps.Keys(props)) {
		s.Props[k] = config.Prop{Key: testPrefix + k, Value: props[k], File: "test.conf", Line: i + 2}
	}
	return s
}

// newInterceptor decodes props with config.Decode, as the agent's config
// loader does, and creates the interceptor. Any error is returned, with
// its file:line and key.
func newInterceptor(f component.InterceptorFactory, props map[string]string) (component.Interceptor, error) {
	cfg := f.NewConfig()
	where := config.Prop{Key: testPrefix + "type", Value: f.Type, File: "test.conf", Line: 1}
	if errs := config.Decode(section(props), cfg, where); len(errs) > 0 {
		return nil, errs
	}
	ic, err := f.Create(component.Settings{Agent: "a1", Name: "i1", Type: f.Type}, cfg)
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	return ic, nil
}

// mustInterceptor is newInterceptor for configs that must be valid.
func mustInterceptor(t testing.TB, f component.InterceptorFactory, props map[string]string) component.Interceptor {
	t.Helper()
	ic, err := newInterceptor(f, props)
	if err != nil {
		t.Fatalf("%s %v: %v", f.Type, props, err)
	}
	return ic
}

// checkConfigError asserts that props do not configure f, with an error
// containing want.
func checkConfigError(t *testing.T, f component.InterceptorFactory, props map[string]string, want string) {
	t.Helper()
	_, err := newInterceptor(f, props)
	if err == nil {
		t.Fatalf("%s %v: no error, want one containing %q", f.Type, props, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("%s %v: error %q, want one containing %q", f.Type, props, err, want)
	}
}

// ev is an event with the given body and header pairs; no pairs gives nil
// Headers, as a source that sets none hands over.
func ev(body string, kv ...string) event.Event {
	e := event.Event{Body: []byte(body)}
	if len(kv) > 0 {
		e.Headers = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			e.Headers[kv[i]] = kv[i+1]
		}
	}
	return e
}

// one runs ic on a batch of one event and returns what it kept.
func one(t *testing.T, ic component.Interceptor, e event.Event) event.Event {
	t.Helper()
	out := ic.Intercept([]event.Event{e})
	if len(out) != 1 {
		t.Fatalf("got %d events, want 1", len(out))
	}
	return out[0]
}

// checkHeaders asserts e's headers are exactly want.
func checkHeaders(t *testing.T, e event.Event, want map[string]string) {
	t.Helper()
	if e.Headers == nil && len(want) > 0 {
		t.Fatalf("headers are nil, want %v", want)
	}
	if !maps.Equal(e.Headers, want) {
		t.Fatalf("headers %v, want %v", e.Headers, want)
	}
}
