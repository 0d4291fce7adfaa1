package datasets

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"circles/data"
)

// delimited describes one source file.
type delimited struct {
	name   string   // file name under the source directory
	sep    byte     // field separator
	header bool     // the first line names the columns
	cols   []column // columns read, found by header name or by position
}

// column is one wanted column: any of names in a header, else position.
type column struct {
	names    []string
	pos      int
	optional bool
}

// lineReader reads one delimited file. Every data line is either passed to
// the caller or skipped with a reason counted in the summary.
type lineReader struct {
	path   string
	sum    *Summary
	maxBad float64
	lines  int // data lines read
	bad    int // data lines skipped
}

// read calls fn with the wanted fields of each data line, in cols order
// (nil for an absent optional column). fn returns "" when it used the line
// or the reason it skipped it.
func (d delimited) read(b *builder, fn func(f [][]byte) string) (err error) {
	path, sum := b.src+string(os.PathSeparator)+d.name, b.sum
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: open %s: %v; is the -src directory the %s dataset?", data.ErrBadInput, path, err, sum.Format)
	}
	defer func() { err = errors.Join(err, file.Close()) }()
	lr := &lineReader{path: path, sum: sum, maxBad: b.maxBad}
	return lr.scan(file, d, fn)
}

func (lr *lineReader) scan(r io.Reader, d delimited, fn func(f [][]byte) string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	idx := make([]int, len(d.cols))
	for i, c := range d.cols {
		idx[i] = c.pos
	}
	first := d.header
	fields := make([][]byte, 0, 8)
	out := make([][]byte, len(d.cols))
	for sc.Scan() {
		line := bytes.TrimRight(sc.Bytes(), "\r")
		fields = splitFields(fields[:0], line, d.sep)
		if first {
			first = false
			if err := lr.resolveHeader(d, fields, idx); err != nil {
				return err
			}
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		lr.lines++
		reason := ""
		for i, j := range idx {
			switch {
			case j >= 0 && j < len(fields):
				out[i] = fields[j]
			case j < 0:
				out[i] = nil
			default:
				reason = "too_few_fields"
			}
		}
		if reason == "" {
			reason = fn(out)
		}
		if reason != "" {
			lr.bad++
			lr.sum.skip(d.name, reason)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: read %s: %v", data.ErrBadInput, lr.path, err)
	}
	if lr.lines > 0 && float64(lr.bad) > lr.maxBad*float64(lr.lines) {
		return fmt.Errorf("%w: %s: %d of %d lines could not be imported (see skipped_lines); is it the %s format?", data.ErrBadInput, lr.path, lr.bad, lr.lines, lr.sum.Format)
	}
	return nil
}

// resolveHeader finds each wanted column in the header line.
func (lr *lineReader) resolveHeader(d delimited, header [][]byte, idx []int) error {
	names := make([]string, len(header))
	for i, h := range header {
		names[i] = strings.ToLower(string(bytes.TrimSpace(h)))
	}
	for i, c := range d.cols {
		idx[i] = -1
		for _, n := range c.names {
			if j := slices.Index(names, n); j >= 0 {
				idx[i] = j
				break
			}
		}
		if idx[i] < 0 && !c.optional {
			return fmt.Errorf("%w: %s: header %q has no column %s; the formats are described in docs/datasets.md", data.ErrBadInput, lr.path, strings.Join(names, ","), strings.Join(c.names, " or "))
		}
	}
	return nil
}

// splitFields splits line at sep, trimming spaces around each field.
func splitFields(dst [][]byte, line []byte, sep byte) [][]byte {
	for {
		i := bytes.IndexByte(line, sep)
		if i < 0 {
			return append(dst, bytes.TrimSpace(line))
		}
		dst = append(dst, bytes.TrimSpace(line[:i]))
		line = line[i+1:]
	}
}

func parseID(b []byte) (int64, bool) {
	v, err := strconv.ParseInt(string(b), 10, 64)
	return v, err == nil
}

// parseIDs parses the first len(ids) fields into ids and reports whether
// all of them are integers.
func parseIDs(f [][]byte, ids ...*int64) bool {
	for i, id := range ids {
		v, ok := parseID(f[i])
		if !ok {
			return false
		}
		*id = v
	}
	return true
}

func parseFloat(b []byte) (float64, bool) {
	v, err := strconv.ParseFloat(string(b), 64)
	return v, err == nil
}

// lenient decodes text of unknown encoding: UTF-8 when it is valid, else
// Latin-1 (every byte is a code point), which never fails.
func lenient(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = rune(c)
	}
	return string(rs)
}
