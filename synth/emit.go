package synth

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"circles/data"
	"circles/pipeline"
)

// FutureFriendship is a row of truth/friendships.parquet: a friendship that
// forms after the generated window. Each pair is listed once, UserID < FriendID.
type FutureFriendship struct {
	UserID     int64 `parquet:"user_id"`
	FriendID   int64 `parquet:"friend_id"`
	TimeMillis int64 `parquet:"time,timestamp(millisecond)"`
	// Type is how the two know each other (family, colleague, classmate,
	// interest), or empty for a chance or friend-of-friend tie.
	Type string `parquet:"type,dict"`
}

// FutureJoin is a row of truth/group_joins.parquet: a group join that
// happens after the generated window.
type FutureJoin struct {
	UserID     int64 `parquet:"user_id"`
	GroupID    int64 `parquet:"group_id"`
	TimeMillis int64 `parquet:"time,timestamp(millisecond)"`
}

// TruthDir is the directory under a generated root that holds the planted
// ground truth. The pipeline never reads it.
const TruthDir = "truth"

// Summary counts what Generate wrote.
type Summary struct {
	Users, Groups, Activities, Merchants, Content int
	Friendships, FutureFriendships, FutureJoins   int
	Contacts                                      int // address-book entries
	Labels                                        int // friend rows labelled with how the user knows the friend
	Transactions, Interactions                    int64
}

// Generate writes a world into dir (which must be empty or absent): the
// snapshots dated cfg.End, cfg.Days daily event partitions ending at End,
// each with a success marker, and the planted ground truth under truth/.
// progress, when not nil, is called after each day is written.
func Generate(ctx context.Context, dir string, cfg Config, progress func(done, total int)) (Summary, error) {
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return Summary{}, fmt.Errorf("output directory %s is not empty; choose a new one", dir)
	}
	w := buildWorld(cfg)
	s := Summary{Users: w.n, Groups: len(w.groupCity), Activities: len(w.actGroup), Merchants: len(w.merchantCity), Content: len(w.contentTopics)}
	if err := w.writeSnapshots(dir, &s); err != nil {
		return s, err
	}
	if err := w.writeTruth(dir, &s); err != nil {
		return s, err
	}
	// Sign-ups and joins inside the window become events on their day.
	var done atomic.Int64
	txns := make([]int64, cfg.Days)
	ints := make([]int64, cfg.Days)
	err := pipeline.ForEach(ctx, cfg.Days, 0, func(ctx context.Context, d int) error {
		nt, ni, err := w.writeDay(dir, d)
		txns[d], ints[d] = nt, ni
		if progress != nil {
			progress(int(done.Add(1)), cfg.Days)
		}
		return err
	})
	for d := range cfg.Days {
		s.Transactions += txns[d]
		s.Interactions += ints[d]
	}
	return s, err
}

func writePartition[T any](root, table string, day time.Time, rows []T) error {
	dir := data.PartitionDir(root, table, day)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := data.WriteParquet(filepath.Join(dir, "part-00000.parquet"), rows); err != nil {
		return err
	}
	return data.MarkSuccess(dir)
}

func ptr[T any](v T) *T { return &v }

func (w *world) writeSnapshots(root string, s *Summary) error {
	r := newRand(w.cfg.Seed, 7)
	end := w.cfg.End
	topics := data.Topics()
	users := make([]data.UserRow, 0, w.n+2)
	for u := range int32(w.n) {
		row := data.UserRow{UserID: w.userID(u), City: cityNames[w.city[u]], SocialOptOut: w.optOut[u], Status: w.status[u]}
		if w.ageKnown[u] {
			row.BirthYear = ptr(w.birthYear[u])
			if r.Float64() < 0.5 {
				row.IsMinor = ptr(w.minor[u])
			}
		}
		users = append(users, row)
	}
	// awkward rows: a duplicate user and one with a status outside the contract
	users = append(users, users[0], data.UserRow{UserID: w.userID(int32(w.n)), City: cityNames[0], Status: "frozen"})
	if err := writePartition(root, data.TableUsers, end, users); err != nil {
		return err
	}

	groups := make([]data.GroupRow, len(w.groupCity))
	for g := range groups {
		names := make([]string, len(w.groupTopics[g]))
		for i, t := range w.groupTopics[g] {
			names[i] = topics[t]
		}
		groups[g] = data.GroupRow{GroupID: groupIDBase + int64(g), City: cityNames[w.groupCity[g]], Topics: names, Status: w.groupStatus[g], CreatedAtMillis: w.groupCreated[g]}
	}
	if err := writePartition(root, data.TableGroups, end, groups); err != nil {
		return err
	}

	var members []data.MembershipRow
	for _, m := range w.members {
		if m.joined < w.endMilli {
			members = append(members, data.MembershipRow{GroupID: groupIDBase + int64(m.group), UserID: w.userID(m.user), JoinedAtMillis: m.joined})
		}
	}
	members = append(members, data.MembershipRow{GroupID: groupIDBase - 1, UserID: w.userID(0), JoinedAtMillis: w.startMilli}) // unknown group
	if err := writePartition(root, data.TableMemberships, end, members); err != nil {
		return err
	}

	acts := make([]data.ActivityRow, len(w.actGroup))
	for a := range acts {
		g := w.actGroup[a]
		acts[a] = data.ActivityRow{ActivityID: activityIDBase + int64(a), GroupID: groupIDBase + int64(g), City: cityNames[w.groupCity[g]], StartMillis: w.actStart[a], Status: w.actStatus[a]}
	}
	if err := writePartition(root, data.TableActivities, end, acts); err != nil {
		return err
	}

	merchants := make([]data.MerchantRow, len(w.merchantCity))
	for m := range merchants {
		merchants[m] = data.MerchantRow{MerchantID: merchantIDBase + int64(m), Category: w.categories[w.merchantCat[m]], City: cityNames[w.merchantCity[m]]}
	}
	if err := writePartition(root, data.TableMerchants, end, merchants); err != nil {
		return err
	}

	content := make([]data.ContentRow, len(w.contentTopics))
	for c := range content {
		names := make([]string, len(w.contentTopics[c]))
		for i, t := range w.contentTopics[c] {
			names[i] = topics[t]
		}
		content[c] = data.ContentRow{ContentID: contentIDBase + int64(c), Topics: names}
	}
	if err := writePartition(root, data.TableContent, end, content); err != nil {
		return err
	}

	var rels []data.RelationRow
	// label is how a user tagged the friend: three in ten friend rows of a
	// tie of a known kind carry one
	label := func(e edge) *string {
		if e.kind == data.RelUnknown || r.Float64() >= 0.3 {
			return nil
		}
		s.Labels++
		return ptr(e.kind.String())
	}
	for _, e := range w.edges {
		a, b := w.userID(e.a), w.userID(e.b)
		if e.created >= w.endMilli {
			if e.family { // the family account predates the friendship
				rels = append(rels, data.RelationRow{UserID: a, OtherID: b, Kind: "family", CreatedAtMillis: w.startMilli - 30*dayMillis})
			}
			continue
		}
		s.Friendships++
		rels = append(rels, data.RelationRow{UserID: a, OtherID: b, Kind: "friend", CreatedAtMillis: e.created, Label: label(e)})
		if r.Float64() < 0.5 { // some upstream rows list both directions
			rels = append(rels, data.RelationRow{UserID: b, OtherID: a, Kind: "friend", CreatedAtMillis: e.created, Label: label(e)})
		}
		if e.family {
			rels = append(rels, data.RelationRow{UserID: a, OtherID: b, Kind: "family", CreatedAtMillis: e.created})
		}
	}
	for _, bl := range w.blocks {
		rels = append(rels, data.RelationRow{UserID: w.userID(bl[0]), OtherID: w.userID(bl[1]), Kind: "block", CreatedAtMillis: w.startMilli - dayMillis})
	}
	for _, c := range w.contacts {
		rels = append(rels, data.RelationRow{UserID: w.userID(c[0]), OtherID: w.userID(c[1]), Kind: "contact", CreatedAtMillis: w.startMilli - 30*dayMillis})
	}
	s.Contacts = len(w.contacts)
	rels = append(rels, data.RelationRow{UserID: w.userID(0), OtherID: w.userID(0), Kind: "friend", CreatedAtMillis: w.startMilli}) // self
	return writePartition(root, data.TableRelations, end, rels)
}

func (w *world) writeTruth(root string, s *Summary) error {
	dir := filepath.Join(root, TruthDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var ff []FutureFriendship
	for _, e := range w.edges {
		if e.created >= w.endMilli {
			ff = append(ff, FutureFriendship{UserID: w.userID(e.a), FriendID: w.userID(e.b), TimeMillis: e.created, Type: e.kind.String()})
		}
	}
	var fj []FutureJoin
	for _, m := range w.members {
		if m.joined >= w.endMilli {
			fj = append(fj, FutureJoin{UserID: w.userID(m.user), GroupID: groupIDBase + int64(m.group), TimeMillis: m.joined})
		}
	}
	s.FutureFriendships, s.FutureJoins = len(ff), len(fj)
	if err := data.WriteParquet(filepath.Join(dir, "friendships.parquet"), ff); err != nil {
		return err
	}
	return data.WriteParquet(filepath.Join(dir, "group_joins.parquet"), fj)
}

// dayGen accumulates one day's rows.
type dayGen struct {
	w      *world
	r      *rand.Rand
	day    int
	t0     int64 // start of the day, millis
	nextID int64
	txns   []data.Transaction
	ints   []data.Interaction
	cities []*string
	cats   []*string
}

func (g *dayGen) id() int64 { g.nextID++; return g.nextID }

// at is a time during the day; 1% of rows arrive late, stamped up to a day
// earlier (still inside the window except on the first day, where they
// exercise the outside_window quarantine).
func (g *dayGen) at() int64 {
	t := g.t0 + g.r.Int64N(dayMillis)
	if g.r.Float64() < 0.01 {
		t -= dayMillis
	}
	return t
}

func (g *dayGen) interact(u int32, kind string, target int64, action string, t int64) {
	g.ints = append(g.ints, data.Interaction{EventID: g.id(), TimeMillis: t, UserID: g.w.userID(u), TargetKind: kind, TargetID: target, Action: action})
}

// localOffset is the generated users' time zone, UTC+8, as
// features.DefaultParams assumes.
const localOffset = 8 * 3600 * 1000

// atBetween is a time during the day between local hours lo and hi, late
// as often as at's.
func (g *dayGen) atBetween(lo, hi int) int64 {
	t := g.t0 - localOffset + int64(lo)*3600*1000 + g.r.Int64N(int64(hi-lo)*3600*1000)
	if g.r.Float64() < 0.01 {
		t -= dayMillis
	}
	return t
}

// friendTime is when u moves money with a friend: with a colleague in
// working hours, with anyone else mostly in the evening.
func (g *dayGen) friendTime(kind data.RelationType) int64 {
	switch {
	case kind == data.RelTypeColleague && g.r.Float64() < 0.85:
		return g.atBetween(9, 18)
	case kind != data.RelTypeColleague && g.r.Float64() < 0.75:
		return g.atBetween(18, 24)
	}
	return g.at()
}

func (g *dayGen) pay(payer int32, payee int64, ptype, kind string, amount int64, ref *int64, city int32, cat int) {
	g.payAt(g.at(), payer, payee, ptype, kind, amount, ref, city, cat)
}

func (g *dayGen) payAt(t int64, payer int32, payee int64, ptype, kind string, amount int64, ref *int64, city int32, cat int) {
	row := data.Transaction{TxnID: g.id(), TimeMillis: t, PayerID: g.w.userID(payer), PayeeID: payee, PayeeType: ptype, Kind: kind, AmountCents: amount, Ref: ref, City: g.cities[city]}
	if cat >= 0 {
		row.Category = g.cats[cat]
	}
	g.txns = append(g.txns, row)
}

// Per-user daily rates, chosen so that a world has about 1.1 events per user
// per day (1,000,000 users over 90 days ≈ 100 M events).
const (
	rateContentView = 0.45
	rateGroupView   = 0.08
	rateActBrowse   = 0.03
	ratePayment     = 0.22
	rateTransfer    = 0.04
	rateRedPacket   = 0.015
	rateSplit       = 0.012
	rateDismiss     = 0.004
	rateHide        = 0.002
	rateReport      = 0.0003
	rateBlock       = 0.0001
	shareBad        = 0.001 // malformed rows
	shareDuplicate  = 0.002 // rows delivered twice
)

func (w *world) writeDay(root string, d int) (int64, int64, error) {
	g := &dayGen{w: w, r: newRand(w.cfg.Seed, 1000+uint64(d)), day: d, t0: w.startMilli + int64(d)*dayMillis, nextID: int64(d+1) << 36}
	for _, c := range cityNames {
		g.cities = append(g.cities, ptr(c))
	}
	for _, c := range w.categories {
		g.cats = append(g.cats, ptr(c))
	}
	topics := data.Topics()
	r := g.r
	for u := range int32(w.n) {
		if d < w.firstDay[u] {
			continue
		}
		c := w.city[u]
		interest := func() int8 {
			x := r.Float32()
			for k := range 3 {
				if x < w.topicW[u][k] {
					return w.topics[u][k]
				}
				x -= w.topicW[u][k]
			}
			return w.topics[u][2]
		}
		topicOrRandom := func(p float64) int8 {
			if r.Float64() < p {
				return interest()
			}
			return int8(r.IntN(len(topics)))
		}
		for range count(r, rateContentView) {
			pool := w.contentByTop[topicOrRandom(0.8)]
			if len(pool) == 0 {
				continue
			}
			item := contentIDBase + int64(pool[min(len(pool)-1, int(float64(len(pool))*r.Float64()*r.Float64()))])
			t := g.at()
			g.interact(u, "content", item, "view", t)
			for _, a := range []struct {
				action string
				p      float64
			}{{"like", 0.25}, {"comment", 0.04}, {"favorite", 0.04}, {"share", 0.03}} {
				if r.Float64() < a.p {
					g.interact(u, "content", item, a.action, t+1000)
				}
			}
		}
		for range count(r, rateGroupView) {
			var grp int32 = -1
			if fr := w.neighbours(u); len(fr) > 0 && r.Float64() < 0.3 { // a friend's group
				if gs := w.userGroups[fr[r.IntN(len(fr))]]; len(gs) > 0 {
					grp = gs[r.IntN(len(gs))]
				}
			}
			if grp < 0 {
				if pool := w.groupsAt[c][topicOrRandom(0.85)]; len(pool) > 0 {
					grp = pool[r.IntN(len(pool))]
				}
			}
			if grp >= 0 {
				g.interact(u, "group", groupIDBase+int64(grp), "view", g.at())
			}
		}
		for range count(r, rateActBrowse) {
			if a := int32(r.IntN(max(1, len(w.actGroup)))); len(w.actGroup) > 0 && w.groupCity[w.actGroup[a]] == c {
				g.interact(u, "activity", activityIDBase+int64(a), "view", g.at())
			}
		}
		payRate := ratePayment
		if w.minor[u] {
			payRate /= 2
		}
		for range count(r, payRate) {
			cat := r.IntN(len(w.categories))
			if r.Float64() < 0.45 { // interest-driven spending
				want := interest()
				for k, t := range w.catTopic {
					if int8(t) == want {
						cat = k
						break
					}
				}
			}
			mc := c
			if r.Float64() < 0.05 {
				mc = int32(r.IntN(len(cityNames)))
			}
			if pool := w.merchantsAt[mc][cat]; len(pool) > 0 {
				m := pool[r.IntN(len(pool))]
				g.pay(u, merchantIDBase+int64(m), "merchant", "payment", 500+r.Int64N(30000), nil, mc, cat)
				if r.Float64() < 0.02 {
					g.pay(u, merchantIDBase+int64(m), "merchant", "refund", 500+r.Int64N(3000), nil, mc, cat)
				}
			}
		}
		nb := w.neighbours(u)
		if len(nb) > 0 {
			// friend picks a friend of u (preferring family when asked) and
			// says how they know each other
			friend := func(familyFirst bool) (int32, data.RelationType) {
				k := r.IntN(len(nb))
				for range 2 {
					if !familyFirst || w.edges[w.adjEdge[int(w.adjStart[u])+k]].family {
						break
					}
					k = r.IntN(len(nb))
				}
				return nb[k], w.edges[w.adjEdge[int(w.adjStart[u])+k]].kind
			}
			for range count(r, rateTransfer) {
				f, kind := friend(false)
				g.payAt(g.friendTime(kind), u, w.userID(f), "user", "transfer", 1000+r.Int64N(50000), nil, c, -1)
			}
			for range count(r, rateRedPacket) {
				f, kind := friend(true)
				g.payAt(g.friendTime(kind), u, w.userID(f), "user", "red_packet", 600+r.Int64N(20000), nil, c, -1)
			}
			for range count(r, rateSplit) { // an AA split: friends each pay u their share, at the time of the meal
				ref := g.id()
				first, kind := friend(false)
				at := g.friendTime(kind)
				for i := range 1 + r.IntN(4) {
					f := first
					if i > 0 {
						f, _ = friend(false)
					}
					if w.city[f] == c {
						g.payAt(at, f, w.userID(u), "user", "aa_split", 2000+r.Int64N(10000), ptr(ref), c, -1)
					}
				}
			}
			if r.Float64() < rateDismiss {
				if fnb := w.neighbours(nb[r.IntN(len(nb))]); len(fnb) > 0 {
					if v := fnb[r.IntN(len(fnb))]; v != u {
						g.interact(u, "user", w.userID(v), "dismiss", g.at())
					}
				}
			}
		}
		if r.Float64() < rateDismiss {
			if pool := w.groupsAt[c][int8(r.IntN(len(topics)))]; len(pool) > 0 {
				g.interact(u, "group", groupIDBase+int64(pool[r.IntN(len(pool))]), "dismiss", g.at())
			}
		}
		if r.Float64() < rateHide {
			if pool := w.contentByTop[int8(r.IntN(len(topics)))]; len(pool) > 0 {
				g.interact(u, "content", contentIDBase+int64(pool[r.IntN(len(pool))]), "hide", g.at())
			}
		}
		for _, neg := range []struct {
			action string
			p      float64
		}{{"report", rateReport}, {"block", rateBlock}} {
			if r.Float64() < neg.p {
				pool := w.cityUsers[c]
				if v := pool[r.IntN(len(pool))]; v != u {
					g.interact(u, "user", w.userID(v), neg.action, g.at())
				}
			}
		}
	}
	// Fund contributions on the first day of each month.
	if day := time.UnixMilli(g.t0).UTC(); day.Day() == 1 {
		for f, fund := range w.funds {
			owner := w.fundOwner[f]
			for _, m := range fund[1:] {
				g.pay(m, w.userID(owner), "user", "fund_group", 10000+r.Int64N(50000), ptr(int64(f+1)), w.city[owner], -1)
			}
		}
	}
	dayEnd := g.t0 + dayMillis
	for _, m := range w.members {
		if m.joined >= g.t0 && m.joined < dayEnd {
			g.interact(m.user, "group", groupIDBase+int64(m.group), "join", m.joined)
		}
	}
	for _, s := range w.signups {
		if s.at >= g.t0 && s.at < dayEnd {
			g.interact(s.user, "activity", activityIDBase+int64(s.activity), "signup", s.at)
		}
		if start := w.actStart[s.activity]; s.attend && start >= g.t0 && start < dayEnd {
			g.interact(s.user, "activity", activityIDBase+int64(s.activity), "attend", start)
		}
	}
	g.corrupt()
	day := w.cfg.End.AddDate(0, 0, d-w.cfg.Days+1)
	if err := writePartition(root, data.TableTransactions, day, g.txns); err != nil {
		return 0, 0, err
	}
	if err := writePartition(root, data.TableInteractions, day, g.ints); err != nil {
		return 0, 0, err
	}
	return int64(len(g.txns)), int64(len(g.ints)), nil
}

// corrupt adds what real upstream data has: rows delivered twice and rows
// that break the contract in each of the ways ingest must catch.
func (g *dayGen) corrupt() {
	r := g.r
	for _, i := range pickRows(r, len(g.ints), shareDuplicate) {
		g.ints = append(g.ints, g.ints[i])
	}
	for _, i := range pickRows(r, len(g.txns), shareDuplicate) {
		g.txns = append(g.txns, g.txns[i])
	}
	for k, i := range pickRows(r, len(g.ints), shareBad) {
		row := g.ints[i]
		row.EventID = g.id()
		switch k % 4 {
		case 0:
			row.Action = "superlike"
		case 1:
			row.UserID++ // between sparse user IDs: unknown
		case 2:
			row.TargetKind = "story"
		case 3:
			row.Action, row.TargetKind = "join", "content"
		}
		g.ints = append(g.ints, row)
	}
	for k, i := range pickRows(r, len(g.txns), shareBad) {
		row := g.txns[i]
		row.TxnID = g.id()
		switch k % 4 {
		case 0:
			row.AmountCents = -row.AmountCents
		case 1:
			row.Kind = "cashback"
		case 2:
			row.PayeeType = "user" // a merchant id as a user
			if row.Kind == "payment" {
				row.PayeeID = row.PayerID
			}
		case 3:
			row.Kind, row.Ref = "aa_split", nil
		}
		g.txns = append(g.txns, row)
	}
	// Shuffle so bad and duplicate rows are not all at the end of the file.
	r.Shuffle(len(g.ints), func(i, j int) { g.ints[i], g.ints[j] = g.ints[j], g.ints[i] })
	r.Shuffle(len(g.txns), func(i, j int) { g.txns[i], g.txns[j] = g.txns[j], g.txns[i] })
}

// pickRows picks about n·share row indices, and at least four so that a
// small world still has every kind of bad row every day.
func pickRows(r *rand.Rand, n int, share float64) []int {
	k := max(4, count(r, float64(n)*share))
	out := make([]int, k)
	for i := range out {
		out[i] = r.IntN(max(1, n))
	}
	if n == 0 {
		return nil
	}
	slices.Sort(out)
	return out
}
