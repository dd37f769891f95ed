package store

import "hash/maphash"

// seriesIndex maps series to dense ids. It keys a map by a 64-bit hash of
// the names, checked against the stored series, which costs a fraction of
// a map keyed by the five strings when there are 100k series; the rare
// series whose hash is taken by another go to a map of their own.
type seriesIndex struct {
	seed    maphash.Seed
	byHash  map[uint64]int32
	collide map[Series]int32
}

func newSeriesIndex(n int) *seriesIndex {
	return &seriesIndex{seed: maphash.MakeSeed(), byHash: make(map[uint64]int32, n)}
}

func (x *seriesIndex) hash(s Series) uint64 {
	var h maphash.Hash
	h.SetSeed(x.seed)
	for _, f := range [5]string{s.Host, s.Agent, s.Component, s.Kind, s.Metric} {
		h.WriteString(f)
		h.WriteByte(0)
	}
	return h.Sum64()
}

// get returns the id of s; series is the id -> series table the ids index.
func (x *seriesIndex) get(s Series, series []Series) (int32, bool) {
	h := x.hash(s)
	if id, ok := x.byHash[h]; ok && series[id] == s {
		return id, true
	}
	id, ok := x.collide[s]
	return id, ok
}

// put records that s has id; s must not be in the index.
func (x *seriesIndex) put(s Series, id int32) {
	h := x.hash(s)
	if _, taken := x.byHash[h]; !taken {
		x.byHash[h] = id
		return
	}
	if x.collide == nil {
		x.collide = map[Series]int32{}
	}
	x.collide[s] = id
}

func (x *seriesIndex) reset() {
	clear(x.byHash)
	clear(x.collide)
}
