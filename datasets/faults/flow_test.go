package faults

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/vscope/vscope/datasets/webstore"
)

func mustSpec(t *testing.T, s string) Spec {
	t.Helper()
	sp, err := ParseSpec(s)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// TestFlowReplayTiming60x: the figure. Half an hour of the web
// store (4 web servers) at 60x through the local flow: the replay keeps
// the logs' timing within 1% and no line is lost on the way to the
// Parquet files. Long: 30 s of replay.
func TestFlowReplayTiming60x(t *testing.T) {
	if os.Getenv("VSCOPE_TEST_LONG") != "1" {
		t.Skip("VSCOPE_TEST_LONG=1: 30 minutes of logs at 60x")
	}
	cfg := webstore.NewConfig(30 * time.Minute)
	res, err := Run(context.Background(), Scenario{Flow: testFlow(t), Webstore: &cfg, Speed: 60, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	st, d := res.Replay, res.Delivery
	t.Logf("%d lines (%d to the 4 web agents) in %v for %v of logs: timing error %.3f%%, lag mean %v p99 %v max %v; agents' ack lag p99 %v max %v",
		st.Read, res.Route.Routed, st.Elapsed, st.LogEnd.Sub(st.LogStart), 100*st.TimingError(), st.MeanLag, st.P99Lag, st.MaxLag, res.Route.P99Lag, res.Route.MaxLag)
	t.Logf("parquet: %d rows %v, lost %d, duplicates %d", d.Rows, d.PerCollector, d.Lost, d.Duplicates)
	if e := st.TimingError(); e > 0.01 {
		t.Errorf("timing error %.3f%%, want within 1%%", 100*e)
	}
	if res.Lost() != 0 || d.Lost != 0 || d.Duplicates != 0 || d.Rows != res.Route.Routed {
		t.Errorf("lost %d, parquet lost %d, duplicates %d, rows %d of %d", res.Lost(), d.Lost, d.Duplicates, d.Rows, res.Route.Routed)
	}
}
