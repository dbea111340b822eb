//go:build !race

#include "textflag.h"

// x86-64 is TSO: a plain store is a release store. Being an assembly
// function is what keeps the compiler from moving accesses across it.

// func StoreRel64(p *uint64, v uint64)
TEXT ·StoreRel64(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ	p+0(FP), AX
	MOVQ	v+8(FP), BX
	MOVQ	BX, (AX)
	RET

// func StoreRel32(p *uint32, v uint32)
TEXT ·StoreRel32(SB), NOSPLIT|NOFRAME, $0-12
	MOVQ	p+0(FP), AX
	MOVL	v+8(FP), BX
	MOVL	BX, (AX)
	RET

// func StoreRel64Pair(p *uint64, v uint64, q *uint64, w uint64)
TEXT ·StoreRel64Pair(SB), NOSPLIT|NOFRAME, $0-32
	MOVQ	p+0(FP), AX
	MOVQ	v+8(FP), BX
	MOVQ	q+16(FP), CX
	MOVQ	w+24(FP), DX
	MOVQ	BX, (AX)
	MOVQ	DX, (CX)
	RET

// func CopyAndPublish(dst, src unsafe.Pointer, n uintptr, term, hdr *uint64, hv uint64, pos *uint64, pv uint64)
//
// 8 <= n <= 128. The copy is two (or four) overlapping blocks of 8, 16
// or 32 bytes, loaded before they are stored; then the three 8-byte
// stores. x86-64 keeps stores in program order (TSO), so every store is a
// release of the ones before it.
TEXT ·CopyAndPublish(SB), NOSPLIT|NOFRAME, $0-64
	MOVQ	dst+0(FP), DI
	MOVQ	src+8(FP), SI
	MOVQ	n+16(FP), CX
	CMPQ	CX, $16
	JBE	upto16
	CMPQ	CX, $32
	JBE	upto32
	CMPB	·hasAVX(SB), $0
	JEQ	sse
	CMPQ	CX, $64
	JA	upto128
	VMOVDQU	(SI), Y0
	VMOVDQU	-32(SI)(CX*1), Y1
	VMOVDQU	Y0, (DI)
	VMOVDQU	Y1, -32(DI)(CX*1)
	VZEROUPPER
	JMP	publish
upto128:
	VMOVDQU	(SI), Y0
	VMOVDQU	32(SI), Y1
	VMOVDQU	-64(SI)(CX*1), Y2
	VMOVDQU	-32(SI)(CX*1), Y3
	VMOVDQU	Y0, (DI)
	VMOVDQU	Y1, 32(DI)
	VMOVDQU	Y2, -64(DI)(CX*1)
	VMOVDQU	Y3, -32(DI)(CX*1)
	VZEROUPPER
	JMP	publish
sse:
	// 33..128 bytes without AVX: 16-byte blocks from the front, and the
	// last 16 bytes (overlapping).
	MOVQ	CX, R8
	SUBQ	$16, R8
	XORQ	R9, R9
sseloop:
	MOVOU	(SI)(R9*1), X0
	MOVOU	X0, (DI)(R9*1)
	ADDQ	$16, R9
	CMPQ	R9, R8
	JB	sseloop
	MOVOU	(SI)(R8*1), X0
	MOVOU	X0, (DI)(R8*1)
	JMP	publish
upto32:
	MOVOU	(SI), X0
	MOVOU	-16(SI)(CX*1), X1
	MOVOU	X0, (DI)
	MOVOU	X1, -16(DI)(CX*1)
	JMP	publish
upto16:
	MOVQ	(SI), R8
	MOVQ	-8(SI)(CX*1), R9
	MOVQ	R8, (DI)
	MOVQ	R9, -8(DI)(CX*1)
publish:
	MOVQ	term+24(FP), AX
	MOVQ	$0, (AX)
	MOVQ	hdr+32(FP), AX
	MOVQ	hv+40(FP), BX
	MOVQ	BX, (AX)
	MOVQ	pos+48(FP), AX
	MOVQ	pv+56(FP), BX
	MOVQ	BX, (AX)
	RET
