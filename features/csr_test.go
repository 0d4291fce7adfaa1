package features

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPairSetIsASetOfUnorderedPairs checks Has against a map on random
// pairs, with repeats, both orders and indices past the largest stored.
func TestPairSetIsASetOfUnorderedPairs(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{0, 1, 5, 60, 400} {
		want := map[[2]int32]bool{}
		var pairs [][2]int32
		for range n {
			a, b := int32(r.IntN(40)), int32(r.IntN(40))
			pairs = append(pairs, [2]int32{a, b})
			want[[2]int32{min(a, b), max(a, b)}] = true
		}
		s := NewPairSet(pairs)
		if s.Len() != len(want) {
			t.Errorf("%d pairs: Len = %d, want %d", n, s.Len(), len(want))
		}
		for a := range int32(45) {
			for b := range int32(45) {
				if got := s.Has(a, b); got != want[[2]int32{min(a, b), max(a, b)}] {
					t.Fatalf("%d pairs: Has(%d, %d) = %v", n, a, b, got)
				}
			}
		}
	}
}

// TestSortByPairIsAStableSortByPair checks sortByPair against a stable
// sort by pairKey: the order ties sum their evidence in must not change.
func TestSortByPairIsAStableSortByPair(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{0, 1, 10, 500, 3000} {
		events := make([]tieEvent, n)
		for i := range events {
			// w numbers the events, so that any reordering within a pair shows
			events[i] = tieEvent{from: int32(r.IntN(30)), to: int32(r.IntN(30)), TieEvent: TieEvent{W: float32(i)}}
		}
		want := slices.Clone(events)
		slices.SortStableFunc(want, func(a, b tieEvent) int { return cmp.Compare(pairKey(a.from, a.to), pairKey(b.from, b.to)) })
		if got := sortByPair(30, events); !slices.Equal(got, want) {
			t.Fatalf("%d events: sortByPair differs from a stable sort by pair", n)
		}
	}
}

// TestBuildCSRSumsInInputOrder checks BuildCSR against its definition on
// random triples with many duplicates, negative columns among them and
// values whose sums round: entries sorted stably by (row, column), each
// run of one (row, column) summed in input order, bit for bit.
func TestBuildCSRSumsInInputOrder(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{0, 1, 2, 10, 300, 5000} {
		const rows = 40
		ts := make([]Triple, n)
		for i := range ts {
			ts[i] = Triple{Row: int32(r.IntN(rows)), Col: int32(r.IntN(60) - 5), Val: float32(r.NormFloat64() * 1e3)}
		}
		if n > 0 {
			ts[0].Col = math.MinInt32
			ts[n-1].Col = math.MaxInt32
		}
		got := BuildCSR(rows, ts)
		ref := slices.Clone(ts)
		slices.SortStableFunc(ref, func(a, b Triple) int {
			return cmp.Or(cmp.Compare(a.Row, b.Row), cmp.Compare(a.Col, b.Col))
		})
		want := CSR{Start: make([]int64, rows+1)}
		for i, e := range ref {
			if i > 0 && ref[i-1].Row == e.Row && ref[i-1].Col == e.Col {
				want.Val[len(want.Val)-1] += e.Val
				continue
			}
			want.Col, want.Val = append(want.Col, e.Col), append(want.Val, e.Val)
			want.Start[e.Row+1] = int64(len(want.Col))
		}
		for r := range rows {
			want.Start[r+1] = max(want.Start[r+1], want.Start[r])
		}
		if !slices.Equal(got.Start, want.Start) || !slices.Equal(got.Col, want.Col) {
			t.Fatalf("%d triples: rows or columns differ", n)
		}
		for i := range want.Val {
			if math.Float32bits(got.Val[i]) != math.Float32bits(want.Val[i]) {
				t.Fatalf("%d triples, entry %d: %v, want %v", n, i, got.Val[i], want.Val[i])
			}
		}
	}
}

// BenchmarkBuildCSR builds a signal matrix of the nightly run's shape:
// 100,000 rows of about 60 contributions each over 50,000 columns, a
// third of them repeats of a (row, column) already seen.
func BenchmarkBuildCSR(b *testing.B) {
	const rows, per, cols = 100_000, 60, 50_000
	r := rand.New(rand.NewPCG(15, 16))
	ts := make([]Triple, 0, rows*per)
	for range rows * per {
		ts = append(ts, Triple{Row: int32(r.IntN(rows)), Col: int32(r.IntN(cols)), Val: 1})
	}
	for i := 2; i < len(ts); i += 3 {
		ts[i].Row, ts[i].Col = ts[i-2].Row, ts[i-2].Col
	}
	for b.Loop() {
		BuildCSR(rows, ts)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ts)), "ns/triple")
}
