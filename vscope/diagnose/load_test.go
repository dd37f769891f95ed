package diagnose

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/vscope/vscope/vscope/store"
)

// otherStore hides the DuckDB store's type: Load then reads the window and
// the baseline apart, one Read per slice, as it does from VictoriaMetrics.
type otherStore struct{ store.Store }

// TestLoadTogetherOrApart: the window and baseline read together from
// DuckDB (one ReadMany, the slices one after another in memory, gathered
// in place by clean) and read apart (a Read each, copied by clean) are the
// same matrices and give the same diagnosis.
func TestLoadTogetherOrApart(t *testing.T) {
	st := simStore(t, newSim(1), simStart, simSecs, func(s *sim, sec int) {
		if sec == simBaseline+300 { // the collector's sink slows down in the window
			s.sinkLat[2], s.drainCap[2] = 0.5, 500
		}
	})
	ctx := context.Background()
	for _, rows := range []int{0, 600, -1} {
		o := Options{At: simStart.Add(simSecs * time.Second), BaselineRows: rows}
		a, err := Load(ctx, st, o)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Load(ctx, otherStore{st}, o)
		if err != nil {
			t.Fatal(err)
		}
		same := func(what string, x, y *store.Matrix) {
			t.Helper()
			if x.From != y.From || x.Step != y.Step || !slices.Equal(x.Times, y.Times) || !slices.Equal(x.Series, y.Series) || len(x.Values) != len(y.Values) {
				t.Fatalf("rows %d, %s: shapes differ", rows, what)
			}
			for i, v := range x.Values {
				if w := y.Values[i]; math.Float64bits(v) != math.Float64bits(w) && !(math.IsNaN(v) && math.IsNaN(w)) {
					t.Fatalf("rows %d, %s: cell %d is %v together, %v apart", rows, what, i, v, w)
				}
			}
		}
		same("window", a.Window, b.Window)
		if len(a.Baseline) != len(b.Baseline) || len(a.Baseline) == 0 {
			t.Fatalf("rows %d: %d baseline slices together, %d apart", rows, len(a.Baseline), len(b.Baseline))
		}
		if store.Contiguous(a.Baseline) == nil || store.Contiguous(b.Baseline) != nil && len(b.Baseline) > 1 {
			t.Fatalf("rows %d: the slices read together should lie one after another, those read apart not", rows)
		}
		for k := range a.Baseline {
			same("baseline slice", a.Baseline[k], b.Baseline[k])
		}
		ra, err := Analyze(a, o)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := Analyze(b, o)
		if err != nil {
			t.Fatal(err)
		}
		ra.TimingMS, rb.TimingMS = nil, nil
		ja, _ := json.Marshal(ra)
		jb, _ := json.Marshal(rb)
		if string(ja) != string(jb) {
			t.Fatalf("rows %d: the diagnoses differ", rows)
		}
		if rows == 600 && (ra.Baseline.UsedRows != 600 || len(a.Baseline) != 10) {
			t.Fatalf("sampled baseline: %d rows used in %d slices", ra.Baseline.UsedRows, len(a.Baseline))
		}
		if ra.Status != StatusAnomaly {
			t.Fatalf("rows %d: status %s", rows, ra.Status)
		}
	}
}
