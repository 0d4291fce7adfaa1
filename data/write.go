package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// SchemaVersion is the version of the schemas of the files circles writes,
// recorded under SchemaVersionKey in every Parquet file's key-value
// metadata and in every Arrow file's schema metadata. Bump it on any
// change a reader must know about.
const (
	SchemaVersion    = "5"
	SchemaVersionKey = "circles.schema_version"
)

// RowsPerRowGroup bounds row groups at the size columnar readers work in
// (DuckDB's default is 122,880 rows): a reader holds one group per thread,
// and a file of many groups reads in parallel.
const RowsPerRowGroup = 1 << 17

// Sorted is implemented by the row types whose files are written in a
// known order: WriteParquet records it in the footer's sorting_columns, so
// that a reader can merge or seek without sorting.
type Sorted interface {
	SortedBy() []string // column names, most significant first, all ascending
}

// WriteParquet writes rows to a new file at path with zstd compression,
// fsyncs it, and closes it. Writing is deterministic: the same rows give the
// same bytes. On error the partial file is removed. Rows of a [Sorted] type
// must already be in that order.
func WriteParquet[T any](path string, rows []T) error {
	return CreateSynced(path, func(w io.Writer) error { return EncodeParquet(w, rows) })
}

// EncodeParquet writes rows as one Parquet file to w, as [WriteParquet]
// does to a file: the same rows give the same bytes.
func EncodeParquet[T any](out io.Writer, rows []T) error {
	opts := []parquet.WriterOption{
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.MaxRowsPerRowGroup(RowsPerRowGroup),
		parquet.KeyValueMetadata(SchemaVersionKey, SchemaVersion),
	}
	var zero T
	if s, ok := any(zero).(Sorted); ok {
		var cols []parquet.SortingColumn
		for _, c := range s.SortedBy() {
			cols = append(cols, parquet.Ascending(c))
		}
		opts = append(opts, parquet.SortingWriterConfig(parquet.SortingColumns(cols...)))
	}
	w := parquet.NewGenericWriter[T](out, opts...)
	for len(rows) > 0 {
		n := min(len(rows), 64<<10)
		if _, err := w.Write(rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return w.Close()
}

// CreateSynced creates path (which must not exist), lets write fill it
// through a buffer, then flushes, fsyncs and closes it. On any error the
// file is removed and the error names the path.
func CreateSynced(path string, write func(w io.Writer) error) (err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// the partial file goes; if it cannot, the error says so too
		return fmt.Errorf("write %s: %w", path, errors.Join(err, os.Remove(path)))
	}
	return nil
}

// ReplaceSynced writes path whole or not at all: the content goes to a
// hidden temporary file beside it through [CreateSynced], which is then
// renamed over path. A reader sees the old file or the new one, never a
// part.
func ReplaceSynced(path string, write func(w io.Writer) error) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := CreateSynced(tmp, write); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(err, os.Remove(tmp))
	}
	return nil
}

// MarkSuccess writes the empty success marker into a partition directory.
func MarkSuccess(dir string) error {
	return os.WriteFile(dir+string(os.PathSeparator)+SuccessMarker, nil, 0o644)
}

// ReadParquet reads a whole file of rows of type T. It is for outputs and
// small files: input tables are scanned column-wise instead. The file gets
// the same checks and containment as a scanned one (see parquetcheck.go):
// a corrupt file is an error naming it, wrapping [ErrBadInput].
func ReadParquet[T any](path string) (rows []T, err error) {
	defer containDecoder(path, &err)
	p, err := openParquet(path)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	r := parquet.NewGenericReader[T](p.pf)
	defer func() {
		if cerr := r.Close(); cerr != nil && err == nil {
			err = &FileError{File: path, Err: cerr}
		}
	}()
	// Read in chunks rather than allocating the rows the footer claims: a
	// footer of many row groups can claim more rows than are there.
	buf := make([]T, min(p.pf.NumRows(), 1<<16))
	for {
		n, err := r.Read(buf)
		rows = append(rows, buf[:n]...)
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, &FileError{File: path, Err: err}
		}
		if n == 0 {
			return rows, nil
		}
	}
}
