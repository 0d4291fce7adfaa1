package jobs

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"circles/data"
	"circles/pipeline"
)

// TestTableWriteKeepsNothingOfAFailedRanking: when ranking fails after
// some chunks were written, both of the table's files are gone and the
// ranking's error is returned; when it succeeds, the counts and the tally
// are of every chunk.
func TestTableWriteKeepsNothingOfAFailedRanking(t *testing.T) {
	t.Parallel()
	d := &data.Dims{}
	for u := range 10 {
		d.Users.Add(int64(100 + u))
	}
	chunks := [][]data.GroupSuggestion{
		{{UserID: 100, GroupID: 1, Rank: 1, Score: 0.5}, {UserID: 100, GroupID: 2, Rank: 2, Score: 0.25}},
		{{UserID: 103, GroupID: 1, Rank: 1, Score: 0.75}},
	}
	broken := errors.New("ranking broke")
	for _, fail := range []bool{true, false} {
		st, err := pipeline.NewStaging(t.TempDir(), time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), "t")
		if err != nil {
			t.Fatal(err)
		}
		files, tl, err := groupTable.write(context.Background(), st, d, nil, func(emit func([]data.GroupSuggestion) error) error {
			for _, c := range chunks {
				if err := emit(c); err != nil {
					return err
				}
			}
			if fail {
				return broken
			}
			return nil
		})
		if fail {
			if !errors.Is(err, broken) {
				t.Errorf("error %v, want the ranking's", err)
			}
			for _, name := range []string{groupTable.parquet, groupTable.arrow} {
				if _, serr := os.Stat(st.Path(name)); !os.IsNotExist(serr) {
					t.Errorf("%s after a failed ranking: %v, want it gone", name, serr)
				}
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if files[groupTable.parquet] != 3 || files[groupTable.arrow] != 3 {
			t.Errorf("files %v, want 3 rows in each", files)
		}
		if c := tl.coverage(10); c.users != 2 || c.perUser != 0.3 {
			t.Errorf("coverage %+v, want 2 users and 0.3 rows per eligible user", c)
		}
		rows, err := data.ReadParquet[data.GroupSuggestion](st.Path(groupTable.parquet))
		if err != nil || len(rows) != 3 || rows[2].UserID != 103 {
			t.Errorf("read back %v, %v", rows, err)
		}
	}
}
