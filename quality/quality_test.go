package quality

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestScoreHandComputed checks recall, NDCG, hit share and coverage on two
// users worked out by hand.
func TestScoreHandComputed(t *testing.T) {
	t.Parallel()
	truth := map[int64][]int64{1: {10, 20}, 2: {30}}
	ranked := map[int64][]int64{1: {20, 5, 6, 7, 10, 8}, 2: {4, 5}}
	s := Score("m", truth, ranked, 100)
	a5 := s.At(5)
	// user 1: hits at ranks 1 and 5 → recall 1, DCG 1 + 1/log2(6), IDCG 1 + 1/log2(3)
	ndcg1 := (1 + 1/math.Log2(6)) / (1 + 1/math.Log2(3))
	if s.Users != 2 || math.Abs(a5.Recall-0.5) > 1e-12 || math.Abs(a5.NDCG-ndcg1/2) > 1e-12 || a5.HitShare != 0.5 {
		t.Errorf("@5 = %+v, want recall 0.5, NDCG %.6f, hit share 0.5", a5, ndcg1/2)
	}
	// standard error of {1, 0}: sd 0.7071 / √2 = 0.5
	if math.Abs(a5.RecallSE-0.5) > 1e-12 {
		t.Errorf("recall SE %v, want 0.5", a5.RecallSE)
	}
	// top 5 shows 20 5 6 7 10 and 4 5: 6 distinct of 100
	if math.Abs(a5.Coverage-0.06) > 1e-12 {
		t.Errorf("coverage %v, want 0.06", a5.Coverage)
	}
	// user 2's lists never hit, whatever K
	if r := s.At(10).Recall; r != 0.5 {
		t.Errorf("recall@10 %v", r)
	}
	s = Score("m", truth, map[int64][]int64{1: {20, 10}}, 100)
	if a := s.At(5); a.Recall != 0.5 || a.NDCG != 0.5 {
		t.Errorf("perfect user 1, empty user 2: %+v", a)
	}
}

// TestHoldOutsNeverLeak checks on random data that the training part and
// the held-out part are disjoint and cover everything, that only users
// meeting the minimum are evaluated, and that the shares hold.
func TestHoldOutsNeverLeak(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	seen := map[Pair]bool{}
	var edges []Pair
	for range 3000 {
		e := Edge(r.Int64N(200), r.Int64N(200))
		if e.A != e.B && !seen[e] {
			seen[e] = true
			edges = append(edges, e)
		}
	}
	s := HoldOutEdges(edges, 0.2, 5, 1)
	deg := map[int64]int{}
	for _, e := range edges {
		deg[e.A]++
		deg[e.B]++
	}
	for u, held := range s.Truth {
		if deg[u] < 5 {
			t.Errorf("user %d with %d edges evaluated", u, deg[u])
		}
		for _, v := range held {
			if !s.Held[Edge(u, v)] || !seen[Edge(u, v)] {
				t.Errorf("truth %d–%d is not a held-out edge", u, v)
			}
		}
		if share := float64(len(held)) / float64(deg[u]); share > 0.6 {
			t.Errorf("user %d lost %.0f%% of its edges", u, 100*share)
		}
	}
	for e := range s.Held {
		if !seen[e] {
			t.Errorf("held-out %v is not an edge", e)
		}
	}
	total := 0
	for _, h := range s.Truth {
		total += len(h)
	}
	if n := len(s.Held); n < len(edges)/6 || n > len(edges)/3 {
		t.Errorf("held out %d of %d edges, want about 20%%", n, len(edges))
	}
	again := HoldOutEdges(slices.Clone(edges), 0.2, 5, 1)
	if len(again.Held) != len(s.Held) {
		t.Error("the split is not deterministic")
	}

	var pairs []TimedPair
	for u := range int64(50) {
		for i := range int64(3 + u%10) {
			pairs = append(pairs, TimedPair{Pair{u, i}, 1000*u - i})
		}
	}
	timed := HoldOutItems(pairs, 0.2, 5, true, 1)
	for u, held := range timed.Truth {
		// by time: the held-out items are the latest, here the lowest IDs
		n := int64(3 + u%10)
		if n < 5 || len(held) != quotaOf(int(n), 0.2) || held[len(held)-1] != int64(len(held))-1 {
			t.Errorf("user %d (%d items): held %v", u, n, held)
		}
	}
	one := HoldOutOne([]Pair{{1, 5}, {1, 6}, {2, 5}}, 2, 3)
	if len(one.Truth) != 1 || len(one.Truth[1]) != 1 || len(one.Held) != 1 {
		t.Errorf("hold-one-out %+v", one)
	}
}

// TestLinkIndicesOnAPath checks the classic indices on a small graph:
// 1–2, 1–3, 2–4, 3–4, 4–5, 2–6.
func TestLinkIndicesOnAPath(t *testing.T) {
	t.Parallel()
	edges := []Pair{{1, 2}, {1, 3}, {2, 4}, {3, 4}, {4, 5}, {2, 6}}
	users := []int64{1, 2, 3, 4, 5, 6}
	got, err := LinkIndices(context.Background(), Graph(edges, users), []int64{1})
	if err != nil {
		t.Fatal(err)
	}
	// 1's two-hop candidates: 4 (via 2 and 3), 6 (via 2)
	if l := got[CommonNeighbours][1]; !slices.Equal(l, []int64{4, 6}) {
		t.Errorf("CN %v", l)
	}
	// RA: 4 gets 1/3 + 1/2, 6 gets 1/3
	if l := got[ResourceAllocation][1]; !slices.Equal(l, []int64{4, 6}) {
		t.Errorf("RA %v", l)
	}
	// Jaccard: 4 = 2/(2+3−2) = 0.67, 6 = 1/(2+1−1) = 0.5
	if l := got[Jaccard][1]; !slices.Equal(l, []int64{4, 6}) {
		t.Errorf("Jaccard %v", l)
	}
	pop, err := MostPopular(context.Background(), Graph(edges, users), []int64{1}, true)
	if err != nil {
		t.Fatal(err)
	}
	// degrees: 2 and 4 have 3, but 2 is a friend; then 3 and 1 (self), 5, 6
	if l := pop[1]; !slices.Equal(l, []int64{4, 5, 6}) {
		t.Errorf("degree %v", l)
	}
}

func TestItemKNNAndGroups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// users 1, 2 both like items 10 and 11; user 3 likes 10 only
	b := NewBipartite([]Pair{{1, 10}, {1, 11}, {2, 10}, {2, 11}, {3, 10}, {3, 12}}, []int64{1, 2, 3}, []int64{10, 11, 12, 13})
	l, err := ItemKNN(ctx, b, []int64{3}, 100)
	if err != nil {
		t.Fatal(err)
	}
	// sim(10, 11) = 2/√(3·2) beats nothing else; 13 is never touched
	if !slices.Equal(l[3], []int64{11}) {
		t.Errorf("item-kNN for 3: %v", l[3])
	}
	members := NewBipartite([]Pair{{1, 100}, {2, 100}, {2, 200}, {3, 300}, {3, 300}}, []int64{1, 2, 3}, []int64{100, 200, 300})
	friends := Graph([]Pair{{1, 3}}, []int64{1, 2, 3})
	g, err := MostFriendsIn(ctx, members, friends, []int64{1})
	if err != nil {
		t.Fatal(err)
	}
	// 1's friend 3 is in 300; then 200 by size (1) — 100 is 1's own
	if !slices.Equal(g[1], []int64{300, 200}) {
		t.Errorf("most friends in group: %v", g[1])
	}
	var svg, md strings.Builder
	res := Result{Dataset: "d", Task: "t", Catalogue: 4, Methods: []Scores{Score("ours", map[int64][]int64{3: {11}}, l, 4)}}
	if WriteChart(&svg, res) != nil || !strings.Contains(svg.String(), "<polyline") || WriteMarkdown(&md, res) != nil || !strings.Contains(md.String(), "**ours**") {
		t.Errorf("report:\n%s\n%s", svg.String(), md.String())
	}
}

// TestTimeSplitBreaksTiesAtRandom: when every item of a user has the same
// time, the time split must not fall back to "highest item ID"; it is
// random, changes with the seed, and is counted.
func TestTimeSplitBreaksTiesAtRandom(t *testing.T) {
	t.Parallel()
	var pairs []TimedPair
	for u := range int64(200) {
		for i := range int64(10) {
			pairs = append(pairs, TimedPair{Pair{u, i}, 5}) // one coarse time point
		}
	}
	s := HoldOutItems(pairs, 0.2, 5, true, 1)
	highest := 0
	for _, held := range s.Truth {
		if slices.Equal(held, []int64{8, 9}) {
			highest++
		}
	}
	// At random, {8, 9} is held out for about 1 user in 45.
	if highest > 20 {
		t.Errorf("%d of 200 users lost their two highest item IDs: ties are broken by ID", highest)
	}
	if s.TiedAtCut != 200 {
		t.Errorf("TiedAtCut = %d, want 200", s.TiedAtCut)
	}
	other := HoldOutItems(pairs, 0.2, 5, true, 2)
	same := 0
	for u, held := range s.Truth {
		if slices.Equal(held, other.Truth[u]) {
			same++
		}
	}
	if same > 40 {
		t.Errorf("%d of 200 users hold out the same items under another seed", same)
	}
}
