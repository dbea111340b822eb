//go:build race || !amd64

package atomicx

// SetAVX is a no-op here (no assembly path).
func SetAVX(on bool) (was bool) { return false }
