package jobs

import (
	"math/rand/v2"
	"testing"

	"circles/data"
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
