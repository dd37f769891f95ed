package diagnose

import (
	"math"
	"slices"

	"github.com/vscope/vscope/vscope/store"
)

// Peer comparison. The same metric of the same component on other hosts
// (sink k1 of agent web on web-01 and on web-02; the Go heap of every
// agent process; every host's memory) is its peer. A change that a metric
// shares with its peers is not where a fault is: a machine-wide load, the
// heaps of freshly started agents growing together, the clients of a slow
// collector all waiting on it. What one metric does and its peers do not
// is. So each metric's robust z-score is measured against what its peers
// did at the same time: the part of its deviation that the median of the
// other peers shares, in the same direction, is taken off (a metric at
// z = +40 whose peers are at +35 keeps +5; one at +40 whose peers are at
// 0 keeps +40; one peer at -10 takes nothing off). With one peer the
// "median" is that peer, so two web servers judge each other; with many
// one odd peer cannot hide a common change.
//
// When the peers' common changes are all there is (every host slowed by
// one shared cause), nothing is flagged after the discount and the
// scoring falls back to the undiscounted z-scores: a shared cause is then
// reported as every host moving together.

// peerKey is a series with its host blanked: the series of one peer group.
func peerKey(s store.Series) store.Series {
	s.Host = ""
	return s
}

// peerGroups groups the columns by peerKey, keeping groups that span at
// least two hosts. The result maps a column to its group's members (the
// same slice for every member).
func peerGroups(series []store.Series) map[int][]int {
	byKey := map[store.Series][]int{}
	for j, s := range series {
		// Failures are not discounted: the clients of a crashed
		// collector all failing to reach it is each client's trouble,
		// where their waiting on a slow one is the collector's.
		if s.Host == "" || metricKind(s) == mkFailure {
			continue
		}
		k := peerKey(s)
		byKey[k] = append(byKey[k], j)
	}
	out := map[int][]int{}
	for _, cols := range byKey {
		if len(cols) < 2 {
			continue
		}
		for _, j := range cols {
			out[j] = cols
		}
	}
	return out
}

// peerCommon computes, for each candidate column (a column whose own |z|
// passes th somewhere) in a peer group, the median z of its other peers at
// every row.
func peerCommon(n int, groups map[int][]int, candidate []bool, v *zview) map[int][]float32 {
	out := map[int][]float32{}
	done := map[int]bool{} // by first member of a group
	var zs [][]float64
	var vals, sorted []float64
	for j, members := range groups {
		if !candidate[j] || done[members[0]] {
			continue
		}
		done[members[0]] = true
		g := len(members)
		for len(zs) < g {
			zs = append(zs, make([]float64, n))
		}
		for k, m := range members {
			v.column(m, zs[k])
			if candidate[m] {
				out[m] = make([]float32, n)
			}
		}
		vals = slices.Grow(vals[:0], g)[:g]
		sorted = slices.Grow(sorted[:0], g)[:g]
		for i := range n {
			for k := range members {
				vals[k] = zs[k][i]
			}
			copy(sorted, vals)
			slices.Sort(sorted)
			for k, m := range members {
				if candidate[m] {
					out[m][i] = float32(medianWithout(sorted, vals[k]))
				}
			}
		}
	}
	return out
}

// medianWithout is the median of sorted with one element equal to v left
// out (len(sorted) >= 2).
func medianWithout(sorted []float64, v float64) float64 {
	k, _ := slices.BinarySearch(sorted, v)
	if k >= len(sorted) {
		k = len(sorted) - 1
	}
	m := len(sorted) - 1
	at := func(r int) float64 { // r-th of the remaining, in order
		if r >= k {
			r++
		}
		return sorted[r]
	}
	return (at((m-1)/2) + at(m/2)) / 2
}

// discount is z less the part of it its peers' common deviation c shares
// in the same direction.
func discount(z, c float64) float64 {
	switch {
	case z > 0 && c > 0:
		return z - math.Min(z, c)
	case z < 0 && c < 0:
		return z - math.Max(z, c)
	}
	return z
}
