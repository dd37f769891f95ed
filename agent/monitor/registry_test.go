package monitor

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPromName(t *testing.T) {
	f := func(kind Kind, name string, counter bool, want string) {
		t.Helper()
		if got := promName(kind, name, counter); got != want {
			t.Fatalf("promName(%s, %s) = %s, want %s", kind, name, got, want)
		}
	}
	f(KindSource, "EventReceivedCount", true, "flume_source_event_received_total")
	f(KindChannel, "ChannelFillPercentage", false, "flume_channel_fill_percentage")
	f(KindSink, "EventWriteFail", true, "flume_sink_event_write_fail_total")
	f(KindSource, "OpenConnectionCount", false, "flume_source_open_connection")
}

// Two agents in one process must not share counters even when their
// components have the same names.
func TestRegistriesAreIndependent(t *testing.T) {
	a, b := NewRegistry("a1"), NewRegistry("a2")
	a.Source("r1", "netcat").EventAccepted.Add(7)
	b.Source("r1", "netcat").EventAccepted.Add(2)
	if got := a.Source("r1", "netcat").EventAccepted.Get(); got != 7 {
		t.Fatalf("a1 r1 accepted %d, want 7", got)
	}
	var buf bytes.Buffer
	b.WritePrometheus(&buf)
	if !strings.Contains(buf.String(), `flume_source_event_accepted_total{agent="a2",component="r1",type="netcat"} 2`) {
		t.Fatalf("a2 exposition:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), `agent="a1"`) {
		t.Fatalf("a2 exposition shows a1's counters:\n%s", buf.String())
	}
}

func TestSameCountersAcrossReloadNewOnTypeChange(t *testing.T) {
	r := NewRegistry("a1")
	c := r.Channel("c1", "memory")
	c.EventPutSuccess.Add(5)
	if r.Channel("c1", "memory") != c {
		t.Fatal("same name and type must return the same counters")
	}
	if r.Channel("c1", "file") == c {
		t.Fatal("a type change must give new counters")
	}
	var buf bytes.Buffer
	r.WritePrometheus(&buf)
	if strings.Contains(buf.String(), `type="memory"`) {
		t.Fatalf("old type's series still exposed:\n%s", buf.String())
	}
	r.Remove(KindChannel, "c1")
	if s := r.Samples(); len(s) != 0 {
		t.Fatalf("samples after Remove: %v", s)
	}
}

func TestFlumeJSONShape(t *testing.T) {
	r := NewRegistry("a1")
	ch := r.Channel("c1", "memory")
	ch.SetCapacity(200)
	ch.SetSize(50)
	ch.EventPutSuccess.Add(60)
	ch.MarkStarted()
	sk := r.Sink("k1", "logger")
	sk.CountBatch(0, 100)
	sk.CountBatch(10, 100)
	sk.CountBatch(100, 100)

	srv := httptest.NewServer(Handler(r))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	c1 := got["CHANNEL.c1"]
	for k, want := range map[string]string{
		"Type": "CHANNEL", "ChannelSize": "50", "ChannelCapacity": "200",
		"ChannelFillPercentage": "25", "EventPutSuccessCount": "60",
	} {
		if c1[k] != want {
			t.Errorf("CHANNEL.c1 %s = %q, want %q", k, c1[k], want)
		}
	}
	if c1["StartTime"] == "0" || c1["StopTime"] != "0" {
		t.Errorf("start/stop times: %q %q", c1["StartTime"], c1["StopTime"])
	}
	k1 := got["SINK.k1"]
	if k1["BatchEmptyCount"] != "1" || k1["BatchUnderflowCount"] != "1" || k1["BatchCompleteCount"] != "1" {
		t.Errorf("SINK.k1 batch counts: %v", k1)
	}

	resp2, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	body, _ := io.ReadAll(resp2.Body)
	for _, want := range []string{
		`flume_channel_size{agent="a1",component="c1",type="memory"} 50`,
		`flume_sink_batch_empty_total{agent="a1",component="k1",type="logger"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
