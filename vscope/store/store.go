package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of the package. A [BadBatchError] wraps ErrBadBatch with the reason.
var (
	// ErrBadBatch marks a batch that is malformed: refused whole, nothing written.
	ErrBadBatch = errors.New("malformed batch")
	// ErrClosed is returned by a store used after Close.
	ErrClosed = errors.New("store closed")
	// ErrReadOnly is returned by Append on a store opened read-only.
	ErrReadOnly = errors.New("store opened read-only")
	// ErrUnsupported is returned for an operation a backend does not have.
	ErrUnsupported = errors.New("not supported by this store")
)

// BadBatchError says why a batch was refused. It matches ErrBadBatch.
type BadBatchError struct{ Reason string }

func (e *BadBatchError) Error() string        { return "malformed batch: " + e.Reason }
func (e *BadBatchError) Is(target error) bool { return target == ErrBadBatch }

func badBatch(format string, args ...any) error {
	return &BadBatchError{Reason: fmt.Sprintf(format, args...)}
}

// Point is one sampled value in long format. Its fields are those of the
// agent's monitor.Point, so one converts to the other with a type conversion.
type Point struct {
	TS        int64 // unix milliseconds
	Host      string
	Agent     string // empty for host-wide metrics
	Component string // r1, c1, k1; "process", "go"; "cpu", "disk:sda", ...
	Kind      string // source, channel, sink, process, runtime, host
	Metric    string
	Value     float64
}

// Series names one time series.
type Series struct {
	Host, Agent, Component, Kind, Metric string
}

// String is the series as host/agent/component/metric (kind in brackets).
func (s Series) String() string {
	return s.Host + "/" + s.Agent + "/" + s.Component + "[" + s.Kind + "]/" + s.Metric
}

// Appender takes batches of points. A batch is written whole or not at all.
type Appender interface {
	Append(ctx context.Context, b *Batch) error
}

// Store is a metric store: batches in, windows out.
type Store interface {
	Appender
	// Read returns the points of the series matching q.Filter with
	// q.From <= ts < q.To, aligned on q.Step.
	Read(ctx context.Context, q Query) (*Matrix, error)
	// Series lists the series matching f, with their point counts where the
	// backend knows them cheaply.
	Series(ctx context.Context, f Filter) ([]SeriesInfo, error)
	// Retain applies retention and downsampling as of now.
	Retain(ctx context.Context, now time.Time) error
	// Close releases the store; safe twice.
	Close() error
}

// ManyReader is a Store that reads several windows together faster than
// one Read each ([DuckDB]).
type ManyReader interface {
	// ReadMany returns the windows of qs, in order, as Read would.
	ReadMany(ctx context.Context, qs []Query) ([]*Matrix, error)
}

// ReadMany reads the windows of qs from st: together where st is a
// [ManyReader], else one Read each.
func ReadMany(ctx context.Context, st Store, qs []Query) ([]*Matrix, error) {
	if mr, ok := st.(ManyReader); ok {
		return mr.ReadMany(ctx, qs)
	}
	out := make([]*Matrix, len(qs))
	for i, q := range qs {
		m, err := st.Read(ctx, q)
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// SeriesCount returns how many series f selects when st knows it without
// reading points ([DuckDB] keeps its dictionary in memory); ok is false
// otherwise. A Read of f returns a matrix of that many series.
func SeriesCount(st Store, f Filter) (n int, ok bool) {
	if d, isDuckDB := st.(*DuckDB); isDuckDB && f.Validate() == nil && !d.isClosed() {
		return len(d.selectSeries(f).ids), true
	}
	return 0, false
}

// SeriesInfo is a listed series.
type SeriesInfo struct {
	Series
	Points int64 // stored points, raw and downsampled; -1 if unknown
}

// Filter selects series. Each field is a glob (path.Match syntax: *, ?, [a-z])
// or an exact name; empty matches everything.
type Filter struct {
	Host, Agent, Component, Kind, Metric string
}

// Validate reports a malformed glob.
func (f Filter) Validate() error {
	for _, g := range []string{f.Host, f.Agent, f.Component, f.Kind, f.Metric} {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("filter %q: %w", g, err)
		}
	}
	return nil
}

// Match reports whether s is selected by f. f must be valid.
func (f Filter) Match(s Series) bool {
	return globMatch(f.Host, s.Host) && globMatch(f.Agent, s.Agent) &&
		globMatch(f.Component, s.Component) && globMatch(f.Kind, s.Kind) &&
		globMatch(f.Metric, s.Metric)
}

func globMatch(g, s string) bool {
	if g == "" || g == "*" || g == s {
		return true
	}
	if !strings.ContainsAny(g, `*?[\`) {
		return false
	}
	ok, _ := path.Match(g, s)
	return ok
}

// ParseFilter reads host/agent/component/kind/metric=glob pairs separated by
// commas, e.g. "agent=a1,kind=channel,metric=Channel*".
func ParseFilter(s string) (Filter, error) {
	var f Filter
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return f, fmt.Errorf("filter %q: want key=glob", kv)
		}
		switch k {
		case "host":
			f.Host = v
		case "agent":
			f.Agent = v
		case "component":
			f.Component = v
		case "kind":
			f.Kind = v
		case "metric":
			f.Metric = v
		default:
			return f, fmt.Errorf("filter %q: unknown key %q (host, agent, component, kind, metric)", kv, k)
		}
	}
	return f, f.Validate()
}

// Query asks for a window.
type Query struct {
	Filter
	From, To time.Time     // [From, To)
	Step     time.Duration // alignment; 0 means one second
}

func (q Query) window() (from, to, step int64, err error) {
	step = q.Step.Milliseconds()
	if q.Step == 0 {
		step = 1000
	}
	if step <= 0 {
		return 0, 0, 0, fmt.Errorf("query step %v: want at least 1ms", q.Step)
	}
	from, to = q.From.UnixMilli(), q.To.UnixMilli()
	if to <= from {
		return 0, 0, 0, fmt.Errorf("query window [%v, %v) is empty", q.From, q.To)
	}
	if n := (to - from + step - 1) / step; n > 1<<24 {
		return 0, 0, 0, fmt.Errorf("query window of %d steps is too long", n)
	}
	return from, to, step, q.Filter.Validate()
}

// Matrix is a window of series aligned on a step: row i is the time
// From+i*Step, column j the series Series[j]. A cell holds the mean of the
// points of its series in [time, time+Step), NaN where there are none.
type Matrix struct {
	From, Step int64 // unix ms
	Times      []int64
	Series     []Series
	Values     []float64 // len(Times) x len(Series), row-major

	// block and off: the array the matrices of one ReadMany share, and
	// where Values starts in it (see Contiguous).
	block []float64
	off   int
}

// At is the value at row t, column s.
func (m *Matrix) At(t, s int) float64 { return m.Values[t*len(m.Series)+s] }

// Column copies series s out of the matrix.
func (m *Matrix) Column(s int) []float64 {
	out := make([]float64, len(m.Times))
	for t := range out {
		out[t] = m.Values[t*len(m.Series)+s]
	}
	return out
}

// Contiguous returns the values of ms as one slice when they lie one after
// another, in order, in one array, as a ReadMany of the DuckDB store lays
// out the matrices it returns; else nil. The slice shares their memory, so
// a caller that is done with the matrices may reuse it (to gather their
// rows in place, say).
func Contiguous(ms []*Matrix) []float64 {
	if len(ms) == 0 || ms[0].block == nil {
		return nil
	}
	end := ms[0].off
	for _, m := range ms {
		if len(m.block) != len(ms[0].block) || &m.block[0] != &ms[0].block[0] || m.off != end {
			return nil
		}
		end += len(m.Values)
	}
	return ms[0].block[ms[0].off:end:end]
}

// matrixBuilder accumulates points into cells and averages them. A cell
// without points holds the mark empty (a NaN that arithmetic on points does
// not produce); the first point is added to zero, the next ones to the
// sum, and their count beyond the first is kept in extra, which is
// allocated at the first cell that gets a second point (a store sampled at
// the step has none). Calls of add for points of different rows may run
// concurrently: each touches only its rows' cells.
type matrixBuilder struct {
	m   *Matrix
	col []int32 // series id -> column, -1 if not selected
	to  int64

	mu    sync.Mutex // serialises the allocation of extra
	extra atomic.Pointer[[]uint32]
}

// emptyBits marks a cell without points.
const emptyBits = 0x7ffc_0000_0000_0e17

// maxCells bounds a matrix: 2^27 cells are 1 GiB of float64.
const maxCells = 1 << 27

func checkCells(from, to, step int64, series int) error {
	if n := (to - from + step - 1) / step; n*int64(series) > maxCells {
		return fmt.Errorf("window of %d steps x %d series is over %d cells: narrow the filter or widen the step", n, series, maxCells)
	}
	return nil
}

// matrixRows is the number of rows of the window [from, to) at step.
func matrixRows(from, to, step int64) int { return int((to - from + step - 1) / step) }

// newMatrixBuilder returns a builder of the window's matrix with its cells
// in values (len rows x series), which clearRows marks empty.
func newMatrixBuilder(from, to, step int64, series []Series, col []int32, values []float64) *matrixBuilder {
	n := matrixRows(from, to, step)
	m := &Matrix{From: from, Step: step, Times: make([]int64, n), Series: series, Values: values}
	for i := range m.Times {
		m.Times[i] = from + int64(i)*step
	}
	return &matrixBuilder{m: m, col: col, to: to}
}

// clearRows marks the cells of the rows holding [from, to) empty.
func (b *matrixBuilder) clearRows(from, to int64) {
	m := b.m
	p := int64(len(m.Series))
	r0 := (from - m.From) / m.Step
	r1 := min((to-m.From+m.Step-1)/m.Step, int64(len(m.Times)))
	empty := math.Float64frombits(emptyBits)
	cells := m.Values[r0*p : r1*p]
	for i := range cells {
		cells[i] = empty
	}
}

// add adds points of series ids sid at times ts. Points come in time
// order, many to a row, so the row of the last point is tried first: a
// comparison instead of a division.
func (b *matrixBuilder) add(sid []int32, ts []int64, v []float64) {
	m, ncol := b.m, int64(len(b.m.Series))
	col := b.col
	rowFrom, rowTo, rowOff := int64(1), int64(0), int64(0) // [rowFrom, rowTo): the cached row
	for i := range sid {
		t := ts[i]
		if t < rowFrom || t >= rowTo {
			if t < m.From || t >= b.to {
				continue
			}
			r := (t - m.From) / m.Step
			rowFrom = m.From + r*m.Step
			rowTo, rowOff = min(rowFrom+m.Step, b.to), r*ncol
		}
		id := sid[i]
		if id < 0 || int(id) >= len(col) {
			continue
		}
		c := col[id]
		if c < 0 {
			continue
		}
		cell := rowOff + int64(c)
		x := v[i]
		if x != x {
			x = math.NaN() // not the empty mark, whatever its bits
		}
		if cur := m.Values[cell]; math.Float64bits(cur) == emptyBits {
			m.Values[cell] = 0 + x
		} else {
			m.Values[cell] = cur + x
			b.another(cell)
		}
	}
}

// another counts a point beyond the first of cell.
func (b *matrixBuilder) another(cell int64) {
	ex := b.extra.Load()
	if ex == nil {
		b.mu.Lock()
		if ex = b.extra.Load(); ex == nil {
			s := make([]uint32, len(b.m.Values))
			ex = &s
			b.extra.Store(ex)
		}
		b.mu.Unlock()
	}
	(*ex)[cell]++
}

// finish averages the cells of more than one point. Empty cells stay NaN.
func (b *matrixBuilder) finish() *Matrix {
	if ex := b.extra.Load(); ex != nil {
		for i, n := range *ex {
			if n > 0 {
				b.m.Values[i] /= float64(n + 1)
			}
		}
	}
	return b.m
}

// Cardinality is the number of series of one component.
type Cardinality struct {
	Host, Agent, Component, Kind string
	Series                       int
	Points                       int64
}

// CardinalityOf groups series by component, largest first.
func CardinalityOf(series []SeriesInfo) []Cardinality {
	idx := map[Cardinality]int{}
	var out []Cardinality
	for _, s := range series {
		k := Cardinality{Host: s.Host, Agent: s.Agent, Component: s.Component, Kind: s.Kind}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, k)
		}
		out[i].Series++
		out[i].Points += max(s.Points, 0)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Series != out[j].Series {
			return out[i].Series > out[j].Series
		}
		a, b := out[i], out[j]
		return a.Host+"\x00"+a.Agent+"\x00"+a.Component < b.Host+"\x00"+b.Agent+"\x00"+b.Component
	})
	return out
}

func sortSeries(s []SeriesInfo) {
	sort.Slice(s, func(i, j int) bool { return seriesLess(s[i].Series, s[j].Series) })
}

func seriesLess(a, b Series) bool {
	if a.Host != b.Host {
		return a.Host < b.Host
	}
	if a.Agent != b.Agent {
		return a.Agent < b.Agent
	}
	if a.Component != b.Component {
		return a.Component < b.Component
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	return a.Metric < b.Metric
}

// DefaultDir is the local data directory: $XDG_DATA_HOME/vscope, else
// ~/.local/share/vscope.
func DefaultDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "vscope")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "vscope")
	}
	return filepath.Join(home, ".local", "share", "vscope")
}

// Location is a parsed store location.
type Location struct {
	Kind string // "duckdb", "vm" or "collector"
	Path string // the DuckDB file
	URL  string // the VictoriaMetrics or collector base URL
}

// ParseLocation reads a --store value: empty for the default directory; a
// directory (the file metrics.duckdb inside it) or a file ending in .duckdb
// or .db; vm+http://HOST:PORT (or vm+https) for VictoriaMetrics;
// http://HOST:PORT (or https) for a collector serving /api/v1/ingest.
func ParseLocation(s string) (Location, error) {
	switch {
	case strings.HasPrefix(s, "vm+http://"), strings.HasPrefix(s, "vm+https://"):
		return Location{Kind: "vm", URL: strings.TrimRight(strings.TrimPrefix(s, "vm+"), "/")}, nil
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		return Location{Kind: "collector", URL: strings.TrimRight(s, "/")}, nil
	case strings.Contains(s, "://"):
		return Location{}, fmt.Errorf("store %q: want a directory, a .duckdb file, http://HOST:PORT or vm+http://HOST:PORT", s)
	}
	if s == "" {
		s = DefaultDir()
	}
	if ext := filepath.Ext(s); ext == ".duckdb" || ext == ".db" {
		return Location{Kind: "duckdb", Path: s}, nil
	}
	return Location{Kind: "duckdb", Path: filepath.Join(s, "metrics.duckdb")}, nil
}

// Open opens the store at a --store location (see [ParseLocation]). A
// collector URL yields ErrUnsupported: it only accepts points, use
// [NewClient].
func Open(ctx context.Context, location string, opts Options) (Store, error) {
	loc, err := ParseLocation(location)
	if err != nil {
		return nil, err
	}
	switch loc.Kind {
	case "vm":
		return NewVictoriaMetrics(loc.URL, nil), nil
	case "collector":
		return nil, fmt.Errorf("store %s is a collector that only accepts points: %w", loc.URL, ErrUnsupported)
	}
	return OpenDuckDB(ctx, loc.Path, opts)
}
