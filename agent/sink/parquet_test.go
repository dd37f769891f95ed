package sink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pqfile "github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/vscope/vscope/agent/component"
	"github.com/vscope/vscope/agent/config"
	"github.com/vscope/vscope/agent/event"
)

// pqRow is one row read back from a Parquet file.
type pqRow struct {
	ts      int64
	headers map[string]string // the map column, or the header columns present
	body    string
}

func (r pqRow) String() string {
	return fmt.Sprintf("{ts=%d headers=%v body=%q}", r.ts, r.headers, r.body)
}

// readParquet reads every row of the Parquet file at path with arrow-go's
// reader (pqarrow).
func readParquet(t testing.TB, path string) []pqRow {
	t.Helper()
	rows, err := readParquetFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// readParquetFile is readParquet for goroutines other than the test's.
func readParquetFile(path string) ([]pqRow, error) {
	pf, err := pqfile.OpenParquetFile(path, false)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("reader for %s: %w", path, err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 1<<16)
	defer tr.Release()
	var rows []pqRow
	for tr.Next() {
		rec := tr.RecordBatch()
		sc := rec.Schema()
		var (
			ts   *array.Timestamp
			body *array.Binary
			hm   *array.Map
			cols = map[string]*array.String{}
		)
		for i, f := range sc.Fields() {
			switch col := rec.Column(i).(type) {
			case *array.Timestamp:
				if f.Name != colTimestamp {
					return nil, fmt.Errorf("%s: timestamp column named %q", path, f.Name)
				}
				ts = col
			case *array.Binary:
				body = col
			case *array.Map:
				hm = col
			case *array.String:
				cols[f.Name] = col
			default:
				return nil, fmt.Errorf("%s: unexpected column %s %T", path, f.Name, col)
			}
		}
		if ts == nil || body == nil {
			return nil, fmt.Errorf("%s: schema %s lacks timestamp or body", path, sc)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			r := pqRow{ts: int64(ts.Value(i)), body: string(body.Value(i)), headers: map[string]string{}}
			if hm != nil {
				keys, vals := hm.Keys().(*array.String), hm.Items().(*array.String)
				start, end := hm.ValueOffsets(i)
				for j := start; j < end; j++ {
					r.headers[keys.Value(int(j))] = vals.Value(int(j))
				}
			}
			for name, c := range cols {
				if c.IsValid(i) {
					r.headers[name] = c.Value(i)
				}
			}
			rows = append(rows, r)
		}
	}
	return rows, tr.Err()
}

// tree lists the regular files under dir, relative to it, sorted.
func tree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// finals are the complete Parquet files under dir, in name order (which
// is the order they were opened in, within a directory).
func finals(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	for _, f := range tree(t, dir) {
		if strings.HasSuffix(f, ".parquet") {
			out = append(out, f)
		}
	}
	return out
}

// readDir reads every complete file under dir, in name order.
func readDir(t testing.TB, dir string) []pqRow {
	t.Helper()
	var rows []pqRow
	for _, f := range finals(t, dir) {
		rows = append(rows, readParquet(t, filepath.Join(dir, f))...)
	}
	return rows
}

// newParquetSink builds and starts a parquet sink over a fresh channel.
func newParquetSink(t *testing.T, dir string, edit func(*ParquetConfig)) (*rig, *Parquet) {
	t.Helper()
	r := newRig(t, "parquet", 100000, 1000)
	cfg := NewParquetConfig()
	cfg.Path = dir
	cfg.RollInterval, cfg.RollSize, cfg.RollCount = 0, 0, 0
	if edit != nil {
		edit(cfg)
	}
	s, err := NewParquet(r.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return r, s
}

// putEvents puts events in transactions of at most tx.
func (r *rig) putEvents(t testing.TB, tx int, events []event.Event) {
	t.Helper()
	for len(events) > 0 {
		k := min(tx, len(events))
		if err := r.ch.Put(context.Background(), events[:k]); err != nil {
			t.Fatal(err)
		}
		events = events[k:]
	}
}

// stamped returns n events with a timestamp header from t0, step apart,
// a host header cycling over hosts, and a body of bodyLen bytes (at least
// the distinct "event-%06d").
func stamped(n int, t0 time.Time, step time.Duration, hosts []string, bodyLen int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		body := fmt.Sprintf("event-%06d", i)
		if len(body) < bodyLen {
			body += strings.Repeat("x", bodyLen-len(body))
		}
		h := map[string]string{
			"timestamp": strconv.FormatInt(t0.Add(time.Duration(i)*step).UnixMilli(), 10),
			"seq":       strconv.Itoa(i),
		}
		if len(hosts) > 0 {
			h["host"] = hosts[i%len(hosts)]
		}
		out[i] = event.Event{Headers: h, Body: []byte(body)}
	}
	return out
}

// wantRows is what the sink should write for events: the timestamp header
// (or arrival, which the caller checks separately), all headers, the body.
func wantRows(events []event.Event) []pqRow {
	out := make([]pqRow, len(events))
	for i, e := range events {
		ms, _ := eventTime(e.Headers)
		h := maps.Clone(e.Headers)
		if h == nil {
			h = map[string]string{}
		}
		out[i] = pqRow{ts: ms, headers: h, body: string(e.Body)}
	}
	return out
}

func sameRows(t testing.TB, what string, got, want []pqRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i].ts != want[i].ts || got[i].body != want[i].body || !maps.Equal(got[i].headers, want[i].headers) {
			t.Fatalf("%s: row %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

var t0 = time.Date(2024, 3, 9, 22, 58, 30, 0, time.UTC)

func TestParquetRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not", "yet")
	r, s := newParquetSink(t, dir, nil)
	in := stamped(2500, t0, time.Millisecond, []string{"web-1", "web-2"}, 0)
	in[7].Headers = nil                                  // no headers at all: arrival time
	in[8].Headers = map[string]string{"timestamp": "x"}  // unparsable: arrival time, header kept
	in[9].Body = nil                                     // empty body
	in[10].Body = []byte{0, 0xff, '\n', 0x80, 'b', 0x00} // binary
	in[11].Headers["k\x00ey"] = "v\nalue=ü"
	before := time.Now().UnixMilli()
	r.putEvents(t, 1000, in)
	drainAll(t, s, r.ch)
	after := time.Now().UnixMilli()

	// Nothing is readable before the file is closed: only the in-use name.
	files := tree(t, dir)
	if len(files) != 1 || !strings.HasPrefix(files[0], "FlumeData.") || !strings.HasSuffix(files[0], ".parquet.tmp") {
		t.Fatalf("files while writing: %q", files)
	}
	if in := s.InUseFiles(); len(in) != 1 || in[0] != filepath.Join(dir, files[0]) {
		t.Errorf("InUseFiles() = %q", in)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	files = tree(t, dir)
	if len(files) != 1 || files[0] != strings.TrimSuffix(tree(t, dir)[0], ".tmp") || !strings.HasSuffix(files[0], ".parquet") {
		t.Fatalf("files after Stop: %q", files)
	}
	got := readParquet(t, filepath.Join(dir, files[0]))
	want := wantRows(in)
	for _, i := range []int{7, 8} {
		if got[i].ts < before || got[i].ts > after {
			t.Errorf("row %d: arrival timestamp %d not in [%d, %d]", i, got[i].ts, before, after)
		}
		want[i].ts = got[i].ts
	}
	sameRows(t, "file", got, want)
	c := r.counter()
	counts(t, "EventDrainSuccess", c.EventDrainSuccess.Get(), 2500)
	counts(t, "ConnectionCreated", c.ConnectionCreated.Get(), 1)
	counts(t, "ConnectionClosed", c.ConnectionClosed.Get(), 1)
	if st, err := s.Process(context.Background()); !errors.Is(err, component.ErrStopped) || st != component.Backoff {
		t.Errorf("Process after Stop = %v, %v", st, err)
	}
}

// Flume's shouldRotate is checked before each event: a file holds at most
// rollCount events, and a file rolls by size once its bodies reach
// rollSize bytes.
func TestParquetRollsByCountAndSize(t *testing.T) {
	f := func(edit func(*ParquetConfig), n, bodyLen int, wantPerFile []int) {
		t.Helper()
		dir := t.TempDir()
		r, s := newParquetSink(t, dir, edit)
		in := stamped(n, t0, time.Millisecond, nil, bodyLen)
		r.putEvents(t, 100, in)
		drainAll(t, s, r.ch)
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		var per []int
		var all []pqRow
		for _, name := range finals(t, dir) {
			rows := readParquet(t, filepath.Join(dir, name))
			per = append(per, len(rows))
			all = append(all, rows...)
		}
		if !slices.Equal(per, wantPerFile) {
			t.Errorf("rows per file %v, want %v", per, wantPerFile)
		}
		sameRows(t, "all files", all, wantRows(in))
		if left := tree(t, dir); len(left) != len(wantPerFile) {
			t.Errorf("files left: %q", left)
		}
	}
	f(func(c *ParquetConfig) { c.RollCount = 10 }, 95, 0, []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 5})
	// Flume's defaults: rollSize 1024 body bytes, rollCount 10.
	f(func(c *ParquetConfig) { c.RollCount, c.RollSize = 10, 1024 }, 25, 100, []int{10, 10, 5})
	f(func(c *ParquetConfig) { c.RollSize = 1024 }, 25, 100, []int{11, 11, 3})
	f(func(c *ParquetConfig) { c.RollSize = 1000 }, 25, 100, []int{10, 10, 5})
}

func TestParquetRollsByIntervalAndIdle(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: t0}
	r, s := newParquetSink(t, dir, func(c *ParquetConfig) {
		c.RollInterval = 10
		c.IdleTimeout = 3
		c.Path = filepath.Join(dir, "%{host}")
	})
	s.now = clock.now
	write := func(host string, n int) {
		t.Helper()
		ev := stamped(n, t0, time.Millisecond, []string{host}, 0)
		r.putEvents(t, 100, ev)
		drainAll(t, s, r.ch)
	}
	count := func() map[string]int {
		s.waitFinished(t)
		out := map[string]int{}
		for _, f := range finals(t, dir) {
			out[filepath.Dir(f)] += len(readParquet(t, filepath.Join(dir, f)))
		}
		return out
	}
	write("a", 5) // a opens at 0 s
	clock.add(2 * time.Second)
	write("a", 5)              // a written at 2 s
	write("b", 5)              // b opens at 2 s
	clock.add(2 * time.Second) // 4 s: nothing due (a idle since 2 s)
	write("b", 1)
	if got := count(); len(got) != 0 {
		t.Fatalf("closed too early: %v", got)
	}
	clock.add(1 * time.Second) // 5 s: a idle 3 s -> closed; b written at 4 s
	if _, err := s.Process(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := count(); got["a"] != 10 || got["b"] != 0 {
		t.Fatalf("after a's idle timeout: %v", got)
	}
	for i := 0; i < 4; i++ { // keep b busy: 6..9 s
		clock.add(time.Second)
		write("b", 1)
	}
	if got := count(); got["b"] != 0 {
		t.Fatalf("b closed before its interval: %v", got)
	}
	clock.add(3 * time.Second) // 12 s: b opened at 2 s, interval 10 s
	if _, err := s.Process(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := count(); got["a"] != 10 || got["b"] != 10 {
		t.Fatalf("after b's roll interval: %v", got)
	}
	if files := tree(t, dir); len(files) != 2 {
		t.Errorf("files %q: no in-use or empty files should be left", files)
	}
	clock.add(time.Hour) // idle: no empty files appear
	for i := 0; i < 3; i++ {
		if _, err := s.Process(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if files := tree(t, dir); len(files) != 2 {
		t.Errorf("files %q after an idle hour", files)
	}
}

func TestParquetPathEscapes(t *testing.T) {
	dir := t.TempDir()
	r, s := newParquetSink(t, dir, func(c *ParquetConfig) {
		c.Path = dir + "/%Y/%m/%d/%H/%{host}"
		c.FilePrefix = "%{app}-%Y%m%d"
		c.TimeZone = "UTC"
	})
	start := time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC)
	in := stamped(8, start.Add(750*time.Millisecond), 250*time.Millisecond, []string{"h1", "h2"}, 0)
	for i := range in {
		in[i].Headers["app"] = "web"
	}
	in[6].Headers["host"] = "../../escape"
	in[7].Headers["host"] = ".."
	delete(in[5].Headers, "app")
	r.putEvents(t, 100, in)
	drainAll(t, s, r.ch)
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	byDir := map[string][]string{}
	for _, f := range finals(t, dir) {
		for _, row := range readParquet(t, filepath.Join(dir, f)) {
			name := filepath.Base(f)
			byDir[filepath.Dir(f)] = append(byDir[filepath.Dir(f)], name[:strings.Index(name, ".")]+":"+row.headers["seq"])
		}
	}
	want := map[string][]string{
		"2024/12/31/23/h1":           {"web-20241231:0"},
		"2025/01/01/00/h2":           {"web-20250101:1", "web-20250101:3", "-20250101:5"},
		"2025/01/01/00/h1":           {"web-20250101:2", "web-20250101:4"},
		"2025/01/01/00/.._.._escape": {"web-20250101:6"},
		"2025/01/01/00/__":           {"web-20250101:7"},
	}
	for d := range byDir {
		slices.Sort(byDir[d])
	}
	for d := range want {
		slices.Sort(want[d])
	}
	if !maps.EqualFunc(byDir, want, slices.Equal) {
		t.Errorf("rows by directory\n got %v\nwant %v", byDir, want)
	}
	for _, f := range tree(t, filepath.Dir(dir)) {
		if !strings.HasPrefix(f, filepath.Base(dir)+"/") {
			t.Errorf("file %s escaped the path", f)
		}
	}
}

func TestPathPatternExpand(t *testing.T) {
	defer func(f func(string) (string, error)) { hostInfo = f }(hostInfo)
	hostInfo = func(what string) (string, error) {
		return map[string]string{"localhost": "box", "IP": "10.0.0.7", "FQDN": "box.example.com"}[what], nil
	}
	ts := time.Date(2024, 2, 5, 7, 8, 9, 123e6, time.FixedZone("X", -8*3600))
	f := func(pattern, want string) {
		t.Helper()
		p, err := compilePattern(pattern, true)
		if err != nil {
			t.Fatalf("%q: %v", pattern, err)
		}
		if got := string(p.expand(nil, map[string]string{"a": "x/y"}, ts, ts.UnixMilli())); got != want {
			t.Errorf("%q -> %q, want %q", pattern, got, want)
		}
	}
	f("plain", "plain")
	f("%Y-%m-%d %H:%M:%S", "2024-02-05 07:08:09")
	f("%a %A %b %B", "Mon Monday Feb February")
	f("%c", "Mon Feb 5 07:08:09 2024")
	f("%I %k %l %p %z", "07 7 7 AM -0800")
	f("%s %t", "1707145689 1707145689123")
	f("%y %D %j", "24 02/05/24 036")
	f("%%{a} %{a} %{missing}|", "%{a} x_y |")
	f("%[localhost] %[IP] %[FQDN]", "box 10.0.0.7 box.example.com")
	for _, bad := range []string{"%", "%{", "%{a b}", "%[nope]", "%q"} {
		if _, err := compilePattern(bad, true); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	pm := time.Date(2024, 2, 5, 12, 0, 0, 0, time.UTC)
	if got := string(appendTime(nil, 'I', pm, 0)) + string(appendTime(nil, 'p', pm, 0)); got != "12PM" {
		t.Errorf("noon = %q", got)
	}
}

func TestRoundDown(t *testing.T) {
	ts := time.Date(2024, 2, 5, 17, 38, 47, 5e8, time.UTC)
	f := func(v int, unit string, want string) {
		t.Helper()
		if got := roundDown(ts, v, unit).Format("15:04:05.000"); got != want {
			t.Errorf("round %d %s = %s, want %s", v, unit, got, want)
		}
	}
	f(1, roundSecond, "17:38:47.000")
	f(10, roundSecond, "17:38:40.000")
	f(15, roundMinute, "17:30:00.000")
	f(10, roundMinute, "17:30:00.000")
	f(6, roundHour, "12:00:00.000")
	if checkRound(61, roundMinute) == nil || checkRound(25, roundHour) == nil || checkRound(1, "day") == nil {
		t.Error("bad round accepted")
	}
}

func TestParquetRound(t *testing.T) {
	dir := t.TempDir()
	r, s := newParquetSink(t, dir, func(c *ParquetConfig) {
		c.Path = dir + "/%H%M"
		c.Round, c.RoundValue, c.RoundUnit = true, 10, "Minute"
		c.TimeZone = "UTC"
	})
	r.putEvents(t, 100, stamped(30, time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC), time.Minute, nil, 0))
	drainAll(t, s, r.ch)
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, f := range finals(t, dir) {
		got[filepath.Dir(f)] += len(readParquet(t, filepath.Join(dir, f)))
	}
	if want := map[string]int{"1000": 10, "1010": 10, "1020": 10}; !maps.Equal(got, want) {
		t.Errorf("rows per bucket %v, want %v", got, want)
	}
}

// As in Flume, time escapes need the timestamp header unless
// useLocalTimeStamp is set; a batch with an event without one is rolled
// back whole and leaves nothing on disk.
func TestParquetMissingTimestamp(t *testing.T) {
	dir := t.TempDir()
	r, s := newParquetSink(t, dir, func(c *ParquetConfig) { c.Path = dir + "/%Y%m%d" })
	in := stamped(10, t0, time.Second, nil, 0)
	delete(in[6].Headers, "timestamp")
	r.putEvents(t, 100, in)
	st, err := s.Process(context.Background())
	if !errors.Is(err, errNoTimestamp) || st != component.Backoff {
		t.Fatalf("Process = %v, %v; want BACKOFF and errNoTimestamp", st, err)
	}
	if r.ch.Len() != 10 {
		t.Errorf("channel holds %d events after the rollback, want 10", r.ch.Len())
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if files := tree(t, dir); len(files) != 0 {
		t.Errorf("a rolled-back batch left files: %q", files)
	}
	counts(t, "EventWriteFail", r.counter().EventWriteFail.Get(), 1)

	// The same events with useLocalTimeStamp go to today's directory.
	r2, s2 := newParquetSink(t, dir, func(c *ParquetConfig) {
		c.Path = dir + "/%Y%m%d"
		c.UseLocalTimeStamp = true
	})
	r2.putEvents(t, 100, in)
	drainAll(t, s2, r2.ch)
	if err := s2.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A failed batch is cut out of a file that already holds committed
	// batches, even where it had spilled out of the write buffer.
	cut := t.TempDir()
	r3, s3 := newParquetSink(t, cut, func(c *ParquetConfig) { c.Path = cut + "/%Y" })
	good := stamped(3, t0, time.Second, nil, 0)
	r3.putEvents(t, 100, good)
	drainAll(t, s3, r3.ch)
	inUse := s3.InUseFiles()
	before, err := os.Stat(inUse[0])
	if err != nil {
		t.Fatal(err)
	}
	big := stamped(5, t0, time.Second, nil, 3*walBufferSize)
	delete(big[4].Headers, "timestamp")
	r3.putEvents(t, 100, big)
	if _, err := s3.Process(context.Background()); !errors.Is(err, errNoTimestamp) {
		t.Fatalf("Process = %v", err)
	}
	if after, err := os.Stat(inUse[0]); err != nil || after.Size() != before.Size() {
		t.Fatalf("in-use file is %d bytes after the rollback, want %d (%v)", after.Size(), before.Size(), err)
	}
	if tx, err := r3.ch.Take(context.Background(), 100); err != nil || tx.Commit() != nil { // drop the bad batch
		t.Fatal(err)
	}
	if err := s3.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameRows(t, "after a cut", readDir(t, cut), wantRows(good))

	today := time.Now().Format("20060102")
	names := finals(t, dir)
	if len(names) != 1 || filepath.Dir(names[0]) != today {
		t.Fatalf("files %q, want one in %s", names, today)
	}
	got := readParquet(t, filepath.Join(dir, names[0]))
	want := wantRows(in)
	want[6].ts = got[6].ts // arrival time
	sameRows(t, "useLocalTimeStamp", got, want)
}

func TestParquetMaxOpenFilesClosesLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	r, s := newParquetSink(t, dir, func(c *ParquetConfig) {
		c.Path = dir + "/%{host}"
		c.MaxOpenFiles = 2
	})
	send := func(host string) {
		t.Helper()
		r.putEvents(t, 100, stamped(3, t0, time.Millisecond, []string{host}, 0))
		drainAll(t, s, r.ch)
	}
	closed := func() []string {
		s.waitFinished(t)
		var out []string
		for _, f := range finals(t, dir) {
			out = append(out, filepath.Dir(f))
		}
		return out
	}
	send("a")
	send("b")
	send("a") // a is now the most recent
	send("c") // evicts b
	if got := closed(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("closed %v, want [b]", got)
	}
	send("b") // evicts a
	if got := closed(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("closed %v, want [a b]", got)
	}
	if n := len(s.InUseFiles()); n != 2 {
		t.Errorf("%d files in use, want 2", n)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	total := map[string]int{}
	for _, f := range finals(t, dir) {
		total[filepath.Dir(f)] += len(readParquet(t, filepath.Join(dir, f)))
	}
	if want := map[string]int{"a": 6, "b": 6, "c": 3}; !maps.Equal(total, want) {
		t.Errorf("rows %v, want %v", total, want)
	}
}

func TestParquetHeaderColumnsAndCodecs(t *testing.T) {
	for _, codec := range []string{"snappy", "zstd", "gzip", "none", "ZSTD"} {
		t.Run(codec, func(t *testing.T) {
			dir := t.TempDir()
			r, s := newParquetSink(t, dir, func(c *ParquetConfig) {
				c.Compression = codec
				c.Headers = []string{"host", "seq", "absent"}
			})
			in := stamped(500, t0, time.Millisecond, []string{"a", "b"}, 200)
			delete(in[3].Headers, "host")
			r.putEvents(t, 100, in)
			drainAll(t, s, r.ch)
			if err := s.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			names := finals(t, dir)
			if len(names) != 1 {
				t.Fatalf("files %q", names)
			}
			path := filepath.Join(dir, names[0])
			want := wantRows(in)
			for i := range want {
				delete(want[i].headers, "timestamp") // not a selected column
			}
			sameRows(t, codec, readParquet(t, path), want)

			pf, err := pqfile.OpenParquetFile(path, false)
			if err != nil {
				t.Fatal(err)
			}
			defer pf.Close()
			md := pf.MetaData()
			if got := md.Schema.NumColumns(); got != 5 {
				t.Errorf("%d leaf columns, want 5: %s", got, md.Schema)
			}
			cc, err := md.RowGroup(0).ColumnChunk(0)
			if err != nil {
				t.Fatal(err)
			}
			wantCodec := map[string]string{"snappy": "SNAPPY", "zstd": "ZSTD", "ZSTD": "ZSTD", "gzip": "GZIP", "none": "UNCOMPRESSED"}[codec]
			if got := cc.Compression().String(); !strings.EqualFold(got, wantCodec) {
				t.Errorf("compression %s, want %s", got, wantCodec)
			}
			fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := fr.Schema()
			if err != nil {
				t.Fatal(err)
			}
			if ts, ok := sc.Field(0).Type.(*arrow.TimestampType); !ok || ts.Unit != arrow.Millisecond {
				t.Errorf("timestamp column type %s", sc.Field(0).Type)
			}
		})
	}
}

// A reader that lists the directory while the sink writes and rolls never
// sees a partial Parquet file: every file with the final suffix opens and
// reads completely.
func TestParquetFilesAppearComplete(t *testing.T) {
	dir := t.TempDir()
	r, s := newParquetSink(t, dir, func(c *ParquetConfig) {
		c.Path = dir + "/%{host}"
		c.RollCount = 300
	})
	in := stamped(30000, t0, time.Millisecond, []string{"a", "b", "c"}, 300)
	var (
		stop   atomic.Bool
		wg     sync.WaitGroup
		checks atomic.Int64
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			for _, f := range finals(t, dir) {
				rows, err := readParquetFile(filepath.Join(dir, f))
				if err != nil || len(rows) != 300 {
					t.Errorf("%s: %d rows, %v; want 300 rows", f, len(rows), err)
					return
				}
				checks.Add(1)
			}
		}
	}()
	for i := 0; i < len(in); i += 1000 {
		r.putEvents(t, 1000, in[i:i+1000])
		drainAll(t, s, r.ch)
	}
	stop.Store(true)
	wg.Wait()
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if checks.Load() == 0 {
		t.Error("the reader never saw a complete file")
	}
	got := readDir(t, dir)
	if len(got) != len(in) {
		t.Errorf("%d rows, want %d", len(got), len(in))
	}
}

// waitFinished waits until the finishers have done every file handed to
// them.
func (s *Parquet) waitFinished(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.inflight.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d files still being finished", s.inflight.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// crash abandons the sink as a killed process would: file descriptors
// (and so the locks) go, nothing is finished.
func (s *Parquet) crash() {
	s.lock <- struct{}{}
	defer s.release()
	if s.queue != nil {
		s.cancel()
		close(s.queue)
		s.finishers.Wait()
		s.queue = nil
	}
	for _, b := range s.buckets {
		if b.file != nil {
			_ = b.file.f.Close()
		}
	}
	for _, f := range s.sealed {
		_ = f.f.Close()
	}
	s.buckets, s.sealed = map[string]*bucket{}, nil
	s.lru.Init()
	s.stopped = true
}

func TestParquetRecoversAfterCrash(t *testing.T) {
	dir := t.TempDir()
	r, s := newParquetSink(t, dir, func(c *ParquetConfig) { c.Path = dir + "/%{host}" })
	in := stamped(3000, t0, time.Millisecond, []string{"a", "b"}, 50)
	r.putEvents(t, 1000, in)
	drainAll(t, s, r.ch)
	inUse := s.InUseFiles()
	if len(inUse) != 2 || len(finals(t, dir)) != 0 {
		t.Fatalf("in use %q, finals %q", inUse, finals(t, dir))
	}
	s.crash()

	// What a crash in the middle of the next batch leaves: records after
	// the last batch end, then a torn record.
	extra := stamped(5, t0, time.Millisecond, []string{"a"}, 0)
	var tail []byte
	for i := range extra {
		tail = appendWALEvent(tail, 1, &extra[i])
	}
	tail = appendWALEvent(tail, 1, &extra[0])[:len(tail)+7]
	for _, p := range inUse {
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.Write(tail); err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
	// A stale conversion file from a crash during a close.
	if err := os.WriteFile(walPartPath(inUse[0], ".tmp"), []byte("PAR1 half"), 0o644); err != nil {
		t.Fatal(err)
	}

	r2, s2 := newParquetSink(t, dir, func(c *ParquetConfig) { c.Path = dir + "/%{host}" })
	_ = r2
	if files := tree(t, dir); len(files) != 2 {
		t.Fatalf("after recovery: %q", files)
	}
	got := map[string][]pqRow{}
	for _, f := range finals(t, dir) {
		got[filepath.Dir(f)] = append(got[filepath.Dir(f)], readParquet(t, filepath.Join(dir, f))...)
	}
	var wantA, wantB []event.Event
	for i, e := range in {
		if i%2 == 0 {
			wantA = append(wantA, e)
		} else {
			wantB = append(wantB, e)
		}
	}
	sameRows(t, "a", got["a"], wantRows(wantA))
	sameRows(t, "b", got["b"], wantRows(wantB))
	if err := s2.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Recovery runs again harmlessly.
	if err := s2.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if files := tree(t, dir); len(files) != 2 {
		t.Fatalf("after a second start: %q", files)
	}
}

// Recovery leaves alone the in-use files of a live sink (they are locked)
// and files that are not the sink's.
func TestParquetRecoveryLeavesLiveAndForeignFiles(t *testing.T) {
	dir := t.TempDir()
	r, s := newParquetSink(t, dir, nil)
	r.putEvents(t, 100, stamped(10, t0, time.Millisecond, nil, 0))
	drainAll(t, s, r.ch)
	foreign := filepath.Join(dir, "notes.tmp")
	if err := os.WriteFile(foreign, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A whole header with a bad checksum: not the sink's, left alone.
	bad := appendWALHeader(nil, "FlumeData.2.parquet")
	bad[len(bad)-1] ^= 0xff
	if err := os.WriteFile(filepath.Join(dir, "FlumeData.2.parquet.tmp"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	// What a writer that died at creation leaves: nothing, or part of a
	// header. Recovery removes those.
	for i, n := range []int{0, 3, 8, 9, 11} {
		partial := filepath.Join(dir, fmt.Sprintf("FlumeData.%d.parquet.tmp", 10+i))
		if err := os.WriteFile(partial, appendWALHeader(nil, "FlumeData.1.parquet")[:n], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, s2 := newParquetSink(t, dir, nil)
	_ = s2
	files := tree(t, dir)
	if len(files) != 3 || len(finals(t, dir)) != 0 {
		t.Fatalf("a second sink's recovery touched the wrong files: %q", files)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readDir(t, dir); len(got) != 10 {
		t.Errorf("%d rows, want 10", len(got))
	}
	if b, err := os.ReadFile(foreign); err != nil || string(b) != "mine" {
		t.Errorf("foreign file: %q, %v", b, err)
	}
}

// Stop with an expired deadline leaves the open files in use; the next
// Start recovers them.
func TestParquetStopDeadlineLeavesFilesForRecovery(t *testing.T) {
	dir := t.TempDir()
	r, s := newParquetSink(t, dir, nil)
	in := stamped(7, t0, time.Millisecond, nil, 0)
	r.putEvents(t, 100, in)
	drainAll(t, s, r.ch)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop with a done ctx = %v, want context.Canceled", err)
	}
	if names := tree(t, dir); len(names) != 1 || !strings.HasSuffix(names[0], ".tmp") {
		t.Fatalf("files %q, want the one in-use file", names)
	}
	if err := s.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	sameRows(t, "recovered", readDir(t, dir), wantRows(in))
	if names := tree(t, dir); len(names) != 1 {
		t.Fatalf("files %q after recovery", names)
	}
}

// While a Process holds the sink, Stop gives up at its deadline.
func TestParquetStopWaitsAtMostItsDeadline(t *testing.T) {
	_, s := newParquetSink(t, t.TempDir(), nil)
	s.lock <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want DeadlineExceeded", err)
	}
	s.release()
}

func TestParquetConfig(t *testing.T) {
	props := func(kv ...string) config.Section {
		s := config.Section{Prefix: "a1.sinks.k1.", Props: map[string]config.Prop{}}
		for i := 0; i < len(kv); i += 2 {
			s.Props[kv[i]] = config.Prop{Key: "a1.sinks.k1." + kv[i], Value: kv[i+1], File: "f.conf", Line: i/2 + 1}
		}
		return s
	}
	cfg := NewParquetConfig()
	errs := config.Decode(props(
		"parquet.path", "file:///data/%Y/%m/%d/%{host}",
		"parquet.filePrefix", "events-%H",
		"parquet.fileSuffix", ".pq",
		"parquet.inUsePrefix", "_",
		"parquet.inUseSuffix", "",
		"parquet.rollInterval", "600",
		"parquet.rollSize", "134217728",
		"parquet.rollCount", "0",
		"parquet.batchSize", "1000",
		"parquet.round", "true",
		"parquet.roundValue", "10",
		"parquet.roundUnit", "minute",
		"parquet.timeZone", "America/Los_Angeles",
		"parquet.useLocalTimeStamp", "true",
		"parquet.idleTimeout", "60",
		"parquet.maxOpenFiles", "50",
		"parquet.compression", "zstd",
		"parquet.headers", "host app",
		"parquet.rowGroupSize", "1048576",
		"parquet.fsync", "true",
	), cfg, config.Prop{})
	if len(errs) != 0 {
		t.Fatalf("decode: %v", errs)
	}
	if cfg.BatchSize() != 1000 || cfg.RollSize != 134217728 || !slices.Equal(cfg.Headers, []string{"host", "app"}) {
		t.Errorf("decoded %+v", cfg)
	}
	r := newRig(t, "parquet", 100, 100)
	s, err := NewParquet(r.set, *cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.root != "/data" || s.cfg.Path != "/data/%Y/%m/%d/%{host}" {
		t.Errorf("root %q path %q", s.root, s.cfg.Path)
	}

	bad := func(want string, kv ...string) {
		t.Helper()
		errs := config.Decode(props(kv...), NewParquetConfig(), config.Prop{})
		if len(errs) == 0 || !strings.Contains(errs.Error(), want) {
			t.Errorf("%v: errors %v, want one containing %q", kv, errs, want)
		}
	}
	bad("required property is missing")
	bad("only local paths", "parquet.path", "hdfs://nn/flume")
	bad("unknown escape %q", "parquet.path", "/d/%q")
	bad("must not contain /", "parquet.path", "/d", "parquet.filePrefix", "a/b")
	bad("must not both be empty", "parquet.path", "/d", "parquet.inUseSuffix", "")
	bad("rollSize must not be negative", "parquet.path", "/d", "parquet.rollSize", "-1")
	bad("maxOpenFiles must be positive", "parquet.path", "/d", "parquet.maxOpenFiles", "0")
	bad("roundValue must be in", "parquet.path", "/d", "parquet.roundValue", "90", "parquet.roundUnit", "minute")
	bad("unknown roundUnit", "parquet.path", "/d", "parquet.roundUnit", "day")
	bad("parquet.timeZone", "parquet.path", "/d", "parquet.timeZone", "Mars/Olympus")
	bad("unknown parquet.compression", "parquet.path", "/d", "parquet.compression", "lzo")
	bad("is a column of its own", "parquet.path", "/d", "parquet.headers", "host body")
	bad("listed twice", "parquet.path", "/d", "parquet.headers", "host host")
	bad(`unknown property "hdfs.path"`, "parquet.path", "/d", "hdfs.path", "/d")
	bad(`unknown property "parquet.codeC"`, "parquet.path", "/d", "parquet.codeC", "snappy")
}

// Two sinks writing the same directory with the same prefix, in the same
// millisecond, never take each other's names: every event lands once.
func TestParquetSinksShareADirectory(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: t0}
	var rigs []*rig
	var sinks []*Parquet
	for i := 0; i < 2; i++ {
		r, s := newParquetSink(t, dir, func(c *ParquetConfig) { c.RollCount = 7 })
		s.now = clock.now
		rigs, sinks = append(rigs, r), append(sinks, s)
	}
	var want []event.Event
	for round := 0; round < 20; round++ {
		for i, r := range rigs {
			ev := stamped(10, t0, time.Millisecond, []string{fmt.Sprintf("sink%d-round%d", i, round)}, 0)
			want = append(want, ev...)
			r.putEvents(t, 100, ev)
			drainAll(t, sinks[i], r.ch)
		}
	}
	for _, s := range sinks {
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	key := func(r pqRow) string { return r.headers["host"] + "/" + r.headers["seq"] }
	var got, exp []string
	for _, r := range readDir(t, dir) {
		got = append(got, key(r))
	}
	for _, r := range wantRows(want) {
		exp = append(exp, key(r))
	}
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		t.Errorf("%d rows, want %d, or not the same ones", len(got), len(exp))
	}
	if files := tree(t, dir); len(files) != len(finals(t, dir)) {
		t.Errorf("in-use files left: %q", files)
	}
}
