package f32

import "golang.org/x/sys/cpu"

var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dotAVX2(x, y []float32) float32

//go:noescape
func axpyAVX2(a float32, x, y []float32)

// axpyRowsAVX2 sets out += a[j]·(row j of m) for every j.
//
//go:noescape
func axpyRowsAVX2(out, a, m []float32)

// dot4AVX2 sets out[r] = Σ_j m[r·stride+j]·x[j] for r = 0..3.
//
//go:noescape
func dot4AVX2(m []float32, stride int, x []float32, out *[4]float32)

//go:noescape
func mulAVX2(dst, x, y []float32)

// gatherAVX2 copies rows of src to dst, prefetching ahead rows early.
//
//go:noescape
func gatherAVX2(dst, src []float32, rows []int32, k, ahead int)

// Dot64 returns Σ x_i·y_i in float64: each product is exact in float64,
// and they are summed in the order of gonum's amd64 floats.Dot (four
// lanes, the tail into the first, then (s0+s2)+(s1+s3)), so the result
// is floats.Dot of the vectors' float64 images bit for bit, reading half
// the bytes. y must be at least as long as x.
func Dot64(x, y []float32) float64 {
	_ = y[:len(x)]
	if useAVX2 {
		var out [1]float64
		dot64RowsAVX2(x, y, []int32{0}, out[:], 0)
		return out[0]
	}
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i]) * float64(y[i])
		s1 += float64(x[i+1]) * float64(y[i+1])
		s2 += float64(x[i+2]) * float64(y[i+2])
		s3 += float64(x[i+3]) * float64(y[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i]) * float64(y[i])
	}
	return (s0 + s2) + (s1 + s3)
}

//go:noescape
func dot64RowsAVX2(x, m []float32, rows []int32, out []float64, ahead int)
