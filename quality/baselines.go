package quality

import (
	"cmp"
	"context"
	"math"
	"slices"

	"circles/pipeline"
)

// Bipartite is a set of user–item (or user–user) links with dense indices
// of its own, the input of every baseline.
type Bipartite struct {
	Users, Items []int64   // dense index → ID, ascending
	ByUser       [][]int32 // user → items, ascending
	ByItem       [][]int32 // item → users, ascending
}

// NewBipartite indexes pairs (user A, item B) over the given user and item
// universes (pairs naming others are ignored).
func NewBipartite(pairs []Pair, users, items []int64) *Bipartite {
	b := &Bipartite{Users: slices.Sorted(slices.Values(users)), Items: slices.Sorted(slices.Values(items))}
	b.Users, b.Items = slices.Compact(b.Users), slices.Compact(b.Items)
	b.ByUser, b.ByItem = make([][]int32, len(b.Users)), make([][]int32, len(b.Items))
	for _, p := range pairs {
		u, okU := slices.BinarySearch(b.Users, p.A)
		i, okI := slices.BinarySearch(b.Items, p.B)
		if okU && okI {
			b.ByUser[u] = append(b.ByUser[u], int32(i))
			b.ByItem[i] = append(b.ByItem[i], int32(u))
		}
	}
	for _, l := range append(b.ByUser, b.ByItem...) {
		slices.Sort(l)
	}
	for u, l := range b.ByUser {
		b.ByUser[u] = slices.Compact(l)
	}
	for i, l := range b.ByItem {
		b.ByItem[i] = slices.Compact(l)
	}
	return b
}

// Graph returns the friendship graph as a Bipartite whose items are users
// too (both directions present).
func Graph(edges []Pair, users []int64) *Bipartite {
	both := make([]Pair, 0, 2*len(edges))
	for _, e := range edges {
		both = append(both, e, Pair{e.B, e.A})
	}
	return NewBipartite(both, users, users)
}

// Lists are ranked lists by user ID, best first.
type Lists map[int64][]int64

// scored is a candidate item index with its score.
type scored struct {
	item  int32
	score float64
}

// top returns the k best of cands, by score descending then item index.
func top(cands []scored, k int) []scored {
	slices.SortFunc(cands, func(a, b scored) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.item, b.item))
	})
	return cands[:min(k, len(cands))]
}

// rankUsers runs rank for each user of users (IDs) in parallel. rank gets
// a dense accumulator of len(b.Items) that it must leave zeroed.
func rankUsers(ctx context.Context, b *Bipartite, users []int64, rank func(acc []float64, u int32) []scored) (Lists, error) {
	out := make([][]int64, len(users))
	err := pipeline.ForChunks(ctx, len(users), 0, 16, func() []float64 { return make([]float64, len(b.Items)) }, func(acc []float64, lo, hi int) {
		for i := lo; i < hi; i++ {
			u, ok := slices.BinarySearch(b.Users, users[i])
			if !ok {
				continue
			}
			for _, s := range rank(acc, int32(u)) {
				out[i] = append(out[i], b.Items[s.item])
			}
		}
	})
	lists := Lists{}
	for i, u := range users {
		lists[u] = out[i]
	}
	return lists, err
}

// excluded reports whether item i is in u's training row, or is u itself
// (for friend graphs, where items are users).
func excluded(b *Bipartite, u, i int32, self bool) bool {
	if self && b.Items[i] == b.Users[u] {
		return true
	}
	_, in := slices.BinarySearch(b.ByUser[u], i)
	return in
}

// MostPopular ranks, for each user, the items with the most training links
// that the user has none with. For a friend graph (self true) popularity
// is degree and the user is never suggested to itself.
func MostPopular(ctx context.Context, b *Bipartite, users []int64, self bool) (Lists, error) {
	order := make([]scored, len(b.Items))
	for i := range b.Items {
		order[i] = scored{int32(i), float64(len(b.ByItem[i]))}
	}
	order = top(order, len(order))
	return rankUsers(ctx, b, users, func(_ []float64, u int32) []scored {
		var out []scored
		for _, s := range order {
			if len(out) == MaxK {
				break
			}
			if !excluded(b, u, s.item, self) {
				out = append(out, s)
			}
		}
		return out
	})
}

// ItemKNN is item-based collaborative filtering: the cosine similarity of
// items' binary user vectors, each item keeping its neighbours most
// similar items, and a user's score for an item the sum of its similarity
// to the user's items.
func ItemKNN(ctx context.Context, b *Bipartite, users []int64, neighbours int) (Lists, error) {
	type nb struct {
		item int32
		sim  float32
	}
	nn := make([][]nb, len(b.Items))
	err := pipeline.ForChunks(ctx, len(b.Items), 0, 64, func() []float64 { return make([]float64, len(b.Items)) }, func(acc []float64, lo, hi int) {
		var touched []int32
		for i := lo; i < hi; i++ {
			touched = touched[:0]
			for _, u := range b.ByItem[i] {
				for _, j := range b.ByUser[u] {
					if int(j) != i {
						if acc[j] == 0 {
							touched = append(touched, j)
						}
						acc[j]++
					}
				}
			}
			cands := make([]scored, 0, len(touched))
			for _, j := range touched {
				cands = append(cands, scored{j, acc[j] / math.Sqrt(float64(len(b.ByItem[i])*len(b.ByItem[j])))})
				acc[j] = 0
			}
			for _, c := range top(cands, neighbours) {
				nn[i] = append(nn[i], nb{c.item, float32(c.score)})
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return rankUsers(ctx, b, users, func(acc []float64, u int32) []scored {
		var touched []int32
		for _, i := range b.ByUser[u] {
			for _, n := range nn[i] {
				if acc[n.item] == 0 {
					touched = append(touched, n.item)
				}
				acc[n.item] += float64(n.sim)
			}
		}
		cands := make([]scored, 0, len(touched))
		for _, j := range touched {
			if !excluded(b, u, j, false) {
				cands = append(cands, scored{j, acc[j]})
			}
			acc[j] = 0
		}
		return top(cands, MaxK)
	})
}

// Link-prediction indices over a friend graph.
const (
	CommonNeighbours   = "common neighbours"
	Jaccard            = "Jaccard"
	AdamicAdar         = "Adamic–Adar"
	ResourceAllocation = "resource allocation"
	MostPopularFriend  = "degree (most popular)"
	MostPopularItem    = "most popular"
	ItemKNNMethod      = "item-kNN (cosine, 100 neighbours)"
	MostPopularGroup   = "most popular group"
	MostFriendsInGroup = "most friends in group"
)

// numLinkIndices is the number of indices LinkIndices computes.
const numLinkIndices = 4

// LinkIndices ranks, for each user, the non-neighbours two hops away by
// each classic index: common neighbours, Jaccard, Adamic–Adar (Σ 1/log
// degree of the common neighbours) and resource allocation (Σ 1/degree).
func LinkIndices(ctx context.Context, g *Bipartite, users []int64) (map[string]Lists, error) {
	names := [numLinkIndices]string{CommonNeighbours, Jaccard, AdamicAdar, ResourceAllocation}
	per := make([][numLinkIndices][]int64, len(users))
	type state struct {
		cn, aa, ra []float64
	}
	n := len(g.Items)
	err := pipeline.ForChunks(ctx, len(users), 0, 16, func() *state {
		return &state{make([]float64, n), make([]float64, n), make([]float64, n)}
	}, func(s *state, lo, hi int) {
		var touched []int32
		for i := lo; i < hi; i++ {
			u, ok := slices.BinarySearch(g.Users, users[i])
			if !ok {
				continue
			}
			touched = touched[:0]
			for _, w := range g.ByUser[u] {
				deg := float64(len(g.ByItem[w]))
				for _, c := range g.ByItem[w] {
					if s.cn[c] == 0 {
						touched = append(touched, c)
					}
					s.cn[c]++
					s.aa[c] += 1 / math.Log(math.Max(deg, 2))
					s.ra[c] += 1 / deg
				}
			}
			var lists [numLinkIndices][]scored
			du := float64(len(g.ByUser[u]))
			for _, c := range touched {
				if !excluded(g, int32(u), c, true) {
					cn := s.cn[c]
					lists[0] = append(lists[0], scored{c, cn})
					lists[1] = append(lists[1], scored{c, cn / (du + float64(len(g.ByUser[c])) - cn)})
					lists[2] = append(lists[2], scored{c, s.aa[c]})
					lists[3] = append(lists[3], scored{c, s.ra[c]})
				}
				s.cn[c], s.aa[c], s.ra[c] = 0, 0, 0
			}
			for k := range lists {
				for _, sc := range top(lists[k], MaxK) {
					per[i][k] = append(per[i][k], g.Items[sc.item])
				}
			}
		}
	})
	out := map[string]Lists{}
	for k, name := range names {
		out[name] = Lists{}
		for i, u := range users {
			out[name][u] = per[i][k]
		}
	}
	return out, err
}

// MostFriendsIn ranks, for each user, the groups the user is not in by how
// many of the user's friends are in them, then by size.
func MostFriendsIn(ctx context.Context, members *Bipartite, friends *Bipartite, users []int64) (Lists, error) {
	return rankUsers(ctx, members, users, func(acc []float64, u int32) []scored {
		if f, ok := slices.BinarySearch(friends.Users, members.Users[u]); ok {
			for _, v := range friends.ByUser[f] {
				if mu, ok := slices.BinarySearch(members.Users, friends.Items[v]); ok {
					for _, g := range members.ByUser[mu] {
						acc[g]++
					}
				}
			}
		}
		var cands []scored
		for g := range acc {
			if !excluded(members, u, int32(g), false) {
				// friends first; size breaks ties (sizes < 1e9)
				cands = append(cands, scored{int32(g), acc[g]*1e9 + float64(len(members.ByItem[g]))})
			}
			acc[g] = 0
		}
		return top(cands, MaxK)
	})
}
