package night

import (
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"circles/data"
	"circles/features"
	"circles/jobs"
	"circles/models"
	"circles/output"
	"circles/synth"
)

// compareGroups checks group_suggestions and activity_suggestions in two
// ways. Given the same factors (the Beam run's, read back into the local
// rankers), the local driver's lists and the Beam driver's must be the
// same lists for all but a few users, whose candidates could tie to
// rounding (the drivers sum each user's topic weights in other orders),
// with scores within scoreTolerance and the same reasons. End to end (the
// local driver's own factors) they must overlap by at least 99%. Every
// suggestion must obey the policy: an eligible user; an active group of
// the user's city, not one the user is in or has hidden; an upcoming
// activity of the user's city, not one the user signed up for or hid,
// nor of a group the user hid. Against the world's planted joins, the
// two drivers' recall must agree within 0.005.
func compareGroups(t *testing.T, in *jobs.Loaded, f *features.Features, p models.GroupParams, world, dir string, shards int, local *models.ALS, users []data.UserInterest, items []data.ItemFactor) {
	t.Helper()
	d := in.Dims
	groups := readShards[data.GroupSuggestion](t, dir, FileGroups, shards)
	acts := readShards[data.ActivitySuggestion](t, dir, FileActivities, shards)
	for _, s := range groups {
		u, g := d.Users.Lookup(s.UserID), d.Groups.Lookup(s.GroupID)
		switch {
		case u < 0 || !f.Eligible[u]:
			t.Errorf("group %d suggested to %d, who is not an eligible user", s.GroupID, s.UserID)
		case g < 0 || d.GroupStatus[g] != data.StatusActive || d.GroupCity[g] != d.UserCity[u]:
			t.Errorf("group %d suggested to %d: not an active group of the user's city", s.GroupID, s.UserID)
		case f.Members.Has(u, g) || f.HiddenItems.Has(u, f.Items.Group(g)):
			t.Errorf("group %d suggested to %d, who is in it or has hidden it", s.GroupID, s.UserID)
		}
	}
	for _, s := range acts {
		u, a := d.Users.Lookup(s.UserID), d.Activities.Lookup(s.ActivityID)
		switch {
		case u < 0 || !f.Eligible[u]:
			t.Errorf("activity %d suggested to %d, who is not an eligible user", s.ActivityID, s.UserID)
		case a < 0 || !models.Upcoming(d, a, f.NowMillis, p.HorizonDays) || d.ActivityCity[a] != d.UserCity[u]:
			t.Errorf("activity %d suggested to %d: not an upcoming activity of the user's city", s.ActivityID, s.UserID)
		case f.Signups.Has(u, a) || f.HiddenItems.Has(u, f.Items.Activity(a)) || f.HiddenItems.Has(u, f.Items.Group(d.ActivityGroup[a])):
			t.Errorf("activity %d suggested to %d, who signed up for it or hid it or its group", s.ActivityID, s.UserID)
		}
	}

	ctx := t.Context()
	k := local.Users.RawMatrix().Cols
	same := models.NewALS(d.Users.Len(), int(f.Items.N), k)
	for _, u := range users {
		row := same.Users.RawRowView(int(d.Users.Lookup(u.UserID)))
		for j, v := range u.Vector {
			row[j] = float64(v)
		}
	}
	for _, it := range items {
		var i int32
		switch it.Kind {
		case data.TargetGroup.String():
			i = f.Items.Group(d.Groups.Lookup(it.ItemID))
		case data.TargetActivity.String():
			i = f.Items.Activity(d.Activities.Lookup(it.ItemID))
		default:
			continue
		}
		row := same.Items.RawRowView(int(i))
		for j, v := range it.Vector {
			row[j] = float64(v)
		}
	}
	rank := func(als *models.ALS) (gs []data.GroupSuggestion, as []data.ActivitySuggestion) {
		mi := models.Inputs{Dims: d, Features: f, ALS: als}
		gs, err := models.RankGroups(ctx, mi, p, 0)
		if err != nil {
			t.Fatal(err)
		}
		as, err = models.RankActivities(ctx, mi, p, 0)
		if err != nil {
			t.Fatal(err)
		}
		return gs, as
	}
	givenG, givenA := rank(same)
	endG, endA := rank(local)
	fromGroup := func(s data.GroupSuggestion) ranked { return newRanked(s.UserID, s.GroupID, s.Score, s.Reasons) }
	fromAct := func(s data.ActivitySuggestion) ranked { return newRanked(s.UserID, s.ActivityID, s.Score, s.Reasons) }
	compareRanked(t, "group", mapRows(groups, fromGroup), mapRows(givenG, fromGroup), mapRows(endG, fromGroup), []string{
		data.ReasonFriendsInGroup, data.ReasonMembersAlsoJoined, data.ReasonMatchesInterest, data.ReasonActiveGroup})
	compareRanked(t, "activity", mapRows(acts, fromAct), mapRows(givenA, fromAct), mapRows(endA, fromAct), []string{
		data.ReasonFriendsGoing, data.ReasonMatchesInterest, data.ReasonPopularNearby, data.ReasonStartsSoon})

	truth, err := data.ReadParquet[synth.FutureJoin](filepath.Join(world, synth.TruthDir, "group_joins.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64][]int64{} // the planted joins the policy allows suggesting
	for _, j := range truth {
		u, g := d.Users.Lookup(j.UserID), d.Groups.Lookup(j.GroupID)
		if u >= 0 && g >= 0 && f.Eligible[u] && d.GroupStatus[g] == data.StatusActive && !f.Members.Has(u, g) && !f.HiddenItems.Has(u, f.Items.Group(g)) {
			want[j.UserID] = append(want[j.UserID], j.GroupID)
		}
	}
	rb, rl := plantedRecall(want, groups), plantedRecall(want, endG)
	if math.Abs(rb-rl) > 0.005 {
		t.Errorf("recall of the planted joins: beam %.4f, local %.4f, want within 0.005", rb, rl)
	}
	t.Logf("recall@%d of %d users' planted joins: beam %.4f, local %.4f", p.MaxPerUser, len(want), rb, rl)
}

// plantedRecall is the mean over users of the share of their planted
// joins among their suggestions.
func plantedRecall(want map[int64][]int64, got []data.GroupSuggestion) float64 {
	if len(want) == 0 {
		return 0
	}
	lists := map[int64][]int64{}
	for _, s := range got {
		lists[s.UserID] = append(lists[s.UserID], s.GroupID)
	}
	sum := 0.0
	for u, gs := range want {
		hits := 0
		for _, g := range gs {
			if slices.Contains(lists[u], g) {
				hits++
			}
		}
		sum += float64(hits) / float64(len(gs))
	}
	return sum / float64(len(want))
}

// ranked is a suggestion of any kind, for comparing; a friend's has its
// relation type and the type's probabilities.
type ranked struct {
	user, item int64
	score      float32
	reasons    string // printed
	codes      []string
	relation   string
	probs      [models.NumRelationClasses]float32
}

func newRanked(user, item int64, score float32, reasons []data.Reason) ranked {
	r := ranked{user: user, item: item, score: score, reasons: fmt.Sprint(reasons)}
	for _, x := range reasons {
		r.codes = append(r.codes, x.Code)
	}
	return r
}

func mapRows[T any](rows []T, f func(T) ranked) []ranked {
	out := make([]ranked, len(rows))
	for i, r := range rows {
		out[i] = f(r)
	}
	return out
}

func readShards[T any](t *testing.T, dir, base string, shards int) []T {
	t.Helper()
	var all []T
	for i := range shards {
		rows, err := data.ReadParquet[T](filepath.Join(dir, ShardName(base, i, shards)))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rows...)
	}
	return all
}

// compareRanked compares the Beam driver's suggestions of one kind with
// the local driver's given the same factors and end to end, as
// compareGroups says; every reason code of codes must occur.
func compareRanked(t *testing.T, what string, beam, given, endToEnd []ranked, codes []string) {
	t.Helper()
	if len(given) == 0 {
		t.Fatalf("the local driver suggests no %ss; the comparison would prove nothing", what)
	}
	for _, c := range codes {
		found := false
		for _, r := range beam {
			if found = slices.Contains(r.codes, c); found {
				break
			}
		}
		if !found {
			t.Errorf("no Beam %s suggestion gives the reason %s; the comparison would not cover it", what, c)
		}
	}
	byUser := func(rows []ranked) map[int64][]ranked {
		m := map[int64][]ranked{}
		for _, r := range rows {
			m[r.user] = append(m[r.user], r)
		}
		return m
	}
	b, g, e := byUser(beam), byUser(given), byUser(endToEnd)
	differ := 0
	for u, want := range g {
		got := b[u]
		if !slices.EqualFunc(want, got, func(x, y ranked) bool { return x.item == y.item }) {
			differ++
			continue
		}
		for j := range want {
			if math.Abs(float64(want[j].score-got[j].score)) > scoreTolerance*math.Abs(float64(want[j].score)) {
				t.Errorf("user %d, %s %d: score beam %g, local %g", u, what, want[j].item, got[j].score, want[j].score)
			}
			if want[j].reasons != got[j].reasons {
				t.Errorf("user %d, %s %d: reasons beam %s, local %s", u, what, want[j].item, got[j].reasons, want[j].reasons)
			}
			if want[j].relation != got[j].relation || !slices.EqualFunc(want[j].probs[:], got[j].probs[:], func(a, b float32) bool { return math.Abs(float64(a-b)) <= probTolerance }) {
				t.Errorf("user %d, %s %d: relation beam %s %v, local %s %v", u, what, want[j].item, got[j].relation, got[j].probs, want[j].relation, want[j].probs)
			}
		}
	}
	for u := range b {
		if _, ok := g[u]; !ok {
			differ++
		}
	}
	if differ > len(g)/200 {
		t.Errorf("given the same factors, %d of %d users' %s lists differ between the drivers, want ≤ 0.5%%", differ, len(g), what)
	}
	shared, total := 0, 0
	for u, want := range e {
		in := map[int64]bool{}
		for _, s := range b[u] {
			in[s.item] = true
		}
		for _, s := range want {
			total++
			if in[s.item] {
				shared++
			}
		}
	}
	if float64(shared) < 0.99*float64(total) {
		t.Errorf("end to end, %d of the local driver's %d %s suggestions are the Beam driver's, want ≥ 99%%", shared, total, what)
	}
	t.Logf("%s suggestions: beam %d, local %d; given the same factors %d of %d users' lists differ; end to end %d of %d shared",
		what, len(beam), len(given), differ, len(g), shared, total)
}

// scoreTolerance bounds the relative difference of a suggestion's score
// between the drivers, given the same factors; probTolerance the
// difference of a relation type's probability.
const (
	scoreTolerance = 1e-5
	probTolerance  = 1e-5
)

// compareFriends checks friend_suggestions, and the relation-type model
// the manifest describes (rm), against the local ranker's and the local
// model's. The local driver trains its own friend-graph embedding, from
// the same row keys and settings, so its lists are compared as lists given
// the same factors (and so end to end); the planted friendships must be
// recalled equally by both.
func compareFriends(t *testing.T, in *jobs.Loaded, f *features.Features, p models.FriendParams, rp models.RelationParams, rm output.RelationMetrics, world, dir string, shards int) {
	t.Helper()
	d := in.Dims
	got := readShards[data.FriendSuggestion](t, dir, FileFriends, shards)
	for _, s := range got {
		u, c := d.Users.Lookup(s.UserID), d.Users.Lookup(s.CandidateID)
		if u < 0 || c < 0 || !models.Allowed(f, d.UserMinor, u, c) {
			t.Errorf("friend %d suggested to %d: the policy refuses it", s.CandidateID, s.UserID)
		}
	}
	rel, err := models.TrainRelations(t.Context(), d, f, p, rp)
	if err != nil {
		t.Fatalf("the local relation-type model: %v; the comparison needs one", err)
	}
	lm, err := jobs.RelationMetrics(rel, len(f.FriendLabels), nil)
	if err != nil {
		t.Fatal(err)
	}
	// the same examples, of which at most one may be classified otherwise,
	// its features summed in another order
	n := 0
	for _, k := range lm.Examples {
		n += k
	}
	if rm.Labels != lm.Labels || rm.Trained != lm.Trained || !maps.Equal(rm.Examples, lm.Examples) || math.Abs(rm.TrainAccuracy-lm.TrainAccuracy) > 1.5/float64(n) {
		t.Errorf("relation-type model: beam %+v, local %+v", rm, lm)
	}
	local, err := models.RankFriends(t.Context(), models.Inputs{Dims: d, Features: f, Relations: rel}, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, s := range got {
		types[s.Relation]++
	}
	if len(types) != models.NumRelationClasses {
		t.Errorf("the Beam suggestions' relation types: %v; want every type, or the comparison would not cover them", types)
	}
	from := func(s data.FriendSuggestion) ranked {
		r := newRanked(s.UserID, s.CandidateID, s.Score, s.Reasons)
		r.relation, r.probs = s.Relation, [models.NumRelationClasses]float32{s.PFamily, s.PColleague, s.PClassmate, s.PInterest}
		return r
	}
	l := mapRows(local, from)
	compareRanked(t, "friend", mapRows(got, from), l, l, []string{data.ReasonInContacts, data.ReasonMutualFriends, data.ReasonSplitBill,
		data.ReasonTransfer, data.ReasonRedPacket, data.ReasonFundGroup, data.ReasonFamily, data.ReasonSameGroup, data.ReasonSameActivity,
		data.ReasonSimilarInterest, data.ReasonMayBeFamily, data.ReasonMayBeColleagues, data.ReasonMayBeClassmates, data.ReasonMayShareCircle})
	t.Logf("relation-type model: %d labelled friendships, training accuracy beam %.4f, local %.4f; types suggested %v", rm.Labels, rm.TrainAccuracy, lm.TrainAccuracy, types)

	truth, err := data.ReadParquet[synth.FutureFriendship](filepath.Join(world, synth.TruthDir, "friendships.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64][]int64{} // the planted friendships the policy allows suggesting, both ways
	for _, x := range truth {
		u, c := d.Users.Lookup(x.UserID), d.Users.Lookup(x.FriendID)
		if u >= 0 && c >= 0 && models.Allowed(f, d.UserMinor, u, c) {
			want[x.UserID] = append(want[x.UserID], x.FriendID)
			want[x.FriendID] = append(want[x.FriendID], x.UserID)
		}
	}
	asGroups := func(fs []data.FriendSuggestion) []data.GroupSuggestion {
		out := make([]data.GroupSuggestion, len(fs))
		for i, s := range fs {
			out[i] = data.GroupSuggestion{UserID: s.UserID, GroupID: s.CandidateID}
		}
		return out
	}
	rb, rl := plantedRecall(want, asGroups(got)), plantedRecall(want, asGroups(local))
	if math.Abs(rb-rl) > 0.005 {
		t.Errorf("recall of the planted friendships: beam %.4f, local %.4f, want within 0.005", rb, rl)
	}
	t.Logf("recall@%d of %d users' planted friendships: beam %.4f, local %.4f", p.MaxPerUser, len(want), rb, rl)
}
