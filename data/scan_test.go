package data_test

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"circles/data"
	"circles/data/datatest"
)

var date = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// smallWorld has users 1 and 2, group 10 and content 20.
func smallWorld(t *testing.T) (string, *data.Dims) {
	t.Helper()
	w := datatest.New(date, 1)
	w.User(1, "hangzhou")
	w.User(2, "hangzhou")
	w.Group(10, "hangzhou", "hiking")
	w.Content = []data.ContentRow{{ContentID: 20, Topics: []string{"food"}}}
	root := t.TempDir()
	w.Write(t, root)
	d, err := data.LoadDims(t.Context(), root, date)
	if err != nil {
		t.Fatal(err)
	}
	return root, d
}

// driftedInteraction is how another writer might lay out the table: INT32
// user IDs, microsecond timestamps, other column order, an extra column.
type driftedInteraction struct {
	Action     string `parquet:"action"`
	Extra      string `parquet:"source_system"`
	TimeMicros int64  `parquet:"time,timestamp(microsecond)"`
	UserID     int32  `parquet:"user_id"`
	EventID    int64  `parquet:"event_id"`
	TargetID   int64  `parquet:"target_id"`
	TargetKind string `parquet:"target_kind"`
}

func TestScanToleratesSchemaDrift(t *testing.T) {
	t.Parallel()
	root, d := smallWorld(t)
	at := date.Add(9 * time.Hour)
	path := filepath.Join(root, "drift.parquet")
	rows := []driftedInteraction{{Action: "like", Extra: "x", TimeMicros: at.UnixMicro(), UserID: 2, EventID: 7, TargetID: 20, TargetKind: "content"}}
	if err := data.WriteParquet(path, rows); err != nil {
		t.Fatal(err)
	}
	b, err := data.ScanInteractions(path, d, data.NewWindow(date, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := data.Event{TimeMillis: at.UnixMilli(), User: d.Users.Lookup(2), Target: d.Contents.Lookup(20), TargetKind: data.TargetContent, Action: data.ActLike, Weight: 1}
	if len(b.Rows) != 1 || b.Rows[0] != want {
		t.Errorf("rows = %+v, want [%+v]", b.Rows, want)
	}
}

// nullableInteraction can hold nulls in columns the contract requires.
type nullableInteraction struct {
	EventID    *int64   `parquet:"event_id,optional"`
	TimeMillis *int64   `parquet:"time,optional,timestamp(millisecond)"`
	UserID     *int64   `parquet:"user_id,optional"`
	TargetKind *string  `parquet:"target_kind,optional"`
	TargetID   *int64   `parquet:"target_id,optional"`
	Action     *string  `parquet:"action,optional"`
	Weight     *float64 `parquet:"weight,optional"`
}

func ptr[T any](v T) *T { return &v }

func TestScanQuarantinesEveryBadRowWithAReason(t *testing.T) {
	t.Parallel()
	root, d := smallWorld(t)
	at := date.Add(time.Hour).UnixMilli()
	good := func() nullableInteraction {
		return nullableInteraction{ptr(int64(1)), ptr(at), ptr(int64(1)), ptr("content"), ptr(int64(20)), ptr("view"), nil}
	}
	type tc struct {
		mutate func(*nullableInteraction)
		column string
		reason string
	}
	cases := []tc{
		{func(r *nullableInteraction) {}, "", ""},
		{func(r *nullableInteraction) { r.EventID = nil }, "event_id", data.QNull},
		{func(r *nullableInteraction) { r.TimeMillis = nil }, "time", data.QNull},
		{func(r *nullableInteraction) { r.UserID = nil }, "user_id", data.QNull},
		{func(r *nullableInteraction) { r.Action = ptr("superlike") }, "action", data.QUnknownEnum},
		{func(r *nullableInteraction) { r.TargetKind = ptr("story") }, "target_kind", data.QUnknownEnum},
		{func(r *nullableInteraction) { r.UserID = ptr(int64(99)) }, "user_id", data.QUnknownUser},
		{func(r *nullableInteraction) { r.TargetID = ptr(int64(99)) }, "target_id", data.QUnknownTarget},
		{func(r *nullableInteraction) { r.TimeMillis = ptr(date.AddDate(0, 0, 2).UnixMilli()) }, "time", data.QFuture},
		{func(r *nullableInteraction) { r.TimeMillis = ptr(date.AddDate(0, 0, -5).UnixMilli()) }, "time", data.QOutsideWindow},
		{func(r *nullableInteraction) { r.Action = ptr("join") }, "action", data.QKindMismatch},
		{func(r *nullableInteraction) { r.TargetKind, r.TargetID = ptr("user"), ptr(int64(1)) }, "target_id", data.QSelf},
		{func(r *nullableInteraction) { r.Weight = ptr(-1.0) }, "weight", data.QBadWeight},
		{func(r *nullableInteraction) { r.Weight = ptr(0.0) }, "weight", data.QBadWeight},
		{func(r *nullableInteraction) { r.Weight = ptr(math.NaN()) }, "weight", data.QBadWeight},
		{func(r *nullableInteraction) {}, "event_id", data.QDuplicate}, // same event_id as the first row
	}
	var rows []nullableInteraction
	for i, c := range cases {
		r := good()
		if i != len(cases)-1 {
			r.EventID = ptr(int64(i + 1))
		}
		c.mutate(&r)
		rows = append(rows, r)
	}
	path := filepath.Join(root, "bad.parquet")
	if err := data.WriteParquet(path, rows); err != nil {
		t.Fatal(err)
	}
	b, err := data.ScanInteractions(path, d, data.NewWindow(date, 1))
	if err != nil {
		t.Fatal(err)
	}
	chunks, st, rejects := data.Merge(data.TableInteractions, []*data.Batch[data.Event]{b})
	got := chunks[0]
	if len(chunks) != 1 || len(got) != 1 || st.Used != 1 || st.Read != int64(len(cases)) || int64(len(rejects)) != st.QuarantinedRows() {
		t.Fatalf("used %d (stats %+v), %d rejects; want 1 used of %d", len(got), st, len(rejects), len(cases))
	}
	byRow := map[int64]data.Reject{}
	for _, r := range rejects {
		byRow[r.Row] = r
	}
	for i, c := range cases[1:] {
		r, ok := byRow[int64(i+1)]
		if !ok || r.Column != c.column || r.Reason != c.reason || r.File != path || r.Table != data.TableInteractions {
			t.Errorf("row %d: reject = %+v (found %v), want column %s reason %s", i+1, r, ok, c.column, c.reason)
		}
	}
}

// TestScanReadsWeights checks the optional weight column: FLOAT or DOUBLE,
// null read as 1.
func TestScanReadsWeights(t *testing.T) {
	t.Parallel()
	root, d := smallWorld(t)
	at := date.Add(time.Hour).UnixMilli()
	type floatWeight struct {
		EventID    int64    `parquet:"event_id"`
		TimeMillis int64    `parquet:"time,timestamp(millisecond)"`
		UserID     int64    `parquet:"user_id"`
		TargetKind string   `parquet:"target_kind"`
		TargetID   int64    `parquet:"target_id"`
		Action     string   `parquet:"action"`
		Weight     *float32 `parquet:"weight,optional"`
	}
	rows := []floatWeight{{1, at, 1, "content", 20, "view", ptr(float32(250))}, {2, at, 1, "content", 20, "view", nil}}
	path := filepath.Join(root, "weights.parquet")
	if err := data.WriteParquet(path, rows); err != nil {
		t.Fatal(err)
	}
	b, err := data.ScanInteractions(path, d, data.NewWindow(date, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Rows) != 2 || b.Rows[0].Weight != 250 || b.Rows[1].Weight != 1 {
		t.Errorf("rows = %+v, want weights 250 and 1", b.Rows)
	}
}

func TestLoadDimsNamesTheMissingColumn(t *testing.T) {
	t.Parallel()
	root, _ := smallWorld(t)
	type noCity struct {
		UserID int64  `parquet:"user_id"`
		Status string `parquet:"status"`
	}
	p := filepath.Join(data.PartitionDir(root, data.TableUsers, date), "part-00001.parquet")
	if err := data.WriteParquet(p, []noCity{{1, "active"}}); err != nil {
		t.Fatal(err)
	}
	_, err := data.LoadDims(t.Context(), root, date)
	var fe *data.FileError
	if !errors.As(err, &fe) || fe.File != p || fe.Column != "city" || !errors.Is(err, data.ErrBadInput) {
		t.Fatalf("err = %v, want a bad-input FileError for column city of %s", err, p)
	}
	if !strings.Contains(err.Error(), "docs/contract.md") {
		t.Errorf("error %q does not point at the contract", err)
	}
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-11-20", "2026-02-29", "dt=2026-11-20", "", "2026-13-01", "0000-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := data.ParseDate(s)
		if err != nil {
			return
		}
		if got := d.Format(data.DateLayout); got != s {
			t.Errorf("ParseDate(%q) formats back as %q", s, got)
		}
		p, err := data.ParsePartitionName("dt=" + s)
		if err != nil || !p.Equal(d) {
			t.Errorf("ParsePartitionName(dt=%s) = %v, %v", s, p, err)
		}
	})
}

// FuzzScanInteractions writes one arbitrary row as Parquet and scans it:
// the row is either used, with every field valid, or quarantined with a
// reason, and the counts reconcile.
func FuzzScanInteractions(f *testing.F) {
	f.Add(int64(1), int64(3600_000), int64(1), "content", int64(20), "view")
	f.Add(int64(2), int64(-1), int64(2), "user", int64(1), "block")
	f.Add(int64(0), int64(1<<62), int64(9), "group", int64(10), "join")
	f.Add(int64(3), int64(0), int64(1), "", int64(0), "superlike")
	w := datatest.New(date, 1)
	w.User(1, "hangzhou")
	w.User(2, "hangzhou")
	w.Group(10, "hangzhou", "hiking")
	w.Content = []data.ContentRow{{ContentID: 20, Topics: []string{"food"}}}
	root := f.TempDir()
	w.Write(f, root)
	d, err := data.LoadDims(f.Context(), root, date)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, offset, user int64, kind string, target int64, action string) {
		path := filepath.Join(t.TempDir(), "x.parquet")
		row := data.Interaction{EventID: id, TimeMillis: date.UnixMilli() + offset, UserID: user, TargetKind: kind, TargetID: target, Action: action}
		if err := data.WriteParquet(path, []data.Interaction{row}); err != nil {
			t.Skip("not writable:", err)
		}
		win := data.NewWindow(date, 1)
		b, err := data.ScanInteractions(path, d, win)
		if err != nil {
			t.Fatal(err)
		}
		if b.Stats.Read != 1 || b.Stats.Used+b.Stats.QuarantinedRows() != 1 || len(b.Rows) != int(b.Stats.Used) {
			t.Fatalf("stats %+v, %d rows", b.Stats, len(b.Rows))
		}
		if len(b.Rows) == 1 {
			e := b.Rows[0]
			_, okKind := data.ParseTargetKind([]byte(kind))
			_, okAction := data.ParseAction([]byte(action))
			if !okKind || !okAction || e.TimeMillis < win.StartMillis || e.TimeMillis >= win.EndMillis || d.Users.ID(e.User) != user {
				t.Errorf("accepted an invalid row %+v as %+v", row, e)
			}
		} else if len(b.Rejects) != 1 || b.Rejects[0].Reason == "" || b.Rejects[0].Column == "" {
			t.Errorf("rejected without a reason: %+v", b.Rejects)
		}
	})
}
