package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"
)

// Defences against hostile or corrupt Parquet files. parquet-go trusts the
// sizes a file claims: a footer length, a page's compressed and
// uncompressed size, the length of a thrift string or list. A file of a
// few hundred bytes can claim gigabytes and make the process allocate
// until it dies. Before the decoder sees a file, openParquet checks every
// such claim against the bytes that are really there, and refuses the file
// (bad input, naming it) when one does not fit. What passes is decoded by
// parquet-go, whose panics scanRowGroups contains at the file boundary.

// Limits on what one file may claim. Writers in use stay far below them:
// pyarrow writes row groups of 1 Mi rows, DuckDB of 122,880, Spark of
// about 128 MB; pages are about 1 MB.
const (
	// MaxRowGroupRows bounds the rows of one row group: a scan holds one
	// row group's columns in memory (about 100 bytes a row).
	MaxRowGroupRows = 1 << 24
	// maxPageBytes bounds a page's uncompressed size beyond what its
	// compressed size allows at maxCompressionRatio.
	maxPageBytes        = 64 << 20
	maxCompressionRatio = 1024
	// maxThriftDepth bounds the nesting of thrift structs and lists in a
	// footer or page header (the format nests a few levels deep).
	maxThriftDepth = 32
)

// footerTail is the file's last 8 bytes: the footer length and "PAR1".
const footerTail = 8

// checkFooter reads the footer of a file of size bytes and checks that its
// claimed length fits in the file and that its thrift encoding claims no
// string or list longer than the bytes left. It returns the offset where
// the footer starts: the end of the column data.
func checkFooter(f io.ReaderAt, size int64) (dataEnd int64, err error) {
	if size < 4+footerTail {
		return 0, fmt.Errorf("%d bytes is too short for a Parquet file", size)
	}
	var tail [footerTail]byte
	if _, err := f.ReadAt(tail[:], size-footerTail); err != nil {
		return 0, err
	}
	switch string(tail[4:]) {
	case "PAR1":
	case "PARE":
		return 0, errors.New("the footer is encrypted; the contract takes unencrypted Parquet")
	default:
		return 0, fmt.Errorf("no Parquet magic at the end (%q)", tail[4:])
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > size-4-footerTail {
		return 0, fmt.Errorf("the footer claims %d bytes in a file of %d", n, size)
	}
	footer := make([]byte, n)
	if _, err := f.ReadAt(footer, size-footerTail-n); err != nil {
		return 0, err
	}
	if _, err := skipThrift(footer, thrift.STRUCT, 0); err != nil {
		return 0, fmt.Errorf("corrupt footer: %w", err)
	}
	return size - footerTail - n, nil
}

// checkChunks checks every row group and column chunk of an open file
// against the bytes there are, and walks each chunk's page headers: no
// chunk outside the data, no page larger than its chunk, no uncompressed
// size beyond what compression can explain, and page value counts that
// add up to the chunk's, so that a scan never allocates for rows or bytes
// a file does not hold.
func checkChunks(f io.ReaderAt, pf *parquet.File, dataEnd int64) error {
	md := pf.Metadata()
	for g, rg := range md.RowGroups {
		if rg.NumRows < 0 || rg.NumRows > MaxRowGroupRows {
			return fmt.Errorf("row group %d claims %d rows; at most %d are accepted (write smaller row groups)", g, rg.NumRows, MaxRowGroupRows)
		}
		for c, cc := range rg.Columns {
			m := &cc.MetaData
			start := m.DataPageOffset
			if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
				start = m.DictionaryPageOffset
			}
			if start < 4 || m.TotalCompressedSize < 0 || m.NumValues < 0 || start > dataEnd-m.TotalCompressedSize {
				return fmt.Errorf("row group %d column %d: a chunk of %d bytes at offset %d does not fit the %d bytes of data", g, c, m.TotalCompressedSize, start, dataEnd)
			}
			if err := checkPages(f, start, start+m.TotalCompressedSize, m.NumValues, m.Codec); err != nil {
				return fmt.Errorf("row group %d column %d: %w", g, c, err)
			}
		}
	}
	return nil
}

// checkPages walks the page headers of a column chunk in [start, end),
// and checks the pages that codec compressed (decodeClaims).
func checkPages(f io.ReaderAt, start, end, numValues int64, codec format.CompressionCodec) error {
	var values int64
	buf := make([]byte, 256)
	var page []byte
	for pos := start; pos < end; {
		h, n, err := readPageHeader(f, pos, end, buf)
		if err != nil {
			return fmt.Errorf("page at offset %d: %w", pos, err)
		}
		comp, uncomp := int64(h.CompressedPageSize), int64(h.UncompressedPageSize)
		if comp < 0 || comp > end-pos-int64(n) {
			return fmt.Errorf("page at offset %d claims %d compressed bytes; its chunk has %d left", pos, comp, end-pos-int64(n))
		}
		if uncomp < 0 || uncomp > maxPageBytes+maxCompressionRatio*comp {
			return fmt.Errorf("page at offset %d claims %d uncompressed bytes from %d compressed", pos, uncomp, comp)
		}
		var nv int64
		switch {
		case h.DataPageHeader.Valid:
			nv = int64(h.DataPageHeader.V.NumValues)
		case h.DataPageHeaderV2.Valid:
			nv = int64(h.DataPageHeaderV2.V.NumValues)
		}
		if nv < 0 {
			return fmt.Errorf("page at offset %d claims %d values", pos, nv)
		}
		if decodeChecked(codec) && (h.DictionaryPageHeader.Valid || h.DataPageHeader.Valid || h.DataPageHeaderV2.Valid) {
			page = slices.Grow(page[:0], int(comp))[:comp]
			if _, err := f.ReadAt(page, pos+int64(n)); err != nil {
				return fmt.Errorf("page at offset %d: %w", pos, err)
			}
			if err := checkCompressed(codec, h, page); err != nil {
				return fmt.Errorf("page at offset %d: %w", pos, err)
			}
		}
		values += nv
		pos += int64(n) + comp
	}
	if values != numValues {
		return fmt.Errorf("pages hold %d values, the chunk claims %d", values, numValues)
	}
	return nil
}

// decodeChecked reports whether codec's decoder trusts its input's
// claims, so that checkCompressed must check a page before it does.
func decodeChecked(codec format.CompressionCodec) bool {
	return codec == format.Lz4Raw || codec == format.Snappy || codec == format.Zstd
}

// checkCompressed checks that a page's compressed bytes decode within the
// uncompressed size its header claims (already bounded), where the
// decoder parquet-go calls would not stop on its own:
//   - LZ4_RAW: parquet-go's decoder doubles its buffer on every failure,
//     so a corrupt block grows it until the process dies; the block is
//     decoded here into a buffer of the claimed size.
//   - Snappy: the block's own length claim (up to 4 GiB) is allocated.
//   - Zstd: a frame's content-size claim is allocated.
func checkCompressed(codec format.CompressionCodec, h *format.PageHeader, page []byte) error {
	size := int64(h.UncompressedPageSize)
	if v2 := &h.DataPageHeaderV2; v2.Valid {
		if v2.V.IsCompressed.Valid && !v2.V.IsCompressed.V {
			return nil
		}
		levels := int64(v2.V.RepetitionLevelsByteLength) + int64(v2.V.DefinitionLevelsByteLength)
		if v2.V.RepetitionLevelsByteLength < 0 || v2.V.DefinitionLevelsByteLength < 0 || levels > int64(len(page)) || levels > size {
			return fmt.Errorf("levels of %d bytes do not fit a page of %d compressed, %d uncompressed bytes", levels, len(page), size)
		}
		page, size = page[levels:], size-levels
	}
	switch codec {
	case format.Lz4Raw:
		if _, err := lz4.UncompressBlock(page, make([]byte, size)); err != nil {
			return fmt.Errorf("LZ4_RAW data does not decode into the %d bytes the page claims (%v)", size, err)
		}
	case format.Snappy:
		n, err := snappy.DecodedLen(page)
		if err != nil {
			return fmt.Errorf("corrupt Snappy block (%v)", err)
		}
		if int64(n) > size {
			return fmt.Errorf("a Snappy block claims %d bytes, the page %d", n, size)
		}
	case format.Zstd:
		var zh zstd.Header
		if err := zh.Decode(page); err != nil {
			return fmt.Errorf("corrupt Zstd frame (%v)", err)
		}
		if zh.HasFCS && zh.FrameContentSize > uint64(size) {
			return fmt.Errorf("a Zstd frame claims %d bytes, the page %d", zh.FrameContentSize, size)
		}
	}
	return nil
}

// readPageHeader reads and decodes the page header at pos, growing buf
// when the header (large statistics) does not fit, and returns it with its
// encoded length.
func readPageHeader(f io.ReaderAt, pos, end int64, buf []byte) (*format.PageHeader, int, error) {
	for {
		want := min(int64(len(buf)), end-pos)
		m, err := f.ReadAt(buf[:want], pos)
		if int64(m) < want {
			return nil, 0, fmt.Errorf("read header: %w", err)
		}
		n, err := skipThrift(buf[:m], thrift.STRUCT, 0)
		if errors.Is(err, errShort) && want < end-pos && len(buf) < maxPageBytes {
			buf = make([]byte, 4*len(buf))
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("corrupt header: %w", err)
		}
		h := new(format.PageHeader)
		if err := thrift.Unmarshal(new(thrift.CompactProtocol), buf[:n], h); err != nil {
			return nil, 0, fmt.Errorf("corrupt header: %w", err)
		}
		return h, n, nil
	}
}

// containDecoder turns a panic inside the Parquet decoder, while reading
// the file at path, into a bad-input error naming the file. It is the one
// place circles recovers a panic: parquet-go panics on some corrupt files
// (slice bounds in OpenFile, an index out of range in a byte-array page),
// and a corrupt input file must fail the run with exit 4 and the file's
// name, never crash it. The run still fails; nothing goes on with the
// file's rows. Call it deferred, with the named error result.
func containDecoder(path string, err *error) {
	if r := recover(); r != nil {
		*err = &FileError{File: path, Err: fmt.Errorf("not a readable Parquet file: the decoder failed on it (%v); rewrite it as Parquet", r)}
	}
}

// errShort says thrift data ended before the value it encodes.
var errShort = errors.New("ends early")

// skipThrift walks one compact-protocol value of type t at the start of b
// and returns its encoded length. It allocates nothing, and fails when a
// length or element count claims more than the bytes left: that is the
// check the thrift decoder does not make before it allocates.
func skipThrift(b []byte, t thrift.Type, depth int) (int, error) {
	if depth > maxThriftDepth {
		return 0, fmt.Errorf("nested more than %d deep", maxThriftDepth)
	}
	switch t {
	case thrift.TRUE, thrift.FALSE:
		return 0, nil // a struct field's boolean value is in its type nibble
	case thrift.I8:
		if len(b) < 1 {
			return 0, errShort
		}
		return 1, nil
	case thrift.UUID:
		if len(b) < 16 {
			return 0, errShort
		}
		return 16, nil
	case thrift.I16, thrift.I32, thrift.I64:
		_, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, errShort
		}
		return n, nil
	case thrift.DOUBLE:
		if len(b) < 8 {
			return 0, errShort
		}
		return 8, nil
	case thrift.BINARY:
		l, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, errShort
		}
		if l > uint64(len(b)-n) {
			return 0, fmt.Errorf("a string claims %d bytes, %d are left: %w", l, len(b)-n, errShort)
		}
		return n + int(l), nil
	case thrift.LIST, thrift.SET:
		if len(b) < 1 {
			return 0, errShort
		}
		size, et, n := uint64(b[0]>>4), thrift.Type(b[0]&0xF), 1
		if size == 0xF {
			s, m := binary.Uvarint(b[1:])
			if m <= 0 {
				return 0, errShort
			}
			size, n = s, 1+m
		}
		if size > uint64(len(b)-n) { // every element takes at least a byte
			return 0, fmt.Errorf("a list claims %d elements, %d bytes are left: %w", size, len(b)-n, errShort)
		}
		if et == thrift.TRUE || et == thrift.FALSE {
			return n + int(size), nil // list elements of type bool take a byte each
		}
		for range size {
			m, err := skipThrift(b[n:], et, depth+1)
			if err != nil {
				return 0, err
			}
			n += m
		}
		return n, nil
	case thrift.MAP:
		size, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, errShort
		}
		if size == 0 {
			return n, nil
		}
		if n >= len(b) || size > uint64(len(b)-n-1)/2 {
			return 0, fmt.Errorf("a map claims %d entries: %w", size, errShort)
		}
		kt, vt := thrift.Type(b[n]>>4), thrift.Type(b[n]&0xF)
		n++
		for range size {
			for _, et := range []thrift.Type{kt, vt} {
				m, err := skipThrift(b[n:], et, depth+1)
				if err != nil {
					return 0, err
				}
				n += m
			}
		}
		return n, nil
	case thrift.STRUCT:
		n := 0
		for {
			if n >= len(b) {
				return 0, errShort
			}
			h := b[n]
			n++
			if h == 0 { // stop
				return n, nil
			}
			if h>>4 == 0 { // a long-form field ID follows
				_, m := binary.Uvarint(b[n:])
				if m <= 0 {
					return 0, errShort
				}
				n += m
			}
			m, err := skipThrift(b[n:], thrift.Type(h&0xF), depth+1)
			if err != nil {
				return 0, err
			}
			n += m
		}
	}
	return 0, fmt.Errorf("unknown thrift type %d", t)
}
