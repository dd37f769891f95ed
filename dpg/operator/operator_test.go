package operator_test

import (
	"math"
	"strings"
	"testing"

	"github.com/vscope/vscope/dpg/model"
	"github.com/vscope/vscope/dpg/operator"
)

func TestDefaultsAndNormalize(t *testing.T) {
	s := operator.DefaultSet()
	if s.Detect.Method != operator.MethodRobustZ || s.RootDetect.Method != operator.MethodSPE ||
		s.Detect.CPUNsPerSample != 400 || s.RootDetect.AlarmRate != 0.0005 || s.Aggregate.Window.Seconds() != 10 {
		t.Errorf("defaults %+v", s)
	}
	// A method picks its own defaults for the fields left zero.
	var e operator.Set
	e.Detect.Method = operator.MethodEWMA
	if err := e.Normalize(); err != nil || e.Detect.CPUNsPerSample != 30 || e.Detect.AlarmRate != 0.002 {
		t.Errorf("ewma: %v %+v", err, e.Detect)
	}
	bad := operator.DefaultSet()
	bad.Filter.Keep = 1.5
	bad.RootDetect.Method = "pca++"
	bad.Forward.Confirm = 2
	bad.Aggregate.TopK = -1
	err := bad.Normalize()
	for _, w := range []string{"operators.filter.keep: 1.5", `operators.root_detect.method: pca++`, "operators.forward.confirm: 2", "operators.aggregate.top_k: -1"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Normalize: %v lacks %q", err, w)
		}
	}
}

func TestOutputsShrink(t *testing.T) {
	s := operator.DefaultSet()
	// A host of 10 components and 164 series at 1 Hz, 16 bytes a sample.
	in := model.Load{Components: 10, Series: 164, Samples: 164, Bytes: 164 * 16}
	raw := s.RawLeaf(in)
	w := s.WatchLeaf(in, false)
	pf := s.WatchLeaf(in, true)
	if math.Abs(raw.Summary-in.Bytes*0.8) > 1e-9 {
		t.Errorf("raw leaf ships %v", raw.Summary)
	}
	if w.Summary+w.Alarm >= raw.Summary/10 {
		t.Errorf("watch leaf ships %v + %v, raw %v: want 10x less", w.Summary, w.Alarm, raw.Summary)
	}
	if pf.Alarm >= w.Alarm || pf.Summary != w.Summary {
		t.Errorf("per-flow leaf: alarm %v vs %v", pf.Alarm, w.Alarm)
	}
	// An aggregator's output is capped, whatever its input.
	for _, x := range []float64{10, 1e3, 1e6} {
		out, cpu, mem := s.Merge(x)
		if out != math.Min(x, s.MergeCap()) || cpu <= 0 || mem <= float64(s.NodeMemory) {
			t.Errorf("Merge(%v) = %v, %v, %v", x, out, cpu, mem)
		}
	}
	// A flow root costs more than a plain merge (it runs SPE).
	_, c1, _ := s.Merge(1e4)
	_, c2, _ := s.FlowRoot(1e4)
	if c2 <= c1 {
		t.Errorf("flow root cpu %v <= merge %v", c2, c1)
	}
	if len(s.LeafOps(false)) != 4 || len(s.RawLeafOps()) != 2 || len(s.FlowRootOps()) != 2 {
		t.Error("operator chains")
	}
}
