//go:build race || !amd64

package atomicx

import "unsafe"

// CopyAndPublish copies n bytes (8 ≤ n ≤ 128) from src to dst with plain
// stores, stores 0 to *term with a plain store, then hv to *hdr and pv to
// *pos with release stores, in that order: a ring producer's whole
// publication of a small record (payload, the empty header after it, the
// record's header, the position). dst, term, hdr and pos must not overlap
// src; term, hdr and pos must be 8-byte aligned. (One call to assembly on
// amd64; here the same steps in Go.)
func CopyAndPublish(dst, src unsafe.Pointer, n uintptr, term, hdr *uint64, hv uint64, pos *uint64, pv uint64) {
	copy(unsafe.Slice((*byte)(dst), n), unsafe.Slice((*byte)(src), n))
	*term = 0
	StoreRel64Pair(hdr, hv, pos, pv)
}
