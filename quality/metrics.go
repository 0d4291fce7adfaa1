// Package quality measures suggestions offline: splits that hold out
// friendships, interactions or memberships without leaking them into
// training, ranking metrics over the full catalogue, the classic baselines
// a model has to beat, and the report (Markdown, JSON, SVG charts). It
// shares no code with the models it measures, so a bug in one cannot hide
// in the other.
package quality

import (
	"math"
	"slices"
)

// Ks are the cut-offs every metric is reported at.
var Ks = []int{5, 10, 20, 50}

// MaxK is the longest list a method needs to produce.
const MaxK = 50

// AtK is every metric at one cut-off, averaged over evaluated users.
type AtK struct {
	K        int     `json:"k"`
	Recall   float64 `json:"recall"`
	RecallSE float64 `json:"recall_se"` // standard error of the mean
	NDCG     float64 `json:"ndcg"`
	NDCGSE   float64 `json:"ndcg_se"`
	HitShare float64 `json:"hit_share"` // share of users with at least one hit
	Coverage float64 `json:"coverage"`  // share of the catalogue in anyone's top K
}

// Scores are one method's metrics on one task.
type Scores struct {
	Method string `json:"method"`
	Users  int    `json:"users"` // users evaluated
	AtK    []AtK  `json:"at_k"`
}

// At returns the metrics at cut-off k (zero when k is not in Ks).
func (s Scores) At(k int) AtK {
	for _, a := range s.AtK {
		if a.K == k {
			return a
		}
	}
	return AtK{K: k}
}

// Score measures ranked lists (user → IDs, best first) against held-out
// truth (user → IDs). Every user in truth counts; a user without a list
// scores zero. Recall@K is hits in the top K over the user's held-out
// count; NDCG@K uses binary gains and the ideal ordering of
// min(K, held-out) hits. catalogue is the number of rankable items.
func Score(method string, truth map[int64][]int64, ranked map[int64][]int64, catalogue int) Scores {
	users := make([]int64, 0, len(truth))
	for u := range truth {
		users = append(users, u)
	}
	slices.Sort(users)
	s := Scores{Method: method, Users: len(users)}
	// per cut-off: each user's recall, NDCG and hit, and the items shown
	rec, nd, hit := make([][]float64, len(Ks)), make([][]float64, len(Ks)), make([][]float64, len(Ks))
	shown := make([]map[int64]bool, len(Ks))
	for j := range Ks {
		shown[j] = map[int64]bool{}
	}
	for _, u := range users {
		held := map[int64]bool{}
		for _, v := range truth[u] {
			held[v] = true
		}
		for j, k := range Ks {
			list := ranked[u]
			list = list[:min(k, len(list))]
			hits, dcg := 0, 0.0
			for i, v := range list {
				shown[j][v] = true
				if held[v] {
					hits++
					dcg += 1 / math.Log2(float64(i+2))
				}
			}
			idcg := 0.0
			for i := range min(k, len(held)) {
				idcg += 1 / math.Log2(float64(i+2))
			}
			r, n, h := 0.0, 0.0, 0.0
			if len(held) > 0 {
				r, n = float64(hits)/float64(len(held)), dcg/idcg
			}
			if hits > 0 {
				h = 1
			}
			rec[j], nd[j], hit[j] = append(rec[j], r), append(nd[j], n), append(hit[j], h)
		}
	}
	for j, k := range Ks {
		a := AtK{K: k}
		a.Recall, a.RecallSE = meanSE(rec[j])
		a.NDCG, a.NDCGSE = meanSE(nd[j])
		a.HitShare, _ = meanSE(hit[j])
		if catalogue > 0 {
			a.Coverage = float64(len(shown[j])) / float64(catalogue)
		}
		s.AtK = append(s.AtK, a)
	}
	return s
}

// meanSE is the mean and its standard error.
func meanSE(xs []float64) (mean, se float64) {
	n := float64(len(xs))
	if n == 0 {
		return 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if n < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / (n - 1) / n)
}
