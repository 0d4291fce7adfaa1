package models

import (
	"cmp"
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
	h := t.h
	if len(h) < t.k {
		h = append(h, s)
		for i := len(h) - 1; i > 0; { // up, while the parent is the better
			p := (i - 1) / 2
			if !better(h[p], h[i]) {
				break
			}
			h[p], h[i] = h[i], h[p]
			i = p
		}
		t.h = h
		return
	}
	if !better(s, h[0]) {
		return
	}
	h[0] = s
	for i := 0; ; { // down, while a child is the worse
		w := 2*i + 1
		if w >= len(h) {
			break
		}
		if r := w + 1; r < len(h) && better(h[w], h[r]) {
			w = r
		}
		if !better(h[i], h[w]) {
			break
		}
		h[i], h[w] = h[w], h[i]
		i = w
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

// worst is a min-heap (by better) with the worst kept candidate on top;
// Push keeps it one, without container/heap's interface calls and
// boxing: a night pushes billions of candidates.
type worst []Scored
