// Package f32 holds the float32 vector kernels of the interest model's
// solve: dot products, axpy and products with a small row-major matrix.
// On amd64 with AVX2 and FMA they run in assembly, eight lanes at a time;
// elsewhere in plain Go. Either way a result depends only on the inputs
// and their length, never on memory alignment or the machine's core
// count, so a model trains to the same bits on every run of one binary
// on one kind of machine.
package f32

// Dot returns Σ x_i·y_i over len(x) elements; y must be at least as long.
func Dot(x, y []float32) float32 {
	_ = y[:len(x)]
	if useAVX2 {
		return dotAVX2(x, y)
	}
	return dotGo(x, y)
}

// Axpy sets y += a·x over len(x) elements; y must be at least as long.
func Axpy(a float32, x, y []float32) {
	_ = y[:len(x)]
	if useAVX2 {
		axpyAVX2(a, x, y)
		return
	}
	axpyGo(a, x, y)
}

// AxpyRows sets out += Σ_j a[j]·(row j of m), m row-major with len(out)
// columns: bit for bit Axpy(a[j], row j, out) for each j in order, with
// out held in registers across the rows instead of loaded and stored
// once per row.
func AxpyRows(out, a, m []float32) {
	k := len(out)
	_ = m[:len(a)*k]
	if k == 0 || len(a) == 0 {
		return
	}
	if useAVX2 {
		axpyRowsAVX2(out, a, m)
		return
	}
	for j, c := range a {
		axpyGo(c, m[j*k:(j+1)*k], out)
	}
}

// Dot4 sets out[r] = Σ_j m[r·stride+j]·x[j] for r = 0..3: four dot
// products sharing x, faster than four calls of Dot.
func Dot4(m []float32, stride int, x []float32, out *[4]float32) {
	if len(x) == 0 {
		*out = [4]float32{}
		return
	}
	_ = m[3*stride+len(x)-1]
	if useAVX2 {
		dot4AVX2(m, stride, x, out)
		return
	}
	for r := range out {
		out[r] = dotGo(x, m[r*stride:r*stride+len(x)])
	}
}

// Mul sets dst_i = x_i·y_i over len(x) elements; dst and y must be at
// least as long.
func Mul(dst, x, y []float32) {
	_, _ = dst[:len(x)], y[:len(x)]
	if useAVX2 {
		mulAVX2(dst, x, y)
		return
	}
	for i, v := range x {
		dst[i] = v * y[i]
	}
}

// MulVec sets out = M x for the len(out)×len(x) row-major matrix M.
func MulVec(out, m, x []float32) {
	n := len(x)
	_ = m[:len(out)*n]
	i := 0
	if useAVX2 {
		var four [4]float32
		for ; i+4 <= len(out) && n > 0; i += 4 {
			dot4AVX2(m[i*n:(i+4)*n], n, x, &four)
			copy(out[i:i+4], four[:])
		}
	}
	for ; i < len(out); i++ {
		out[i] = Dot(x, m[i*n:(i+1)*n])
	}
}

func dotGo(x, y []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyGo(a float32, x, y []float32) {
	for i, v := range x {
		y[i] += a * v
	}
}

// gatherAhead is how many rows ahead Gather prefetches: 2 to 16 all
// roughly halve the time of a plain copy (BenchmarkGather); 8 was best.
const gatherAhead = 8

// Gather copies row rows[j] of the row-major matrix src, with k columns,
// to row j of dst, for every j. Rows read at random from a matrix larger
// than the caches cost a trip to memory each; Gather asks for the rows
// a few places ahead before it copies one, so that those trips overlap.
func Gather(dst, src []float32, k int, rows []int32) {
	if k == 0 || len(rows) == 0 {
		return
	}
	checkRows(src, k, rows)
	_ = dst[:len(rows)*k]
	if useAVX2 && k%8 == 0 {
		gatherAVX2(dst, src, rows, k, gatherAhead)
		return
	}
	for j, r := range rows {
		copy(dst[j*k:(j+1)*k], src[int(r)*k:(int(r)+1)*k])
	}
}

// Dot64Rows sets out[j] = [Dot64](x, row rows[j] of m) for every j, m
// row-major with len(x) columns, prefetching rows ahead as [Gather] does.
func Dot64Rows(out []float64, x, m []float32, rows []int32) {
	k := len(x)
	_ = out[:len(rows)]
	if k == 0 {
		clear(out[:len(rows)])
		return
	}
	checkRows(m, k, rows)
	if useAVX2 {
		dot64RowsAVX2(x, m, rows, out, gatherAhead)
		return
	}
	for j, r := range rows {
		out[j] = Dot64(x, m[int(r)*k:(int(r)+1)*k])
	}
}

// checkRows panics unless every row is one of m's, k columns each: the
// kernels read them unchecked.
func checkRows(m []float32, k int, rows []int32) {
	n := len(m) / k
	for _, r := range rows {
		if uint(r) >= uint(n) {
			panic("f32: row out of range")
		}
	}
}
