//go:build !(amd64 || arm64)

package atomicx

// Pause is a spin-wait hint (x86 PAUSE, arm64 YIELD); on this
// architecture it does nothing.
func Pause() {}
