package data

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Txn is a validated transaction leg with dense indices. Payer is always a
// user; Payee is a user or a merchant index as PayeeType says. For refunds
// the money flows from the merchant payee back to the payer.
type Txn struct {
	TimeMillis  int64
	AmountCents int64
	Ref         int64 // links the legs of one split or fund; 0 when none
	Payer       int32
	Payee       int32
	Kind        TxKind
	PayeeType   PayeeType
}

// Event is a validated interaction with dense indices. Target indexes the
// table that TargetKind names (Dims.Contents, Groups, Activities, Users or
// Merchants).
type Event struct {
	TimeMillis int64
	User       int32
	Target     int32
	TargetKind TargetKind
	Action     Action
	// Weight scales the action: a play count or a rating. It is 1 when the
	// row has none.
	Weight float32
}

// Window is the half-open time range [StartMillis, EndMillis) of events a
// run uses.
type Window struct {
	StartMillis, EndMillis int64
}

// NewWindow is the window of the days days ending with date (inclusive).
func NewWindow(date time.Time, days int) Window {
	end := date.AddDate(0, 0, 1)
	return Window{StartMillis: end.AddDate(0, 0, -days).UnixMilli(), EndMillis: end.UnixMilli()}
}

// Batch is the result of scanning one event file: the rows that passed
// validation and their IDs (for duplicate detection in [Merge]), and the
// rows that did not. The file row number of each kept row is implicit:
// rows are kept in file order, and Skipped lists the row numbers, in
// order, of every row not kept — few, where a row number per kept row
// would cost 8 bytes an event.
type Batch[T any] struct {
	File    string
	Rows    []T
	IDs     []int64
	Skipped []int64
	Stats   TableStats
	Rejects []Reject
	next    int64 // the row number after the last kept row
}

// reserve grows the batch's slices for every row of p from row base on:
// at the first row group that is one allocation for the whole file, and
// at the others nothing, where growing per row group copied each file's
// rows several times over.
func (b *Batch[T]) reserve(p *parquetFile, base int64) {
	n := int(p.pf.NumRows() - base)
	b.Rows = slices.Grow(b.Rows, n)
	b.IDs = slices.Grow(b.IDs, n)
}

// sized returns s with length n, reusing its array when it has room.
func sized[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// keep appends the row numbered row, with its ID.
func (b *Batch[T]) keep(row int64, r T, id int64) {
	for ; b.next < row; b.next++ {
		b.Skipped = append(b.Skipped, b.next)
	}
	b.next = row + 1
	b.Rows = append(b.Rows, r)
	b.IDs = append(b.IDs, id)
}

// RowNumbers returns, called for kept rows j = 0, 1, 2, … in turn, the
// file row number of each.
func (b *Batch[T]) RowNumbers() func(j int) int64 {
	skipped := 0
	return func(j int) int64 {
		row := int64(j + skipped)
		for skipped < len(b.Skipped) && b.Skipped[skipped] <= row {
			skipped++
			row++
		}
		return row
	}
}

// Merge drops rows whose ID an earlier row already holds, reading the
// batches in the given order, and quarantines them as duplicates. It
// compacts each batch's rows in place and returns them as one chunk per
// batch, with the IDs and row numbers released: at a hundred million events
// that avoids holding every row twice. The result depends only on the order
// of batches. It is a [Merger] given every batch at once.
func Merge[T any](table string, batches []*Batch[T]) ([][]T, TableStats, []Reject) {
	n := 0
	for _, b := range batches {
		n += len(b.IDs)
	}
	m := NewMerger[T](table, len(batches), n)
	for i, b := range batches {
		m.Add(i, b)
	}
	return m.Result()
}

// A Merger is [Merge] fed as batches are scanned, in any order and from
// any goroutine: it merges each batch as soon as every earlier one is
// merged, so that a batch's IDs are released then, not after the last
// file is scanned (at a hundred million events the IDs are 0.8 GB).
type Merger[T any] struct {
	mu      sync.Mutex
	table   string
	seen    *idSet
	waiting []*Batch[T] // by index, until merged
	next    int         // the first batch not merged
	chunks  [][]T
	stats   TableStats
	rejects []Reject
}

// NewMerger returns a Merger of n batches of table, holding about rows
// rows in all (see [RowsIn]); more is slower, not wrong.
func NewMerger[T any](table string, n, rows int) *Merger[T] {
	return &Merger[T]{table: table, seen: newIDSet(rows), waiting: make([]*Batch[T], n), chunks: make([][]T, n), stats: NewStats(table)}
}

// RowsIn is the number of rows the footers of the Parquet files at paths
// declare, to size a [Merger] (as a scan sizes its batch from the same
// footer). A file whose footer cannot be read counts for nothing here;
// its scan says what is wrong with it.
func RowsIn(paths []string) int {
	n := 0
	for _, path := range paths {
		n += footerRows(path)
	}
	return n
}

func footerRows(path string) (n int) {
	defer func() {
		if recover() != nil {
			n = 0
		}
	}()
	p, err := openParquet(path)
	if err != nil {
		return 0
	}
	n = int(p.pf.NumRows())
	if p.Close() != nil {
		return 0
	}
	return n
}

// Add hands over batch i, which Add then owns, and merges every batch it
// can.
func (m *Merger[T]) Add(i int, b *Batch[T]) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.waiting[i] = b
	for ; m.next < len(m.waiting) && m.waiting[m.next] != nil; m.next++ {
		m.merge(m.next)
	}
}

func (m *Merger[T]) merge(i int) {
	b := m.waiting[i]
	m.waiting[i] = nil
	bst := b.Stats
	m.rejects = append(m.rejects, b.Rejects...)
	w := 0
	rowOf := b.RowNumbers()
	for j, id := range b.IDs {
		row := rowOf(j)
		if !m.seen.add(id) {
			m.rejects = append(m.rejects, bst.Duplicate(b.File, row))
			continue
		}
		b.Rows[w] = b.Rows[j]
		w++
	}
	m.chunks[i] = slices.Clip(b.Rows[:w])
	b.Rows, b.IDs, b.Skipped, b.Rejects = nil, nil, nil, nil
	m.stats.Add(bst)
}

// Result returns the merged rows, one chunk per batch, with the table's
// stats and rejects. Every batch must have been added.
func (m *Merger[T]) Result() ([][]T, TableStats, []Reject) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.next != len(m.waiting) {
		panic(fmt.Sprintf("data: Merger.Result with batch %d of %d not added", m.next, len(m.waiting)))
	}
	return m.chunks, m.stats, m.rejects
}

func idColumn(table string) string {
	if table == TableTransactions {
		return "txn_id"
	}
	return "event_id"
}

// classifyTime quarantines a time outside w.
func classifyTime(q *quarantine, row int64, ok bool, t int64, w Window) bool {
	switch {
	case !ok:
		q.reject(row, "time", QNull)
	case t < w.StartMillis:
		q.reject(row, "time", QOutsideWindow)
	case t >= w.EndMillis:
		q.reject(row, "time", QFuture)
	default:
		return true
	}
	return false
}

// ScanTransactions validates one transactions file against d and w. It reads
// only the columns the pipeline uses. It is safe to call concurrently for
// different files.
func ScanTransactions(path string, d *Dims, w Window) (*Batch[Txn], error) {
	b := &Batch[Txn]{File: path, Stats: NewStats(TableTransactions)}
	b.Stats.Files = []string{path}
	q := &quarantine{table: TableTransactions, file: path, stats: &b.Stats}
	specs := []spec{{"txn_id", colInt64, true}, {"time", colTime, true}, {"payer_id", colInt64, true},
		{"payee_id", colInt64, true}, {"payee_type", colString, true}, {"kind", colString, true},
		{"amount_cents", colInt64, true}, {"ref", colInt64, false}}
	parseKind := func(b []byte) (int32, bool) { k, ok := ParseTxKind(b); return int32(k), ok }
	parsePayee := func(b []byte) (int32, bool) { k, ok := ParsePayeeType(b); return int32(k), ok }
	// the column buffers are shared by the file's row groups, read one
	// after another
	buf := make([]parquet.Value, valueBufSize)
	var ids, ts, payer, payee, amount, ref []int64
	var idOK, tsOK, payerOK, payeeOK, amountOK, refOK []bool
	var ptype, kind []int32
	err := scanRowGroups(path, specs, func(p *parquetFile, rg parquet.RowGroup, base int64, c []*column) error {
		n := int(rg.NumRows())
		b.reserve(p, base)
		ids, idOK = sized(ids, n), sized(idOK, n)
		ts, tsOK = sized(ts, n), sized(tsOK, n)
		payer, payerOK = sized(payer, n), sized(payerOK, n)
		payee, payeeOK = sized(payee, n), sized(payeeOK, n)
		ptype, kind = sized(ptype, n), sized(kind, n)
		amount, amountOK = sized(amount, n), sized(amountOK, n)
		ref, refOK = sized(ref, n), sized(refOK, n)
		if err := errors.Join(
			p.int64s(rg, c[0], buf, ids, idOK),
			p.int64s(rg, c[1], buf, ts, tsOK),
			p.int64s(rg, c[2], buf, payer, payerOK),
			p.int64s(rg, c[3], buf, payee, payeeOK),
			p.codes(rg, c[4], buf, ptype, parsePayee),
			p.codes(rg, c[5], buf, kind, parseKind),
			p.int64s(rg, c[6], buf, amount, amountOK),
			p.int64s(rg, c[7], buf, ref, refOK),
		); err != nil {
			return err
		}
		for i := range n {
			row := base + int64(i)
			b.Stats.Read++
			if !idOK[i] {
				q.reject(row, "txn_id", QNull)
				continue
			}
			if !classifyTime(q, row, tsOK[i], ts[i], w) ||
				!stringCode(q, row, "payee_type", ptype[i], QUnknownEnum) ||
				!stringCode(q, row, "kind", kind[i], QUnknownEnum) {
				continue
			}
			if !payerOK[i] || !payeeOK[i] || !amountOK[i] {
				q.reject(row, firstNull([]string{"payer_id", "payee_id", "amount_cents"}, payerOK[i], payeeOK[i], amountOK[i]), QNull)
				continue
			}
			k, pt := TxKind(kind[i]), PayeeType(ptype[i])
			payerIdx := d.Users.Lookup(payer[i])
			var payeeIdx int32
			if pt == PayeeMerchant {
				payeeIdx = d.Merchants.Lookup(payee[i])
			} else {
				payeeIdx = d.Users.Lookup(payee[i])
			}
			needsRef := k == TxAASplit || k == TxFundGroup
			switch {
			case payerIdx < 0:
				q.reject(row, "payer_id", QUnknownUser)
			case payeeIdx < 0 && pt == PayeeUser:
				q.reject(row, "payee_id", QUnknownUser)
			case payeeIdx < 0:
				q.reject(row, "payee_id", QUnknownTarget)
			case (k == TxPayment || k == TxRefund) != (pt == PayeeMerchant):
				q.reject(row, "kind", QKindMismatch)
			case pt == PayeeUser && payerIdx == payeeIdx:
				q.reject(row, "payee_id", QSelf)
			case amount[i] <= 0:
				q.reject(row, "amount_cents", QBadAmount)
			case needsRef && (!refOK[i] || ref[i] == 0):
				q.reject(row, "ref", QMissingRef)
			default:
				b.Stats.Used++
				r := int64(0)
				if refOK[i] {
					r = ref[i]
				}
				b.keep(row, Txn{TimeMillis: ts[i], AmountCents: amount[i], Ref: r, Payer: payerIdx, Payee: payeeIdx, Kind: k, PayeeType: pt}, ids[i])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	b.Rejects = q.rejects
	return b, nil
}

// ScanInteractions validates one interactions file against d and w. It is
// safe to call concurrently for different files.
func ScanInteractions(path string, d *Dims, w Window) (*Batch[Event], error) {
	b := &Batch[Event]{File: path, Stats: NewStats(TableInteractions)}
	b.Stats.Files = []string{path}
	q := &quarantine{table: TableInteractions, file: path, stats: &b.Stats}
	specs := []spec{{"event_id", colInt64, true}, {"time", colTime, true}, {"user_id", colInt64, true},
		{"target_kind", colString, true}, {"target_id", colInt64, true}, {"action", colString, true},
		{"weight", colFloat, false}}
	parseTarget := func(b []byte) (int32, bool) { k, ok := ParseTargetKind(b); return int32(k), ok }
	parseAction := func(b []byte) (int32, bool) { k, ok := ParseAction(b); return int32(k), ok }
	targets := [numTargetKinds]*Index{TargetContent: &d.Contents, TargetGroup: &d.Groups, TargetActivity: &d.Activities, TargetUser: &d.Users, TargetMerchant: &d.Merchants}
	buf := make([]parquet.Value, valueBufSize) // shared by the row groups, as above
	var ids, ts, user, target []int64
	var idOK, tsOK, userOK, targetOK, weightOK []bool
	var tkind, action []int32
	var weight []float64
	err := scanRowGroups(path, specs, func(p *parquetFile, rg parquet.RowGroup, base int64, c []*column) error {
		n := int(rg.NumRows())
		b.reserve(p, base)
		ids, idOK = sized(ids, n), sized(idOK, n)
		ts, tsOK = sized(ts, n), sized(tsOK, n)
		user, userOK = sized(user, n), sized(userOK, n)
		tkind, action = sized(tkind, n), sized(action, n)
		target, targetOK = sized(target, n), sized(targetOK, n)
		weight, weightOK = sized(weight, n), sized(weightOK, n)
		if err := errors.Join(
			p.int64s(rg, c[0], buf, ids, idOK),
			p.int64s(rg, c[1], buf, ts, tsOK),
			p.int64s(rg, c[2], buf, user, userOK),
			p.codes(rg, c[3], buf, tkind, parseTarget),
			p.int64s(rg, c[4], buf, target, targetOK),
			p.codes(rg, c[5], buf, action, parseAction),
			p.floats(rg, c[6], buf, weight, weightOK),
		); err != nil {
			return err
		}
		for i := range n {
			row := base + int64(i)
			b.Stats.Read++
			if !idOK[i] {
				q.reject(row, "event_id", QNull)
				continue
			}
			if !classifyTime(q, row, tsOK[i], ts[i], w) ||
				!stringCode(q, row, "target_kind", tkind[i], QUnknownEnum) ||
				!stringCode(q, row, "action", action[i], QUnknownEnum) {
				continue
			}
			if !userOK[i] || !targetOK[i] {
				q.reject(row, firstNull([]string{"user_id", "target_id"}, userOK[i], targetOK[i]), QNull)
				continue
			}
			tk, act := TargetKind(tkind[i]), Action(action[i])
			wt := float32(1)
			if weightOK[i] {
				wt = float32(weight[i])
			}
			u := d.Users.Lookup(user[i])
			t := targets[tk].Lookup(target[i])
			switch {
			case u < 0:
				q.reject(row, "user_id", QUnknownUser)
			case t < 0 && tk == TargetUser:
				q.reject(row, "target_id", QUnknownUser)
			case t < 0:
				q.reject(row, "target_id", QUnknownTarget)
			case !actionFits(act, tk):
				q.reject(row, "action", QKindMismatch)
			case tk == TargetUser && t == u:
				q.reject(row, "target_id", QSelf)
			case !(wt > 0 && wt <= MaxWeight):
				q.reject(row, "weight", QBadWeight)
			default:
				b.Stats.Used++
				b.keep(row, Event{TimeMillis: ts[i], User: u, Target: t, TargetKind: tk, Action: act, Weight: wt}, ids[i])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	b.Rejects = q.rejects
	return b, nil
}

// actionFits reports whether an action makes sense on a target kind:
// memberships are of groups, sign-ups of activities, blocks of users.
func actionFits(a Action, k TargetKind) bool {
	switch a {
	case ActJoin, ActLeave:
		return k == TargetGroup
	case ActSignup, ActAttend:
		return k == TargetActivity
	case ActBlock:
		return k == TargetUser
	}
	return true
}
