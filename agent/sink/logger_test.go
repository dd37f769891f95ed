package sink

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/vscope/vscope/agent/event"
)

// recorder is a slog.Handler that keeps every record's level and message.
type recorder struct {
	level slog.Level
	mu    sync.Mutex
	lines []string
}

func (h *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, r.Level.String()+" "+r.Message)
	return nil
}
func (h *recorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recorder) WithGroup(string) slog.Handler      { return h }

func TestDumpEvent(t *testing.T) {
	f := func(e event.Event, maxBytes int, want string) {
		t.Helper()
		if got := string(appendDump(nil, &e, maxBytes)); got != want {
			t.Errorf("dump(%q, %d)\n got %q\nwant %q", e.Body, maxBytes, got, want)
		}
	}
	// Flume's user guide shows this line for "Hello world!\r".
	f(event.Event{Body: []byte("Hello world!\r")}, 16,
		"{ headers:{} body: 48 65 6C 6C 6F 20 77 6F 72 6C 64 21 0D          Hello world!. }")
	f(event.Event{Body: []byte("Hello world"), Headers: map[string]string{"b": "2", "a": "1"}}, 16,
		"{ headers:{a=1, b=2} body: 48 65 6C 6C 6F 20 77 6F 72 6C 64                Hello world }")
	// Truncated at maxBytes.
	f(event.Event{Body: []byte("0123456789abcdefTAIL")}, 16,
		"{ headers:{} body: 30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66 0123456789abcdef }")
	f(event.Event{Body: []byte("Hello")}, 2,
		"{ headers:{} body: 48 65                                           He }")
	// Past sixteen bytes, Commons IO's HexDump starts a line with its offset.
	f(event.Event{Body: []byte("0123456789abcdefXY")}, 100,
		"{ headers:{} body: 30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66 0123456789abcdef\n"+
			"00000010 58 59                                           XY }")
	// Non-printable bytes are dots; bytes past 0x7E too.
	f(event.Event{Body: []byte{0x00, 0x1F, 0x20, 0x7E, 0x7F, 0xFF}}, 16,
		"{ headers:{} body: 00 1F 20 7E 7F FF                               .. ~.. }")
	f(event.Event{Headers: map[string]string{"host": "h1"}}, 16, "{ headers:{host=h1} body: }")
	f(event.Event{Body: []byte("x")}, 0, "{ headers:{} body: }")
}

func TestLoggerLogsEveryEvent(t *testing.T) {
	r := newRig(t, "logger", 100, 100)
	rec := &recorder{level: slog.LevelInfo}
	r.set.Logger = slog.New(rec)
	cfg := NewLoggerConfig()
	cfg.Batch = 2
	s, err := NewLogger(r.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.put(t, 100, "Hello world", "second event body is long", "")
	drainAll(t, s, r.ch)
	want := []string{
		"INFO Event: { headers:{} body: 48 65 6C 6C 6F 20 77 6F 72 6C 64                Hello world }",
		"INFO Event: { headers:{} body: 73 65 63 6F 6E 64 20 65 76 65 6E 74 20 62 6F 64 second event bod }",
		"INFO Event: { headers:{} body: }",
	}
	if got := strings.Join(rec.lines, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("logged\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	c := r.counter()
	counts(t, "EventDrainSuccess", c.EventDrainSuccess.Get(), 3)
	counts(t, "BatchComplete", c.BatchComplete.Get(), 1)
	counts(t, "BatchUnderflow", c.BatchUnderflow.Get(), 1)
}

func TestLoggerDrainsWhenInfoIsOff(t *testing.T) {
	r := newRig(t, "logger", 100, 100)
	rec := &recorder{level: slog.LevelWarn}
	r.set.Logger = slog.New(rec)
	s, err := NewLogger(r.set, *NewLoggerConfig())
	if err != nil {
		t.Fatal(err)
	}
	r.put(t, 100, bodies(10)...)
	drainAll(t, s, r.ch)
	if len(rec.lines) != 0 {
		t.Errorf("logged %d lines at Warn level", len(rec.lines))
	}
	counts(t, "EventDrainSuccess", r.counter().EventDrainSuccess.Get(), 10)
}

func TestLoggerConfig(t *testing.T) {
	f := func(maxBytes, batch int, ok bool) {
		t.Helper()
		c := &LoggerConfig{MaxBytesToLog: maxBytes, Batch: batch}
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("maxBytesToLog %d batchSize %d: Validate() = %v, want ok=%v", maxBytes, batch, err, ok)
		}
	}
	f(16, 100, true)
	f(0, 1, true)
	f(-1, 100, false)
	f(16, 0, false)
}
