package faults

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Delivery compares what the tier-1 agents acknowledged with what the
// collectors wrote to Parquet, line by line (host, log time, text).
type Delivery struct {
	// Acked counts lines the tier-1 agents acknowledged; Rows the rows of
	// the Parquet files; PerCollector the rows by collector.
	Acked        int64            `json:"acked"`
	Rows         int64            `json:"rows"`
	PerCollector map[string]int64 `json:"per_collector"`
	// Lost counts acknowledged lines missing from the files; Duplicates
	// extra copies of acknowledged lines (at-least-once delivery after a
	// crash); Unexpected rows that match no acknowledged line.
	Lost       int64 `json:"lost"`
	Duplicates int64 `json:"duplicates"`
	Unexpected int64 `json:"unexpected"`
	// Files counts the Parquet files; Unfinished lists files left in use.
	Files      int      `json:"files"`
	Unfinished []string `json:"unfinished,omitempty"`
}

// Verify reads every Parquet file the collectors wrote and checks them
// against the lines the tier-1 agents acknowledged. Call it after Stop.
func (f *Flow) Verify(ctx context.Context) (Delivery, error) {
	d := Delivery{PerCollector: map[string]int64{}}
	want := f.router.ackedKeys()
	for _, n := range want {
		d.Acked += int64(n)
	}
	got := map[uint64]int32{}
	for _, c := range f.lay.cols {
		dir := filepath.Join(f.DataDir(), c)
		err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil || e.IsDir() {
				return err
			}
			if !strings.HasSuffix(path, ".parquet") {
				d.Unfinished = append(d.Unfinished, path)
				return nil
			}
			d.Files++
			n, err := readRows(ctx, path, func(host string, ms int64, body []byte) {
				got[f.router.key(host, ms, body)]++
			})
			d.Rows += n
			d.PerCollector[c] += n
			return err
		})
		if err != nil {
			return d, err
		}
	}
	for k, n := range want {
		g := got[k]
		if g < n {
			d.Lost += int64(n - g)
		} else {
			d.Duplicates += int64(g - n)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			d.Unexpected += int64(g)
		}
	}
	return d, nil
}

// readRows calls row for every row of a collector's Parquet file: the
// host column, the timestamp (ms) and the body.
func readRows(ctx context.Context, path string, row func(host string, ms int64, body []byte)) (int64, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 15}, memory.DefaultAllocator)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	defer tbl.Release()
	sch := tbl.Schema()
	col := func(name string) int {
		idx := sch.FieldIndices(name)
		if len(idx) == 0 {
			return -1
		}
		return idx[0]
	}
	iTS, iHost, iBody := col("timestamp"), col("host"), col("body")
	if iTS < 0 || iHost < 0 || iBody < 0 {
		return 0, fmt.Errorf("%s: want columns timestamp, host and body, have %v", path, sch)
	}
	tr := array.NewTableReader(tbl, 1<<15)
	defer tr.Release()
	var n int64
	for tr.Next() {
		rec := tr.RecordBatch()
		ts, ok := rec.Column(iTS).(*array.Timestamp)
		if !ok {
			return n, fmt.Errorf("%s: timestamp column is %s", path, rec.Column(iTS).DataType())
		}
		unit := ts.DataType().(*arrow.TimestampType).Unit
		host, body := rec.Column(iHost), rec.Column(iBody)
		for i := 0; i < int(rec.NumRows()); i++ {
			ms := int64(ts.Value(i))
			switch unit {
			case arrow.Second:
				ms *= 1000
			case arrow.Microsecond:
				ms /= 1000
			case arrow.Nanosecond:
				ms /= 1e6
			}
			row(stringAt(host, i), ms, bytesAt(body, i))
			n++
		}
	}
	return n, tr.Err()
}

func stringAt(a arrow.Array, i int) string {
	switch c := a.(type) {
	case *array.String:
		return c.Value(i)
	case *array.LargeString:
		return c.Value(i)
	case *array.Binary:
		return string(c.Value(i))
	case *array.Dictionary:
		return stringAt(c.Dictionary(), c.GetValueIndex(i))
	}
	return ""
}

func bytesAt(a arrow.Array, i int) []byte {
	switch c := a.(type) {
	case *array.Binary:
		return c.Value(i)
	case *array.LargeBinary:
		return c.Value(i)
	case *array.String:
		return []byte(c.Value(i))
	}
	return nil
}
