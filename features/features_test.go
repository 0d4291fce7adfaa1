package features

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"circles/data"
)

var day = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

func TestBuildCSRSumsAndSorts(t *testing.T) {
	t.Parallel()
	m := BuildCSR(3, []Triple{{2, 5, 1}, {0, 3, 1}, {2, 1, 2}, {0, 3, 0.5}, {2, 5, -4}})
	if diff := cmp.Diff(CSR{Start: []int64{0, 1, 1, 3}, Col: []int32{3, 1, 5}, Val: []float32{1.5, 2, -3}}, m); diff != "" {
		t.Errorf("BuildCSR (-want +got):\n%s", diff)
	}
	tr := m.Transpose(6)
	back := tr.Transpose(3)
	if diff := cmp.Diff(m, back); diff != "" {
		t.Errorf("transpose twice (-want +got):\n%s", diff)
	}
	if !m.Has(2, 5) || m.Has(1, 5) || m.Has(2, 4) {
		t.Errorf("Has disagrees with contents")
	}
}

func TestDecayHalvesPerHalfLife(t *testing.T) {
	t.Parallel()
	now := day.UnixMilli()
	for _, tc := range []struct {
		ageDays, halfLife, want float64
	}{{0, 21, 1}, {21, 21, 0.5}, {42, 21, 0.25}, {7, 7, 0.5}, {-1, 7, 1}} {
		got := decay(now, now-int64(tc.ageDays*86_400_000), tc.halfLife)
		if math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("decay(age %v d, half-life %v d) = %v, want %v", tc.ageDays, tc.halfLife, got, tc.want)
		}
	}
}

// dims returns n active adult users in one city.
func dims(n int) *data.Dims {
	d := &data.Dims{Date: day}
	for u := range n {
		d.Users.Add(int64(u + 1))
		d.UserCity = append(d.UserCity, 0)
		d.UserMinor = append(d.UserMinor, false)
		d.UserOptOut = append(d.UserOptOut, false)
		d.UserStatus = append(d.UserStatus, data.StatusActive)
	}
	return d
}

func transfer(a, b int32, at int64) data.Txn {
	return data.Txn{TimeMillis: at, AmountCents: 1000, Payer: a, Payee: b, Kind: data.TxTransfer, PayeeType: data.PayeeUser}
}

func TestTieReciprocityAndDecay(t *testing.T) {
	t.Parallel()
	now := day.AddDate(0, 0, 1).UnixMilli()
	// 0→1 twice (one way); 2→3 and 3→2 (both ways); 4→5 twice but 42 days ago.
	txns := []data.Txn{transfer(0, 1, now), transfer(0, 1, now), transfer(2, 3, now), transfer(3, 2, now),
		transfer(4, 5, now-42*86_400_000), transfer(4, 5, now-42*86_400_000)}
	p := DefaultParams()
	p.HalfLifeDays = 21 // 42 days are two half-lives
	f := build(t, dims(6), [][]data.Txn{txns}, nil, now-60*86_400_000, p)
	oneWay, info := f.Tie(0, 1)
	twoWay, _ := f.Tie(2, 3)
	old, _ := f.Tie(4, 5)
	if back, _ := f.Tie(1, 0); back != oneWay {
		t.Errorf("tie is not symmetric: %v vs %v", oneWay, back)
	}
	if want := float32(2 * p.Ties.Transfer); math.Abs(float64(oneWay-want)) > 1e-4 {
		t.Errorf("one-way tie = %v, want %v", oneWay, want)
	}
	if want := float32(2 * p.Ties.Transfer * (1 + p.Ties.Reciprocity)); math.Abs(float64(twoWay-want)) > 1e-4 {
		t.Errorf("reciprocal tie = %v, want %v", twoWay, want)
	}
	if want := oneWay / 4; math.Abs(float64(old-want)) > 1e-4 {
		t.Errorf("tie two half-lives old = %v, want %v", old, want)
	}
	if info.Transfers != 2 || info.Splits != 0 {
		t.Errorf("tie info = %+v, want 2 transfers", info)
	}
	if s, _ := f.Tie(0, 2); s != 0 {
		t.Errorf("no money between 0 and 2, tie = %v", s)
	}
}

func TestCoSplitTiesPayersOfOneBill(t *testing.T) {
	t.Parallel()
	now := day.AddDate(0, 0, 1).UnixMilli()
	leg := func(payer int32) data.Txn {
		return data.Txn{TimeMillis: now - 1000, AmountCents: 500, Ref: 9, Payer: payer, Payee: 0, Kind: data.TxAASplit, PayeeType: data.PayeeUser}
	}
	f := build(t, dims(4), [][]data.Txn{{leg(1), leg(2)}, {leg(3)}}, nil, now-86_400_000, DefaultParams())
	for _, pr := range [][2]int32{{0, 1}, {1, 2}, {2, 3}, {1, 3}} {
		if _, info := f.Tie(pr[0], pr[1]); info.Splits != 1 {
			t.Errorf("pair %v: %d splits, want 1 (they took part in one bill)", pr, info.Splits)
		}
	}
}

func TestPolicyInputs(t *testing.T) {
	t.Parallel()
	now := day.AddDate(0, 0, 1).UnixMilli()
	d := dims(5)
	d.UserOptOut[4] = true
	p := DefaultParams()
	p.DismissTTLDays = 10
	events := []data.Event{
		{TimeMillis: now - 5*86_400_000, User: 0, Target: 1, TargetKind: data.TargetUser, Action: data.ActDismiss},  // within TTL
		{TimeMillis: now - 15*86_400_000, User: 0, Target: 2, TargetKind: data.TargetUser, Action: data.ActDismiss}, // expired
		{TimeMillis: now - 15*86_400_000, User: 3, Target: 2, TargetKind: data.TargetUser, Action: data.ActReport},  // reports never expire
		{TimeMillis: now - 86_400_000, User: 4, Target: 0, TargetKind: data.TargetUser, Action: data.ActLike},       // opted out: no tie
	}
	txns := []data.Txn{transfer(4, 0, now-1000), transfer(0, 3, now-1000)}
	f := build(t, d, [][]data.Txn{txns}, [][]data.Event{events}, now-20*86_400_000, p)
	if !f.DismissedUsers.Has(1, 0) {
		t.Errorf("dismissal within the TTL missing (checked in the other direction)")
	}
	if f.DismissedUsers.Has(0, 2) {
		t.Errorf("expired dismissal still applies")
	}
	if !f.Blocked.Has(2, 3) {
		t.Errorf("report does not block both ways")
	}
	if s, _ := f.Tie(0, 4); s != 0 {
		t.Errorf("opted-out user has a tie of %v; its behaviour must not be used", s)
	}
	if s, _ := f.Tie(0, 3); s == 0 {
		t.Errorf("eligible users' transfer made no tie")
	}
	if f.Eligible[4] || !f.Eligible[0] {
		t.Errorf("eligibility = %v", f.Eligible)
	}
	if f.Summary.ExcludedTxns != 1 || f.Summary.ExcludedEvents != 0 {
		t.Errorf("excluded txns %d events %d, want 1 and 0 (user-target events feed ties, not signals)", f.Summary.ExcludedTxns, f.Summary.ExcludedEvents)
	}
}

func TestUserTopicsSumToOne(t *testing.T) {
	t.Parallel()
	d := dims(3)
	hiking := d.Topics.Intern([]byte("hiking"))
	food := d.Topics.Intern([]byte("food"))
	d.Groups.Add(10)
	d.GroupCity, d.GroupTopics, d.GroupStatus, d.GroupCreated = []int32{0}, [][]int32{{hiking}}, []data.Status{data.StatusActive}, []int64{0}
	d.Contents.Add(20)
	d.ContentTopics = [][]int32{{food}}
	now := day.AddDate(0, 0, 1).UnixMilli()
	events := []data.Event{
		{TimeMillis: now - 1000, User: 0, Target: 0, TargetKind: data.TargetGroup, Action: data.ActView, Weight: 1},
		{TimeMillis: now - 1000, User: 0, Target: 0, TargetKind: data.TargetContent, Action: data.ActLike, Weight: 1},
		{TimeMillis: now - 1000, User: 1, Target: 0, TargetKind: data.TargetContent, Action: data.ActLike, Weight: 1},
		{TimeMillis: now - 1000, User: 2, Target: 0, TargetKind: data.TargetContent, Action: data.ActLike, Weight: 1},
	}
	f := build(t, d, nil, [][]data.Event{events}, now-86_400_000, DefaultParams())
	row := f.UserTopicRow(0)
	if sum := row[hiking] + row[food]; math.Abs(float64(sum)-1) > 1e-6 {
		t.Errorf("topic weights sum to %v", sum)
	}
	// Everybody likes food, only user 0 hikes: IDF puts hiking first even
	// though the raw food signal (like = 2) beats the hiking view (1).
	if row[hiking] <= row[food] {
		t.Errorf("hiking %v ≤ food %v; IDF should favour the distinctive topic", row[hiking], row[food])
	}
}

// TestWeightScalesLogarithmically checks that an interaction's weight scales
// its signal by log2(1 + weight): weight 1 as is, weight 1023 ten times.
func TestWeightScalesLogarithmically(t *testing.T) {
	t.Parallel()
	d := dims(2)
	d.Contents.Add(20)
	d.ContentTopics = [][]int32{nil}
	now := day.AddDate(0, 0, 1).UnixMilli()
	events := []data.Event{
		{TimeMillis: now, User: 0, Target: 0, TargetKind: data.TargetContent, Action: data.ActView, Weight: 1},
		{TimeMillis: now, User: 1, Target: 0, TargetKind: data.TargetContent, Action: data.ActView, Weight: 1023},
	}
	f := build(t, d, nil, [][]data.Event{events}, now-86_400_000, DefaultParams())
	item := f.Items.Content(0)
	at := func(u int32) float32 {
		cols, vals := f.Signals.Row(u)
		if len(cols) != 1 || cols[0] != item {
			t.Fatalf("user %d signals on %v, want only item %d", u, cols, item)
		}
		return vals[0]
	}
	one, many := at(0), at(1)
	if math.Abs(float64(one)-DefaultParams().Weights.View) > 1e-6 || math.Abs(float64(many/one)-10) > 1e-5 {
		t.Errorf("signals = %v and %v, want view weight and 10× it", one, many)
	}
}

func TestMembershipIsTheNewestFact(t *testing.T) {
	t.Parallel()
	now := day.AddDate(0, 0, 1).UnixMilli()
	at := func(daysAgo int) int64 { return now - int64(daysAgo)*86_400_000 }
	d := dims(5)
	d.UserOptOut[4] = true
	for g := range 5 {
		d.Groups.Add(int64(100 + g))
		d.GroupCity, d.GroupTopics, d.GroupStatus, d.GroupCreated = append(d.GroupCity, 0), append(d.GroupTopics, nil), append(d.GroupStatus, data.StatusActive), append(d.GroupCreated, 0)
	}
	d.Members = []data.Membership{
		{Group: 0, User: 0, JoinedAtMillis: at(30)}, // snapshot only: member
		{Group: 1, User: 1, JoinedAtMillis: at(30)}, // left 5 days ago: not a member
		{Group: 2, User: 2, JoinedAtMillis: at(3)},  // left before rejoining: member
		{Group: 3, User: 3, JoinedAtMillis: at(10)}, // left at the same moment: not a member
		{Group: 0, User: 4, JoinedAtMillis: at(30)}, // opted out: excluded
	}
	join := func(u, g int32, daysAgo int) data.Event {
		return data.Event{TimeMillis: at(daysAgo), User: u, Target: g, TargetKind: data.TargetGroup, Action: data.ActJoin}
	}
	leave := func(u, g int32, daysAgo int) data.Event {
		e := join(u, g, daysAgo)
		e.Action = data.ActLeave
		return e
	}
	events := []data.Event{
		leave(1, 1, 5),
		leave(2, 2, 8),
		leave(3, 3, 10),
		join(0, 4, 2),                 // a join the snapshot has not caught up with: member
		join(1, 4, 6), leave(1, 4, 4), // joined and left, no snapshot row: not a member
		join(4, 4, 1), // opted out: no membership
	}
	f := build(t, d, nil, [][]data.Event{events}, at(60), DefaultParams())
	want := map[[2]int32]bool{{0, 0}: true, {2, 2}: true, {0, 4}: true}
	for u := range int32(5) {
		for g := range int32(5) {
			if got := f.Members.Has(u, g); got != want[[2]int32{u, g}] {
				t.Errorf("user %d in group %d = %v, want %v", u, g, got, want[[2]int32{u, g}])
			}
		}
	}
	if f.Summary.ExcludedMemberships != 1 {
		t.Errorf("excluded memberships = %d, want 1", f.Summary.ExcludedMemberships)
	}
}

// build is Build for a test: it fails t on an error.
func build(t testing.TB, d *data.Dims, txns [][]data.Txn, events [][]data.Event, featureStart int64, p Params) *Features {
	t.Helper()
	f, err := Build(t.Context(), d, txns, events, featureStart, p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestWorkHours(t *testing.T) {
	at := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixMilli()
	}
	for _, c := range []struct {
		at     string
		offset int
		want   bool
	}{
		{"2026-11-18T01:00:00Z", 8, true},   // Wednesday 09:00 in UTC+8
		{"2026-11-18T00:59:59Z", 8, false},  // 08:59:59
		{"2026-11-18T09:59:59Z", 8, true},   // 17:59:59
		{"2026-11-18T10:00:00Z", 8, false},  // 18:00
		{"2026-11-20T20:00:00Z", 8, false},  // Saturday 04:00 local
		{"2026-11-21T02:00:00Z", 8, false},  // Saturday 10:00 local
		{"2026-11-23T02:00:00Z", 8, true},   // Monday 10:00 local
		{"2026-11-23T14:00:00Z", -5, true},  // Monday 09:00 in UTC−5
		{"2026-11-23T04:00:00Z", -5, false}, // Sunday 23:00 in UTC−5
		{"1969-12-31T10:00:00Z", 0, true},   // a Wednesday before the epoch
		{"1969-12-28T10:00:00Z", 0, false},  // a Sunday before the epoch
	} {
		if got := workHours(at(c.at), c.offset); got != c.want {
			t.Errorf("workHours(%s, UTC%+d) = %v, want %v", c.at, c.offset, got, c.want)
		}
	}
}
