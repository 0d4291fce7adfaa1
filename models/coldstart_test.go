package models

import (
	"testing"

	"gonum.org/v1/gonum/floats"

	"circles/data"
	"circles/features"
)

// A cold user's vector comes from the groups their friends are in and
// their city's popular groups; a warm user's is left as trained.
func TestColdStartPrior(t *testing.T) {
	t.Parallel()
	const n, groups = 60, 6
	d := &data.Dims{Date: runDay}
	d.Cities.Intern([]byte("hangzhou"))
	for u := range n {
		d.Users.Add(int64(u))
		d.UserCity, d.UserMinor, d.UserStatus = append(d.UserCity, 0), append(d.UserMinor, false), append(d.UserStatus, data.StatusActive)
		d.UserOptOut = append(d.UserOptOut, u == 3)
	}
	for g := range groups {
		d.Groups.Add(int64(100 + g))
		d.GroupCity, d.GroupTopics, d.GroupStatus, d.GroupCreated = append(d.GroupCity, 0), append(d.GroupTopics, nil), append(d.GroupStatus, data.StatusActive), append(d.GroupCreated, 0)
	}
	// users 10..59 are warm: three communities of groups {0,1}, {2,3}, {4,5}
	// by u%3
	for u := int32(10); u < n; u++ {
		c := (u % 3) * 2
		d.Members = append(d.Members, data.Membership{Group: c, User: u}, data.Membership{Group: c + 1, User: u})
		if u%5 == 0 { // group 4 is the city's largest
			d.Members = append(d.Members, data.Membership{Group: 4, User: u})
		}
	}
	// cold user 0 has one event's worth (a membership of group 2) and
	// friends in the {2,3} community; cold user 1 has friends only through
	// opted-out user 3, whose groups must not count; user 2 has nothing
	d.Members = append(d.Members, data.Membership{Group: 2, User: 0}, data.Membership{Group: 0, User: 3}, data.Membership{Group: 1, User: 3})
	for _, v := range []int32{10, 13, 16} { // u%3 == 1: the {2,3} community
		d.Relations = append(d.Relations, data.Relation{User: 0, Other: v, Kind: data.RelFriend})
	}
	d.Relations = append(d.Relations, data.Relation{User: 1, Other: 3, Kind: data.RelFriend})
	f, err := features.Build(t.Context(), d, nil, nil, runDay.UnixMilli(), features.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	ap := DefaultALSParams()
	ap.Factors, ap.Workers = groups, 1 // a dimension per group: with fewer, whether the communities separate depends on the start
	rt := f.Signals.Transpose(int(f.Items.N))
	m, err := TrainALS(t.Context(), &f.Signals, &rt, InterestKeys(d, f.Items), ap, nil)
	if err != nil {
		t.Fatal(err)
	}
	warm := append([]float64(nil), m.Users.RawRowView(20)...)
	cp := DefaultColdStartParams()
	cp.MinEvents = 2 // warm users have two or three memberships
	cold, err := ColdStart(t.Context(), d, f, m, cp, ap, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cold != 9 { // users 0–2 and 4–9; 3 is opted out
		t.Errorf("%d cold users re-solved, want 9", cold)
	}
	if !floats.Equal(warm, m.Users.RawRowView(20)) {
		t.Error("a warm user's vector changed")
	}
	score := func(u, g int32) float64 {
		return floats.Dot(m.Users.RawRowView(int(u)), m.Items.RawRowView(int(f.Items.Group(g))))
	}
	// user 0: of the groups not joined, the friends' group 3 leads
	if s3, s0, s1 := score(0, 3), score(0, 0), score(0, 1); s3 <= s0 || s3 <= s1 {
		t.Errorf("user 0: score of friends' group 3 = %.3f, of groups 0, 1 = %.3f, %.3f; want 3 first", s3, s0, s1)
	}
	// user 2, with no events and no friends: the city's largest group leads
	best := int32(0)
	for g := range int32(groups) {
		if score(2, g) > score(2, best) {
			best = g
		}
	}
	if best != 4 {
		t.Errorf("user 2: best group %d, want the city's largest, 4", best)
	}
	// user 1's only friend is opted out: their groups 0 and 1 get no lift
	// over the city prior
	if score(1, 0) > score(1, 4) || score(1, 1) > score(1, 4) {
		t.Errorf("user 1: an opted-out friend's groups score %.3f, %.3f above the city's largest %.3f", score(1, 0), score(1, 1), score(1, 4))
	}
}
