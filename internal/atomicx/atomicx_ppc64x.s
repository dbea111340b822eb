//go:build !race && (ppc64 || ppc64le)

#include "textflag.h"

// Release: LWSYNC orders every older load and store before every younger
// store. Acquire: a load, a compare of the loaded value with itself and a
// conditional branch on it (never taken) followed by ISYNC: no younger
// instruction starts before the load has completed.

// func StoreRel64(p *uint64, v uint64)
TEXT ·StoreRel64(SB), NOSPLIT, $0-16
	MOVD	p+0(FP), R3
	MOVD	v+8(FP), R4
	LWSYNC
	MOVD	R4, 0(R3)
	RET

// func StoreRel32(p *uint32, v uint32)
TEXT ·StoreRel32(SB), NOSPLIT, $0-12
	MOVD	p+0(FP), R3
	MOVW	v+8(FP), R4
	LWSYNC
	MOVW	R4, 0(R3)
	RET

// func StoreRel64Pair(p *uint64, v uint64, q *uint64, w uint64)
TEXT ·StoreRel64Pair(SB), NOSPLIT, $0-32
	MOVD	p+0(FP), R3
	MOVD	v+8(FP), R4
	MOVD	q+16(FP), R5
	MOVD	w+24(FP), R6
	LWSYNC
	MOVD	R4, 0(R3)
	LWSYNC
	MOVD	R6, 0(R5)
	RET

// func LoadAcq64(p *uint64) uint64
TEXT ·LoadAcq64(SB), NOSPLIT|NOFRAME, $-8-16
	MOVD	p+0(FP), R3
	MOVD	0(R3), R3
	CMP	R3, R3, CR7
	BC	4, 30, 1(PC) // bne- cr7, 0x4
	ISYNC
	MOVD	R3, ret+8(FP)
	RET

// func LoadAcq32(p *uint32) uint32
TEXT ·LoadAcq32(SB), NOSPLIT|NOFRAME, $-8-12
	MOVD	p+0(FP), R3
	MOVWZ	0(R3), R3
	CMPW	R3, R3, CR7
	BC	4, 30, 1(PC) // bne- cr7, 0x4
	ISYNC
	MOVW	R3, ret+8(FP)
	RET
