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
	if p.MinEvents == 0 || p.Weight == 0 || p.FriendGroups+p.CityGroups == 0 {
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
	for u := range int32(nu) {
		if !cold[u] {
			continue
		}
		cols, vals := f.Signals.Row(u)
		for i, c := range cols {
			rows = append(rows, features.Triple{Row: u, Col: c, Val: vals[i]})
		}
		fade := p.Weight * float64(p.MinEvents-events[u]) / float64(p.MinEvents)
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
		top := topCounts(counts, p.FriendGroups)
		added := map[int32]bool{}
		for _, g := range top {
			rows = append(rows, features.Triple{Row: u, Col: f.Items.Group(g), Val: float32(fade * float64(counts[g]) / float64(counts[top[0]]))})
			added[g] = true
		}
		for rank, g := range popular[d.UserCity[u]] {
			if usable(g) && !added[g] {
				// the city's prior is half a friend's and falls with rank
				rows = append(rows, features.Triple{Row: u, Col: f.Items.Group(g), Val: float32(fade / 2 / float64(1+rank))})
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	R := features.BuildCSR(nu, rows)
	return n, SolveUsers(ctx, &R, m, cold, ap)
}

// topCounts returns up to k keys of counts, the largest first, ties by key.
func topCounts(counts map[int32]int, k int) []int32 {
	keys := make([]int32, 0, len(counts))
	for g := range counts {
		keys = append(keys, g)
	}
	slices.SortFunc(keys, func(a, b int32) int { return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b)) })
	return keys[:min(k, len(keys))]
}

// cityGroups lists, per city, its k active groups with the most eligible
// members, largest first.
func cityGroups(d *data.Dims, f *features.Features, k int) [][]int32 {
	byCity := make([][]int32, d.Cities.Len())
	size := func(g int32) int { ms, _ := f.GroupMembers.Row(g); return len(ms) }
	for g := range int32(d.Groups.Len()) {
		if d.GroupStatus[g] == data.StatusActive && size(g) > 0 {
			byCity[d.GroupCity[g]] = append(byCity[d.GroupCity[g]], g)
		}
	}
	for c, gs := range byCity {
		slices.SortFunc(gs, func(a, b int32) int { return cmp.Or(cmp.Compare(size(b), size(a)), cmp.Compare(a, b)) })
		byCity[c] = gs[:min(k, len(gs))]
	}
	return byCity
}
