package jobs

import (
	"context"
	"errors"
	"math"

	"circles/data"
	"circles/pipeline"
)

// tally is what the run report and the manifest's coverage need of one
// suggestions table, kept as its rows go by so that the table itself need
// not be held: rows per known user, every row's score, and the number of
// users with rows, counting those the run does not know (a base run's,
// merged).
type tally struct {
	d       *data.Dims
	perUser []int32 // by dense user index
	scores  []float32
	users   int
	last    int64
}

func newTally(d *data.Dims) *tally { return &tally{d: d, perUser: make([]int32, d.Users.Len())} }

// add counts one row; rows come grouped by user.
func (t *tally) add(user int64, score float32) {
	if len(t.scores) == 0 || user != t.last {
		t.users++
		t.last = user
	}
	t.scores = append(t.scores, score)
	if u := t.d.Users.Lookup(user); u >= 0 {
		t.perUser[u]++
	}
}

// tallyOf tallies a whole table.
func tallyOf[T any](d *data.Dims, rows []T, key func(T) (int64, float32)) *tally {
	t := newTally(d)
	for _, r := range rows {
		t.add(key(r))
	}
	return t
}

// coverage is the number of users with at least one row and the rows per
// eligible user, rounded to 3 decimals.
func (t *tally) coverage(eligible int) coverage {
	if eligible == 0 {
		return coverage{t.users, 0}
	}
	return coverage{t.users, math.Round(1000*float64(len(t.scores))/float64(eligible)) / 1000}
}

// table is one suggestions table's two files and how its rows become the
// feed export's.
type table[T any] struct {
	parquet, arrow, target string
	key                    func(T) (user int64, score float32)
	row                    func(T) data.SuggestionRow
}

// write writes the rows rank emits, in user ID order, to the table's
// Parquet file and Arrow feed export as they come, both at once (each
// writer is single-threaded), and tallies them. Only one chunk of rows is
// live at a time. On any error both files are removed.
func (tb table[T]) write(ctx context.Context, st *pipeline.Staging, d *data.Dims, topics []string, rank func(emit func([]T) error) error) (written, *tally, error) {
	pw, err := data.CreateParquet[T](st.Path(tb.parquet))
	if err != nil {
		return nil, nil, err
	}
	aw, err := data.CreateSuggestionsArrow(st.Path(tb.arrow), tb.target, topics)
	if err != nil {
		return nil, nil, errors.Join(err, pw.Abort())
	}
	t := newTally(d)
	err = rank(func(rows []T) error {
		return pipeline.ForEach(ctx, 2, 2, func(ctx context.Context, i int) error {
			if i == 0 {
				return pw.Write(rows)
			}
			for _, r := range rows {
				if err := aw.Append(tb.row(r)); err != nil {
					return err
				}
				t.add(tb.key(r))
			}
			return nil
		})
	})
	if err != nil {
		return nil, nil, errors.Join(err, pw.Abort(), aw.Abort())
	}
	if err := errors.Join(pw.Close(), aw.Close()); err != nil {
		return nil, nil, err
	}
	n := int64(len(t.scores))
	return written{tb.parquet: n, tb.arrow: n}, t, nil
}
