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
	return filepath.Join(root, table, "dt="+day.UTC().Format(DateLayout))
}

// ParsePartitionName parses a directory name of the form dt=YYYY-MM-DD.
func ParsePartitionName(name string) (time.Time, error) {
	s, ok := strings.CutPrefix(name, "dt=")
	if !ok {
		return time.Time{}, fmt.Errorf("partition %q does not start with dt=", name)
	}
	return ParseDate(s)
}

// PartitionFiles lists the Parquet files of one partition in name order. It
// returns an error wrapping [ErrNoPartition] when the directory or its
// success marker is missing.
//
// Every entry of a partition is either read or refused, never skipped in
// silence: a name ending in .parquet (in any case) is a data file; a name
// starting with . or _ is the writer's own (_SUCCESS, _temporary, .crc
// files) and ignored, as Hive and Spark do; anything else, and any symbolic
// link, fails the run as bad input naming it.
func PartitionFiles(dir string) ([]string, error) {
	if err := checkDir(dir, "partition"); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, layoutError(dir, "cannot list the partition (%v); make it readable by the user circles runs as", unwrapPath(err))
	}
	var files []string
	marker := false
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case name == SuccessMarker:
			marker = true
		case strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_"):
		case e.Type()&fs.ModeSymlink != 0:
			return nil, layoutError(path, "is a symbolic link; circles reads no links inside an input tree (copy or hard-link the file instead)")
		case !e.Type().IsRegular():
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

// checkDir checks that path, a table or partition directory of an input
// tree, is a directory and not a symbolic link. A missing one wraps
// [ErrNoPartition] (it may not have landed yet); any other problem is bad
// input naming path.
func checkDir(path, what string) error {
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w", path, ErrNoPartition)
	case err != nil:
		return layoutError(path, "cannot read the %s directory (%v)", what, unwrapPath(err))
	case st.Mode()&fs.ModeSymlink != 0:
		return layoutError(path, "is a symbolic link; circles reads no links inside an input tree (make the %s a directory)", what)
	case !st.IsDir():
		return layoutError(path, "is a file; want a %s directory", what)
	}
	return nil
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
func WindowFiles(root, table string, date time.Time, days int) ([]string, error) {
	if err := checkDir(filepath.Join(root, table), "table"); err != nil {
		return nil, err
	}
	perDay := make([][]string, days)
	for i := range days {
		files, err := PartitionFiles(PartitionDir(root, table, date.AddDate(0, 0, -i)))
		if err != nil {
			return nil, err
		}
		perDay[days-1-i] = files
	}
	return slices.Concat(perDay...), nil
}

// SnapshotDir finds the newest partition of a snapshot table dated on or
// before date. When that partition has no success marker yet, it returns
// an error wrapping [ErrNoPartition] rather than an older snapshot.
func SnapshotDir(root, table string, date time.Time) (string, error) {
	tdir := filepath.Join(root, table)
	if err := checkDir(tdir, "table"); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(tdir)
	if err != nil {
		return "", layoutError(tdir, "cannot list the table directory (%v)", unwrapPath(err))
	}
	best, newest := "", ""
	var bestDay, newestDay time.Time
	for _, e := range entries {
		day, err := ParsePartitionName(e.Name())
		if err != nil || day.After(date) {
			continue
		}
		dir := filepath.Join(tdir, e.Name())
		if err := checkDir(dir, "partition"); err != nil {
			return "", err
		}
		if newest == "" || day.After(newestDay) {
			newest, newestDay = dir, day
		}
		if _, err := os.Stat(filepath.Join(dir, SuccessMarker)); err != nil {
			continue
		}
		if best == "" || day.After(bestDay) {
			best, bestDay = dir, day
		}
	}
	switch {
	case best == "":
		return "", fmt.Errorf("%s has no complete partition on or before %s: %w", tdir, date.Format(DateLayout), ErrNoPartition)
	case newest != best:
		// A snapshot being written is not replaced by an older one: the
		// older may still list a block, a membership or an opt-out that
		// the newer has changed.
		return "", fmt.Errorf("%s, the newest snapshot on or before %s, has no %s marker (a run never falls back to an older snapshot): %w",
			newest, date.Format(DateLayout), SuccessMarker, ErrNoPartition)
	}
	return best, nil
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
