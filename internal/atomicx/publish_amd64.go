//go:build !race

package atomicx

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// hasAVX selects CopyAndPublish's 32-byte moves.
var hasAVX = cpu.X86.HasAVX

// CopyAndPublish copies n bytes (8 ≤ n ≤ 128) from src to dst with plain
// stores, stores 0 to *term with a plain store, then hv to *hdr and pv to
// *pos with release stores, in that order and in one call: a ring
// producer's whole publication of a small record (payload, the empty
// header after it, the record's header, the position). dst, term, hdr
// and pos must not overlap src; term, hdr and pos must be 8-byte aligned.
//
//go:noescape
func CopyAndPublish(dst, src unsafe.Pointer, n uintptr, term, hdr *uint64, hv uint64, pos *uint64, pv uint64)
