package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Table names: the directories under an input root.
const (
	TableTransactions = "transactions"
	TableInteractions = "interactions"
	TableUsers        = "users"
	TableGroups       = "groups"
	TableMemberships  = "memberships"
	TableActivities   = "activities"
	TableMerchants    = "merchants"
	TableContent      = "content"
	TableRelations    = "relations"
)

// SnapshotTables are the dimension tables; a run reads the newest partition
// at or before its date.
var SnapshotTables = []string{TableUsers, TableGroups, TableMemberships, TableActivities, TableMerchants, TableContent, TableRelations}

// SuccessMarker is the file an upstream writer puts into a partition when it
// has finished writing it. Partitions without it are not complete.
const SuccessMarker = "_SUCCESS"

// DateLayout is the layout of partition dates and of every date flag.
const DateLayout = "2006-01-02"

// ErrNoPartition says an input partition has not landed yet. A scheduler
// retries on it; the CLI exits with the "input not ready" code.
var ErrNoPartition = errors.New("input partition not ready")

// ParseDate parses a YYYY-MM-DD date as midnight UTC.
func ParseDate(s string) (time.Time, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	return t, nil
}

// PartitionDir is <root>/<table>/dt=YYYY-MM-DD.
func PartitionDir(root, table string, day time.Time) string {
	return filepath.Join(root, table, partitionName(day))
}

// partitionName is a day's partition directory's name, dt=YYYY-MM-DD.
func partitionName(day time.Time) string { return "dt=" + day.UTC().Format(DateLayout) }

// ParsePartitionName parses a directory name of the form dt=YYYY-MM-DD.
func ParsePartitionName(name string) (time.Time, error) {
	s, ok := strings.CutPrefix(name, "dt=")
	if !ok {
		return time.Time{}, fmt.Errorf("partition %q does not start with dt=", name)
	}
	return ParseDate(s)
}

// PartitionFiles lists the Parquet files of one partition of t in name
// order. It returns an error wrapping [ErrNoPartition] when the directory
// or its success marker is missing.
//
// Every entry of a partition is either read or refused, never skipped in
// silence: a name ending in .parquet (in any case) is a data file; a name
// starting with . or _ is the writer's own (_SUCCESS, _temporary, .crc
// files) and ignored, as Hive and Spark do; anything else, and any symbolic
// link, fails the run as bad input naming it.
func PartitionFiles(t Tree, dir string) ([]string, error) {
	entries, err := t.ReadDir(dir, "partition")
	if err != nil {
		return nil, err
	}
	var files []string
	marker := false
	for _, e := range entries {
		name := e.Name
		path := t.Join(dir, name)
		switch {
		case name == SuccessMarker:
			marker = true
		case strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_"):
		case e.Kind == EntryLink:
			return nil, layoutError(path, "is a symbolic link; circles reads no links inside an input tree (copy or hard-link the file instead)")
		case e.Kind != EntryFile:
			return nil, layoutError(path, "is not a regular file; a partition holds only .parquet files and the writer's own files named with a leading . or _")
		case strings.EqualFold(filepath.Ext(name), ".parquet"):
			files = append(files, path)
		default:
			return nil, layoutError(path, "is not named *.parquet; rename a data file to end in .parquet, or a writer's own file to start with . or _")
		}
	}
	if !marker {
		return nil, fmt.Errorf("%s has no %s marker: %w", dir, SuccessMarker, ErrNoPartition)
	}
	slices.Sort(files)
	return files, nil
}

// Snapshot is the partition of one snapshot table that a run reads.
type Snapshot struct {
	Table, Dir string
	Files      []string
}

// Snapshots finds, in SnapshotTables order, the partition of t that each
// snapshot table c does not declare absent is read from at date, and its
// files.
func Snapshots(t Tree, root string, c InputContract, date time.Time) ([]Snapshot, error) {
	var snaps []Snapshot
	for _, table := range SnapshotTables {
		if c.Absent(table) {
			continue
		}
		s, err := snapshot(t, root, table, date)
		if err != nil {
			return nil, err
		}
		snaps = append(snaps, s)
	}
	return snaps, nil
}

// snapshot finds the partition of t that table is read from at date, and
// its files.
func snapshot(t Tree, root, table string, date time.Time) (Snapshot, error) {
	dir, err := SnapshotDir(t, root, table, date)
	if err != nil {
		return Snapshot{}, err
	}
	files, err := PartitionFiles(t, dir)
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Table: table, Dir: dir, Files: files}, nil
}

// complete reports whether the partition dir of t has its success marker.
func complete(t Tree, dir string) (bool, error) {
	entries, err := t.ReadDir(dir, "partition")
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(entries, func(e Entry) bool { return e.Name == SuccessMarker }), nil
}

// layoutError is a problem with the input tree itself, at path: bad input.
func layoutError(path, format string, args ...any) error {
	return &FileError{File: path, Err: fmt.Errorf(format, args...)}
}

// unwrapPath drops the path an *fs.PathError repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// WindowFiles lists the files of the event table's daily partitions from
// date-days+1 through date, oldest first. Every day must be present; the
// newest day is checked first, so a run whose own day has not landed says
// so rather than naming an older gap.
func WindowFiles(t Tree, root, table string, date time.Time, days int) ([]string, error) {
	tdir := t.Join(root, table)
	if _, err := t.ReadDir(tdir, "table"); err != nil {
		return nil, err
	}
	perDay := make([][]string, days)
	for i := range days {
		files, err := PartitionFiles(t, t.Join(tdir, partitionName(date.AddDate(0, 0, -i))))
		if err != nil {
			return nil, err
		}
		perDay[days-1-i] = files
	}
	return slices.Concat(perDay...), nil
}

// SnapshotDir finds the newest partition of a snapshot table of t dated on
// or before date. When that partition has no success marker yet, it
// returns an error wrapping [ErrNoPartition] rather than an older
// snapshot.
func SnapshotDir(t Tree, root, table string, date time.Time) (string, error) {
	tdir := t.Join(root, table)
	entries, err := t.ReadDir(tdir, "table")
	if err != nil {
		return "", err
	}
	type partition struct {
		dir string
		day time.Time
	}
	var parts []partition
	for _, e := range entries {
		day, err := ParsePartitionName(e.Name)
		if err != nil || day.After(date) {
			continue
		}
		dir := t.Join(tdir, e.Name)
		switch e.Kind {
		case EntryDir:
			parts = append(parts, partition{dir, day})
		case EntryLink:
			return "", layoutError(dir, "is a symbolic link; circles reads no links inside an input tree (make the partition a directory)")
		default:
			return "", layoutError(dir, "is a file; want a partition directory")
		}
	}
	slices.SortFunc(parts, func(a, b partition) int { return b.day.Compare(a.day) }) // newest first
	for i, p := range parts {
		ok, err := complete(t, p.dir)
		if err != nil {
			return "", err
		}
		switch {
		case ok && i == 0:
			return p.dir, nil
		case ok:
			// A snapshot being written is not replaced by an older one:
			// the older may still list a block, a membership or an
			// opt-out that the newer has changed.
			return "", fmt.Errorf("%s, the newest snapshot on or before %s, has no %s marker (a run never falls back to an older snapshot): %w",
				parts[0].dir, date.Format(DateLayout), SuccessMarker, ErrNoPartition)
		}
	}
	return "", fmt.Errorf("%s has no complete partition on or before %s: %w", tdir, date.Format(DateLayout), ErrNoPartition)
}

// NewestPartition returns the date of the newest complete partition of any
// table under root: the date a tree written without a stated run date is
// current to. A tree with none is bad input.
func NewestPartition(root string) (time.Time, error) {
	var newest time.Time
	for _, table := range AllTables {
		entries, err := os.ReadDir(filepath.Join(root, table))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return time.Time{}, layoutError(filepath.Join(root, table), "cannot list the table directory (%v)", unwrapPath(err))
		}
		for _, e := range entries {
			day, err := ParsePartitionName(e.Name())
			if err != nil || !day.After(newest) {
				continue
			}
			if _, err := os.Stat(filepath.Join(root, table, e.Name(), SuccessMarker)); err == nil {
				newest = day
			}
		}
	}
	if newest.IsZero() {
		return newest, layoutError(root, "holds no complete partition of any table (<table>/dt=YYYY-MM-DD/ with %s; docs/contract.md)", SuccessMarker)
	}
	return newest, nil
}
