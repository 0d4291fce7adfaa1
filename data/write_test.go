package data_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"

	"circles/data"
)

// TestWrittenFilesDescribeThemselves: every file carries the schema
// version in its key-value metadata, a sorted row type declares its order
// in every row group's sorting_columns, rows stay in the order given, and
// large files are split into row groups of RowsPerRowGroup.
func TestWrittenFilesDescribeThemselves(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := data.RowsPerRowGroup + 10
	rows := make([]data.GroupSuggestion, n)
	for i := range rows {
		rows[i] = data.GroupSuggestion{UserID: int64(i / 3), GroupID: int64(n - i), Rank: int32(i%3 + 1), Score: float32(3 - i%3)}
	}
	path := filepath.Join(dir, "groups.parquet")
	if err := data.WriteParquet(path, rows); err != nil {
		t.Fatal(err)
	}
	rejects := filepath.Join(dir, "rejects.parquet")
	if err := data.WriteParquet(rejects, []data.Reject{{Table: "users", File: "users/x.parquet", Row: 1, Column: "city", Reason: "missing_value"}}); err != nil {
		t.Fatal(err)
	}
	open := func(path string) *parquet.File {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := f.Close(); err != nil {
				t.Error(err)
			}
		})
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		return pf
	}
	pf := open(path)
	if v, ok := pf.Lookup(data.SchemaVersionKey); !ok || v != data.SchemaVersion {
		t.Errorf("%s = %q (%v), want %q", data.SchemaVersionKey, v, ok, data.SchemaVersion)
	}
	if got := len(pf.RowGroups()); got != 2 {
		t.Errorf("%d rows in %d row groups, want 2 of at most %d", n, got, data.RowsPerRowGroup)
	}
	for i, rg := range pf.RowGroups() {
		var cols []string
		for _, c := range rg.SortingColumns() {
			if c.Descending() {
				t.Errorf("row group %d: %v descending", i, c.Path())
			}
			cols = append(cols, c.Path()...)
		}
		if want := (data.GroupSuggestion{}).SortedBy(); !slices.Equal(cols, want) {
			t.Errorf("row group %d sorting columns %v, want %v", i, cols, want)
		}
	}
	back, err := data.ReadParquet[data.GroupSuggestion](path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(back, rows, func(a, b data.GroupSuggestion) bool {
		return a.UserID == b.UserID && a.GroupID == b.GroupID && a.Rank == b.Rank
	}) {
		t.Error("rows came back in another order")
	}
	rf := open(rejects)
	if v, _ := rf.Lookup(data.SchemaVersionKey); v != data.SchemaVersion {
		t.Errorf("rejects.parquet schema version %q", v)
	}
	if cols := rf.RowGroups()[0].SortingColumns(); len(cols) != 0 {
		t.Errorf("rejects declare a sort order %v they do not have", cols)
	}
}

// TestStreamedFilesMatchWholeOnes: a table written as it arrives, in
// uneven pieces, is the file written from it whole, byte for byte, in
// both formats; an aborted one leaves nothing behind.
func TestStreamedFilesMatchWholeOnes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	n := data.RowsPerRowGroup + data.ArrowBatchRows + 17
	rows := make([]data.GroupSuggestion, n)
	for i := range rows {
		rows[i] = data.GroupSuggestion{UserID: int64(i / 3), GroupID: int64(n - i), Rank: int32(i%3 + 1), Score: float32(3 - i%3),
			Reasons: []data.Reason{{Code: data.ReasonFriendsInGroup, Count: int32(i % 7)}}}
	}
	row := func(s data.GroupSuggestion) data.SuggestionRow {
		return data.SuggestionRow{UserID: s.UserID, TargetID: s.GroupID, Rank: s.Rank, Score: s.Score, Reasons: s.Reasons}
	}
	whole, wholeArrow := filepath.Join(dir, "whole.parquet"), filepath.Join(dir, "whole.arrow")
	if err := data.WriteParquet(whole, rows); err != nil {
		t.Fatal(err)
	}
	if err := data.WriteSuggestionsArrow(wholeArrow, "group_id", nil, n, func(i int) data.SuggestionRow { return row(rows[i]) }); err != nil {
		t.Fatal(err)
	}
	streamed, streamedArrow := filepath.Join(dir, "streamed.parquet"), filepath.Join(dir, "streamed.arrow")
	pw, err := data.CreateParquet[data.GroupSuggestion](streamed)
	if err != nil {
		t.Fatal(err)
	}
	aw, err := data.CreateSuggestionsArrow(streamedArrow, "group_id", nil)
	if err != nil {
		t.Fatal(err)
	}
	for rest, size := rows, 1; len(rest) > 0; size = size*3 + 1 {
		piece := rest[:min(size, len(rest))]
		rest = rest[len(piece):]
		if err := pw.Write(piece); err != nil {
			t.Fatal(err)
		}
		for _, r := range piece {
			if err := aw.Append(row(r)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{whole, streamed}, {wholeArrow, streamedArrow}} {
		a, errA := os.ReadFile(pair[0])
		b, errB := os.ReadFile(pair[1])
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if !slices.Equal(a, b) {
			t.Errorf("%s (%d bytes) differs from %s (%d bytes)", pair[1], len(b), pair[0], len(a))
		}
	}

	abandoned, abandonedArrow := filepath.Join(dir, "abandoned.parquet"), filepath.Join(dir, "abandoned.arrow")
	pw, err = data.CreateParquet[data.GroupSuggestion](abandoned)
	if err != nil {
		t.Fatal(err)
	}
	aw, err = data.CreateSuggestionsArrow(abandonedArrow, "group_id", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pw.Write(rows[:10]); err != nil {
		t.Fatal(err)
	}
	if err := aw.Append(row(rows[0])); err != nil {
		t.Fatal(err)
	}
	if err := pw.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := aw.Abort(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{abandoned, abandonedArrow} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after Abort: %v, want it gone", p, err)
		}
	}
	if _, err := data.CreateParquet[data.GroupSuggestion](whole); err == nil {
		t.Error("CreateParquet over an existing file succeeded")
	}
}
