package store

import (
	"context"
	"errors"
	"math"
	"os"
	"testing"
	"time"
)

// startVM runs Debian's victoria-metrics on 127.0.0.1 for the test, or
// skips saying how to install it.
func startVM(t *testing.T) *VMServer {
	t.Helper()
	s, err := StartVictoriaMetrics(context.Background(), t.TempDir(), nil)
	if errors.Is(err, ErrNoVictoriaMetrics) {
		t.Skipf("skipping the VictoriaMetrics integration test: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// vmPoints are knownPoints with values VictoriaMetrics stores exactly: it
// keeps a float64 as a decimal mantissa (int64) and exponent, so values of
// more than ~15 significant digits come back rounded.
func vmPoints() []Point {
	ps := knownPoints()
	for i := range ps {
		if v := ps[i].Value; math.Abs(v) > 1e18 || (v != 0 && math.Abs(v) < 1e-18) || v == 7.000000000000001 {
			ps[i].Value = float64(i) * 0.5
		}
	}
	return ps
}

func TestVictoriaMetricsRoundTrip(t *testing.T) {
	srv := startVM(t)
	ctx := context.Background()
	vm := NewVictoriaMetrics(srv.URL, nil)
	defer vm.Close()
	want := vmPoints()
	if err := vm.Append(ctx, NewBatch(want[:20])); err != nil {
		t.Fatal(err)
	}
	if err := vm.Append(ctx, NewBatch(want[20:])); err != nil {
		t.Fatal(err)
	}
	if err := vm.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var m *Matrix
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err = vm.Read(ctx, window(t0, t0+8000))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Series) == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkMatrix(t, m, want)
	// The same window from DuckDB is the same matrix.
	d := openTemp(t, Options{})
	if err := d.Append(ctx, NewBatch(want)); err != nil {
		t.Fatal(err)
	}
	dm, err := d.Read(ctx, window(t0, t0+8000))
	if err != nil {
		t.Fatal(err)
	}
	if len(dm.Series) != len(m.Series) {
		t.Fatalf("series: duckdb %v, vm %v", dm.Series, m.Series)
	}
	for i := range dm.Series {
		if dm.Series[i] != m.Series[i] {
			t.Fatalf("column %d: duckdb %v, vm %v", i, dm.Series[i], m.Series[i])
		}
	}
	// A filter on glob and exact labels, and a narrower window.
	q := window(t0+2000, t0+4000)
	q.Filter = Filter{Host: "h*", Agent: "a1", Metric: "*Rate"}
	m, err = vm.Read(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Series) != 1 || m.Series[0].Component != "r1" || len(m.Times) != 2 {
		t.Fatalf("filtered: %v x %d", m.Series, len(m.Times))
	}
	infos, err := vm.Series(ctx, Filter{Kind: "channel"})
	if err != nil || len(infos) != 1 || infos[0].Metric != "ChannelSize" {
		t.Fatalf("series: %v %v", infos, err)
	}
	if os.Getenv("VSCOPE_TEST_LONG") != "" {
		t.Log("VictoriaMetrics data bytes:", srv.DiskBytes())
	}
}

func TestGlobRegexp(t *testing.T) {
	f := func(glob, want string) {
		t.Helper()
		if got := globRegexp(glob); got != want {
			t.Fatalf("%q: %q, want %q", glob, got, want)
		}
	}
	f("disk:*", "disk:.*")
	f("a?.b", `a.\.b`)
	f("[!x]y", "[^x]y")
	f(`\*`, `\*`)
	if got := selector(Filter{}); got != `{__name__!=""}` {
		t.Fatal(got)
	}
	if got := selector(Filter{Agent: "a1", Metric: "Ch*"}); got != `{__name__=~"Ch.*",agent="a1"}` {
		t.Fatal(got)
	}
}
