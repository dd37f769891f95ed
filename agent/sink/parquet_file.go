package sink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Column names of the files the parquet sink writes.
const (
	colTimestamp = "timestamp"
	colHeaders   = "headers"
	colBody      = "body"
)

// pqLayout is the shape of the Parquet files one sink writes: the Arrow
// schema and the writer properties.
type pqLayout struct {
	schema     *arrow.Schema
	headerCols []string // selected headers as columns; nil: one map column
	props      *parquet.WriterProperties
	arrProps   pqarrow.ArrowWriterProperties
	groupBytes int // raw bytes per row group
	fsync      bool
}

// codecs are the parquet.compression values.
var codecs = map[string]compress.Compression{
	"snappy":       compress.Codecs.Snappy,
	"zstd":         compress.Codecs.Zstd,
	"gzip":         compress.Codecs.Gzip,
	"none":         compress.Codecs.Uncompressed,
	"uncompressed": compress.Codecs.Uncompressed,
}

// newLayout builds the schema: timestamp (Parquet TIMESTAMP(MILLIS, UTC),
// physically int64 milliseconds), then either headers (map<string,string>)
// or one nullable string column per selected header, then body (binary).
func newLayout(cfg *ParquetConfig) *pqLayout {
	fields := []arrow.Field{{Name: colTimestamp, Type: arrow.FixedWidthTypes.Timestamp_ms}}
	opts := []parquet.WriterProperty{
		parquet.WithCompression(codecs[cfg.Compression]),
		parquet.WithCreatedBy("vscope parquet sink"),
		// The timestamp column is near-sorted: delta encoding and min/max
		// statistics make time-range reads cheap.
		parquet.WithDictionaryFor(colTimestamp, false),
		parquet.WithEncodingFor(colTimestamp, parquet.Encodings.DeltaBinaryPacked),
		// Bodies are mostly distinct and can be large: no dictionary, no
		// statistics (min/max of a body is useless and costly).
		parquet.WithDictionaryFor(colBody, false),
		parquet.WithStatsFor(colBody, false),
	}
	if len(cfg.Headers) > 0 {
		for _, h := range cfg.Headers {
			fields = append(fields, arrow.Field{Name: h, Type: arrow.BinaryTypes.String, Nullable: true})
		}
	} else {
		fields = append(fields, arrow.Field{Name: colHeaders, Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.BinaryTypes.String)})
		opts = append(opts,
			parquet.WithStatsFor(colHeaders+".key_value.key", false),
			parquet.WithStatsFor(colHeaders+".key_value.value", false))
	}
	fields = append(fields, arrow.Field{Name: colBody, Type: arrow.BinaryTypes.Binary})
	return &pqLayout{
		schema:     arrow.NewSchema(fields, nil),
		headerCols: cfg.Headers,
		props:      parquet.NewWriterProperties(opts...),
		arrProps:   pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()),
		groupBytes: cfg.RowGroupSize,
		fsync:      cfg.Fsync,
	}
}

// rowBuilder collects rows into Arrow arrays for one row group.
type rowBuilder struct {
	layout *pqLayout
	ts     *array.TimestampBuilder
	hdr    *array.MapBuilder    // nil with selected header columns
	keys   *array.StringBuilder // hdr's keys
	vals   *array.StringBuilder // hdr's values
	cols   []*array.StringBuilder
	body   *array.BinaryBuilder
	rows   int
	bytes  int
}

func newRowBuilder(l *pqLayout) *rowBuilder {
	mem := memory.DefaultAllocator
	b := &rowBuilder{
		layout: l,
		ts:     array.NewTimestampBuilder(mem, arrow.FixedWidthTypes.Timestamp_ms.(*arrow.TimestampType)),
		body:   array.NewBinaryBuilder(mem, arrow.BinaryTypes.Binary),
	}
	if len(l.headerCols) > 0 {
		for range l.headerCols {
			b.cols = append(b.cols, array.NewStringBuilder(mem))
		}
	} else {
		b.hdr = array.NewMapBuilder(mem, arrow.BinaryTypes.String, arrow.BinaryTypes.String, false)
		b.keys = b.hdr.KeyBuilder().(*array.StringBuilder)
		b.vals = b.hdr.ItemBuilder().(*array.StringBuilder)
	}
	return b
}

func (b *rowBuilder) release() {
	b.ts.Release()
	b.body.Release()
	if b.hdr != nil {
		b.hdr.Release()
	}
	for _, c := range b.cols {
		c.Release()
	}
}

// add appends one row.
func (b *rowBuilder) add(v *walEventView) {
	b.ts.Append(arrow.Timestamp(v.ms))
	if b.hdr != nil {
		b.hdr.Append(true)
		for _, kv := range v.headers {
			b.keys.BinaryBuilder.Append(kv[0])
			b.vals.BinaryBuilder.Append(kv[1])
			b.bytes += len(kv[0]) + len(kv[1])
		}
	} else {
	cols:
		for i, name := range b.layout.headerCols {
			for _, kv := range v.headers {
				if string(kv[0]) == name {
					b.cols[i].BinaryBuilder.Append(kv[1])
					b.bytes += len(kv[1])
					continue cols
				}
			}
			b.cols[i].AppendNull()
		}
	}
	b.body.Append(v.body)
	b.bytes += len(v.body) + 8
	b.rows++
}

// flush writes the collected rows as one row group.
func (b *rowBuilder) flush(w *pqarrow.FileWriter) error {
	if b.rows == 0 {
		return nil
	}
	cols := make([]arrow.Array, 0, 3+len(b.cols))
	cols = append(cols, b.ts.NewArray())
	if b.hdr != nil {
		cols = append(cols, b.hdr.NewArray())
	}
	for _, c := range b.cols {
		cols = append(cols, c.NewArray())
	}
	cols = append(cols, b.body.NewArray())
	rec := array.NewRecordBatch(b.layout.schema, cols, int64(b.rows))
	for _, c := range cols {
		c.Release()
	}
	err := w.Write(rec)
	rec.Release()
	b.rows, b.bytes = 0, 0
	return err
}

// convert writes the events of the in-use file wal (positioned at its first
// record) up to limit into a Parquet file at part, syncs it if configured,
// then links it to final without ever replacing an existing file, and
// removes part. It returns the number of rows written; with zero rows no
// file is created. On failure part is removed and final does not exist.
func (l *pqLayout) convert(ctx context.Context, r *walReader, limit int64, part, final string) (rows int, err error) {
	r.limit = limit
	var v walEventView
	p, err := r.next()
	for err == nil && p[0] != walEvent {
		p, err = r.next()
	}
	if err != nil {
		return 0, nil // no events
	}
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", part, err)
	}
	done := false
	defer func() {
		if !done {
			_ = f.Close()
			_ = os.Remove(part)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := pqarrow.NewFileWriter(l.schema, bw, l.props, l.arrProps)
	if err != nil {
		return 0, fmt.Errorf("parquet writer for %s: %w", part, err)
	}
	b := newRowBuilder(l)
	defer b.release()
	for ; err == nil; p, err = r.next() {
		if p[0] != walEvent {
			continue
		}
		if derr := v.decode(p); derr != nil {
			_ = w.Close()
			return 0, fmt.Errorf("record at offset %d: %w", r.off, derr)
		}
		b.add(&v)
		rows++
		if b.bytes >= l.groupBytes {
			if ferr := b.flush(w); ferr != nil {
				return 0, fmt.Errorf("write row group to %s: %w", part, ferr)
			}
			if cerr := ctx.Err(); cerr != nil {
				_ = w.Close()
				return 0, cerr
			}
		}
	}
	if err := b.flush(w); err != nil {
		return 0, fmt.Errorf("write row group to %s: %w", part, err)
	}
	if err := w.Close(); err != nil { // writes the footer into bw
		return 0, fmt.Errorf("close parquet writer of %s: %w", part, err)
	}
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("write %s: %w", part, err)
	}
	if l.fsync {
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("sync %s: %w", part, err)
		}
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("close %s: %w", part, err)
	}
	if err := publish(part, final); err != nil {
		_ = os.Remove(part)
		done = true
		return 0, err
	}
	done = true
	if l.fsync {
		if err := syncDir(filepath.Dir(final)); err != nil {
			return rows, fmt.Errorf("sync directory of %s: %w", final, err)
		}
	}
	return rows, nil
}

// errFinalExists means the final name of a file is taken by another file.
var errFinalExists = errors.New("final file name already exists")

// publish gives the complete file at part the name final, atomically and
// without replacing a file already there: a hard link, then removal of
// part. Where hard links are not supported it falls back to a rename after
// checking that final is free.
func publish(part, final string) error {
	err := os.Link(part, final)
	switch {
	case err == nil:
		if err := os.Remove(part); err != nil {
			return fmt.Errorf("remove %s after publishing %s: %w", part, final, err)
		}
		return nil
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("publish %s: %w", final, errFinalExists)
	}
	if _, serr := os.Lstat(final); serr == nil {
		return fmt.Errorf("publish %s: %w", final, errFinalExists)
	}
	if err := os.Rename(part, final); err != nil {
		return fmt.Errorf("publish %s: %w", final, err)
	}
	return nil
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// exists reports whether path names anything.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}
