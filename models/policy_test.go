package models

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"gonum.org/v1/gonum/floats"

	"circles/data"
	"circles/features"
)

func TestTopKMatchesFullSort(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(9, 9))
	for trial := range 200 {
		n, k := r.IntN(60), r.IntN(12)
		all := make([]Scored, n)
		for i := range all {
			// few distinct scores, so the ID tie-break is exercised
			all[i] = Scored{ID: int64(r.IntN(1000)), Index: int32(i), Score: float64(r.IntN(5))}
		}
		top := NewTopK(k)
		for _, s := range all {
			top.Push(s)
		}
		got := top.Sorted()
		slices.SortStableFunc(all, func(a, b Scored) int {
			return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Index, b.Index))
		})
		want := all[:min(k, n)]
		for i := range want {
			if got[i].Score != want[i].Score || got[i].ID != want[i].ID {
				t.Fatalf("trial %d: top-%d of %d differs at %d: got %+v, want %+v", trial, k, n, i, got[i], want[i])
			}
		}
		if len(got) != len(want) {
			t.Fatalf("trial %d: kept %d, want %d", trial, len(got), len(want))
		}
	}
}

// randomFeatures builds features over n users with random eligibility,
// ages, friendships, blocks, dismissals and money ties, through the real
// feature builder.
func randomFeatures(r *rand.Rand, n int) (*data.Dims, *features.Features) {
	d := &data.Dims{}
	for u := range n {
		d.Users.Add(int64(1000 + u))
		d.UserCity = append(d.UserCity, 0)
		d.UserMinor = append(d.UserMinor, r.Float64() < 0.3)
		d.UserOptOut = append(d.UserOptOut, r.Float64() < 0.1)
		st := data.StatusActive
		if r.Float64() < 0.1 {
			st = data.StatusSuspended
		}
		d.UserStatus = append(d.UserStatus, st)
	}
	d.Date = runDay
	now := runDay.AddDate(0, 0, 1).UnixMilli()
	pick := func() (int32, int32) {
		a, b := int32(r.IntN(n)), int32(r.IntN(n))
		for a == b {
			b = int32(r.IntN(n))
		}
		return a, b
	}
	for range n * 2 {
		a, b := pick()
		kind := []data.RelationKind{data.RelFriend, data.RelFriend, data.RelFriend, data.RelBlock, data.RelFamily}[r.IntN(5)]
		d.Relations = append(d.Relations, data.Relation{User: a, Other: b, Kind: kind})
	}
	var events []data.Event
	for range n {
		a, b := pick()
		act := []data.Action{data.ActDismiss, data.ActHide, data.ActReport, data.ActBlock, data.ActLike}[r.IntN(5)]
		events = append(events, data.Event{TimeMillis: now - r.Int64N(20*86_400_000), User: a, Target: b, TargetKind: data.TargetUser, Action: act})
	}
	var txns []data.Txn
	for range n {
		a, b := pick()
		txns = append(txns, data.Txn{TimeMillis: now - r.Int64N(10*86_400_000), AmountCents: 100, Payer: a, Payee: b, Kind: data.TxTransfer, PayeeType: data.PayeeUser})
	}
	p := features.DefaultParams()
	p.DismissTTLDays = 10
	f, err := features.Build(context.Background(), d, [][]data.Txn{txns}, [][]data.Event{events}, now-30*86_400_000, p)
	if err != nil {
		panic(err) // Build fails only when its context ends
	}
	return d, f
}

// TestAllowedProperties checks the policy's defining properties on random
// worlds: it is symmetric, and it never allows a pair that breaks one of
// its rules, each checked against the feature fields it reads.
func TestAllowedProperties(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	for range 20 {
		d, f := randomFeatures(r, 60)
		minor := d.UserMinor
		for u := range int32(60) {
			for c := range int32(60) {
				ok := Allowed(f, minor, u, c)
				if ok != Allowed(f, minor, c, u) {
					t.Fatalf("Allowed(%d,%d) = %v but Allowed(%d,%d) differs", u, c, ok, c, u)
				}
				if !ok {
					continue
				}
				_, info := f.Tie(u, c)
				moneyOrFamily := info.Family || info.Transfers+info.Splits+info.RedPackets+info.Funds > 0
				switch {
				case u == c:
					t.Fatalf("self allowed")
				case !f.Eligible[u] || !f.Eligible[c]:
					t.Fatalf("ineligible pair %d,%d allowed", u, c)
				case f.Friends.Has(u, c) || f.Friends.Has(c, u):
					t.Fatalf("friends %d,%d allowed", u, c)
				case f.Blocked.Has(u, c):
					t.Fatalf("blocked pair %d,%d allowed", u, c)
				case f.DismissedUsers.Has(u, c):
					t.Fatalf("dismissed pair %d,%d allowed", u, c)
				case minor[u] != minor[c] && !moneyOrFamily:
					t.Fatalf("minor–adult strangers %d,%d allowed", u, c)
				}
			}
		}
	}
}

var runDay = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// TestFriendCandidatesAreWhatRankFriendsScores checks that the rows a
// friend ranker learns from are the ones it ranks: for random weights,
// scoring FriendCandidates' features reproduces RankFriends' lists.
func TestFriendCandidatesAreWhatRankFriendsScores(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	d, f := randomFeatures(r, 80)
	in := Inputs{Dims: d, Features: f, ALS: NewALS(80, 1, 4)}
	for u := range 80 {
		in.ALS.Users.SetRow(u, []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64(), r.NormFloat64()})
	}
	p := DefaultFriendParams()
	p.MaxPerUser = 200
	var w [NumFriendFeatures]float64
	for i := range w {
		w[i] = r.Float64()*2 - 0.5
	}
	p.SetWeights(w)
	rows, err := RankFriends(t.Context(), in, p, 2)
	if err != nil {
		t.Fatal(err)
	}
	users := make([]int32, d.Users.Len())
	for i := range users {
		users[i] = int32(i)
	}
	cands, err := FriendCandidates(t.Context(), in, p, users, 2, func(c []FriendCandidate) []FriendCandidate { return c })
	if err != nil {
		t.Fatal(err)
	}
	want := map[[2]int64]float32{}
	for _, c := range cands {
		score := 0.0
		for i, x := range c.X {
			score += w[i] * x
		}
		want[[2]int64{d.Users.ID(c.User), d.Users.ID(c.Candidate)}] = float32(score)
	}
	if len(rows) != len(want) || len(rows) == 0 {
		t.Fatalf("RankFriends suggested %d pairs, FriendCandidates returned %d", len(rows), len(want))
	}
	for _, s := range rows {
		if got, ok := want[[2]int64{s.UserID, s.CandidateID}]; !ok || math.Abs(float64(got-s.Score)) > 1e-5 {
			t.Errorf("%d→%d scored %v, candidates give %v (found %v)", s.UserID, s.CandidateID, s.Score, got, ok)
		}
	}
}

// TestRankFriendsPruningKeepsTheLists checks that dropping candidates
// whose best possible score cannot reach a full list's floor changes no
// list: RankFriends with short lists must give, for every user, the best
// of all candidates FriendCandidates scores, in order, under weights of
// either sign.
func TestRankFriendsPruningKeepsTheLists(t *testing.T) {
	t.Parallel()
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 21))
		const n, k = 120, 3
		d, f := randomFeatures(r, n)
		in := Inputs{Dims: d, Features: f, ALS: NewALS(n, 1, 4), Graph: NewALS(n, n, 3)}
		for u := range n {
			in.ALS.Users.SetRow(u, []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64(), r.NormFloat64()})
			in.Graph.Users.SetRow(u, []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()})
			in.Graph.Items.SetRow(u, []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()})
		}
		p := DefaultFriendParams()
		p.MaxPerUser = k
		var w [NumFriendFeatures]float64
		for i := range w {
			w[i] = r.Float64()*4 - 1.5
		}
		p.SetWeights(w)
		rows, err := RankFriends(t.Context(), in, p, 2)
		if err != nil {
			t.Fatal(err)
		}
		users := make([]int32, n)
		for i := range users {
			users[i] = int32(i)
		}
		cands, err := FriendCandidates(t.Context(), in, p, users, 2, func(c []FriendCandidate) []FriendCandidate { return c })
		if err != nil {
			t.Fatal(err)
		}
		byUser := map[int64][]Scored{}
		for _, c := range cands {
			score := 0.0
			for i, x := range c.X {
				score += w[i] * x
			}
			id := d.Users.ID(c.User)
			byUser[id] = append(byUser[id], Scored{ID: d.Users.ID(c.Candidate), Score: score})
		}
		var want []string
		for _, id := range slices.Sorted(maps.Keys(byUser)) {
			list := byUser[id]
			slices.SortFunc(list, func(a, b Scored) int {
				if better(a, b) {
					return -1
				}
				return 1
			})
			for rank, sc := range list[:min(k, len(list))] {
				want = append(want, fmt.Sprintf("%d %d %d", id, rank+1, sc.ID))
			}
		}
		var got []string
		for _, s := range rows {
			got = append(got, fmt.Sprintf("%d %d %d", s.UserID, s.Rank, s.CandidateID))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: RankFriends lists differ from the best of all candidates:\n got %v\nwant %v", seed, got, want)
		}
	}
}

// TestFriendGraphEmbedding checks that the friend-graph embedding predicts
// missing ties inside a community above ties across communities, and that
// an opted-out user's friendships are left out of it.
func TestFriendGraphEmbedding(t *testing.T) {
	t.Parallel()
	const n = 40
	d := &data.Dims{Date: runDay}
	for u := range n {
		d.Users.Add(int64(u))
		d.UserCity, d.UserMinor, d.UserStatus = append(d.UserCity, 0), append(d.UserMinor, false), append(d.UserStatus, data.StatusActive)
		d.UserOptOut = append(d.UserOptOut, u == 39)
	}
	// two communities of 20 (by parity), every pair friends but 0–2 and 1–3
	for u := range int32(n) {
		for v := u + 1; v < n; v++ {
			if u%2 == v%2 && !(u == 0 && v == 2) && !(u == 1 && v == 3) {
				d.Relations = append(d.Relations, data.Relation{User: u, Other: v, Kind: data.RelFriend})
			}
		}
	}
	f, err := features.Build(t.Context(), d, nil, nil, runDay.UnixMilli(), features.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	g, err := TrainFriendGraph(t.Context(), d, f, DefaultFriendParams(), 2)
	if err != nil {
		t.Fatal(err)
	}
	tie := func(u, v int) float64 { return floats.Dot(g.Users.RawRowView(u), g.Items.RawRowView(v)) }
	if in, across := tie(0, 2), tie(0, 3); in <= across+0.3 {
		t.Errorf("predicted tie inside a community %.3f, across %.3f", in, across)
	}
	if x := g.Users.RawRowView(39); floats.Norm(x, 2) > 1e-9 && tie(1, 39) > 0.1 {
		t.Errorf("opted-out user 39 is embedded: tie with 1 = %.3f", tie(1, 39))
	}
}

// TestFriendFeatureNamesAreTheWeightFields: each feature's name is the
// JSON field of its weight, and SetWeights and Weights agree on positions.
func TestFriendFeatureNamesAreTheWeightFields(t *testing.T) {
	t.Parallel()
	for f := range NumFriendFeatures {
		var w [NumFriendFeatures]float64
		w[f] = 7
		var p FriendParams
		p.SetWeights(w)
		if p.Weights() != w {
			t.Errorf("feature %d: Weights() = %v after SetWeights(%v)", f, p.Weights(), w)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]float64
		if err := json.Unmarshal(b, &fields); err != nil {
			t.Fatal(err)
		}
		if fields[FriendFeatureNames[f]] != 7 {
			t.Errorf("feature %d is named %q, but setting its weight set %s", f, FriendFeatureNames[f], b)
		}
	}
}

// TestFanoutThroughHubIsTheKeySample checks the cap on a super-node's
// fan-out: through a hub with more than MaxFanout friends, its friends
// reach exactly the MaxFanout of its friends with the smallest UserKey,
// whatever the order the users came in.
func TestFanoutThroughHubIsTheKeySample(t *testing.T) {
	t.Parallel()
	const friends, fanout = 40, 10
	for _, reversed := range []bool{false, true} {
		d := &data.Dims{Date: runDay}
		ids := []int64{7} // the hub
		for i := range friends {
			ids = append(ids, int64(100+i))
		}
		if reversed {
			slices.Reverse(ids)
		}
		for _, id := range ids {
			d.Users.Add(id)
			d.UserCity = append(d.UserCity, 0)
			d.UserMinor = append(d.UserMinor, false)
			d.UserOptOut = append(d.UserOptOut, false)
			d.UserStatus = append(d.UserStatus, data.StatusActive)
		}
		hub := d.Users.Lookup(7)
		for i := range friends {
			d.Relations = append(d.Relations, data.Relation{User: hub, Other: d.Users.Lookup(int64(100 + i)), Kind: data.RelFriend})
		}
		f, err := features.Build(t.Context(), d, nil, nil, 0, features.DefaultParams())
		if err != nil {
			t.Fatal(err)
		}
		p := DefaultFriendParams()
		p.MaxFanout = fanout
		u := d.Users.Lookup(100)
		cands, err := FriendCandidates(t.Context(), Inputs{Dims: d, Features: f}, p, []int32{u}, 1, func(c []FriendCandidate) []FriendCandidate { return c })
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, c := range cands {
			got = append(got, d.Users.ID(c.Candidate))
		}
		slices.Sort(got)
		var keyed []int64
		for i := range friends {
			keyed = append(keyed, int64(100+i))
		}
		slices.SortFunc(keyed, func(a, b int64) int { return cmp.Compare(UserKey(a), UserKey(b)) })
		want := slices.DeleteFunc(slices.Clone(keyed[:fanout]), func(id int64) bool { return id == 100 })
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("reversed=%v: candidates through the hub %v, want the key sample %v", reversed, got, want)
		}
	}
}
