package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// ErrNotSelect marks SQL refused by Select: anything but one SELECT.
var ErrNotSelect = errors.New("only one SELECT statement is allowed")

// Table is the result of a query: column names and rows of JSON-able
// values (numbers, strings, bools, nil; times as RFC 3339 strings; NaN and
// infinities as strings).
type Table struct {
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	Truncated bool     `json:"truncated,omitempty"` // more rows than the limit
}

// Selecter runs read-only queries; the collector serves it at SQLPath.
type Selecter interface {
	Select(ctx context.Context, query string, limit int) (*Table, error)
}

// Select runs query, which must be exactly one SELECT statement (DuckDB's
// own parser decides, through json_serialize_sql), and returns at most
// limit rows (0: no limit). It is what a collector serves to remote
// readers; a store opened with NoFileAccess also keeps such a query from
// reading files.
func (s *DuckDB) Select(ctx context.Context, query string, limit int) (*Table, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	var parsed string
	if err := s.db.QueryRowContext(ctx, `SELECT json_serialize_sql(?::VARCHAR)::VARCHAR`, query).Scan(&parsed); err != nil {
		return nil, fmt.Errorf("parse sql: %w", err)
	}
	var p struct {
		Error        bool              `json:"error"`
		ErrorMessage string            `json:"error_message"`
		Statements   []json.RawMessage `json:"statements"`
	}
	if err := json.Unmarshal([]byte(parsed), &p); err != nil {
		return nil, fmt.Errorf("parse sql: %w", err)
	}
	if p.Error {
		return nil, fmt.Errorf("%w: %s", ErrNotSelect, p.ErrorMessage)
	}
	if len(p.Statements) != 1 {
		return nil, fmt.Errorf("%w: got %d statements", ErrNotSelect, len(p.Statements))
	}
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanTable(rows, limit)
}

func scanTable(rows *sql.Rows, limit int) (*Table, error) {
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	t := &Table{Columns: cols, Rows: [][]any{}}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if limit > 0 && len(t.Rows) == limit {
			t.Truncated = true
			break
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]any, len(cols))
		for i, v := range vals {
			row[i] = jsonValue(v)
		}
		t.Rows = append(t.Rows, row)
	}
	return t, rows.Err()
}

// jsonValue turns a scanned SQL value into one encoding/json writes.
func jsonValue(v any) any {
	switch v := v.(type) {
	case nil, bool, string, int8, int16, int32, int64, uint8, uint16, uint32, uint64, int, uint:
		return v
	case float32:
		return jsonValue(float64(v))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprint(v)
		}
		return v
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case []byte:
		return string(v)
	}
	if _, err := json.Marshal(v); err == nil {
		return v
	}
	return fmt.Sprint(v)
}

// SeriesSQL lists every series with its point count, for SeriesFromTable.
const SeriesSQL = `SELECT s.host, s.agent, s.component, s.kind, s.metric, coalesce(c.n, 0) AS points
	FROM series s LEFT JOIN (SELECT series_id, sum(n)::BIGINT AS n FROM (
		SELECT series_id, count(*) AS n FROM raw_points GROUP BY series_id
		UNION ALL SELECT series_id, sum(n) FROM points_1m GROUP BY series_id) GROUP BY series_id) c ON c.series_id = s.id`

// SeriesFromTable reads the answer to SeriesSQL, keeping the series f
// matches, sorted by name.
func SeriesFromTable(t *Table, f Filter) ([]SeriesInfo, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if len(t.Columns) != 6 {
		return nil, fmt.Errorf("series table of %d columns, want 6", len(t.Columns))
	}
	var out []SeriesInfo
	for _, r := range t.Rows {
		var x SeriesInfo
		for i, p := range []*string{&x.Host, &x.Agent, &x.Component, &x.Kind, &x.Metric} {
			*p = fmt.Sprint(r[i])
		}
		n, err := strconv.ParseInt(fmt.Sprint(r[5]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("series points %v: %w", r[5], err)
		}
		x.Points = n
		if f.Match(x.Series) {
			out = append(out, x)
		}
	}
	sortSeries(out)
	return out, nil
}
