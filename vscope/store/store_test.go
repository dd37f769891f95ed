package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is a whole minute, so downsampling buckets are easy to compute.
var t0 = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC).UnixMilli()

// knownPoints is a set of samples with awkward names and values: unicode,
// empty agent, quotes, extreme and negative floats, several timestamps.
func knownPoints() []Point {
	var ps []Point
	names := []Series{
		{"h1", "a1", "r1", "source", "EventAcceptedRate"},
		{"h1", "a1", "c1", "channel", "ChannelSize"},
		{"h1", "", "cpu", "host", "busy_percent"},
		{"höst-2", "a\"2", "k,1", "sink", "batch_duration_p99_seconds"},
		{"h1", "a1", "go", "runtime", "gc pause/seconds"},
	}
	values := []float64{0, 1.5, -3.25, 1e300, -1e-300, math.MaxFloat64, 42, 7.000000000000001}
	for i := 0; i < 8; i++ {
		for j, s := range names {
			ps = append(ps, Point{TS: t0 + int64(i)*1000, Host: s.Host, Agent: s.Agent, Component: s.Component,
				Kind: s.Kind, Metric: s.Metric, Value: values[(i+j)%len(values)]})
		}
	}
	return ps
}

func openTemp(t *testing.T, opts Options) *DuckDB {
	t.Helper()
	s, err := OpenDuckDB(context.Background(), filepath.Join(t.TempDir(), "m.duckdb"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func window(from, to int64) Query {
	return Query{From: time.UnixMilli(from), To: time.UnixMilli(to), Step: time.Second}
}

// checkMatrix compares a matrix with the points that fall in it, exactly.
func checkMatrix(t *testing.T, m *Matrix, want []Point) {
	t.Helper()
	cells := map[string]float64{}
	for _, p := range want {
		cells[fmt.Sprint(p.TS, Series{p.Host, p.Agent, p.Component, p.Kind, p.Metric})] = p.Value
	}
	n := 0
	for ti, ts := range m.Times {
		for si, s := range m.Series {
			v := m.At(ti, si)
			w, ok := cells[fmt.Sprint(ts, s)]
			switch {
			case !ok && !math.IsNaN(v):
				t.Errorf("%d %s: %v where nothing was written", ts, s, v)
			case ok && v != w:
				t.Errorf("%d %s: %v, wrote %v", ts, s, v, w)
			case ok:
				n++
			}
		}
	}
	if n != len(cells) {
		t.Errorf("matrix holds %d of the %d points written", n, len(cells))
	}
}

func TestIPCRoundTrip(t *testing.T) {
	want := knownPoints()
	var buf bytes.Buffer
	if err := EncodeIPC(&buf, NewBatch(want)); err != nil {
		t.Fatal(err)
	}
	b, err := DecodeIPC(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Points(); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %v\nwant %v", got, want)
	}
	if len(b.Series) != 5 {
		t.Fatalf("%d series, want 5", len(b.Series))
	}
	// The wire schema is dictionary-encoded.
	rd, err := ipc.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	if !rd.Schema().Equal(PointSchema) {
		t.Fatalf("schema %s", rd.Schema())
	}
}

// A stream written by another producer: plain utf8 names, int8 dictionary
// indices, microsecond timestamps, two record batches.
func TestDecodeIPCOtherProducers(t *testing.T) {
	mem := memory.DefaultAllocator
	int8Dict := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "value", Type: arrow.PrimitiveTypes.Float64},
		{Name: "metric", Type: arrow.BinaryTypes.String},
		{Name: "host", Type: int8Dict},
		{Name: "agent", Type: arrow.BinaryTypes.String},
		{Name: "component", Type: arrow.BinaryTypes.String},
		{Name: "kind", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_us},
		{Name: "extra", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	for r := 0; r < 2; r++ {
		b := array.NewRecordBuilder(mem, schema)
		b.Field(0).(*array.Float64Builder).AppendValues([]float64{1, 2}, nil)
		b.Field(1).(*array.StringBuilder).AppendValues([]string{"m", "n"}, nil)
		hb := b.Field(2).(*array.BinaryDictionaryBuilder)
		_ = hb.AppendString("hA")
		_ = hb.AppendString("hB")
		b.Field(3).(*array.StringBuilder).AppendValues([]string{"a", "a"}, nil)
		b.Field(4).(*array.StringBuilder).AppendValues([]string{"c", "c"}, nil)
		b.Field(5).(*array.StringBuilder).AppendValues([]string{"k", "k"}, nil)
		b.Field(6).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{arrow.Timestamp(int64(r) * 1e6), 5e6}, nil)
		b.Field(7).(*array.Int32Builder).AppendValues([]int32{0, 0}, nil)
		rec := b.NewRecordBatch()
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		b.Release()
	}
	_ = w.Close()
	b, err := DecodeIPC(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []Point{
		{0, "hA", "a", "c", "k", "m", 1}, {5000, "hB", "a", "c", "k", "n", 2},
		{1000, "hA", "a", "c", "k", "m", 1}, {5000, "hB", "a", "c", "k", "n", 2},
	}
	if got := b.Points(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if len(b.Series) != 2 {
		t.Fatalf("series %v", b.Series)
	}
}

func TestDuckDBRoundTripThroughIPC(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.duckdb")
	s, err := OpenDuckDB(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := knownPoints()
	// Through the wire format, in two batches of four seconds each.
	for _, part := range [][]Point{want[:20], want[20:]} {
		var buf bytes.Buffer
		if err := EncodeIPC(&buf, NewBatch(part)); err != nil {
			t.Fatal(err)
		}
		b, err := DecodeIPC(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.Read(ctx, window(t0, t0+8000))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Times) != 8 || len(m.Series) != 5 {
		t.Fatalf("matrix %d x %d", len(m.Times), len(m.Series))
	}
	checkMatrix(t, m, want)
	// SQL sees the same samples through the view.
	var n int
	var sum float64
	if err := s.DB().QueryRow(`SELECT count(*), sum(value) FILTER (WHERE value < 1e299) FROM samples WHERE host = 'höst-2' AND agent = 'a"2'`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	var wantSum float64
	wantN := 0
	for _, p := range want {
		if p.Host == "höst-2" {
			wantN++
			if p.Value < 1e299 {
				wantSum += p.Value
			}
		}
	}
	if n != wantN || sum != wantSum {
		t.Fatalf("SQL: %d points sum %v, want %d sum %v", n, sum, wantN, wantSum)
	}
	// Integer values in points, the others in points_x.
	var ints, others int
	_ = s.DB().QueryRow(`SELECT count(*) FILTER (WHERE value = trunc(value)) FROM points`).Scan(&ints)
	_ = s.DB().QueryRow(`SELECT count(*) FILTER (WHERE value <> trunc(value)) FROM points_x`).Scan(&others)
	if ints == 0 || others == 0 || ints+others != len(want) {
		t.Fatalf("split: %d integer and %d other points of %d", ints, others, len(want))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second close:", err)
	}
	// Reopened, read-only: the same.
	s, err = OpenDuckDB(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err = s.Read(ctx, window(t0, t0+8000))
	if err != nil {
		t.Fatal(err)
	}
	checkMatrix(t, m, want)
	if err := s.Append(ctx, NewBatch(want[:1])); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("append to read-only store: %v", err)
	}
}

func TestReadWindowBoundsStepAndFilter(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{})
	var ps []Point
	for i := int64(-2); i < 12; i++ {
		for _, c := range []string{"c1", "c2", "k1"} {
			ps = append(ps, Point{TS: t0 + i*500, Host: "h", Agent: "a1", Component: c, Kind: "channel", Metric: "ChannelSize", Value: float64(i)})
		}
	}
	if err := s.Append(ctx, NewBatch(ps)); err != nil {
		t.Fatal(err)
	}
	// [t0, t0+5000) at 1 s: each cell is the mean of two half-second points.
	q := window(t0, t0+5000)
	q.Component = "c*"
	m, err := s.Read(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Series) != 2 || m.Series[0].Component != "c1" || m.Series[1].Component != "c2" {
		t.Fatalf("series %v", m.Series)
	}
	for ti := range m.Times {
		for si := range m.Series {
			if want := float64(2*ti) + 0.5; m.At(ti, si) != want {
				t.Fatalf("cell %d,%d = %v, want %v", ti, si, m.At(ti, si), want)
			}
		}
	}
	// One exact series, step 500 ms: exactly the points of [from, to).
	q = Query{From: time.UnixMilli(t0 - 500), To: time.UnixMilli(t0 + 1500), Step: 500 * time.Millisecond, Filter: Filter{Component: "k1", Metric: "ChannelSize"}}
	m, err = s.Read(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Column(0); !reflect.DeepEqual(got, []float64{-1, 0, 1, 2}) || len(m.Series) != 1 {
		t.Fatalf("k1 column %v (%v)", got, m.Series)
	}
	// A filter that matches nothing gives an empty matrix.
	q.Filter = Filter{Agent: "nobody"}
	if m, err = s.Read(ctx, q); err != nil || len(m.Series) != 0 || len(m.Times) != 4 {
		t.Fatalf("empty selection: %v %+v", err, m)
	}
	if _, err := s.Read(ctx, Query{From: time.UnixMilli(t0), To: time.UnixMilli(t0)}); err == nil {
		t.Fatal("empty window accepted")
	}
	if _, err := s.Read(ctx, Query{From: time.UnixMilli(t0), To: time.UnixMilli(t0).Add(24 * 365 * time.Hour), Step: time.Millisecond}); err == nil {
		t.Fatal("a window of 3e10 steps accepted")
	}
	if checkCells(0, 1<<24, 1, 10) == nil || checkCells(0, 1<<24, 1, 8) != nil {
		t.Fatal("matrix cell bound")
	}
	if _, err := s.Read(ctx, Query{From: time.UnixMilli(t0), To: time.UnixMilli(t0 + 1), Filter: Filter{Metric: "[x"}}); err == nil {
		t.Fatal("bad glob accepted")
	}
	infos, err := s.Series(ctx, Filter{Component: "c?"})
	if err != nil || len(infos) != 2 || infos[0].Points != 14 {
		t.Fatalf("series: %v %v", infos, err)
	}
	card := CardinalityOf(infos)
	if len(card) != 2 || card[0].Series != 1 || card[0].Points != 14 {
		t.Fatalf("cardinality %v", card)
	}
}

// Large batches exercise the Arrow (or Appender) path against known sums,
// since a wrong Arrow path returns wrong sums rather than failing.
func TestDuckDBKnownAnswersLargeBatches(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{})
	const nSeries, nT = 1000, 130 // 130k points: more than one row group
	var wantSum float64
	var wantWeighted float64
	for ti := 0; ti < nT; ti += 10 {
		b := &Batch{}
		for k := ti; k < ti+10; k++ {
			for j := 0; j < nSeries; j++ {
				v := float64(j*k%97) + 0.25
				b.Add(b.SeriesRef(Series{"h", "a", fmt.Sprint("c", j%7), "sink", fmt.Sprint("m", j)}), t0+int64(k)*1000, v)
				wantSum += v
				wantWeighted += v * float64(j)
			}
		}
		if err := s.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	var n int64
	var sum, weighted float64
	err := s.DB().QueryRow(`SELECT count(*), sum(p.value), sum(p.value * CAST(substr(s.metric, 2) AS INTEGER))
		FROM raw_points p JOIN series s ON s.id = p.series_id`).Scan(&n, &sum, &weighted)
	if err != nil {
		t.Fatal(err)
	}
	if n != nSeries*nT || sum != wantSum || weighted != wantWeighted {
		t.Fatalf("SQL: %d points sum %v weighted %v; want %d, %v, %v", n, sum, weighted, nSeries*nT, wantSum, wantWeighted)
	}
	m, err := s.Read(ctx, window(t0, t0+nT*1000))
	if err != nil {
		t.Fatal(err)
	}
	var msum, mweighted float64
	for ti := range m.Times {
		for si, x := range m.Series {
			var j int
			fmt.Sscanf(x.Metric, "m%d", &j)
			v := m.At(ti, si)
			if want := float64(j*ti%97) + 0.25; v != want {
				t.Fatalf("cell t=%d %s: %v, want %v", ti, x, v, want)
			}
			msum += v
			mweighted += v * float64(j)
		}
	}
	if msum != wantSum && math.Abs(msum-wantSum) > 1e-6*wantSum {
		t.Fatalf("matrix sum %v, want %v", msum, wantSum)
	}
	t.Logf("arrow path: %v", ArrowPath)
}

// Two agents append concurrently (as two collector clients do) while a
// reader reads windows: every batch of both is there, whole.
func TestDuckDBTwoWritersConcurrently(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{})
	const batches, perBatch = 40, 200
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, agent := range []string{"a1", "a2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < batches; i++ {
				b := &Batch{}
				for j := 0; j < perBatch; j++ {
					b.Add(b.SeriesRef(Series{"h", agent, fmt.Sprint("c", j%10), "channel", fmt.Sprint("m", j)}), t0+int64(i)*1000, float64(i))
				}
				if err := s.Append(ctx, b); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			m, err := s.Read(ctx, window(t0, t0+batches*1000))
			if err != nil {
				errs <- err
				return
			}
			// A batch is visible whole or not at all.
			for ti := range m.Times {
				seen := map[string]int{}
				for si, x := range m.Series {
					if !math.IsNaN(m.At(ti, si)) {
						seen[x.Agent]++
					}
				}
				for a, c := range seen {
					if c != perBatch {
						errs <- fmt.Errorf("t=%d agent %s: %d of %d points visible", ti, a, c, perBatch)
						return
					}
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	m, err := s.Read(ctx, window(t0, t0+batches*1000))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Series) != 2*perBatch {
		t.Fatalf("%d series", len(m.Series))
	}
	for ti := range m.Times {
		for si := range m.Series {
			if m.At(ti, si) != float64(ti) {
				t.Fatalf("cell %d,%d = %v", ti, si, m.At(ti, si))
			}
		}
	}
}

func malformedStreams(t *testing.T) map[string][]byte {
	t.Helper()
	var good bytes.Buffer
	if err := EncodeIPC(&good, NewBatch(knownPoints())); err != nil {
		t.Fatal(err)
	}
	g := good.Bytes()
	write := func(schema *arrow.Schema, build func(b *array.RecordBuilder)) []byte {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer b.Release()
		build(b)
		rec := b.NewRecordBatch()
		defer rec.Release()
		var buf bytes.Buffer
		w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		_ = w.Close()
		return buf.Bytes()
	}
	str := arrow.BinaryTypes.String
	fields := func(valueType arrow.DataType, nullable bool) *arrow.Schema {
		return arrow.NewSchema([]arrow.Field{{Name: "ts", Type: arrow.PrimitiveTypes.Int64},
			{Name: "host", Type: str}, {Name: "agent", Type: str}, {Name: "component", Type: str},
			{Name: "kind", Type: str}, {Name: "metric", Type: str, Nullable: nullable}, {Name: "value", Type: valueType}}, nil)
	}
	row := func(b *array.RecordBuilder, metric *string) {
		b.Field(0).(*array.Int64Builder).Append(t0)
		for i := 1; i < 5; i++ {
			b.Field(i).(*array.StringBuilder).Append("x")
		}
		if metric == nil {
			b.Field(5).(*array.StringBuilder).AppendNull()
		} else {
			b.Field(5).(*array.StringBuilder).Append(*metric)
		}
	}
	empty, bad := "", string([]byte{0xff, 0xfe})
	// A dictionary index out of range: patch a valid stream's int32 indices.
	oob := func() []byte {
		dict := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: str}
		schema := arrow.NewSchema([]arrow.Field{{Name: "ts", Type: arrow.PrimitiveTypes.Int64},
			{Name: "host", Type: str}, {Name: "agent", Type: str}, {Name: "component", Type: str},
			{Name: "kind", Type: str}, {Name: "metric", Type: dict}, {Name: "value", Type: arrow.PrimitiveTypes.Float64}}, nil)
		sb := array.NewStringBuilder(memory.DefaultAllocator)
		sb.Append("only")
		d := sb.NewArray()
		ib := array.NewInt32Builder(memory.DefaultAllocator)
		ib.Append(7)
		idx := ib.NewArray()
		cols := []arrow.Array{}
		tb := array.NewInt64Builder(memory.DefaultAllocator)
		tb.Append(t0)
		cols = append(cols, tb.NewArray())
		for i := 0; i < 4; i++ {
			b := array.NewStringBuilder(memory.DefaultAllocator)
			b.Append("x")
			cols = append(cols, b.NewArray())
		}
		cols = append(cols, array.NewDictionaryArray(dict, idx, d))
		fb := array.NewFloat64Builder(memory.DefaultAllocator)
		fb.Append(1)
		cols = append(cols, fb.NewArray())
		rec := array.NewRecordBatch(schema, cols, 1)
		var buf bytes.Buffer
		w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		_ = w.Close()
		return buf.Bytes()
	}
	return map[string][]byte{
		"empty body":          nil,
		"not arrow":           []byte("ts,host,value\n1,h,2\n"),
		"truncated stream":    g[:len(g)*2/3],
		"corrupt body":        append(append([]byte{}, g[:len(g)/2]...), bytes.Repeat([]byte{0xff}, len(g)/2)...),
		"schema without kind": write(arrow.NewSchema([]arrow.Field{{Name: "ts", Type: arrow.PrimitiveTypes.Int64}, {Name: "host", Type: str}, {Name: "agent", Type: str}, {Name: "component", Type: str}, {Name: "metric", Type: str}, {Name: "value", Type: arrow.PrimitiveTypes.Float64}}, nil), func(b *array.RecordBuilder) {}),
		"value is a string": write(fields(str, false), func(b *array.RecordBuilder) {
			m := "m"
			row(b, &m)
			b.Field(6).(*array.StringBuilder).Append("1")
		}),
		"null metric": write(fields(arrow.PrimitiveTypes.Float64, true), func(b *array.RecordBuilder) {
			row(b, nil)
			b.Field(6).(*array.Float64Builder).Append(1)
		}),
		"empty metric": write(fields(arrow.PrimitiveTypes.Float64, false), func(b *array.RecordBuilder) {
			row(b, &empty)
			b.Field(6).(*array.Float64Builder).Append(1)
		}),
		"invalid utf-8": write(fields(arrow.PrimitiveTypes.Float64, false), func(b *array.RecordBuilder) {
			row(b, &bad)
			b.Field(6).(*array.Float64Builder).Append(1)
		}),
		"dictionary index out of range": oob(),
	}
}

// A malformed stream is refused with a reason, by the decoder and by the
// ingest endpoint (400), and the store is unharmed: what was there stays,
// and the next good batch goes in.
func TestMalformedIPCRefusedStoreUnharmed(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{})
	if err := s.Append(ctx, NewBatch(knownPoints())); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(s, HandlerOptions{Token: "sekret"}))
	defer srv.Close()
	post := func(body []byte, ctype, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+IngestPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var msg bytes.Buffer
		_, _ = msg.ReadFrom(resp.Body)
		return resp.StatusCode, strings.TrimSpace(msg.String())
	}
	for name, body := range malformedStreams(t) {
		_, derr := DecodeIPC(bytes.NewReader(body))
		if !errors.Is(derr, ErrBadBatch) {
			t.Errorf("%s: decode error %v, want ErrBadBatch", name, derr)
			continue
		}
		code, msg := post(body, IPCContentType, "sekret")
		if code != http.StatusBadRequest || !strings.HasPrefix(msg, "malformed batch: ") {
			t.Errorf("%s: %d %q, want 400 with a reason", name, code, msg)
		}
		t.Logf("%s: %s", name, msg)
	}
	var good bytes.Buffer
	later := knownPoints()
	for i := range later {
		later[i].TS += 60000
	}
	if err := EncodeIPC(&good, NewBatch(later)); err != nil {
		t.Fatal(err)
	}
	if code, msg := post(good.Bytes(), "text/csv", "sekret"); code != http.StatusUnsupportedMediaType {
		t.Errorf("wrong content type: %d %s", code, msg)
	}
	if code, msg := post(good.Bytes(), IPCContentType, "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d %s", code, msg)
	}
	if code, msg := post(good.Bytes(), IPCContentType, "sekret"); code != http.StatusOK || msg != `{"points":40,"series":5}` {
		t.Fatalf("good batch: %d %s", code, msg)
	}
	// The client, too.
	cl := NewClient(srv.URL, "sekret", nil)
	defer cl.Close()
	if err := cl.Append(ctx, NewBatch([]Point{{TS: t0 + 120000, Host: "h1", Agent: "a1", Component: "r1", Kind: "source", Metric: "EventAcceptedRate", Value: 9}})); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM raw_points`).Scan(&n); err != nil || n != 81 {
		t.Fatalf("store holds %d points (%v), want 81", n, err)
	}
	m, err := s.Read(ctx, window(t0, t0+8000))
	if err != nil {
		t.Fatal(err)
	}
	checkMatrix(t, m, knownPoints())
}

func FuzzDecodeIPC(f *testing.F) {
	var good bytes.Buffer
	_ = EncodeIPC(&good, NewBatch(knownPoints()))
	f.Add(good.Bytes())
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := DecodeIPC(bytes.NewReader(body))
		if err != nil {
			if !errors.Is(err, ErrBadBatch) {
				t.Fatalf("error %v does not match ErrBadBatch", err)
			}
			return
		}
		if err := b.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRetentionDownsamples(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{RawRetention: time.Hour, DownsampleStep: time.Minute, DownsampledRetention: 24 * time.Hour})
	var ps []Point
	// Three minutes of 1 s points of two series, two hours before now.
	now := time.UnixMilli(t0 + 2*3600*1000 + 3*60*1000)
	for i := 0; i < 180; i++ {
		for _, c := range []string{"c1", "c2"} {
			ps = append(ps, Point{TS: t0 + int64(i)*1000, Host: "h", Agent: "a", Component: c, Kind: "channel", Metric: "ChannelSize", Value: float64(i)})
		}
	}
	// And one recent point, kept raw; and one very old, dropped entirely.
	ps = append(ps, Point{TS: now.UnixMilli() - 1000, Host: "h", Agent: "a", Component: "c1", Kind: "channel", Metric: "ChannelSize", Value: -1})
	ps = append(ps, Point{TS: t0 - 48*3600*1000, Host: "h", Agent: "a", Component: "c1", Kind: "channel", Metric: "ChannelSize", Value: -2})
	if err := s.Append(ctx, NewBatch(ps)); err != nil {
		t.Fatal(err)
	}
	if err := s.Retain(ctx, now); err != nil {
		t.Fatal(err)
	}
	var raw, down int
	_ = s.DB().QueryRow(`SELECT count(*) FROM raw_points`).Scan(&raw)
	_ = s.DB().QueryRow(`SELECT count(*) FROM points_1m`).Scan(&down)
	if raw != 1 || down != 6 {
		t.Fatalf("%d raw and %d downsampled rows, want 1 and 6", raw, down)
	}
	var avg, lo, hi float64
	var n int
	if err := s.DB().QueryRow(`SELECT value, min, max, n FROM points_1m d JOIN series s ON s.id = d.series_id
		WHERE s.component = 'c2' AND d.ts = ?`, t0+60000).Scan(&avg, &lo, &hi, &n); err != nil {
		t.Fatal(err)
	}
	if avg != 89.5 || lo != 60 || hi != 119 || n != 60 {
		t.Fatalf("minute 2 of c2: avg %v min %v max %v n %v", avg, lo, hi, n)
	}
	// A window read over downsampled time sees one value per minute.
	m, err := s.Read(ctx, Query{From: time.UnixMilli(t0), To: time.UnixMilli(t0 + 180000), Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Column(0); !reflect.DeepEqual(got, []float64{29.5, 89.5, 149.5}) {
		t.Fatalf("downsampled window %v", got)
	}
	// Retain twice changes nothing.
	if err := s.Retain(ctx, now); err != nil {
		t.Fatal(err)
	}
	_ = s.DB().QueryRow(`SELECT count(*) FROM points_1m`).Scan(&down)
	if down != 6 {
		t.Fatalf("second retain: %d downsampled rows", down)
	}
	// The samples view shows both resolutions.
	var kinds int
	_ = s.DB().QueryRow(`SELECT count(DISTINCT resolution) FROM samples`).Scan(&kinds)
	if kinds != 2 {
		t.Fatalf("samples view resolutions: %d", kinds)
	}
}

func TestExport(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{})
	if err := s.Append(ctx, NewBatch(knownPoints())); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, format := range []string{"parquet", "csv"} {
		out := filepath.Join(dir, "x."+format)
		n, err := s.Export(ctx, format, out, time.UnixMilli(t0+1000), time.UnixMilli(t0+3000))
		if err != nil || n != 10 {
			t.Fatalf("%s: %d rows, %v", format, n, err)
		}
		var got int
		if err := s.DB().QueryRow(fmt.Sprintf(`SELECT count(*) FROM '%s' WHERE metric = 'ChannelSize'`, out)).Scan(&got); err != nil || got != 2 {
			t.Fatalf("%s read back: %d, %v", format, got, err)
		}
	}
	if _, err := s.Export(ctx, "xlsx", filepath.Join(dir, "x"), time.Time{}, time.Time{}); err == nil {
		t.Fatal("xlsx accepted")
	}
}

func TestParseLocationAndFilter(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/data")
	f := func(in string, want Location) {
		t.Helper()
		got, err := ParseLocation(in)
		if err != nil || got != want {
			t.Fatalf("%q: %+v %v, want %+v", in, got, err, want)
		}
	}
	f("", Location{Kind: "duckdb", Path: "/data/vscope/metrics.duckdb"})
	f("/x/y", Location{Kind: "duckdb", Path: "/x/y/metrics.duckdb"})
	f("m.duckdb", Location{Kind: "duckdb", Path: "m.duckdb"})
	f("http://127.0.0.1:9/", Location{Kind: "collector", URL: "http://127.0.0.1:9"})
	f("vm+http://127.0.0.1:8428", Location{Kind: "vm", URL: "http://127.0.0.1:8428"})
	if _, err := ParseLocation("s3://bucket"); err == nil {
		t.Fatal("s3 accepted")
	}
	flt, err := ParseFilter("agent=a1, kind=channel,metric=Channel*")
	if err != nil || flt != (Filter{Agent: "a1", Kind: "channel", Metric: "Channel*"}) {
		t.Fatalf("filter %+v %v", flt, err)
	}
	for _, bad := range []string{"agent", "colour=red", "metric=[x"} {
		if _, err := ParseFilter(bad); err == nil {
			t.Errorf("filter %q accepted", bad)
		}
	}
	if !(Filter{Component: "disk:*"}).Match(Series{Component: "disk:sda"}) || (Filter{Agent: "a1"}).Match(Series{Agent: "a10"}) {
		t.Fatal("glob match")
	}
}

func TestBatchSeriesRef(t *testing.T) {
	b := &Batch{Series: []Series{{Metric: "a"}, {Metric: "b"}, {Metric: "a"}}}
	if r := b.SeriesRef(Series{Metric: "a"}); r != 0 {
		t.Fatalf("a: %d", r)
	}
	if r := b.SeriesRef(Series{Metric: "c"}); r != 3 {
		t.Fatalf("c: %d", r)
	}
	b.Reset()
	if r := b.SeriesRef(Series{Metric: "c"}); r != 0 || len(b.Series) != 1 {
		t.Fatalf("after reset: %d %v", r, b.Series)
	}
	// Many series, all distinct, then all found again.
	for i := 0; i < 5000; i++ {
		b.SeriesRef(Series{Host: fmt.Sprint(i % 7), Metric: fmt.Sprint("m", i)})
	}
	for i := 0; i < 5000; i++ {
		if r := b.SeriesRef(Series{Host: fmt.Sprint(i % 7), Metric: fmt.Sprint("m", i)}); r != int32(i+1) {
			t.Fatalf("series %d: ref %d", i, r)
		}
	}
	// Hash collisions go to the side map.
	x := newSeriesIndex(0)
	var tbl []Series
	for i := 0; i < 3; i++ {
		s := Series{Metric: fmt.Sprint(i)}
		tbl = append(tbl, s)
		x.byHash[x.hash(s)] = 99 // poison: every slot taken by a wrong id
	}
	x.byHash = map[uint64]int32{x.hash(tbl[0]): 0}
	x.byHash[x.hash(tbl[1])] = 0 // pretend tbl[1] collides with tbl[0]
	x.collide = map[Series]int32{tbl[1]: 1}
	if id, ok := x.get(tbl[1], tbl); !ok || id != 1 {
		t.Fatalf("collided series: %d %v", id, ok)
	}
	if _, ok := x.get(tbl[2], tbl); ok {
		t.Fatal("absent series found")
	}
}

// Batches with the same series list reuse its ids; a list that differs
// only in the middle is resolved again.
func TestDuckDBRepeatedSeriesLists(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{})
	mk := func(ts int64, middle string) *Batch {
		b := &Batch{}
		for _, m := range []string{"first", middle, "last"} {
			b.Add(b.SeriesRef(Series{Host: "h", Metric: m}), ts, float64(ts))
		}
		return b
	}
	for i, mid := range []string{"x", "x", "y", "x", "y"} {
		if err := s.Append(ctx, mk(t0+int64(i)*1000, mid)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.Read(ctx, window(t0, t0+5000))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for i, x := range m.Series {
		got[x.Metric] = m.Column(i)
	}
	nan, f := math.NaN(), float64(t0)
	want := map[string][]float64{
		"first": {f, f + 1000, f + 2000, f + 3000, f + 4000},
		"last":  {f, f + 1000, f + 2000, f + 3000, f + 4000},
		"x":     {f, f + 1000, nan, f + 3000, nan},
		"y":     {nan, nan, f + 2000, nan, f + 4000},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	// A malformed name is refused even when the list looks known.
	b := mk(t0+9000, "x")
	b.Series[1].Metric = ""
	if err := s.Append(ctx, b); !errors.Is(err, ErrBadBatch) {
		t.Fatalf("empty metric in a known-looking list: %v", err)
	}
}

// A collector serves one SELECT at a time to remote readers: no other
// statement, no file access, rows capped.
func TestSQLEndpoint(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{NoFileAccess: true})
	if err := s.Append(ctx, NewBatch(knownPoints())); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(s, HandlerOptions{Token: "tk", SQL: s, MaxRows: 3}))
	defer srv.Close()
	c := NewClient(srv.URL, "tk", nil)
	defer c.Close()
	tb, err := c.Select(ctx, `SELECT count(*) AS n, max(time) AS last, 'x' AS s FROM samples`)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(tb.Columns, tb.Rows) != "[n last s] [[40 2026-01-02T03:04:07Z x]]" {
		t.Fatalf("table %v %v", tb.Columns, tb.Rows)
	}
	tb, err = c.Select(ctx, `SELECT ts FROM samples ORDER BY ts`)
	if err != nil || len(tb.Rows) != 3 || !tb.Truncated {
		t.Fatalf("limit: %v %+v", err, tb)
	}
	for _, bad := range []string{
		`SELECT 1; DROP TABLE points`,
		`DELETE FROM points`,
		`COPY points TO '/tmp/x.csv'`,
		`ATTACH '/tmp/other.duckdb' AS o`,
		`SELECT * FROM read_text('/etc/hostname')`,
		`SELEC 1`,
	} {
		if _, err := c.Select(ctx, bad); err == nil || !strings.Contains(err.Error(), "400 Bad Request") {
			t.Errorf("%q: %v", bad, err)
		} else {
			t.Logf("%q: %v", bad, err)
		}
	}
	if _, err := NewClient(srv.URL, "wrong", nil).Select(ctx, `SELECT 1`); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM raw_points`).Scan(&n); err != nil || n != 40 {
		t.Fatalf("points after refused statements: %d %v", n, err)
	}
}

// Concurrent appends share commits; a batch with a malformed name is
// refused alone, the others of its group are written.
func TestDuckDBGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{})
	const writers, batches = 8, 15
	var wg sync.WaitGroup
	errs := make([]error, writers*batches)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < batches; i++ {
				b := &Batch{}
				for j := 0; j < 50; j++ {
					metric := fmt.Sprint("m", j)
					if w == 3 && i == 7 && j == 49 {
						metric = "" // malformed
					}
					b.Add(b.SeriesRef(Series{Host: "h", Agent: fmt.Sprint("a", w), Component: "c", Kind: "sink", Metric: metric}), t0+int64(i)*1000, float64(w*1000+i))
				}
				errs[w*batches+i] = s.Append(ctx, b)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if bad := i == 3*batches+7; bad != errors.Is(err, ErrBadBatch) || (!bad && err != nil) {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM raw_points`).Scan(&n); err != nil || n != (writers*batches-1)*50 {
		t.Fatalf("%d points (%v), want %d", n, err, (writers*batches-1)*50)
	}
	m, err := s.Read(ctx, window(t0, t0+batches*1000))
	if err != nil {
		t.Fatal(err)
	}
	for si, x := range m.Series {
		var w int
		fmt.Sscanf(x.Agent, "a%d", &w)
		for ti := range m.Times {
			want := float64(w*1000 + ti)
			if w == 3 && ti == 7 {
				want = math.NaN()
			}
			if got := m.At(ti, si); got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
				t.Fatalf("%s t=%d: %v, want %v", x, ti, got, want)
			}
		}
	}
	t.Logf("%d batches in %d commits", writers*batches, s.commits.Load())
}

// Batches too large to share a group are committed one by one, each
// writer returning once its own batch is in.
func TestDuckDBGroupCommitLargeBatches(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{})
	const writers, batches, size = 4, 3, groupMaxPoints * 6 / 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < batches; i++ {
				b := &Batch{}
				for j := 0; j < size; j++ {
					b.Add(b.SeriesRef(Series{Host: "h", Agent: fmt.Sprint("a", w), Metric: fmt.Sprint("m", j%100)}), t0+int64(i*1000+j/100), 1)
				}
				errs <- s.Append(ctx, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM raw_points`).Scan(&n); err != nil || n != writers*batches*size {
		t.Fatalf("%d points (%v)", n, err)
	}
	if c := s.commits.Load(); c != writers*batches {
		t.Fatalf("%d commits for %d batches over half the group limit", c, writers*batches)
	}
}
