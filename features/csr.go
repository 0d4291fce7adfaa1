package features

import (
	"slices"
)

// CSR is a compressed sparse row matrix: row r holds columns
// Col[Start[r]:Start[r+1]] (ascending) with values Val[...] at the same
// positions.
type CSR struct {
	Start []int64
	Col   []int32
	Val   []float32
}

// Rows is the number of rows.
func (m *CSR) Rows() int { return len(m.Start) - 1 }

// Row returns the columns and values of row r, sharing the matrix storage.
func (m *CSR) Row(r int32) ([]int32, []float32) {
	lo, hi := m.Start[r], m.Start[r+1]
	return m.Col[lo:hi], m.Val[lo:hi]
}

// NNZ is the number of stored entries.
func (m *CSR) NNZ() int { return len(m.Col) }

// Triple is one (row, column, value) contribution to a sparse matrix.
type Triple struct {
	Row, Col int32
	Val      float32
}

// BuildCSR sums duplicate (row, col) contributions and returns a CSR with
// rows rows. It buckets triples by row first (a counting sort), so the cost
// is linear in len(ts) plus a sort of each row's few entries. The result
// does not depend on the order of ts up to floating-point summation order,
// which is fixed: a row's duplicates are summed in the order of ts.
func BuildCSR(rows int, ts []Triple) CSR {
	col := make([]int32, len(ts))
	val := make([]float32, len(ts))
	start := bucketByRow(rows, len(ts), func(i int) int32 { return ts[i].Row }, func(i int, j int64) {
		col[j], val[j] = ts[i].Col, ts[i].Val
	})
	// sort each row by column and merge duplicates in place; a key holds
	// the column (sign bit flipped, so unsigned order is signed order)
	// over the entry's place in its row, which makes the keys distinct
	// and their plain sort the stable sort by column
	out := CSR{Start: make([]int64, rows+1)}
	w := int64(0)
	var keys []uint64
	var vals []float32
	for r := range rows {
		lo, hi := start[r], start[r+1]
		keys, vals = keys[:0], append(vals[:0], val[lo:hi]...)
		for i := lo; i < hi; i++ {
			keys = append(keys, uint64(uint32(col[i])^1<<31)<<32|uint64(i-lo))
		}
		slices.Sort(keys)
		for i, key := range keys {
			c, v := int32(uint32(key>>32)^1<<31), vals[uint32(key)]
			if i > 0 && col[w-1] == c {
				val[w-1] += v
				continue
			}
			col[w], val[w] = c, v
			w++
		}
		out.Start[r+1] = w
	}
	out.Col, out.Val = col[:w:w], val[:w:w]
	return out
}

// bucketByRow is a stable counting sort of n entries by row: it calls
// place(i, j) to put entry i at position j, so that row r's entries occupy
// [start[r], start[r+1]) in their original order. It returns start.
func bucketByRow(rows, n int, row func(i int) int32, place func(i int, j int64)) []int64 {
	start := make([]int64, rows+1)
	for i := range n {
		start[row(i)+1]++
	}
	for r := range rows {
		start[r+1] += start[r]
	}
	fill := slices.Clone(start[:rows])
	for i := range n {
		r := row(i)
		place(i, fill[r])
		fill[r]++
	}
	return start
}

// Transpose returns the transpose of m with cols columns.
func (m *CSR) Transpose(cols int) CSR {
	t := CSR{Start: make([]int64, cols+1), Col: make([]int32, len(m.Col)), Val: make([]float32, len(m.Val))}
	for _, c := range m.Col {
		t.Start[c+1]++
	}
	for c := range cols {
		t.Start[c+1] += t.Start[c]
	}
	fill := slices.Clone(t.Start[:cols])
	for r := range m.Rows() {
		for i := m.Start[r]; i < m.Start[r+1]; i++ {
			c := m.Col[i]
			t.Col[fill[c]], t.Val[fill[c]] = int32(r), m.Val[i]
			fill[c]++
		}
	}
	return t
}

// Has reports whether row r stores column c.
func (m *CSR) Has(r, c int32) bool {
	cols, _ := m.Row(r)
	_, ok := slices.BinarySearch(cols, c)
	return ok
}

// PairSet is a set of unordered pairs of dense indices.
type PairSet struct {
	keys []uint64 // sorted: the smaller index in the high half
	// start[a] is where the pairs whose smaller index is a begin in keys,
	// so that a lookup searches only those few: policy checks ask it for
	// every candidate of every user.
	start []int32
}

func pairKey(a, b int32) uint64 {
	if a > b {
		a, b = b, a
	}
	return uint64(uint32(a))<<32 | uint64(uint32(b))
}

// NewPairSet builds a set from pairs given as [2]int32; order within a
// pair does not matter.
func NewPairSet(pairs [][2]int32) PairSet {
	keys := make([]uint64, len(pairs))
	for i, p := range pairs {
		keys[i] = pairKey(p[0], p[1])
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) == 0 {
		return PairSet{}
	}
	start := make([]int32, keys[len(keys)-1]>>32+2)
	for _, k := range keys {
		start[k>>32+1]++
	}
	for a := 1; a < len(start); a++ {
		start[a] += start[a-1]
	}
	return PairSet{keys: keys, start: start}
}

// Has reports whether {a, b} is in the set.
func (s PairSet) Has(a, b int32) bool {
	k := pairKey(a, b)
	lo := k >> 32
	if lo+1 >= uint64(len(s.start)) {
		return false
	}
	_, ok := slices.BinarySearch(s.keys[s.start[lo]:s.start[lo+1]], k)
	return ok
}

// Len is the number of pairs.
func (s PairSet) Len() int { return len(s.keys) }
