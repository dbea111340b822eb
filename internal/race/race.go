//go:build race

// Package race tells the race detector about memory that the kernel
// wrote, as golang.org/x/sys/unix does after read(2).
package race

import (
	"runtime"
	"unsafe"
)

// Enabled reports whether the race detector is on.
const Enabled = true

// WriteRange records that n bytes at p were written.
func WriteRange(p unsafe.Pointer, n int) { runtime.RaceWriteRange(p, n) }

// ReadRange records that n bytes at p were read.
func ReadRange(p unsafe.Pointer, n int) { runtime.RaceReadRange(p, n) }
