//go:build !(mips || mipsle || (arm && !arm.7))

package shmheap

// atomic64Shared reports whether Go's 64-bit atomic instructions are
// atomic between processes. They are on every 64-bit architecture, on 386
// (CMPXCHG8B) and on ARMv7 (LDREXD/STREXD).
const atomic64Shared = true
