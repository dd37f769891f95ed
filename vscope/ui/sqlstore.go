package ui

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/vscope/vscope/vscope/store"
)

// sqlStore reads the store a collector holds through the collector's SQL
// endpoint (POST /api/v1/sql, one SELECT): the series table, and windows
// averaged per step inside DuckDB, so that a matrix holds the same cells
// store.DuckDB.Read gives for the file (the mean of a series' raw and
// downsampled points in [time, time+step)). It only reads.
type sqlStore struct {
	c *store.Client
}

func newSQLStore(c *store.Client) *sqlStore { return &sqlStore{c: c} }

// Select runs one SELECT on the collector (limit is the collector's).
func (s *sqlStore) Select(ctx context.Context, query string, _ int) (*store.Table, error) {
	return s.c.Select(ctx, query)
}

// Append refuses: the view only reads.
func (s *sqlStore) Append(context.Context, *store.Batch) error { return store.ErrReadOnly }

// Retain refuses: the collector runs its own retention.
func (s *sqlStore) Retain(context.Context, time.Time) error { return store.ErrReadOnly }

// Close releases idle connections.
func (s *sqlStore) Close() error { return s.c.Close() }

// Series lists the series f matches, with their point counts.
func (s *sqlStore) Series(ctx context.Context, f store.Filter) ([]store.SeriesInfo, error) {
	t, err := s.c.Select(ctx, store.SeriesSQL)
	if err != nil {
		return nil, err
	}
	return store.SeriesFromTable(t, f)
}

// Read returns the window q asks for.
func (s *sqlStore) Read(ctx context.Context, q store.Query) (*store.Matrix, error) {
	if err := q.Filter.Validate(); err != nil {
		return nil, err
	}
	step := q.Step.Milliseconds()
	if q.Step == 0 {
		step = 1000
	}
	from, to := q.From.UnixMilli(), q.To.UnixMilli()
	if step <= 0 || to <= from {
		return nil, fmt.Errorf("query window [%v, %v) at %v is empty", q.From, q.To, q.Step)
	}
	n := (to - from + step - 1) / step
	t, err := s.c.Select(ctx, `SELECT id, host, agent, component, kind, metric FROM series`)
	if err != nil {
		return nil, err
	}
	type idSeries struct {
		id int64
		s  store.Series
	}
	var sel []idSeries
	for _, row := range t.Rows {
		if len(row) != 6 {
			return nil, fmt.Errorf("series table: a row of %d columns, want 6", len(row))
		}
		id, err := toInt(row[0])
		if err != nil {
			return nil, fmt.Errorf("series table: id: %w", err)
		}
		var x store.Series
		for i, p := range []*string{&x.Host, &x.Agent, &x.Component, &x.Kind, &x.Metric} {
			if row[i+1] != nil {
				*p = fmt.Sprint(row[i+1])
			}
		}
		if q.Filter.Match(x) {
			sel = append(sel, idSeries{id, x})
		}
	}
	sort.Slice(sel, func(i, j int) bool { return seriesLess(sel[i].s, sel[j].s) })
	m := &store.Matrix{From: from, Step: step, Times: make([]int64, n), Series: make([]store.Series, len(sel))}
	if n*int64(len(sel)) > 1<<27 {
		return nil, fmt.Errorf("window of %d steps x %d series is too large: narrow the filter or widen the step", n, len(sel))
	}
	m.Values = make([]float64, n*int64(len(sel)))
	for i := range m.Values {
		m.Values[i] = math.NaN()
	}
	for i := range m.Times {
		m.Times[i] = from + int64(i)*step
	}
	col := make(map[int64]int, len(sel))
	ids := make([]string, len(sel))
	for j, x := range sel {
		m.Series[j] = x.s
		col[x.id] = j
		ids[j] = fmt.Sprint(x.id)
	}
	if len(sel) == 0 {
		return m, nil
	}
	pred := "series_id IN (" + strings.Join(ids, ",") + ")"
	var parts []string
	for _, tbl := range []string{"points", "points_x", "points_1m"} {
		parts = append(parts, fmt.Sprintf(`SELECT series_id, ts, value FROM %s WHERE ts >= %d AND ts < %d AND %s`, tbl, from, to, pred))
	}
	query := fmt.Sprintf(`SELECT series_id, (ts - %d) // %d AS i, avg(value) AS v FROM (%s) GROUP BY ALL`,
		from, step, strings.Join(parts, " UNION ALL "))
	t, err = s.c.Select(ctx, query)
	if err != nil {
		return nil, err
	}
	if t.Truncated {
		return nil, fmt.Errorf("the collector cut the window at %d cells: narrow the filter or widen the step", len(t.Rows))
	}
	p := int64(len(sel))
	for _, row := range t.Rows {
		if len(row) != 3 {
			return nil, fmt.Errorf("window: a row of %d columns, want 3", len(row))
		}
		id, err1 := toInt(row[0])
		i, err2 := toInt(row[1])
		v, err3 := toFloat(row[2])
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("window: row %v: bad cell", row)
		}
		j, ok := col[id]
		if !ok || i < 0 || i >= n {
			continue
		}
		m.Values[i*p+int64(j)] = v
	}
	return m, nil
}

// seriesLess orders series by name, as the store orders a matrix's
// columns.
func seriesLess(a, b store.Series) bool {
	for _, p := range [][2]string{{a.Host, b.Host}, {a.Agent, b.Agent}, {a.Component, b.Component}, {a.Kind, b.Kind}, {a.Metric, b.Metric}} {
		if p[0] != p[1] {
			return p[0] < p[1]
		}
	}
	return false
}
