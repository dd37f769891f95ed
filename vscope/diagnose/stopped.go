package diagnose

import (
	"math"

	"github.com/vscope/vscope/analysis"
	"github.com/vscope/vscope/vscope/store"
)

// addStopped turns the series that reported until the window began and
// not at all inside it (a process killed at the start of the window) into
// flagged, stopped metrics, so that the components they belong to take
// part in the diagnosis: a dead collector is the cause its clients' retries
// and its peer's extra load follow from. Cleaning drops these series (a
// column of the window needs points); they are appended after the scored
// columns, with no values (rawAt gives NaN for them); the summary still
// lists every series not reporting in the window. Series that stopped
// earlier in the baseline are only listed: whatever stopped them is older
// than the window.
func addStopped(in *Input, pr *prepared, sc *scored, recent int) {
	if len(pr.stopped) == 0 || len(in.Baseline) == 0 {
		return
	}
	last := in.Baseline[len(in.Baseline)-1]
	if last == nil || len(last.Times) == 0 || len(last.Values) != len(last.Times)*len(last.Series) {
		return
	}
	col := make(map[store.Series]int, len(last.Series))
	for j, s := range last.Series {
		col[s] = j
	}
	top := 0.0
	for _, m := range sc.metrics {
		if m.flagged {
			top = math.Max(top, m.score)
		}
	}
	n, p := len(last.Times), len(last.Series)
	for _, s := range pr.stopped {
		j, ok := col[s]
		lastSeen, value := -1, math.NaN()
		if ok {
			for i := n - 1; i >= 0; i-- {
				if v := last.Values[i*p+j]; !math.IsNaN(v) && !math.IsInf(v, 0) {
					lastSeen, value = i, v
					break
				}
			}
		}
		if lastSeen < 0 || n-1-lastSeen > recent {
			continue
		}
		pr.series = append(pr.series, s)
		sc.metrics = append(sc.metrics, metricInfo{
			col: len(sc.metrics), score: math.Max(top, 1), onset: 0, flagged: true,
			missing: true, stopped: true, baseline: value, factor: 1,
			z: math.NaN(), evidence: analysis.EvidenceChange,
		})
		sc.inWindow = true
	}
}
