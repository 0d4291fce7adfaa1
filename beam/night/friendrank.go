package night

import (
	"cmp"
	"context"
	"encoding/binary"
	"math"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"circles/data"
	"circles/features"
	"circles/jobs"
	"circles/models"
	"circles/models/f32"
	"circles/pipeline"
)

// Friend suggestions on Beam. The local ranker gathers each user's
// candidates from dense arrays; here each candidate's evidence is built
// per pair by joins keyed by external IDs, and each user is ranked from
// its own profile and its candidates', with the local driver's kernels
// (models.FriendReach, FriendScore, MinorsMayMeet, FriendReasons):
//
//  1. money ties: each transaction between eligible users, each pair of
//     payers of one split or fund (the first features.MaxCoParticipants
//     legs in read order, by a bounded combine), each family account and
//     each positive interaction of one user with another is a tie event
//     keyed by the pair; features.PairTie sums a pair's events;
//  2. co-members: every ordered pair of the eligible members of an active
//     group, or of the sign-ups of an activity, with at most
//     SmallGroupSize of them (a larger one is dropped as soon as it is
//     seen to be larger), counted per pair with its smallest group and
//     activity;
//  3. per directed pair, a CoGroupByKey of the paths through mutual
//     friends (friendsOfFriends), the tie, the address book, the
//     co-members, the friendship and the refusals (blocks and reports of
//     any user, either direction; unexpired dismissals, either
//     direction): a pair that is a friendship or refused is dropped, one
//     that models.FriendReach.Reached refuses too;
//  4. each eligible user's profile: its friend count, minor flag, topic
//     row, items with positive signal, friend-graph factors (trained here
//     by the blocked ALS on the friendships, as the local driver trains
//     it), interest factor when the latent feature weighs, and the topics
//     of its groups;
//  5. the relation-type model: each labelled friendship's evidence from
//     the pair join (3), handed to its user with the friend's relation
//     profile and made a models.RelationExample; the examples sampled by
//     a bounded global combine (models.CompareRelationExamples, the local
//     driver's sample) and fitted in one worker (models.FitRelations);
//  6. each pair handed to its user with what bounds its score: the
//     candidate's friend count, minor flag, number of items and
//     friend-graph factor (a join on the candidate), from which the user
//     takes the least score its list can end on (the MaxPerUser-th largest
//     least score, models.ProfileBounds) and keeps only the candidates
//     whose most can reach it, as the local ranker skips them;
//  7. each kept pair handed to its user with the candidate's whole profile
//     (a join on the candidate: a profile travels once per user it may be
//     suggested to), and each user ranked from its profile and its
//     candidates, streamed into a bounded top list, each suggestion
//     labelled with its relation type by the model (a side input).

// FileFriends is the local driver's output.FileFriends, in shards.
const FileFriends = "friend_suggestions"

// friendParams is what the friend stage's DoFns read of a run.
type friendParams struct {
	Input        string
	Date         int64
	Now          int64 // end of the run date, millis
	FeatureStart int64 // millis
	TTLStart     int64 // dismissals from here on stand, millis
	Friends      models.FriendParams
	Relations    models.RelationParams
	Feat         features.Params
	Shards       int
}

// legRec is one leg of a split or fund, with its place in read order.
type legRec struct {
	Order int32
	Row   int64
	Payer int64
	Time  int64
	Kind  uint8
}

func legBefore(a, b legRec) int {
	return cmp.Or(cmp.Compare(a.Order, b.Order), cmp.Compare(a.Row, b.Row))
}

// tieRec is a pair's tie: its strength and what it is made of.
type tieRec struct {
	S    float32
	Info features.TieInfo
}

// comemRec is what a pair's small groups and activities in common add:
// their number, and the smallest of each (when InG, InA).
type comemRec struct {
	N          int32
	Group, Act int64
	InG, InA   bool
}

func addComem(a, b comemRec) comemRec {
	out := comemRec{N: a.N + b.N}
	out.Group, out.InG = smallest(a.Group, a.InG, b.Group, b.InG)
	out.Act, out.InA = smallest(a.Act, a.InA, b.Act, b.InA)
	return out
}

// smallest is the smaller of two optional IDs.
func smallest(a int64, hasA bool, b int64, hasB bool) (int64, bool) {
	switch {
	case !hasA:
		return b, hasB
	case !hasB:
		return a, true
	}
	return min(a, b), true
}

// pairEv is a candidate's evidence for user U, what the pair join found.
type pairEv struct {
	U     int64
	Reach models.FriendReach
	Info  features.TieInfo
	Co    comemRec
}

// labelEv is a labelled friendship's evidence for user U, with the types U
// gave it (one per row of the relations snapshot).
type labelEv struct {
	Ev    pairEv
	Types []data.RelationType
}

// profRec is what the ranking reads of one eligible user, as the user
// ranked or as a candidate.
type profRec struct {
	Degree      int32
	Minor       bool
	City        int32    // the city's index in the snapshot
	Topics      topicRow // normalised, sparse
	Items       []string // item keys with positive signal, ascending
	GX, GY      []float32
	X           []float32 // the interest factor, when the latent feature weighs
	GroupTopics []int32   // of the user's groups, ascending
}

// candEv is a candidate handed to its user with its profile.
type candEv struct {
	C  int64
	Ev pairEv
	P  profRec
}

// relProfile is what the relation type reads of each user of a pair.
type relProfile struct {
	Degree int32
	Minor  bool
	City   int32
	Topics topicRow
}

func (p *profRec) rel() relProfile {
	return relProfile{Degree: p.Degree, Minor: p.Minor, City: p.City, Topics: p.Topics}
}

// relationPair is the evidence of the relation type of the pair (u, c):
// ev of the pair join, and the users' profiles.
func relationPair(u, c *relProfile, ev *pairEv) models.RelationPair {
	return models.RelationPair{Info: ev.Info, Mutual: ev.Reach.Mutual, Degree: [2]int32{u.Degree, c.Degree}, CoMember: ev.Co.N,
		Minor: [2]bool{u.Minor, c.Minor}, SameCity: u.City == c.City, Interest: sparseCosine(u.Topics, c.Topics)}
}

// labelCand is a labelled friendship handed to its user with the friend's
// relation profile.
type labelCand struct {
	C  int64
	Ev labelEv
	P  relProfile
}

// relModelRec is the relation-type model of a run, when Trained.
type relModelRec struct {
	Trained bool
	M       models.RelationModel
}

// Refusals of a pair, in either direction.
const (
	refuseBlock   uint8 = iota // a block or a report, of any user, at any time
	refuseDismiss              // an unexpired dismissal or hide
)

// rankFriends adds the friend ranking; it returns the suggestions keyed
// by shard, and the relation-type model's metrics as a summary part.
// paths are the friends-of-friends paths summed per directed pair,
// members (user, group) memberships, signups the distinct (user,
// activity) sign-ups, graph the friend-graph embedding.
func rankFriends(s beam.Scope, fp friendParams, impulse, kept, friendships, paths, members, signups, signals, topics, users beam.PCollection, graph model) (friends, relParts beam.PCollection) {
	m := func(c beam.PCollection) beam.PCollection { return metered(s, shuffleFriends, c) }

	// 1. money ties
	tieEvs, legs, refusedEv := beam.ParDo3(s, &tieEventsFn{fp}, kept)
	famEvs, contacts, refusedSnap, labels := beam.ParDo4(s, &relationsFn{fp}, impulse)
	coEvs := beam.ParDo(s, &coLegsFn{fp}, beam.CombinePerKey(s, &firstLegsFn{N: features.MaxCoParticipants}, m(legs)))
	ties := beam.ParDo(s, &pairTieFn{fp}, beam.GroupByKey(s, m(beam.Flatten(s, tieEvs, famEvs, coEvs))))

	// 2. co-members of small groups and activities
	groupCo := beam.ParDo(s, &smallSetPairsFn{P: fp}, beam.GroupByKey(s, m(beam.ParDo(s, groupOfMember, members))))
	actCo := beam.ParDo(s, &smallSetPairsFn{P: fp, Activities: true}, beam.GroupByKey(s, m(beam.ParDo(s, activityOfSignup, signups))))
	comems := beam.CombinePerKey(s, addComem, m(beam.Flatten(s, groupCo, actCo)))

	// 3. the pairs
	refused := beam.Flatten(s, refusedEv, refusedSnap)
	known := beam.Flatten(s, beam.ParDo(s, unlabelled, friendships), labels)
	evs, labelled := beam.ParDo2(s, &pairFn{fp}, beam.CoGroupByKey(s, m(paths), m(ties), m(contacts), m(comems), m(known), m(refused)))

	// 4. the profiles
	xs := users
	if fp.Friends.LatentWeight == 0 {
		xs = beam.ParDo(s, noFactors, users)
	}
	profiles := beam.ParDo(s, &profileFn{fp}, beam.CoGroupByKey(s,
		m(beam.ParDo(s, &eligibleIDsFn{fp}, impulse)),
		m(beam.ParDo(s, userOfFriendship, friendships)),
		m(topics),
		m(beam.ParDo(s, positiveItem, signals)),
		m(beam.Flatten(s, beam.ParDo(s, &tagVecFn{vecGraphUser}, graph.users), beam.ParDo(s, &tagVecFn{vecGraphItem}, graph.items),
			beam.ParDo(s, &tagVecFn{vecInterest}, xs))),
		m(members)))

	// 5. the relation-type model
	rels := beam.ParDo(s, relProfileOf, profiles)
	servedLabels := beam.ParDo(s, serveLabel, beam.CoGroupByKey(s, m(rels), m(labelled)))
	examples := beam.ParDo(s, relationExamples, beam.CoGroupByKey(s, m(rels), m(servedLabels)))
	sample := beam.DropKey(s, beam.CombinePerKey(s, &relSampleFn{N: fp.Relations.MaxExamples}, m(examples)))
	model, relParts := beam.ParDo2(s, &fitRelationsFn{P: fp.Relations}, impulse, beam.SideInput{Input: sample})

	// 6. the candidates that can reach their user's list
	bounds := beam.ParDo(s, boundOf, profiles)
	bounded := beam.ParDo(s, serveBound, beam.CoGroupByKey(s, m(bounds), m(evs)))
	reachable := beam.ParDo(s, &reachableFn{P: fp, Held: maxHeld}, beam.CoGroupByKey(s, m(bounds), m(bounded)))

	// 7. their profiles to their users, and the ranking
	served := beam.ParDo(s, serveFriend, beam.CoGroupByKey(s, m(profiles), m(reachable)))
	friends = beam.ParDo(s, &rankFriendsFn{P: fp}, beam.CoGroupByKey(s, m(profiles), m(served)), beam.SideInput{Input: model})
	return friends, relParts
}

// undirectedKey is the key of the pair {a, b}, smaller ID first, and
// whether a→b flows back (from the larger to the smaller).
func undirectedKey(a, b int64) (string, bool) {
	if a < b {
		return directedKey(a, b), false
	}
	return directedKey(b, a), true
}

// legKey is the key of one split or fund: its kind and reference.
func legKey(kind uint8, ref int64) string {
	var b [9]byte
	b[0] = kind
	binary.BigEndian.PutUint64(b[1:], uint64(ref))
	return string(b[:])
}

// tieEventsFn turns kept rows into tie events keyed by pair, legs of
// splits and funds keyed by their reference, and refusals of pairs, as
// features.Build reads them.
type tieEventsFn struct{ P friendParams }

func (f *tieEventsFn) ProcessElement(ctx context.Context, r rowRec, tie func(string, features.TieEvent), leg func(string, legRec), refuse func(string, uint8)) error {
	if r.Table == tableInts && data.TargetKind(r.Kind) != data.TargetUser {
		return nil
	}
	if r.Table == tableTxns && data.PayeeType(r.Sub) != data.PayeeUser {
		return nil
	}
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	eligible := func(id int64) bool {
		u := d.Users.Lookup(id)
		return u >= 0 && d.Eligible(u)
	}
	emit := func(ev features.TieEvent, from, to int64) {
		k, back := undirectedKey(from, to)
		ev.Back = back
		tie(k, ev)
	}
	if r.Table == tableTxns {
		if !eligible(r.A) || !eligible(r.B) {
			return nil
		}
		t := data.Txn{TimeMillis: r.Time, Kind: data.TxKind(r.Kind), PayeeType: data.PayeeUser, Ref: r.Ref}
		if ev, ok := features.MoneyTie(t, f.P.Feat, f.P.Now); ok {
			emit(ev, r.A, r.B)
		}
		if features.CoLeg(t) {
			leg(legKey(r.Kind, r.Ref), legRec{Order: r.Order, Row: r.Row, Payer: r.A, Time: r.Time, Kind: r.Kind})
		}
		return nil
	}
	act := data.Action(r.Sub)
	switch {
	case act == data.ActBlock || act == data.ActReport:
		refuse(directedKey(r.A, r.B), refuseBlock)
		refuse(directedKey(r.B, r.A), refuseBlock)
	case (act == data.ActDismiss || act == data.ActHide) && r.Time >= f.P.TTLStart:
		refuse(directedKey(r.A, r.B), refuseDismiss)
		refuse(directedKey(r.B, r.A), refuseDismiss)
	case r.Time >= f.P.FeatureStart && !act.Negative() && eligible(r.A) && eligible(r.B):
		emit(features.InteractionTie(data.Event{TimeMillis: r.Time}, f.P.Feat, f.P.Now), r.A, r.B)
	}
	return nil
}

// relationsFn emits the snapshot's family ties, contacts (directed, in
// the address book's owner's direction), blocks and reports (either
// direction, of any user) and the types users gave their friendships (in
// the labelling user's direction), as features.Build reads them.
type relationsFn struct{ P friendParams }

func (f *relationsFn) ProcessElement(ctx context.Context, _ []byte, tie func(string, features.TieEvent), contact func(string, int64), refuse func(string, uint8),
	label func(string, data.RelationType)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	for _, r := range d.Relations {
		a, b := d.Users.ID(r.User), d.Users.ID(r.Other)
		if r.Kind == data.RelBlock || r.Kind == data.RelReport {
			refuse(directedKey(a, b), refuseBlock)
			refuse(directedKey(b, a), refuseBlock)
			continue
		}
		if !d.Eligible(r.User) || !d.Eligible(r.Other) {
			continue
		}
		switch r.Kind {
		case data.RelFamily:
			ev := features.FamilyTie(f.P.Feat)
			k, back := undirectedKey(a, b)
			ev.Back = back
			tie(k, ev)
		case data.RelContact:
			contact(directedKey(a, b), 1)
		case data.RelFriend:
			if r.Label != data.RelUnknown {
				label(directedKey(a, b), r.Label)
			}
		}
	}
	return nil
}

// firstLegsFn keeps the N legs of a split or fund that come first in read
// order, in at most 2N per accumulator.
type firstLegsFn struct {
	N int
}

func (f *firstLegsFn) CreateAccumulator() []legRec { return nil }

func (f *firstLegsFn) AddInput(acc []legRec, l legRec) []legRec {
	return keepBest(append(acc, l), f.N, 2*f.N, legBefore)
}

func (f *firstLegsFn) MergeAccumulators(a, b []legRec) []legRec {
	return keepBest(append(a, b...), f.N, 2*f.N, legBefore)
}

func (f *firstLegsFn) ExtractOutput(acc []legRec) []legRec { return keepBest(acc, f.N, 0, legBefore) }

// coLegsFn ties the payers of one split or fund pairwise.
type coLegsFn struct{ P friendParams }

func (f *coLegsFn) ProcessElement(_ string, legs []legRec, tie func(string, features.TieEvent)) {
	for x, a := range legs {
		for _, b := range legs[x+1:] {
			if a.Payer == b.Payer {
				continue
			}
			ta := data.Txn{TimeMillis: a.Time, Kind: data.TxKind(a.Kind)}
			tb := data.Txn{TimeMillis: b.Time, Kind: data.TxKind(b.Kind)}
			ev := features.CoLegTie(ta, tb, f.P.Feat, f.P.Now)
			k, back := undirectedKey(a.Payer, b.Payer)
			ev.Back = back
			tie(k, ev)
		}
	}
}

// pairTieFn sums a pair's tie events (features.PairTie) and emits the tie
// in both directions.
type pairTieFn struct{ P friendParams }

func (f *pairTieFn) ProcessElement(pair string, events func(*features.TieEvent) bool, emit func(string, tieRec)) {
	var evs []features.TieEvent
	var e features.TieEvent
	for events(&e) {
		evs = append(evs, e)
	}
	s, info := features.PairTie(evs, f.P.Feat)
	if s > 0 {
		a, b := splitDirected(pair)
		emit(directedKey(a, b), tieRec{s, info})
		emit(directedKey(b, a), tieRec{s, info})
	}
}

func activityOfSignup(pair string, _ int64) (int64, int64) {
	u, a := splitDirected(pair)
	return a, u
}

// smallSetPairsFn emits every ordered pair of the users of one active
// group (or one activity) with at most SmallGroupSize of them; it stops
// reading as soon as there are more.
type smallSetPairsFn struct {
	P          friendParams
	Activities bool
}

func (f *smallSetPairsFn) ProcessElement(ctx context.Context, id int64, users func(*int64) bool, emit func(string, comemRec)) error {
	if !f.Activities {
		d, err := loadDims(ctx, f.P.Input, f.P.Date)
		if err != nil {
			return err
		}
		if g := d.Groups.Lookup(id); g < 0 || d.GroupStatus[g] != data.StatusActive {
			return nil
		}
	}
	var us []int64
	var u int64
	for users(&u) {
		if us = append(us, u); len(us) > f.P.Friends.SmallGroupSize {
			return nil
		}
	}
	rec := comemRec{N: 1, Group: id, InG: true}
	if f.Activities {
		rec = comemRec{N: 1, Act: id, InA: true}
	}
	for _, a := range us {
		for _, b := range us {
			if a != b {
				emit(directedKey(a, b), rec)
			}
		}
	}
	return nil
}

// unlabelled is a friendship as pairFn reads it with the labels: one
// without a type.
func unlabelled(pair string, _ int64) (string, data.RelationType) { return pair, data.RelUnknown }

// pairFn joins a directed pair's evidence and keeps it, keyed by the
// candidate, unless the pair is a friendship, is refused, or is too
// weakly connected to be a candidate; a labelled friendship's evidence
// goes to labelled, keyed by the friend. known holds the pair's
// friendship and the types its user gave it.
type pairFn struct{ P friendParams }

func (f *pairFn) ProcessElement(ctx context.Context, pair string, paths func(*pathRec) bool, ties func(*tieRec) bool, contacts func(*int64) bool,
	comems func(*comemRec) bool, known func(*data.RelationType) bool, refused func(*uint8) bool, emit func(int64, pairEv), labelled func(int64, labelEv)) {
	var n int64
	var why uint8
	var types []data.RelationType
	friends := false
	for t := data.RelUnknown; known(&t); {
		if friends = true; t != data.RelUnknown {
			types = append(types, t)
		}
	}
	if (!friends && refused(&why)) || (friends && types == nil) {
		return
	}
	u, c := splitDirected(pair)
	if u == c {
		return
	}
	ev := pairEv{U: u}
	var p pathRec
	if paths(&p) {
		ev.Reach.Mutual, ev.Reach.AA, ev.Reach.RA = p.Mutual, p.AA, p.RA
	}
	var tie tieRec
	if ties(&tie) {
		ev.Reach.Tie, ev.Info = tie.S, tie.Info
	}
	ev.Reach.Contact = contacts(&n)
	if comems(&ev.Co) {
		ev.Reach.CoMember = uint8(min(ev.Co.N, models.MaxCoMember))
	}
	if friends {
		labelled(c, labelEv{Ev: ev, Types: types})
		return
	}
	if !ev.Reach.Reached(f.P.Friends) {
		return
	}
	friendPairs.Inc(ctx, 1)
	emit(c, ev)
}

// eligibleIDsFn emits every eligible user.
type eligibleIDsFn struct{ P friendParams }

func (f *eligibleIDsFn) ProcessElement(ctx context.Context, _ []byte, emit func(int64, int64)) error {
	return eachEligible(ctx, f.P.Input, f.P.Date, func(id int64) { emit(id, 1) })
}

func userOfFriendship(pair string, _ int64) (int64, int64) {
	u, _ := splitDirected(pair)
	return u, 1
}

// positiveItem keys an item with positive signal by its user.
func positiveItem(pair string, v float64, emit func(int64, string)) {
	if float32(v) > 0 {
		u, i := splitPair(pair)
		_, id := keyID(u)
		emit(id, i)
	}
}

func noFactors(string, []float32, func(string, []float32)) {}

// vecRec is one of a user's vectors, of the kind vecGraphUser, ….
type vecRec struct {
	Kind uint8
	V    []float32
}

const (
	vecGraphUser uint8 = iota // the friend graph's user factor
	vecGraphItem              // its item factor
	vecInterest               // the interest model's user factor
)

// tagVecFn keys a factor by its user's ID, tagged with its kind.
type tagVecFn struct {
	Kind uint8
}

func (f *tagVecFn) ProcessElement(key string, v []float32) (int64, vecRec) {
	_, id := keyID(key)
	return id, vecRec{f.Kind, v}
}

// profileFn builds an eligible user's profile.
type profileFn struct{ P friendParams }

func (f *profileFn) ProcessElement(ctx context.Context, u int64, eligible func(*int64) bool, friends func(*int64) bool, topics func(*topicRow) bool,
	items func(*string) bool, vecs func(*vecRec) bool, groups func(*int64) bool, emit func(int64, profRec)) error {
	var one int64
	if !eligible(&one) {
		return nil
	}
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	var p profRec
	for friends(&one) {
		p.Degree++
	}
	i := d.Users.Lookup(u)
	p.Minor, p.City = d.UserMinor[i], d.UserCity[i]
	topics(&p.Topics)
	var it string
	for items(&it) {
		p.Items = append(p.Items, it)
	}
	slices.Sort(p.Items)
	var v vecRec
	for vecs(&v) {
		switch v.Kind {
		case vecGraphUser:
			p.GX = v.V
		case vecGraphItem:
			p.GY = v.V
		case vecInterest:
			p.X = v.V
		}
		v = vecRec{}
	}
	var g int64
	for groups(&g) {
		if i := d.Groups.Lookup(g); i >= 0 {
			p.GroupTopics = append(p.GroupTopics, d.GroupTopics[i]...)
		}
	}
	slices.Sort(p.GroupTopics)
	p.GroupTopics = slices.Compact(p.GroupTopics)
	emit(u, p)
	return nil
}

// boundRec is what bounds a candidate's score, of its profile: all but
// the profile features (models.ProfileBounds bounds those from the items'
// count). GX is the user's own, when the record is the user's.
type boundRec struct {
	Degree int32
	Minor  bool
	Items  int32
	GX, GY []float32
}

func boundOf(u int64, p profRec) (int64, boundRec) {
	return u, boundRec{Degree: p.Degree, Minor: p.Minor, Items: int32(len(p.Items)), GX: p.GX, GY: p.GY}
}

// boundEv is a candidate handed to its user with what bounds its score.
type boundEv struct {
	C  int64
	Ev pairEv
	B  boundRec
}

// serveBound hands each pair to its user with what bounds the candidate's
// score; a candidate without a profile (not eligible) is dropped.
func serveBound(c int64, bounds func(*boundRec) bool, evs func(*pairEv) bool, emit func(int64, boundEv)) {
	var b boundRec
	if !bounds(&b) {
		return
	}
	b.GX = nil // only the user's own is read
	var ev pairEv
	for evs(&ev) {
		emit(ev.U, boundEv{C: c, Ev: ev, B: b})
	}
}

// reachableFn keeps, of one user's candidates, those whose most score
// reaches the least score the user's list can end on: the MaxPerUser-th
// largest least score of the candidates the minor rule lets meet the
// user. The pairs it keeps go on, keyed by the candidate, to fetch its
// profile. A user's candidates are held until the floor is known, up to
// Held of them; a user with more is served them all, unpruned, so that no
// worker holds a hub's candidates (Beam's Go SDK iterates a group's values
// once).
type reachableFn struct {
	P    friendParams
	Held int
	w    [models.NumFriendFeatures]float64
}

// maxHeld is the most candidates of one user reachableFn holds: about 150
// bytes each.
const maxHeld = 4096

// reachCand is a candidate held until its user's floor is known.
type reachCand struct {
	C  int64
	Ev pairEv
	Hi float64
}

func (f *reachableFn) Setup() { f.w = f.P.Friends.Weights() }

func (f *reachableFn) ProcessElement(ctx context.Context, u int64, mine func(*boundRec) bool, cands func(*boundEv) bool, emit func(int64, pairEv)) {
	var me boundRec
	if !mine(&me) {
		return
	}
	k := f.P.Friends.MaxPerUser
	var held []reachCand
	var least []float64 // the largest least scores, at most 4k of them
	n, unpruned := 0, false
	for c := (boundEv{}); cands(&c); c = (boundEv{}) {
		if !models.MinorsMayMeet(me.Minor, c.B.Minor, c.Ev.Info) {
			continue
		}
		switch {
		case unpruned:
			emit(c.C, c.Ev)
			n++
		case len(held) == f.Held:
			for _, h := range held {
				emit(h.C, h.Ev)
			}
			emit(c.C, c.Ev)
			n, unpruned, held = len(held)+1, true, nil
		default:
			lo, hi := f.bounds(&me, &c)
			held = append(held, reachCand{C: c.C, Ev: c.Ev, Hi: hi})
			if least = append(least, lo); len(least) >= 4*k {
				least = topFloats(least, k)
			}
		}
	}
	if !unpruned {
		floor := math.Inf(-1)
		if least = topFloats(least, k); len(least) == k {
			floor = least[k-1]
		}
		for _, h := range held {
			// A candidate whose most ties the floor may still win on its
			// ID; the margin covers the rounding of a score summed in
			// another order.
			if h.Hi+1e-9*(1+math.Abs(h.Hi)) >= floor {
				emit(h.C, h.Ev)
				n++
			}
		}
	}
	friendPairsRanked.Inc(ctx, int64(n))
}

// bounds is the least and the most score of candidate c for the user of
// me: its features but the profile's, and models.ProfileBounds.
func (f *reachableFn) bounds(me *boundRec, c *boundEv) (lo, hi float64) {
	x := graphFeatures(me.GX, c.B.GY, c.B.Degree, &c.Ev.Reach)
	s := models.FriendScore(&f.w, &x)
	lo, hi = models.ProfileBounds(&f.w, int(me.Items), int(c.B.Items))
	return s + lo, s + hi
}

// graphFeatures are a candidate's features but the profile's: those of
// the pair's reach, the candidate's friend count and the friend graph's
// predicted tie of gx (the user's) and gy (the candidate's).
func graphFeatures(gx, gy []float32, degree int32, r *models.FriendReach) [models.NumFriendFeatures]float64 {
	var graph float64
	if gx != nil && gy != nil {
		graph = f32.Dot64(gx, gy)
	}
	return r.GraphFeatures(math.Log1p(float64(r.Mutual)), math.Log1p(float64(degree)), graph)
}

// topFloats is the n largest of xs, largest first.
func topFloats(xs []float64, n int) []float64 {
	slices.SortFunc(xs, func(a, b float64) int { return cmp.Compare(b, a) })
	return xs[:min(len(xs), n)]
}

// serveFriend hands each pair to its user with the candidate's profile;
// a candidate without one (not eligible) is dropped.
func serveFriend(c int64, profiles func(*profRec) bool, evs func(*pairEv) bool, emit func(int64, candEv)) {
	var p profRec
	if !profiles(&p) {
		return
	}
	p.GX = nil // only the user's own is read
	var ev pairEv
	for evs(&ev) {
		emit(ev.U, candEv{C: c, Ev: ev, P: p})
	}
}

func relProfileOf(u int64, p profRec) (int64, relProfile) { return u, p.rel() }

// serveLabel hands each labelled friendship to its user with the friend's
// relation profile.
func serveLabel(c int64, profiles func(*relProfile) bool, evs func(*labelEv) bool, emit func(int64, labelCand)) {
	var p relProfile
	if !profiles(&p) {
		return // unreachable: both users of a friendship here are eligible
	}
	var ev labelEv
	for evs(&ev) {
		emit(ev.Ev.U, labelCand{C: c, Ev: ev, P: p})
		ev = labelEv{}
	}
}

// relationExamples makes each of a user's labelled friendships an example
// per type the user gave it, all under one key: the sample is one.
func relationExamples(u int64, profiles func(*relProfile) bool, labelled func(*labelCand) bool, emit func(int, models.RelationExample)) {
	var me relProfile
	if !profiles(&me) {
		return
	}
	var l labelCand
	for labelled(&l) {
		pair := relationPair(&me, &l.P, &l.Ev.Ev)
		x := pair.Features()
		for _, t := range l.Ev.Types {
			emit(0, models.RelationExample{User: u, Friend: l.C, Type: t, X: x})
		}
		l = labelCand{}
	}
}

// relSample is the relation examples a run holds: their number, and the
// first N in models.CompareRelationExamples order.
type relSample struct {
	Labels int64
	Best   []models.RelationExample
}

// relSampleFn samples the examples, in at most 2N per accumulator.
type relSampleFn struct {
	N int
}

func (f *relSampleFn) CreateAccumulator() relSample { return relSample{} }

func (f *relSampleFn) AddInput(acc relSample, e models.RelationExample) relSample {
	acc.Labels++
	acc.Best = keepBest(append(acc.Best, e), f.N, 2*f.N, models.CompareRelationExamples)
	return acc
}

func (f *relSampleFn) MergeAccumulators(a, b relSample) relSample {
	return relSample{Labels: a.Labels + b.Labels, Best: keepBest(append(a.Best, b.Best...), f.N, 2*f.N, models.CompareRelationExamples)}
}

func (f *relSampleFn) ExtractOutput(acc relSample) relSample {
	acc.Best = keepBest(acc.Best, f.N, 0, models.CompareRelationExamples)
	return acc
}

// fitRelationsFn fits the relation-type model on the sample (none when
// the run has no labelled friendship) and emits it, trained or not, with
// its metrics.
type fitRelationsFn struct {
	P models.RelationParams
}

func (f *fitRelationsFn) ProcessElement(_ []byte, samples func(*relSample) bool, emit func(relModelRec), metrics func(part)) error {
	var sm relSample
	samples(&sm)
	m, err := models.FitRelations(sm.Best, f.P)
	rm, err := jobs.RelationMetrics(m, int(sm.Labels), err)
	if err != nil {
		return err
	}
	rec := relModelRec{Trained: m != nil}
	if m != nil {
		rec.M = *m
	}
	emit(rec)
	metrics(part{Relations: &rm})
	return nil
}

// rankFriendsFn ranks one user's candidates.
type rankFriendsFn struct {
	P friendParams
	w [models.NumFriendFeatures]float64
}

func (f *rankFriendsFn) Setup() { f.w = f.P.Friends.Weights() }

// scoredCand is a candidate with its score, held in the bounded list.
type scoredCand struct {
	Score float64
	C     candEv
}

func (f *rankFriendsFn) ProcessElement(ctx context.Context, u int64, profiles func(*profRec) bool, cands func(*candEv) bool, rel relModelRec, emit func(int, data.FriendSuggestion)) error {
	var me profRec
	if !profiles(&me) {
		return nil
	}
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	k := f.P.Friends.MaxPerUser
	order := func(a, b scoredCand) int { return models.CompareDesc(a.Score, b.Score, a.C.C, b.C.C) }
	var best []scoredCand
	var c candEv
	for cands(&c) {
		if !models.MinorsMayMeet(me.Minor, c.P.Minor, c.Ev.Info) {
			continue
		}
		best = keepBest(append(best, scoredCand{f.score(&me, &c), c}), k, 4*k, order)
		c = candEv{}
	}
	best = keepBest(best, k, 0, order)
	for rank, sc := range best {
		why := models.FriendWhy{Reach: sc.C.Ev.Reach, Info: sc.C.Ev.Info, Group: sc.C.Ev.Co.Group, InGroup: sc.C.Ev.Co.InG,
			Activity: sc.C.Ev.Co.Act, InActivity: sc.C.Ev.Co.InA}
		if t, ok := firstCommon(me.GroupTopics, sc.C.P.GroupTopics); ok {
			why.Topic = d.Topics.Name(t)
		}
		fs := data.FriendSuggestion{UserID: u, CandidateID: sc.C.C, Rank: int32(rank + 1), Score: float32(sc.Score), Reasons: models.FriendReasons(&why)}
		if rel.Trained {
			mine, theirs := me.rel(), sc.C.P.rel()
			pair := relationPair(&mine, &theirs, &sc.C.Ev)
			rel.M.Label(&fs, &pair)
		}
		emit(shardOf(userKey(u), f.P.Shards), fs)
	}
	return nil
}

// score is the candidate's score for the user of profile me.
func (f *rankFriendsFn) score(me *profRec, c *candEv) float64 {
	x := graphFeatures(me.GX, c.P.GY, c.P.Degree, &c.Ev.Reach)
	if f.w[models.FeatInterest] != 0 {
		x[models.FeatInterest] = sparseCosine(me.Topics, c.P.Topics)
	}
	if f.w[models.FeatSharedItems] != 0 {
		x[models.FeatSharedItems] = models.ItemSetCosine(models.CommonCount(me.Items, c.P.Items), len(me.Items), len(c.P.Items))
	}
	if f.w[models.FeatLatent] != 0 && me.X != nil && c.P.X != nil {
		nu, nc := math.Sqrt(f32.Dot64(me.X, me.X)), math.Sqrt(f32.Dot64(c.P.X, c.P.X))
		if nu > 0 && nc > 0 {
			x[models.FeatLatent] = f32.Dot64(me.X, c.P.X) / (nu * nc)
		}
	}
	return models.FriendScore(&f.w, &x)
}

// sparseCosine is the cosine of two sparse topic rows, each by ascending
// topic.
func sparseCosine(a, b topicRow) float64 {
	var ab, aa, bb float64
	for _, w := range a.Weights {
		aa += float64(w) * float64(w)
	}
	for _, w := range b.Weights {
		bb += float64(w) * float64(w)
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	for i, j := 0, 0; i < len(a.Topics) && j < len(b.Topics); {
		switch {
		case a.Topics[i] < b.Topics[j]:
			i++
		case a.Topics[i] > b.Topics[j]:
			j++
		default:
			ab += float64(a.Weights[i]) * float64(b.Weights[j])
			i, j = i+1, j+1
		}
	}
	return ab / math.Sqrt(aa*bb)
}

// firstCommon is the smallest value two ascending lists share.
func firstCommon(a, b []int32) (int32, bool) {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			return a[i], true
		}
	}
	return 0, false
}

// writeFriendsFn writes one shard of friend_suggestions.
type writeFriendsFn struct {
	Dir    string
	Shards int
}

func (f *writeFriendsFn) ProcessElement(ctx context.Context, shard int, rows func(*data.FriendSuggestion) bool, done func(pipeline.FileEntry)) error {
	return writeRanked(ctx, f.Dir, ShardName(FileFriends, shard, f.Shards), rows, func(s *data.FriendSuggestion) (int64, int32) { return s.UserID, s.Rank }, done)
}

func init() {
	register.DoFn5x1[context.Context, rowRec, func(string, features.TieEvent), func(string, legRec), func(string, uint8), error](&tieEventsFn{})
	register.DoFn6x1[context.Context, []byte, func(string, features.TieEvent), func(string, int64), func(string, uint8), func(string, data.RelationType), error](&relationsFn{})
	register.Combiner3[[]legRec, legRec, []legRec](&firstLegsFn{})
	register.DoFn3x0[string, []legRec, func(string, features.TieEvent)](&coLegsFn{})
	register.DoFn3x0[string, func(*features.TieEvent) bool, func(string, tieRec)](&pairTieFn{})
	register.Function2x2(activityOfSignup)
	register.DoFn4x1[context.Context, int64, func(*int64) bool, func(string, comemRec), error](&smallSetPairsFn{})
	register.Function2x1(addComem)
	register.Function2x2(unlabelled)
	register.DoFn10x0[context.Context, string, func(*pathRec) bool, func(*tieRec) bool, func(*int64) bool, func(*comemRec) bool, func(*data.RelationType) bool, func(*uint8) bool,
		func(int64, pairEv), func(int64, labelEv)](&pairFn{})
	register.DoFn3x1[context.Context, []byte, func(int64, int64), error](&eligibleIDsFn{})
	register.Function2x2(userOfFriendship)
	register.Function3x0(positiveItem)
	register.Function3x0(noFactors)
	register.DoFn2x2[string, []float32, int64, vecRec](&tagVecFn{})
	register.DoFn9x1[context.Context, int64, func(*int64) bool, func(*int64) bool, func(*topicRow) bool, func(*string) bool, func(*vecRec) bool, func(*int64) bool, func(int64, profRec), error](&profileFn{})
	register.Function2x2(boundOf)
	register.Function4x0(serveBound)
	register.DoFn5x0[context.Context, int64, func(*boundRec) bool, func(*boundEv) bool, func(int64, pairEv)](&reachableFn{})
	register.Function4x0(serveFriend)
	register.Function2x2(relProfileOf)
	register.Function4x0(serveLabel)
	register.Function4x0(relationExamples)
	register.Combiner3[relSample, models.RelationExample, relSample](&relSampleFn{})
	register.DoFn4x1[[]byte, func(*relSample) bool, func(relModelRec), func(part), error](&fitRelationsFn{})
	register.DoFn6x1[context.Context, int64, func(*profRec) bool, func(*candEv) bool, relModelRec, func(int, data.FriendSuggestion), error](&rankFriendsFn{})
	register.DoFn4x1[context.Context, int, func(*data.FriendSuggestion) bool, func(pipeline.FileEntry), error](&writeFriendsFn{})
	register.Function2x2(graphSignal)
	register.Emitter2[string, features.TieEvent]()
	register.Emitter2[string, legRec]()
	register.Emitter2[string, uint8]()
	register.Emitter2[string, data.RelationType]()
	register.Emitter2[int64, labelEv]()
	register.Emitter2[int64, labelCand]()
	register.Emitter2[int, models.RelationExample]()
	register.Emitter1[relModelRec]()
	register.Emitter1[part]()
	register.Iter1[data.RelationType]()
	register.Iter1[labelEv]()
	register.Iter1[labelCand]()
	register.Iter1[relProfile]()
	register.Iter1[relSample]()
	register.Emitter2[string, tieRec]()
	register.Emitter2[string, comemRec]()
	register.Emitter2[int64, pairEv]()
	register.Emitter2[int64, profRec]()
	register.Emitter2[int64, candEv]()
	register.Emitter2[int64, boundRec]()
	register.Emitter2[int64, boundEv]()
	register.Emitter2[int, data.FriendSuggestion]()
	register.Emitter2[int64, string]()
	register.Iter1[features.TieEvent]()
	register.Iter1[tieRec]()
	register.Iter1[comemRec]()
	register.Iter1[uint8]()
	register.Iter1[vecRec]()
	register.Iter1[pairEv]()
	register.Iter1[profRec]()
	register.Iter1[candEv]()
	register.Iter1[boundRec]()
	register.Iter1[boundEv]()
	register.Iter1[data.FriendSuggestion]()
}
