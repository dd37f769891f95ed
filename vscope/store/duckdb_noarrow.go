//go:build !duckdb_arrow

package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ArrowPath reports whether the DuckDB store moves points as Arrow (built
// with the duckdb_arrow tag).
const ArrowPath = false

// appendPoints inserts the columns into table through the driver's
// Appender, which joins the connection's open transaction.
func appendPoints(_ context.Context, c driver.Conn, table string, sid []int32, ts []int64, v []float64) error {
	a, err := duckdb.NewAppenderFromConn(c, "", table)
	if err != nil {
		return err
	}
	for i := range sid {
		if err := a.AppendRow(sid[i], ts[i], v[i]); err != nil {
			_ = a.Close()
			return err
		}
	}
	return a.Close()
}

// readPoints runs query (series_id INTEGER, ts BIGINT, value DOUBLE) and
// hands the rows to add in chunks.
func readPoints(ctx context.Context, c driver.Conn, query string, add func([]int32, []int64, []float64)) error {
	rows, err := c.(driver.QueryerContext).QueryContext(ctx, query, nil)
	if err != nil {
		return err
	}
	defer rows.Close()
	const chunk = 4096
	sid := make([]int32, 0, chunk)
	ts := make([]int64, 0, chunk)
	v := make([]float64, 0, chunk)
	dest := make([]driver.Value, 3)
	for {
		err := rows.Next(dest)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		id, ok1 := dest[0].(int32)
		t, ok2 := dest[1].(int64)
		x, ok3 := dest[2].(float64)
		if !ok1 || !ok2 || !ok3 {
			return fmt.Errorf("point row (%v, %v, %v): want (INTEGER, BIGINT, DOUBLE) without NULLs", dest[0], dest[1], dest[2])
		}
		sid, ts, v = append(sid, id), append(ts, t), append(v, x)
		if len(sid) == chunk {
			add(sid, ts, v)
			sid, ts, v = sid[:0], ts[:0], v[:0]
		}
	}
	add(sid, ts, v)
	return nil
}
