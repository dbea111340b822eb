package futex

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/race"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

func TestMain(m *testing.M) {
	testenv.RunChildIfAsked()
	ipctest.Main(m)
}

func init() {
	// futex-waiter: maps the memfd on fd 3; word 1 := 1 (ready), then waits
	// while word 0 == 0 and exits 0 once it reads 1.
	testenv.RegisterChild("futex-waiter", func(args []string) int {
		mem, err := unix.Mmap(3, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		w := (*[2]uint32)(unsafe.Pointer(&mem[0]))
		if len(args) > 0 && args[0] == "classic" {
			disableFutex2.Store(true)
		}
		atomic.StoreUint32(&w[1], 1)
		Wake(&w[1], WakeAll)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for atomic.LoadUint32(&w[0]) == 0 {
			if err := WaitContext(ctx, &w[0], 0); err != nil {
				fmt.Fprintln(os.Stderr, "child wait:", err)
				return 1
			}
		}
		return 0
	})
}

// both runs f with futex_waitv (where the kernel has it) and with the
// classic FUTEX_WAIT fallback.
func both(t *testing.T, f func(t *testing.T)) {
	t.Run("waitv", func(t *testing.T) {
		if !HaveWaitv() {
			skipNoWaitv(t)
		}
		f(t)
	})
	t.Run("classic", func(t *testing.T) {
		disableFutex2.Store(true)
		defer disableFutex2.Store(false)
		f(t)
	})
}

// skipNoWaitv skips a futex_waitv test where the call is missing: by
// design under qemu-user (the legs set IPCKIT_EXEC), which does not pass
// it through; on a real kernel older than 5.16 it is a CI failure.
func skipNoWaitv(t *testing.T) {
	t.Helper()
	testenv.RequireFutexWaitv(t, false)
}

func TestProbes(t *testing.T) {
	var u unix.Utsname
	unix.Uname(&u)
	t.Logf("kernel %s: futex_waitv=%v futex2 wake/wait=%v", unix.ByteSliceToString(u.Release[:]), HaveWaitv(), HaveFutex2())
}

func TestMismatchReturnsAtOnce(t *testing.T) {
	var w uint32 = 7
	if _, err := Futex(&w, OpWait, 8, nil, nil, 0); err != unix.EAGAIN {
		t.Fatalf("raw FUTEX_WAIT with a stale value: got %v, want EAGAIN", err)
	}
	if err := Wait(&w, 8, -1); err != nil {
		t.Fatalf("Wait with a stale value: %v", err)
	}
	both(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := WaitContext(ctx, &w, 8); err != nil {
			t.Fatalf("WaitContext with a stale value: %v", err)
		}
	})
	if err := WaitBitsetAbs(&w, 8, nil, true); err != nil {
		t.Fatalf("WaitBitsetAbs with a stale value: %v", err)
	}
}

// TestTimeout gives every wait a word of its own: a cancellation hook of an
// earlier wait may still wake its old word once after that wait returned (a
// spurious wake-up, which the futex contract allows), and must not be
// mistaken for a missed timeout here.
func TestTimeout(t *testing.T) {
	start := time.Now()
	if err := Wait(new(uint32), 0, 30*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Wait: %v, want os.ErrDeadlineExceeded", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("Wait returned after %v, before its timeout", d)
	}
	both(t, func(t *testing.T) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		if err := WaitContext(ctx, new(uint32), 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitContext: %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d < 30*time.Millisecond || d > 5*time.Second {
			t.Fatalf("WaitContext returned after %v for a 30ms deadline", d)
		}
	})
	for _, rt := range []bool{false, true} {
		var now unix.Timespec
		clk := int32(unix.CLOCK_MONOTONIC)
		if rt {
			clk = unix.CLOCK_REALTIME
		}
		unix.ClockGettime(clk, &now)
		dl := ts(int64(now.Sec)*1e9 + int64(now.Nsec) + int64(20*time.Millisecond))
		if err := WaitBitsetAbs(new(uint32), 0, &dl, rt); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("WaitBitsetAbs(realtime=%v): %v", rt, err)
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := WaitContext(ctx, new(uint32), 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext past its deadline: %v", err)
	}
}

func TestCancel(t *testing.T) {
	both(t, func(t *testing.T) {
		w := new(uint32)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- WaitContext(ctx, w, 0) }()
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
			t.Logf("returned %v after cancel", time.Since(start))
		case <-time.After(5 * time.Second):
			t.Fatal("WaitContext did not return within 5s of cancellation")
		}
	})
}

// With futex_waitv a cancellation wakes only the cancelled waiter: a
// second waiter on the same word sees no wake-up at all.
func TestWaitvCancelIsTargeted(t *testing.T) {
	if !HaveWaitv() {
		skipNoWaitv(t)
	}
	w := new(uint32)
	var wakes atomic.Int32
	other := make(chan struct{})
	go func() {
		for atomic.LoadUint32(w) == 0 {
			Wait(w, 0, -1)
			wakes.Add(1)
		}
		close(other)
	}()
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- WaitContext(ctx, w, 0) }()
		time.Sleep(2 * time.Millisecond)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	}
	if n := wakes.Load(); n != 0 {
		t.Errorf("the other waiter was woken %d times by cancellations", n)
	}
	atomic.StoreUint32(w, 1)
	Wake(w, WakeAll)
	select {
	case <-other:
	case <-time.After(10 * time.Second):
		t.Fatal("other waiter not woken")
	}
}

func TestWakeAll(t *testing.T) {
	w := new(uint32)
	const n = 3
	done := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		go func() {
			for atomic.LoadUint32(w) == 0 {
				Wait(w, 0, -1)
			}
			done <- struct{}{}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	atomic.StoreUint32(w, 1)
	if _, err := Wake(w, WakeAll); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("waiter not woken")
		}
	}
	if k, _ := Wake(w, 1); k != 0 {
		t.Fatalf("Wake with no waiters woke %d", k)
	}
}

func TestCrossProcessWake(t *testing.T) {
	for _, mode := range []string{"waitv", "classic"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "waitv" && !HaveWaitv() {
				skipNoWaitv(t)
			}
			fd, err := unix.MemfdCreate("futex-test", unix.MFD_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			f := os.NewFile(uintptr(fd), "memfd")
			defer f.Close()
			if err := f.Truncate(4096); err != nil {
				t.Fatal(err)
			}
			mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Munmap(mem)
			w := (*[2]uint32)(unsafe.Pointer(&mem[0]))
			cmd := testenv.Child(t, "futex-waiter", mode)
			cmd.ExtraFiles = []*os.File{f}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for atomic.LoadUint32(&w[1]) == 0 {
				if err := WaitContext(ctx, &w[1], 0); err != nil {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("child never became ready: %v", err)
				}
			}
			time.Sleep(20 * time.Millisecond) // let it block in the kernel
			atomic.StoreUint32(&w[0], 1)
			if _, err := Wake(&w[0], 1); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("child: %v", err)
			}
		})
	}
}

func TestZeroAllocs(t *testing.T) {
	w := new(uint32)
	*w = 1
	bg := context.Background()
	n := testing.AllocsPerRun(100, func() {
		Wake(w, 1)
		Wait(w, 0, -1)              // mismatch
		WaitContext(bg, w, 0)       // mismatch, uncancellable context
		Wait(w, 1, time.Nanosecond) // times out at once
	})
	if n != 0 {
		t.Fatalf("%v allocs per run, want 0", n)
	}
}

func ts(ns int64) abi.Timespec { return abi.NsecToTimespec(ns) }

func BenchmarkWakeNoWaiters(b *testing.B) {
	w := new(uint32)
	b.ReportAllocs()
	for b.Loop() {
		Wake(w, 1)
	}
}

// A wait that sleeps with a cancellable context, and is woken by another
// goroutine, makes no allocation either, on both paths (futex_waitv with a
// private cancellation word, and the classic wake-all).
func TestZeroAllocsCancellableSleep(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts differ under the race detector; test.sh runs this without it")
	}
	both(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := new(uint32)
		// The waker and the waiter hand over through atomics, not channels:
		// a blocking channel operation can allocate a sudog.
		var req, ack, quit atomic.Int32
		go func() {
			for quit.Load() == 0 {
				if req.Load() == ack.Load() {
					runtime.Gosched()
					continue
				}
				time.Sleep(100 * time.Microsecond) // let the waiter fall asleep
				atomic.StoreUint32(w, 1)
				Wake(w, 1)
				ack.Add(1)
			}
		}()
		defer quit.Store(1)
		round := func() {
			atomic.StoreUint32(w, 0)
			req.Add(1)
			for atomic.LoadUint32(w) == 0 {
				if err := WaitContext(ctx, w, 0); err != nil {
					t.Fatal(err)
				}
			}
			for ack.Load() != req.Load() {
				runtime.Gosched()
			}
		}
		round()
		// Count every allocation of the process over many sleeps (AllocsPerRun
		// would round a few per sleep down to zero): before the waits used a
		// reusable hook, each sleep allocated one or two.
		const rounds = 300
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range rounds {
			round()
		}
		runtime.ReadMemStats(&after)
		// The runtime allocates now and then for itself (a new thread when one
		// blocks in the kernel), so allow a few; one per sleep fails.
		if n := after.Mallocs - before.Mallocs; n > rounds/4 {
			t.Fatalf("%d allocations in %d cancellable sleeps, want none", n, rounds)
		}
	})
}
