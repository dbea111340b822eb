//go:build race

package posix

import (
	"runtime"
	"unsafe"
)

// raceWriteRange tells the race detector that the kernel wrote b, as
// x/sys/unix.Read does after read(2).
func raceWriteRange(b []byte) {
	if len(b) > 0 {
		runtime.RaceWriteRange(unsafe.Pointer(&b[0]), len(b))
	}
}

// raceReadRange tells the race detector that the kernel read b.
func raceReadRange(b []byte) {
	if len(b) > 0 {
		runtime.RaceReadRange(unsafe.Pointer(&b[0]), len(b))
	}
}
