package data_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"circles/data"
)

// touch creates the files named (relative to dir), with their parents.
func touch(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// badInput checks that err is bad input naming path.
func badInput(t *testing.T, err error, path, what string) {
	t.Helper()
	var fe *data.FileError
	if !errors.As(err, &fe) || fe.File != path || !errors.Is(err, data.ErrBadInput) {
		t.Errorf("%s: err = %v, want bad input naming %s", what, err, path)
	}
}

func TestPartitionFilesReadsOrRefusesEveryEntry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	touch(t, dir, data.SuccessMarker, "b.parquet", "A.PARQUET", ".part-1.parquet.crc", "_committed", "_temporary/0/x.parquet")
	files, err := data.PartitionFiles(data.Local{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "A.PARQUET"), filepath.Join(dir, "b.parquet")}; !slices.Equal(files, want) {
		t.Errorf("files = %v, want %v (any case of .parquet is data; . and _ names are the writer's)", files, want)
	}
	for _, tc := range []struct {
		name string
		make func(t *testing.T, dir string) string // returns the path the error must name
	}{
		{"a data file that is a link", func(t *testing.T, dir string) string {
			real := t.TempDir()
			touch(t, real, "x.parquet")
			p := filepath.Join(dir, "x.parquet")
			if err := os.Symlink(filepath.Join(real, "x.parquet"), p); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"a file not named .parquet", func(t *testing.T, dir string) string {
			touch(t, dir, "part-0.snappy.parq")
			return filepath.Join(dir, "part-0.snappy.parq")
		}},
		{"a subdirectory", func(t *testing.T, dir string) string {
			if err := os.Mkdir(filepath.Join(dir, "nested"), 0o755); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "nested")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "dt=2026-11-20")
			touch(t, dir, data.SuccessMarker, "ok.parquet")
			path := tc.make(t, dir)
			_, err := data.PartitionFiles(data.Local{}, dir)
			badInput(t, err, path, tc.name)
		})
	}
}

func TestPartitionDirectoriesAreDirectories(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		make func(t *testing.T, part string)
	}{
		{"a partition that is a file", func(t *testing.T, part string) {
			touch(t, filepath.Dir(part), filepath.Base(part))
		}},
		{"a partition that is a link", func(t *testing.T, part string) {
			elsewhere := t.TempDir()
			touch(t, elsewhere, data.SuccessMarker)
			if err := os.MkdirAll(filepath.Dir(part), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(elsewhere, part); err != nil {
				t.Fatal(err)
			}
		}},
		{"a partition that is a link loop", func(t *testing.T, part string) {
			if err := os.MkdirAll(filepath.Dir(part), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(part, part); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, table := range []string{data.TableTransactions, data.TableUsers} {
				root := t.TempDir()
				part := data.PartitionDir(root, table, date)
				tc.make(t, part)
				var err error
				if table == data.TableUsers {
					_, err = data.SnapshotDir(data.Local{}, root, table, date)
				} else {
					_, err = data.WindowFiles(data.Local{}, root, table, date, 1)
				}
				badInput(t, err, part, tc.name+" ("+table+")")
			}
		})
	}
}

func TestSnapshotNeverFallsBackPastAnIncompleteOne(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	older := data.PartitionDir(root, data.TableRelations, date.AddDate(0, 0, -1))
	newest := data.PartitionDir(root, data.TableRelations, date)
	touch(t, older, data.SuccessMarker, "part.parquet")
	touch(t, newest, "part.parquet") // being written: no marker yet
	_, err := data.SnapshotDir(data.Local{}, root, data.TableRelations, date)
	if !errors.Is(err, data.ErrNoPartition) || !strings.Contains(err.Error(), newest) {
		t.Errorf("err = %v, want not ready naming %s (the older snapshot may list a block the newer withdrew, or lack one it adds)", err, newest)
	}
	touch(t, newest, data.SuccessMarker)
	if dir, err := data.SnapshotDir(data.Local{}, root, data.TableRelations, date); err != nil || dir != newest {
		t.Errorf("SnapshotDir = %q, %v; want %q once it is complete", dir, err, newest)
	}
}

func TestStructColumnFailsTheFile(t *testing.T) {
	t.Parallel()
	root, _ := smallWorld(t)
	type id struct {
		High int64 `parquet:"high"`
		Low  int64 `parquet:"low"`
	}
	type structID struct {
		UserID       id     `parquet:"user_id"`
		City         string `parquet:"city"`
		SocialOptOut bool   `parquet:"social_opt_out"`
		Status       string `parquet:"status"`
	}
	p := filepath.Join(data.PartitionDir(root, data.TableUsers, date), "part-00001.parquet")
	if err := data.WriteParquet(p, []structID{{UserID: id{High: 1, Low: 2}, City: "hangzhou", Status: "active"}}); err != nil {
		t.Fatal(err)
	}
	_, err := data.LoadDims(t.Context(), root, date)
	var fe *data.FileError
	if !errors.As(err, &fe) || fe.File != p || fe.Column != "user_id" || !errors.Is(err, data.ErrBadInput) {
		t.Errorf("err = %v, want a bad-input FileError for column user_id of %s", err, p)
	}
}

func TestUnreadablePartitionIsBadInput(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root reads every directory: nothing to refuse")
	}
	dir := filepath.Join(t.TempDir(), "dt=2026-11-20")
	touch(t, dir, data.SuccessMarker, "a.parquet")
	if err := os.Chmod(dir, 0o000); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Error(err)
		}
	})
	_, err := data.PartitionFiles(data.Local{}, dir)
	badInput(t, err, dir, "an unreadable partition")
}
