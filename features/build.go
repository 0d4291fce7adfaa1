package features

import (
	"cmp"
	"context"
	"iter"
	"math"
	"slices"

	"circles/data"
)

// Items lays out one item space over the four item tables so that a single
// user × item matrix holds every interest signal: groups first, then
// activities, content and merchants.
type Items struct {
	GroupBase, ActivityBase, ContentBase, MerchantBase, N int32
}

// NewItems is the item space of the snapshots d.
func NewItems(d *data.Dims) Items {
	it := Items{ActivityBase: int32(d.Groups.Len())}
	it.ContentBase = it.ActivityBase + int32(d.Activities.Len())
	it.MerchantBase = it.ContentBase + int32(d.Contents.Len())
	it.N = it.MerchantBase + int32(d.Merchants.Len())
	return it
}

// Activity is the item index of activity a; Group, Content and Merchant
// likewise.
func (it Items) Activity(a int32) int32 { return it.ActivityBase + a }
func (it Items) Group(g int32) int32    { return it.GroupBase + g }
func (it Items) Content(c int32) int32  { return it.ContentBase + c }
func (it Items) Merchant(m int32) int32 { return it.MerchantBase + m }

// Features is everything the models need, built from one run's validated
// inputs. All user indices are those of data.Dims.Users.
type Features struct {
	NowMillis int64 // end of the run date
	Items     Items

	// Eligible marks users who may receive suggestions, appear in them, and
	// whose behaviour may shape other users' suggestions: active accounts
	// that have not opted out of social features. Build applies it once, at
	// its input boundary: every structure below holds eligible users'
	// behaviour only (Blocked excepted, which is safety state), so no count,
	// degree or score can see an ineligible user.
	Eligible []bool

	// Signals is users × items: the decayed, weighted sum of each user's
	// events on each item, negative where explicit negatives dominate. Rows
	// of ineligible users are empty.
	Signals CSR

	// Topics is the topic vocabulary; ItemTopics[i] lists item i's topics.
	Topics     []string
	ItemTopics [][]int32
	// UserTopics is users × topics, each row summing to 1 (or all zero):
	// the IDF-weighted share of a user's positive engagement per topic.
	UserTopics []float32

	Friends CSR // symmetric friend graph between eligible users (values 1)
	// Contacts is directed: row u lists the eligible users in u's own
	// opt-in address book. It suggests them to u, never u to them: that
	// would tell them whose address book holds their number.
	Contacts CSR
	Ties     CSR       // symmetric tie strength between eligible users, > 0
	TieInfo  []TieInfo // per entry of Ties: what the tie is made of
	// FriendLabels are the labelled friendships between eligible users,
	// in relations order; a friendship labelled from both sides is two.
	FriendLabels []FriendLabel

	Blocked        PairSet // blocks and reports between any users, either direction, of any age
	DismissedUsers PairSet // unexpired dismissals or hides of a user, either direction
	HiddenItems    CSR     // users × items dismissed or hidden (unexpired) or reported

	// Members is eligible users × groups: the snapshot's memberships, with
	// join and leave events read that are newer than the snapshot's row
	// (the newest fact wins), so a join the snapshot has not caught up with
	// counts and a user who left is no longer shown as a member.
	Members      CSR
	GroupMembers CSR // groups × eligible users
	Signups      CSR // eligible users × activities signed up for or attended in the window
	ActSignups   CSR // activities × eligible users

	Summary Summary
}

// TieInfo counts the money events behind a tie, for reasons and for the
// relation type. Every count is of events both users took part in.
type TieInfo struct {
	Transfers, Splits, RedPackets, Funds uint16
	// WorkHours counts the transfers, splits and red packets between the
	// two made on a weekday between 09:00 and 18:00 local time.
	WorkHours uint16
	Family    bool
}

// FriendLabel is a friendship whose user said how they know the friend
// (the relations snapshot's label): the relation-type model's examples.
type FriendLabel struct {
	User, Friend int32
	Type         data.RelationType
}

// Summary counts what the feature build used and left out.
type Summary struct {
	Users         int `json:"users"`
	EligibleUsers int `json:"eligible_users"`
	Items         int `json:"items"`
	SignalEntries int `json:"signal_entries"`
	TieEdges      int `json:"tie_edges"`
	FriendEdges   int `json:"friend_edges"`
	// ExcludedEvents, ExcludedTxns, ExcludedMemberships and
	// ExcludedRelations are valid rows left out by policy: by or about
	// users who opted out or whose accounts are not active.
	ExcludedEvents      int64 `json:"excluded_events"`
	ExcludedTxns        int64 `json:"excluded_transactions"`
	ExcludedMemberships int64 `json:"excluded_memberships"`
	ExcludedRelations   int64 `json:"excluded_relations"`
	NegativeOnlyEvents  int64 `json:"negative_only_events"` // older than the feature window: used only as negatives
}

// UserTopicRow returns user u's topic weights.
func (f *Features) UserTopicRow(u int32) []float32 {
	t := len(f.Topics)
	return f.UserTopics[int(u)*t : int(u+1)*t]
}

// Build turns validated inputs into features. Transactions and events come
// in chunks (one per input file, as data.Merge returns them), read in
// order, and Build consumes them: it clears each chunk of events from the
// slice once read, and every chunk of transactions once their signals and
// ties are taken, so that the raw events and what they become are never
// all in memory at once. Callers must not read them afterwards. featureStart (millis) is the start of the window whose events
// shape interests and ties; older events (read for dismissal expiry) count
// only as negatives. Build does no I/O and is deterministic; an interrupt
// is seen between input chunks and between the structures it builds.
func Build(ctx context.Context, d *data.Dims, txns [][]data.Txn, events [][]data.Event, featureStart int64, p Params) (*Features, error) {
	now := d.Date.AddDate(0, 0, 1).UnixMilli()
	nu := d.Users.Len()
	f := &Features{NowMillis: now, Items: NewItems(d), Eligible: make([]bool, nu)}
	it := f.Items
	for u := range nu {
		f.Eligible[u] = d.Eligible(int32(u))
		if f.Eligible[u] {
			f.Summary.EligibleUsers++
		}
	}
	f.Summary.Users, f.Summary.Items = nu, int(it.N)
	acc := &accumulator{f: f, p: p, now: now, featureStart: featureStart, ttlStart: now - int64(p.DismissTTLDays)*86_400_000}
	for i, chunk := range events {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, e := range chunk {
			acc.event(e)
		}
		events[i] = nil
	}
	members := f.memberships(d, acc.memberEvents)
	for _, m := range members {
		acc.sig = append(acc.sig, Triple{m.User, it.Group(m.Group), float32(p.Weights.Member)})
	}
	acc.ties = append(acc.ties, f.moneySignals(txns, p, now, &acc.sig)...)
	clear(txns)
	friends := make([]Triple, 0, 2*len(d.Relations)) // both directions of each friendship
	var contacts []Triple
	for _, r := range d.Relations {
		if r.Kind == data.RelBlock || r.Kind == data.RelReport {
			acc.blocks = append(acc.blocks, [2]int32{r.User, r.Other})
			continue
		}
		if !f.Eligible[r.User] || !f.Eligible[r.Other] {
			f.Summary.ExcludedRelations++
			continue
		}
		switch r.Kind {
		case data.RelFamily:
			acc.ties = append(acc.ties, tieEvent{r.User, r.Other, FamilyTie(p)})
		case data.RelFriend:
			friends = append(friends, Triple{r.User, r.Other, 1}, Triple{r.Other, r.User, 1})
			if r.Label != data.RelUnknown {
				f.FriendLabels = append(f.FriendLabels, FriendLabel{r.User, r.Other, r.Label})
			}
		case data.RelContact:
			contacts = append(contacts, Triple{r.User, r.Other, 1})
		}
	}
	sig, hidden, signups, blocks, dismissed, ties := acc.sig, acc.hidden, acc.signups, acc.blocks, acc.dismissed, acc.ties
	acc = nil
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	f.Signals = BuildCSR(nu, sig)
	f.Summary.SignalEntries = f.Signals.NNZ()
	f.HiddenItems = BuildCSR(nu, hidden)
	f.Signups = BuildCSR(nu, signups)
	f.ActSignups = f.Signups.Transpose(d.Activities.Len())
	f.Blocked = NewPairSet(blocks)
	f.DismissedUsers = NewPairSet(dismissed)
	f.buildFriends(nu, friends)
	f.Contacts = BuildCSR(nu, contacts)
	f.buildMembers(d, members)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.buildTies(ties, p)
	f.buildTopics(d, p)
	return f, nil
}

// allRows iterates over the rows of chunks in order.
func allRows[T any](chunks [][]T) iter.Seq[T] {
	return func(yield func(T) bool) {
		for _, c := range chunks {
			for _, r := range c {
				if !yield(r) {
					return
				}
			}
		}
	}
}

// accumulator collects what Build derives from events before the sparse
// structures are built.
type accumulator struct {
	f                           *Features
	p                           Params
	now, featureStart, ttlStart int64
	sig, hidden, signups        []Triple
	blocks, dismissed           [][2]int32
	ties                        []tieEvent
	memberEvents                []memberFact
}

// event adds one validated interaction.
func (a *accumulator) event(e data.Event) {
	f, p, it := a.f, a.p, a.f.Items
	if e.TargetKind == data.TargetUser {
		switch {
		case e.Action == data.ActBlock || e.Action == data.ActReport:
			a.blocks = append(a.blocks, [2]int32{e.User, e.Target})
		case (e.Action == data.ActDismiss || e.Action == data.ActHide) && e.TimeMillis >= a.ttlStart:
			a.dismissed = append(a.dismissed, [2]int32{e.User, e.Target})
		case e.TimeMillis >= a.featureStart && !e.Action.Negative() && f.Eligible[e.User] && f.Eligible[e.Target]:
			a.ties = append(a.ties, tieEvent{e.User, e.Target, InteractionTie(e, p, a.now)})
		}
		return
	}
	var item int32
	switch e.TargetKind {
	case data.TargetGroup:
		item = it.Group(e.Target)
	case data.TargetActivity:
		item = it.Activity(e.Target)
	case data.TargetContent:
		item = it.Content(e.Target)
	case data.TargetMerchant:
		item = it.Merchant(e.Target)
	}
	switch e.Action {
	case data.ActJoin, data.ActLeave:
		if e.TargetKind == data.TargetGroup && f.Eligible[e.User] {
			a.memberEvents = append(a.memberEvents, memberFact{e.User, e.Target, MemberFact{At: e.TimeMillis, Member: e.Action == data.ActJoin}})
		}
	case data.ActReport:
		a.hidden = append(a.hidden, Triple{e.User, item, 1})
	case data.ActDismiss, data.ActHide:
		if e.TimeMillis >= a.ttlStart {
			a.hidden = append(a.hidden, Triple{e.User, item, 1})
		}
	case data.ActSignup, data.ActAttend:
		if e.TimeMillis >= a.featureStart && f.Eligible[e.User] {
			a.signups = append(a.signups, Triple{e.User, e.Target, 1})
		}
	}
	switch {
	case e.TimeMillis < a.featureStart:
		f.Summary.NegativeOnlyEvents++
	case !f.Eligible[e.User]:
		f.Summary.ExcludedEvents++
	default:
		if w := InteractionSignal(e, p, a.now); w != 0 {
			a.sig = append(a.sig, Triple{e.User, item, float32(w)})
		}
	}
}

// InteractionSignal is the interest signal of one interaction of the
// feature window by an eligible user on an item (not a user): its
// action's weight, scaled by the row's weight and decayed from now.
func InteractionSignal(e data.Event, p Params, now int64) float64 {
	return p.Weights.action(e.Action) * strength(e.Weight) * decay(now, e.TimeMillis, p.HalfLifeDays)
}

// PaymentSignal is the interest signal of one payment or refund by an
// eligible payer to a merchant, decayed from now.
func PaymentSignal(t data.Txn, p Params, now int64) float64 {
	w := p.Weights.Payment
	if t.Kind == data.TxRefund {
		w = p.Weights.Refund
	}
	return w * decay(now, t.TimeMillis, p.HalfLifeDays)
}

// moneySignals adds merchant payments to the interest signals and returns
// the tie events of money moving between users. Transactions involving an
// ineligible user are left out of both.
func (f *Features) moneySignals(txns [][]data.Txn, p Params, now int64, sig *[]Triple) []tieEvent {
	var ties []tieEvent
	type leg struct {
		kind data.TxKind
		ref  int64
		i    int // order of appearance, for a stable grouping
		t    data.Txn
	}
	var legs []leg
	i := -1
	for t := range allRows(txns) {
		i++
		if t.PayeeType == data.PayeeMerchant {
			if !f.Eligible[t.Payer] {
				f.Summary.ExcludedTxns++
				continue
			}
			*sig = append(*sig, Triple{t.Payer, f.Items.Merchant(t.Payee), float32(PaymentSignal(t, p, now))})
			continue
		}
		if !f.Eligible[t.Payer] || !f.Eligible[t.Payee] {
			f.Summary.ExcludedTxns++
			continue
		}
		if ev, ok := MoneyTie(t, p, now); ok {
			ties = append(ties, tieEvent{t.Payer, t.Payee, ev})
		}
		if CoLeg(t) {
			legs = append(legs, leg{t.Kind, t.Ref, i, t})
		}
	}
	// Payers of the same split or fund took part in one event together: tie
	// them pairwise, each pair once per event, capped.
	slices.SortFunc(legs, func(a, b leg) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.ref, b.ref), cmp.Compare(a.i, b.i))
	})
	for lo := 0; lo < len(legs); {
		hi := lo + 1
		for hi < len(legs) && legs[hi].kind == legs[lo].kind && legs[hi].ref == legs[lo].ref {
			hi++
		}
		group := legs[lo:min(hi, lo+MaxCoParticipants)]
		for x := range group {
			for y := x + 1; y < len(group); y++ {
				if a, b := group[x].t, group[y].t; a.Payer != b.Payer {
					ties = append(ties, tieEvent{a.Payer, b.Payer, CoLegTie(a, b, p, now)})
				}
			}
		}
		lo = hi
	}
	return ties
}

// buildFriends builds the friend graph of nu users from the triples of
// friendships between eligible users, both directions listed.
func (f *Features) buildFriends(nu int, ts []Triple) {
	f.Friends = BuildCSR(nu, ts)
	for i := range f.Friends.Val {
		f.Friends.Val[i] = 1 // a pair listed in both directions sums to 2
	}
	f.Summary.FriendEdges = f.Friends.NNZ() / 2
}

// memberFact is one fact about whether a user belongs to a group: a
// join or leave event, at its time.
type memberFact struct {
	user, group int32
	MemberFact
}

// MemberFact is a join (Member) or a leave of one (user, group) pair at
// At (millis).
type MemberFact struct {
	At     int64
	Member bool
}

// Decides reports whether fact a decides a pair's membership over b: the
// newer one, and at equal times the leave, so that a user who left is
// never shown as a member.
func (a MemberFact) Decides(b MemberFact) bool {
	return a.At > b.At || a.At == b.At && !a.Member && b.Member
}

// SnapshotStands reports whether a snapshot row of a pair, joined at
// joinedAt, stands against the deciding event of the pair: unless it is
// a leave at least as new.
func SnapshotStands(joinedAt int64, decider MemberFact) bool {
	return decider.Member || decider.At < joinedAt
}

// memberships resolves the memberships of eligible users: a snapshot row
// stands unless a join or leave event read for the same (user, group) is
// at least as new, and then the newest event decides; a pair with events
// but no snapshot row is a member when its newest event is a join. At
// equal times a leave wins, so a user who left is never shown as a member.
func (f *Features) memberships(d *data.Dims, events []memberFact) []data.Membership {
	// Keep the newest event per pair; true sorts after false, so at equal
	// times the join comes first and the leave after it decides.
	slices.SortStableFunc(events, func(a, b memberFact) int {
		return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.group, b.group), cmp.Compare(a.At, b.At), boolOrder(b.Member, a.Member))
	})
	newest := events[:0]
	for i, e := range events {
		if i+1 == len(events) || events[i+1].user != e.user || events[i+1].group != e.group {
			newest = append(newest, e)
		}
	}
	find := func(u, g int32) (int, bool) {
		return slices.BinarySearchFunc(newest, [2]int32{u, g}, func(e memberFact, k [2]int32) int {
			return cmp.Or(cmp.Compare(e.user, k[0]), cmp.Compare(e.group, k[1]))
		})
	}
	inSnapshot := make([]bool, len(newest))
	out := make([]data.Membership, 0, len(d.Members))
	for _, m := range d.Members {
		if !f.Eligible[m.User] {
			f.Summary.ExcludedMemberships++
			continue
		}
		if i, ok := find(m.User, m.Group); ok {
			inSnapshot[i] = true
			if !SnapshotStands(m.JoinedAtMillis, newest[i].MemberFact) {
				continue // left since the snapshot's row
			}
		}
		out = append(out, m)
	}
	for i, e := range newest {
		if !inSnapshot[i] && e.Member {
			out = append(out, data.Membership{Group: e.group, User: e.user, JoinedAtMillis: e.At})
		}
	}
	return out
}

// boolOrder orders false before true.
func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// buildMembers builds the user × group and group × user membership
// matrices from resolved memberships.
func (f *Features) buildMembers(d *data.Dims, members []data.Membership) {
	ts := make([]Triple, len(members))
	for i, m := range members {
		ts[i] = Triple{m.User, m.Group, 1}
	}
	f.Members = BuildCSR(d.Users.Len(), ts)
	for i := range f.Members.Val {
		f.Members.Val[i] = 1
	}
	f.GroupMembers = f.Members.Transpose(d.Groups.Len())
}

func (f *Features) buildTopics(d *data.Dims, p Params) {
	f.Topics, f.ItemTopics = ItemTopicsOf(d, f.Items, p)
	nt, nu := len(f.Topics), d.Users.Len()
	f.UserTopics = make([]float32, nu*nt)
	usersWith := make([]int, nt)
	for u := range int32(nu) {
		row := f.UserTopicRow(u)
		cols, vals := f.Signals.Row(u)
		for k, item := range cols {
			AddTopicShares(row, f.ItemTopics[item], vals[k])
		}
		for t, v := range row {
			if v > 0 {
				usersWith[t]++
			}
		}
	}
	idf := TopicIDF(nu, usersWith)
	for u := range int32(nu) {
		NormaliseTopics(f.UserTopicRow(u), idf)
	}
}

// ItemTopicsOf is the topic vocabulary and each item's topics (indices
// into it): a group's own, an activity's group's, a content item's, and a
// merchant's own or else its category's (p.CategoryTopics). The same
// snapshots give the same vocabulary in the same order.
func ItemTopicsOf(d *data.Dims, it Items, p Params) (topics []string, itemTopics [][]int32) {
	vocab := data.Dict{}
	for i := range d.Topics.Len() {
		vocab.Intern([]byte(d.Topics.Name(int32(i))))
	}
	catTopic := make([]int32, d.Categories.Len())
	for c := range catTopic {
		catTopic[c] = -1
		if t, ok := p.CategoryTopics[d.Categories.Name(int32(c))]; ok {
			catTopic[c] = vocab.Intern([]byte(t))
		}
	}
	itemTopics = make([][]int32, it.N)
	for g := range int32(d.Groups.Len()) {
		itemTopics[it.Group(g)] = d.GroupTopics[g]
	}
	for a := range int32(d.Activities.Len()) {
		itemTopics[it.Activity(a)] = d.GroupTopics[d.ActivityGroup[a]]
	}
	for c := range int32(d.Contents.Len()) {
		itemTopics[it.Content(c)] = d.ContentTopics[c]
	}
	for m := range int32(d.Merchants.Len()) {
		if ts := d.MerchantTopics[m]; len(ts) > 0 {
			itemTopics[it.Merchant(m)] = ts // the merchant's own topics win over its category's
			continue
		}
		if t := catTopic[d.MerchantCategory[m]]; t >= 0 {
			itemTopics[it.Merchant(m)] = []int32{t}
		}
	}
	topics = make([]string, vocab.Len())
	for i := range topics {
		topics[i] = vocab.Name(int32(i))
	}
	return topics, itemTopics
}

// AddTopicShares adds a user's signal v on an item with the given topics
// to the user's raw topic row: a positive signal is shared evenly among
// the item's topics; a negative one adds nothing. A row is the sum over
// the user's items in item order.
func AddTopicShares(row []float32, topics []int32, v float32) {
	if v <= 0 || len(topics) == 0 {
		return
	}
	share := v / float32(len(topics))
	for _, t := range topics {
		row[t] += share
	}
}

// TopicIDF is each topic's inverse document frequency among nu users,
// usersWith[t] of whom have topic t in their raw row. IDF keeps a topic
// everybody touches (food) from crowding out the distinctive ones;
// smoothed so a topic nobody has is finite.
func TopicIDF(nu int, usersWith []int) []float32 {
	idf := make([]float32, len(usersWith))
	for t, n := range usersWith {
		idf[t] = float32(math.Log(float64(1+nu) / float64(1+n)))
	}
	return idf
}

// NormaliseTopics turns a raw topic row into the user's topic weights:
// weighted by idf and scaled to sum to 1 (left all zero when it is).
func NormaliseTopics(row, idf []float32) {
	sum := float32(0)
	for t := range row {
		row[t] *= idf[t]
		sum += row[t]
	}
	if sum > 0 {
		for t := range row {
			row[t] /= sum
		}
	}
}

// TopTopics is the n heaviest topics of a user's topic weights, heaviest
// first, ties in vocabulary order, topics of weight 0 left out.
func TopTopics(row []float32, names []string, n int) []data.TopicWeight {
	idx := make([]int, len(row))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(row[b], row[a]) })
	var top []data.TopicWeight
	for _, t := range idx[:min(n, len(idx))] {
		if row[t] > 0 {
			top = append(top, data.TopicWeight{Topic: names[t], Weight: row[t]})
		}
	}
	return top
}
