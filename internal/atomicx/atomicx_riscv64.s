//go:build !race

#include "textflag.h"

// RVWMO mappings of C11 release and acquire: "fence rw,w; sd" and
// "ld; fence r,rw". Go's FENCE mnemonic is always "fence rw,rw" (and
// stronger than needed), so the two fences are spelled as words:
//   fence rw,w = 0x0310000f (pred = R|W, succ = W)
//   fence r,rw = 0x0230000f (pred = R,   succ = R|W)

// func StoreRel64(p *uint64, v uint64)
TEXT ·StoreRel64(SB), NOSPLIT, $0-16
	MOV	p+0(FP), A0
	MOV	v+8(FP), A1
	WORD	$0x0310000f
	MOV	A1, (A0)
	RET

// func StoreRel32(p *uint32, v uint32)
TEXT ·StoreRel32(SB), NOSPLIT, $0-12
	MOV	p+0(FP), A0
	MOVWU	v+8(FP), A1
	WORD	$0x0310000f
	MOVW	A1, (A0)
	RET

// func StoreRel64Pair(p *uint64, v uint64, q *uint64, w uint64)
TEXT ·StoreRel64Pair(SB), NOSPLIT, $0-32
	MOV	p+0(FP), A0
	MOV	v+8(FP), A1
	MOV	q+16(FP), A2
	MOV	w+24(FP), A3
	WORD	$0x0310000f
	MOV	A1, (A0)
	WORD	$0x0310000f
	MOV	A3, (A2)
	RET

// func LoadAcq64(p *uint64) uint64
TEXT ·LoadAcq64(SB), NOSPLIT|NOFRAME, $0-16
	MOV	p+0(FP), A0
	MOV	(A0), A1
	WORD	$0x0230000f
	MOV	A1, ret+8(FP)
	RET

// func LoadAcq32(p *uint32) uint32
TEXT ·LoadAcq32(SB), NOSPLIT|NOFRAME, $0-12
	MOV	p+0(FP), A0
	MOVWU	(A0), A1
	WORD	$0x0230000f
	MOVW	A1, ret+8(FP)
	RET
