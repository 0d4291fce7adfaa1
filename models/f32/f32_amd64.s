#include "textflag.h"

// func dotAVX2(x, y []float32) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ   x_base+0(FP), SI
	MOVQ   y_base+24(FP), DI
	MOVQ   x_len+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   AX, AX

dot32:
	MOVQ        CX, DX
	SUBQ        AX, DX
	CMPQ        DX, $32
	JL          dot8
	VMOVUPS     (SI)(AX*4), Y4
	VMOVUPS     32(SI)(AX*4), Y5
	VMOVUPS     64(SI)(AX*4), Y6
	VMOVUPS     96(SI)(AX*4), Y7
	VFMADD231PS (DI)(AX*4), Y4, Y0
	VFMADD231PS 32(DI)(AX*4), Y5, Y1
	VFMADD231PS 64(DI)(AX*4), Y6, Y2
	VFMADD231PS 96(DI)(AX*4), Y7, Y3
	ADDQ        $32, AX
	JMP         dot32

dot8:
	CMPQ        DX, $8
	JL          dotsum
	VMOVUPS     (SI)(AX*4), Y4
	VFMADD231PS (DI)(AX*4), Y4, Y0
	ADDQ        $8, AX
	SUBQ        $8, DX
	JMP         dot8

dotsum:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0

dottail:
	CMPQ        AX, CX
	JGE         dotdone
	VMOVSS      (SI)(AX*4), X4
	VFMADD231SS (DI)(AX*4), X4, X0
	INCQ        AX
	JMP         dottail

dotdone:
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func axpyAVX2(a float32, x, y []float32)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-56
	VBROADCASTSS a+0(FP), Y0
	MOVQ         x_base+8(FP), SI
	MOVQ         y_base+32(FP), DI
	MOVQ         x_len+16(FP), CX
	XORQ         AX, AX

axpy32:
	MOVQ        CX, DX
	SUBQ        AX, DX
	CMPQ        DX, $32
	JL          axpy8
	VMOVUPS     (DI)(AX*4), Y1
	VMOVUPS     32(DI)(AX*4), Y2
	VMOVUPS     64(DI)(AX*4), Y3
	VMOVUPS     96(DI)(AX*4), Y4
	VFMADD231PS (SI)(AX*4), Y0, Y1
	VFMADD231PS 32(SI)(AX*4), Y0, Y2
	VFMADD231PS 64(SI)(AX*4), Y0, Y3
	VFMADD231PS 96(SI)(AX*4), Y0, Y4
	VMOVUPS     Y1, (DI)(AX*4)
	VMOVUPS     Y2, 32(DI)(AX*4)
	VMOVUPS     Y3, 64(DI)(AX*4)
	VMOVUPS     Y4, 96(DI)(AX*4)
	ADDQ        $32, AX
	JMP         axpy32

axpy8:
	CMPQ        DX, $8
	JL          axpytail
	VMOVUPS     (DI)(AX*4), Y1
	VFMADD231PS (SI)(AX*4), Y0, Y1
	VMOVUPS     Y1, (DI)(AX*4)
	ADDQ        $8, AX
	SUBQ        $8, DX
	JMP         axpy8

axpytail:
	CMPQ        AX, CX
	JGE         axpydone
	VMOVSS      (DI)(AX*4), X1
	VFMADD231SS (SI)(AX*4), X0, X1
	VMOVSS      X1, (DI)(AX*4)
	INCQ        AX
	JMP         axpytail

axpydone:
	VZEROUPPER
	RET

// func dot4AVX2(m []float32, stride int, x []float32, out *[4]float32)
TEXT ·dot4AVX2(SB), NOSPLIT, $0-64
	MOVQ   m_base+0(FP), R8
	MOVQ   stride+24(FP), BX
	SHLQ   $2, BX
	LEAQ   (R8)(BX*1), R9
	LEAQ   (R9)(BX*1), R10
	LEAQ   (R10)(BX*1), R11
	MOVQ   x_base+32(FP), SI
	MOVQ   x_len+40(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   AX, AX

dot4loop:
	MOVQ        CX, DX
	SUBQ        AX, DX
	CMPQ        DX, $8
	JL          dot4sum
	VMOVUPS     (SI)(AX*4), Y4
	VFMADD231PS (R8)(AX*4), Y4, Y0
	VFMADD231PS (R9)(AX*4), Y4, Y1
	VFMADD231PS (R10)(AX*4), Y4, Y2
	VFMADD231PS (R11)(AX*4), Y4, Y3
	ADDQ        $8, AX
	JMP         dot4loop

dot4sum:
	// Y0..Y3 → one lane-sum each, in X0..X3's low lane.
	VEXTRACTF128 $1, Y0, X4
	VADDPS       X4, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VEXTRACTF128 $1, Y1, X4
	VADDPS       X4, X1, X1
	VHADDPS      X1, X1, X1
	VHADDPS      X1, X1, X1
	VEXTRACTF128 $1, Y2, X4
	VADDPS       X4, X2, X2
	VHADDPS      X2, X2, X2
	VHADDPS      X2, X2, X2
	VEXTRACTF128 $1, Y3, X4
	VADDPS       X4, X3, X3
	VHADDPS      X3, X3, X3
	VHADDPS      X3, X3, X3

dot4tail:
	CMPQ        AX, CX
	JGE         dot4done
	VMOVSS      (SI)(AX*4), X4
	VFMADD231SS (R8)(AX*4), X4, X0
	VFMADD231SS (R9)(AX*4), X4, X1
	VFMADD231SS (R10)(AX*4), X4, X2
	VFMADD231SS (R11)(AX*4), X4, X3
	INCQ        AX
	JMP         dot4tail

dot4done:
	MOVQ  out+56(FP), DI
	VMOVSS X0, (DI)
	VMOVSS X1, 4(DI)
	VMOVSS X2, 8(DI)
	VMOVSS X3, 12(DI)
	VZEROUPPER
	RET

// func mulAVX2(dst, x, y []float32)
TEXT ·mulAVX2(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ y_base+48(FP), R8
	MOVQ x_len+32(FP), CX
	XORQ AX, AX

mul8:
	MOVQ    CX, DX
	SUBQ    AX, DX
	CMPQ    DX, $8
	JL      multail
	VMOVUPS (SI)(AX*4), Y1
	VMULPS  (R8)(AX*4), Y1, Y1
	VMOVUPS Y1, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     mul8

multail:
	CMPQ   AX, CX
	JGE    muldone
	VMOVSS (SI)(AX*4), X1
	VMULSS (R8)(AX*4), X1, X1
	VMOVSS X1, (DI)(AX*4)
	INCQ   AX
	JMP    multail

muldone:
	VZEROUPPER
	RET

// func gatherAVX2(dst, src []float32, rows []int32, k, ahead int)
// Copies row rows[j] of src (k floats, k a multiple of 8) to row j of
// dst, first prefetching the lines of row rows[j+ahead].
TEXT ·gatherAVX2(SB), NOSPLIT, $0-88
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ rows_base+48(FP), BX
	MOVQ rows_len+56(FP), CX
	MOVQ k+72(FP), DX
	SHLQ $2, DX           // bytes per row
	MOVQ ahead+80(FP), R12
	XORQ R8, R8           // j

gatherrow:
	CMPQ R8, CX
	JGE  gatherdone
	LEAQ (R8)(R12*1), R9
	CMPQ R9, CX
	JGE  gathercopy
	MOVLQSX (BX)(R9*4), R10
	IMULQ   DX, R10
	ADDQ    SI, R10
	XORQ    R11, R11

gatherpf:
	PREFETCHT0 (R10)(R11*1)
	ADDQ       $64, R11
	CMPQ       R11, DX
	JL         gatherpf
	PREFETCHT0 -1(R10)(DX*1)

gathercopy:
	MOVLQSX (BX)(R8*4), R10
	IMULQ   DX, R10
	ADDQ    SI, R10
	XORQ    R11, R11

gathermove:
	VMOVUPS (R10)(R11*1), Y0
	VMOVUPS Y0, (DI)(R11*1)
	ADDQ    $32, R11
	CMPQ    R11, DX
	JL      gathermove
	ADDQ    DX, DI
	INCQ    R8
	JMP     gatherrow

gatherdone:
	VZEROUPPER
	RET

// func dot64RowsAVX2(x, m []float32, rows []int32, out []float64, ahead int)
// out[j] = Σ x_i·m[rows[j]·len(x)+i] in float64, prefetching the lines of
// row rows[j+ahead] first, as gatherAVX2 does. The lanes of Y0 are
// gonum's four sums s0..s3 (element i goes to lane i mod 4); the tail
// goes to s0; the result is (s0+s2)+(s1+s3).
TEXT ·dot64RowsAVX2(SB), NOSPLIT, $0-104
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ m_base+24(FP), DI
	MOVQ rows_base+48(FP), BX
	MOVQ rows_len+56(FP), R13
	MOVQ out_base+72(FP), R14
	MOVQ ahead+96(FP), R12
	MOVQ CX, DX
	SHLQ $2, DX               // bytes per row
	XORQ R8, R8               // j

dotrowsrow:
	CMPQ R8, R13
	JGE  dotrowsdone
	LEAQ (R8)(R12*1), R9
	CMPQ R9, R13
	JGE  dotrowscompute
	MOVLQSX (BX)(R9*4), R10
	IMULQ   DX, R10
	ADDQ    DI, R10
	XORQ    R11, R11

dotrowspf:
	PREFETCHT0 (R10)(R11*1)
	ADDQ       $64, R11
	CMPQ       R11, DX
	JL         dotrowspf
	PREFETCHT0 -1(R10)(DX*1)

dotrowscompute:
	MOVLQSX (BX)(R8*4), R10
	IMULQ   DX, R10
	ADDQ    DI, R10
	VXORPD  Y0, Y0, Y0
	XORQ    AX, AX

dotrowsfour:
	MOVQ      CX, R11
	SUBQ      AX, R11
	CMPQ      R11, $4
	JL        dotrowssplit
	VCVTPS2PD (SI)(AX*4), Y1
	VCVTPS2PD (R10)(AX*4), Y2
	VMULPD    Y2, Y1, Y1
	VADDPD    Y1, Y0, Y0
	ADDQ      $4, AX
	JMP       dotrowsfour

dotrowssplit:
	VEXTRACTF128 $1, Y0, X4

dotrowstail:
	CMPQ      AX, CX
	JGE       dotrowssum
	VMOVSS    (SI)(AX*4), X1
	VCVTSS2SD X1, X1, X1
	VMOVSS    (R10)(AX*4), X2
	VCVTSS2SD X2, X2, X2
	VMULSD    X2, X1, X1
	VADDSD    X1, X0, X0
	INCQ      AX
	JMP       dotrowstail

dotrowssum:
	VADDPD  X4, X0, X0
	VHADDPD X0, X0, X0
	VMOVSD  X0, (R14)(R8*8)
	INCQ    R8
	JMP     dotrowsrow

dotrowsdone:
	VZEROUPPER
	RET

// func axpyRowsAVX2(out, a, m []float32)
// Sets out += a[j]·(row j of m) for j in order, m row-major with
// len(out) columns. Column blocks of 64, 8 and 1 are each kept in
// registers while every row is added to them: per element the same
// fused multiply-adds, in the same order, as axpyAVX2 row by row.
TEXT ·axpyRowsAVX2(SB), NOSPLIT, $0-72
	MOVQ out_base+0(FP), DI
	MOVQ out_len+8(FP), CX
	MOVQ a_base+24(FP), SI
	MOVQ a_len+32(FP), R8
	MOVQ m_base+48(FP), BX
	MOVQ CX, R9
	SHLQ $2, R9            // a row of m, in bytes
	XORQ AX, AX            // the block's first column

rows64:
	MOVQ    CX, DX
	SUBQ    AX, DX
	CMPQ    DX, $64
	JL      rows8
	VMOVUPS (DI)(AX*4), Y1
	VMOVUPS 32(DI)(AX*4), Y2
	VMOVUPS 64(DI)(AX*4), Y3
	VMOVUPS 96(DI)(AX*4), Y4
	VMOVUPS 128(DI)(AX*4), Y5
	VMOVUPS 160(DI)(AX*4), Y6
	VMOVUPS 192(DI)(AX*4), Y7
	VMOVUPS 224(DI)(AX*4), Y8
	LEAQ    (BX)(AX*4), R10
	XORQ    R11, R11

rows64row:
	CMPQ         R11, R8
	JGE          rows64store
	VBROADCASTSS (SI)(R11*4), Y0
	VFMADD231PS  (R10), Y0, Y1
	VFMADD231PS  32(R10), Y0, Y2
	VFMADD231PS  64(R10), Y0, Y3
	VFMADD231PS  96(R10), Y0, Y4
	VFMADD231PS  128(R10), Y0, Y5
	VFMADD231PS  160(R10), Y0, Y6
	VFMADD231PS  192(R10), Y0, Y7
	VFMADD231PS  224(R10), Y0, Y8
	ADDQ         R9, R10
	INCQ         R11
	JMP          rows64row

rows64store:
	VMOVUPS Y1, (DI)(AX*4)
	VMOVUPS Y2, 32(DI)(AX*4)
	VMOVUPS Y3, 64(DI)(AX*4)
	VMOVUPS Y4, 96(DI)(AX*4)
	VMOVUPS Y5, 128(DI)(AX*4)
	VMOVUPS Y6, 160(DI)(AX*4)
	VMOVUPS Y7, 192(DI)(AX*4)
	VMOVUPS Y8, 224(DI)(AX*4)
	ADDQ    $64, AX
	JMP     rows64

rows8:
	MOVQ    CX, DX
	SUBQ    AX, DX
	CMPQ    DX, $8
	JL      rows1
	VMOVUPS (DI)(AX*4), Y1
	LEAQ    (BX)(AX*4), R10
	XORQ    R11, R11

rows8row:
	CMPQ         R11, R8
	JGE          rows8store
	VBROADCASTSS (SI)(R11*4), Y0
	VFMADD231PS  (R10), Y0, Y1
	ADDQ         R9, R10
	INCQ         R11
	JMP          rows8row

rows8store:
	VMOVUPS Y1, (DI)(AX*4)
	ADDQ    $8, AX
	JMP     rows8

rows1:
	CMPQ   AX, CX
	JGE    rowsdone
	VMOVSS (DI)(AX*4), X1
	LEAQ   (BX)(AX*4), R10
	XORQ   R11, R11

rows1row:
	CMPQ        R11, R8
	JGE         rows1store
	VMOVSS      (SI)(R11*4), X0
	VFMADD231SS (R10), X0, X1
	ADDQ        R9, R10
	INCQ        R11
	JMP         rows1row

rows1store:
	VMOVSS X1, (DI)(AX*4)
	INCQ   AX
	JMP    rows1

rowsdone:
	VZEROUPPER
	RET
