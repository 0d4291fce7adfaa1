package quality

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// Pair is an unordered friendship (A < B) or a user–item pair (A the user).
type Pair struct{ A, B int64 }

// Edge returns the friendship of u and v as a Pair with A < B.
func Edge(u, v int64) Pair { return Pair{min(u, v), max(u, v)} }

// Split is a hold-out: the pairs left for training and, per evaluated
// user, the held-out IDs to find.
type Split struct {
	Held  map[Pair]bool     // every held-out pair
	Truth map[int64][]int64 // evaluated user → held-out IDs, ascending
	// TiedAtCut counts the evaluated users of a time split whose held-out
	// set was decided by a tie in time (broken at random).
	TiedAtCut int
}

// HoldOutEdges holds out share of each user's friendships at random, for
// users with at least minDegree of them (the reference protocol: 20%, 5).
// Users are visited in ID order; a user's quota counts edges its friends
// already held out, so each evaluated user loses about share of its
// edges. Truth lists every held-out friend of each evaluated user.
func HoldOutEdges(edges []Pair, share float64, minDegree int, seed uint64) Split {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	adj := map[int64][]int64{}
	for _, e := range edges {
		adj[e.A] = append(adj[e.A], e.B)
		adj[e.B] = append(adj[e.B], e.A)
	}
	users := sortedKeys(adj)
	held := map[Pair]bool{}
	var evaluated []int64
	for _, u := range users {
		ns := adj[u]
		if len(ns) < minDegree {
			continue
		}
		evaluated = append(evaluated, u)
		slices.Sort(ns)
		quota := quotaOf(len(ns), share)
		var free []int64
		for _, v := range ns {
			if held[Edge(u, v)] {
				quota--
			} else {
				free = append(free, v)
			}
		}
		r.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
		for _, v := range free[:max(0, min(quota, len(free)))] {
			held[Edge(u, v)] = true
		}
	}
	s := Split{Held: held, Truth: map[int64][]int64{}}
	for _, u := range evaluated {
		for _, v := range adj[u] {
			if held[Edge(u, v)] {
				s.Truth[u] = append(s.Truth[u], v)
			}
		}
	}
	return s
}

// TimedPair is a user–item pair with the time the user first touched it.
type TimedPair struct {
	Pair
	First int64
}

// HoldOutItems holds out share of each user's distinct items for users with
// at least minItems of them: at random, or, when byTime, the ones the user
// touched last. Items touched at the same time are in random order (from
// seed), so a coarse clock (every rating of a user on one time point)
// makes the time split a random one for that user, never one decided by
// item ID; Split.TiedAtCut counts the users whose held-out set a tie
// decided.
func HoldOutItems(pairs []TimedPair, share float64, minItems int, byTime bool, seed uint64) Split {
	r := rand.New(rand.NewPCG(seed, 0x17e5))
	per := map[int64][]TimedPair{}
	for _, p := range pairs {
		per[p.A] = append(per[p.A], p)
	}
	s := Split{Held: map[Pair]bool{}, Truth: map[int64][]int64{}}
	for _, u := range sortedKeys(per) {
		ps := per[u]
		if len(ps) < minItems {
			continue
		}
		slices.SortFunc(ps, func(a, b TimedPair) int { return cmp.Or(cmp.Compare(a.First, b.First), cmp.Compare(a.B, b.B)) })
		n := quotaOf(len(ps), share)
		if !byTime {
			r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		} else {
			for lo := 0; lo < len(ps); { // shuffle each run of equal times
				hi := lo + 1
				for hi < len(ps) && ps[hi].First == ps[lo].First {
					hi++
				}
				run := ps[lo:hi]
				r.Shuffle(len(run), func(i, j int) { run[i], run[j] = run[j], run[i] })
				lo = hi
			}
			if cut := len(ps) - n; ps[cut-1].First == ps[cut].First {
				s.TiedAtCut++
			}
		}
		for _, p := range ps[len(ps)-n:] {
			s.Held[p.Pair] = true
			s.Truth[u] = append(s.Truth[u], p.B)
		}
		slices.Sort(s.Truth[u])
	}
	return s
}

// HoldOutOne holds out one item at random from each user with at least
// minItems (the reference protocol for group memberships: 2).
func HoldOutOne(pairs []Pair, minItems int, seed uint64) Split {
	r := rand.New(rand.NewPCG(seed, 0x0e))
	per := map[int64][]int64{}
	for _, p := range pairs {
		per[p.A] = append(per[p.A], p.B)
	}
	s := Split{Held: map[Pair]bool{}, Truth: map[int64][]int64{}}
	for _, u := range sortedKeys(per) {
		items := per[u]
		if len(items) < minItems {
			continue
		}
		slices.Sort(items)
		g := items[r.IntN(len(items))]
		s.Held[Pair{u, g}] = true
		s.Truth[u] = []int64{g}
	}
	return s
}

// quotaOf is round(share·n), at least 1 and at most n−1 so the user keeps
// some training signal.
func quotaOf(n int, share float64) int {
	return max(1, min(n-1, int(math.Round(share*float64(n)))))
}

func sortedKeys[V any](m map[int64]V) []int64 {
	ks := make([]int64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
