//go:build !race && (amd64 || arm64 || ppc64 || ppc64le || s390x || riscv64)

package atomicx

// StoreRel64 stores v into *p with release ordering (see the package
// documentation). p must be 8-byte aligned.
//
//go:noescape
func StoreRel64(p *uint64, v uint64)

// StoreRel32 stores v into *p with release ordering. p must be 4-byte
// aligned.
//
//go:noescape
func StoreRel32(p *uint32, v uint32)

// StoreRel64Pair is StoreRel64(p, v) then StoreRel64(q, w), in one call
// (a publication and the position after it).
//
//go:noescape
func StoreRel64Pair(p *uint64, v uint64, q *uint64, w uint64)

// Native reports whether this build uses the architecture's own release
// and acquire instructions (false: sync/atomic's sequentially consistent
// ones).
const Native = true
