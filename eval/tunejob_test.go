package eval

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"circles/data"
	"circles/datasets"
	"circles/output"
	"circles/quality"
)

// The guard's rule, on random validations: tuned settings are refused
// exactly when coverage falls below 80% of the base's or the top 1% of
// candidates gain more than 5 points of the suggestions; interests are
// never refused; a refusal always says why.
func TestGuardProperties(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		v := output.TaskValidation{
			Task:   []string{datasets.TaskFriends, datasets.TaskGroups, datasets.TaskInterests}[r.IntN(3)],
			Metric: "recall@20", Tuned: r.Float64(), Base: r.Float64(),
			CoverageTuned: r.Float64(), CoverageBase: r.Float64(), Top1Tuned: r.Float64() / 4, Top1Base: r.Float64() / 4,
		}
		if r.IntN(4) == 0 { // equal concentration is not concentrating
			v.CoverageTuned, v.Top1Tuned = v.CoverageBase, v.Top1Base
		}
		ok, reason := guard(v)
		concentrates := v.CoverageTuned < 0.8*v.CoverageBase || v.Top1Tuned > v.Top1Base+0.05
		if want := v.Task == datasets.TaskInterests || !concentrates; ok != want || reason == "" {
			t.Fatalf("guard(%+v) = %v %q, want %v with a reason", v, ok, reason, want)
		}
	}
}

// The time split: what appeared from the cut on validates and leaves
// training; what was there before stays.
func TestSplitByTime(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	cut, end := day.AddDate(0, 0, -6).UnixMilli(), day.AddDate(0, 0, 1).UnixMilli()
	before, after := cut-1, cut+1
	tb := &data.Tables{
		Relations: []data.RelationRow{
			{UserID: 1, OtherID: 2, Kind: "friend", CreatedAtMillis: before},
			{UserID: 1, OtherID: 3, Kind: "friend", CreatedAtMillis: after},
			{UserID: 3, OtherID: 1, Kind: "friend", CreatedAtMillis: after}, // both directions listed
			{UserID: 2, OtherID: 4, Kind: "friend", CreatedAtMillis: after},
			{UserID: 4, OtherID: 2, Kind: "friend", CreatedAtMillis: before}, // listed earlier: not new
			{UserID: 1, OtherID: 5, Kind: "block", CreatedAtMillis: after},
			{UserID: 1, OtherID: 6, Kind: "friend", CreatedAtMillis: end}, // after the inputs' last day
		},
		Memberships: []data.MembershipRow{{GroupID: 10, UserID: 1, JoinedAtMillis: before}, {GroupID: 11, UserID: 1, JoinedAtMillis: after}},
		Interactions: []data.Interaction{
			{UserID: 2, TargetKind: "content", TargetID: 20, Action: "view", TimeMillis: before},
			{UserID: 2, TargetKind: "content", TargetID: 20, Action: "like", TimeMillis: after}, // seen before: not new
			{UserID: 2, TargetKind: "content", TargetID: 21, Action: "like", TimeMillis: after},
			{UserID: 2, TargetKind: "content", TargetID: 22, Action: "hide", TimeMillis: after}, // negative
			{UserID: 3, TargetKind: "group", TargetID: 12, Action: "join", TimeMillis: after},
		},
		Transactions: []data.Transaction{{TxnID: 1, TimeMillis: before}, {TxnID: 2, TimeMillis: after}},
	}
	train, val := splitByTime(tb, cut, end)
	want := map[string]map[int64][]int64{
		datasets.TaskFriends:   {1: {3}, 3: {1}},
		datasets.TaskGroups:    {1: {11}, 3: {12}},
		datasets.TaskInterests: {2: {21}},
	}
	for task, w := range want {
		got := val[task].Truth
		if len(got) != len(w) {
			t.Errorf("%s truth %v, want %v", task, got, w)
		}
		for u, items := range w {
			if !slices.Equal(got[u], items) {
				t.Errorf("%s truth of %d = %v, want %v", task, u, got[u], items)
			}
		}
	}
	for _, r := range train.Relations {
		if e := quality.Edge(r.UserID, r.OtherID); r.Kind == "friend" && e == quality.Edge(1, 3) {
			t.Errorf("the new friendship 1–3 is in training")
		}
	}
	if len(train.Relations) != 5 || len(train.Memberships) != 1 || len(train.Interactions) != 1 || len(train.Transactions) != 1 {
		t.Errorf("training keeps %d relations, %d memberships, %d interactions, %d transactions; want 5, 1, 1, 1",
			len(train.Relations), len(train.Memberships), len(train.Interactions), len(train.Transactions))
	}
}
