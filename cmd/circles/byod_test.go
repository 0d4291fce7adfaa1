package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"circles/data"
	"circles/datasets"
	"circles/eval"
)

// arrowTable writes one Parquet file with Arrow's writer (not the
// project's), as another tool would: fill appends the rows.
func arrowTable(t *testing.T, path string, fields []arrow.Field, fill func(b *array.RecordBuilder)) {
	t.Helper()
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	fill(b)
	rec := b.NewRecordBatch()
	defer rec.Release()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), data.SuccessMarker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBringYourOwnData writes a small dataset to the contract with Arrow's
// Parquet writer, as a new user with their own tools would: users,
// friendships, content and merchants with their own topics, and three
// days of interactions on a coarse clock (every event of a day at one
// time). It has no money, groups or activities and declares them absent.
// circles run and circles eval must both work on it, eval with no
// import.json, deriving the date, the window and the tasks from the data.
func TestBringYourOwnData(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "byod")
	end := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	dt := func(table string, day time.Time) string {
		return filepath.Join(data.PartitionDir(root, table, day), "part-0.parquet")
	}
	const users = 90
	community := func(u int) int { return u % 3 }
	i64, str, ts := arrow.PrimitiveTypes.Int64, arrow.BinaryTypes.String, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	topics := arrow.ListOf(arrow.BinaryTypes.String)
	arrowTable(t, dt(data.TableUsers, end), []arrow.Field{{Name: "user_id", Type: i64}, {Name: "city", Type: str}, {Name: "social_opt_out", Type: arrow.FixedWidthTypes.Boolean}, {Name: "status", Type: str}},
		func(b *array.RecordBuilder) {
			for u := range users {
				b.Field(0).(*array.Int64Builder).Append(int64(u))
				b.Field(1).(*array.StringBuilder).Append("hangzhou")
				b.Field(2).(*array.BooleanBuilder).Append(false)
				b.Field(3).(*array.StringBuilder).Append("active")
			}
		})
	arrowTable(t, dt(data.TableRelations, end), []arrow.Field{{Name: "user_id", Type: i64}, {Name: "other_id", Type: i64}, {Name: "kind", Type: str}, {Name: "created_at", Type: ts}},
		func(b *array.RecordBuilder) {
			for u := range users {
				for v := u + 1; v < users; v++ {
					if community(u) == community(v) && (u*7+v*3)%4 == 0 {
						b.Field(0).(*array.Int64Builder).Append(int64(u))
						b.Field(1).(*array.Int64Builder).Append(int64(v))
						b.Field(2).(*array.StringBuilder).Append("friend")
						b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(end.AddDate(0, -1, 0).UnixMicro()))
					}
				}
			}
		})
	listOf := func(lb *array.ListBuilder, vals ...string) {
		lb.Append(true)
		for _, v := range vals {
			lb.ValueBuilder().(*array.StringBuilder).Append(v)
		}
	}
	arrowTable(t, dt(data.TableContent, end), []arrow.Field{{Name: "content_id", Type: i64}, {Name: "topics", Type: topics}},
		func(b *array.RecordBuilder) {
			for c := range 30 {
				b.Field(0).(*array.Int64Builder).Append(int64(1000 + c))
				listOf(b.Field(1).(*array.ListBuilder), fmt.Sprintf("genre%d", c%3))
			}
		})
	arrowTable(t, dt(data.TableMerchants, end), []arrow.Field{{Name: "merchant_id", Type: i64}, {Name: "category", Type: str}, {Name: "city", Type: str}, {Name: "topics", Type: topics}},
		func(b *array.RecordBuilder) {
			for m := range 15 {
				b.Field(0).(*array.Int64Builder).Append(int64(5000 + m))
				b.Field(1).(*array.StringBuilder).Append("restaurant")
				b.Field(2).(*array.StringBuilder).Append("hangzhou")
				listOf(b.Field(3).(*array.ListBuilder), fmt.Sprintf("cuisine%d", m%3), "food")
			}
		})
	id := int64(0)
	for day := range 3 {
		d := end.AddDate(0, 0, -day)
		arrowTable(t, dt(data.TableInteractions, d), []arrow.Field{{Name: "event_id", Type: i64}, {Name: "time", Type: ts}, {Name: "user_id", Type: i64},
			{Name: "target_kind", Type: str}, {Name: "target_id", Type: i64}, {Name: "action", Type: str}},
			func(b *array.RecordBuilder) {
				add := func(u int, kind string, target int64) {
					id++
					b.Field(0).(*array.Int64Builder).Append(id)
					b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(d.Add(12 * time.Hour).UnixMicro())) // a coarse clock
					b.Field(2).(*array.Int64Builder).Append(int64(u))
					b.Field(3).(*array.StringBuilder).Append(kind)
					b.Field(4).(*array.Int64Builder).Append(target)
					b.Field(5).(*array.StringBuilder).Append("like")
				}
				for u := range users {
					for c := range 30 {
						if c%3 == community(u) && (u+c+day)%3 != 0 {
							add(u, "content", int64(1000+c))
						}
					}
					for m := range 15 {
						if m%3 == community(u) && (u+m+day)%2 == 0 {
							add(u, "merchant", int64(5000+m))
						}
					}
				}
			})
	}
	absent := []string{data.TableTransactions, data.TableGroups, data.TableMemberships, data.TableActivities}
	contract, _ := json.Marshal(data.InputContract{AbsentTables: absent})
	if err := os.WriteFile(filepath.Join(root, data.ContractFile), contract, 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := circles(t, "run", "-input", root, "-output", out, "-date", "2026-11-20", "-window-days", "3", "-dismiss-ttl-days", "3")
	if code != 0 {
		t.Fatalf("run exited %d: %s", code, stderr)
	}
	m := readManifest(t, strings.TrimSpace(stdout))
	for _, s := range m.Inputs {
		if s.Absent != slices.Contains(absent, s.Table) {
			t.Errorf("%s: absent = %v", s.Table, s.Absent)
		}
		if s.Read != s.Used {
			t.Errorf("%s: %d rows read, %d used: a row written by Arrow was not understood", s.Table, s.Read, s.Used)
		}
	}
	if m.Suggestions.UsersWithFriends == 0 {
		t.Errorf("no friend suggestions")
	}

	report := filepath.Join(t.TempDir(), "report")
	code, _, stderr = circles(t, "eval", "-dataset", root, "-report", report, "-tune-trials", "6")
	if code != 0 {
		t.Fatalf("eval exited %d: %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(report, eval.FileJSON))
	if err != nil {
		t.Fatal(err)
	}
	var rep eval.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Import == nil || rep.Import.Format != "contract" || rep.Import.Date != "2026-11-20" || rep.Import.WindowDays != 3 || !rep.Import.Timed {
		t.Errorf("derived summary %+v", rep.Import)
	}
	var tasks []string
	for _, r := range rep.Results {
		tasks = append(tasks, r.Task)
		if r.Catalogue == 0 || len(r.Methods) < 3 {
			t.Errorf("%s: catalogue %d, %d methods", r.Task, r.Catalogue, len(r.Methods))
		}
		if isInterest := r.Task != datasets.TaskFriends; isInterest && !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "broken at random") }) {
			t.Errorf("%s: the notes do not say how ties in time were broken on a coarse clock: %v", r.Task, r.Notes)
		}
	}
	if want := []string{datasets.TaskInterests, datasets.TaskMerchantInterests, datasets.TaskFriends}; !slices.Equal(tasks, want) {
		t.Errorf("tasks %v, want %v (derived from the data)", tasks, want)
	}
	if len(rep.Tuning) > 6 || !slices.ContainsFunc(rep.TuningNotes, func(n string) bool { return strings.Contains(n, "budget of 6 trials") }) {
		t.Errorf("%d tuning trials, notes %v; want at most 6 and a note of the budget", len(rep.Tuning), rep.TuningNotes)
	}
}
