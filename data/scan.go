package data

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// Column-wise scanning. A table loader names the columns it needs; each is
// read page by page into a typed slice for one row group at a time, and the
// loader then validates rows by index. Nothing goes through parquet-go's
// generic row reader (several times slower, STYLE.md §10), and columns a
// loader does not name are never decoded.

// ErrBadInput marks errors caused by input files rather than by the program:
// unreadable files, missing or mistyped columns, too many bad rows. The CLI
// maps it to its own exit code.
var ErrBadInput = errors.New("bad input")

// FileError is a problem with a whole input file or one of its columns.
type FileError struct {
	File   string
	Column string // empty when the problem is the file itself
	Err    error
}

func (e *FileError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("read %s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("read %s: column %q: %v", e.File, e.Column, e.Err)
}

func (e *FileError) Unwrap() []error { return []error{e.Err, ErrBadInput} }

// colKind is the logical type a loader wants from a column.
type colKind uint8

const (
	colInt64  colKind = iota // INT64 or INT32
	colTime                  // INT64 timestamp; millis, micros or nanos; plain INT64 is millis
	colString                // BYTE_ARRAY
	colBool                  // BOOLEAN
	colInt32                 // INT32 or INT64 that fits
	colStringList
	colFloat // FLOAT or DOUBLE
)

func (k colKind) String() string {
	return [...]string{"int64", "timestamp", "string", "boolean", "int32", "list<string>", "float"}[k]
}

// parquetFile is an open input file.
type parquetFile struct {
	path string
	f    *os.File
	pf   *parquet.File
}

func openParquet(path string) (*parquetFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{File: path, Err: err}
	}
	st, err := f.Stat()
	if err != nil {
		return nil, &FileError{File: path, Err: errors.Join(err, f.Close())}
	}
	corrupt := func(err error) error {
		return &FileError{File: path, Err: fmt.Errorf("not a readable Parquet file (%v); rewrite it as Parquet", errors.Join(err, f.Close()))}
	}
	dataEnd, err := checkFooter(f, st.Size())
	if err != nil {
		return nil, corrupt(err)
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, corrupt(err)
	}
	if err := checkChunks(f, pf, dataEnd); err != nil {
		return nil, corrupt(err)
	}
	return &parquetFile{path: path, f: f, pf: pf}, nil
}

func (p *parquetFile) Close() error { return p.f.Close() }

// closePages releases a column chunk's pages; a failure is the column's
// error when it has no other.
func (p *parquetFile) closePages(pages parquet.Pages, c *column, err *error) {
	if cerr := pages.Close(); cerr != nil && *err == nil {
		*err = &FileError{File: p.path, Column: c.name, Err: cerr}
	}
}

// column is a resolved column of a file: its leaf index and how to decode it.
type column struct {
	name     string
	kind     colKind
	index    int
	physical parquet.Kind
	timeDiv  int64 // divide raw timestamps by this to get millis
	maxDef   int
}

// resolve finds a named column and checks that its physical type can be
// read as kind. A missing column is an error only when required is true.
func (p *parquetFile) resolve(name string, kind colKind, required bool) (*column, error) {
	var path []string
	leaves := 0
	for _, cp := range p.pf.Schema().Columns() {
		if len(cp) > 0 && cp[0] == name {
			if path == nil {
				path = cp
			}
			leaves++
		}
	}
	if path == nil {
		if !required {
			return nil, nil
		}
		return nil, &FileError{File: p.path, Column: name, Err: fmt.Errorf("missing; the table contract (docs/contract.md) requires it as %s", kind)}
	}
	// A scalar column is a top-level leaf; a list is one repeated leaf
	// under the column (any list encoding). A struct of that name, however
	// its first field is typed, is neither.
	if leaves != 1 || (kind != colStringList && len(path) != 1) {
		return nil, &FileError{File: p.path, Column: name, Err: fmt.Errorf("is a group of %d fields, want a column of type %s (see docs/contract.md)", leaves, kind)}
	}
	leaf, _ := p.pf.Schema().Lookup(path...)
	c := &column{name: name, kind: kind, index: leaf.ColumnIndex, physical: leaf.Node.Type().Kind(), timeDiv: 1, maxDef: leaf.MaxDefinitionLevel}
	repeated := leaf.MaxRepetitionLevel > 0
	ok := false
	switch kind {
	case colInt64, colInt32:
		ok = !repeated && (c.physical == parquet.Int64 || c.physical == parquet.Int32)
	case colTime:
		ok = !repeated && c.physical == parquet.Int64
		if lt := leaf.Node.Type().LogicalType(); ok && lt != nil {
			if ts, isTS := lt.Value.(*format.TimestampType); isTS {
				if u, hasUnit := ts.Unit.Value.(interface{ Duration() time.Duration }); hasUnit && u.Duration() < time.Millisecond {
					c.timeDiv = int64(time.Millisecond / u.Duration())
				}
			}
		}
	case colString:
		ok = !repeated && c.physical == parquet.ByteArray
	case colBool:
		ok = !repeated && c.physical == parquet.Boolean
	case colStringList:
		ok = repeated && c.physical == parquet.ByteArray
	case colFloat:
		ok = !repeated && (c.physical == parquet.Float || c.physical == parquet.Double)
	}
	if !ok {
		got := c.physical.String()
		if repeated {
			got = "repeated " + got
		}
		return nil, &FileError{File: p.path, Column: name, Err: fmt.Errorf("has type %s, want %s (see docs/contract.md)", got, kind)}
	}
	return c, nil
}

// valueBufSize is how many values one ReadValues call decodes.
const valueBufSize = 4096

// eachValue calls fn for every value of a column in one row group, in
// order, page by page.
func (p *parquetFile) eachValue(rg parquet.RowGroup, c *column, buf []parquet.Value, fn func(v parquet.Value)) (err error) {
	pages := rg.ColumnChunks()[c.index].Pages()
	defer p.closePages(pages, c, &err)
	for {
		page, err := pages.ReadPage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &FileError{File: p.path, Column: c.name, Err: err}
		}
		vr := page.Values()
		for {
			n, err := vr.ReadValues(buf)
			for _, v := range buf[:n] {
				fn(v)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				parquet.Release(page)
				return &FileError{File: p.path, Column: c.name, Err: err}
			}
		}
		parquet.Release(page)
	}
}

// forEachValue calls fn for every value of a non-repeated column in one row
// group of n rows, with its row number. A column with more or fewer values
// than n fails the file: fn never sees a row number outside 0..n-1.
func (p *parquetFile) forEachValue(rg parquet.RowGroup, c *column, buf []parquet.Value, n int, fn func(row int, v parquet.Value)) error {
	row := 0
	err := p.eachValue(rg, c, buf, func(v parquet.Value) {
		if row < n {
			fn(row, v)
		}
		row++
	})
	if err == nil && row != n {
		err = &FileError{File: p.path, Column: c.name, Err: fmt.Errorf("has %d values for %d rows", row, n)}
	}
	return err
}

// int64s reads an integer or timestamp column of a row group. valid[i] is
// false where the value is null; the column may be nil (absent optional
// column), in which case every value is invalid.
func (p *parquetFile) int64s(rg parquet.RowGroup, c *column, buf []parquet.Value, vals []int64, valid []bool) error {
	if c == nil {
		clear(valid)
		return nil
	}
	if c.maxDef == 0 && c.physical == parquet.Int64 {
		return p.requiredInt64s(rg, c, vals, valid)
	}
	return p.forEachValue(rg, c, buf, len(valid), func(i int, v parquet.Value) {
		if v.IsNull() {
			vals[i], valid[i] = 0, false
			return
		}
		var x int64
		if c.physical == parquet.Int32 {
			x = int64(v.Int32())
		} else {
			x = v.Int64()
		}
		if c.kind == colTime {
			x /= c.timeDiv
		}
		vals[i], valid[i] = x, true
	})
}

// requiredInt64s is the fast path of int64s for a column that cannot hold
// nulls: pages decode straight into vals through parquet.Int64Reader, with
// no per-value boxing.
func (p *parquetFile) requiredInt64s(rg parquet.RowGroup, c *column, vals []int64, valid []bool) (err error) {
	pages := rg.ColumnChunks()[c.index].Pages()
	defer p.closePages(pages, c, &err)
	row := 0
	for {
		page, err := pages.ReadPage()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &FileError{File: p.path, Column: c.name, Err: err}
		}
		var n int
		if r, ok := page.Values().(parquet.Int64Reader); ok {
			n, err = readInt64s(r, vals[row:])
		} else { // a dictionary-encoded page (Arrow and others write them): values one by one
			n, err = readValuesInt64(page.Values(), vals[row:])
		}
		row += n
		parquet.Release(page)
		if err != nil {
			return &FileError{File: p.path, Column: c.name, Err: err}
		}
	}
	if row != len(vals) {
		return &FileError{File: p.path, Column: c.name, Err: fmt.Errorf("has %d values for %d rows", row, len(vals))}
	}
	for i := range valid {
		valid[i] = true
	}
	if c.timeDiv != 1 {
		for i := range vals {
			vals[i] /= c.timeDiv
		}
	}
	return nil
}

// readInt64s reads the values of one page into vals until the page ends;
// a page with more values than vals has room for is an error.
func readInt64s(r parquet.Int64Reader, vals []int64) (int, error) {
	row := 0
	for {
		n, err := r.ReadInt64s(vals[row:])
		row += n
		switch {
		case err == io.EOF:
			return row, nil
		case err != nil:
			return row, err
		case row == len(vals):
			if m, _ := r.ReadInt64s(make([]int64, 1)); m > 0 {
				return row, errMoreValues
			}
			return row, nil
		}
	}
}

// readValuesInt64 is readInt64s for a page without a typed reader.
func readValuesInt64(r parquet.ValueReader, vals []int64) (int, error) {
	buf := make([]parquet.Value, min(valueBufSize, len(vals)+1))
	row := 0
	for {
		n, err := r.ReadValues(buf)
		if row+n > len(vals) {
			return row, errMoreValues
		}
		for _, v := range buf[:n] {
			vals[row] = v.Int64()
			row++
		}
		if err == io.EOF {
			return row, nil
		}
		if err != nil {
			return row, err
		}
	}
}

// errMoreValues says a column chunk holds more values than its row group
// has rows.
var errMoreValues = errors.New("more values than the row group has rows")

// codes reads a string column of a row group, mapping each value through
// parse. code[i] is -1 for a null and -2 for a value parse rejects.
func (p *parquetFile) codes(rg parquet.RowGroup, c *column, buf []parquet.Value, out []int32, parse func([]byte) (int32, bool)) error {
	if c == nil {
		for i := range out {
			out[i] = -1
		}
		return nil
	}
	return p.forEachValue(rg, c, buf, len(out), func(i int, v parquet.Value) {
		switch {
		case v.IsNull():
			out[i] = -1
		default:
			code, ok := parse(v.ByteArray())
			if !ok {
				code = -2
			}
			out[i] = code
		}
	})
}

// floats reads a FLOAT or DOUBLE column; valid[i] is false for nulls, and
// for every row when the column is absent (nil).
func (p *parquetFile) floats(rg parquet.RowGroup, c *column, buf []parquet.Value, vals []float64, valid []bool) error {
	if c == nil {
		clear(valid)
		return nil
	}
	return p.forEachValue(rg, c, buf, len(valid), func(i int, v parquet.Value) {
		switch {
		case v.IsNull():
			vals[i], valid[i] = 0, false
		case c.physical == parquet.Float:
			vals[i], valid[i] = float64(v.Float()), true
		default:
			vals[i], valid[i] = v.Double(), true
		}
	})
}

// bools reads a boolean column; valid[i] is false for nulls.
func (p *parquetFile) bools(rg parquet.RowGroup, c *column, buf []parquet.Value, vals, valid []bool) error {
	if c == nil {
		clear(valid)
		return nil
	}
	return p.forEachValue(rg, c, buf, len(valid), func(i int, v parquet.Value) {
		vals[i], valid[i] = !v.IsNull() && v.Boolean(), !v.IsNull()
	})
}

// stringLists reads a list<string> column into per-row lists of codes from
// intern. Null lists and null elements read as empty.
func (p *parquetFile) stringLists(rg parquet.RowGroup, c *column, buf []parquet.Value, out [][]int32, intern func([]byte) int32) error {
	for i := range out {
		out[i] = out[i][:0]
	}
	if c == nil {
		return nil
	}
	row := -1
	return p.eachValue(rg, c, buf, func(v parquet.Value) {
		if v.RepetitionLevel() == 0 {
			row++
		}
		if row >= 0 && row < len(out) && v.DefinitionLevel() == c.maxDef && !v.IsNull() {
			out[row] = append(out[row], intern(v.ByteArray()))
		}
	})
}
