package data

import (
	"fmt"
	"maps"
	"slices"
)

// Quarantine reasons: why an input row was not used. Every row read is
// either used or quarantined with exactly one of these, so per table
// rows_read = rows_used + sum(rows_quarantined).
const (
	QNull          = "null_value"     // a required column is null or empty
	QUnknownEnum   = "unknown_enum"   // an enum column holds a value outside the contract
	QDuplicate     = "duplicate_id"   // the row's id was already seen (first occurrence wins)
	QUnknownUser   = "unknown_user"   // a user id missing from the users snapshot
	QUnknownTarget = "unknown_target" // a group/activity/content/merchant id missing from its snapshot
	QOutsideWindow = "outside_window" // the event time is before the run's window
	QFuture        = "future_time"    // the event time is after the run date
	QBadAmount     = "bad_amount"     // amount_cents is not positive
	QMissingRef    = "missing_ref"    // an aa_split or fund_group leg without ref
	QSelf          = "self_reference" // a row that links an id to itself
	QKindMismatch  = "kind_mismatch"  // the kind does not fit the payee or target type
	QBadBirthYear  = "bad_birth_year" // birth_year outside 1900..run year
	QBadWeight     = "bad_weight"     // an interaction weight that is not in (0, MaxWeight]
)

// MaxWeight bounds an interaction's weight: larger values are not a count
// any product emits and would swamp every other signal.
const MaxWeight = 1e9

// TableStats counts what happened to one input table's rows.
type TableStats struct {
	Table       string           `json:"table"`            // the input table
	Files       []string         `json:"files"`            // files read, relative to the input root
	Read        int64            `json:"rows_read"`        // rows read
	Used        int64            `json:"rows_used"`        // rows used
	Quarantined map[string]int64 `json:"rows_quarantined"` // rows quarantined, by reason
	// Absent says the input tree declares the table absent (see
	// InputContract): it was read as empty.
	Absent bool `json:"absent,omitempty"`
}

// NewStats returns empty counts of table.
func NewStats(table string) TableStats {
	return TableStats{Table: table, Quarantined: map[string]int64{}}
}

// QuarantinedRows is the sum of rows quarantined for any reason.
func (s *TableStats) QuarantinedRows() int64 {
	var n int64
	for _, c := range s.Quarantined {
		n += c
	}
	return n
}

// BadFraction is the share of rows read that were quarantined for a reason
// other than duplication. Duplicates come from at-least-once delivery and do
// not indicate broken data, so they never fail a run.
func (s *TableStats) BadFraction() float64 {
	if s.Read == 0 {
		return 0
	}
	return float64(s.QuarantinedRows()-s.Quarantined[QDuplicate]) / float64(s.Read)
}

// Duplicate counts the row numbered row of file, used until now, as a
// duplicate of an earlier row with the same ID, and returns its reject:
// the rule of [Merge], for a driver that finds duplicates elsewhere.
func (s *TableStats) Duplicate(file string, row int64) Reject {
	s.Used--
	s.Quarantined[QDuplicate]++
	return DuplicateReject(s.Table, file, row)
}

// DuplicateReject is the reject of the row numbered row of file, in
// table, whose ID an earlier row holds.
func DuplicateReject(table, file string, row int64) Reject {
	return Reject{Table: table, File: file, Row: row, Column: idColumn(table), Reason: QDuplicate}
}

// Add adds the counts and files of o, of the same table.
func (s *TableStats) Add(o TableStats) {
	s.Files = append(s.Files, o.Files...)
	s.Read += o.Read
	s.Used += o.Used
	for _, k := range slices.Sorted(maps.Keys(o.Quarantined)) {
		s.Quarantined[k] += o.Quarantined[k]
	}
}

// TooManyBadRowsError fails a run whose share of bad rows in a table exceeds
// the configured threshold.
type TooManyBadRowsError struct {
	Table     string
	Bad, Read int64
	Max       float64
}

func (e *TooManyBadRowsError) Error() string {
	return fmt.Sprintf("table %s: %d of %d rows quarantined (%.2f%%), more than the allowed %.2f%%; see rejects.parquet in the failed run's staging directory or rerun with a higher -max-bad-row-fraction",
		e.Table, e.Bad, e.Read, 100*float64(e.Bad)/float64(max(e.Read, 1)), 100*e.Max)
}

func (e *TooManyBadRowsError) Unwrap() error { return ErrBadInput }

// CheckBadRows returns a *TooManyBadRowsError for the first table whose
// BadFraction exceeds maxFraction.
func CheckBadRows(stats []TableStats, maxFraction float64) error {
	for _, s := range stats {
		if s.BadFraction() > maxFraction {
			return &TooManyBadRowsError{Table: s.Table, Bad: s.QuarantinedRows() - s.Quarantined[QDuplicate], Read: s.Read, Max: maxFraction}
		}
	}
	return nil
}

// quarantine is a per-file sink for rejected rows.
type quarantine struct {
	table, file string
	stats       *TableStats
	rejects     []Reject
}

func (q *quarantine) reject(row int64, column, reason string) {
	q.stats.Quarantined[reason]++
	q.rejects = append(q.rejects, Reject{Table: q.table, File: q.file, Row: row, Column: column, Reason: reason})
}
