//go:build !race

#include "textflag.h"

// z/Architecture performs stores in program order, and a load is never
// performed before an older load or store except the store→load case that
// only a serialising BCR 14,0 (Go's SYNC) excludes: a plain store is a
// release. sync/atomic's store is this plus SYNC.

// func StoreRel64(p *uint64, v uint64)
TEXT ·StoreRel64(SB), NOSPLIT, $0-16
	MOVD	p+0(FP), R2
	MOVD	v+8(FP), R3
	MOVD	R3, 0(R2)
	RET

// func StoreRel32(p *uint32, v uint32)
TEXT ·StoreRel32(SB), NOSPLIT, $0-12
	MOVD	p+0(FP), R2
	MOVWZ	v+8(FP), R3
	MOVW	R3, 0(R2)
	RET

// func StoreRel64Pair(p *uint64, v uint64, q *uint64, w uint64)
TEXT ·StoreRel64Pair(SB), NOSPLIT, $0-32
	MOVD	p+0(FP), R2
	MOVD	v+8(FP), R3
	MOVD	q+16(FP), R4
	MOVD	w+24(FP), R5
	MOVD	R3, 0(R2)
	MOVD	R5, 0(R4)
	RET
