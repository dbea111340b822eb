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
