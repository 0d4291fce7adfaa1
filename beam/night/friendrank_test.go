package night

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"circles/features"
	"circles/models"
)

// TestReachableKeepsEveryWinner checks the pruning before the profiles are
// served: whatever the profile features turn out to be within their
// bounds, every candidate of the user's true top list is kept; most of the
// others are dropped; and a user with more candidates than are held is
// served them all.
func TestReachableKeepsEveryWinner(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fp := friendParams{Friends: models.DefaultFriendParams()}
	fp.Friends.InterestWeight, fp.Friends.LatentWeight = 0.8, 0.5 // every profile feature weighs
	w := fp.Friends.Weights()
	vec := func() []float32 {
		v := make([]float32, 8)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.3)
		}
		return v
	}
	var all, pruned int // candidates, and those kept when all are held
	for trial := range 50 {
		me := boundRec{Degree: 20, Minor: trial%5 == 0, Items: int32(rng.IntN(30)), GX: vec()}
		var cands []boundEv
		var scores []float64
		for c := range int64(200) {
			b := boundRec{Degree: int32(rng.IntN(100)), Minor: rng.IntN(4) == 0, Items: int32(rng.IntN(30)), GY: vec()}
			ev := pairEv{U: 1, Reach: models.FriendReach{Mutual: int32(rng.IntN(6)), AA: rng.Float32(), RA: rng.Float32() / 4}}
			if rng.IntN(10) == 0 {
				ev.Info = features.TieInfo{Transfers: 1}
				ev.Reach.Tie = rng.Float32() * 3
			}
			cands = append(cands, boundEv{C: c + 100, Ev: ev, B: b})
			// the features the profiles would give, at either end of their
			// bounds: the lists then end at the floor or at a candidate's most
			x := graphFeatures(me.GX, b.GY, b.Degree, &ev.Reach)
			end := float64(rng.IntN(2))
			x[models.FeatInterest], x[models.FeatLatent] = end, 2*end-1
			if me.Items > 0 && b.Items > 0 {
				x[models.FeatSharedItems] = end * math.Sqrt(float64(min(me.Items, b.Items))/float64(max(me.Items, b.Items)))
			}
			scores = append(scores, models.FriendScore(&w, &x))
		}
		var winners []int64
		order := make([]int, 0, len(cands))
		for i, c := range cands {
			if models.MinorsMayMeet(me.Minor, c.B.Minor, c.Ev.Info) {
				order = append(order, i)
			}
		}
		slices.SortFunc(order, func(a, b int) int { return models.CompareDesc(scores[a], scores[b], cands[a].C, cands[b].C) })
		for _, i := range order[:min(len(order), fp.Friends.MaxPerUser)] {
			winners = append(winners, cands[i].C)
		}

		for _, held := range []int{maxHeld, 20} {
			f := &reachableFn{P: fp, Held: held}
			f.Setup()
			var kept []int64
			i := 0
			f.ProcessElement(t.Context(), 1, func(b *boundRec) bool { *b = me; return true },
				func(c *boundEv) bool {
					if i == len(cands) {
						return false
					}
					*c, i = cands[i], i+1
					return true
				},
				func(c int64, _ pairEv) { kept = append(kept, c) })
			for _, c := range winners {
				if !slices.Contains(kept, c) {
					t.Fatalf("trial %d, %d held: winner %d was dropped (kept %d of %d)", trial, held, c, len(kept), len(order))
				}
			}
			if held < len(order) && len(kept) != len(order) {
				t.Errorf("trial %d: %d candidates, %d held: %d kept, want them all", trial, len(order), held, len(kept))
			}
			if held == maxHeld {
				all, pruned = all+len(order), pruned+len(kept)
			}
		}
	}
	t.Logf("kept %d of %d candidates", pruned, all)
	if pruned > all/2 {
		t.Errorf("kept %d of %d candidates, want most dropped", pruned, all)
	}
}
