//go:build !amd64

package f32

const useAVX2 = false

func dotAVX2(x, y []float32) float32                                 { panic("unreachable") }
func axpyAVX2(a float32, x, y []float32)                             { panic("unreachable") }
func dot4AVX2(m []float32, stride int, x []float32, out *[4]float32) { panic("unreachable") }
func mulAVX2(dst, x, y []float32)                                    { panic("unreachable") }
func gatherAVX2(dst, src []float32, rows []int32, k, ahead int)      { panic("unreachable") }
