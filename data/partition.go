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
func PartitionFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoPartition)
	}
	if err != nil {
		return nil, err
	}
	var files []string
	marker := false
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == SuccessMarker:
			marker = true
		case e.Type().IsRegular() && strings.HasSuffix(name, ".parquet") && !strings.HasPrefix(name, "."):
			files = append(files, filepath.Join(dir, name))
		}
	}
	if !marker {
		return nil, fmt.Errorf("%s has no %s marker: %w", dir, SuccessMarker, ErrNoPartition)
	}
	slices.Sort(files)
	return files, nil
}

// WindowFiles lists the files of the event table's daily partitions from
// date-days+1 through date, oldest first. Every day must be present; the
// newest day is checked first, so a run whose own day has not landed says
// so rather than naming an older gap.
func WindowFiles(root, table string, date time.Time, days int) ([]string, error) {
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
// before date that carries a success marker.
func SnapshotDir(root, table string, date time.Time) (string, error) {
	tdir := filepath.Join(root, table)
	entries, err := os.ReadDir(tdir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", tdir, ErrNoPartition)
	}
	if err != nil {
		return "", err
	}
	best := ""
	var bestDay time.Time
	for _, e := range entries {
		day, err := ParsePartitionName(e.Name())
		if err != nil || !e.IsDir() || day.After(date) {
			continue
		}
		if _, err := os.Stat(filepath.Join(tdir, e.Name(), SuccessMarker)); err != nil {
			continue
		}
		if best == "" || day.After(bestDay) {
			best, bestDay = filepath.Join(tdir, e.Name()), day
		}
	}
	if best == "" {
		return "", fmt.Errorf("%s has no complete partition on or before %s: %w", tdir, date.Format(DateLayout), ErrNoPartition)
	}
	return best, nil
}
