package semaphore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/futex"
	"github.com/ipckit/ipckit/internal/testenv"
)

func init() {
	// wake-denied: a seccomp filter refuses shared FUTEX_WAKE with EPERM
	// (as a container's filter could); every call that must wake reports
	// it, and still makes its change.
	testenv.RegisterChild("wake-denied", func([]string) int {
		// The Go runtime's own wakes are private and stay allowed.
		rules := []testenv.SeccompRule{{Nr: unix.SYS_FUTEX, Arg: 1, Value: futex.OpWake, Errno: unix.EPERM}}
		if abi.SysFutex != unix.SYS_FUTEX {
			rules = append(rules, testenv.SeccompRule{Nr: abi.SysFutex, Arg: 1, Value: futex.OpWake, Errno: unix.EPERM})
		}
		if err := testenv.DenySyscalls(rules...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		var failures []string
		check := func(what string, err error, changed bool) {
			if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "futex_wake") {
				failures = append(failures, fmt.Sprintf("%s: %v, want an error matching EPERM that names futex_wake", what, err))
			}
			if !changed {
				failures = append(failures, what+": the change was not made")
			}
		}
		mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		for _, f := range []Format{Glibc, Musl123, Musl124} {
			s, err := f.Init(mem, 0, 0)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			// A waiter registered as the C library registers one.
			switch {
			case f == Glibc && glibc32:
				atomic.AddUint32(s.nw, 1)
				atomic.OrUint32(s.val, 1)
			case f == Glibc:
				atomic.AddUint64(s.data, 1<<32)
			default:
				atomic.AddUint32(s.nw, 1)
			}
			err = s.Post()
			check(f.String()+" Post", err, s.Value() == 1)
		}
		e, err := InitEvent(mem, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		atomic.OrUint32(e.w, eventWaiters)
		err = e.Set()
		check("Event.Set", err, e.IsSet())
		if mutexSupported() == nil {
			m, err := InitMutex(mem, 128, MutexNormal)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			if err := m.Lock(context.Background()); err != nil {
				fmt.Fprintln(os.Stderr, "lock:", err)
				return 2
			}
			atomic.OrUint32(m.u32(mxLock), futex.Waiters)
			err = m.Unlock()
			lock, _ := m.State()
			check("Mutex.Unlock", err, lock == 0)
		}
		if len(failures) > 0 {
			fmt.Fprintln(os.Stderr, strings.Join(failures, "\n"))
			return 1
		}
		return 0
	})
}

// TestWakeErrorsSurface runs Post, Event.Set and Mutex.Unlock with a
// registered waiter in a child whose seccomp filter refuses the shared
// FUTEX_WAKE: each must return an error matching EPERM (a C sem_wait
// would otherwise sleep on with nobody told) after making its change.
func TestWakeErrorsSurface(t *testing.T) {
	testenv.SkipUnderEmulation(t, "a seccomp filter would apply to the emulator's own host system calls")
	cmd := testenv.Child(t, "wake-denied")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
}
