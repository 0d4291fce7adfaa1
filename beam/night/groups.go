package night

import (
	"cmp"
	"context"
	"encoding/binary"
	"maps"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"circles/data"
	"circles/features"
	"circles/models"
	"circles/models/f32"
	"circles/pipeline"
)

// Group and activity suggestions on Beam. The local rankers read dense
// arrays of the whole world; here each user's ranking reads one
// neighbourhood record, built by joins keyed by external IDs, and scores
// it with the local driver's kernel (models.GroupScorer over
// models.GroupEvidence and models.ActivityEvidence):
//
//  1. each group's eligible members (a count), its city's largest count
//     (a side input, one number per city) and its recent activities give
//     its health (models.GroupHealth); joined with its item factor it is
//     a groupRec, what the score reads of the group. Each upcoming
//     activity's sign-ups (distinct eligible users), joined with its own
//     and its group's item factors, are an actRec;
//  2. the city's candidate lists, the healthiest groups and the most
//     signed-up activities of the city and of each of its topics, by
//     combines that hold at most twice a list;
//  3. co-membership: pairs of one user's groups counted, each group's
//     models.MaxCoJoined largest shares kept, and handed to its members;
//  4. friends in groups: each friend's groups handed to the friend's
//     friends, counted per (user, group), and the friendships among those
//     friends found by a join with the friendships; friends going: each
//     friend's sign-ups handed to the friend's friends, counted;
//  5. per user: its vector, topics, groups, sign-ups, what it hid,
//     friends' groups and sign-ups and co-membership joined; the groups
//     and activities it reaches through friends, co-membership and its
//     own groups fetched by a join on the candidate;
//  6. per (city, bucket): the users of the city, streamed, each ranked
//     against the city's lists, held (a bucket is a hash of the user, so
//     that one large city is ranked by many workers).

// groupRec is a group as a candidate: what the score reads of it.
type groupRec struct {
	ID     int64
	Health float64
	Recent int32
	Y      []float32 // its item factor; nil without observations
}

// cityList is one of a city's candidate lists: its healthiest groups
// (Topic −1) or its healthiest on one topic.
type cityList struct {
	Topic  int32
	Groups []groupRec
}

// coRec is one group of another's co-membership list.
type coRec struct {
	G     int64
	Count int32   // eligible members of both
	Share float32 // of the list's group's eligible members
}

// coEntry is what one of a user's groups (H) adds to a candidate.
type coEntry struct {
	G, H  int64
	Count int32
	Share float32
}

// linkRec counts a (user, group) pair's friends in the group and the
// friendships among them.
type linkRec struct {
	N, L int32
}

func addLinks(a, b linkRec) linkRec { return linkRec{a.N + b.N, a.L + b.L} }

// friendGroup is a group a user's friends are in.
type friendGroup struct {
	G    int64
	N, L int32
}

// coAgg is a candidate's co-membership summed over a user's groups.
type coAgg struct {
	G     int64
	Share float64
	From  int64
	Count int32
	best  float32 // the share of From
}

// actRec is an upcoming activity as a candidate: what the score reads of
// it.
type actRec struct {
	ID, Group  int64
	Signups    int32
	StartsDays int32
	Y, GroupY  []float32 // its and its group's item factors
}

// actList is one of a city's activity lists, as cityList.
type actList struct {
	Topic int32
	Acts  []actRec
}

// going counts a user's friends signed up for an activity.
type going struct {
	A int64
	N int32
}

// userFact is one fact of a user's record.
type userFact struct {
	Kind uint8 // factEligible, …
	ID   int64 // the group or activity
}

const (
	factEligible       uint8 = iota // the user is ranked
	factMember                      // in group ID
	factHiddenGroup                 // hid, dismissed or reported group ID
	factHiddenActivity              // likewise activity ID
	factSignup                      // signed up for activity ID
)

func memberFact(u, g int64) (int64, userFact) { return u, userFact{Kind: factMember, ID: g} }

// ownFacts are a user's facts, each list sorted.
type ownFacts struct {
	Groups    []int64 // the user is in
	HidGroups []int64
	HidActs   []int64
	Signups   []int64
}

// readFacts gathers a user's facts, and whether the user is eligible.
func readFacts(facts func(*userFact) bool) (own ownFacts, eligible bool) {
	var x userFact
	for facts(&x) {
		switch x.Kind {
		case factEligible:
			eligible = true
		case factMember:
			own.Groups = append(own.Groups, x.ID)
		case factHiddenGroup:
			own.HidGroups = append(own.HidGroups, x.ID)
		case factHiddenActivity:
			own.HidActs = append(own.HidActs, x.ID)
		case factSignup:
			own.Signups = append(own.Signups, x.ID)
		}
	}
	for _, l := range []*[]int64{&own.Groups, &own.HidGroups, &own.HidActs, &own.Signups} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
	}
	return own, eligible
}

// candRec is a candidate served to a user: a group, or an activity.
type candRec struct {
	IsAct bool
	G     groupRec
	A     actRec
}

// userRec is one user's part of the neighbourhood record. Every list is
// sorted.
type userRec struct {
	ID        int64
	X         []float32
	Topics    topicRow // normalised, sparse
	Own       ownFacts
	Friends   []friendGroup // by group
	Co        []coAgg       // by group
	FriendsGo []going       // by activity
}

// hood is a user's whole neighbourhood record but the city's lists.
type hood struct {
	User   userRec
	Groups []groupRec // reached through friends and co-membership
	Acts   []actRec   // friends signed up for, or of the user's groups
}

// groupsParams is what the group stage's DoFns read of a run.
type groupsParams struct {
	Input        string
	Date         int64
	Now          int64 // end of the run date, millis
	FeatureStart int64 // millis
	Groups       models.GroupParams
	Feat         features.Params
	Buckets      int
	Shards       int
}

// rankGroups adds the group and activity rankings; it returns the
// suggestions of each, keyed by shard. members are (user, group)
// memberships as resolved for the signals, signups the distinct
// (user, activity) sign-ups (signupFn), friendships the directed pairs,
// users and items the factors, topics each user's normalised topic row,
// kept the validated events.
func rankGroups(s beam.Scope, gp groupsParams, impulse, members, signups, friendships, users, items, topics, kept beam.PCollection) (groups, acts beam.PCollection) {
	m := func(c beam.PCollection) beam.PCollection { return metered(s, shuffleGroups, c) }

	// 1. groups and activities as candidates
	counts := beam.CombinePerKey(s, addCount, m(beam.Flatten(s,
		beam.ParDo(s, &activeGroupsFn{gp}, impulse), beam.ParDo(s, memberOfGroup, members))))
	cityMax := beam.CombinePerKey(s, maxCount, m(beam.ParDo(s, &cityOfGroupFn{gp}, counts)))
	groupYs, actYs := beam.ParDo2(s, splitItemFactor, items)
	recs := beam.ParDo(s, &groupRecFn{P: gp}, beam.CoGroupByKey(s, m(counts), m(groupYs)), beam.SideInput{Input: cityMax})
	signupFacts, signupOne, signupOf := beam.ParDo3(s, splitSignup, signups)
	actCounts := beam.CombinePerKey(s, addCount, m(beam.Flatten(s, beam.ParDo(s, &upcomingFn{gp}, impulse), signupOne)))
	partial := beam.ParDo(s, &actRecFn{gp}, beam.CoGroupByKey(s, m(actCounts), m(actYs)))
	actRecs := beam.ParDo(s, withGroupFactor, beam.CoGroupByKey(s, m(partial), m(groupYs)))

	// 2. the cities' lists
	popular := beam.CombinePerKey(s, &healthiestFn{N: gp.Groups.PopularCandidates}, m(beam.ParDo(s, &cityKeysFn{P: gp}, recs)))
	byTopic := beam.CombinePerKey(s, &healthiestFn{N: gp.Groups.PerTopicCandidates}, m(beam.ParDo(s, &cityKeysFn{P: gp, Topics: true}, recs)))
	groupLists := beam.ParDo(s, &bucketListsFn{Buckets: gp.Buckets}, beam.Flatten(s, popular, byTopic))
	popularActs := beam.CombinePerKey(s, &mostSignedUpFn{N: gp.Groups.PopularCandidates}, m(beam.ParDo(s, &actCityKeysFn{P: gp}, actRecs)))
	actsByTopic := beam.CombinePerKey(s, &mostSignedUpFn{N: gp.Groups.PerTopicCandidates}, m(beam.ParDo(s, &actCityKeysFn{P: gp, Topics: true}, actRecs)))
	actLists := beam.ParDo(s, &bucketActListsFn{Buckets: gp.Buckets}, beam.Flatten(s, popularActs, actsByTopic))

	// 3. co-membership (userRecFn ignores it at a weight of 0, as the
	// local driver does not build it then)
	pairs := beam.CombinePerKey(s, addCount, m(beam.ParDo(s, &coPairsFn{gp}, beam.GroupByKey(s, m(members)))))
	coLists := beam.ParDo(s, &coListFn{gp}, beam.CoGroupByKey(s, m(beam.ParDo(s, coByFirst, pairs)), m(counts)))
	coEntries := beam.ParDo(s, coToMembers, beam.CoGroupByKey(s, m(beam.ParDo(s, groupOfMember, members)), m(coLists)))

	// 4. friends in groups and the friendships among them; friends going
	friendsOf := beam.ParDo(s, byFriend, friendships)
	perPair := beam.ParDo(s, &friendGroupsFn{gp}, beam.CoGroupByKey(s, m(friendsOf), m(members)))
	found, checks := beam.ParDo2(s, friendLinksFn, beam.GroupByKey(s, m(perPair)))
	linked := beam.ParDo(s, linkFound, beam.CoGroupByKey(s, m(checks), m(friendships)))
	friendEv := beam.ParDo(s, splitLinks, beam.CombinePerKey(s, addLinks, m(beam.Flatten(s, found, linked))))
	goingPairs := beam.ParDo(s, &friendsGoingFn{gp}, beam.CoGroupByKey(s, m(friendsOf), m(signupOf)))
	friendsGo := beam.ParDo(s, splitGoing, beam.CombinePerKey(s, addCount, m(goingPairs)))

	// 5. the users' records and the candidates they reach
	facts := beam.Flatten(s, beam.ParDo(s, &eligibleUsersFn{gp}, impulse), beam.ParDo(s, memberFact, members),
		beam.ParDo(s, &hiddenFn{TTLStart: gp.Now - int64(gp.Feat.DismissTTLDays)*86_400_000}, kept), signupFacts)
	recsOf, requests := beam.ParDo2(s, &userRecFn{gp}, beam.CoGroupByKey(s, m(facts), m(beam.ParDo(s, userFactor, users)), m(topics),
		m(friendEv), m(coEntries), m(friendsGo)))
	cands := beam.Flatten(s, beam.ParDo(s, groupCand, recs), beam.ParDo(s, actCands, actRecs))
	served := beam.ParDo(s, serveCands, beam.CoGroupByKey(s, m(requests), m(cands)))
	hoods := beam.ParDo(s, &hoodFn{gp}, beam.CoGroupByKey(s, m(recsOf), m(served)))

	// 6. ranking, per (city, bucket)
	return beam.ParDo2(s, &rankFn{P: gp}, beam.CoGroupByKey(s, m(hoods), m(groupLists), m(actLists)))
}

// activeGroupsFn emits every active group with no members, so that a
// group without eligible members still has a count (and a health).
type activeGroupsFn struct{ P groupsParams }

func (f *activeGroupsFn) ProcessElement(ctx context.Context, _ []byte, emit func(int64, int64)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	for g := range int32(d.Groups.Len()) {
		if d.GroupStatus[g] == data.StatusActive {
			emit(d.Groups.ID(g), 0)
		}
	}
	return nil
}

func memberOfGroup(_, g int64) (int64, int64) { return g, 1 }
func groupOfMember(u, g int64) (int64, int64) { return g, u }

func maxCount(a, b int64) int64 { return max(a, b) }

// cityOfGroupFn keys a group's eligible members by its city: every group
// counts towards its city's largest, as the local driver counts them.
type cityOfGroupFn struct{ P groupsParams }

func (f *cityOfGroupFn) ProcessElement(ctx context.Context, g, n int64, emit func(string, int64)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	if i := d.Groups.Lookup(g); i >= 0 {
		emit(d.Cities.Name(d.GroupCity[i]), n)
	}
	return nil
}

// splitItemFactor keys the item factors of groups and of activities by
// their IDs.
func splitItemFactor(key string, y []float32, groups, acts func(int64, []float32)) {
	switch kind, id := keyID(key); data.TargetKind(kind) {
	case data.TargetGroup:
		groups(id, y)
	case data.TargetActivity:
		acts(id, y)
	}
}

// groupRecFn makes an active group's groupRec from its eligible members,
// its city's largest count (a side input), its recent activities and its
// item factor.
type groupRecFn struct {
	P       groupsParams
	recent  []int
	cityMax map[string]int64
}

func (f *groupRecFn) ProcessElement(ctx context.Context, g int64, counts func(*int64) bool, ys func(*[]float32) bool, cityMax func(*string, *int64) bool, emit func(int64, groupRec)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	if f.recent == nil {
		f.recent = models.RecentActivities(d, f.P.Now, f.P.Groups.HorizonDays)
		f.cityMax = map[string]int64{}
		var c string
		var n int64
		for cityMax(&c, &n) {
			f.cityMax[c] = n
		}
	}
	i := d.Groups.Lookup(g)
	var n int64
	if i < 0 || d.GroupStatus[i] != data.StatusActive || !counts(&n) {
		return nil
	}
	var y []float32
	ys(&y)
	recent := f.recent[i]
	emit(g, groupRec{ID: g, Health: models.GroupHealth(int(n), int(f.cityMax[d.Cities.Name(d.GroupCity[i])]), recent), Recent: int32(recent), Y: y})
	return nil
}

// cityKeysFn keys a group by its city (Topics false), or by its city and
// each of its topics.
type cityKeysFn struct {
	P      groupsParams
	Topics bool
}

func (f *cityKeysFn) ProcessElement(ctx context.Context, g int64, r groupRec, emit func(string, groupRec)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	i := d.Groups.Lookup(g)
	city := d.Cities.Name(d.GroupCity[i])
	if !f.Topics {
		emit(cityTopicKey(city, -1), r)
		return nil
	}
	for _, t := range d.GroupTopics[i] {
		emit(cityTopicKey(city, t), r)
	}
	return nil
}

// cityTopicKey is the key of a city's list: the city, then the topic
// (−1 for the city's healthiest overall).
func cityTopicKey(city string, topic int32) string {
	b := binary.BigEndian.AppendUint32([]byte(city), uint32(topic))
	return string(b)
}

func splitCityTopic(k string) (city string, topic int32) {
	n := len(k) - 4
	return k[:n], int32(binary.BigEndian.Uint32([]byte(k[n:])))
}

// cityBucketKey is the key of one bucket of a city's users.
func cityBucketKey(city string, bucket int) string {
	b := binary.BigEndian.AppendUint32([]byte(city), uint32(bucket))
	return string(b)
}

// healthiestFn keeps the N healthiest groups (then by ID), in at most 2N
// per accumulator.
type healthiestFn struct {
	N int
}

func (f *healthiestFn) CreateAccumulator() []groupRec { return nil }

func (f *healthiestFn) AddInput(acc []groupRec, r groupRec) []groupRec {
	return f.trim(append(acc, r), 2*f.N)
}

func (f *healthiestFn) MergeAccumulators(a, b []groupRec) []groupRec {
	return f.trim(append(a, b...), 2*f.N)
}

func (f *healthiestFn) ExtractOutput(acc []groupRec) []groupRec {
	return f.trim(acc, 0)
}

func (f *healthiestFn) trim(rs []groupRec, at int) []groupRec {
	return keepBest(rs, f.N, at, func(a, b groupRec) int { return models.CompareDesc(a.Health, b.Health, a.ID, b.ID) })
}

// keepBest sorts rs by order and keeps the first n once there are more
// than at (at 0: always): the trim of every bounded top-n combine, whose
// accumulators hold at most 2n.
func keepBest[T any](rs []T, n, at int, order func(a, b T) int) []T {
	if at > 0 && len(rs) <= at {
		return rs
	}
	slices.SortFunc(rs, order)
	return rs[:min(len(rs), n)]
}

// bucketListsFn hands a city's list to every bucket of the city's users.
type bucketListsFn struct {
	Buckets int
}

func (f *bucketListsFn) ProcessElement(key string, groups []groupRec, emit func(string, cityList)) {
	city, topic := splitCityTopic(key)
	for b := range f.Buckets {
		emit(cityBucketKey(city, b), cityList{Topic: topic, Groups: groups})
	}
}

// coPairsFn counts one user's pairs of groups of one city: the user is a
// member of both. A user's groups are few; the pairs are their square.
type coPairsFn struct{ P groupsParams }

func (f *coPairsFn) ProcessElement(ctx context.Context, _ int64, groups func(*int64) bool, emit func(string, int64)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	var gs []int32
	var g int64
	for groups(&g) {
		if i := d.Groups.Lookup(g); i >= 0 {
			gs = append(gs, i)
		}
	}
	for _, h := range gs {
		for _, g := range gs {
			if g != h && d.GroupCity[g] == d.GroupCity[h] && d.GroupStatus[g] == data.StatusActive {
				emit(directedKey(d.Groups.ID(h), d.Groups.ID(g)), 1)
			}
		}
	}
	return nil
}

// coByFirst keys a pair of groups that share enough members by its first.
func coByFirst(pair string, n int64, emit func(int64, coRec)) {
	if n >= models.MinCoMembers {
		h, g := splitDirected(pair)
		emit(h, coRec{G: g, Count: int32(n)})
	}
}

// coListFn keeps an active group's co-membership list: the
// models.MaxCoJoined groups with the largest share of its eligible
// members (then by ID), streamed, at most twice that many held.
type coListFn struct{ P groupsParams }

func (f *coListFn) ProcessElement(ctx context.Context, h int64, cos func(*coRec) bool, counts func(*int64) bool, emit func(int64, []coRec)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	var n int64
	if i := d.Groups.Lookup(h); i < 0 || d.GroupStatus[i] != data.StatusActive || !counts(&n) || n < models.MinCoMembers {
		return nil
	}
	trim := func(list []coRec) []coRec {
		slices.SortFunc(list, func(a, b coRec) int { return models.CompareDesc(float64(a.Share), float64(b.Share), a.G, b.G) })
		return list[:min(len(list), models.MaxCoJoined)]
	}
	var list []coRec
	var c coRec
	for cos(&c) {
		c.Share = float32(c.Count) / float32(n)
		if list = append(list, c); len(list) >= 2*models.MaxCoJoined {
			list = trim(list)
		}
	}
	if list = trim(list); len(list) > 0 {
		emit(h, list)
	}
	return nil
}

// coToMembers hands a group's co-membership list to each of its members.
func coToMembers(h int64, members func(*int64) bool, lists func(*[]coRec) bool, emit func(int64, coEntry)) {
	var list []coRec
	if !lists(&list) {
		return
	}
	var u int64
	for members(&u) {
		for _, c := range list {
			emit(u, coEntry{G: c.G, H: h, Count: c.Count, Share: c.Share})
		}
	}
}

// byFriend keys a directed friendship (u, v) by v: v's groups count for u.
func byFriend(pair string, _ int64) (int64, int64) {
	u, v := splitDirected(pair)
	return v, u
}

// friendGroupsFn hands one user's groups to each of the user's friends,
// keyed by (friend, group): only active groups of the friend's city, the
// only ones the friend can be shown. The user's groups are held, the
// friends streamed.
type friendGroupsFn struct{ P groupsParams }

func (f *friendGroupsFn) ProcessElement(ctx context.Context, fr int64, friends func(*int64) bool, groups func(*int64) bool, emit func(string, int64)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	var gs []int32
	var g int64
	for groups(&g) {
		if i := d.Groups.Lookup(g); i >= 0 && d.GroupStatus[i] == data.StatusActive {
			gs = append(gs, i)
		}
	}
	if len(gs) == 0 {
		return nil
	}
	var u int64
	for friends(&u) {
		c := d.UserCity[d.Users.Lookup(u)]
		for _, g := range gs {
			if d.GroupCity[g] == c {
				emit(directedKey(u, d.Groups.ID(g)), fr)
			}
		}
	}
	return nil
}

// friendLinksFn counts a (user, group) pair's friends in the group and
// asks, for each two of them, whether they are friends: at most the
// square of the user's friends in one group, as the local driver asks.
func friendLinksFn(ug string, friends func(*int64) bool, count func(string, linkRec), check func(string, string)) {
	var fs []int64
	var fr int64
	for friends(&fr) {
		fs = append(fs, fr)
	}
	count(ug, linkRec{N: int32(len(fs))})
	for x := range fs {
		for y := x + 1; y < len(fs); y++ {
			check(directedKey(fs[x], fs[y]), ug)
		}
	}
}

// linkFound counts a link for each (user, group) pair that asked about a
// pair of friends who are friends.
func linkFound(_ string, asks func(*string) bool, friendships func(*int64) bool, emit func(string, linkRec)) {
	var n int64
	if !friendships(&n) {
		return
	}
	var ug string
	for asks(&ug) {
		emit(ug, linkRec{L: 1})
	}
}

// splitLinks keys a (user, group) pair's counts by the user.
func splitLinks(ug string, l linkRec) (int64, friendGroup) {
	u, g := splitDirected(ug)
	return u, friendGroup{G: g, N: l.N, L: l.L}
}

// hiddenFn emits the groups and activities a user reported, or
// dismissed or hid since TTLStart: what features.Build counts as hidden.
type hiddenFn struct {
	TTLStart int64
}

func (f *hiddenFn) ProcessElement(r rowRec, emit func(int64, userFact)) {
	if r.Table != tableInts {
		return
	}
	var kind uint8
	switch data.TargetKind(r.Kind) {
	case data.TargetGroup:
		kind = factHiddenGroup
	case data.TargetActivity:
		kind = factHiddenActivity
	default:
		return
	}
	switch data.Action(r.Sub) {
	case data.ActReport:
		emit(r.A, userFact{Kind: kind, ID: r.B})
	case data.ActDismiss, data.ActHide:
		if r.Time >= f.TTLStart {
			emit(r.A, userFact{Kind: kind, ID: r.B})
		}
	}
}

// signupFn emits the (user, activity) pair of a sign-up or attendance of
// the feature window by an eligible user, as features.Build's Signups
// takes them; a CombinePerKey makes the pairs distinct.
type signupFn struct{ P groupsParams }

func (f *signupFn) ProcessElement(ctx context.Context, r rowRec, emit func(string, int64)) error {
	if r.Table != tableInts || data.TargetKind(r.Kind) != data.TargetActivity || r.Time < f.P.FeatureStart {
		return nil
	}
	if act := data.Action(r.Sub); act != data.ActSignup && act != data.ActAttend {
		return nil
	}
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	if u := d.Users.Lookup(r.A); u >= 0 && d.Eligible(u) {
		emit(directedKey(r.A, r.B), 1)
	}
	return nil
}

// splitSignup hands a distinct sign-up to the user's record, to the
// activity's count and to the user's friends.
func splitSignup(pair string, _ int64, fact func(int64, userFact), one func(int64, int64), of func(int64, int64)) {
	u, a := splitDirected(pair)
	fact(u, userFact{Kind: factSignup, ID: a})
	one(a, 1)
	of(u, a)
}

// upcomingFn emits every upcoming activity with no sign-ups, so that each
// has a count.
type upcomingFn struct{ P groupsParams }

func (f *upcomingFn) ProcessElement(ctx context.Context, _ []byte, emit func(int64, int64)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	for a := range int32(d.Activities.Len()) {
		if models.Upcoming(d, a, f.P.Now, f.P.Groups.HorizonDays) {
			emit(d.Activities.ID(a), 0)
		}
	}
	return nil
}

// actRecFn makes an upcoming activity's record from its sign-ups and its
// item factor, keyed by its group for the group's factor.
type actRecFn struct{ P groupsParams }

func (f *actRecFn) ProcessElement(ctx context.Context, a int64, counts func(*int64) bool, ys func(*[]float32) bool, emit func(int64, actRec)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	i := d.Activities.Lookup(a)
	var n int64
	if i < 0 || !models.Upcoming(d, i, f.P.Now, f.P.Groups.HorizonDays) || !counts(&n) {
		return nil
	}
	r := actRec{ID: a, Group: d.Groups.ID(d.ActivityGroup[i]), Signups: int32(n), StartsDays: models.StartsDays(d, i, f.P.Now)}
	ys(&r.Y)
	emit(r.Group, r)
	return nil
}

// withGroupFactor adds the group's item factor to its activities'
// records.
func withGroupFactor(_ int64, acts func(*actRec) bool, ys func(*[]float32) bool, emit func(int64, actRec)) {
	var y []float32
	ys(&y)
	var r actRec
	for acts(&r) {
		r.GroupY = y
		emit(r.ID, r)
		r = actRec{}
	}
}

// actCityKeysFn keys an activity by its city (Topics false), or by its
// city and each of its group's topics.
type actCityKeysFn struct {
	P      groupsParams
	Topics bool
}

func (f *actCityKeysFn) ProcessElement(ctx context.Context, a int64, r actRec, emit func(string, actRec)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	i := d.Activities.Lookup(a)
	city := d.Cities.Name(d.ActivityCity[i])
	if !f.Topics {
		emit(cityTopicKey(city, -1), r)
		return nil
	}
	for _, t := range d.GroupTopics[d.ActivityGroup[i]] {
		emit(cityTopicKey(city, t), r)
	}
	return nil
}

// mostSignedUpFn keeps the N most signed-up activities (then by ID), in
// at most 2N per accumulator.
type mostSignedUpFn struct {
	N int
}

func (f *mostSignedUpFn) CreateAccumulator() []actRec { return nil }

func (f *mostSignedUpFn) AddInput(acc []actRec, r actRec) []actRec {
	return f.trim(append(acc, r), 2*f.N)
}

func (f *mostSignedUpFn) MergeAccumulators(a, b []actRec) []actRec {
	return f.trim(append(a, b...), 2*f.N)
}

func (f *mostSignedUpFn) ExtractOutput(acc []actRec) []actRec { return f.trim(acc, 0) }

func (f *mostSignedUpFn) trim(rs []actRec, at int) []actRec {
	return keepBest(rs, f.N, at, func(a, b actRec) int { return models.CompareDesc(float64(a.Signups), float64(b.Signups), a.ID, b.ID) })
}

// bucketActListsFn hands a city's activity list to every bucket of the
// city's users.
type bucketActListsFn struct {
	Buckets int
}

func (f *bucketActListsFn) ProcessElement(key string, acts []actRec, emit func(string, actList)) {
	city, topic := splitCityTopic(key)
	for b := range f.Buckets {
		emit(cityBucketKey(city, b), actList{Topic: topic, Acts: acts})
	}
}

// friendsGoingFn hands one user's sign-ups to each of the user's
// friends, keyed by (friend, activity): only upcoming activities of the
// friend's city. The sign-ups are held, the friends streamed.
type friendsGoingFn struct{ P groupsParams }

func (f *friendsGoingFn) ProcessElement(ctx context.Context, _ int64, friends func(*int64) bool, signups func(*int64) bool, emit func(string, int64)) error {
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	var as []int32
	var a int64
	for signups(&a) {
		if i := d.Activities.Lookup(a); i >= 0 && models.Upcoming(d, i, f.P.Now, f.P.Groups.HorizonDays) {
			as = append(as, i)
		}
	}
	if len(as) == 0 {
		return nil
	}
	var u int64
	for friends(&u) {
		c := d.UserCity[d.Users.Lookup(u)]
		for _, a := range as {
			if d.ActivityCity[a] == c {
				emit(directedKey(u, d.Activities.ID(a)), 1)
			}
		}
	}
	return nil
}

// splitGoing keys a (user, activity) pair's friends going by the user.
func splitGoing(pair string, n int64) (int64, going) {
	u, a := splitDirected(pair)
	return u, going{A: a, N: int32(n)}
}

// eligibleUsersFn emits every eligible user: each is ranked, whatever it
// did.
type eligibleUsersFn struct{ P groupsParams }

func (f *eligibleUsersFn) ProcessElement(ctx context.Context, _ []byte, emit func(int64, userFact)) error {
	return eachEligible(ctx, f.P.Input, f.P.Date, func(id int64) { emit(id, userFact{Kind: factEligible}) })
}

// eachEligible calls emit with the ID of every eligible user of the
// snapshots.
func eachEligible(ctx context.Context, input string, date int64, emit func(int64)) error {
	d, err := loadDims(ctx, input, date)
	if err != nil {
		return err
	}
	for u := range int32(d.Users.Len()) {
		if d.Eligible(u) {
			emit(d.Users.ID(u))
		}
	}
	return nil
}

// userFactor keys a user's factor by the user's ID.
func userFactor(key string, x []float32) (int64, []float32) {
	_, id := keyID(key)
	return id, x
}

// Candidate keys: a group or an activity by its item key, the upcoming
// activities of a group by ofGroupKey.
func ofGroupKey(g int64) string { return itemKey(0xfe, g) }

func groupCand(g int64, r groupRec) (string, candRec) {
	return itemKey(data.TargetGroup, g), candRec{G: r}
}

func actCands(a int64, r actRec, emit func(string, candRec)) {
	c := candRec{IsAct: true, A: r}
	emit(itemKey(data.TargetActivity, a), c)
	emit(ofGroupKey(r.Group), c)
}

// userRecFn joins one eligible user's part of the record, and asks for
// the candidates the user reaches: groups through friends and
// co-membership, activities friends signed up for and those of the
// user's own groups.
type userRecFn struct{ P groupsParams }

func (f *userRecFn) ProcessElement(ctx context.Context, u int64, facts func(*userFact) bool, xs func(*[]float32) bool, topics func(*topicRow) bool,
	friends func(*friendGroup) bool, cos func(*coEntry) bool, goes func(*going) bool,
	emit func(int64, userRec), request func(string, int64)) error {
	own, eligible := readFacts(facts)
	if !eligible {
		return nil
	}
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	city := d.UserCity[d.Users.Lookup(u)]
	r := userRec{ID: u, Own: own}
	xs(&r.X)
	topics(&r.Topics)
	var fg friendGroup
	for friends(&fg) {
		r.Friends = append(r.Friends, fg)
	}
	slices.SortFunc(r.Friends, func(a, b friendGroup) int { return cmp.Compare(a.G, b.G) })
	co := map[int64]*coAgg{}
	var c coEntry
	for cos(&c) {
		if f.P.Groups.CoMemberWeight == 0 {
			continue
		}
		if i := d.Groups.Lookup(c.G); i < 0 || d.GroupCity[i] != city {
			continue
		}
		a := co[c.G]
		if a == nil {
			a = &coAgg{G: c.G, From: c.H, Count: c.Count, best: c.Share}
			co[c.G] = a
		} else if models.CoReasonBefore(c.Share, c.H, a.best, a.From) {
			a.From, a.Count, a.best = c.H, c.Count, c.Share
		}
		a.Share += float64(c.Share)
	}
	for _, a := range co {
		r.Co = append(r.Co, *a)
	}
	slices.SortFunc(r.Co, func(a, b coAgg) int { return cmp.Compare(a.G, b.G) })
	var gg going
	for goes(&gg) {
		r.FriendsGo = append(r.FriendsGo, gg)
	}
	slices.SortFunc(r.FriendsGo, func(a, b going) int { return cmp.Compare(a.A, b.A) })

	asked := map[int64]bool{}
	for _, fg := range r.Friends {
		asked[fg.G] = true
	}
	for _, a := range r.Co {
		asked[a.G] = true
	}
	for _, g := range slices.Sorted(maps.Keys(asked)) {
		if !has(r.Own.Groups, g) && !has(r.Own.HidGroups, g) {
			request(itemKey(data.TargetGroup, g), u)
		}
	}
	for _, g := range r.FriendsGo {
		request(itemKey(data.TargetActivity, g.A), u)
	}
	for _, g := range r.Own.Groups {
		request(ofGroupKey(g), u)
	}
	emit(u, r)
	return nil
}

// has reports whether the sorted ids hold id.
func has(ids []int64, id int64) bool {
	_, ok := slices.BinarySearch(ids, id)
	return ok
}

// serveCands hands a candidate's record to each user that asked for it.
func serveCands(_ string, users func(*int64) bool, cands func(*candRec) bool, emit func(int64, candRec)) {
	var all []candRec
	var c candRec
	for cands(&c) {
		all = append(all, c)
		c = candRec{}
	}
	if len(all) == 0 {
		return // not active, or not upcoming
	}
	var u int64
	for users(&u) {
		for _, c := range all {
			emit(u, c)
		}
	}
}

// hoodFn completes a user's record with the candidates it asked for and
// keys it by the user's city and bucket.
type hoodFn struct{ P groupsParams }

func (f *hoodFn) ProcessElement(ctx context.Context, u int64, users func(*userRec) bool, cands func(*candRec) bool, emit func(string, hood)) error {
	var h hood
	if !users(&h.User) {
		return nil
	}
	d, err := loadDims(ctx, f.P.Input, f.P.Date)
	if err != nil {
		return err
	}
	var c candRec
	for cands(&c) {
		if c.IsAct {
			h.Acts = append(h.Acts, c.A)
		} else {
			h.Groups = append(h.Groups, c.G)
		}
		c = candRec{}
	}
	city := d.Cities.Name(d.UserCity[d.Users.Lookup(u)])
	emit(cityBucketKey(city, shardOf(userKey(u), f.P.Buckets)), h)
	return nil
}

// rankFn ranks the groups and activities of each user of one bucket of a
// city: the user's record against the city's lists, by
// models.GroupScorer.
type rankFn struct {
	P      groupsParams
	t      *topicTable
	scorer *models.GroupScorer
}

func (f *rankFn) ProcessElement(ctx context.Context, _ string, hoods func(*hood) bool, groupLists func(*cityList) bool, actLists func(*actList) bool,
	groups func(int, data.GroupSuggestion), acts func(int, data.ActivitySuggestion)) error {
	t, err := loadTopics(ctx, &f.t, f.P.Input, f.P.Date, f.P.Feat)
	if err != nil {
		return err
	}
	if f.scorer == nil {
		f.scorer = models.NewGroupScorer(f.P.Groups)
	}
	c := cityLists{groups: map[int32][]groupRec{}, acts: map[int32][]actRec{}}
	var l cityList
	for groupLists(&l) {
		c.groups[l.Topic] = l.Groups
		l = cityList{}
	}
	var al actList
	for actLists(&al) {
		c.acts[al.Topic] = al.Acts
		al = actList{}
	}
	r := ranker{P: f.P.Groups, t: t, scorer: f.scorer, row: make([]float32, len(t.names))}
	var h hood
	for hoods(&h) {
		shard := shardOf(userKey(h.User.ID), f.P.Shards)
		for _, s := range r.groups(&h, &c) {
			groups(shard, s)
		}
		for _, s := range r.activities(&h, &c) {
			acts(shard, s)
		}
		h = hood{}
	}
	return nil
}

// cityLists are one city's candidate lists, by topic (−1: the city's
// best overall).
type cityLists struct {
	groups map[int32][]groupRec
	acts   map[int32][]actRec
}

// ranker turns one user's record at a time into evidence and ranks it;
// its buffers are reused from user to user.
type ranker struct {
	P        models.GroupParams
	t        *topicTable
	scorer   *models.GroupScorer
	row      []float32
	topics   []int32
	groupEv  []models.GroupEvidence
	actEv    []models.ActivityEvidence
	groupOut []data.GroupSuggestion
	actOut   []data.ActivitySuggestion
}

// dot is x·y as the local ranker takes it, 0 without either vector.
func dot(x, y []float32) float64 {
	if len(x) == 0 || len(y) != len(x) {
		return 0
	}
	var out [1]float64
	f32.Dot64Rows(out[:], x, y, []int32{0})
	return out[0]
}

// prepare sets r.row to the user's topic row and r.topics to the topics
// whose lists the user's candidates come from.
func (r *ranker) prepare(u *userRec) {
	clear(r.row)
	for j, topic := range u.Topics.Topics {
		r.row[topic] = u.Topics.Weights[j]
	}
	r.topics = models.CandidateTopics(r.row, r.P.TopicsForCandidates, r.topics)
}

// groups ranks the user's groups: those reached through friends and
// co-membership, then the city's lists for the user's topics and the
// city's healthiest, never one the user is in or hid.
func (r *ranker) groups(h *hood, c *cityLists) []data.GroupSuggestion {
	u, d := &h.User, r.t.d
	r.prepare(u)
	seen := map[int64]bool{}
	r.groupEv = r.groupEv[:0]
	add := func(g *groupRec) {
		if seen[g.ID] || has(u.Own.Groups, g.ID) || has(u.Own.HidGroups, g.ID) {
			return
		}
		seen[g.ID] = true
		e := models.GroupEvidence{Group: g.ID, Interest: dot(u.X, g.Y), Health: g.Health, Recent: g.Recent}
		e.BestTopic, e.TopicSum = models.BestTopic(r.row, d.GroupTopics[d.Groups.Lookup(g.ID)])
		if k, ok := slices.BinarySearchFunc(u.Friends, g.ID, func(fg friendGroup, id int64) int { return cmp.Compare(fg.G, id) }); ok {
			e.Friends, e.Links = u.Friends[k].N, u.Friends[k].L
		}
		if k, ok := slices.BinarySearchFunc(u.Co, g.ID, func(a coAgg, id int64) int { return cmp.Compare(a.G, id) }); ok {
			e.CoShare, e.CoFrom, e.CoCount = u.Co[k].Share, u.Co[k].From, u.Co[k].Count
		}
		r.groupEv = append(r.groupEv, e)
	}
	for i := range h.Groups {
		add(&h.Groups[i])
	}
	for _, list := range listsFor(r.topics, c.groups) {
		for i := range list {
			add(&list[i])
		}
	}
	r.groupOut = r.scorer.RankGroups(u.ID, len(u.Own.Groups), r.groupEv, r.t.names, r.groupOut[:0])
	return r.groupOut
}

// activities ranks the user's activities: those friends signed up for
// and those of the user's groups (of the user's city), then the city's
// lists; never one the user signed up for, nor one whose activity or
// group the user hid.
func (r *ranker) activities(h *hood, c *cityLists) []data.ActivitySuggestion {
	u, d := &h.User, r.t.d
	city := d.UserCity[d.Users.Lookup(u.ID)]
	seen := map[int64]bool{}
	r.actEv = r.actEv[:0]
	add := func(a *actRec) {
		if seen[a.ID] || has(u.Own.Signups, a.ID) || has(u.Own.HidActs, a.ID) || has(u.Own.HidGroups, a.Group) {
			return
		}
		i := d.Activities.Lookup(a.ID)
		if d.ActivityCity[i] != city {
			return
		}
		seen[a.ID] = true
		e := models.ActivityEvidence{Activity: a.ID, Interest: max(dot(u.X, a.Y), dot(u.X, a.GroupY)), Signups: a.Signups,
			Popularity: models.ActivityPopularity(int(a.Signups)), OwnGroup: has(u.Own.Groups, a.Group), StartsDays: a.StartsDays}
		e.BestTopic, e.TopicSum = models.BestTopic(r.row, d.GroupTopics[d.ActivityGroup[i]])
		if k, ok := slices.BinarySearchFunc(u.FriendsGo, a.ID, func(g going, id int64) int { return cmp.Compare(g.A, id) }); ok {
			e.Going = u.FriendsGo[k].N
		}
		r.actEv = append(r.actEv, e)
	}
	for i := range h.Acts {
		add(&h.Acts[i])
	}
	for _, list := range listsFor(r.topics, c.acts) {
		for i := range list {
			add(&list[i])
		}
	}
	r.actOut = r.scorer.RankActivities(u.ID, r.actEv, r.t.names, r.actOut[:0])
	return r.actOut
}

// listsFor is a city's lists for the user's topics, then its best
// overall.
func listsFor[T any](topics []int32, by map[int32][]T) [][]T {
	out := make([][]T, 0, len(topics)+1)
	for _, t := range topics {
		out = append(out, by[t])
	}
	return append(out, by[-1])
}

// writeGroupsFn writes one shard of group_suggestions, sorted by user and
// rank.
type writeGroupsFn struct {
	Dir    string
	Shards int
}

func (f *writeGroupsFn) ProcessElement(ctx context.Context, shard int, rows func(*data.GroupSuggestion) bool, done func(pipeline.FileEntry)) error {
	key := func(s *data.GroupSuggestion) (int64, int32) { return s.UserID, s.Rank }
	return writeRanked(ctx, f.Dir, ShardName(FileGroups, shard, f.Shards), rows, key, done)
}

// writeActivitiesFn writes one shard of activity_suggestions, sorted by
// user and rank.
type writeActivitiesFn struct {
	Dir    string
	Shards int
}

func (f *writeActivitiesFn) ProcessElement(ctx context.Context, shard int, rows func(*data.ActivitySuggestion) bool, done func(pipeline.FileEntry)) error {
	key := func(s *data.ActivitySuggestion) (int64, int32) { return s.UserID, s.Rank }
	return writeRanked(ctx, f.Dir, ShardName(FileActivities, shard, f.Shards), rows, key, done)
}

// writeRanked writes a shard of suggestions as the Parquet file name,
// sorted by user and rank.
func writeRanked[T any](ctx context.Context, dir, name string, rows func(*T) bool, key func(*T) (user int64, rank int32), done func(pipeline.FileEntry)) error {
	var out []T
	for {
		var r T
		if !rows(&r) {
			break
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b T) int {
		ua, ra := key(&a)
		ub, rb := key(&b)
		return cmp.Or(cmp.Compare(ua, ub), cmp.Compare(ra, rb))
	})
	e, err := putParquet(ctx, dir, name, out)
	if err != nil {
		return err
	}
	done(e)
	return nil
}

func init() {
	register.DoFn3x1[context.Context, []byte, func(int64, int64), error](&activeGroupsFn{})
	register.Function2x2(memberOfGroup)
	register.Function2x2(groupOfMember)
	register.Function2x2(memberFact)
	register.Function2x1(maxCount)
	register.DoFn4x1[context.Context, int64, int64, func(string, int64), error](&cityOfGroupFn{})
	register.Function4x0(splitItemFactor)
	register.DoFn6x1[context.Context, int64, func(*int64) bool, func(*[]float32) bool, func(*string, *int64) bool, func(int64, groupRec), error](&groupRecFn{})
	register.DoFn3x1[context.Context, rowRec, func(string, int64), error](&signupFn{})
	register.Function5x0(splitSignup)
	register.DoFn3x1[context.Context, []byte, func(int64, int64), error](&upcomingFn{})
	register.DoFn5x1[context.Context, int64, func(*int64) bool, func(*[]float32) bool, func(int64, actRec), error](&actRecFn{})
	register.Function4x0(withGroupFactor)
	register.DoFn4x1[context.Context, int64, groupRec, func(string, groupRec), error](&cityKeysFn{})
	register.DoFn4x1[context.Context, int64, actRec, func(string, actRec), error](&actCityKeysFn{})
	register.Combiner3[[]groupRec, groupRec, []groupRec](&healthiestFn{})
	register.Combiner3[[]actRec, actRec, []actRec](&mostSignedUpFn{})
	register.DoFn3x0[string, []groupRec, func(string, cityList)](&bucketListsFn{})
	register.DoFn3x0[string, []actRec, func(string, actList)](&bucketActListsFn{})
	register.DoFn4x1[context.Context, int64, func(*int64) bool, func(string, int64), error](&coPairsFn{})
	register.Function3x0(coByFirst)
	register.DoFn5x1[context.Context, int64, func(*coRec) bool, func(*int64) bool, func(int64, []coRec), error](&coListFn{})
	register.Function4x0(coToMembers)
	register.Function2x2(byFriend)
	register.DoFn5x1[context.Context, int64, func(*int64) bool, func(*int64) bool, func(string, int64), error](&friendGroupsFn{})
	register.DoFn5x1[context.Context, int64, func(*int64) bool, func(*int64) bool, func(string, int64), error](&friendsGoingFn{})
	register.Function2x2(splitGoing)
	register.Function4x0(friendLinksFn)
	register.Function4x0(linkFound)
	register.Function2x1(addLinks)
	register.Function2x2(splitLinks)
	register.DoFn2x0[rowRec, func(int64, userFact)](&hiddenFn{})
	register.DoFn3x1[context.Context, []byte, func(int64, userFact), error](&eligibleUsersFn{})
	register.Function2x2(userFactor)
	register.Function2x2(groupCand)
	register.Function3x0(actCands)
	register.DoFn10x1[context.Context, int64, func(*userFact) bool, func(*[]float32) bool, func(*topicRow) bool, func(*friendGroup) bool, func(*coEntry) bool, func(*going) bool, func(int64, userRec), func(string, int64), error](&userRecFn{})
	register.Function4x0(serveCands)
	register.DoFn5x1[context.Context, int64, func(*userRec) bool, func(*candRec) bool, func(string, hood), error](&hoodFn{})
	register.DoFn7x1[context.Context, string, func(*hood) bool, func(*cityList) bool, func(*actList) bool, func(int, data.GroupSuggestion), func(int, data.ActivitySuggestion), error](&rankFn{})
	register.DoFn4x1[context.Context, int, func(*data.GroupSuggestion) bool, func(pipeline.FileEntry), error](&writeGroupsFn{})
	register.DoFn4x1[context.Context, int, func(*data.ActivitySuggestion) bool, func(pipeline.FileEntry), error](&writeActivitiesFn{})
	register.Emitter2[int64, int64]()
	register.Emitter2[int64, []float32]()
	register.Emitter2[int64, groupRec]()
	register.Emitter2[string, groupRec]()
	register.Emitter2[int64, actRec]()
	register.Emitter2[string, actRec]()
	register.Emitter2[string, cityList]()
	register.Emitter2[string, actList]()
	register.Emitter2[int64, coRec]()
	register.Emitter2[int64, []coRec]()
	register.Emitter2[int64, coEntry]()
	register.Emitter2[string, linkRec]()
	register.Emitter2[string, string]()
	register.Emitter2[int64, userFact]()
	register.Emitter2[int64, friendGroup]()
	register.Emitter2[int64, userRec]()
	register.Emitter2[int64, candRec]()
	register.Emitter2[string, candRec]()
	register.Emitter2[string, hood]()
	register.Emitter2[int, data.GroupSuggestion]()
	register.Emitter2[int, data.ActivitySuggestion]()
	register.Emitter2[int64, topicRow]()
	register.Iter2[string, int64]()
	register.Iter1[groupRec]()
	register.Iter1[actRec]()
	register.Iter1[coRec]()
	register.Iter1[[]coRec]()
	register.Iter1[string]()
	register.Iter1[topicRow]()
	register.Iter1[userFact]()
	register.Iter1[friendGroup]()
	register.Iter1[coEntry]()
	register.Iter1[going]()
	register.Iter1[userRec]()
	register.Iter1[candRec]()
	register.Iter1[hood]()
	register.Iter1[cityList]()
	register.Iter1[actList]()
	register.Iter1[data.GroupSuggestion]()
	register.Iter1[data.ActivitySuggestion]()
}
