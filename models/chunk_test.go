package models

import (
	"math/rand/v2"
	"slices"
	"testing"

	"circles/data"
)

// TestRankToChunksAnySize checks that ranking hands on the same rows for
// any chunk size: in user ID order across chunks, no chunk empty, and
// together the table RankFriends returns in one piece.
func TestRankToChunksAnySize(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 9))
	const n = 150
	d, f := randomFeatures(r, n)
	in := Inputs{Dims: d, Features: f, ALS: NewALS(n, 1, 2)}
	p := DefaultFriendParams()
	p.GraphWeight = 0
	want, err := RankFriends(t.Context(), in, p, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("no suggestions to compare")
	}
	for _, size := range []int{1, 7, 64, n, 10 * n} {
		in.ChunkUsers = size
		var got []data.FriendSuggestion
		chunks := 0
		err := RankFriendsTo(t.Context(), in, p, 2, func(rows []data.FriendSuggestion) error {
			if len(rows) == 0 {
				t.Errorf("chunk size %d: an empty chunk was handed on", size)
			}
			if len(got) > 0 && rows[0].UserID <= got[len(got)-1].UserID {
				t.Errorf("chunk size %d: chunk starting at user %d follows user %d", size, rows[0].UserID, got[len(got)-1].UserID)
			}
			got = append(got, rows...)
			chunks++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, func(a, b data.FriendSuggestion) bool {
			return a.UserID == b.UserID && a.CandidateID == b.CandidateID && a.Rank == b.Rank && a.Score == b.Score && slices.Equal(a.Reasons, b.Reasons)
		}) {
			t.Errorf("chunk size %d: %d rows in %d chunks differ from the %d rows of one piece", size, len(got), chunks, len(want))
		}
		if size == 1 && chunks < 10 {
			t.Errorf("chunk size 1 gave only %d chunks", chunks)
		}
	}
}
