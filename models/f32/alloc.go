package f32

// hugeMin is the size from which Make asks for huge pages: below a few
// of them the advice buys nothing.
const hugeMin = 8 << 20

// Make returns a zeroed slice of n float32s. A large one is advised to be
// backed by huge pages where the system allows it (Linux transparent huge
// pages in madvise mode): the interest model reads rows of its factor
// matrices at random, hundreds of megabytes of them at a million users,
// and with 4 KiB pages nearly every row read also misses the TLB. On the
// project's machine kind that makes a random 256-byte row read 1.5×
// faster. The advice never changes a value.
func Make(n int) []float32 {
	s := make([]float32, n)
	if n*4 >= hugeMin {
		adviseHuge(s)
	}
	return s
}
