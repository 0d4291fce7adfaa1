package data_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"circles/data"
	"circles/data/datatest"
)

// Byte-level fuzzing of every table reader: the file of one table in a
// complete small tree is replaced by arbitrary bytes, and the reader must
// either read it (every row used or quarantined) or fail with bad input
// naming that file. A panic or an allocation the bytes do not justify
// fails the target. Seeds are real files the project's writer made; CI
// runs each target briefly (.ci/run).

// fuzzWorld is a small tree with at least one row in every table, rows
// that are used and rows that are quarantined.
func fuzzWorld(tb testing.TB, root string) {
	tb.Helper()
	w := datatest.New(date, 1)
	w.User(1, "hangzhou")
	w.User(2, "hangzhou")
	w.User(2, "chengdu") // a duplicate
	w.Friend(1, 2)
	colleague, bad := "colleague", "boss"
	w.Relations = append(w.Relations, data.RelationRow{UserID: 1, OtherID: 3, Kind: "block", CreatedAtMillis: w.At(1, 0)},
		data.RelationRow{UserID: 2, OtherID: 1, Kind: "friend", CreatedAtMillis: w.At(1, 0), Label: &colleague},
		data.RelationRow{UserID: 1, OtherID: 2, Kind: "friend", CreatedAtMillis: w.At(1, 0), Label: &bad})
	w.Group(10, "hangzhou", "hiking", "food")
	w.Member(10, 1)
	w.Activities = []data.ActivityRow{{ActivityID: 30, GroupID: 10, City: "hangzhou", StartMillis: w.At(-2, 0), Status: "active"}}
	w.Merchants = []data.MerchantRow{{MerchantID: 40, Category: "outdoor_gear", City: "hangzhou"}}
	w.Content = []data.ContentRow{{ContentID: 20, Topics: []string{"food"}}, {ContentID: 21}}
	weight := float32(3)
	w.Event(1, "content", 20, "view", w.At(0, 1))
	w.Event(2, "group", 10, "join", w.At(0, 2))
	w.Event(9, "user", 1, "block", w.At(0, 3))
	w.Interactions[0].Weight = &weight
	w.Pay(1, 40, "merchant", "payment", 1200, 0, w.At(0, 4))
	w.Pay(1, 2, "user", "aa_split", 600, 7, w.At(0, 5))
	w.Pay(2, 2, "user", "transfer", 100, 0, w.At(0, 6))
	w.Write(tb, root)
}

// fuzzTable fuzzes the reader of table. For a snapshot table the reader is
// LoadDims over the whole tree; for an event table, its scanner.
func fuzzTable(f *testing.F, table string) {
	root := f.TempDir()
	fuzzWorld(f, root)
	path := filepath.Join(data.PartitionDir(root, table, date), data.PartFile)
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	d, err := data.LoadDims(f.Context(), root, date)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		var stats []data.TableStats
		switch table {
		case data.TableTransactions:
			var bt *data.Batch[data.Txn]
			if bt, err = data.ScanTransactions(path, d, data.NewWindow(date, 1)); err == nil {
				stats = []data.TableStats{bt.Stats}
			}
		case data.TableInteractions:
			var bi *data.Batch[data.Event]
			if bi, err = data.ScanInteractions(path, d, data.NewWindow(date, 1)); err == nil {
				stats = []data.TableStats{bi.Stats}
			}
		default:
			var dd *data.Dims
			if dd, err = data.LoadDims(t.Context(), root, date); err == nil {
				stats = dd.Stats
			}
		}
		if err != nil {
			var fe *data.FileError
			if !errors.As(err, &fe) || fe.File != path || !errors.Is(err, data.ErrBadInput) {
				t.Fatalf("err = %v (%T), want bad input naming %s", err, err, path)
			}
			return
		}
		for _, s := range stats {
			if s.Read != s.Used+s.QuarantinedRows() {
				t.Fatalf("%s: read %d rows, used %d, quarantined %d", s.Table, s.Read, s.Used, s.QuarantinedRows())
			}
		}
	})
}

func FuzzReadUsers(f *testing.F)        { fuzzTable(f, data.TableUsers) }
func FuzzReadGroups(f *testing.F)       { fuzzTable(f, data.TableGroups) }
func FuzzReadMemberships(f *testing.F)  { fuzzTable(f, data.TableMemberships) }
func FuzzReadActivities(f *testing.F)   { fuzzTable(f, data.TableActivities) }
func FuzzReadMerchants(f *testing.F)    { fuzzTable(f, data.TableMerchants) }
func FuzzReadContent(f *testing.F)      { fuzzTable(f, data.TableContent) }
func FuzzReadRelations(f *testing.F)    { fuzzTable(f, data.TableRelations) }
func FuzzReadTransactions(f *testing.F) { fuzzTable(f, data.TableTransactions) }
func FuzzReadInteractions(f *testing.F) { fuzzTable(f, data.TableInteractions) }
