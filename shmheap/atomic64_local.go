//go:build mips || mipsle || (arm && !arm.7)

package shmheap

// atomic64Shared is false where Go emulates 64-bit atomics with a spin
// lock private to the process (internal/runtime/atomic: atomic_mipsx.go,
// and atomic_arm.go before ARMv7): two processes would not exclude each
// other, so 64-bit fields go through the object's lock instead.
const atomic64Shared = false
