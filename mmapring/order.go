package mmapring

import (
	"sync"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/atomicx"
)

// Memory ordering (LAYOUT.md, "Memory order").
//
// Publication — an SPSC record header, the positions, a peer ident — is a
// release store (st64), read with acquire loads (sync/atomic's loads are
// acquire or stronger on every architecture, and inlined). Release/acquire
// is all that message passing needs: a consumer that sees a record header
// sees the payload written before it.
//
// The one place that needs more is the eventcount's Dekker pair: a
// publisher stores, then loads the waiter count; a waiter raises the
// waiter count, then loads what the publisher stored. Each side needs its
// store ordered before its load, and a release store followed by a load
// gives no such order (a store buffer lets the load pass the store). A
// sequentially consistent store on every publication would give it, at
// the cost of waiting for the cache line on every message (on amd64 an
// XCHG). Instead the order is made asymmetric: the rare side, a waiter
// about to sleep, pays for both with membarrier(MEMBARRIER_CMD_GLOBAL_
// EXPEDITED) between its registration and its re-check. That barrier runs
// a full memory barrier in every thread of every registered process at
// some point F after the waiter's registration was visible and before the
// waiter's re-check. For a publisher thread with publication store S and
// waiter-count load L (S before L in program order): if F falls after S,
// S was visible before the barrier returned, so the waiter's re-check
// sees the publication and it does not sleep; if F falls before S, then
// L (after F) sees the waiter's registration and the publisher wakes it.
// Either way no wake-up is lost. Every peer process registers (once, when
// it first maps a ring) before it publishes with a release store.
//
// A process whose registration fails (a kernel before 4.16, a seccomp
// filter) publishes with sequentially consistent stores instead, which
// pairs with the waiter's sequentially consistent registration without
// any barrier (the classic Dekker argument). Its sleepers cannot issue the
// barrier either, so a publisher in another process that does use release
// stores could leave such a sleeper's re-check a few nanoseconds stale:
// those sleepers bound their first sleep after registering by
// shortSleep, so a wake-up missed in that window costs at most that.
var (
	orderOnce sync.Once
	// seqCstPublish: this process is not registered for the barrier and
	// publishes with sequentially consistent stores. Set once, before the
	// first ring is mapped.
	seqCstPublish bool
	// noBarrier: Membarrier is unavailable here; sleepers bound their
	// first sleep by shortSleep.
	noBarrier bool
)

// setupOrder registers the process for the asymmetric barrier; every
// constructor of a Ring calls it before the ring is mapped.
func setupOrder() {
	orderOnce.Do(func() {
		if atomicx.RegisterMembarrier() != nil {
			seqCstPublish, noBarrier = true, true
		}
	})
}

// waiterBarrier is the waiter's half of the Dekker pair, between its
// registration and its last look at the condition: after it, either that
// look sees every publication made before a publisher could have missed
// the registration, or that publisher sees the registration. It reports
// false where the barrier is unavailable.
func waiterBarrier() bool { return !noBarrier && atomicx.Membarrier() == nil }

// hdrWord is the 64-bit word holding an SPSC record header (u32 length,
// u32 type, in memory order on either byte order), for st64 and loads.
func hdrWord(n, typ uint32) uint64 {
	if abi.BigEndian {
		return uint64(n)<<32 | uint64(typ)
	}
	return uint64(typ)<<32 | uint64(n)
}

// hdrFields splits a header word read from the ring.
func hdrFields(w uint64) (n, typ uint32) {
	if abi.BigEndian {
		return uint32(w >> 32), uint32(w)
	}
	return uint32(w), uint32(w >> 32)
}

// copyChunk bounds the pieces that large copies into and out of the ring
// are made in. The Go runtime's memmove on amd64 switches to non-temporal
// stores (and non-temporal prefetches of the source) from 1 MiB on
// (runtime/memmove_amd64.s, gobble_big_data_fwd): the copy bypasses the
// cache, so the other process then reads the message from memory instead
// of from the shared cache, and the copy itself runs at memory speed. glibc's
// memcpy, which the C peers use, does so only beyond a threshold derived
// from the cache size (several MiB). Copies of up to copyChunk stay on the
// temporal path on every architecture.
const copyChunk = 256 << 10

// copyOut is copy in pieces of at most copyChunk bytes (for large messages;
// one call to copy otherwise). It is not a store to shared memory when the
// destination is the caller's buffer (Receive); copyIn routes the ring's
// stores through it.
func copyOut(dst, src []byte) int {
	n := min(len(dst), len(src))
	if n <= copyChunk {
		return copy(dst, src)
	}
	for off := 0; off < n; off += copyChunk {
		end := min(off+copyChunk, n)
		copy(dst[off:end], src[off:end])
	}
	return n
}
