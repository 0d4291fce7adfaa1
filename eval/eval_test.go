package eval

import (
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"circles/data"
	"circles/data/datatest"
	"circles/datasets"
	"circles/quality"
)

// TestSplitTablesNeverLeaks builds tables where a pair has several rows (a
// friendship listed in both directions, repeated plays of one item) and
// checks that no row of any held-out pair stays in training, that every
// other row does, and that the validation split carved from training
// holds out nothing of the test part.
func TestSplitTablesNeverLeaks(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 5))
	tb := &data.Tables{}
	for u := range int64(60) {
		tb.Users = append(tb.Users, data.UserRow{UserID: u, City: "unknown", Status: "active"})
		for range 12 {
			v := r.Int64N(60)
			if v != u {
				tb.Relations = append(tb.Relations, data.RelationRow{UserID: u, OtherID: v, Kind: "friend"}, data.RelationRow{UserID: v, OtherID: u, Kind: "friend"})
			}
			item := r.Int64N(40)
			for k := range 1 + r.IntN(3) {
				tb.Interactions = append(tb.Interactions, data.Interaction{EventID: int64(len(tb.Interactions)), TimeMillis: int64(k), UserID: u, TargetKind: "content", TargetID: item, Action: "view"})
			}
		}
		for g := range int64(1 + u%4) {
			tb.Memberships = append(tb.Memberships, data.MembershipRow{GroupID: g, UserID: u})
		}
	}
	tasks := []string{datasets.TaskFriends, datasets.TaskInterests, datasets.TaskGroups}
	for _, byTime := range []bool{false, true} {
		train, test := splitTables(tb, tasks, byTime, 1)
		for task, s := range test {
			if len(s.Held) == 0 || len(s.Truth) == 0 {
				t.Fatalf("%s: nothing held out", task)
			}
		}
		keptRel, keptInt, keptMem := 0, 0, 0
		for _, rel := range train.Relations {
			if test[datasets.TaskFriends].Held[quality.Edge(rel.UserID, rel.OtherID)] {
				t.Errorf("held-out friendship %d–%d in training", rel.UserID, rel.OtherID)
			}
			keptRel++
		}
		for _, in := range train.Interactions {
			if test[datasets.TaskInterests].Held[quality.Pair{A: in.UserID, B: in.TargetID}] {
				t.Errorf("held-out interaction %d→%d in training", in.UserID, in.TargetID)
			}
			keptInt++
		}
		for _, m := range train.Memberships {
			if test[datasets.TaskGroups].Held[quality.Pair{A: m.UserID, B: m.GroupID}] {
				t.Errorf("held-out membership %d∈%d in training", m.UserID, m.GroupID)
			}
			keptMem++
		}
		// every row not of a held-out pair stays
		wantRel, wantInt, wantMem := 0, 0, 0
		for _, rel := range tb.Relations {
			if !test[datasets.TaskFriends].Held[quality.Edge(rel.UserID, rel.OtherID)] {
				wantRel++
			}
		}
		for _, in := range tb.Interactions {
			if !test[datasets.TaskInterests].Held[quality.Pair{A: in.UserID, B: in.TargetID}] {
				wantInt++
			}
		}
		for _, m := range tb.Memberships {
			if !test[datasets.TaskGroups].Held[quality.Pair{A: m.UserID, B: m.GroupID}] {
				wantMem++
			}
		}
		if keptRel != wantRel || keptInt != wantInt || keptMem != wantMem {
			t.Errorf("kept %d/%d/%d rows, want %d/%d/%d", keptRel, keptInt, keptMem, wantRel, wantInt, wantMem)
		}
		_, val := splitTables(train, tasks, byTime, 2)
		for task, s := range val {
			for p := range s.Held {
				if test[task].Held[p] {
					t.Errorf("%s: validation holds out test pair %v", task, p)
				}
			}
		}
		if len(tb.Interactions) == keptInt {
			t.Error("the source tables were modified or nothing was removed")
		}
	}
}

// TestFriendsOnlyTuningSkipsTheInterestGrid: on a dataset whose only task
// is friends, the interest-model grid cannot change any evaluated score,
// so tuning skips it and says so rather than "choosing" one of 24 equal
// settings.
func TestFriendsOnlyTuningSkipsTheInterestGrid(t *testing.T) {
	root := t.TempDir()
	w := datatest.New(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), 1)
	for u := int64(1); u <= 60; u++ {
		w.User(u, "hangzhou")
	}
	for u := int64(1); u <= 60; u++ {
		for v := u + 1; v <= 60; v++ {
			if u%3 == v%3 && (u+v)%4 != 0 {
				w.Friend(u, v)
			}
		}
	}
	in := filepath.Join(root, "in")
	w.Write(t, in)
	rep, err := Run(t.Context(), Config{Dataset: in, Work: filepath.Join(root, "work"), Tune: true, Seed: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || rep.Results[0].Task != datasets.TaskFriends {
		t.Fatalf("results %v, want friends only", rep.Results)
	}
	for _, tr := range rep.Tuning {
		if strings.HasPrefix(tr.Setting, "als ") {
			t.Errorf("an interest-model setting was tried: %s", tr.Setting)
		}
	}
	if !slices.ContainsFunc(rep.TuningNotes, func(n string) bool { return strings.Contains(n, "interest-model grid was skipped") }) {
		t.Errorf("tuning notes %v do not say the interest grid was skipped", rep.TuningNotes)
	}
}
