package data_test

import (
	"errors"
	"io"
	"os"
	"reflect"
	"testing"
	"time"

	"circles/data"
)

// TestTablesRoundTrip writes a tree and reads it back: every row survives,
// events land in their day's partition, and every day of the window is
// complete even when it has no events.
func TestTablesRoundTrip(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	w := 2.5
	in := &data.Tables{
		Users:     []data.UserRow{{UserID: 1, City: "unknown", Status: "active"}, {UserID: 2, City: "unknown", Status: "active"}},
		Content:   []data.ContentRow{{ContentID: 7, Topics: []string{"rock"}}},
		Relations: []data.RelationRow{{UserID: 1, OtherID: 2, Kind: "friend", CreatedAtMillis: day.UnixMilli()}},
		Interactions: []data.Interaction{
			{EventID: 1, TimeMillis: day.AddDate(0, 0, -2).UnixMilli(), UserID: 1, TargetKind: "content", TargetID: 7, Action: "view", Weight: ptr(float32(w))},
			{EventID: 2, TimeMillis: day.Add(time.Hour).UnixMilli(), UserID: 2, TargetKind: "content", TargetID: 7, Action: "view"},
		},
	}
	if err := in.Write(root, day, 4); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		files, err := data.PartitionFiles(data.Local{}, data.PartitionDir(root, data.TableInteractions, day.AddDate(0, 0, -i)))
		wantFiles := map[int]int{0: 1, 2: 1}[i]
		if err != nil || len(files) != wantFiles {
			t.Errorf("day -%d: files %v, err %v; want %d files", i, files, err, wantFiles)
		}
	}
	if _, err := os.Stat(data.PartitionDir(root, data.TableTransactions, day.AddDate(0, 0, -3))); err != nil {
		t.Errorf("first empty transactions day missing: %v", err)
	}
	got, err := data.ReadTables(root, day)
	if err != nil {
		t.Fatal(err)
	}
	got.Groups, got.Memberships, got.Activities, got.Merchants, got.Transactions = nil, nil, nil, nil, nil
	if !reflect.DeepEqual(got, in) {
		t.Errorf("read back %+v\nwant %+v", got, in)
	}
}

// TestReplaceSyncedIsWholeOrNothing replaces a file, then fails a second
// replacement midway: the file keeps the first content and no temporary
// file is left.
func TestReplaceSyncedIsWholeOrNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := dir + "/report.md"
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := data.ReplaceSynced(path, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := data.ReplaceSynced(path, func(w io.Writer) error {
		if _, err := io.WriteString(w, "part"); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the writer's", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("content %q, want %q", b, "new")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file", len(entries))
	}
}
