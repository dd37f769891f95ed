package sim

import (
	"context"
	"testing"
	"time"
)

// At 32 hosts both ways name the planted slow sink first, with no false
// alarm, and the DPG moves at least ten times fewer bytes than shipping
// every sample.
func TestSimFindsFaultBothWays(t *testing.T) {
	ctx := context.Background()
	dpg, central, err := Plans(ctx, 32, "hierarchical:8", 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, Config{Hosts: 32, Duration: 3 * time.Minute, FaultAfter: 2 * time.Minute, FaultHost: 17}, dpg, central)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Path{res.DPG, res.Central} {
		if !p.Found || p.FalseAlarms != 0 || p.DelaySeconds < 0 || p.DelaySeconds > 10 {
			t.Errorf("%s: found %v, %d false alarms, delay %.0f s; findings %+v", p.Name, p.Found, p.FalseAlarms, p.DelaySeconds, p.Findings)
		}
	}
	if res.Series != 161 || res.Samples != int64(32*161*180) {
		t.Errorf("series %d samples %d", res.Series, res.Samples)
	}
	if res.DPG.Bytes["raw"] == 0 || res.DPG.Bytes["summary"] == 0 || res.Central.Bytes["samples"] == 0 {
		t.Errorf("traffic: dpg %v central %v", res.DPG.Bytes, res.Central.Bytes)
	}
	if res.RatioFloor < 10 {
		t.Errorf("DPG bytes %d, every sample at 16 B %d: ratio %.1f", res.DPG.Total, res.Floor16, res.RatioFloor)
	}
	t.Logf("dpg %d B (%v), centralized %d B, floor %d B, ratio vs floor %.1f; wall %.1f s + %.1f s",
		res.DPG.Total, res.DPG.Bytes, res.Central.Total, res.Floor16, res.RatioFloor, res.DPG.WallSeconds, res.Central.WallSeconds)
}
