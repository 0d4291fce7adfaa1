package datasets

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"circles/data"
)

// ReadSummary reads the import summary of the tree at root, validating
// every field it uses; each error names the file and the field. It returns
// nil and no error when the tree has no summary: any tree written to the
// contract can be evaluated, and DeriveSummary then derives what a summary
// says from the data (docs/datasets.md documents the file).
func ReadSummary(root string) (*Summary, error) {
	path := filepath.Join(root, SummaryFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	field := func(name string, format string, args ...any) error {
		return fmt.Errorf("%s: field %s: %s", path, name, fmt.Sprintf(format, args...))
	}
	if _, err := data.ParseDate(s.Date); err != nil {
		return nil, field("date", "%v", err)
	}
	if s.WindowDays < 1 || s.WindowDays > 36500 {
		return nil, field("window_days", "%d: want 1..36500 (the days with events, ending at date)", s.WindowDays)
	}
	if s.Days < s.WindowDays {
		return nil, field("days", "%d: want at least window_days (%d)", s.Days, s.WindowDays)
	}
	if len(s.Tasks) == 0 {
		return nil, field("tasks", "empty: want one or more of %v", Tasks)
	}
	for _, t := range s.Tasks {
		if !slices.Contains(Tasks, t) {
			return nil, field("tasks", "unknown task %q: want one of %v", t, Tasks)
		}
	}
	return &s, nil
}

// Tasks lists every evaluation task.
var Tasks = []string{TaskInterests, TaskMerchantInterests, TaskFriends, TaskGroups}

// DeriveSummary derives the summary of a tree that has none from its
// tables, read as of date (the newest partition, see
// data.NewestPartition):
//   - window_days spans the days from the oldest event to date;
//   - timed says the interactions fall on more than one day, so a time
//     split means something;
//   - the tasks are those the data holds the truth for: interests when
//     users interacted with content, merchant interests when they
//     interacted with merchants, friends when there are friendships,
//     groups when some user is in two groups.
func DeriveSummary(root string, t *data.Tables, date time.Time) *Summary {
	s := &Summary{Format: "contract", Source: root, Date: date.Format(data.DateLayout), Rows: map[string]int{}}
	first := date.AddDate(0, 0, 1).UnixMilli()
	days := map[int64]bool{}
	content, merchants := false, false
	for _, e := range t.Interactions {
		first = min(first, e.TimeMillis)
		days[e.TimeMillis/86_400_000] = true
		content = content || e.TargetKind == "content"
		merchants = merchants || e.TargetKind == "merchant"
	}
	for _, x := range t.Transactions {
		first = min(first, x.TimeMillis)
	}
	s.WindowDays = max(1, int(date.AddDate(0, 0, 1).Sub(time.UnixMilli(first).UTC().Truncate(24*time.Hour)).Hours()/24))
	s.Days = max(s.WindowDays, minEventDays)
	s.Timed = len(days) > 1
	if content {
		s.Tasks = append(s.Tasks, TaskInterests)
	}
	if merchants {
		s.Tasks = append(s.Tasks, TaskMerchantInterests)
	}
	if slices.ContainsFunc(t.Relations, func(r data.RelationRow) bool { return r.Kind == "friend" }) {
		s.Tasks = append(s.Tasks, TaskFriends)
	}
	groups := map[int64]int{}
	for _, m := range t.Memberships {
		groups[m.UserID]++
	}
	for _, n := range groups {
		if n >= 2 {
			s.Tasks = append(s.Tasks, TaskGroups)
			break
		}
	}
	s.Rows[data.TableUsers], s.Rows[data.TableRelations], s.Rows[data.TableMemberships] = len(t.Users), len(t.Relations), len(t.Memberships)
	s.Rows[data.TableInteractions], s.Rows[data.TableTransactions], s.Rows[data.TableContent] = len(t.Interactions), len(t.Transactions), len(t.Content)
	s.Notes = append(s.Notes, fmt.Sprintf("no %s: derived from the data as of %s, the newest partition (window of %d days, timed %v, tasks %v)",
		SummaryFile, s.Date, s.WindowDays, s.Timed, s.Tasks))
	return s
}
