package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// IPCContentType is the media type of an Arrow IPC stream.
const IPCContentType = "application/vnd.apache.arrow.stream"

// nameColumns are the dictionary-encoded string columns, in schema order
// after ts.
var nameColumns = [5]string{"host", "agent", "component", "kind", "metric"}

var nameDictType = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}

// PointSchema is the Arrow schema of points on the wire: ts as
// timestamp[ms], the five names as dictionary<int32, utf8>, value as
// float64. DecodeIPC also accepts plain utf8 names, any integer dictionary
// index, an int64 ts in milliseconds and timestamps of other units.
var PointSchema = arrow.NewSchema([]arrow.Field{
	{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms},
	{Name: "host", Type: nameDictType},
	{Name: "agent", Type: nameDictType},
	{Name: "component", Type: nameDictType},
	{Name: "kind", Type: nameDictType},
	{Name: "metric", Type: nameDictType},
	{Name: "value", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// Record builds one Arrow record batch of b with PointSchema. The ts and
// value columns share b's memory: b must not change while the record lives.
func (b *Batch) Record() arrow.RecordBatch {
	n := len(b.Ref)
	cols := make([]arrow.Array, 0, 7)
	cols = append(cols, array.NewTimestampData(array.NewData(arrow.FixedWidthTypes.Timestamp_ms, n,
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(b.TS))}, nil, 0, 0)))
	for c := range nameColumns {
		dictIdx := map[string]int32{}
		var dict []string
		perSeries := make([]int32, len(b.Series))
		for i, s := range b.Series {
			name := s.field(c)
			j, ok := dictIdx[name]
			if !ok {
				j = int32(len(dict))
				dictIdx[name] = j
				dict = append(dict, name)
			}
			perSeries[i] = j
		}
		idx := make([]int32, n)
		for i, r := range b.Ref {
			idx[i] = perSeries[r]
		}
		sb := array.NewStringBuilder(memory.DefaultAllocator)
		sb.AppendValues(dict, nil)
		dictArr := sb.NewArray()
		idxArr := array.NewInt32Data(array.NewData(arrow.PrimitiveTypes.Int32, n,
			[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(idx))}, nil, 0, 0))
		cols = append(cols, array.NewDictionaryArray(nameDictType, idxArr, dictArr))
		idxArr.Release()
		dictArr.Release()
	}
	cols = append(cols, array.NewFloat64Data(array.NewData(arrow.PrimitiveTypes.Float64, n,
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(b.Value))}, nil, 0, 0)))
	rec := array.NewRecordBatch(PointSchema, cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

func (s Series) field(c int) string {
	switch c {
	case 0:
		return s.Host
	case 1:
		return s.Agent
	case 2:
		return s.Component
	case 3:
		return s.Kind
	default:
		return s.Metric
	}
}

func (s *Series) setField(c int, v string) {
	switch c {
	case 0:
		s.Host = v
	case 1:
		s.Agent = v
	case 2:
		s.Component = v
	case 3:
		s.Kind = v
	default:
		s.Metric = v
	}
}

// EncodeIPC writes b as an Arrow IPC stream of one record batch.
func EncodeIPC(w io.Writer, b *Batch) error {
	if err := b.Validate(); err != nil {
		return err
	}
	rec := b.Record()
	defer rec.Release()
	iw := ipc.NewWriter(w, ipc.WithSchema(PointSchema), ipc.WithAllocator(memory.DefaultAllocator))
	if err := iw.Write(rec); err != nil {
		_ = iw.Close()
		return fmt.Errorf("encode arrow ipc: %w", err)
	}
	return iw.Close()
}

// DecodeIPC reads an Arrow IPC stream of points (one or more record
// batches) into one batch. Anything malformed, from the framing to a null
// value, is an error matching ErrBadBatch that says why; a partial batch is
// never returned.
func DecodeIPC(r io.Reader) (b *Batch, err error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return DecodeIPCBytes(body)
}

// DecodeIPCBytes is DecodeIPC of a stream in memory. The framing is checked
// first, so that no length in the stream makes the decoder allocate more
// than a small multiple of the stream's size.
func DecodeIPCBytes(body []byte) (b *Batch, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, badBatch("arrow ipc: %v", p)
		}
	}()
	if err := checkFraming(body); err != nil {
		return nil, err
	}
	mem := &cappedAllocator{mem: memory.DefaultAllocator, left: 8*int64(len(body)) + 1<<20}
	rd, err := ipc.NewReader(bytes.NewReader(body), ipc.WithAllocator(mem))
	if err != nil {
		return nil, badBatch("arrow ipc stream: %v", err)
	}
	defer rd.Release()
	cols, err := pointColumns(rd.Schema())
	if err != nil {
		return nil, err
	}
	b = &Batch{}
	for rd.Next() {
		if err := b.addRecord(rd.RecordBatch(), cols, len(body)); err != nil {
			return nil, err
		}
	}
	if err := rd.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, badBatch("arrow ipc stream: %v", err)
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return b, nil
}

// pointColumns finds the columns of the points schema: ts, the five names,
// value.
// checkFraming walks the messages of an IPC stream (continuation marker,
// metadata length, metadata, body) and checks that every length stays
// within the stream. The body length is read from the Message flatbuffer.
func checkFraming(b []byte) error {
	off := 0
	for msg := 0; ; msg++ {
		if len(b)-off < 4 {
			if off == len(b) && msg > 0 {
				return nil // stream without an end-of-stream marker
			}
			return badBatch("arrow ipc stream: truncated at byte %d", off)
		}
		n := int64(int32(binary.LittleEndian.Uint32(b[off:])))
		off += 4
		if uint32(n) == 0xFFFFFFFF {
			if len(b)-off < 4 {
				return badBatch("arrow ipc stream: truncated at byte %d", off)
			}
			n = int64(int32(binary.LittleEndian.Uint32(b[off:])))
			off += 4
		}
		if n == 0 {
			return nil // end of stream
		}
		if n < 0 || n > int64(len(b)-off) {
			return badBatch("arrow ipc stream: message %d metadata of %d bytes at byte %d, the stream has %d", msg, n, off, len(b))
		}
		bodyLen, ok := flatbufMessageBodyLength(b[off : off+int(n)])
		if !ok {
			return badBatch("arrow ipc stream: message %d metadata is not a Message", msg)
		}
		if err := checkMessageVectors(b[off : off+int(n)]); err != nil {
			return badBatch("arrow ipc stream: message %d: %v", msg, err)
		}
		off += int(n)
		if bodyLen < 0 || bodyLen > int64(len(b)-off) {
			return badBatch("arrow ipc stream: message %d body of %d bytes at byte %d, the stream has %d", msg, bodyLen, off, len(b))
		}
		off += int(bodyLen)
	}
}

// flatbufMessageBodyLength reads field 3 (bodyLength: long) of the root
// table of an Arrow Message flatbuffer, with bounds checks.
func flatbufMessageBodyLength(m []byte) (int64, bool) {
	u32 := func(at int) (int, bool) {
		if at < 0 || at+4 > len(m) {
			return 0, false
		}
		return int(int32(binary.LittleEndian.Uint32(m[at:]))), true
	}
	u16 := func(at int) (int, bool) {
		if at < 0 || at+2 > len(m) {
			return 0, false
		}
		return int(binary.LittleEndian.Uint16(m[at:])), true
	}
	table, ok := u32(0)
	if !ok {
		return 0, false
	}
	soff, ok := u32(table)
	if !ok {
		return 0, false
	}
	vtable := table - soff
	vlen, ok := u16(vtable)
	if !ok {
		return 0, false
	}
	const field = 4 + 2*3
	if vlen <= field {
		return 0, true // absent: the default, 0
	}
	foff, ok := u16(vtable + field)
	if !ok {
		return 0, false
	}
	if foff == 0 {
		return 0, true
	}
	at := table + foff
	if at < 0 || at+8 > len(m) {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(m[at:])), true
}

// fbuf reads a flatbuffer with bounds checks.
type fbuf []byte

func (f fbuf) u32(at int) (int, bool) {
	if at < 0 || at+4 > len(f) {
		return 0, false
	}
	return int(int32(binary.LittleEndian.Uint32(f[at:]))), true
}

// slot returns the absolute position of field i of the table at pos, 0 if
// the field is absent.
func (f fbuf) slot(pos, i int) (int, bool) {
	soff, ok := f.u32(pos)
	if !ok {
		return 0, false
	}
	vt := pos - soff
	if vt < 0 || vt+4 > len(f) {
		return 0, false
	}
	vlen := int(binary.LittleEndian.Uint16(f[vt:]))
	at := vt + 4 + 2*i
	if 4+2*i+2 > vlen || at+2 > len(f) {
		return 0, true
	}
	off := int(binary.LittleEndian.Uint16(f[at:]))
	if off == 0 {
		return 0, true
	}
	return pos + off, pos+off < len(f)
}

// vector returns the start and length of the vector in field i of the
// table at pos, checking that its elemSize-byte elements lie in the buffer.
func (f fbuf) vector(pos, i, elemSize int) (start, n int, ok bool) {
	at, ok := f.slot(pos, i)
	if !ok || at == 0 {
		return 0, 0, ok
	}
	rel, ok := f.u32(at)
	if !ok {
		return 0, 0, false
	}
	vec := at + rel
	n, ok = f.u32(vec)
	if !ok || n < 0 || vec+4+n*elemSize > len(f) {
		return 0, 0, false
	}
	return vec + 4, n, true
}

// table follows the offset at position at to a table.
func (f fbuf) table(at int) (int, bool) {
	rel, ok := f.u32(at)
	if !ok || at+rel < 0 || at+rel+4 > len(f) {
		return 0, false
	}
	return at + rel, true
}

// checkMessageVectors checks the vectors arrow-go sizes its slices by
// (schema fields, their children, custom metadata), so that a length in a
// crafted stream cannot make it allocate without bound.
func checkMessageVectors(m []byte) error {
	f := fbuf(m)
	root, ok := f.table(0)
	if !ok {
		return errors.New("metadata is not a Message")
	}
	if _, _, ok := f.vector(root, 4, 4); !ok {
		return errors.New("message metadata out of bounds")
	}
	at, ok := f.slot(root, 1)
	if !ok || at == 0 || m[at] != 1 { // header_type 1: Schema
		return nil
	}
	hat, ok := f.slot(root, 2)
	if !ok || hat == 0 {
		return errors.New("schema message without a schema")
	}
	schema, ok := f.table(hat)
	if !ok {
		return errors.New("schema out of bounds")
	}
	if _, _, ok := f.vector(schema, 2, 4); !ok {
		return errors.New("schema metadata out of bounds")
	}
	if _, _, ok := f.vector(schema, 3, 8); !ok {
		return errors.New("schema features out of bounds")
	}
	var fields func(tbl, slot, depth int) error
	fields = func(tbl, slot, depth int) error {
		if depth > 16 {
			return errors.New("schema nested too deep")
		}
		start, n, ok := f.vector(tbl, slot, 4)
		if !ok {
			return errors.New("schema fields out of bounds")
		}
		for i := 0; i < n; i++ {
			fld, ok := f.table(start + 4*i)
			if !ok {
				return errors.New("schema field out of bounds")
			}
			if _, _, ok := f.vector(fld, 6, 4); !ok {
				return errors.New("field metadata out of bounds")
			}
			if err := fields(fld, 5, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return fields(schema, 1, 0)
}

// cappedAllocator refuses (panics, recovered by DecodeIPCBytes) to hand out
// more than left bytes in all, so a stream declaring huge buffers (for
// example compressed ones with a huge uncompressed size) cannot exhaust
// memory.
type cappedAllocator struct {
	mem  memory.Allocator
	left int64
}

func (a *cappedAllocator) take(n int) {
	if int64(n) > a.left {
		panic(fmt.Sprintf("stream asks for %d more bytes of memory than its size allows", int64(n)-a.left))
	}
	a.left -= int64(n)
}

func (a *cappedAllocator) Allocate(n int) []byte { a.take(n); return a.mem.Allocate(n) }
func (a *cappedAllocator) Reallocate(n int, b []byte) []byte {
	if n > len(b) {
		a.take(n - len(b))
	}
	return a.mem.Reallocate(n, b)
}
func (a *cappedAllocator) Free(b []byte) { a.mem.Free(b) }

func pointColumns(s *arrow.Schema) ([7]int, error) {
	var cols [7]int
	names := append(append([]string{"ts"}, nameColumns[:]...), "value")
	for i, name := range names {
		idx := s.FieldIndices(name)
		if len(idx) != 1 {
			return cols, badBatch("schema has %d columns named %q, want 1 (schema: %s)", len(idx), name, schemaSummary(s))
		}
		cols[i] = idx[0]
		typ := s.Field(idx[0]).Type
		switch {
		case i == 0:
			if typ.ID() != arrow.TIMESTAMP && typ.ID() != arrow.INT64 {
				return cols, badBatch("column ts is %s, want timestamp or int64 milliseconds", typ)
			}
		case i == 6:
			if typ.ID() != arrow.FLOAT64 {
				return cols, badBatch("column value is %s, want float64", typ)
			}
		default:
			ok := typ.ID() == arrow.STRING
			if dt, isDict := typ.(*arrow.DictionaryType); isDict {
				ok = dt.ValueType.ID() == arrow.STRING && arrow.IsInteger(dt.IndexType.ID())
			}
			if !ok {
				return cols, badBatch("column %s is %s, want dictionary<int, utf8> or utf8", name, typ)
			}
		}
	}
	return cols, nil
}

func schemaSummary(s *arrow.Schema) string {
	var parts []string
	for _, f := range s.Fields() {
		parts = append(parts, f.Name+" "+f.Type.String())
	}
	return strings.Join(parts, ", ")
}

// nameColumn reads one name column row by row as (code, string) where equal
// codes mean equal strings.
type nameColumn struct {
	name  string
	codes []int32
	dict  *array.String
	plain *array.String
}

func newNameColumn(name string, a arrow.Array) (*nameColumn, error) {
	if a.NullN() > 0 {
		return nil, badBatch("column %s has %d nulls", name, a.NullN())
	}
	nc := &nameColumn{name: name}
	switch a := a.(type) {
	case *array.String:
		nc.plain = a
		return nc, nil
	case *array.Dictionary:
		dict, ok := a.Dictionary().(*array.String)
		if !ok {
			return nil, badBatch("column %s: dictionary of %s", name, a.Dictionary().DataType())
		}
		if dict.NullN() > 0 {
			return nil, badBatch("column %s: dictionary has nulls", name)
		}
		nd := int64(dict.Len())
		nc.dict = dict
		nc.codes = make([]int32, a.Len())
		for i := range nc.codes {
			var v int64
			switch idx := a.Indices().(type) {
			case *array.Int8:
				v = int64(idx.Value(i))
			case *array.Int16:
				v = int64(idx.Value(i))
			case *array.Int32:
				v = int64(idx.Value(i))
			case *array.Int64:
				v = idx.Value(i)
			case *array.Uint8:
				v = int64(idx.Value(i))
			case *array.Uint16:
				v = int64(idx.Value(i))
			case *array.Uint32:
				v = int64(idx.Value(i))
			case *array.Uint64:
				v = int64(idx.Value(i))
				if idx.Value(i) > 1<<62 {
					v = -1
				}
			default:
				return nil, badBatch("column %s: dictionary index %s", name, a.Indices().DataType())
			}
			if v < 0 || v >= nd {
				return nil, badBatch("column %s row %d: dictionary index %d out of range [0, %d)", name, i, v, nd)
			}
			nc.codes[i] = int32(v)
		}
		return nc, nil
	}
	return nil, badBatch("column %s is %s", name, a.DataType())
}

func (b *Batch) addRecord(rec arrow.RecordBatch, cols [7]int, bodyLen int) error {
	n := int(rec.NumRows())
	if n < 0 || n > bodyLen/16 { // a row takes 16 bytes of ts and value at least
		return badBatch("record of %d rows in a stream of %d bytes", rec.NumRows(), bodyLen)
	}
	for _, c := range cols {
		if l := rec.Column(c).Len(); l != n {
			return badBatch("column %s has %d rows, the record %d", rec.ColumnName(c), l, n)
		}
	}
	// Timestamps.
	tsCol := rec.Column(cols[0])
	if tsCol.NullN() > 0 {
		return badBatch("column ts has %d nulls", tsCol.NullN())
	}
	mul, div := int64(1), int64(1)
	var raw []int64
	switch a := tsCol.(type) {
	case *array.Int64:
		raw = a.Int64Values()
	case *array.Timestamp:
		raw = arrow.Int64Traits.CastFromBytes(arrow.TimestampTraits.CastToBytes(a.TimestampValues()))
		switch a.DataType().(*arrow.TimestampType).Unit {
		case arrow.Second:
			mul = 1000
		case arrow.Microsecond:
			div = 1000
		case arrow.Nanosecond:
			div = 1000000
		}
	default:
		return badBatch("column ts is %s", tsCol.DataType())
	}
	valCol, ok := rec.Column(cols[6]).(*array.Float64)
	if !ok {
		return badBatch("column value is %s", rec.Column(cols[6]).DataType())
	}
	if valCol.NullN() > 0 {
		return badBatch("column value has %d nulls", valCol.NullN())
	}
	if len(raw) != n || valCol.Len() != n {
		return badBatch("ts or value column shorter than the record")
	}
	var names [5]*nameColumn
	for i := range names {
		nc, err := newNameColumn(nameColumns[i], rec.Column(cols[1+i]))
		if err != nil {
			return err
		}
		names[i] = nc
	}
	// Rows to series: a key of the five codes (plain strings get codes from
	// a local dictionary).
	local := [5]map[string]int32{}
	seriesOf := map[[5]int32]int32{}
	vals := valCol.Float64Values()
	for row := 0; row < n; row++ {
		var key [5]int32
		for c, nc := range names {
			if nc.plain != nil {
				if local[c] == nil {
					local[c] = map[string]int32{}
				}
				s := nc.plain.Value(row)
				code, ok := local[c][s]
				if !ok {
					code = int32(len(local[c]))
					local[c][strings.Clone(s)] = code
				}
				key[c] = code
			} else {
				key[c] = nc.codes[row]
			}
		}
		ref, ok := seriesOf[key]
		if !ok {
			var s Series
			for c, nc := range names {
				if nc.plain != nil {
					s.setField(c, strings.Clone(nc.plain.Value(row)))
				} else {
					s.setField(c, strings.Clone(nc.dict.Value(int(key[c]))))
				}
			}
			ref = b.SeriesRef(s)
			seriesOf[key] = ref
		}
		ts := raw[row]
		if mul != 1 {
			ts *= mul
		} else if div != 1 {
			ts /= div
		}
		b.Add(ref, ts, vals[row])
	}
	return nil
}
