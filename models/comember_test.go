package models

import (
	"context"
	"math"
	"testing"

	"circles/data"
	"circles/features"
)

// TestCoMembership checks the group score's co-membership term on a
// world where the one user to rank is in group 1 and other members of
// group 1 are also in other groups: a group counts only with at least
// MinCoMembers eligible co-members, in the user's city, while active, and
// its reason names the user's own group and the count.
func TestCoMembership(t *testing.T) {
	t.Parallel()
	d := &data.Dims{Date: runDay}
	here, there := d.Cities.Intern([]byte("here")), d.Cities.Intern([]byte("there"))
	groups := []struct {
		id     int64
		city   int32
		status data.Status
	}{
		{1, here, data.StatusActive},
		{2, here, data.StatusActive},  // 4 co-members
		{3, here, data.StatusActive},  // 2 eligible co-members and a suspended one
		{4, there, data.StatusActive}, // 4 co-members, another city
		{5, here, data.StatusClosed},  // 4 co-members, closed
	}
	for _, g := range groups {
		d.Groups.Add(g.id)
		d.GroupCity = append(d.GroupCity, g.city)
		d.GroupStatus = append(d.GroupStatus, g.status)
		d.GroupTopics = append(d.GroupTopics, nil)
		d.GroupCreated = append(d.GroupCreated, 0)
	}
	user := func(status data.Status, groups ...int32) {
		u, _ := d.Users.Add(int64(100 + d.Users.Len()))
		d.UserCity = append(d.UserCity, here)
		d.UserMinor = append(d.UserMinor, false)
		d.UserOptOut = append(d.UserOptOut, false)
		d.UserStatus = append(d.UserStatus, status)
		for _, g := range groups {
			d.Members = append(d.Members, data.Membership{Group: g, User: u})
		}
	}
	user(data.StatusActive, 0) // the user ranked: user 100, in group 1
	for range 4 {
		user(data.StatusActive, 0, 1)
	}
	for range 2 {
		user(data.StatusActive, 0, 2)
	}
	user(data.StatusSuspended, 0, 2)
	for range 4 {
		user(data.StatusActive, 0, 3)
	}
	for range 4 {
		user(data.StatusActive, 0, 4)
	}
	now := runDay.AddDate(0, 0, 1).UnixMilli()
	f, err := features.Build(context.Background(), d, nil, nil, now-30*86_400_000, features.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	only := make([]bool, d.Users.Len())
	only[0] = true
	in := Inputs{Dims: d, Features: f, ALS: NewALS(d.Users.Len(), int(f.Items.N), 2), Only: only}
	p := DefaultGroupParams()
	p.InterestWeight, p.TopicWeight, p.SocialWeight, p.HealthWeight, p.CoMemberWeight, p.MinScore = 0, 0, 0, 0, 2, 0.01
	rows, err := RankGroups(t.Context(), in, p, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("suggested %+v, want group 2 alone", rows)
	}
	s := rows[0]
	// 4 of the 15 eligible members of group 1 are in group 2
	if want := 2 * 4.0 / 15; s.UserID != 100 || s.GroupID != 2 || math.Abs(float64(s.Score)-want) > 1e-6 {
		t.Errorf("suggested %+v, want user 100 group 2 scoring %v", s, want)
	}
	want := data.Reason{Code: data.ReasonMembersAlsoJoined, Count: 4, RefID: 1}
	if len(s.Reasons) != 1 || s.Reasons[0] != want {
		t.Errorf("reasons %+v, want [%+v]", s.Reasons, want)
	}

	// without the weight no co-membership is counted at all
	p.CoMemberWeight = 0
	if rows, err = RankGroups(t.Context(), in, p, 2); err != nil || len(rows) != 0 {
		t.Errorf("with co_member_weight 0: %+v, %v; want nothing", rows, err)
	}
}
