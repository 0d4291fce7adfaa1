package models

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
)

// Scored is a candidate with its score; ID breaks ties (ascending).
type Scored struct {
	ID    int64 // external ID, for a deterministic order
	Index int32 // dense index of the candidate
	Score float64
}

// better orders by score descending, then ID ascending.
func better(a, b Scored) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.ID < b.ID
}

// TopK keeps the k best candidates pushed into it. The zero value keeps
// nothing; use [NewTopK]. It is not safe for concurrent use.
type TopK struct {
	k int
	h worst
}

// NewTopK returns a TopK that keeps k candidates.
func NewTopK(k int) *TopK { return &TopK{k: k, h: make(worst, 0, k)} }

// Push offers a candidate.
func (t *TopK) Push(s Scored) {
	if t.k <= 0 {
		return
	}
	if len(t.h) < t.k {
		heap.Push(&t.h, s)
		return
	}
	if better(s, t.h[0]) {
		t.h[0] = s
		heap.Fix(&t.h, 0)
	}
}

// Floor returns the score of the worst candidate kept and true once k
// are kept: a candidate scoring below it cannot enter.
func (t *TopK) Floor() (float64, bool) {
	if t.k <= 0 {
		return math.Inf(1), true
	}
	if len(t.h) < t.k {
		return 0, false
	}
	return t.h[0].Score, true
}

// Sorted returns the kept candidates, best first, and empties t.
func (t *TopK) Sorted() []Scored {
	out := slices.Clone(t.h)
	slices.SortFunc(out, func(a, b Scored) int {
		if better(a, b) {
			return -1
		}
		if better(b, a) {
			return 1
		}
		return cmp.Compare(a.Index, b.Index)
	})
	t.h = t.h[:0]
	return out
}

// worst is a min-heap with the worst kept candidate on top.
type worst []Scored

func (h worst) Len() int           { return len(h) }
func (h worst) Less(i, j int) bool { return better(h[j], h[i]) }
func (h worst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *worst) Push(x any)        { *h = append(*h, x.(Scored)) }
func (h *worst) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
