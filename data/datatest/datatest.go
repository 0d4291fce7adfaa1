// Package datatest builds small input worlds in code and writes them as
// real Parquet partitions, for tests. Only _test.go files import it.
package datatest

import (
	"testing"
	"time"

	"circles/data"
)

// World is an input world under construction. Add rows to its tables and
// call Write. Snapshots are written at Date; events into the daily
// partition of their time (see [data.Tables.Write]).
type World struct {
	Date time.Time // the run date
	Days int       // event partitions written, ending at Date
	data.Tables
}

// New returns an empty world for the run date, with days of partitions.
func New(date time.Time, days int) *World { return &World{Date: date, Days: days} }

// At is a time daysBefore days before the end of the run date, plus hours.
func (w *World) At(daysBefore int, hours float64) int64 {
	return w.Date.AddDate(0, 0, -daysBefore).Add(time.Duration(hours * float64(time.Hour))).UnixMilli()
}

// User adds an active adult user in city and returns its ID.
func (w *World) User(id int64, city string) int64 {
	by := int32(w.Date.Year() - 30)
	w.Users = append(w.Users, data.UserRow{UserID: id, City: city, BirthYear: &by, Status: "active"})
	return id
}

// Friend adds a friendship.
func (w *World) Friend(a, b int64) {
	w.Relations = append(w.Relations, data.RelationRow{UserID: a, OtherID: b, Kind: "friend", CreatedAtMillis: w.At(100, 0)})
}

// Group adds an active group.
func (w *World) Group(id int64, city string, topics ...string) {
	w.Groups = append(w.Groups, data.GroupRow{GroupID: id, City: city, Topics: topics, Status: "active", CreatedAtMillis: w.At(400, 0)})
}

// Member adds a membership.
func (w *World) Member(group, user int64) {
	w.Memberships = append(w.Memberships, data.MembershipRow{GroupID: group, UserID: user, JoinedAtMillis: w.At(50, 0)})
}

// Event adds an interaction with the next free event ID.
func (w *World) Event(user int64, kind string, target int64, action string, at int64) {
	w.Interactions = append(w.Interactions, data.Interaction{EventID: int64(len(w.Interactions) + 1), TimeMillis: at, UserID: user, TargetKind: kind, TargetID: target, Action: action})
}

// Pay adds a transaction with the next free ID.
func (w *World) Pay(payer, payee int64, payeeType, kind string, cents int64, ref int64, at int64) {
	t := data.Transaction{TxnID: int64(len(w.Transactions) + 1), TimeMillis: at, PayerID: payer, PayeeID: payee, PayeeType: payeeType, Kind: kind, AmountCents: cents}
	if ref != 0 {
		t.Ref = &ref
	}
	w.Transactions = append(w.Transactions, t)
}

// Write writes the world under root as partitions with success markers.
func (w *World) Write(t testing.TB, root string) {
	t.Helper()
	if err := w.Tables.Write(root, w.Date, w.Days); err != nil {
		t.Fatal(err)
	}
}
