package source

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/event"
)

// FuzzHTTPJSONHandler feeds arbitrary request bodies to the http source's
// JSON decoding and to its handler (through httptest, no sockets): no
// panic, a decoding error is a 400 with a reason, and what decodes is
// exactly what encoding/json reads from the body.
func FuzzHTTPJSONHandler(f *testing.F) {
	for _, s := range []string{
		`[{"headers": {"host": "web1"}, "body": "GET /index.html 200"}]`,
		`[{"body": "second ✓"}, {"headers": {"h": "v"}}, {"headers": {}, "body": "", "ignored": 1}]`,
		`[]`, `[{}]`, ``, ` `, `{}`, `null`, `[null]`, `[1]`, `["x"]`, `[{"body": 1}]`,
		`[{"headers": {"a": 1}}]`, `[{"headers": []}]`, `[{"body": "\ud800"}]`, `[{"body": "a"}`,
		"[{\"body\": \"\xff\"}]", `[{"headers": {"a": null}, "body": null}]`,
	} {
		f.Add([]byte(s))
	}
	var got []event.Event
	h, err := NewHTTP(component.SourceSettings{
		Processor: component.ProcessorFunc(func(_ context.Context, b []event.Event) error {
			got = append(got[:0], b...)
			return nil
		}),
	}, *NewHTTPConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := decodeJSONEvents(body)
		var bad *badRequest
		if err != nil && (!errors.As(err, &bad) || bad.msg == "") {
			t.Fatalf("%q: error %T %v, want a badRequest with a reason", body, err, err)
		}
		var ref []jsonEvent
		refErr := json.Unmarshal(body, &ref)
		if (err == nil) != (refErr == nil && len(bytes.TrimSpace(body)) > 0) {
			t.Fatalf("%q: error %v, encoding/json says %v", body, err, refErr)
		}
		if err == nil {
			if len(evs) != len(ref) {
				t.Fatalf("%q: %d events, want %d", body, len(evs), len(ref))
			}
			for i := range evs {
				if string(evs[i].Body) != ref[i].Body || len(evs[i].Headers) != len(ref[i].Headers) {
					t.Fatalf("%q: event %d is %v %q, want %v %q", body, i, evs[i].Headers, evs[i].Body, ref[i].Headers, ref[i].Body)
				}
			}
		}

		got = got[:0]
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch {
		case err == nil && w.Code != http.StatusOK:
			t.Fatalf("%q: status %d (%s), want 200", body, w.Code, w.Body)
		case err != nil && (w.Code != http.StatusBadRequest || w.Body.Len() == 0):
			t.Fatalf("%q: status %d (%q), want 400 with a reason", body, w.Code, w.Body)
		case err == nil && len(got) != len(evs):
			t.Fatalf("%q: %d events put, want %d", body, len(got), len(evs))
		}
	})
}
