//go:build race || !(amd64 || arm64 || ppc64 || ppc64le || s390x || riscv64)

package atomicx

import "sync/atomic"

// This build uses sync/atomic: on an architecture without an assembly
// version here, or under the race detector, which understands sync/atomic
// but cannot see into assembly (it would report the data published
// through a release store as racing).

// StoreRel64 stores v into *p with (at least) release ordering.
func StoreRel64(p *uint64, v uint64) { atomic.StoreUint64(p, v) }

// StoreRel32 stores v into *p with (at least) release ordering.
func StoreRel32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }

// StoreRel64Pair is StoreRel64(p, v) then StoreRel64(q, w).
func StoreRel64Pair(p *uint64, v uint64, q *uint64, w uint64) {
	atomic.StoreUint64(p, v)
	atomic.StoreUint64(q, w)
}

// LoadAcq64 loads *p with (at least) acquire ordering.
func LoadAcq64(p *uint64) uint64 { return atomic.LoadUint64(p) }

// LoadAcq32 loads *p with (at least) acquire ordering.
func LoadAcq32(p *uint32) uint32 { return atomic.LoadUint32(p) }

// Native reports whether this build uses the architecture's own release
// and acquire instructions (false: sync/atomic's sequentially consistent
// ones).
const Native = false
