package models

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"

	"circles/data"
	"circles/features"
	"circles/models/f32"
	"circles/pipeline"
)

// FriendParams tunes friend suggestions. The score is a linear model over
// the candidate features of [FriendFeatureNames]: the weights are set by
// hand in the defaults and can be learned (see [FitLogistic] and circles
// eval -tune). Only their ratios matter to the ranking.
type FriendParams struct {
	MaxPerUser         int     `json:"max_per_user"`        // suggestions kept per user, 1..200
	MutualWeight       float64 `json:"mutual_weight"`       // on log(1 + mutual friends)
	AdamicAdar         float64 `json:"adamic_adar"`         // on Σ 1/log(deg(mutual friend))
	ResourceAllocation float64 `json:"resource_allocation"` // on Σ 1/deg(mutual friend)
	TieWeight          float64 `json:"tie_weight"`          // on log(1 + tie strength)
	CoMemberWeight     float64 `json:"co_member_weight"`    // per shared small group or activity, up to 3
	InterestWeight     float64 `json:"interest_weight"`     // on cosine of topic weights
	DegreeWeight       float64 `json:"degree_weight"`       // on log(1 + the candidate's friend count)
	LatentWeight       float64 `json:"latent_weight"`       // on cosine of the interest model's user vectors
	SharedItemsWeight  float64 `json:"shared_items_weight"` // on cosine of the two users' sets of items engaged with
	GraphWeight        float64 `json:"graph_weight"`        // on the friend-graph embedding's predicted tie x_u·y_c (0 skips training the embedding)
	ContactWeight      float64 `json:"contact_weight"`      // when the candidate is in the user's own opt-in address book
	GraphFactors       int     `json:"graph_factors"`       // dimension of the friend-graph embedding, 2..512
	MaxFanout          int     `json:"max_fanout"`          // friends of a friend visited per friend (fanoutSample), 10..100000
	SmallGroupSize     int     `json:"small_group_size"`    // groups and activities at most this large are candidate sources, 2..1000
	MinMutualForFoF    int     `json:"min_mutual_for_fof"`  // mutual friends needed to keep a candidate with no other source, ≥ 1
}

// FriendFeature is a position in a friend candidate's feature vector and
// in [FriendParams.Weights]. Code refers to features by these names, never
// by number, so adding one cannot silently shift another.
type FriendFeature int

// The friend features, in vector order.
const (
	FeatMutual             FriendFeature = iota // log(1 + mutual friends)
	FeatAdamicAdar                              // Σ 1/log(deg(mutual friend))
	FeatResourceAllocation                      // Σ 1/deg(mutual friend)
	FeatTie                                     // log(1 + tie strength)
	FeatCoMember                                // shared small groups and activities
	FeatInterest                                // cosine of topic weights
	FeatDegree                                  // log(1 + the candidate's friend count)
	FeatLatent                                  // cosine of the interest model's user vectors
	FeatSharedItems                             // cosine of the two users' item sets
	FeatGraph                                   // the friend-graph embedding's predicted tie
	FeatContact                                 // 1 when the candidate is in the user's own address book
	NumFriendFeatures                           // the vector's length
)

// FriendFeatureNames names the candidate features, in the order of
// [FriendParams.Weights] and of the vectors [FriendCandidates] returns:
// each is the JSON name of its weight.
var FriendFeatureNames = [NumFriendFeatures]string{
	FeatMutual: "mutual_weight", FeatAdamicAdar: "adamic_adar", FeatResourceAllocation: "resource_allocation", FeatTie: "tie_weight",
	FeatCoMember: "co_member_weight", FeatInterest: "interest_weight", FeatDegree: "degree_weight", FeatLatent: "latent_weight",
	FeatSharedItems: "shared_items_weight", FeatGraph: "graph_weight", FeatContact: "contact_weight",
}

// weightRefs points at p's weight of every feature.
func (p *FriendParams) weightRefs() [NumFriendFeatures]*float64 {
	return [NumFriendFeatures]*float64{
		FeatMutual: &p.MutualWeight, FeatAdamicAdar: &p.AdamicAdar, FeatResourceAllocation: &p.ResourceAllocation, FeatTie: &p.TieWeight,
		FeatCoMember: &p.CoMemberWeight, FeatInterest: &p.InterestWeight, FeatDegree: &p.DegreeWeight, FeatLatent: &p.LatentWeight,
		FeatSharedItems: &p.SharedItemsWeight, FeatGraph: &p.GraphWeight, FeatContact: &p.ContactWeight,
	}
}

// Weights returns the score's weights in feature order.
func (p *FriendParams) Weights() [NumFriendFeatures]float64 {
	var w [NumFriendFeatures]float64
	for i, r := range p.weightRefs() {
		w[i] = *r
	}
	return w
}

// SetWeights sets the score's weights from a vector in feature order.
func (p *FriendParams) SetWeights(w [NumFriendFeatures]float64) {
	for i, r := range p.weightRefs() {
		*r = w[i]
	}
}

// DefaultFriendParams returns production defaults: the weights circles
// quality chose by their worst case across the public datasets
// (docs/quality.md, "Defaults chosen by their worst case"), except for
// money ties and contacts, which no public dataset holds, so no search
// on them can weigh. Those two are 3.2 times their first hand-set
// weights, the factor by which the search scaled them along with mutual
// friends once: on the generated world, whose planted friendships follow
// money as the wallet's do, friends recall@20 is then 0.771 against 0.619.
func DefaultFriendParams() FriendParams {
	return FriendParams{MaxPerUser: 10, MutualWeight: 2.1804, AdamicAdar: 1.6646, ResourceAllocation: 17.3058, TieWeight: 6.9862, CoMemberWeight: 0.6541,
		DegreeWeight: 0.643, SharedItemsWeight: 3.4482, GraphWeight: 19.2232, ContactWeight: 10.4793, GraphFactors: 32, MaxFanout: 1000, SmallGroupSize: 50, MinMutualForFoF: 1}
}

// Validate checks every field and names the first bad one.
func (p FriendParams) Validate() error {
	switch {
	case p.MaxPerUser < 1 || p.MaxPerUser > 200:
		return fmt.Errorf("friends.max_per_user = %d: want 1..200", p.MaxPerUser)
	case p.MaxFanout < 10 || p.MaxFanout > 100000:
		return fmt.Errorf("friends.max_fanout = %d: want 10..100000", p.MaxFanout)
	case p.SmallGroupSize < 2 || p.SmallGroupSize > 1000:
		return fmt.Errorf("friends.small_group_size = %d: want 2..1000", p.SmallGroupSize)
	case p.MinMutualForFoF < 1:
		return fmt.Errorf("friends.min_mutual_for_fof = %d: want ≥ 1", p.MinMutualForFoF)
	case p.GraphFactors < 2 || p.GraphFactors > 512:
		return fmt.Errorf("friends.graph_factors = %d: want 2..512", p.GraphFactors)
	}
	for i, w := range p.Weights() {
		if !(w >= -100 && w <= 100) {
			return fmt.Errorf("friends.%s = %v: want -100..100", FriendFeatureNames[i], w)
		}
	}
	return nil
}

// Allowed is the hard friend policy (docs/contract.md, Policy) for suggesting c to u: both are
// eligible (active, not opted out), distinct, not already friends, with no
// block or report and no unexpired dismissal between them in either
// direction; and a minor and an adult are suggested to each other only
// when they are not strangers, which here means a direct money tie or a
// family account between them. It is the single place the policy lives.
func Allowed(f *features.Features, minor []bool, u, c int32) bool {
	if u == c || !f.Eligible[u] || !f.Eligible[c] || f.Friends.Has(u, c) || f.Blocked.Has(u, c) || f.DismissedUsers.Has(u, c) {
		return false
	}
	if minor[u] != minor[c] {
		_, info := f.Tie(u, c)
		return MinorsMayMeet(minor[u], minor[c], info)
	}
	return true
}

// scratch is one worker's dense per-candidate accumulators: one record
// per user, so that the candidate a friend of a friend names costs one
// trip to memory, not one per feature.
type scratch struct {
	c       []candidate
	touched []int32
	// items is a bitmap of the items with positive signal of user
	// itemsOf−1 (sharedItems), small enough to stay in the nearest cache;
	// allocated on first use.
	items   []uint64
	itemsOf int32
	// groupTopics is a bitset of the topics of user groupTopicsOf−1's
	// groups (sharedGroupTopic); allocated on first use.
	groupTopics   []uint64
	groupTopicsOf int32
}

// candidate is what gathering u's candidates found of one of them.
type candidate struct {
	FriendReach
	group    int32 // the shared group with the smallest ID (or -1), for the reason
	activity int32 // likewise the shared activity
	seen     bool
}

func newScratch(n int) *scratch {
	s := &scratch{c: make([]candidate, n)}
	for i := range s.c {
		s.c[i].clear()
	}
	return s
}

func (c *candidate) clear() { *c = candidate{group: -1, activity: -1} }

func (s *scratch) touch(c int32) *candidate {
	sc := &s.c[c]
	if !sc.seen {
		sc.seen = true
		s.touched = append(s.touched, c)
	}
	return sc
}

func (s *scratch) reset() {
	for _, c := range s.touched {
		s.c[c].clear()
	}
	s.touched = s.touched[:0]
}

// RankFriends suggests people each eligible user may know, from friends of
// friends, money ties that are not friendships yet, and co-members of small
// groups and activities. Every suggestion passes [Allowed]. Rows come out
// ordered by user ID, then rank.
func RankFriends(ctx context.Context, in Inputs, p FriendParams, workers int) ([]data.FriendSuggestion, error) {
	return collect(func(emit func([]data.FriendSuggestion) error) error { return RankFriendsTo(ctx, in, p, workers, emit) })
}

// RankFriendsTo is [RankFriends] handing its rows to emit as they are
// ranked, as [RankGroupsTo] does.
func RankFriendsTo(ctx context.Context, in Inputs, p FriendParams, workers int, emit func([]data.FriendSuggestion) error) error {
	d := in.Dims
	nu := d.Users.Len()
	if p.GraphWeight != 0 {
		if err := in.withFriendGraph(ctx, p, workers); err != nil {
			return err
		}
	}
	cf := newFriendFeaturizer(in, p, true)
	rp := newRelationPairs(d, in.Features, p, cf.hubs)
	type state struct {
		s       *scratch
		top     *TopK
		xs      [][NumFriendFeatures]float64 // the candidates' graph features
		pending []pendingFriend
		graph   []float64
	}
	return rankEligible(ctx, in, workers, func() *state {
		return &state{s: newScratch(nu), top: NewTopK(p.MaxPerUser)}
	}, func(st *state, u int32) (out []data.FriendSuggestion) {
		s, top := st.s, st.top
		cf.gather(s, u)
		w := &cf.w
		score := func(x *[NumFriendFeatures]float64) float64 { return FriendScore(w, x) }
		// Candidates are taken best bound first, and once a full list's
		// floor is above the best score the next one could reach, the
		// rest are dropped before their profile features are computed;
		// the slack covers rounding, so every list is the one scoring
		// every candidate would give.
		st.pending, st.xs = st.pending[:0], st.xs[:0]
		st.graph = cf.graphScores(st.graph, u, s.touched)
		for j, c := range s.touched {
			if x, ok := cf.graphFeatures(s, u, c, st.graph[j]); ok {
				v := score(&x)
				st.pending = append(st.pending, pendingFriend{c: c, i: int32(len(st.xs)), bound: v + cf.profileBound(u, c)})
				st.xs = append(st.xs, x)
			}
		}
		slices.SortFunc(st.pending, func(a, b pendingFriend) int { return cmp.Compare(b.bound, a.bound) })
		for _, pf := range st.pending {
			if floor, full := top.Floor(); full && pf.bound+1e-9*(1+math.Abs(pf.bound)) < floor {
				break
			}
			if !Allowed(in.Features, d.UserMinor, u, pf.c) {
				continue
			}
			x := &st.xs[pf.i]
			cf.profileFeatures(st.s, x, u, pf.c)
			top.Push(Scored{ID: d.Users.ID(pf.c), Index: pf.c, Score: score(x)})
		}
		for rank, sc := range top.Sorted() {
			fs := data.FriendSuggestion{UserID: d.Users.ID(u), CandidateID: sc.ID, Rank: int32(rank + 1), Score: float32(sc.Score), Reasons: friendReasons(in, s, u, sc.Index)}
			if in.Relations != nil {
				pair := rp.pair(u, sc.Index)
				in.Relations.Label(&fs, &pair)
			}
			out = append(out, fs)
		}
		s.reset()
		return out
	}, emit)
}

// pendingFriend is a candidate waiting for its profile features: i
// indexes its graph features, and bound is the best score they could
// give it. It is small, so that sorting by bound moves few bytes.
type pendingFriend struct {
	bound float64
	c, i  int32
}

// friendFeaturizer gathers a user's friend candidates and computes their
// features; RankFriends and FriendCandidates share it, so the features a
// ranker learns from are the ones it is applied to.
type friendFeaturizer struct {
	in    Inputs
	p     FriendParams
	users []userStats
	// scoreOnly, set when only the score matters (RankFriends), leaves
	// at zero the profile features whose weight is zero.
	scoreOnly bool
	w         [NumFriendFeatures]float64 // p's weights
	log1p     *countCurve                // log(1 + n) of a count
	// the friend-graph embedding's factors, when there is one
	graphUsers, graphItems rows32
	// the interest model's user vectors and their norms, when the latent
	// feature is needed and there is a model
	latent    rows32
	userNorms []float64
	hubs      fanouts
}

// userStats is what every candidate's features read of the candidate
// itself, in one record so that it is one trip to memory.
type userStats struct {
	logDegree float64 // log(1 + friends)
	positives int32   // items with positive signal
}

func newFriendFeaturizer(in Inputs, p FriendParams, scoreOnly bool) *friendFeaturizer {
	f := in.Features
	cf := &friendFeaturizer{in: in, p: p, w: p.Weights(), scoreOnly: scoreOnly}
	if in.ALS != nil && cf.needed(FeatLatent) {
		cf.latent = rows32Of(in.ALS.Users)
		cf.userNorms = make([]float64, in.ALS.Users.RawMatrix().Rows)
		for u := range cf.userNorms {
			x := cf.latent.row(int32(u))
			cf.userNorms[u] = math.Sqrt(f32.Dot64(x, x))
		}
	}
	if g := in.Graph; g != nil {
		cf.graphUsers, cf.graphItems = rows32Of(g.Users), rows32Of(g.Items)
	}
	n := f.Signals.Rows()
	cf.users = make([]userStats, n)
	for u := range int32(n) {
		cf.users[u] = userStats{logDegree: math.Log1p(float64(cf.degree(u))), positives: int32(PositiveEvents(f, u))}
	}
	cf.log1p = newCountCurve(func(n int32) float64 { return math.Log1p(float64(n)) })
	cf.hubs = hubSamples(in.Dims, f, p.MaxFanout)
	return cf
}

// fanouts holds, for each user with more than MaxFanout friends, the
// friends its friends reach candidates through (fanoutSample).
type fanouts map[int32][]int32

func hubSamples(d *data.Dims, f *features.Features, max int) fanouts {
	hubs := fanouts{}
	for u := range int32(f.Friends.Rows()) {
		if fs := colsOf(&f.Friends, u); len(fs) > max {
			hubs[u] = fanoutSample(d, fs, max)
		}
	}
	return hubs
}

// reaches says whether a path through the mutual friend w reaches c: w
// is no super-node, or its sample holds c.
func (h fanouts) reaches(d *data.Dims, w, c int32) bool {
	s, hub := h[w]
	if !hub {
		return true
	}
	_, ok := slices.BinarySearchFunc(s, UserKey(d.Users.ID(c)), func(x int32, k uint64) int { return cmp.Compare(UserKey(d.Users.ID(x)), k) })
	return ok
}

// PathWeights is what one path u–fr–c through a mutual friend fr of the
// given degree adds to the pair's Adamic–Adar and resource-allocation
// indices: 1/log(degree) (degree at least 2) and 1/degree.
func PathWeights(degree int) (aa, ra float32) {
	d := float64(degree)
	return float32(1 / math.Log(math.Max(2, d))), float32(1 / d)
}

// fanoutSample is the cap on the fan-out through a super-node: of a
// user's friends, the max with the smallest UserKey of their ID are the
// ones its friends reach as candidates through it (the Beam driver keeps
// the same ones by a bounded combine). The sample is fixed by
// external IDs, so a partitioned driver takes the same one, and unlike
// the first max in some file's order it favours no range of IDs. It is
// ascending by UserKey.
func fanoutSample(d *data.Dims, friends []int32, max int) []int32 {
	s := slices.Clone(friends)
	slices.SortFunc(s, func(a, b int32) int { return cmp.Compare(UserKey(d.Users.ID(a)), UserKey(d.Users.ID(b))) })
	return s[:max]
}

func (cf *friendFeaturizer) degree(u int32) int {
	f := cf.in.Features
	return int(f.Friends.Start[u+1] - f.Friends.Start[u])
}

// gather fills s with u's candidates: friends of friends, money ties that
// are not friendships yet, the people in u's own address book, and
// co-members of small groups and activities.
func (cf *friendFeaturizer) gather(s *scratch, u int32) {
	d, f, p := cf.in.Dims, cf.in.Features, cf.p
	// friends of friends, through eligible friends only: an opted-out
	// user's friend list must not shape others' suggestions
	for _, fr := range colsOf(&f.Friends, u) {
		if !f.Eligible[fr] {
			continue
		}
		aa, ra := PathWeights(cf.degree(fr))
		through := colsOf(&f.Friends, fr)
		if sample, hub := cf.hubs[fr]; hub {
			through = sample
		}
		for _, c := range through {
			sc := s.touch(c)
			sc.Mutual++
			sc.AA += aa
			sc.RA += ra
		}
	}
	// money ties
	cols, ties := f.Ties.Row(u)
	for j, c := range cols {
		s.touch(c).Tie = ties[j]
	}
	// u's own contacts (never the address books that hold u)
	for _, c := range colsOf(&f.Contacts, u) {
		s.touch(c).Contact = true
	}
	// small groups and activities in common
	for _, g := range colsOf(&f.Members, u) {
		ms := colsOf(&f.GroupMembers, g)
		if len(ms) > p.SmallGroupSize || d.GroupStatus[g] != data.StatusActive {
			continue
		}
		for _, c := range ms {
			sc := s.touch(c)
			sc.CoMember = min(sc.CoMember+1, MaxCoMember)
			if sc.group < 0 || d.Groups.ID(g) < d.Groups.ID(sc.group) {
				sc.group = g
			}
		}
	}
	for _, a := range colsOf(&f.Signups, u) {
		ms := colsOf(&f.ActSignups, a)
		if len(ms) > p.SmallGroupSize {
			continue
		}
		for _, c := range ms {
			sc := s.touch(c)
			sc.CoMember = min(sc.CoMember+1, MaxCoMember)
			if sc.activity < 0 || d.Activities.ID(a) < d.Activities.ID(sc.activity) {
				sc.activity = a
			}
		}
	}
}

// features returns candidate c's features for u, in [FriendFeatureNames]
// order, or false when c is not a candidate: too weakly connected, or not
// [Allowed].
func (cf *friendFeaturizer) features(s *scratch, u, c int32, graph float64) (x [NumFriendFeatures]float64, ok bool) {
	if x, ok = cf.graphFeatures(s, u, c, graph); !ok || !Allowed(cf.in.Features, cf.in.Dims.UserMinor, u, c) {
		return x, false
	}
	cf.profileFeatures(s, &x, u, c)
	return x, true
}

// graphScores sets out[j] to the friend-graph embedding's predicted tie
// between u and cands[j] (0 without an embedding), all in one pass, so
// that the candidates' rows are fetched from memory together.
func (cf *friendFeaturizer) graphScores(out []float64, u int32, cands []int32) []float64 {
	out = slices.Grow(out[:0], len(cands))[:len(cands)]
	if cf.graphUsers.x == nil {
		clear(out)
		return out
	}
	f32.Dot64Rows(out, cf.graphUsers.row(u), cf.graphItems.x, cands)
	return out
}

// graphFeatures fills the features read off the scratch and the graphs,
// given c's graph score, or returns false when c is too weakly connected
// to u to be a candidate.
func (cf *friendFeaturizer) graphFeatures(s *scratch, u, c int32, graph float64) (x [NumFriendFeatures]float64, ok bool) {
	r := &s.c[c].FriendReach
	if !r.Reached(cf.p) {
		return x, false
	}
	return r.GraphFeatures(cf.log1p.at(r.Mutual), cf.users[c].logDegree, graph), true
}

// profileFeatures fills the features that compare the two users' own
// profiles (topics, items, latent vectors): the costly part, which
// profileBound bounds.
func (cf *friendFeaturizer) profileFeatures(s *scratch, x *[NumFriendFeatures]float64, u, c int32) {
	f := cf.in.Features
	if cf.needed(FeatInterest) {
		x[FeatInterest] = cosine(f.UserTopicRow(u), f.UserTopicRow(c))
	}
	if cf.needed(FeatSharedItems) {
		x[FeatSharedItems] = cf.sharedItems(s, u, c)
	}
	if cf.userNorms != nil && cf.userNorms[u] > 0 && cf.userNorms[c] > 0 {
		x[FeatLatent] = f32.Dot64(cf.latent.row(u), cf.latent.row(c)) / (cf.userNorms[u] * cf.userNorms[c])
	}
}

// needed reports whether feature i must be computed.
func (cf *friendFeaturizer) needed(i FriendFeature) bool {
	return !cf.scoreOnly || cf.w[i] != 0
}

// profileBound is the most the profile features can add to a score
// under p's weights: the interest cosine lies in [0, 1], the latent
// cosine in [−1, 1], and the shared-items cosine in [0, √(min/max)] of
// the two users' numbers of items.
func (cf *friendFeaturizer) profileBound(u, c int32) float64 {
	_, hi := ProfileBounds(&cf.w, int(cf.users[u].positives), int(cf.users[c].positives))
	return hi
}

// withFriendGraph trains the friend-graph embedding into in unless the
// caller supplied one.
func (in *Inputs) withFriendGraph(ctx context.Context, p FriendParams, workers int) error {
	if in.Graph != nil {
		return nil
	}
	g, err := TrainFriendGraph(ctx, in.Dims, in.Features, p, workers)
	in.Graph = g
	return err
}

// TrainFriendGraph embeds the friend graph by implicit ALS on its
// adjacency matrix (users × users), so that x_u·y_c predicts a tie between
// u and c from the whole graph's structure, not only shared friends. Only
// friendships between eligible users count: an opted-out user's friend
// list shapes nobody's suggestions.
func TrainFriendGraph(ctx context.Context, d *data.Dims, f *features.Features, p FriendParams, workers int) (*ALS, error) {
	n := f.Friends.Rows()
	var ts []features.Triple
	for u := range int32(n) {
		if !f.Eligible[u] {
			continue
		}
		for _, v := range colsOf(&f.Friends, u) {
			if f.Eligible[v] {
				ts = append(ts, features.Triple{Row: u, Col: v, Val: 1})
			}
		}
	}
	A := features.BuildCSR(n, ts)
	return TrainALS(ctx, &A, &A, GraphKeys(d), FriendGraphParams(p, workers), nil)
}

// FriendCandidate is one user's candidate with its features.
type FriendCandidate struct {
	User, Candidate int32
	X               [NumFriendFeatures]float64
}

// FriendCandidates returns the candidates of each listed user with their
// features, exactly as [RankFriends] would score them: the training rows of
// a learned friend ranker. keep, called concurrently with one user's
// candidates at a time, returns the ones to keep (a sample, say).
func FriendCandidates(ctx context.Context, in Inputs, p FriendParams, users []int32, workers int, keep func([]FriendCandidate) []FriendCandidate) ([]FriendCandidate, error) {
	if err := in.withFriendGraph(ctx, p, workers); err != nil {
		return nil, err
	}
	cf := newFriendFeaturizer(in, p, false)
	per := make([][]FriendCandidate, len(users))
	nu := in.Dims.Users.Len()
	err := pipeline.ForChunks(ctx, len(users), workers, 64, func() *scratch { return newScratch(nu) }, func(s *scratch, lo, hi int) {
		var graph []float64
		for i := lo; i < hi; i++ {
			u := users[i]
			cf.gather(s, u)
			graph = cf.graphScores(graph, u, s.touched)
			var cands []FriendCandidate
			for j, c := range s.touched {
				if x, ok := cf.features(s, u, c, graph[j]); ok {
					cands = append(cands, FriendCandidate{User: u, Candidate: c, X: x})
				}
			}
			per[i] = slices.Clip(keep(cands))
			s.reset()
		}
	})
	return slices.Concat(per...), err
}

// friendReasons explains the suggestion of c to u (FriendReasons).
func friendReasons(in Inputs, s *scratch, u, c int32) []data.Reason {
	d, f := in.Dims, in.Features
	sc := &s.c[c]
	w := FriendWhy{Reach: sc.FriendReach}
	_, w.Info = f.Tie(u, c)
	if sc.group >= 0 {
		w.Group, w.InGroup = d.Groups.ID(sc.group), true
	}
	if sc.activity >= 0 {
		w.Activity, w.InActivity = d.Activities.ID(sc.activity), true
	}
	if t := sharedGroupTopic(in, s, u, c); t >= 0 {
		w.Topic = f.Topics[t]
	}
	return FriendReasons(&w)
}

// sharedGroupTopic is the lowest topic code that both u and c have through
// groups they joined, or -1. Interest similarity also counts spending and
// views, but a reason must not hint at a third party's purchases, so the
// words name only what group membership, visible inside a group, shows.
// u's topics are marked in s once for all of u's suggestions.
func sharedGroupTopic(in Inputs, s *scratch, u, c int32) int32 {
	d, f := in.Dims, in.Features
	if s.groupTopicsOf != u+1 {
		if s.groupTopics == nil {
			s.groupTopics = make([]uint64, (len(f.Topics)+63)/64)
		} else {
			clear(s.groupTopics)
		}
		for _, g := range colsOf(&f.Members, u) {
			for _, t := range d.GroupTopics[g] {
				s.groupTopics[t/64] |= 1 << (t % 64)
			}
		}
		s.groupTopicsOf = u + 1
	}
	best := int32(-1)
	for _, g := range colsOf(&f.Members, c) {
		for _, t := range d.GroupTopics[g] {
			if s.groupTopics[t/64]&(1<<(t%64)) != 0 && (best < 0 || t < best) {
				best = t
			}
		}
	}
	return best
}

// sharedItems is the cosine of two users' sets of items with positive
// signal: |I_u ∩ I_c| / √(|I_u|·|I_c|). u's items are marked in s once
// for all of u's candidates, so each candidate costs one pass over its own
// row.
func (cf *friendFeaturizer) sharedItems(s *scratch, u, c int32) float64 {
	nu, nc := cf.users[u].positives, cf.users[c].positives
	if nu == 0 || nc == 0 {
		return 0
	}
	m := &cf.in.Features.Signals
	if s.itemsOf != u+1 {
		if s.items == nil {
			s.items = make([]uint64, (cf.in.Features.Items.N+63)/64)
		}
		if s.itemsOf > 0 {
			for _, i := range colsOf(m, s.itemsOf-1) {
				s.items[i/64] = 0
			}
		}
		cols, vals := m.Row(u)
		for j, i := range cols {
			if vals[j] > 0 {
				s.items[i/64] |= 1 << (i % 64)
			}
		}
		s.itemsOf = u + 1
	}
	cols, vals := m.Row(c)
	both := 0
	for j, i := range cols {
		if s.items[i/64]&(1<<(i%64)) != 0 && vals[j] > 0 {
			both++
		}
	}
	return float64(both) / math.Sqrt(float64(nu)*float64(nc))
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}
