package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Tables holds a whole input tree in memory as the rows an upstream writer
// emits. Importers build one and write it; the offline evaluation reads one
// back, splits it, and writes the training part as a tree of its own. Runs
// never use it: they scan the files column-wise (scan.go).
type Tables struct {
	Users        []UserRow
	Groups       []GroupRow
	Memberships  []MembershipRow
	Activities   []ActivityRow
	Merchants    []MerchantRow
	Content      []ContentRow
	Relations    []RelationRow
	Transactions []Transaction
	Interactions []Interaction
}

// PartFile is the name of the one data file Write puts into a partition.
const PartFile = "part-00000.parquet"

// Write writes t under root as a complete input tree for a run on date
// reading days days of events: every snapshot as one partition dated date,
// and one partition per day of each event table from date-days+1 through
// date, each with its success marker. An event goes into the partition of
// its UTC day; one older than the first day goes into the first (where a
// run quarantines it as outside its window) and one later than date into
// date's. A day without events gets a marker and no data file.
func (t *Tables) Write(root string, date time.Time, days int) error {
	if days < 1 {
		return fmt.Errorf("write input tree %s: %d days of events, want ≥ 1", root, days)
	}
	snap := func(table string, write func(path string) error) error {
		dir := PartitionDir(root, table, date)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := write(filepath.Join(dir, PartFile)); err != nil {
			return err
		}
		return MarkSuccess(dir)
	}
	err := errors.Join(
		snap(TableUsers, func(p string) error { return WriteParquet(p, t.Users) }),
		snap(TableGroups, func(p string) error { return WriteParquet(p, t.Groups) }),
		snap(TableMemberships, func(p string) error { return WriteParquet(p, t.Memberships) }),
		snap(TableActivities, func(p string) error { return WriteParquet(p, t.Activities) }),
		snap(TableMerchants, func(p string) error { return WriteParquet(p, t.Merchants) }),
		snap(TableContent, func(p string) error { return WriteParquet(p, t.Content) }),
		snap(TableRelations, func(p string) error { return WriteParquet(p, t.Relations) }),
	)
	if err != nil {
		return err
	}
	first := date.AddDate(0, 0, -(days - 1))
	// dayIndex is the partition (0 = first day) of an event at ms.
	dayIndex := func(ms int64) int {
		d := int(time.UnixMilli(ms).UTC().Sub(first).Hours() / 24)
		if ms < first.UnixMilli() {
			d = 0
		}
		return min(max(d, 0), days-1)
	}
	txns := bucket(t.Transactions, days, func(r Transaction) int { return dayIndex(r.TimeMillis) })
	ints := bucket(t.Interactions, days, func(r Interaction) int { return dayIndex(r.TimeMillis) })
	for i := range days {
		day := first.AddDate(0, 0, i)
		if err := errors.Join(
			writeDay(root, TableTransactions, day, txns[i]),
			writeDay(root, TableInteractions, day, ints[i]),
		); err != nil {
			return err
		}
	}
	return nil
}

// bucket splits rows by day, keeping their order within a day.
func bucket[T any](rows []T, days int, day func(T) int) [][]T {
	out := make([][]T, days)
	for _, r := range rows {
		d := day(r)
		out[d] = append(out[d], r)
	}
	return out
}

func writeDay[T any](root, table string, day time.Time, rows []T) error {
	dir := PartitionDir(root, table, day)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if len(rows) > 0 {
		if err := WriteParquet(filepath.Join(dir, PartFile), rows); err != nil {
			return err
		}
	}
	return MarkSuccess(dir)
}

// ReadTables reads a whole input tree with the generic row reader: each
// snapshot's newest complete partition on or before date, and every
// complete partition of each event table dated on or before date. It is
// for trees of public datasets (tens of millions of rows at most), not for
// production runs.
//
// Tables the input contract declares absent read as empty.
func ReadTables(root string, date time.Time) (*Tables, error) {
	c, err := ReadInputContract(Local{}, root)
	if err != nil {
		return nil, err
	}
	t := &Tables{}
	err = errors.Join(
		readSnapshot(root, c, TableUsers, date, &t.Users),
		readSnapshot(root, c, TableGroups, date, &t.Groups),
		readSnapshot(root, c, TableMemberships, date, &t.Memberships),
		readSnapshot(root, c, TableActivities, date, &t.Activities),
		readSnapshot(root, c, TableMerchants, date, &t.Merchants),
		readSnapshot(root, c, TableContent, date, &t.Content),
		readSnapshot(root, c, TableRelations, date, &t.Relations),
		readEvents(root, c, TableTransactions, date, &t.Transactions),
		readEvents(root, c, TableInteractions, date, &t.Interactions),
	)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func readSnapshot[T any](root string, c InputContract, table string, date time.Time, out *[]T) error {
	if c.Absent(table) {
		return nil
	}
	dir, err := SnapshotDir(Local{}, root, table, date)
	if err != nil {
		return err
	}
	return readFiles(dir, out)
}

func readEvents[T any](root string, c InputContract, table string, date time.Time, out *[]T) error {
	if c.Absent(table) {
		return nil
	}
	entries, err := os.ReadDir(filepath.Join(root, table))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", filepath.Join(root, table), ErrNoPartition)
	}
	if err != nil {
		return err
	}
	var days []string
	for _, e := range entries {
		if day, err := ParsePartitionName(e.Name()); err == nil && e.IsDir() && !day.After(date) {
			days = append(days, e.Name())
		}
	}
	slices.Sort(days)
	for _, name := range days {
		if err := readFiles(filepath.Join(root, table, name), out); err != nil {
			return err
		}
	}
	return nil
}

func readFiles[T any](dir string, out *[]T) error {
	files, err := PartitionFiles(Local{}, dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		rows, err := ReadParquet[T](f)
		if err != nil {
			return fmt.Errorf("%w (%w)", err, ErrBadInput)
		}
		*out = append(*out, rows...)
	}
	return nil
}
