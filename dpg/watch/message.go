package watch

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Summary is one window of a subtree: what a leaf saw, or the merge of
// its children's summaries at an aggregator. Its size is bounded by the
// key metrics and TopK, not by the hosts beneath it.
type Summary struct {
	Deployment string `json:"dep"`
	From       int    `json:"from"` // the sending node's id in the plan
	Start      int64  `json:"start"`
	End        int64  `json:"end"` // window [start, end), unix ms
	Hosts      int    `json:"hosts"`
	Components int    `json:"comps"`
	// Alarms is the number of alarms raised beneath in the window.
	Alarms int `json:"alarms,omitempty"`
	// MaxScore is the highest score of any component beneath.
	MaxScore float64 `json:"max"`
	Stats    []Stat  `json:"stats,omitempty"`
	// Top lists the components of highest score (at a leaf only those
	// whose score reached the report level), highest first.
	Top []Component `json:"top,omitempty"`
}

// Stat merges one key metric over the components beneath: N components,
// the sum of their window means, the least and greatest sample.
type Stat struct {
	Series string  `json:"s"` // kind/metric
	N      int     `json:"n"`
	Sum    float64 `json:"sum"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Component is one component's state in a window.
type Component struct {
	Host      string  `json:"h"`
	Agent     string  `json:"a,omitempty"`
	Component string  `json:"c"`
	Kind      string  `json:"k"`
	Metric    string  `json:"m,omitempty"` // the series of highest score
	Score     float64 `json:"score"`
	Alarm     bool    `json:"alarm,omitempty"`
}

// Key names the component: host/agent/component.
func (c *Component) Key() string { return c.Host + "/" + c.Agent + "/" + c.Component }

// Alarm is a component's score staying over the threshold.
type Alarm struct {
	Component
	At int64 `json:"at"` // unix ms of the sample that raised it
	// Onset is the first sample of the run over the threshold.
	Onset int64 `json:"onset"`
	// Points is the number of raw values shipped with it (at the root).
	Points int `json:"points,omitempty"`
}

// RawWindow is a leaf's escalation: the raw history of the alarmed
// component and of the others in its scope.
type RawWindow struct {
	Deployment string   `json:"dep"`
	From       int      `json:"from"`
	Alarm      Alarm    `json:"alarm"`
	Series     []Series `json:"series"`
}

// Series is the raw history of one series.
type Series struct {
	Host      string    `json:"h"`
	Agent     string    `json:"a,omitempty"`
	Component string    `json:"c"`
	Kind      string    `json:"k"`
	Metric    string    `json:"m"`
	TS        []int64   `json:"ts"`
	Values    []float64 `json:"v"`
}

// Samples is one interval of a centralized leaf: every kept sample.
type Samples struct {
	Deployment string   `json:"dep"`
	From       int      `json:"from"`
	Host       string   `json:"h"`
	TS         int64    `json:"ts"`
	Points     []Sample `json:"p"`
}

// Sample is one value of a Samples message.
type Sample struct {
	Agent     string  `json:"a,omitempty"`
	Component string  `json:"c"`
	Kind      string  `json:"k"`
	Metric    string  `json:"m"`
	Value     float64 `json:"v"`
}

// check rejects a message that cannot be merged: values a JSON decoder
// accepts but the merge cannot use.
func (s *Summary) check() error {
	if s.End <= s.Start {
		return fmt.Errorf("window [%d, %d) is empty", s.Start, s.End)
	}
	if s.Hosts < 0 || s.Components < 0 || s.Alarms < 0 {
		return fmt.Errorf("negative count")
	}
	for i := range s.Stats {
		if s.Stats[i].N < 0 {
			return fmt.Errorf("stats[%d].n: negative", i)
		}
	}
	if len(s.Top) > 100000 || len(s.Stats) > 100000 {
		return fmt.Errorf("too many entries")
	}
	return nil
}

// merge folds o into s. Both cover the same window.
func (s *Summary) merge(o *Summary, topK int) {
	s.Hosts += o.Hosts
	s.Components += o.Components
	s.Alarms += o.Alarms
	s.MaxScore = math.Max(s.MaxScore, o.MaxScore)
	for _, st := range o.Stats {
		i := slices.IndexFunc(s.Stats, func(x Stat) bool { return x.Series == st.Series })
		if i < 0 {
			s.Stats = append(s.Stats, st)
			continue
		}
		x := &s.Stats[i]
		if x.N == 0 {
			*x = st
			continue
		}
		if st.N == 0 {
			continue
		}
		x.N += st.N
		x.Sum += st.Sum
		x.Min = math.Min(x.Min, st.Min)
		x.Max = math.Max(x.Max, st.Max)
	}
	s.Top = append(s.Top, o.Top...)
	sortTop(s.Top)
	if len(s.Top) > topK {
		s.Top = s.Top[:topK]
	}
}

// sortTop orders components by score, alarms first among equals, then by
// name so that merges are deterministic.
func sortTop(t []Component) {
	slices.SortStableFunc(t, func(a, b Component) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		if a.Alarm != b.Alarm {
			if a.Alarm {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Key(), b.Key())
	})
}
