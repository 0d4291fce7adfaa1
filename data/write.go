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
	w := newParquetEncoder[T](out)
	if err := writeRows(w, rows); err != nil {
		return err
	}
	return w.Close()
}

// newParquetEncoder is the one configuration every Parquet file circles
// writes has: zstd, row groups of RowsPerRowGroup, the schema version, and
// the sorting columns of a [Sorted] type.
func newParquetEncoder[T any](out io.Writer) *parquet.GenericWriter[T] {
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
	return parquet.NewGenericWriter[T](out, opts...)
}

// writeRows hands rows to w in slices of writeBatch rows: where pages end
// depends on how rows were handed over, so every file is written in the
// same slices, and its bytes depend on its rows only.
func writeRows[T any](w *parquet.GenericWriter[T], rows []T) error {
	for len(rows) > 0 {
		n := min(len(rows), writeBatch)
		if _, err := w.Write(rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

const writeBatch = 64 << 10

// ParquetWriter writes one Parquet file as its rows arrive, for a table
// too large to hold whole: [CreateParquet], any number of Write calls,
// then Close, or Abort to give up. Rows go to the encoder in the slices
// [WriteParquet] uses, whatever the pieces they come in, so the file is
// the one it would write from the same rows, byte for byte.
type ParquetWriter[T any] struct {
	f       *SyncedFile
	w       *parquet.GenericWriter[T]
	pending []T // fewer than writeBatch rows, not yet encoded
}

// CreateParquet creates path, which must not exist, for a [ParquetWriter].
func CreateParquet[T any](path string) (*ParquetWriter[T], error) {
	f, err := CreateSyncedFile(path)
	if err != nil {
		return nil, err
	}
	return &ParquetWriter[T]{f: f, w: newParquetEncoder[T](f)}, nil
}

// Write appends rows; rows of a [Sorted] type must continue its order.
// Rows wait in a buffer until a whole slice of writeBatch is there.
func (w *ParquetWriter[T]) Write(rows []T) error {
	for len(rows) > 0 {
		n := min(len(rows), writeBatch-len(w.pending))
		w.pending, rows = append(w.pending, rows[:n]...), rows[n:]
		if len(w.pending) == writeBatch {
			if err := writeRows(w.w, w.pending); err != nil {
				return err
			}
			w.pending = w.pending[:0]
		}
	}
	return nil
}

// Close writes the last rows and the footer, fsyncs and closes the file;
// on error the file is removed.
func (w *ParquetWriter[T]) Close() error {
	err := writeRows(w.w, w.pending)
	if err == nil {
		err = w.w.Close()
	}
	return w.f.Finish(err)
}

// Abort closes and removes the partial file.
func (w *ParquetWriter[T]) Abort() error { return w.f.Remove() }

// CreateSynced creates path (which must not exist), lets write fill it
// through a buffer, then flushes, fsyncs and closes it. On any error the
// file is removed and the error names the path.
func CreateSynced(path string, write func(w io.Writer) error) error {
	f, err := CreateSyncedFile(path)
	if err != nil {
		return err
	}
	return f.Finish(write(f))
}

// SyncedFile is a new file written through a buffer that ends in one of
// two ways: whole, flushed and fsynced, or removed. [CreateSynced] is the
// usual way to use one; a writer that fills a file over many calls holds
// it and calls Finish once.
type SyncedFile struct {
	path string
	f    *os.File
	*bufio.Writer
}

// CreateSyncedFile creates path, which must not exist.
func CreateSyncedFile(path string) (*SyncedFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &SyncedFile{path: path, f: f, Writer: bufio.NewWriterSize(f, 1<<20)}, nil
}

// Finish ends the file: with err nil it flushes, fsyncs and closes it;
// with an error (the writer's), or if any of those steps fails, it closes
// and removes it and returns the error, naming the path.
func (s *SyncedFile) Finish(err error) error {
	if err == nil {
		err = s.Flush()
	}
	if err == nil {
		err = s.f.Sync()
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// the partial file goes; if it cannot, the error says so too
		return fmt.Errorf("write %s: %w", s.path, errors.Join(err, os.Remove(s.path)))
	}
	return nil
}

// Remove closes and removes a file that is not to be finished.
func (s *SyncedFile) Remove() error {
	if err := errors.Join(s.f.Close(), os.Remove(s.path)); err != nil {
		return fmt.Errorf("remove %s: %w", s.path, err)
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
