package models

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	"circles/data"
	"circles/features"
	"circles/models/f32"
	"circles/pipeline"
)

// Inputs is what the rankers read. Everything in it is read-only.
type Inputs struct {
	Dims     *data.Dims
	Features *features.Features
	ALS      *ALS
	// Graph, when not nil, is the friend-graph embedding of
	// [TrainFriendGraph]; RankFriends trains it itself when it needs one.
	Graph *ALS
	// Relations, when not nil, is the relation-type model of
	// [TrainRelations]: RankFriends gives each suggestion its type.
	Relations *RelationModel
	// Only, when not nil, restricts ranking to the users marked in it
	// (dense indices): a subset recomputation.
	Only []bool
	// Progress, when not nil, is told after each chunk of users how many
	// of all users a ranking has covered. It must be safe for concurrent
	// use.
	Progress func(done, total int)
	// ChunkUsers is how many users, in user ID order, the RankXTo
	// functions rank before handing their rows on; 0 means
	// [DefaultChunkUsers]. Smaller chunks hold fewer rows at once; the
	// rows are the same for any size.
	ChunkUsers int
}

// GroupParams tunes group and activity suggestions. Scores are sums of
// terms each in [0, 1] times its weight.
type GroupParams struct {
	MaxPerUser     int     `json:"max_per_user"`     // suggestions kept per user, 1..200
	InterestWeight float64 `json:"interest_weight"`  // collaborative interest x_u·y_g, clipped to [0, 1]
	TopicWeight    float64 `json:"topic_weight"`     // share of the user's topic weight on the group's topics
	SocialWeight   float64 `json:"social_weight"`    // 1 − exp(−friends/SocialScale), the diminishing return of social proof
	SocialScale    float64 `json:"social_scale"`     // friends at which social proof reaches 63%, > 0
	CoMemberWeight float64 `json:"co_member_weight"` // share of the members of the user's groups who are in the group, averaged over the user's groups
	DensityBonus   float64 `json:"density_bonus"`    // extra social proof when those friends know each other, 0..4
	HealthWeight   float64 `json:"health_weight"`    // size and recent activity of the group
	HorizonDays    int     `json:"horizon_days"`     // activities starting within this many days after the run date, 1..90
	MinScore       float64 `json:"min_score"`        // suggestions scoring lower are dropped, 0..10

	// Candidate generation: besides groups a friend is in and groups that
	// share members with the user's own (up to 32 per group), each user's
	// groups to score are the PerTopicCandidates healthiest groups on each of
	// the user's TopicsForCandidates strongest topics and the
	// PopularCandidates healthiest groups of the city. Activities likewise:
	// the PerTopicCandidates most signed-up upcoming activities on each of
	// those topics, the PopularCandidates most signed-up of the city, and
	// those of the user's own groups and those friends signed up for.
	TopicsForCandidates int `json:"topics_for_candidates"` // 1..32
	PerTopicCandidates  int `json:"per_topic_candidates"`  // 1..100000
	PopularCandidates   int `json:"popular_candidates"`    // 1..100000
}

// DefaultGroupParams returns production defaults. The co-membership
// weight is 3, not the 10 that BlogCatalog, the one public dataset with
// groups, chooses: at 10 the generated world's planted joins fall from
// recall@20 0.869 to 0.840 (the interest model and social proof lose
// their say), at 3 they hold (0.865) while BlogCatalog still gains
// (recall@5 0.511 to 0.529).
func DefaultGroupParams() GroupParams {
	return GroupParams{MaxPerUser: 10, InterestWeight: 3, TopicWeight: 0.6, SocialWeight: 1, SocialScale: 10, CoMemberWeight: 3, DensityBonus: 0.5, HealthWeight: 1, HorizonDays: 14, MinScore: 0.05,
		TopicsForCandidates: 3, PerTopicCandidates: 100, PopularCandidates: 100}
}

// Validate checks every field and names the first bad one.
func (p GroupParams) Validate() error {
	switch {
	case p.MaxPerUser < 1 || p.MaxPerUser > 200:
		return fmt.Errorf("groups.max_per_user = %d: want 1..200", p.MaxPerUser)
	case !(p.SocialScale > 0 && p.SocialScale <= 100):
		return fmt.Errorf("groups.social_scale = %v: want (0, 100]", p.SocialScale)
	case !(p.DensityBonus >= 0 && p.DensityBonus <= 4):
		return fmt.Errorf("groups.density_bonus = %v: want 0..4", p.DensityBonus)
	case p.HorizonDays < 1 || p.HorizonDays > 90:
		return fmt.Errorf("groups.horizon_days = %d: want 1..90", p.HorizonDays)
	case !(p.MinScore >= 0 && p.MinScore <= 10):
		return fmt.Errorf("groups.min_score = %v: want 0..10", p.MinScore)
	case p.TopicsForCandidates < 1 || p.TopicsForCandidates > 32:
		return fmt.Errorf("groups.topics_for_candidates = %d: want 1..32", p.TopicsForCandidates)
	case p.PerTopicCandidates < 1 || p.PerTopicCandidates > 100000:
		return fmt.Errorf("groups.per_topic_candidates = %d: want 1..100000", p.PerTopicCandidates)
	case p.PopularCandidates < 1 || p.PopularCandidates > 100000:
		return fmt.Errorf("groups.popular_candidates = %d: want 1..100000", p.PopularCandidates)
	}
	ranges := map[string]float64{"interest_weight": p.InterestWeight, "topic_weight": p.TopicWeight, "social_weight": p.SocialWeight, "co_member_weight": p.CoMemberWeight, "health_weight": p.HealthWeight}
	for _, name := range slices.Sorted(maps.Keys(ranges)) {
		w := ranges[name]
		if !(w >= 0 && w <= 100) {
			return fmt.Errorf("groups.%s = %v: want 0..100", name, w)
		}
	}
	return nil
}

// UsersByID returns the dense user indices ordered by external ID, the order
// of every output file.
func UsersByID(d *data.Dims) []int32 {
	order := make([]int32, d.Users.Len())
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		x, y := d.Users.ID(a), d.Users.ID(b)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	return order
}

// rankState is one worker's scratch space for group and activity ranking.
type rankState struct {
	top     *TopK
	counts  []int32 // friends per group or activity
	touched []int32
	marked  []bool // candidates already collected, or excluded
	cands   []int32
	// excluded are marked without being candidates: what the user may
	// not be shown, ruled out before any score is taken
	excluded []int32
	topics   []int32 // the user's strongest topics
	// the candidates' items and the user's interest in each (x_u·y_i),
	// taken for all candidates at once: see interestIn
	items    []int32
	interest [2][]float64

	// co-membership of groups: see coMemberScores
	coShare   []float64
	coFrom    []coJoined
	coTouched []int32

	// the candidates' evidence and the scorer
	evidence    []GroupEvidence
	actEvidence []ActivityEvidence
	scorer      *GroupScorer
}

func newRankState(k, n int) *rankState {
	return &rankState{top: NewTopK(k), counts: make([]int32, n), marked: make([]bool, n)}
}

func newGroupRankState(k, n int) *rankState {
	st := newRankState(k, n)
	st.coShare, st.coFrom = make([]float64, n), make([]coJoined, n)
	return st
}

// interestIn sets st.interest[slot][j] to x·y_i for the item i = item(cands[j])
// of every candidate, reading the items' rows in one pass, so that their
// fetches from memory overlap.
func (st *rankState) interestIn(slot int, x []float32, items rows32, item func(int32) int32) []float64 {
	st.items = st.items[:0]
	for _, c := range st.cands {
		st.items = append(st.items, item(c))
	}
	out := slices.Grow(st.interest[slot][:0], len(st.items))[:len(st.items)]
	f32.Dot64Rows(out, x, items.x, st.items)
	st.interest[slot] = out
	return out
}

// collect adds candidate i once.
func (st *rankState) collect(i int32) {
	if !st.marked[i] {
		st.marked[i] = true
		st.cands = append(st.cands, i)
	}
}

// exclude keeps i from becoming a candidate.
func (st *rankState) exclude(i int32) {
	if !st.marked[i] {
		st.marked[i] = true
		st.excluded = append(st.excluded, i)
	}
}

// resetCandidates empties the candidate list and the exclusions.
func (st *rankState) resetCandidates() {
	for _, i := range st.cands {
		st.marked[i] = false
	}
	for _, i := range st.excluded {
		st.marked[i] = false
	}
	st.cands, st.excluded = st.cands[:0], st.excluded[:0]
}

// groupCandidates indexes, per city, the active groups a user with no other
// link to them may still be shown: the healthiest overall and the healthiest
// on each topic.
type groupCandidates struct {
	topics  int
	popular [][]int32 // [city] → groups, healthiest first
	byTopic [][]int32 // [city·topics + topic] → groups, healthiest first
}

func newGroupCandidates(d *data.Dims, f *features.Features, health []float64, p GroupParams) *groupCandidates {
	nt := len(f.Topics)
	gc := &groupCandidates{topics: nt, popular: make([][]int32, d.Cities.Len()), byTopic: make([][]int32, d.Cities.Len()*nt)}
	for g := range int32(d.Groups.Len()) {
		if d.GroupStatus[g] != data.StatusActive {
			continue
		}
		c := int(d.GroupCity[g])
		gc.popular[c] = append(gc.popular[c], g)
		for _, t := range d.GroupTopics[g] {
			gc.byTopic[c*nt+int(t)] = append(gc.byTopic[c*nt+int(t)], g)
		}
	}
	healthiest := func(gs []int32, n int) []int32 {
		slices.SortStableFunc(gs, func(a, b int32) int { return CompareDesc(health[a], health[b], d.Groups.ID(a), d.Groups.ID(b)) })
		return gs[:min(n, len(gs))]
	}
	for c := range gc.popular {
		gc.popular[c] = healthiest(gc.popular[c], p.PopularCandidates)
	}
	for i := range gc.byTopic {
		gc.byTopic[i] = healthiest(gc.byTopic[i], p.PerTopicCandidates)
	}
	return gc
}

// collectGroups gathers u's candidate groups into st: groups a friend is in
// (st.touched, from friendCounts), groups sharing members with u's own
// (st.coTouched, from coMemberScores), then per-topic and popular groups
// of u's city.
func collectGroups(d *data.Dims, f *features.Features, gc *groupCandidates, p GroupParams, u int32, st *rankState, topicBuf []int32) []int32 {
	c := d.UserCity[u]
	for _, g := range st.touched {
		if d.GroupCity[g] == c && d.GroupStatus[g] == data.StatusActive {
			st.collect(g)
		}
	}
	for _, g := range st.coTouched {
		if d.GroupCity[g] == c {
			st.collect(g)
		}
	}
	topicBuf = CandidateTopics(f.UserTopicRow(u), p.TopicsForCandidates, topicBuf)
	for _, t := range topicBuf {
		for _, g := range gc.byTopic[int(c)*gc.topics+int(t)] {
			st.collect(g)
		}
	}
	for _, g := range gc.popular[c] {
		st.collect(g)
	}
	return topicBuf
}

// friendCounts counts, for every column of rows reachable from u's eligible
// friends (their groups or activities), how many of those friends have it.
// It reuses counts (indexed by column, all zero on entry) and returns the
// columns it touched; the caller zeroes them with resetCounts.
func friendCounts(f *features.Features, rows *features.CSR, u int32, counts []int32, touched []int32) []int32 {
	touched = touched[:0]
	for _, fr := range colsOf(&f.Friends, u) {
		if !f.Eligible[fr] {
			continue
		}
		for _, c := range colsOf(rows, fr) {
			if counts[c] == 0 {
				touched = append(touched, c)
			}
			counts[c]++
		}
	}
	return touched
}

func resetCounts(counts []int32, touched []int32) {
	for _, c := range touched {
		counts[c] = 0
	}
}

// friendLinks counts the friendships among u's eligible friends in group
// g, the numerator of [GroupEvidence.Density].
func friendLinks(f *features.Features, u, g int32) int32 {
	// u's friends are few and each is in few groups, where a group can
	// have any number of members: look the friends up in their groups.
	var buf [16]int32
	in := buf[:0]
	for _, fr := range colsOf(&f.Friends, u) {
		if f.Eligible[fr] && f.Members.Has(fr, g) {
			in = append(in, fr)
		}
	}
	var links int32
	for x := range in {
		for y := x + 1; y < len(in); y++ {
			if f.Friends.Has(in[x], in[y]) {
				links++
			}
		}
	}
	return links
}

// socialProof is 1 − exp(−n/scale), the diminishing return of n friends
// in a group or going to an activity.
func socialProof(scale float64) *countCurve {
	return newCountCurve(func(n int32) float64 { return 1 - math.Exp(-float64(n)/scale) })
}

func clip01(x float64) float64 {
	// comparisons, not math.Max and math.Min, which run for every
	// candidate; the two differ only on −0, which adds nothing to a score
	// either way
	switch {
	case x < 0:
		return 0
	case x > 1:
		return 1
	}
	return x
}

// groupHealth is every group's GroupHealth, from its eligible members
// and RecentActivities, and those activities' counts.
func groupHealth(in Inputs, horizonDays int) (health []float64, recentActs []int) {
	d, f := in.Dims, in.Features
	ng := d.Groups.Len()
	members := make([]int, ng)
	for g := range int32(ng) {
		for _, u := range colsOf(&f.GroupMembers, g) {
			if f.Eligible[u] {
				members[g]++
			}
		}
	}
	recentActs = RecentActivities(d, f.NowMillis, horizonDays)
	maxMembers := make([]int, d.Cities.Len())
	for g := range ng {
		c := d.GroupCity[g]
		maxMembers[c] = max(maxMembers[c], members[g])
	}
	health = make([]float64, ng)
	for g := range ng {
		health[g] = GroupHealth(members[g], maxMembers[d.GroupCity[g]], recentActs[g])
	}
	return health, recentActs
}

func colsOf(m *features.CSR, r int32) []int32 {
	c, _ := m.Row(r)
	return c
}

// RankGroups suggests active same-city groups to every eligible user,
// never a group the user is in or has dismissed, hidden or reported. Rows
// come out ordered by user ID, then rank.
func RankGroups(ctx context.Context, in Inputs, p GroupParams, workers int) ([]data.GroupSuggestion, error) {
	return collect(func(emit func([]data.GroupSuggestion) error) error { return RankGroupsTo(ctx, in, p, workers, emit) })
}

// RankGroupsTo is [RankGroups] handing its rows to emit as they are
// ranked, a chunk of users at a time in user ID order, instead of
// returning a whole table.
func RankGroupsTo(ctx context.Context, in Inputs, p GroupParams, workers int, emit func([]data.GroupSuggestion) error) error {
	d, f := in.Dims, in.Features
	health, recent := groupHealth(in, p.HorizonDays)
	gc := newGroupCandidates(d, f, health, p)
	var co coMembership
	if p.CoMemberWeight > 0 {
		var err error
		if co, err = buildCoMembership(ctx, d, f, workers); err != nil {
			return err
		}
	}
	users, items := rows32Of(in.ALS.Users), rows32Of(in.ALS.Items)
	return rankEligible(ctx, in, workers, func() *rankState {
		st := newGroupRankState(p.MaxPerUser, d.Groups.Len())
		st.scorer = NewGroupScorer(p)
		return st
	}, func(st *rankState, u int32) (out []data.GroupSuggestion) {
		counts := st.counts
		st.touched = friendCounts(f, &f.Members, u, counts, st.touched)
		if co != nil {
			coMemberScores(d, f, co, u, st)
		}
		// never a group u is in or has dismissed, hidden or reported
		for _, g := range colsOf(&f.Members, u) {
			st.exclude(g)
		}
		for _, i := range colsOf(&f.HiddenItems, u) {
			if i >= f.Items.GroupBase && i < f.Items.ActivityBase {
				st.exclude(i - f.Items.GroupBase)
			}
		}
		st.topics = collectGroups(d, f, gc, p, u, st, st.topics)
		interest := st.interestIn(0, users.row(u), items, f.Items.Group)
		row := f.UserTopicRow(u)
		ev := st.evidence[:0]
		for j, g := range st.cands {
			e := GroupEvidence{Group: d.Groups.ID(g), Interest: interest[j], Friends: counts[g], Health: health[g], Recent: int32(recent[g])}
			e.BestTopic, e.TopicSum = BestTopic(row, d.GroupTopics[g])
			if e.Friends >= 2 {
				e.Links = friendLinks(f, u, g)
			}
			if sh := st.coShare[g]; sh > 0 {
				from := st.coFrom[g]
				e.CoShare, e.CoFrom, e.CoCount = sh, d.Groups.ID(from.group), from.count
			}
			ev = append(ev, e)
		}
		st.evidence = ev
		out = st.scorer.RankGroups(d.Users.ID(u), len(colsOf(&f.Members, u)), ev, f.Topics, nil)
		resetCounts(counts, st.touched)
		resetCoMember(st)
		st.resetCandidates()
		return out
	}, emit)
}

// DefaultChunkUsers is how many users, in user ID order, are ranked
// before their rows are handed on: at 20 rows a user some 650 thousand
// rows, about a hundred MB, where a whole table at a million users is
// gigabytes.
const DefaultChunkUsers = 1 << 15

// rankEligible calls rank for every eligible user (of in.Only, when set),
// with per-worker state from init, and hands the rows to emit in user ID
// order, a chunk of users at a time. Within a chunk users are ranked city
// by city, which keeps the city's candidate groups and activities, and
// their factor rows, in cache; rows are stored by position, so the order
// never shows in the output.
func rankEligible[S, T any](ctx context.Context, in Inputs, workers int, init func() S, rank func(s S, u int32) []T, emit func([]T) error) error {
	d, f := in.Dims, in.Features
	nu := d.Users.Len()
	byID := UsersByID(d)
	// One state per worker for the whole table, not per chunk: a state
	// holds scratch as large as the catalogue.
	var (
		mu     sync.Mutex
		states []S
		taken  int
	)
	take := func() S {
		mu.Lock()
		defer mu.Unlock()
		if taken == len(states) {
			states = append(states, init())
		}
		taken++
		return states[taken-1]
	}
	chunk := cmp.Or(in.ChunkUsers, DefaultChunkUsers)
	per := make([][]T, min(nu, chunk))
	order := make([]int, 0, len(per))
	for lo := 0; lo < nu; lo += chunk {
		users := byID[lo:min(nu, lo+chunk)]
		order = order[:0]
		for j, u := range users {
			if f.Eligible[u] && (in.Only == nil || in.Only[u]) {
				order = append(order, j)
			}
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(d.UserCity[users[a]], d.UserCity[users[b]]) })
		taken = 0
		err := pipeline.ForChunks(ctx, len(order), workers, 256, take, func(s S, a, b int) {
			for _, j := range order[a:b] {
				per[j] = rank(s, users[j])
			}
		})
		if err != nil {
			return err
		}
		n := 0
		for _, rows := range per[:len(users)] {
			n += len(rows)
		}
		if n > 0 {
			out := make([]T, 0, n)
			for j, rows := range per[:len(users)] {
				out = append(out, rows...)
				per[j] = nil
			}
			if err := emit(out); err != nil {
				return err
			}
		}
		if in.Progress != nil {
			in.Progress(lo+len(users), nu)
		}
	}
	return nil
}

// collect gathers what a ranker emits into one table.
func collect[T any](rank func(emit func([]T) error) error) ([]T, error) {
	var all []T
	err := rank(func(rows []T) error {
		all = append(all, rows...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// RankActivities suggests upcoming activities in the user's city (starting
// within p.HorizonDays after the run date) of active groups: never one the
// user signed up for, nor one whose activity or group the user dismissed,
// hid or reported.
func RankActivities(ctx context.Context, in Inputs, p GroupParams, workers int) ([]data.ActivitySuggestion, error) {
	return collect(func(emit func([]data.ActivitySuggestion) error) error {
		return RankActivitiesTo(ctx, in, p, workers, emit)
	})
}

// RankActivitiesTo is [RankActivities] handing its rows to emit as they
// are ranked, as [RankGroupsTo] does.
func RankActivitiesTo(ctx context.Context, in Inputs, p GroupParams, workers int, emit func([]data.ActivitySuggestion) error) error {
	d, f := in.Dims, in.Features
	// upcoming: active activities of active groups starting within the horizon
	nt := len(f.Topics)
	upcoming := make([]bool, d.Activities.Len())
	ofGroup := make([][]int32, d.Groups.Len())
	popular := make([][]int32, d.Cities.Len())
	byTopic := make([][]int32, d.Cities.Len()*nt)
	for a := range int32(d.Activities.Len()) {
		if Upcoming(d, a, f.NowMillis, p.HorizonDays) {
			g, c := d.ActivityGroup[a], int(d.ActivityCity[a])
			upcoming[a] = true
			ofGroup[g] = append(ofGroup[g], a)
			popular[c] = append(popular[c], a)
			for _, t := range d.GroupTopics[g] {
				byTopic[c*nt+int(t)] = append(byTopic[c*nt+int(t)], a)
			}
		}
	}
	signups := func(a int32) int { return len(colsOf(&f.ActSignups, a)) }
	mostSignedUp := func(as []int32, n int) []int32 {
		slices.SortStableFunc(as, func(a, b int32) int {
			return CompareDesc(float64(signups(a)), float64(signups(b)), d.Activities.ID(a), d.Activities.ID(b))
		})
		return as[:min(len(as), n)]
	}
	for c := range popular {
		popular[c] = mostSignedUp(popular[c], p.PopularCandidates)
	}
	for i := range byTopic {
		byTopic[i] = mostSignedUp(byTopic[i], p.PerTopicCandidates)
	}
	users, items := rows32Of(in.ALS.Users), rows32Of(in.ALS.Items)
	popularity := make([]float64, d.Activities.Len())
	for a := range popularity {
		popularity[a] = ActivityPopularity(signups(int32(a)))
	}
	return rankEligible(ctx, in, workers, func() *rankState {
		st := newRankState(p.MaxPerUser, d.Activities.Len())
		st.scorer = NewGroupScorer(p)
		return st
	}, func(st *rankState, u int32) (out []data.ActivitySuggestion) {
		counts := st.counts
		c := d.UserCity[u]
		// never an activity u signed up for, nor one whose activity or
		// group u dismissed, hid or reported (every candidate is
		// upcoming, so ofGroup holds all of a group's)
		for _, a := range colsOf(&f.Signups, u) {
			st.exclude(a)
		}
		for _, i := range colsOf(&f.HiddenItems, u) {
			switch {
			case i >= f.Items.GroupBase && i < f.Items.ActivityBase:
				for _, a := range ofGroup[i-f.Items.GroupBase] {
					st.exclude(a)
				}
			case i >= f.Items.ActivityBase && i < f.Items.ContentBase:
				st.exclude(i - f.Items.ActivityBase)
			}
		}
		st.touched = friendCounts(f, &f.Signups, u, counts, st.touched)
		for _, a := range st.touched {
			if upcoming[a] && d.ActivityCity[a] == c {
				st.collect(a)
			}
		}
		for _, g := range colsOf(&f.Members, u) {
			for _, a := range ofGroup[g] {
				if d.ActivityCity[a] == c {
					st.collect(a)
				}
			}
		}
		row := f.UserTopicRow(u)
		st.topics = CandidateTopics(row, p.TopicsForCandidates, st.topics)
		for _, t := range st.topics {
			for _, a := range byTopic[int(c)*nt+int(t)] {
				st.collect(a)
			}
		}
		for _, a := range popular[c] {
			st.collect(a)
		}
		inActivity := st.interestIn(0, users.row(u), items, f.Items.Activity)
		inGroup := st.interestIn(1, users.row(u), items, func(a int32) int32 { return f.Items.Group(d.ActivityGroup[a]) })
		ev := st.actEvidence[:0]
		for j, a := range st.cands {
			g := d.ActivityGroup[a]
			e := ActivityEvidence{Activity: d.Activities.ID(a), Interest: math.Max(inActivity[j], inGroup[j]), Going: counts[a],
				Signups: int32(signups(a)), Popularity: popularity[a], OwnGroup: f.Members.Has(u, g), StartsDays: StartsDays(d, a, f.NowMillis)}
			e.BestTopic, e.TopicSum = BestTopic(row, d.GroupTopics[g])
			ev = append(ev, e)
		}
		st.actEvidence = ev
		out = st.scorer.RankActivities(d.Users.ID(u), ev, f.Topics, nil)
		resetCounts(counts, st.touched)
		st.resetCandidates()
		return out
	}, emit)
}
