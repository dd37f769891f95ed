//go:build duckdb_arrow

package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ArrowPath reports whether the DuckDB store moves points as Arrow (built
// with the duckdb_arrow tag).
const ArrowPath = true

var ingestSchema = arrow.NewSchema([]arrow.Field{
	{Name: "series_id", Type: arrow.PrimitiveTypes.Int32},
	{Name: "ts", Type: arrow.PrimitiveTypes.Int64},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64},
}, nil)

var viewSeq atomic.Uint64

// appendPoints inserts the columns into table through a registered Arrow
// view. Only
// SELECT * is used on it: with DuckDB 1.5.5 a projection on an Arrow view
// returned wrong results (DESIGN.md); the tests check known answers.
func appendPoints(ctx context.Context, c driver.Conn, table string, sid []int32, ts []int64, v []float64) error {
	n := len(sid)
	cols := []arrow.Array{
		array.NewInt32Data(array.NewData(arrow.PrimitiveTypes.Int32, n,
			[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(sid))}, nil, 0, 0)),
		array.NewInt64Data(array.NewData(arrow.PrimitiveTypes.Int64, n,
			[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(ts))}, nil, 0, 0)),
		array.NewFloat64Data(array.NewData(arrow.PrimitiveTypes.Float64, n,
			[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(v))}, nil, 0, 0)),
	}
	rec := array.NewRecordBatch(ingestSchema, cols, int64(n))
	for _, a := range cols {
		a.Release()
	}
	defer rec.Release()
	rr, err := array.NewRecordReader(ingestSchema, []arrow.RecordBatch{rec})
	if err != nil {
		return err
	}
	defer rr.Release()
	ar, err := duckdb.NewArrowFromConn(c)
	if err != nil {
		return err
	}
	view := fmt.Sprintf("vscope_ingest_%d", viewSeq.Add(1))
	release, err := ar.RegisterView(rr, view)
	if err != nil {
		return err
	}
	defer release()
	ex := c.(driver.ExecerContext)
	if _, err := ex.ExecContext(ctx, "INSERT INTO "+table+" SELECT * FROM "+view, nil); err != nil {
		return err
	}
	_, err = ex.ExecContext(ctx, "DROP VIEW "+view, nil)
	return err
}

// readPoints runs query (series_id INTEGER, ts BIGINT, value DOUBLE) and
// hands each Arrow result batch's columns to add.
func readPoints(ctx context.Context, c driver.Conn, query string, add func([]int32, []int64, []float64)) error {
	ar, err := duckdb.NewArrowFromConn(c)
	if err != nil {
		return err
	}
	rr, err := ar.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.RecordBatch()
		sid, ok1 := rec.Column(0).(*array.Int32)
		ts, ok2 := rec.Column(1).(*array.Int64)
		v, ok3 := rec.Column(2).(*array.Float64)
		if !ok1 || !ok2 || !ok3 {
			return fmt.Errorf("arrow result of types %s", schemaSummary(rec.Schema()))
		}
		if sid.NullN()+ts.NullN()+v.NullN() > 0 {
			return fmt.Errorf("arrow result with nulls")
		}
		add(sid.Int32Values(), ts.Int64Values(), v.Float64Values())
	}
	return rr.Err()
}
