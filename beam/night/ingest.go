package night

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"circles/data"
	"circles/jobs"
	"circles/pipeline"
)

// Ingest on Beam: one element per input file, scanned and validated by the
// local driver's own scanners (data.ScanTransactions, ScanInteractions),
// then keyed by event ID for the duplicate shuffle. Every record after the
// scan carries external IDs only.

// Tables in the order the local driver merges and reports them.
const (
	tableTxns uint8 = 1
	tableInts uint8 = 2
)

// fileTask is one event file to scan: its table, path, and its place in
// the order the local driver reads files in (duplicates keep the first).
type fileTask struct {
	Table uint8
	Path  string
	Rel   string // the path relative to the input root, as outputs name it
	Order int32
}

// rowRec is one validated event row, keyed by external IDs. A and B are the
// user and the target (interactions) or the payer and the payee
// (transactions); Kind and Sub the target kind and action, or the payment
// kind and payee type.
type rowRec struct {
	Table     uint8
	Order     int32 // the file's place in read order
	Row       int64 // the row's number in its file
	ID        int64 // event_id or txn_id
	Time      int64
	A, B      int64
	Kind, Sub uint8
	Weight    float32
	Amount    int64
	Ref       int64
}

// rejectRec is a quarantined row with its place in the order the local
// driver writes rejects.parquet in: snapshot tables first, then each event
// file's scan rejects followed by its duplicates.
type rejectRec struct {
	Table uint8 // 0 for the snapshots
	Order int32
	Class uint8 // 0 scan, 1 duplicate
	Seq   int64 // order within its class: the row, or the snapshot's index
	R     data.Reject
}

// fileStats is one file's counts before duplicates are dropped.
type fileStats struct {
	Table uint8
	Order int32
	S     data.TableStats
}

// dupCount is one duplicate found in a file.
type dupCount struct {
	Table uint8
	Order int32
}

// dimsKey names one snapshot load.
type dimsKey struct {
	input string
	date  int64
}

// dimsCache holds the validated snapshots each worker process loads once
// per input and date: the snapshot tables are broadcast to workers as
// files, the way a side input is, and every stage that looks up an
// external ID or a user's eligibility reads them. This is the scale limit
// of this driver (docs/scale-out.md): the referential checks are lookups,
// not joins.
var dimsCache sync.Map // dimsKey → *dimsEntry

type dimsEntry struct {
	once sync.Once
	d    *data.Dims
	err  error
}

// loadDims returns the snapshots of input, a local root or an object-store
// URL, at date, loading them on first use.
func loadDims(ctx context.Context, input string, date int64) (*data.Dims, error) {
	e, _ := dimsCache.LoadOrStore(dimsKey{input, date}, &dimsEntry{})
	entry := e.(*dimsEntry)
	entry.once.Do(func() {
		day := time.UnixMilli(date).UTC()
		if pipeline.IsURL(input) {
			entry.d, entry.err = loadObjectDims(ctx, input, day)
		} else {
			entry.d, entry.err = data.LoadDims(ctx, input, day)
		}
	})
	return entry.d, entry.err
}

// scanFn scans one event file against the snapshots.
type scanFn struct {
	Input     string
	Date      int64 // the run date, millis
	TxnStart  int64 // window of transactions, millis
	IntStart  int64 // window of interactions (longer: dismissals expire)
	WindowEnd int64
}

func (f *scanFn) ProcessElement(ctx context.Context, t fileTask, emit func(string, rowRec), reject func(rejectRec), stats func(fileStats)) error {
	d, err := loadDims(ctx, f.Input, f.Date)
	if err != nil {
		return err
	}
	return withLocalCopy(ctx, t.Path, func(path string) error { return f.scan(ctx, d, t, path, emit, reject, stats) })
}

// scan scans the file of t, at path on the local disk.
func (f *scanFn) scan(ctx context.Context, d *data.Dims, t fileTask, path string, emit func(string, rowRec), reject func(rejectRec), stats func(fileStats)) error {
	switch t.Table {
	case tableTxns:
		b, err := data.ScanTransactions(path, d, data.Window{StartMillis: f.TxnStart, EndMillis: f.WindowEnd})
		if err != nil {
			return err
		}
		rowOf := b.RowNumbers()
		for j, x := range b.Rows {
			r := rowRec{Table: t.Table, Order: t.Order, Row: rowOf(j), ID: b.IDs[j], Time: x.TimeMillis,
				A: d.Users.ID(x.Payer), Kind: uint8(x.Kind), Sub: uint8(x.PayeeType), Amount: x.AmountCents, Ref: x.Ref}
			if x.PayeeType == data.PayeeMerchant {
				r.B = d.Merchants.ID(x.Payee)
			} else {
				r.B = d.Users.ID(x.Payee)
			}
			emit(eventKey(t.Table, r.ID), r)
		}
		report(ctx, t, b.Stats, b.Rejects, reject, stats)
	case tableInts:
		b, err := data.ScanInteractions(path, d, data.Window{StartMillis: f.IntStart, EndMillis: f.WindowEnd})
		if err != nil {
			return err
		}
		rowOf := b.RowNumbers()
		for j, x := range b.Rows {
			r := rowRec{Table: t.Table, Order: t.Order, Row: rowOf(j), ID: b.IDs[j], Time: x.TimeMillis,
				A: d.Users.ID(x.User), B: targetID(d, x.TargetKind, x.Target), Kind: uint8(x.TargetKind), Sub: uint8(x.Action), Weight: x.Weight}
			emit(eventKey(t.Table, r.ID), r)
		}
		report(ctx, t, b.Stats, b.Rejects, reject, stats)
	default:
		return fmt.Errorf("scan: unknown table %d", t.Table)
	}
	return nil
}

// report emits a scanned file's counts and rejects, paths relative to the
// input root.
func report(ctx context.Context, t fileTask, st data.TableStats, rejects []data.Reject, reject func(rejectRec), stats func(fileStats)) {
	st.Files = []string{t.Rel}
	rowsRead.Inc(ctx, st.Read)
	rowsKept.Inc(ctx, st.Used)
	stats(fileStats{Table: t.Table, Order: t.Order, S: st})
	for _, r := range rejects {
		r.File = t.Rel
		reject(rejectRec{Table: t.Table, Order: t.Order, Class: 0, Seq: r.Row, R: r})
	}
}

// targetID is the external ID of an interaction's target.
func targetID(d *data.Dims, k data.TargetKind, i int32) int64 {
	switch k {
	case data.TargetContent:
		return d.Contents.ID(i)
	case data.TargetGroup:
		return d.Groups.ID(i)
	case data.TargetActivity:
		return d.Activities.ID(i)
	case data.TargetUser:
		return d.Users.ID(i)
	default:
		return d.Merchants.ID(i)
	}
}

// eventKey is the shuffle key of an event: its table and ID.
func eventKey(table uint8, id int64) string {
	var b [9]byte
	b[0] = table
	binary.BigEndian.PutUint64(b[1:], uint64(id))
	return string(b[:])
}

// dedupFn keeps, of the rows sharing an ID, the first in read order, and
// quarantines the others as duplicates — data.Merge's rule; the
// file's counts take them off in the summary (TableStats.Duplicate's
// arithmetic).
type dedupFn struct {
	Files map[uint8][]string // by table, the relative path of each file in read order
}

func (f *dedupFn) ProcessElement(ctx context.Context, _ string, rows func(*rowRec) bool, keep func(rowRec), reject func(rejectRec), dup func(dupCount)) {
	var first rowRec
	var rest []rowRec
	n := 0
	var r rowRec
	for rows(&r) {
		switch {
		case n == 0:
			first = r
		case r.Order < first.Order || r.Order == first.Order && r.Row < first.Row:
			rest = append(rest, first)
			first = r
		default:
			rest = append(rest, r)
		}
		n++
	}
	keep(first)
	duplicates.Inc(ctx, int64(len(rest)))
	for _, x := range rest {
		rj := data.DuplicateReject(tableName(x.Table), f.Files[x.Table][x.Order], x.Row)
		reject(rejectRec{Table: x.Table, Order: x.Order, Class: 1, Seq: x.Row, R: rj})
		dup(dupCount{Table: x.Table, Order: x.Order})
	}
}

func tableName(t uint8) string {
	if t == tableTxns {
		return data.TableTransactions
	}
	return data.TableInteractions
}

// snapshotRejectsFn emits the snapshots' own rejects, in their order.
type snapshotRejectsFn struct {
	Input string
	Date  int64
}

func (f *snapshotRejectsFn) ProcessElement(ctx context.Context, _ []byte, reject func(rejectRec)) error {
	d, err := loadDims(ctx, f.Input, f.Date)
	if err != nil {
		return err
	}
	rejects := slices.Clone(d.Rejects)
	jobs.RelativeToInput(f.Input, nil, rejects)
	for i, r := range rejects {
		reject(rejectRec{Order: 0, Seq: int64(i), R: r})
	}
	return nil
}
