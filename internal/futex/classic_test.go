package futex

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/feature"
	"github.com/ipckit/ipckit/internal/testenv"
)

func init() {
	// no-time64 MODE: behave as on a 32-bit kernel older than 5.1, where
	// futex_time64 does not exist: a seccomp filter answers ENOSYS for it.
	// MODE "probe-first" asks the feature probe before the filter is
	// installed (so the library believes in futex_time64 and must fall
	// back when the call fails); "filter-first" installs it first.
	testenv.RegisterChild("no-time64", func(args []string) int {
		if len(args) > 0 && args[0] == "probe-first" {
			if err := feature.Time64.Err(); err != nil {
				fmt.Fprintln(os.Stderr, "probe before the filter:", err)
				return 2
			}
		}
		// Only the shared operations this package uses are denied: the Go
		// runtime, which picks futex_time64 from the kernel version, uses
		// private ones and must keep working.
		var rules []testenv.SeccompRule
		for _, op := range []uint32{OpWait, OpWake, OpWaitBitset, OpWaitBitset | ClockRealtime} {
			rules = append(rules, testenv.SeccompRule{Nr: abi.SysFutex, Arg: 1, Value: op, Errno: unix.ENOSYS})
		}
		if err := testenv.DenySyscalls(rules...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		// The filter works: the _time64 call is gone.
		var w uint32
		if _, err := Futex(&w, OpWake, 1, nil, nil, 0); err != unix.ENOSYS {
			fmt.Fprintf(os.Stderr, "futex_time64 under the filter: %v, want ENOSYS\n", err)
			return 2
		}
		wantProbe := len(args) > 0 && args[0] == "probe-first"
		if got := feature.Time64.Supported(); got != wantProbe {
			fmt.Fprintf(os.Stderr, "feature.Time64.Supported() = %v, want %v\n", got, wantProbe)
			return 2
		}
		if err := exerciseFutex(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	})
}

// exerciseFutex runs every futex operation the package offers, timed and
// untimed, and reports the first that misbehaves.
func exerciseFutex() error {
	w := new(uint32)
	if _, err := Wake(w, 1); err != nil {
		return fmt.Errorf("Wake with no waiters: %w", err)
	}
	if err := Wait(w, 1, -1); err != nil { // value mismatch: returns at once
		return fmt.Errorf("untimed Wait with a stale value: %w", err)
	}
	if err := Wait(w, 0, 20*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("Wait with a timeout: %v, want os.ErrDeadlineExceeded", err)
	}
	for _, rt := range []bool{false, true} {
		clk := int32(unix.CLOCK_MONOTONIC)
		if rt {
			clk = unix.CLOCK_REALTIME
		}
		var now unix.Timespec
		unix.ClockGettime(clk, &now)
		dl := abi.NsecToTimespec(int64(now.Sec)*1e9 + int64(now.Nsec) + int64(20*time.Millisecond))
		if err := WaitBitsetAbs(w, 0, &dl, rt); !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("WaitBitsetAbs(realtime=%v): %v, want os.ErrDeadlineExceeded", rt, err)
		}
	}
	disableFutex2.Store(true) // the classic WaitContext path uses Wait's timeout
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	err := WaitContext(ctx, w, 0)
	cancel()
	disableFutex2.Store(false)
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("WaitContext with a deadline: %v, want context.DeadlineExceeded", err)
	}
	// A waiter blocked without a timeout and one with a long one are both
	// woken by Wake.
	for _, timeout := range []time.Duration{-1, time.Hour} {
		v := new(uint32)
		done := make(chan error, 1)
		go func() {
			for atomic.LoadUint32(v) == 0 {
				if err := Wait(v, 0, timeout); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		time.Sleep(20 * time.Millisecond)
		atomic.StoreUint32(v, 1)
		if _, err := Wake(v, WakeAll); err != nil {
			return fmt.Errorf("Wake: %w", err)
		}
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("waiter (timeout %v): %w", timeout, err)
			}
		case <-time.After(20 * time.Second):
			return fmt.Errorf("waiter (timeout %v) not woken", timeout)
		}
	}
	return nil
}

// TestWithoutTime64Syscall runs the package on a kernel without
// futex_time64, which every 32-bit kernel before 5.1 is: a child process
// whose seccomp filter answers ENOSYS for that call. Wakes and untimed
// waits must use futex(2), and timed waits must fall back to it with a
// 32-bit timespec, whether or not the feature probe ran before the call
// disappeared.
func TestWithoutTime64Syscall(t *testing.T) {
	if classicIsTime64 {
		t.Skipf("GOARCH=%s has no _time64 system calls: futex(2) takes 64-bit time here (the 386 leg runs this test)", runtime.GOARCH)
	}
	testenv.SkipUnderEmulation(t, "a seccomp filter would apply to the emulator's own host system calls")
	for _, mode := range []string{"filter-first", "probe-first"} {
		t.Run(mode, func(t *testing.T) {
			cmd := testenv.Child(t, "no-time64", mode)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
					t.Fatalf("setting up the child: %v\n%s", err, stderr.String())
				}
				t.Fatalf("futex without futex_time64: %v\n%s", err, stderr.String())
			}
		})
	}
}

// TestClassicTimespecPath forces the futex(2)-with-32-bit-timespec path in
// this process (on 64-bit architectures it is the ordinary path), so it
// runs everywhere, also under emulation.
func TestClassicTimespecPath(t *testing.T) {
	forceClassic.Store(true)
	defer forceClassic.Store(false)
	if err := exerciseFutex(); err != nil {
		t.Fatal(err)
	}
}

func TestOldTimespecClamps(t *testing.T) {
	far := int64(1) << 40 // beyond 2038
	got := oldTimespec(&abi.Timespec{Sec: far, Nsec: 5})
	want := abi.OldTimespec{Sec: int(maxOldSec), Nsec: 999_999_999}
	if classicIsTime64 {
		want = abi.OldTimespec{Sec: int(far), Nsec: 5}
	}
	if got != want {
		t.Fatalf("oldTimespec(2^40 s) = %+v, want %+v", got, want)
	}
	if got := oldTimespec(&abi.Timespec{Sec: 7, Nsec: 8}); got.Sec != 7 || got.Nsec != 8 {
		t.Fatalf("oldTimespec(7s 8ns) = %+v", got)
	}
}
