package models

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"circles/data"
	"circles/features"
)

// Cold start: a user with only a few events has an interest vector that
// a handful of observations, shrunk hard towards zero by the
// regularisation, barely points anywhere. ColdStart re-solves such a
// user's vector against the trained item factors with pseudo-observations
// added to what the user did do: the groups the user's friends are in
// (social proof, design lesson 4) and the most popular groups of the
// user's own city (lesson 3). Their weight fades as the user's own
// events approach ColdStartParams.MinEvents, so a user's own behaviour
// always outweighs the prior once there is enough of it.

// ColdStartParams tunes the cold-start prior.
type ColdStartParams struct {
	// MinEvents is the number of items with positive signal from which a
	// user is no longer cold, 1..100; 0 turns the prior off.
	MinEvents int `json:"min_events"`
	// FriendGroups and CityGroups bound the pseudo-observations of each
	// kind, 0..200.
	FriendGroups int `json:"friend_groups"`
	CityGroups   int `json:"city_groups"`
	// Weight is the signal of the strongest pseudo-observation for a user
	// with no events (events have weights of 1–6), 0..100.
	Weight float64 `json:"weight"`
}

// DefaultColdStartParams returns production defaults.
func DefaultColdStartParams() ColdStartParams {
	return ColdStartParams{MinEvents: 5, FriendGroups: 20, CityGroups: 10, Weight: 2}
}

// Validate checks every field and names the first bad one.
func (p ColdStartParams) Validate() error {
	switch {
	case p.MinEvents < 0 || p.MinEvents > 100:
		return fmt.Errorf("cold_start.min_events = %d: want 0..100", p.MinEvents)
	case p.FriendGroups < 0 || p.FriendGroups > 200:
		return fmt.Errorf("cold_start.friend_groups = %d: want 0..200", p.FriendGroups)
	case p.CityGroups < 0 || p.CityGroups > 200:
		return fmt.Errorf("cold_start.city_groups = %d: want 0..200", p.CityGroups)
	case !(p.Weight >= 0 && p.Weight <= 100):
		return fmt.Errorf("cold_start.weight = %v: want 0..100", p.Weight)
	}
	return nil
}

// PositiveEvents counts user u's items with positive signal.
func PositiveEvents(f *features.Features, u int32) int {
	_, vals := f.Signals.Row(u)
	n := 0
	for _, v := range vals {
		if v > 0 {
			n++
		}
	}
	return n
}

// ColdStart re-solves the vectors of the eligible cold users among only
// (every user when nil) in m, with the prior's pseudo-observations added
// to their own signal, and returns how many it re-solved. Only eligible
// users' memberships and active groups the user has not joined or hidden
// make the prior.
func ColdStart(ctx context.Context, d *data.Dims, f *features.Features, m *ALS, p ColdStartParams, ap ALSParams, only []bool) (int, error) {
	if !p.On() {
		return 0, nil
	}
	nu := f.Signals.Rows()
	cold := make([]bool, nu)
	events := make([]int, nu) // of the cold users
	n := 0
	for u := range int32(nu) {
		if !f.Eligible[u] || (only != nil && !only[u]) {
			continue
		}
		if events[u] = PositiveEvents(f, u); events[u] < p.MinEvents {
			cold[u] = true
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	popular := cityGroups(d, f, p.CityGroups)
	var rows []features.Triple
	counts := map[int32]int{}
	var friendGroups []GroupCount
	var city []int64
	for u := range int32(nu) {
		if !cold[u] {
			continue
		}
		cols, vals := f.Signals.Row(u)
		for i, c := range cols {
			rows = append(rows, features.Triple{Row: u, Col: c, Val: vals[i]})
		}
		usable := func(g int32) bool {
			item := f.Items.Group(g)
			return d.GroupStatus[g] == data.StatusActive && !f.Members.Has(u, g) && !f.HiddenItems.Has(u, item) && !f.Signals.Has(u, item)
		}
		clear(counts)
		friends, _ := f.Friends.Row(u)
		for _, fr := range friends {
			gs, _ := f.Members.Row(fr)
			for _, g := range gs {
				if usable(g) {
					counts[g]++
				}
			}
		}
		friendGroups = friendGroups[:0]
		for g, n := range counts {
			friendGroups = append(friendGroups, GroupCount{Group: d.Groups.ID(g), N: n})
		}
		city = city[:0]
		for _, g := range popular[d.UserCity[u]] {
			city = append(city, d.Groups.ID(g))
		}
		for _, o := range ColdPrior(p, events[u], friendGroups, city, func(g int64) bool { return usable(d.Groups.Lookup(g)) }) {
			rows = append(rows, features.Triple{Row: u, Col: f.Items.Group(d.Groups.Lookup(o.Group)), Val: o.Val})
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	R := features.BuildCSR(nu, rows)
	return n, SolveUsers(ctx, &R, m, cold, ap)
}

// GroupCount is a group and a count of something about it.
type GroupCount struct {
	Group int64 // external ID
	N     int
}

// PriorObs is a pseudo-observation of the cold-start prior.
type PriorObs struct {
	Group int64
	Val   float32
}

// ColdPrior is the prior's pseudo-observations for a cold user with
// events items of positive signal: the p.FriendGroups groups with the
// most of the user's friends (friendGroups, in any order, only groups
// usable for the user), each weighed by its count against the largest,
// then the usable ones of the user's city's groups by size (city, largest
// first), each half a friend's and falling with its rank in city. A
// usable group is one the user may be given: active, not joined, hidden
// or already signalled. The weight fades as events approach p.MinEvents.
func ColdPrior(p ColdStartParams, events int, friendGroups []GroupCount, city []int64, usable func(int64) bool) []PriorObs {
	fade := p.Weight * float64(p.MinEvents-events) / float64(p.MinEvents)
	slices.SortFunc(friendGroups, func(a, b GroupCount) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Group, b.Group)) })
	top := friendGroups[:min(p.FriendGroups, len(friendGroups))]
	var out []PriorObs
	added := map[int64]bool{}
	for _, g := range top {
		out = append(out, PriorObs{Group: g.Group, Val: float32(fade * float64(g.N) / float64(top[0].N))})
		added[g.Group] = true
	}
	for rank, g := range city {
		if usable(g) && !added[g] {
			out = append(out, PriorObs{Group: g, Val: float32(fade / 2 / float64(1+rank))})
		}
	}
	return out
}

// On reports whether p adds a prior at all.
func (p ColdStartParams) On() bool {
	return p.MinEvents > 0 && p.Weight > 0 && p.FriendGroups+p.CityGroups > 0
}

// cityGroups lists, per city, its k active groups with the most eligible
// members, largest first (ties by ID).
func cityGroups(d *data.Dims, f *features.Features, k int) [][]int32 {
	byCity := make([][]int32, d.Cities.Len())
	size := func(g int32) int { ms, _ := f.GroupMembers.Row(g); return len(ms) }
	for g := range int32(d.Groups.Len()) {
		if d.GroupStatus[g] == data.StatusActive && size(g) > 0 {
			byCity[d.GroupCity[g]] = append(byCity[d.GroupCity[g]], g)
		}
	}
	for c, gs := range byCity {
		slices.SortFunc(gs, func(a, b int32) int {
			return cmp.Or(cmp.Compare(size(b), size(a)), cmp.Compare(d.Groups.ID(a), d.Groups.ID(b)))
		})
		byCity[c] = gs[:min(k, len(gs))]
	}
	return byCity
}
