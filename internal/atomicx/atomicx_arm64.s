//go:build !race

#include "textflag.h"

// STLR: store-release (every older load and store is observed first).

// func StoreRel64(p *uint64, v uint64)
TEXT ·StoreRel64(SB), NOSPLIT, $0-16
	MOVD	p+0(FP), R0
	MOVD	v+8(FP), R1
	STLR	R1, (R0)
	RET

// func StoreRel32(p *uint32, v uint32)
TEXT ·StoreRel32(SB), NOSPLIT, $0-12
	MOVD	p+0(FP), R0
	MOVW	v+8(FP), R1
	STLRW	R1, (R0)
	RET

// func StoreRel64Pair(p *uint64, v uint64, q *uint64, w uint64)
TEXT ·StoreRel64Pair(SB), NOSPLIT, $0-32
	MOVD	p+0(FP), R0
	MOVD	v+8(FP), R1
	MOVD	q+16(FP), R2
	MOVD	w+24(FP), R3
	STLR	R1, (R0)
	STLR	R3, (R2)
	RET
