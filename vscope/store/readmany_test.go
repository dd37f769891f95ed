package store

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"
)

// TestReadMany: windows read together, in pieces of a few rows by two
// connections, with the series of several filters in one scan, hold
// exactly the means of the points of their cells, as Read's do.
func TestReadMany(t *testing.T) {
	for _, threads := range []int{0, 1} {
		t.Run(fmt.Sprint("threads=", threads), func(t *testing.T) { testReadMany(t, threads) })
	}
}

func testReadMany(t *testing.T, threads int) {
	ctx := context.Background()
	s := openTemp(t, Options{Threads: threads})
	if threads > 0 {
		var got int
		if err := s.DB().QueryRow(`SELECT current_setting('threads')`).Scan(&got); err != nil || got != threads {
			t.Fatalf("threads %d, %v; want %d", got, err, threads)
		}
	}
	var ps []Point
	for i := int64(0); i < 80; i++ { // 40 s at 500 ms, some points missing
		for a := range 3 {
			for m := range 4 {
				if (int(i)+a+m)%9 == 0 {
					continue
				}
				v := float64(int(i)*(a+1)+m) * 0.25
				switch {
				case a == 2 && m == 0 && i%10 == 3:
					v = math.NaN() // a NaN point makes its cell NaN
				case a == 2 && m == 0 && i%10 == 5:
					v = math.Float64frombits(emptyBits) // whatever its bits
				case a == 1 && m == 2 && i%2 == 0:
					v = math.Copysign(0, -1)
				}
				ps = append(ps, Point{TS: t0 + i*500, Host: "h", Agent: fmt.Sprint("a", a), Component: "c1", Kind: "channel",
					Metric: fmt.Sprint("m", m), Value: v})
			}
		}
	}
	if err := s.Append(ctx, NewBatch(ps)); err != nil {
		t.Fatal(err)
	}
	q := func(from, to int64, f Filter) Query {
		return Query{From: time.UnixMilli(t0 + from), To: time.UnixMilli(t0 + to), Step: time.Second, Filter: f}
	}
	qs := []Query{
		q(0, 40000, Filter{}),
		q(3000, 9500, Filter{}), // a partial last row
		q(10000, 20000, Filter{Agent: "a1"}),
		q(10000, 20000, Filter{Agent: "a2", Metric: "m[13]"}),
		q(10000, 20000, Filter{Agent: "nobody"}),
		q(-5000, 2000, Filter{Metric: "m0"}), // before the first point
	}
	defer func(n int64) { readPiecePoints = n }(readPiecePoints)
	for _, piece := range []int64{1 << 20, 7, 1} {
		readPiecePoints = piece
		ms, err := s.ReadMany(ctx, qs)
		if err != nil {
			t.Fatal(err)
		}
		for k, m := range ms {
			want, err := s.Read(ctx, qs[k]) // the same series, for the listing
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Series) != len(want.Series) || len(m.Times) != len(want.Times) {
				t.Fatalf("piece %d, query %d: %dx%d, Read %dx%d", piece, k, len(m.Times), len(m.Series), len(want.Times), len(want.Series))
			}
			for ti, ts := range m.Times {
				for si, x := range m.Series {
					var sum float64
					n := 0
					for _, p := range ps {
						if p.TS >= ts && p.TS < ts+1000 && p.TS < qs[k].To.UnixMilli() &&
							(Series{p.Host, p.Agent, p.Component, p.Kind, p.Metric}) == x {
							sum += p.Value
							n++
						}
					}
					v, mean := m.At(ti, si), 0+sum/float64(n)
					if n == 0 && !math.IsNaN(v) || n > 0 && math.IsNaN(mean) != math.IsNaN(v) ||
						n > 0 && !math.IsNaN(mean) && math.Float64bits(v) != math.Float64bits(mean) {
						t.Fatalf("piece %d, query %d, %d %s: %v, want %v of %d points", piece, k, ts, x, v, sum/float64(n), n)
					}
				}
			}
		}
		if all := Contiguous(ms); len(all) != len(ms[0].Values)+len(ms[1].Values)+len(ms[2].Values)+len(ms[3].Values)+len(ms[5].Values) ||
			&all[0] != &ms[0].Values[0] || &all[len(ms[0].Values)] != &ms[1].Values[0] {
			t.Fatalf("the matrices of one read are not laid out one after another")
		}
		if Contiguous([]*Matrix{ms[1], ms[0]}) != nil || Contiguous([]*Matrix{ms[0], ms[2]}) != nil {
			t.Fatalf("matrices out of order or apart taken as contiguous")
		}
		if len(ms[0].Series) != 12 || &ms[0].Series[0] != &ms[1].Series[0] {
			t.Fatalf("the two unfiltered windows do not share one series list")
		}
		if len(ms[3].Series) != 2 || len(ms[4].Series) != 0 || len(ms[4].Times) != 10 {
			t.Fatalf("filtered windows: %v, %v", ms[3].Series, ms[4].Series)
		}
	}
	if _, err := s.ReadMany(ctx, []Query{qs[0], {From: time.UnixMilli(t0), To: time.UnixMilli(t0)}}); err == nil {
		t.Fatal("an empty window accepted")
	}
	if ms, err := s.ReadMany(ctx, nil); err != nil || len(ms) != 0 {
		t.Fatalf("no queries: %v %v", ms, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.ReadMany(cctx, qs); err == nil {
		t.Fatal("a cancelled read succeeded")
	}
}
