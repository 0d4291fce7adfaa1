package data_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	parquetprops "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"circles/data"
)

type idRow struct {
	UserID int64 `parquet:"user_id"`
}

// craft writes a one-column, one-page Parquet file, lets mutate change its
// page header and footer, and re-assembles it with offsets that agree, so
// that only the mutated claims are wrong.
func craft(t *testing.T, mutate func(h *format.PageHeader, md *format.FileMetaData)) string {
	t.Helper()
	var buf bytes.Buffer
	if err := parquet.Write(&buf, []idRow{{1}, {2}, {3}}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	footerLen := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	md := new(format.FileMetaData)
	proto := new(thrift.CompactProtocol)
	if err := thrift.Unmarshal(proto, b[len(b)-8-footerLen:len(b)-8], md); err != nil {
		t.Fatal(err)
	}
	if len(md.RowGroups) != 1 || len(md.RowGroups[0].Columns) != 1 {
		t.Fatalf("want one row group of one column, got %d", len(md.RowGroups))
	}
	cm := &md.RowGroups[0].Columns[0].MetaData
	chunk := b[cm.DataPageOffset : cm.DataPageOffset+cm.TotalCompressedSize]
	// The header's length: decode it from a reader that counts.
	r := proto.NewReaderFromBytes(chunk)
	h := new(format.PageHeader)
	if err := thrift.NewDecoder(r).Decode(h); err != nil {
		t.Fatal(err)
	}
	page := chunk[r.BytesRead() : r.BytesRead()+int(h.CompressedPageSize)]
	mutate(h, md)
	hb, err := thrift.Marshal(proto, h)
	if err != nil {
		t.Fatal(err)
	}
	cm.DataPageOffset, cm.DictionaryPageOffset = 4, 0
	cm.TotalCompressedSize = int64(len(hb) + len(page))
	mutate(nil, md) // footer claims may be set relative to the new layout
	fb, err := thrift.Marshal(proto, md)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte("PAR1"), hb...)
	out = append(out, page...)
	out = append(out, fb...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(fb)))
	out = append(out, "PAR1"...)
	path := filepath.Join(t.TempDir(), "crafted.parquet")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAbsurdClaimsAreRefusedBeforeAllocating: a file of a few hundred
// bytes that claims gigabytes is refused, naming the file, having
// allocated next to nothing.
func TestAbsurdClaimsAreRefusedBeforeAllocating(t *testing.T) {
	page := func(f func(h *format.PageHeader)) func(*format.PageHeader, *format.FileMetaData) {
		return func(h *format.PageHeader, _ *format.FileMetaData) {
			if h != nil {
				f(h)
			}
		}
	}
	footer := func(f func(md *format.FileMetaData)) func(*format.PageHeader, *format.FileMetaData) {
		return func(h *format.PageHeader, md *format.FileMetaData) {
			if h == nil {
				f(md)
			}
		}
	}
	for _, tc := range []struct {
		name, says string
		mutate     func(*format.PageHeader, *format.FileMetaData)
	}{
		{"intact", "", page(func(*format.PageHeader) {})},
		{"uncompressed page size", "uncompressed bytes", page(func(h *format.PageHeader) { h.UncompressedPageSize = 1<<31 - 1 })},
		{"compressed page size", "compressed bytes", page(func(h *format.PageHeader) { h.CompressedPageSize = 1<<31 - 1 })},
		{"page values", "values", page(func(h *format.PageHeader) {
			h.DataPageHeader.V.NumValues, h.DataPageHeaderV2.V.NumValues = 1<<31-1, 1<<31-1
		})},
		{"row group rows", "rows", footer(func(md *format.FileMetaData) { md.RowGroups[0].NumRows = 1 << 40; md.NumRows = 1 << 40 })},
		{"chunk size", "does not fit", footer(func(md *format.FileMetaData) { md.RowGroups[0].Columns[0].MetaData.TotalCompressedSize = 1 << 40 })},
		{"chunk offset", "does not fit", footer(func(md *format.FileMetaData) { md.RowGroups[0].Columns[0].MetaData.DataPageOffset = -5 })},
		// parquet-go's LZ4 decoder doubles its buffer on every failure, so
		// a block that never decodes grows it until the process dies
		// (testdata/fuzz/FuzzReadMerchants); here, plain bytes read as
		// LZ4_RAW that do not fit the one byte the page claims.
		{"LZ4_RAW that does not decode", "LZ4_RAW data does not decode", func(h *format.PageHeader, md *format.FileMetaData) {
			if h != nil {
				h.UncompressedPageSize = 1
				h.DataPageHeaderV2.V.IsCompressed.V, h.DataPageHeaderV2.V.IsCompressed.Valid = true, true
				return
			}
			md.RowGroups[0].Columns[0].MetaData.Codec = format.Lz4Raw
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := craft(t, tc.mutate)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			rows, err := data.ReadParquet[idRow](path)
			runtime.ReadMemStats(&after)
			if tc.says == "" {
				if err != nil || len(rows) != 3 {
					t.Fatalf("the crafted file without changes: %d rows, %v (the crafting is broken)", len(rows), err)
				}
				return
			}
			var fe *data.FileError
			if !errors.As(err, &fe) || fe.File != path || !errors.Is(err, data.ErrBadInput) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v, want bad input naming %s that says %q", err, path, tc.says)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
				t.Errorf("allocated %d bytes before refusing the file", n)
			}
		})
	}
}

func TestFooterClaimsAreChecked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, b := range map[string][]byte{
		"long footer":   append([]byte("PAR1abcd"), 0xf0, 0xff, 0xff, 0xff, 'P', 'A', 'R', '1'),
		"encrypted":     []byte("PAR1abcd\x04\x00\x00\x00PARE"),
		"short":         []byte("PAR1"),
		"huge string":   append([]byte("PAR1"), append([]byte{0x18, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00}, 7, 0, 0, 0, 'P', 'A', 'R', '1')...),
		"huge list":     append([]byte("PAR1"), append([]byte{0x19, 0xfc, 0xff, 0xff, 0xff, 0x07, 0x00}, 7, 0, 0, 0, 'P', 'A', 'R', '1')...),
		"deep nesting":  append(append([]byte("PAR1"), bytes.Repeat([]byte{0x1c}, 100)...), append(bytes.Repeat([]byte{0}, 101), 201, 0, 0, 0, 'P', 'A', 'R', '1')...),
		"not parquet":   []byte("this is not parquet at all"),
		"trailing junk": []byte("PAR1\x00\x00\x00\x00PAR1junk"),
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".parquet")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := data.ReadParquet[idRow](path)
		var fe *data.FileError
		if !errors.As(err, &fe) || fe.File != path || !errors.Is(err, data.ErrBadInput) {
			t.Errorf("%s: err = %v, want bad input naming the file", name, err)
		}
	}
}

// TestOtherWritersPassTheChecks: files written by Arrow's Parquet writer
// (dictionary pages, statistics, version 2 pages, several row groups and
// pages) pass the checks and scan in full.
func TestOtherWritersPassTheChecks(t *testing.T) {
	t.Parallel()
	_, d := smallWorld(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "event_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "time", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "target_kind", Type: arrow.BinaryTypes.String},
		{Name: "target_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "action", Type: arrow.BinaryTypes.String},
		{Name: "weight", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	const n = 50_000
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(i + 1))
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(date.UnixMicro() + int64(i)))
		b.Field(2).(*array.Int32Builder).Append(int32(1 + i%2))
		b.Field(3).(*array.StringBuilder).Append("content")
		b.Field(4).(*array.Int64Builder).Append(20)
		b.Field(5).(*array.StringBuilder).Append([]string{"view", "like"}[i%2])
		if i%3 == 0 {
			b.Field(6).(*array.Float64Builder).AppendNull()
		} else {
			b.Field(6).(*array.Float64Builder).Append(2)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	path := filepath.Join(t.TempDir(), "arrow.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	props := parquetprops.NewWriterProperties(parquetprops.WithMaxRowGroupLength(20_000), parquetprops.WithDataPageSize(4096),
		parquetprops.WithDataPageVersion(parquetprops.DataPageV2), parquetprops.WithDictionaryDefault(true))
	w, err := pqarrow.NewFileWriter(schema, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(w.Write(rec), w.Close()); err != nil {
		t.Fatal(err)
	}
	batch, err := data.ScanInteractions(path, d, data.NewWindow(date, 1))
	if err != nil {
		t.Fatal(err)
	}
	if batch.Stats.Read != n || batch.Stats.Used != n {
		t.Errorf("read %d, used %d of %d rows", batch.Stats.Read, batch.Stats.Used, n)
	}
}
