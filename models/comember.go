package models

import (
	"context"
	"slices"

	"circles/data"
	"circles/features"
	"circles/pipeline"
)

// Co-membership is the group-to-group neighbourhood of the group score:
// of the eligible members of group h, the share who are also in group g.
// A user's co-membership with a candidate g is that share averaged over
// the user's own groups, so "people in your groups also joined g" weighs
// as much for a user in one group as for a user in ten. It is the
// item-to-item model of groups, and it is what a user's few memberships
// say best: most users are in one to three groups, too few for their
// interest vector to place them.
const (
	// MinCoMembers is the fewest eligible members two groups must share
	// for one to count towards the other: a smaller overlap would tell a
	// member of h which groups one or two of its other members are in.
	MinCoMembers = 3
	// MaxCoJoined caps the groups kept per group, by share: what a user
	// can reach through co-membership is at most MaxCoJoined times the
	// user's groups, however large the groups are.
	MaxCoJoined = 32
)

// coJoined is one group of a group's co-membership list.
type coJoined struct {
	group int32
	count int32   // eligible members of both
	share float32 // count over the eligible members of the list's group
}

// coMembership holds, per active group, the active groups of its own city that
// share at least MinCoMembers eligible members with it, largest share
// first (then group ID), at most MaxCoJoined.
type coMembership [][]coJoined

// buildCoMembership counts, for every group, the other groups of its
// members. The cost is the sum over users of their groups squared; no
// group's whole membership is ever held twice.
func buildCoMembership(ctx context.Context, d *data.Dims, f *features.Features, workers int) (coMembership, error) {
	ng := d.Groups.Len()
	co := make(coMembership, ng)
	type scratch struct {
		counts  []int32
		touched []int32
	}
	err := pipeline.ForChunks(ctx, ng, workers, 64, func() *scratch {
		return &scratch{counts: make([]int32, ng)}
	}, func(s *scratch, lo, hi int) {
		for h := int32(lo); h < int32(hi); h++ {
			members := colsOf(&f.GroupMembers, h)
			if len(members) < MinCoMembers || d.GroupStatus[h] != data.StatusActive {
				continue // a closed or moderated group recommends nothing
			}
			s.touched = s.touched[:0]
			for _, u := range members {
				for _, g := range colsOf(&f.Members, u) {
					if g == h || d.GroupCity[g] != d.GroupCity[h] || d.GroupStatus[g] != data.StatusActive {
						continue
					}
					if s.counts[g] == 0 {
						s.touched = append(s.touched, g)
					}
					s.counts[g]++
				}
			}
			var list []coJoined
			for _, g := range s.touched {
				if n := s.counts[g]; n >= MinCoMembers {
					list = append(list, coJoined{group: g, count: n, share: float32(n) / float32(len(members))})
				}
				s.counts[g] = 0
			}
			slices.SortFunc(list, func(a, b coJoined) int {
				return CompareDesc(float64(a.share), float64(b.share), d.Groups.ID(a.group), d.Groups.ID(b.group))
			})
			co[h] = slices.Clip(list[:min(len(list), MaxCoJoined)])
		}
	})
	return co, err
}

// coMemberScores sums, into st.coShare (indexed by group), u's
// co-membership shares with every group reachable from u's groups, keeps
// in st.coFrom the group of u's that names the reason (CoReasonBefore),
// and lists in st.coTouched the groups it reached. The caller averages
// the sums.
func coMemberScores(d *data.Dims, f *features.Features, co coMembership, u int32, st *rankState) {
	st.coTouched = st.coTouched[:0]
	for _, h := range colsOf(&f.Members, u) {
		for _, c := range co[h] {
			if st.coShare[c.group] == 0 {
				st.coTouched = append(st.coTouched, c.group)
				st.coFrom[c.group] = coJoined{group: h, count: c.count, share: c.share}
			} else if from := st.coFrom[c.group]; CoReasonBefore(c.share, d.Groups.ID(h), from.share, d.Groups.ID(from.group)) {
				st.coFrom[c.group] = coJoined{group: h, count: c.count, share: c.share}
			}
			// float64 adds a user's few float32 shares exactly, so the
			// sum does not depend on the order the groups are read in
			st.coShare[c.group] += float64(c.share)
		}
	}
}

func resetCoMember(st *rankState) {
	for _, g := range st.coTouched {
		st.coShare[g] = 0
	}
}
