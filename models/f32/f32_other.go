//go:build !amd64

package f32

const useAVX2 = false

func dotAVX2(x, y []float32) float32                                 { panic("unreachable") }
func axpyAVX2(a float32, x, y []float32)                             { panic("unreachable") }
func axpyRowsAVX2(out, a, m []float32)                               { panic("unreachable") }
func dot4AVX2(m []float32, stride int, x []float32, out *[4]float32) { panic("unreachable") }
func mulAVX2(dst, x, y []float32)                                    { panic("unreachable") }
func gatherAVX2(dst, src []float32, rows []int32, k, ahead int)      { panic("unreachable") }

// Dot64 returns Σ x_i·y_i in float64, summed in order as gonum's
// portable floats.Dot sums, so the result is floats.Dot of the vectors'
// float64 images bit for bit. y must be at least as long as x.
func Dot64(x, y []float32) float64 {
	_ = y[:len(x)]
	s := 0.0
	for i, v := range x {
		s += float64(y[i]) * float64(v)
	}
	return s
}

func dot64RowsAVX2(x, m []float32, rows []int32, out []float64, ahead int) { panic("unreachable") }
