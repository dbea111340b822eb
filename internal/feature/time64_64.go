//go:build !(386 || arm || mips || mipsle)

package feature

// 64-bit architectures have no futex_time64; Time64 never calls it there.
const sysFutexTime64 = 0
