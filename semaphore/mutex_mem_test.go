package semaphore

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// InitMutex and AttachMutex refuse memory that is not a MAP_SHARED mapping:
// the mutex's address goes on the thread's robust list, and the kernel
// writes through it when the thread exits, possibly long after Go has
// freed or reused heap memory; a private mapping is not shared with
// anyone either. Before the fix both accepted a heap slice and a
// MAP_PRIVATE mapping.
func TestMutexRefusesPrivateMemory(t *testing.T) {
	requireMutex(t)
	page := os.Getpagesize()
	private, err := unix.Mmap(-1, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	mustf(t, err, "mmap private")
	t.Cleanup(func() { unix.Munmap(private) })
	heap := make([]byte, 128)
	off := 0
	if a := uintptr(unsafe.Pointer(&heap[0])); a%8 != 0 {
		off = int(8 - a%8)
	}
	for _, c := range []struct {
		name string
		mem  []byte
		off  int
	}{
		{"Go heap", heap, off},
		{"MAP_PRIVATE|MAP_ANONYMOUS", private, 0},
	} {
		if _, err := InitMutex(c.mem, c.off, MutexNormal); !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "MAP_SHARED") {
			t.Errorf("InitMutex on %s: %v, want EINVAL naming MAP_SHARED", c.name, err)
		}
		// Bytes that look like an initialised robust pshared mutex.
		*(*uint32)(unsafe.Pointer(&c.mem[c.off+mxKind])) = kindRobust | kindPshared
		if _, err := AttachMutex(c.mem, c.off); !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "MAP_SHARED") {
			t.Errorf("AttachMutex on %s: %v, want EINVAL naming MAP_SHARED", c.name, err)
		}
	}

	shared, err := unix.Mmap(-1, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	mustf(t, err, "mmap shared")
	t.Cleanup(func() { unix.Munmap(shared) })
	m, err := InitMutex(shared, 64, MutexNormal)
	mustf(t, err, "InitMutex on MAP_SHARED|MAP_ANONYMOUS")
	_, err = AttachMutex(shared, 64)
	mustf(t, err, "AttachMutex on MAP_SHARED|MAP_ANONYMOUS")
	onThread(func() {
		mustf(t, m.Lock(context.Background()), "lock")
		mustf(t, m.Unlock(), "unlock")
	})
}
