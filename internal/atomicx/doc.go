// Package atomicx has the two memory orderings that sync/atomic lacks:
// a release store and an acquire load, for publishing data through shared
// memory (one process or several) without a full barrier per message.
//
// Semantics (C11 memory_order_release / memory_order_acquire, which
// mmapring.h uses for the same words): if a load by LoadAcq64 observes the
// value written by StoreRel64, every load and store that preceded the
// StoreRel64 in the writer's program order is visible to every load that
// follows the LoadAcq64 in the reader's. Nothing more: a release store
// followed by a load of another word may still be reordered (store→load),
// so a Dekker-style handshake (publish, then look for a sleeper; register
// as a sleeper, then look again) still needs a full barrier on one side
// or both; see mmapring's eventcount.
//
// Implementation per GOARCH, and why each is enough:
//
//   - amd64: a plain MOV for both. x86 is TSO: stores are not reordered
//     with older stores, loads not with older loads, so every plain store
//     is a release and every plain load an acquire. What must not reorder
//     them is the compiler: StoreRel is an assembly function, which the Go
//     compiler calls and never inlines or looks into, so no memory access
//     moves across it; LoadAcq is sync/atomic's load, an intrinsic that
//     the compiler keeps in order with every other memory access (it is a
//     plain MOV on amd64).
//   - arm64: STLR/STLRW for the store, in assembly; the load is
//     sync/atomic's intrinsic LDAR/LDARW (already acquire, and inlined).
//   - ppc64, ppc64le: LWSYNC then a plain store (LWSYNC orders every older
//     load and store before every younger store); the load is a plain load
//     followed by CMP; BNE; ISYNC (the dependent branch and ISYNC keep every
//     younger access after it), both in assembly (sync/atomic's load adds
//     a full SYNC first).
//   - s390x: a plain store, in assembly. z/Architecture performs stores in
//     program order and never reorders a load with an older load or store
//     except a store→load pair: a plain store is already a release and a
//     plain load an acquire; the load is sync/atomic's intrinsic (a plain
//     load). The architecture's full barrier (BCR 14,0, Go's SYNC) is what
//     sync/atomic's store adds, and what this package omits.
//   - riscv64: FENCE RW,W then a plain store, and a plain load then
//     FENCE R,RW, in assembly (the RVWMO mappings of C11 release and
//     acquire; sync/atomic uses AMOSWAP and LR for these).
//   - every other GOARCH, and every build with the race detector:
//     sync/atomic (sequentially consistent, so stronger than needed; the
//     race detector understands it, where it cannot see into assembly).
//
// The call overhead of an assembly function (Go cannot inline it) is a few
// nanoseconds; a sequentially consistent store on amd64 (XCHG) waits for
// the store to reach the cache, which costs a cache-line transfer whenever
// another core is reading the line: the reason this package exists.
//
// Membarrier and RegisterMembarrier wrap membarrier(2)'s
// MEMBARRIER_CMD_GLOBAL_EXPEDITED, the asymmetric full barrier that lets
// the rare side of a Dekker-style handshake (a waiter going to sleep) pay
// for the barrier that the frequent side (a publisher) then skips.
package atomicx
