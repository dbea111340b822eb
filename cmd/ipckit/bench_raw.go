package main

import (
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/futex"
)

// Reference rows, round trip only, two processes on a shared memfd page:
//   - raw cache-line ping-pong: both sides spin on one 64-bit word, the
//     floor for any shared-memory transport on this machine;
//   - raw futex ping-pong: both sides sleep in FUTEX_WAIT and wake each
//     other with FUTEX_WAKE every time, the floor for a sleeping receiver.

const (
	rawLineWord  = 0
	rawFutexA    = 128 // parent → child
	rawFutexB    = 256 // child → parent
	rawFutexStop = 384
	rawReady     = 512
)

func rawMap(fd int) ([]byte, error) {
	return unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

func u64at(m []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&m[off])) }
func u32at(m []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&m[off])) }

func rawRTT(kind string) func(o benchOpts, size int) ([]time.Duration, error) {
	return func(o benchOpts, size int) ([]time.Duration, error) {
		fd, err := unix.MemfdCreate("ipckit-bench", unix.MFD_CLOEXEC)
		if err != nil {
			return nil, err
		}
		f := os.NewFile(uintptr(fd), "memfd")
		defer f.Close()
		if err := f.Truncate(4096); err != nil {
			return nil, err
		}
		m, err := rawMap(fd)
		if err != nil {
			return nil, err
		}
		defer unix.Munmap(m)
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(exe, "raw", kind, "0", "-")
		cmd.Env = append(os.Environ(), benchChildEnv+"=1")
		cmd.ExtraFiles = []*os.File{f}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		defer cmd.Wait()
		for deadline := time.Now().Add(10 * time.Second); atomic.LoadUint32(u32at(m, rawReady)) == 0; {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				return nil, fmt.Errorf("raw child did not start")
			}
			time.Sleep(50 * time.Microsecond)
		}
		lat := make([]time.Duration, 0, o.rttMax)
		end := time.Now().Add(o.rttDur)
		if kind == "line" {
			w := u64at(m, rawLineWord)
			atomic.StoreUint64(w, 0)
			for i := uint64(0); ; i++ {
				t0 := time.Now()
				atomic.StoreUint64(w, 2*i+1)
				for spins := 0; atomic.LoadUint64(w) != 2*i+2; spins++ {
					if spins&(1<<20-1) == 0 && spins > 0 && cmd.ProcessState != nil {
						return nil, fmt.Errorf("child gone")
					}
				}
				t1 := time.Now()
				if i < 100 {
					continue // warm-up
				}
				lat = append(lat, t1.Sub(t0))
				if len(lat) >= o.rttMax || t1.After(end) {
					break
				}
			}
			atomic.StoreUint64(w, ^uint64(0))
			return lat, nil
		}
		a, b, stop := u32at(m, rawFutexA), u32at(m, rawFutexB), u32at(m, rawFutexStop)
		for i := 0; ; i++ {
			t0 := time.Now()
			old := atomic.LoadUint32(b)
			atomic.AddUint32(a, 1)
			futex.Wake(a, 1)
			for atomic.LoadUint32(b) == old {
				futex.Wait(b, old, time.Second)
			}
			t1 := time.Now()
			if i < 20 {
				continue // warm-up
			}
			lat = append(lat, t1.Sub(t0))
			if len(lat) >= o.rttMax || t1.After(end) {
				break
			}
		}
		atomic.StoreUint32(stop, 1)
		atomic.AddUint32(a, 1)
		futex.Wake(a, 1)
		return lat, nil
	}
}

// rawChild: KIND SIZE MODE, the page on fd 3.
func rawChild(args []string) int {
	m, err := rawMap(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ppid := os.Getppid()
	seen := atomic.LoadUint32(u32at(m, rawFutexA))
	atomic.StoreUint32(u32at(m, rawReady), 1)
	if args[0] == "line" {
		w := u64at(m, rawLineWord)
		for spins := 0; ; spins++ {
			v := atomic.LoadUint64(w)
			if v == ^uint64(0) {
				return 0
			}
			if v&1 == 1 {
				atomic.StoreUint64(w, v+1)
				continue
			}
			if spins&(1<<22-1) == 0 && os.Getppid() != ppid {
				return 1 // parent died
			}
		}
	}
	a, b, stop := u32at(m, rawFutexA), u32at(m, rawFutexB), u32at(m, rawFutexStop)
	for {
		for atomic.LoadUint32(a) == seen {
			futex.Wait(a, seen, time.Second)
			if os.Getppid() != ppid {
				return 1
			}
		}
		seen = atomic.LoadUint32(a)
		if atomic.LoadUint32(stop) != 0 {
			return 0
		}
		atomic.AddUint32(b, 1)
		futex.Wake(b, 1)
	}
}
