//go:build !race && (ppc64 || ppc64le || riscv64)

package atomicx

// LoadAcq64 loads *p with acquire ordering (see the package
// documentation). p must be 8-byte aligned.
//
//go:noescape
func LoadAcq64(p *uint64) uint64

// LoadAcq32 loads *p with acquire ordering. p must be 4-byte aligned.
//
//go:noescape
func LoadAcq32(p *uint32) uint32
