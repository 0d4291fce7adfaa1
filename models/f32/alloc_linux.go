package f32

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// adviseHuge asks for huge pages over the 2 MiB-aligned part of s; a
// refusal (huge pages off, an old kernel) is no error: s is only slower.
func adviseHuge(s []float32) {
	const huge = 2 << 20
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*4)
	lo := (huge - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%huge)) % huge
	hi := lo + (len(b)-lo)/huge*huge
	if hi > lo {
		_ = unix.Madvise(b[lo:hi], unix.MADV_HUGEPAGE)
	}
}
