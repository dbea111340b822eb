package mmapring

import (
	"sync/atomic"
	"unsafe"

	"github.com/ipckit/ipckit/internal/atomicx"
)

// Every store this package makes to shared memory goes through the
// functions in this file, one per kind of store, so that a crash-consistency
// build can number them and stop the process at any one of them (LAYOUT.md,
// "Protocol invariants", lists what must hold after a stop at each). Loads
// are not routed here: a process killed between two loads leaves nothing
// behind.
//
// All of them are small enough to inline; the hot paths pay nothing for
// the indirection. Each first calls killpoint, which is an empty function
// in the default build (the compiler drops the call) and, built with the
// mmapring_killpoints tag, counts the store and can stop the process
// before it (killpoint_on.go; the kill-point campaign in
// killpoint_test.go).

// st64 publishes a position, an SPSC record header or a peer ident: a
// release store (atomicx), or a sequentially consistent one in a process
// that could not register for the asymmetric barrier (order.go says why
// that is enough either way).
func st64(p *uint64, v uint64) {
	killpoint()
	if seqCstPublish {
		atomic.StoreUint64(p, v)
		return
	}
	atomicx.StoreRel64(p, v)
}

// st64x2 is st64(p, v) then st64(q, w), in one call: an SPSC record
// header, then the producer's position.
func st64x2(p *uint64, v uint64, q *uint64, w uint64) {
	if seqCstPublish || killpointsBuilt {
		st64(p, v)
		st64(q, w)
		return
	}
	atomicx.StoreRel64Pair(p, v, q, w)
}

// pubSmall is an SPSC producer's whole publication of a record with a
// small payload (8 … 128 bytes) in one call: the payload (plain stores),
// the terminator after the record (plain), then the header and the
// position (st64 each). On amd64 that is one assembly routine
// (atomicx.CopyAndPublish), which saves Send the calls and register
// spills of copyIn, putHdr and st64x2.
func pubSmall(dst, src unsafe.Pointer, n uintptr, term, hdr *uint64, hv uint64, pos *uint64, pv uint64) {
	if seqCstPublish || killpointsBuilt {
		killpoint()
		copy(unsafe.Slice((*byte)(dst), n), unsafe.Slice((*byte)(src), n))
		killpoint()
		*term = 0
		st64(hdr, hv)
		st64(pos, pv)
		return
	}
	atomicx.CopyAndPublish(dst, src, n, term, hdr, hv, pos, pv)
}

// st32 is a sequentially consistent store of a header word (closed, need,
// a peer's role).
func st32(p *uint32, v uint32) { killpoint(); atomic.StoreUint32(p, v) }

// cas64 compares and swaps a position, a cell state or a peer ident.
func cas64(p *uint64, old, new uint64) bool {
	killpoint()
	return atomic.CompareAndSwapUint64(p, old, new)
}

// cas32 compares and swaps a counter word (orphans).
func cas32(p *uint32, old, new uint32) bool {
	killpoint()
	return atomic.CompareAndSwapUint32(p, old, new)
}

// add32 adds to a counter word (epochs, waiters, orphans); use ^uint32(0)
// to subtract one.
func add32(p *uint32, d uint32) uint32 { killpoint(); return atomic.AddUint32(p, d) }

// swap32 swaps a need flag.
func swap32(p *uint32, v uint32) uint32 { killpoint(); return atomic.SwapUint32(p, v) }

// add64 adds to the Queue's task counter.
func add64(p *uint64, d uint64) uint64 { killpoint(); return atomic.AddUint64(p, d) }

// put32 is a plain store of a record or cell header word (length, type,
// checksum); a later st64 publishes it.
func put32(p *uint32, v uint32) { killpoint(); *p = v }

// putHdr writes an SPSC record header (length and type) with plain stores:
// a header that a later st64 of an earlier header publishes, or a
// terminator (0, 0).
func putHdr(rec []byte, n uint32, typ uint32) {
	killpoint()
	hdr := (*[2]uint32)(unsafe.Pointer(&rec[0]))
	hdr[0] = n
	hdr[1] = typ
}

// copyIn copies a payload into the ring (plain stores; published later),
// in pieces below copyChunk (see copyOut).
func copyIn(dst, src []byte) int { killpoint(); return copyOut(dst, src) }
