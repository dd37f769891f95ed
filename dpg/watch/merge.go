package watch

import (
	"slices"
	"time"
)

// merger collects the children's summaries of each window at an
// aggregator or root. A window is complete when every child reported; one
// that is not is sent anyway a window's length after it ended (a child is
// slow or gone), and what arrives for it later is counted late and dropped.
type merger struct {
	topK     int
	children int
	graceMs  int64

	pending map[int64]*pendingWindow // by window start
	flushed int64                    // end of the newest window sent; earlier ones are late
}

type pendingWindow struct {
	sum  Summary
	from map[int]bool
}

// maxPending bounds the windows held open: a child sending windows far
// apart in time cannot grow the merger without limit.
const maxPending = 64

func newMerger() *merger { return &merger{pending: map[int64]*pendingWindow{}} }

func (m *merger) configure(s *Spec) {
	m.topK = s.Aggregate.TopK
	m.children = s.Children
	m.graceMs = time.Duration(s.Aggregate.Window).Milliseconds()
}

// add merges a child's summary. It returns whether it came too late, and
// the window if this summary completed it.
func (m *merger) add(s *Summary) (late bool, done *Summary) {
	if s.End <= m.flushed {
		return true, nil
	}
	p := m.pending[s.Start]
	if p == nil {
		if len(m.pending) >= maxPending {
			m.dropOldest()
		}
		p = &pendingWindow{sum: Summary{Start: s.Start, End: s.End}, from: map[int]bool{}}
		m.pending[s.Start] = p
	}
	if p.from[s.From] {
		return true, nil // a repeat of a child's window
	}
	p.from[s.From] = true
	p.sum.merge(s, m.topK)
	if m.children > 0 && len(p.from) >= m.children {
		delete(m.pending, s.Start)
		m.flushed = max(m.flushed, p.sum.End)
		return false, &p.sum
	}
	return false, nil
}

// due returns the windows whose grace has passed at now (unix ms), oldest
// first.
func (m *merger) due(now int64) []*Summary {
	var out []*Summary
	for start, p := range m.pending {
		if now >= p.sum.End+m.graceMs {
			out = append(out, &p.sum)
			delete(m.pending, start)
		}
	}
	slices.SortFunc(out, func(a, b *Summary) int { return int(a.Start - b.Start) })
	for _, s := range out {
		m.flushed = max(m.flushed, s.End)
	}
	return out
}

func (m *merger) dropOldest() {
	first := int64(0)
	ok := false
	for start := range m.pending {
		if !ok || start < first {
			first, ok = start, true
		}
	}
	delete(m.pending, first)
}
