package f32

import "golang.org/x/sys/cpu"

var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func dotAVX2(x, y []float32) float32

//go:noescape
func axpyAVX2(a float32, x, y []float32)

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
