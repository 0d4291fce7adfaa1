package models

import (
	"gonum.org/v1/gonum/mat"
)

// rows32 is a factor matrix's rows in float32, the precision the interest
// model trains them in (their float64 images are exact): ranking reads
// factor rows at random, and half the bytes is half the trips to memory.
// Dot products through [f32.Dot64] equal floats.Dot of the float64 rows
// bit for bit.
type rows32 struct {
	k int
	x []float32
}

func rows32Of(m *mat.Dense) rows32 {
	n, k := m.Dims()
	r := rows32{k: k, x: make([]float32, n*k)}
	for i := range n {
		for j, v := range m.RawRowView(i) {
			r.x[i*k+j] = float32(v)
		}
	}
	return r
}

func (r rows32) row(i int32) []float32 { return r.x[int(i)*r.k : (int(i)+1)*r.k] }
