//go:build amd64 || arm64

package atomicx

// Pause tells the processor that the caller is in a spin-wait loop (x86
// PAUSE, arm64 YIELD): the loop's loads go out less often, so they take
// the cache line that the other side is writing away from it less often,
// and a sibling hardware thread that shares the core gets its issue
// slots. It has no memory effect. Elsewhere it is an empty function.
func Pause()
