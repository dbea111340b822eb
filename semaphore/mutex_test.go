package semaphore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/shmname"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

func init() {
	// Keep the main goroutine on the main thread, so that no goroutine
	// that dies holding a robust mutex runs on m0, which the Go runtime
	// wedges instead of ending (docs/ABI.md §3.3).
	runtime.LockOSThread()

	// mutex-holder PATH OFF MODE: MODE "loop" locks and unlocks the mutex
	// forever, marking a flag at OFF+64 while inside and keeping two
	// counters (OFF+68, OFF+72) equal; "hold" locks once and sleeps.
	testenv.RegisterChild("mutex-holder", func(args []string) int {
		mem, err := mapFile(args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		off, _ := strconv.Atoi(args[1])
		m, err := AttachMutex(mem, off)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		w := (*[3]uint32)(unsafe.Pointer(&mem[off+64]))
		ready := false
		for {
			err := m.Lock(context.Background())
			if errors.Is(err, ErrOwnerDead) {
				atomic.StoreUint32(&w[2], atomic.LoadUint32(&w[1])) // repair
				m.Consistent()
			} else if err != nil {
				fmt.Fprintln(os.Stderr, "child lock:", err)
				return 1
			}
			atomic.StoreUint32(&w[0], 1)
			if args[2] == "hold" {
				fmt.Println("held")
				select {}
			}
			a := atomic.AddUint32(&w[1], 1)
			for i := 0; i < rand.IntN(2000); i++ {
				runtime.Gosched()
			}
			atomic.StoreUint32(&w[2], a)
			atomic.StoreUint32(&w[0], 0)
			m.Unlock()
			for i := 0; i < rand.IntN(2000); i++ {
				runtime.Gosched()
			}
			if !ready {
				fmt.Println("ready")
				ready = true
			}
		}
	})
}

func mapFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

// shmFile makes a 4 KiB file in /dev/shm, maps it, and removes both at the
// end of the test.
func shmFile(t testing.TB) (string, []byte) {
	t.Helper()
	path := shmname.Dir + ipctest.Name("mutex")
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	mustf(t, err, "create")
	defer unix.Close(fd)
	t.Cleanup(func() { os.Remove(path) })
	mustf(t, unix.Ftruncate(fd, 4096), "truncate")
	mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	mustf(t, err, "mmap")
	t.Cleanup(func() { unix.Munmap(mem) })
	return path, mem
}

// requireMutex skips where Mutex cannot work by design: 32-bit targets
// (ErrNotSupported) and qemu-user, which does not implement robust futex
// lists (set_robust_list and get_robust_list fail with ENOSYS).
func requireMutex(t testing.TB) {
	t.Helper()
	if err := mutexSupported(); err != nil {
		t.Skipf("Mutex is not available on %s: %v", runtime.GOARCH, err)
	}
	var cur, size uintptr
	if _, _, e := unix.RawSyscall(unix.SYS_GET_ROBUST_LIST, 0, uintptr(unsafe.Pointer(&cur)), uintptr(unsafe.Pointer(&size))); e == unix.ENOSYS {
		t.Skip("no robust futex lists here (qemu-user does not implement get_robust_list/set_robust_list)")
	}
}

// onThread runs f in a fresh goroutine and waits for it: lock and unlock
// must happen on one goroutine.
func onThread(f func()) {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	<-done
}

func TestMutexBasics(t *testing.T) {
	requireMutex(t)
	_, mem := shmFile(t)
	m, err := InitMutex(mem, 0, MutexNormal)
	mustf(t, err, "init")
	if k := *(*uint32)(unsafe.Pointer(&mem[mxKind])); k != 0x90 {
		t.Fatalf("__kind %#x, want 0x90 (robust|pshared)", k)
	}
	ctx := testCtx(t)
	onThread(func() {
		mustf(t, m.Lock(ctx), "lock")
		lock, owner := m.State()
		if tid := uint32(unix.Gettid()); lock != tid || owner != tid {
			t.Errorf("after Lock: lock %#x owner %d, want TID %d", lock, owner, tid)
		}
		onThread(func() {
			if err := m.TryLock(); !errors.Is(err, ErrBusy) || !errors.Is(err, unix.EBUSY) || !errors.Is(err, unix.EAGAIN) {
				t.Errorf("TryLock while held: %v", err)
			}
			if err := m.Unlock(); !errors.Is(err, ErrNotOwner) {
				t.Errorf("Unlock by a non-owner: %v", err)
			}
			c, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
			defer cancel()
			if err := m.Lock(c); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Lock with a deadline while held: %v", err)
			}
		})
		mustf(t, m.Unlock(), "unlock")
		if err := m.Unlock(); !errors.Is(err, ErrNotOwner) {
			t.Errorf("second Unlock: %v", err)
		}
		// The robust list is empty again.
		h := lookupThread(uint32(unix.Gettid()))
		t.Logf("robust list head: own=%v (cgo binaries share glibc's)", h.own)
		if h.count() != 1 || h.pending() != 0 {
			t.Errorf("robust list not empty after unlock: first %#x pending %#x", h.first(), h.pending())
		}
	})
	if lock, owner := m.State(); lock != 0 || owner != 0 {
		t.Fatalf("after Unlock: lock %#x owner %d", lock, owner)
	}

	ec, err := InitMutex(mem, 64, MutexErrorCheck)
	mustf(t, err, "init errorcheck")
	rc, err := InitMutex(mem, 128, MutexRecursive)
	mustf(t, err, "init recursive")
	onThread(func() {
		mustf(t, ec.Lock(ctx), "lock")
		if err := ec.Lock(ctx); !errors.Is(err, ErrDeadlock) {
			t.Errorf("errorcheck relock: %v", err)
		}
		mustf(t, ec.Unlock(), "unlock")
		for i := 0; i < 3; i++ {
			mustf(t, rc.Lock(ctx), "recursive lock %d", i)
		}
		// Nested locks of two mutexes: both on the robust list.
		mustf(t, m.Lock(ctx), "lock m")
		h := lookupThread(uint32(unix.Gettid()))
		if n := h.count(); n != 3 {
			t.Errorf("%d entries on the robust list, want 3 (two mutexes and the sentinel)", n)
		}
		for i := 0; i < 3; i++ {
			mustf(t, rc.Unlock(), "recursive unlock %d", i)
		}
		if err := rc.Unlock(); !errors.Is(err, ErrNotOwner) {
			t.Errorf("recursive over-unlock: %v", err)
		}
		mustf(t, m.Unlock(), "unlock m")
		if h.count() != 1 {
			t.Errorf("robust list not empty")
		}
	})

	// Attach refuses what is not a robust pshared non-PI mutex.
	for _, k := range []uint32{0, 0x80, 0x10, 0x90 | 32} {
		*(*uint32)(unsafe.Pointer(&mem[256+mxKind])) = k
		if _, err := AttachMutex(mem, 256); !errors.Is(err, unix.EINVAL) {
			t.Errorf("AttachMutex with __kind %#x: %v", k, err)
		}
	}
	for _, off := range []int{-8, 4, 4090, 5000} {
		if _, err := InitMutex(mem, off, MutexNormal); !errors.Is(err, unix.EINVAL) {
			t.Errorf("InitMutex at %d: %v", off, err)
		}
	}
	if _, err := InitMutex(mem, 0, MutexType(7)); !errors.Is(err, unix.EINVAL) {
		t.Errorf("bad type: %v", err)
	}
}

// Mutual exclusion between Go goroutines (on many threads) and a C
// process, counting with plain read-modify-write.
func TestMutexExclusionWithC(t *testing.T) {
	requireMutex(t)
	bin := buildPeer(t, "", "sem_mutex", "sem_mutex.c")
	path, mem := shmFile(t)
	runPeer(t, bin, path, "0", "init")
	m, err := AttachMutex(mem, 0)
	mustf(t, err, "attach the C-initialised mutex")
	counter := (*uint32)(unsafe.Pointer(&mem[64]))
	const n = 2000
	p := startPeerLine(t, bin, path, "0", "count", strconv.Itoa(n))
	ctx := testCtx(t)
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < n/4; i++ {
				if err := m.Lock(ctx); err != nil {
					done <- err
					return
				}
				c := *counter
				if i%16 == 0 {
					runtime.Gosched()
				}
				*counter = c + 1
				if err := m.Unlock(); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		mustf(t, <-done, "Go locker")
	}
	p.expect("counted")
	p.wait()
	if *counter != 2*n {
		t.Fatalf("counter %d, want %d: mutual exclusion broken", *counter, 2*n)
	}
	if lock, _ := m.State(); lock != 0 {
		t.Fatalf("lock word %#x after all unlocked", lock)
	}
}

// startPeerLine is startPeer for sem_mutex, whose ready line carries a TID.
func startPeerLine(t testing.TB, bin string, args ...string) *peer {
	return startPeer(t, bin, args...)
}

func TestMutexOwnerDeathWithC(t *testing.T) {
	requireMutex(t)
	bin := buildPeer(t, "", "sem_mutex", "sem_mutex.c")
	path, mem := shmFile(t)
	m, err := InitMutex(mem, 0, MutexNormal)
	mustf(t, err, "init")
	ctx := testCtx(t)

	// A C holder is SIGKILLed: Go gets ErrOwnerDead, repairs, goes on.
	p := startPeer(t, bin, path, "0", "hold")
	p.expect("held 0")
	p.cmd.Process.Kill()
	onThread(func() {
		err := m.Lock(ctx)
		if !errors.Is(err, ErrOwnerDead) || !errors.Is(err, unix.EOWNERDEAD) {
			t.Fatalf("Lock after the C holder died: %v", err)
		}
		if _, owner := m.State(); owner != ownerInconsist {
			t.Errorf("__owner %#x, want INCONSISTENT", owner)
		}
		mustf(t, m.Consistent(), "consistent")
		mustf(t, m.Unlock(), "unlock")
	})
	if out := runPeer(t, bin, path, "0", "lock", "unlock"); out[0] != "lock 0" {
		t.Fatalf("C after Go repaired: %q", out)
	}

	// A C holder exits holding it while Go waits: the kernel wakes Go.
	errs := make(chan error, 1)
	p = startPeer(t, bin, path, "0", "lock", "sleep", "100", "exit")
	p.expect("lock 0")
	go func() {
		err := m.Lock(ctx)
		if err == nil || errors.Is(err, ErrOwnerDead) {
			m.Unlock() // without Consistent after ErrOwnerDead: unrecoverable
		}
		errs <- err
	}()
	if err := <-errs; !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("blocked Go waiter when the C holder exited: %v", err)
	}
	p.wait()
	// Go unlocked without Consistent: C and Go now see NOTRECOVERABLE.
	if out := runPeer(t, bin, path, "0", "lock"); out[0] != "lock ENOTRECOVERABLE" {
		t.Fatalf("C: %q, want ENOTRECOVERABLE", out)
	}
	onThread(func() {
		if err := m.Lock(ctx); !errors.Is(err, ErrNotRecoverable) {
			t.Errorf("Go: %v, want ErrNotRecoverable", err)
		}
		if err := m.TryLock(); !errors.Is(err, ErrNotRecoverable) {
			t.Errorf("Go TryLock: %v, want ErrNotRecoverable", err)
		}
	})

	// Go holds, C blocks in timedlock, Go unlocks: C is woken.
	m, err = InitMutex(mem, 0, MutexNormal)
	mustf(t, err, "reinit")
	onThread(func() {
		mustf(t, m.Lock(ctx), "lock")
		p := startPeer(t, bin, path, "0", "timedlock", "20000", "unlock")
		eventually(t, "C to block (FUTEX_WAITERS set)", func() bool { l, _ := m.State(); return l&0x80000000 != 0 })
		mustf(t, m.Unlock(), "unlock")
		p.expect("timedlock 0")
		p.expect("unlock 0")
		p.wait()
	})
}

// A Go holder in another process is SIGKILLed at random points of its
// critical section, 25 times: the survivor (Go, then C) never hangs, gets
// ErrOwnerDead exactly when the holder died inside, and the state it
// repairs is consistent afterwards.
func TestMutexKillGoHolder(t *testing.T) {
	requireMutex(t)
	bin := buildPeer(t, "", "sem_mutex", "sem_mutex.c")
	path, mem := shmFile(t)
	m, err := InitMutex(mem, 0, MutexNormal)
	mustf(t, err, "init")
	w := (*[3]uint32)(unsafe.Pointer(&mem[64]))
	ctx := testCtx(t)
	deaths := 0
	iters := 25
	if testing.Short() {
		iters = 6
	}
	for iter := 0; iter < iters; iter++ {
		cmd := testenv.Child(t, "mutex-holder", path, "0", "loop")
		out, err := cmd.StdoutPipe()
		mustf(t, err, "pipe")
		mustf(t, cmd.Start(), "start")
		sc := bufio.NewScanner(out)
		if !sc.Scan() || sc.Text() != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child not ready: %q", sc.Text())
		}
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		cmd.Process.Kill()
		cmd.Wait()
		inside := atomic.LoadUint32(&w[0]) == 1
		if iter%2 == 0 {
			onThread(func() {
				err := m.Lock(ctx)
				switch {
				case errors.Is(err, ErrOwnerDead):
					deaths++
					atomic.StoreUint32(&w[2], atomic.LoadUint32(&w[1]))
					atomic.StoreUint32(&w[0], 0)
					mustf(t, m.Consistent(), "consistent")
				case err != nil:
					t.Fatalf("iteration %d: %v", iter, err)
				case inside:
					t.Fatalf("iteration %d: the holder died inside, but Lock returned nil", iter)
				}
				if w[1] != w[2] {
					t.Fatalf("iteration %d: state inconsistent after lock: %d != %d", iter, w[1], w[2])
				}
				mustf(t, m.Unlock(), "unlock")
			})
		} else {
			// The C side is the survivor.
			res := runPeer(t, bin, path, "0", "timedlock", "20000", "consistent", "unlock")
			switch res[0] {
			case "timedlock EOWNERDEAD":
				deaths++
				atomic.StoreUint32(&w[2], atomic.LoadUint32(&w[1]))
				atomic.StoreUint32(&w[0], 0)
			case "timedlock 0":
				if inside {
					t.Fatalf("iteration %d: the holder died inside, but C's lock returned 0", iter)
				}
			default:
				t.Fatalf("iteration %d: C survivor: %q", iter, res)
			}
		}
	}
	t.Logf("%d kills, %d inside the critical section", iters, deaths)
	if lock, _ := m.State(); lock != 0 {
		t.Fatalf("lock word %#x at the end", lock)
	}
}

// A goroutine that exits while holding the mutex ends its OS thread, and
// the kernel releases the mutex as owner-dead within the same process.
func TestMutexGoroutineExitHolding(t *testing.T) {
	requireMutex(t)
	_, mem := shmFile(t)
	m, err := InitMutex(mem, 0, MutexNormal)
	mustf(t, err, "init")
	done := make(chan struct{})
	var tid uint32
	go func() {
		defer close(done)
		if err := m.Lock(context.Background()); err != nil {
			t.Error(err)
		}
		tid = uint32(unix.Gettid())
		// Return holding it: the runtime ends this locked thread.
	}()
	<-done
	// The kernel walked the dead thread's list: the sentinel that proves a
	// registration alive now reads OWNER_DIED, so a new thread that reuses
	// the TID registers afresh.
	h := lookupThread(tid)
	eventually(t, "the dead thread's sentinel to be marked", func() bool {
		return atomic.LoadUint32(&h.slot.sWord) == futexOwnerDied
	})
	ctx := testCtx(t)
	onThread(func() {
		if err := m.Lock(ctx); !errors.Is(err, ErrOwnerDead) {
			t.Fatalf("Lock after the holding goroutine exited: %v", err)
		}
		m.Consistent()
		mustf(t, m.Unlock(), "unlock")
	})
}

func TestMutexZeroAllocs(t *testing.T) {
	requireMutex(t)
	_, mem := shmFile(t)
	m, err := InitMutex(mem, 0, MutexNormal)
	mustf(t, err, "init")
	bg := context.Background()
	onThread(func() {
		n := testing.AllocsPerRun(1000, func() {
			m.Lock(bg)
			m.Unlock()
			m.TryLock()
			m.Unlock()
		})
		if n != 0 {
			t.Errorf("%v allocs per Lock/Unlock, want 0", n)
		}
	})
}

func TestEvent(t *testing.T) {
	path, mem := shmFile(t)
	e, err := InitEvent(mem, 8)
	mustf(t, err, "init")
	if e.IsSet() {
		t.Fatal("new event is set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := e.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on a clear event: %v", err)
	}
	// Several waiters in this process and one in a child process.
	cmd := testenv.Child(t, "event-waiter", path, "8")
	mustf(t, cmd.Start(), "start")
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { errs <- e.Wait(testCtx(t)) }()
	}
	eventually(t, "waiters", func() bool { return atomic.LoadUint32(e.w)&eventWaiters != 0 })
	time.Sleep(20 * time.Millisecond)
	e.Set()
	for i := 0; i < 3; i++ {
		mustf(t, <-errs, "waiter")
	}
	mustf(t, cmd.Wait(), "child waiter")
	mustf(t, e.Wait(context.Background()), "wait on a set event")
	e.Clear()
	if e.IsSet() {
		t.Fatal("set after Clear")
	}
	e.Set()
	e.Set()
	if n := testing.AllocsPerRun(100, func() { e.Set(); e.Wait(context.Background()); e.IsSet() }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
	if _, err := InitEvent(mem, 4094); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("event out of bounds: %v", err)
	}
	if _, err := AttachEvent(mem, 2); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("misaligned event: %v", err)
	}
}

func init() {
	testenv.RegisterChild("event-waiter", func(args []string) int {
		mem, err := mapFile(args[0])
		if err != nil {
			return 2
		}
		off, _ := strconv.Atoi(args[1])
		e, err := AttachEvent(mem, off)
		if err != nil {
			return 2
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.Wait(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 1
		}
		return 0
	})
}

const futexOwnerDied = 0x40000000

// count walks the kernel-visible list (test only).
func (h *threadList) count() int {
	n := 0
	for p := h.first(); p != uintptr(h.head) && n < 100; p = atomic.LoadUintptr((*uintptr)(ptrAt(p))) {
		n++
	}
	return n
}

// The Event protocol documented in event.go, implemented in C, meets the Go
// implementation both ways.
func TestEventWithC(t *testing.T) {
	bin := buildPeer(t, "", "sem_mutex", "sem_mutex.c")
	path, mem := shmFile(t)
	e, err := InitEvent(mem, 256)
	mustf(t, err, "init")
	// C waits, Go sets.
	p := startPeer(t, bin, path, "0", "eventwait", "256", "20000")
	eventually(t, "the C waiter", func() bool { return atomic.LoadUint32(e.w)&eventWaiters != 0 })
	e.Set()
	p.expect("eventwait 0")
	p.wait()
	// Go waits, C sets.
	e.Clear()
	errs := make(chan error, 1)
	go func() { errs <- e.Wait(testCtx(t)) }()
	eventually(t, "the Go waiter", func() bool { return atomic.LoadUint32(e.w)&eventWaiters != 0 })
	if out := runPeer(t, bin, path, "0", "eventset", "256"); out[0] != "eventset" {
		t.Fatalf("C: %q", out)
	}
	mustf(t, <-errs, "Go waiter")
	// A C wait on a cleared event times out.
	e.Clear()
	if out := runPeer(t, bin, path, "0", "eventwait", "256", "30"); out[0] != "eventwait ETIMEDOUT" {
		t.Fatalf("C: %q", out)
	}
}
