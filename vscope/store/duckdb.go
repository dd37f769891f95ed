package store

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// Options configure a DuckDB store. The zero value is the default.
type Options struct {
	// ReadOnly opens the file without taking the writer's lock on it
	// exclusively (DuckDB allows many read-only processes, or one writer).
	ReadOnly bool
	// RawRetention is how long raw points are kept before they are
	// downsampled (default 7 days; negative: forever).
	RawRetention time.Duration
	// DownsampleStep is the resolution raw points are downsampled to
	// (default 1 minute).
	DownsampleStep time.Duration
	// DownsampledRetention is how long downsampled points are kept
	// (default 90 days; negative: forever).
	DownsampledRetention time.Duration
	// RetainEvery runs Retain (downsampling, expiry) in the
	// background this often (0: never; the caller runs it).
	RetainEvery time.Duration
	// NoFileAccess turns off DuckDB's access to files other than the store
	// (read_csv, COPY, ATTACH, ...) for the life of the process' database,
	// as a collector that serves SQL to remote readers does.
	NoFileAccess bool
	// Logger receives background errors (default slog.Default()).
	Logger *slog.Logger
	// Threads is DuckDB's number of threads (its threads setting) for the
	// life of the process' database; 0 keeps DuckDB's default, one per
	// CPU. A process that only reads windows does better with 1: ReadMany
	// already reads on a connection per CPU, and DuckDB's own workers then
	// add threads that mostly spin waiting for a query's last task
	// (docs/bench/diagnose.md).
	Threads int
}

func (o Options) withDefaults() Options {
	if o.RawRetention == 0 {
		o.RawRetention = 7 * 24 * time.Hour
	}
	if o.DownsampleStep <= 0 {
		o.DownsampleStep = time.Minute
	}
	if o.DownsampledRetention == 0 {
		o.DownsampledRetention = 90 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// schemaVersion is stored in the meta table; a file of another version is
// refused rather than misread.
const schemaVersion = "1"

// The schema. series is the dictionary of names. Raw points arrive in
// points (integer values) and points_x (the others), in arrival (time)
// order, so ts zonemaps prune window reads. Split so, each table's values
// compress evenly (DuckDB picks one float encoding per row group column):
// a fifth fewer bytes than one table for the sampler's mix (store.md).
// points_1m holds the downsampled points. The views join the names back
// for SQL users.
var schemaSQL = []string{
	`CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)`,
	`CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, host VARCHAR, agent VARCHAR,
		component VARCHAR, kind VARCHAR, metric VARCHAR)`,
	`CREATE TABLE IF NOT EXISTS points (series_id INTEGER, ts BIGINT, value DOUBLE)`,
	`CREATE TABLE IF NOT EXISTS points_x (series_id INTEGER, ts BIGINT, value DOUBLE)`,
	`CREATE TABLE IF NOT EXISTS points_1m (series_id INTEGER, ts BIGINT, value DOUBLE,
		min DOUBLE, max DOUBLE, n INTEGER)`,
	`CREATE OR REPLACE VIEW raw_points AS SELECT * FROM points UNION ALL SELECT * FROM points_x`,
	`CREATE OR REPLACE VIEW samples AS
		SELECT epoch_ms(p.ts) AS time, p.ts, s.host, s.agent, s.component, s.kind, s.metric, p.value, 'raw' AS resolution
		FROM raw_points p JOIN series s ON s.id = p.series_id
		UNION ALL
		SELECT epoch_ms(d.ts), d.ts, s.host, s.agent, s.component, s.kind, s.metric, d.value, 'downsampled'
		FROM points_1m d JOIN series s ON s.id = d.series_id`,
}

// DuckDB is the embedded store: one DuckDB file.
//
// Lock order: mu, then qmu or names, then selMu. mu serialises writers (a
// group commit, Retain, Close) and protects wconn and shapes; qmu protects
// the queue of batches waiting for a group commit; names protects ids and
// series, which readers snapshot; selMu the cached last selection. closed
// is set under mu and read without.
type DuckDB struct {
	path string
	opts Options
	conn *duckdb.Connector
	db   *sql.DB

	mu     sync.Mutex
	wconn  *sql.Conn
	closed atomic.Bool // set under mu; read without it

	names  sync.RWMutex
	ids    *seriesIndex
	series []Series // by id

	shapes map[shapeKey]*shape // recent batches' series lists; under mu

	// The last selection's filter and ids in name order, for the
	// dictionary of selN series: a reader lists the same filter for
	// several reads, and sorting 100k names takes a while.
	selMu     sync.Mutex
	selFilter Filter
	selN      int
	selIDs    []int32

	qmu     sync.Mutex // protects queue; taken inside mu or alone
	queue   []*pendingBatch
	commits atomic.Int64 // group commits made, for tests

	stop chan struct{}
	wg   sync.WaitGroup
}

// A shape is the series list of a batch with its ids. An agent sends the
// same list every sample; comparing a batch's list with the remembered one
// costs a fraction of looking up each series.
type shape struct {
	series []Series
	sids   []int32
}

type shapeKey struct {
	n           int
	first, last Series
}

const maxShapes = 256

func (s *DuckDB) knownShape(b *Batch) []int32 {
	n := len(b.Series)
	if n == 0 {
		return nil
	}
	sh := s.shapes[shapeKey{n, b.Series[0], b.Series[n-1]}]
	if sh == nil {
		return nil
	}
	for i := range sh.series {
		if sh.series[i] != b.Series[i] {
			return nil
		}
	}
	return sh.sids
}

func (s *DuckDB) rememberShape(b *Batch, sids []int32) {
	n := len(b.Series)
	if n == 0 || n > 1<<18 {
		return
	}
	if len(s.shapes) >= maxShapes {
		for k := range s.shapes { // forget one at random
			delete(s.shapes, k)
			break
		}
	}
	s.shapes[shapeKey{n, b.Series[0], b.Series[n-1]}] = &shape{series: append([]Series(nil), b.Series...), sids: sids}
}

var _ Store = (*DuckDB)(nil)

// OpenDuckDB opens (creating if needed) the store file at path; its
// directory is created too. A file left by a process that died is
// recovered by DuckDB from its write-ahead log: every committed batch is
// there.
func OpenDuckDB(ctx context.Context, path string, opts Options) (*DuckDB, error) {
	opts = opts.withDefaults()
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("store directory: %w", err)
		}
	}
	dsn := path
	if opts.ReadOnly {
		dsn += "?access_mode=READ_ONLY"
	}
	conn, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		if strings.Contains(err.Error(), "lock") && opts.ReadOnly {
			return nil, fmt.Errorf("open store %s: %w (a process is writing it: if that is `vscope store serve`, read through it with --store http://ADDR; an agent's own store can be read once the agent stops)", path, err)
		}
		if strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("open store %s: %w (one process writes a store file: run `vscope store serve` and point the agents at it)", path, err)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &DuckDB{path: path, opts: opts, conn: conn, db: sql.OpenDB(conn), ids: newSeriesIndex(1024), shapes: map[shapeKey]*shape{}, stop: make(chan struct{})}
	if err := s.init(ctx); err != nil {
		_ = s.db.Close()
		_ = conn.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if opts.RetainEvery > 0 && !opts.ReadOnly {
		s.wg.Add(1)
		go s.retainLoop(opts.RetainEvery)
	}
	return s, nil
}

func (s *DuckDB) init(ctx context.Context) error {
	if !s.opts.ReadOnly {
		for _, q := range schemaSQL {
			if _, err := s.db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("schema: %w", err)
			}
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING`, schemaVersion); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
	}
	var v string
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if v != schemaVersion {
		return fmt.Errorf("schema version %q, this vscope reads %q", v, schemaVersion)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, host, agent, component, kind, metric FROM series ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int32
		var x Series
		if err := rows.Scan(&id, &x.Host, &x.Agent, &x.Component, &x.Kind, &x.Metric); err != nil {
			return err
		}
		if int(id) != len(s.series) {
			return fmt.Errorf("series ids not dense at %d", id)
		}
		s.series = append(s.series, x)
		s.ids.put(x, id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if !s.opts.ReadOnly {
		c, err := s.db.Conn(ctx)
		if err != nil {
			return err
		}
		s.wconn = c
	}
	if s.opts.Threads > 0 {
		if _, err := s.db.ExecContext(ctx, fmt.Sprintf("SET threads = %d", s.opts.Threads)); err != nil {
			return err
		}
	}
	if s.opts.NoFileAccess {
		if _, err := s.db.ExecContext(ctx, `SET enable_external_access = false`); err != nil {
			return err
		}
	}
	return nil
}

// Path is the store's file.
func (s *DuckDB) Path() string { return s.path }

// DB is the database, for SQL (vscope sql). Tables: series, points,
// points_x, points_1m, meta; views: raw_points, samples.
func (s *DuckDB) DB() *sql.DB { return s.db }

// Append writes b, its new series and points in one transaction, possibly
// with other writers' batches (group commit), and returns once that is
// committed. b must not change until then. A commit under way is not
// cancelled with ctx: it may hold others' batches.
func (s *DuckDB) Append(_ context.Context, b *Batch) error {
	if err := b.validateShape(); err != nil {
		return err
	}
	if b.Len() == 0 {
		return nil
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	// Group commit: the batch joins the queue; whoever holds the writer's
	// lock commits the queue from its head in groups of up to
	// groupMaxPoints, until its own batch is done, so concurrent writers
	// (a collector's requests) share commits and their fsyncs.
	p := &pendingBatch{b: b, done: make(chan error, 1)}
	s.qmu.Lock()
	s.queue = append(s.queue, p)
	s.qmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		select {
		case err := <-p.done:
			return err
		default:
		}
		s.commitGroup(s.takeGroup())
	}
}

// groupMaxPoints bounds the points a group commit gathers from several
// batches. Below a DuckDB row group (122,880 rows) a transaction goes
// through the WAL and is checkpointed into full row groups; a larger one
// made of several batches is written straight to the file, leaving part
// of a row group empty, which cost a quarter more bytes per point
// (docs/bench/store.md). A single batch is never split.
const groupMaxPoints = 100_000

// takeGroup takes batches from the head of the queue: at least one, then
// more while they fit in groupMaxPoints.
func (s *DuckDB) takeGroup() []*pendingBatch {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	k, n := 0, 0
	for k < len(s.queue) && (k == 0 || n+s.queue[k].b.Len() <= groupMaxPoints) {
		n += s.queue[k].b.Len()
		k++
	}
	group := append([]*pendingBatch(nil), s.queue[:k]...)
	s.queue = append(s.queue[:0], s.queue[k:]...)
	return group
}

// pendingBatch is a batch waiting for a group commit.
type pendingBatch struct {
	b    *Batch
	done chan error // receives the batch's outcome once
}

// commitGroup writes the batches of group in one transaction and tells
// each its outcome: a batch with malformed names is refused alone; a
// failed transaction fails them all. Called with mu held.
func (s *DuckDB) commitGroup(group []*pendingBatch) {
	if s.closed.Load() {
		for _, p := range group {
			p.done <- ErrClosed
		}
		return
	}
	s.names.RLock()
	next := int32(len(s.series))
	s.names.RUnlock()
	var (
		fresh    []Series
		freshIdx *seriesIndex
		ok       []*pendingBatch
		sidsOf   [][]int32
		n        int
	)
	for _, p := range group {
		sids := s.knownShape(p.b)
		if sids == nil {
			var err error
			if sids, err = s.resolve(p.b, next, &fresh, &freshIdx); err != nil {
				p.done <- err
				continue
			}
		}
		ok = append(ok, p)
		sidsOf = append(sidsOf, sids)
		n += p.b.Len()
	}
	if len(ok) == 0 {
		return
	}
	sid := make([]int32, 0, n)
	ts, vals := ok[0].b.TS, ok[0].b.Value
	if len(ok) > 1 {
		ts, vals = make([]int64, 0, n), make([]float64, 0, n)
		for _, p := range ok {
			ts = append(ts, p.b.TS...)
			vals = append(vals, p.b.Value...)
		}
	}
	for i, p := range ok {
		for _, r := range p.b.Ref {
			sid = append(sid, sidsOf[i][r])
		}
	}
	ctx := context.Background() // the group is not any one caller's
	err := s.wconn.Raw(func(dc any) error {
		c := dc.(driver.Conn)
		ex := dc.(driver.ExecerContext)
		if _, err := ex.ExecContext(ctx, "BEGIN TRANSACTION", nil); err != nil {
			return err
		}
		err := appendSeries(c, next, fresh)
		if err == nil {
			err = appendSplit(ctx, c, sid, ts, vals)
		}
		if err == nil {
			_, err = ex.ExecContext(ctx, "COMMIT", nil)
		}
		if err != nil {
			_, rerr := ex.ExecContext(ctx, "ROLLBACK", nil)
			if rerr != nil && !strings.Contains(rerr.Error(), "no transaction") {
				err = errors.Join(err, rerr)
			}
		}
		return err
	})
	if err != nil {
		err = fmt.Errorf("append %d points in %d batches: %w", n, len(ok), err)
		for _, p := range ok {
			p.done <- err
		}
		return
	}
	s.commits.Add(1)
	if len(fresh) > 0 {
		s.names.Lock()
		s.series = append(s.series, fresh...)
		for i, x := range fresh {
			s.ids.put(x, next+int32(i))
		}
		s.names.Unlock()
	}
	for i, p := range ok {
		s.rememberShape(p.b, sidsOf[i])
		p.done <- nil
	}
}

// resolve validates b's names and maps its series to ids. Series not in
// the store are added to fresh (indexed by freshIdx) with ids from next
// on; the caller publishes them after commit.
func (s *DuckDB) resolve(b *Batch, next int32, fresh *[]Series, freshIdx **seriesIndex) ([]int32, error) {
	if err := b.validateNames(); err != nil {
		return nil, err
	}
	s.names.RLock()
	defer s.names.RUnlock()
	sids := make([]int32, len(b.Series))
	for i, x := range b.Series {
		id, ok := s.ids.get(x, s.series)
		if !ok && *freshIdx != nil {
			id, ok = (*freshIdx).get(x, *fresh)
			id += next
		}
		if !ok {
			if *freshIdx == nil {
				*freshIdx = newSeriesIndex(0)
			}
			(*freshIdx).put(x, int32(len(*fresh)))
			id = next + int32(len(*fresh))
			*fresh = append(*fresh, x)
		}
		sids[i] = id
	}
	return sids, nil
}

// appendSplit inserts points with integer values into points and the
// others into points_x.
func appendSplit(ctx context.Context, c driver.Conn, sid []int32, ts []int64, v []float64) error {
	ints := 0
	for _, x := range v {
		if isInteger(x) {
			ints++
		}
	}
	if ints == 0 || ints == len(v) {
		table := "points_x"
		if ints > 0 {
			table = "points"
		}
		return appendPoints(ctx, c, table, sid, ts, v)
	}
	n := len(v)
	sidI, tsI, vI := make([]int32, 0, ints), make([]int64, 0, ints), make([]float64, 0, ints)
	sidX, tsX, vX := make([]int32, 0, n-ints), make([]int64, 0, n-ints), make([]float64, 0, n-ints)
	for i, x := range v {
		if isInteger(x) {
			sidI, tsI, vI = append(sidI, sid[i]), append(tsI, ts[i]), append(vI, x)
		} else {
			sidX, tsX, vX = append(sidX, sid[i]), append(tsX, ts[i]), append(vX, x)
		}
	}
	if err := appendPoints(ctx, c, "points", sidI, tsI, vI); err != nil {
		return err
	}
	return appendPoints(ctx, c, "points_x", sidX, tsX, vX)
}

func isInteger(x float64) bool { return x == math.Trunc(x) && !math.IsInf(x, 0) }

// appendSeries inserts new series with ids from first on, through the
// appender (it joins the connection's open transaction).
func appendSeries(c driver.Conn, first int32, fresh []Series) error {
	if len(fresh) == 0 {
		return nil
	}
	a, err := duckdb.NewAppenderFromConn(c, "", "series")
	if err != nil {
		return err
	}
	for i, x := range fresh {
		if err := a.AppendRow(first+int32(i), x.Host, x.Agent, x.Component, x.Kind, x.Metric); err != nil {
			_ = a.Close()
			return err
		}
	}
	return a.Close()
}

// selection is a snapshot of the series a filter selects: sorted by name,
// col maps a series id to its position (-1: not selected).
type selection struct {
	series   []Series
	col      []int32
	ids      []int32
	min, max int32
	all      bool // every series of the store
}

func (s *DuckDB) selectSeries(f Filter) selection {
	s.names.RLock()
	defer s.names.RUnlock()
	sel := selection{col: make([]int32, len(s.series))}
	for id := range sel.col {
		sel.col[id] = -1
	}
	s.selMu.Lock()
	if s.selIDs != nil && s.selFilter == f && s.selN == len(s.series) {
		sel.ids = slices.Clone(s.selIDs)
	} else {
		for id, x := range s.series {
			if f.Match(x) {
				sel.ids = append(sel.ids, int32(id))
			}
		}
		sort.Slice(sel.ids, func(i, j int) bool { return seriesLess(s.series[sel.ids[i]], s.series[sel.ids[j]]) })
		s.selFilter, s.selN, s.selIDs = f, len(s.series), slices.Clone(sel.ids)
		if s.selIDs == nil {
			s.selIDs = []int32{}
		}
	}
	s.selMu.Unlock()
	sel.series = make([]Series, len(sel.ids))
	sel.all = len(sel.ids) == len(s.series)
	sel.min, sel.max = int32(len(s.series)), -1
	for i, id := range sel.ids {
		sel.series[i] = s.series[id]
		sel.col[id] = int32(i)
		sel.min, sel.max = min(sel.min, id), max(sel.max, id)
	}
	return sel
}

// Read returns the window as a matrix: raw points and downsampled ones
// (their average at the start of their minute).
func (s *DuckDB) Read(ctx context.Context, q Query) (*Matrix, error) {
	ms, err := s.ReadMany(ctx, []Query{q})
	if err != nil {
		return nil, err
	}
	return ms[0], nil
}

// readPiecePoints is the most points (rows x series) one query of a read
// is planned to return. DuckDB materialises a query's whole result before
// handing it over, and a process pays for fresh memory page by page, so
// several smaller queries cost less than one large one; they also let two
// connections read at once.
var readPiecePoints int64 = 1 << 20 // a variable for the tests

// readPiece is one query of a read: [from, to) of the windows of group g.
type readPiece struct {
	g        int
	from, to int64
}

// readGroup is the queries of a read over the same window: one scan with
// the union of their series fills all their matrices.
type readGroup struct {
	pred     string
	builders []*matrixBuilder
}

func (g *readGroup) add(sid []int32, ts []int64, v []float64) {
	for _, b := range g.builders {
		b.add(sid, ts, v)
	}
}

// ReadMany reads several windows, as Read does each. Queries with the same
// filter share one listing of the series (their matrices share one Series
// slice); queries over the same window are read in one scan, whatever
// their filters. Every window is read in pieces of whole steps, at most
// about a million points each, by as many connections as there are CPUs:
// each piece fills its own rows of its matrices, so the result does not
// depend on which connection reads which piece.
func (s *DuckDB) ReadMany(ctx context.Context, qs []Query) ([]*Matrix, error) {
	type window struct{ from, to, step int64 }
	wins := make([]window, len(qs))
	for i, q := range qs {
		from, to, step, err := q.window()
		if err != nil {
			return nil, err
		}
		wins[i] = window{from, to, step}
	}
	if s.isClosed() {
		return nil, ErrClosed
	}
	sels := make([]*selection, len(qs))
	byFilter := map[Filter]*selection{}
	cells := 0
	for i, q := range qs {
		sel := byFilter[q.Filter]
		if sel == nil {
			x := s.selectSeries(q.Filter)
			sel = &x
			byFilter[q.Filter] = sel
		}
		sels[i] = sel
		w := wins[i]
		if err := checkCells(w.from, w.to, w.step, len(sel.series)); err != nil {
			return nil, err
		}
		cells += matrixRows(w.from, w.to, w.step) * len(sel.series)
	}
	// The matrices' cells, one after another in one array (Contiguous).
	block := make([]float64, cells)
	builders := make([]*matrixBuilder, len(qs))
	groupOf := map[window]int{}
	var groups []*readGroup
	var members [][]*selection
	off := 0
	for i, sel := range sels {
		w := wins[i]
		n := matrixRows(w.from, w.to, w.step) * len(sel.series)
		builders[i] = newMatrixBuilder(w.from, w.to, w.step, sel.series, sel.col, block[off:off+n:off+n])
		builders[i].m.block, builders[i].m.off = block, off
		off += n
		if len(sel.ids) == 0 {
			continue
		}
		g, ok := groupOf[w]
		if !ok {
			g = len(groups)
			groupOf[w] = g
			groups = append(groups, &readGroup{})
			members = append(members, nil)
		}
		groups[g].builders = append(groups[g].builders, builders[i])
		members[g] = append(members[g], sel)
	}
	var pieces []readPiece
	for w, g := range groupOf {
		union := unionSelection(members[g])
		groups[g].pred = union.predicate()
		rows := max(1, readPiecePoints/int64(len(union.ids)))
		for from := w.from; from < w.to; from += rows * w.step {
			pieces = append(pieces, readPiece{g: g, from: from, to: min(w.to, from+rows*w.step)})
		}
	}
	// In a fixed order: the queries' order, then time.
	slices.SortFunc(pieces, func(a, b readPiece) int { return cmp.Or(cmp.Compare(a.g, b.g), cmp.Compare(a.from, b.from)) })
	if err := s.readPieces(ctx, pieces, groups); err != nil {
		return nil, fmt.Errorf("read window: %w", err)
	}
	out := make([]*Matrix, len(qs))
	for i, b := range builders {
		out[i] = b.finish()
	}
	return out, nil
}

// unionSelection returns the selection of the series of all of sels (only
// its ids, min and max are set).
func unionSelection(sels []*selection) *selection {
	if len(sels) == 1 {
		return sels[0]
	}
	u := &selection{min: math.MaxInt32, max: -1}
	for _, sel := range sels {
		u.all = u.all || sel.all
		u.ids = append(u.ids, sel.ids...)
		u.min, u.max = min(u.min, sel.min), max(u.max, sel.max)
	}
	slices.Sort(u.ids)
	u.ids = slices.Compact(u.ids)
	return u
}

// predicate is the series condition of a read: none when every series is
// selected, else the selection's range of ids, which narrows the scan (the
// column map does the exact selection), or the ids themselves when they
// are few and scattered.
func (sel *selection) predicate() string {
	if sel.all {
		// Points of series added since the listing are skipped by the
		// column map.
		return "TRUE"
	}
	if len(sel.ids) <= 256 && int(sel.max-sel.min+1) > len(sel.ids) {
		parts := make([]string, len(sel.ids))
		for i, id := range sel.ids {
			parts[i] = fmt.Sprint(id)
		}
		return "series_id IN (" + strings.Join(parts, ",") + ")"
	}
	return fmt.Sprintf("series_id BETWEEN %d AND %d", sel.min, sel.max)
}

// readPieces runs the pieces' queries on up to GOMAXPROCS connections,
// each adding its points to its group's builders.
func (s *DuckDB) readPieces(ctx context.Context, pieces []readPiece, groups []*readGroup) error {
	if len(pieces) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	workers := min(runtime.GOMAXPROCS(0), len(pieces))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.db.Conn(ctx)
			if err != nil {
				errs[w] = err
				cancel()
				return
			}
			defer c.Close()
			errs[w] = c.Raw(func(dc any) error {
				for {
					k := int(next.Add(1) - 1)
					if k >= len(pieces) || ctx.Err() != nil {
						return ctx.Err()
					}
					pc := pieces[k]
					var parts []string
					for _, tbl := range []string{"points", "points_x", "points_1m"} {
						parts = append(parts, fmt.Sprintf(`SELECT series_id, ts, value FROM %s WHERE ts >= %d AND ts < %d AND %s`, tbl, pc.from, pc.to, groups[pc.g].pred))
					}
					g := groups[pc.g]
					for _, b := range g.builders {
						b.clearRows(pc.from, pc.to)
					}
					add := g.add
					if len(g.builders) == 1 {
						add = g.builders[0].add
					}
					if err := readPoints(ctx, dc.(driver.Conn), strings.Join(parts, " UNION ALL "), add); err != nil {
						cancel()
						return err
					}
				}
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

// Series lists the series matching f with their point counts.
func (s *DuckDB) Series(ctx context.Context, f Filter) ([]SeriesInfo, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, ErrClosed
	}
	sel := s.selectSeries(f)
	counts := make(map[int32]int64, len(sel.ids))
	rows, err := s.db.QueryContext(ctx, `SELECT series_id, sum(n)::BIGINT FROM (
		SELECT series_id, count(*) AS n FROM raw_points GROUP BY series_id
		UNION ALL SELECT series_id, sum(n) FROM points_1m GROUP BY series_id) GROUP BY series_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int32
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		counts[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]SeriesInfo, len(sel.ids))
	for i, id := range sel.ids {
		out[i] = SeriesInfo{Series: sel.series[i], Points: counts[id]}
	}
	return out, nil
}

// floorTo rounds ms down to a multiple of step.
func floorTo(ms, step int64) int64 { return ms - ((ms%step)+step)%step }

func (s *DuckDB) inTx(ctx context.Context, stmts []string) error {
	tx, err := s.wconn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

// Retain downsamples raw points older than RawRetention (as of now) into
// DownsampleStep rows of avg/min/max/count, and drops downsampled rows
// older than DownsampledRetention, in one transaction.
func (s *DuckDB) Retain(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	if s.opts.ReadOnly {
		return ErrReadOnly
	}
	step := s.opts.DownsampleStep.Milliseconds()
	var stmts []string
	if s.opts.RawRetention > 0 {
		cut := floorTo(now.Add(-s.opts.RawRetention).UnixMilli(), step) // whole buckets only
		stmts = append(stmts,
			fmt.Sprintf(`INSERT INTO points_1m SELECT series_id, ts - ((ts %% %[1]d) + %[1]d) %% %[1]d AS bucket,
				avg(value), min(value), max(value), count(*)::INTEGER FROM raw_points WHERE ts < %[2]d GROUP BY series_id, bucket`, step, cut),
			fmt.Sprintf(`DELETE FROM points WHERE ts < %d`, cut),
			fmt.Sprintf(`DELETE FROM points_x WHERE ts < %d`, cut))
	}
	if s.opts.DownsampledRetention > 0 {
		stmts = append(stmts, fmt.Sprintf(`DELETE FROM points_1m WHERE ts < %d`, now.Add(-s.opts.DownsampledRetention).UnixMilli()))
	}
	if len(stmts) == 0 {
		return nil
	}
	if err := s.inTx(ctx, stmts); err != nil {
		return fmt.Errorf("retain: %w", err)
	}
	return nil
}

func (s *DuckDB) retainLoop(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if err := s.Retain(context.Background(), now); err != nil && !errors.Is(err, ErrClosed) {
				s.opts.Logger.Error("store retention", "path", s.path, "err", err)
			}
		}
	}
}

// Checkpoint writes the write-ahead log into the file.
func (s *DuckDB) Checkpoint(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	_, err := s.db.ExecContext(ctx, "CHECKPOINT")
	return err
}

// Export writes the samples of [from, to) (zero times: everything) to a
// Parquet or CSV file with DuckDB's COPY.
func (s *DuckDB) Export(ctx context.Context, format, out string, from, to time.Time) (int64, error) {
	var opts string
	switch format {
	case "parquet":
		opts = "FORMAT parquet, COMPRESSION zstd"
	case "csv":
		opts = "FORMAT csv, HEADER true"
	default:
		return 0, fmt.Errorf("export format %q: want parquet or csv", format)
	}
	where := "TRUE"
	if !from.IsZero() {
		where += fmt.Sprintf(" AND ts >= %d", from.UnixMilli())
	}
	if !to.IsZero() {
		where += fmt.Sprintf(" AND ts < %d", to.UnixMilli())
	}
	q := fmt.Sprintf(`COPY (SELECT time, host, agent, component, kind, metric, value, resolution FROM samples WHERE %s
		ORDER BY ts, host, agent, component, metric) TO '%s' (%s)`, where, strings.ReplaceAll(out, "'", "''"), opts)
	res, err := s.db.ExecContext(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (s *DuckDB) isClosed() bool { return s.closed.Load() }

// Close stops background work and closes the file. Safe twice.
func (s *DuckDB) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	close(s.stop)
	s.mu.Unlock()
	s.wg.Wait()
	var errs []error
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	errs = append(errs, s.db.Close(), s.conn.Close())
	return errors.Join(errs...)
}
