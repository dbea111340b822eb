//go:build !race

package atomicx

// SetAVX switches CopyAndPublish's 32-byte moves (tests run both paths).
func SetAVX(on bool) (was bool) { was, hasAVX = hasAVX, on; return was }
