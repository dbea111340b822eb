//go:build !race && (amd64 || arm64 || s390x)

package atomicx

import "sync/atomic"

// LoadAcq64 loads *p with acquire ordering (see the package
// documentation). On this architecture sync/atomic's load is exactly that
// (amd64, s390x: a plain load; arm64: LDAR), and it is inlined.
func LoadAcq64(p *uint64) uint64 { return atomic.LoadUint64(p) }

// LoadAcq32 loads *p with acquire ordering.
func LoadAcq32(p *uint32) uint32 { return atomic.LoadUint32(p) }
