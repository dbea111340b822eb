package semaphore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/futex"
)

// blockedOn reports whether thread tid of this process sleeps in a system
// call whose first argument is addr (a futex wait on that word):
// /proc/PID/task/TID/syscall shows the call only while the thread is
// descheduled inside it, and a futex waiter is descheduled only once it is
// queued on the word.
func blockedOn(tid int, addr unsafe.Pointer) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/syscall", tid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 1 && f[1] == fmt.Sprintf("%#x", uintptr(addr))
}

type wakeTestKey struct{}

// wakeTestWaiter marks a locker's context for the mutexWait hook.
type wakeTestWaiter struct {
	tid     atomic.Int32
	consume bool // wait for a real wake-up, then report context.Canceled
}

// A locker whose wait consumes the Unlock's single wake-up and reports a
// cancellation in the same step (what futex_waitv returns when the
// cancellation word and the lock word are both woken) must pass the wake-up
// on: the other waiter would otherwise sleep beside a free lock for good.
//
// The order is made deterministic: the consuming waiter is queued on the
// lock word before the second one (checked in /proc), and the kernel wakes
// waiters of equal priority in FIFO order.
//
// Before the fix, the second waiter stayed asleep with the lock word 0 and
// the test failed with "lost wake-up".
func TestMutexCancelledWaiterPassesWakeOn(t *testing.T) {
	requireMutex(t)
	_, mem := shmFile(t)
	m, err := InitMutex(mem, 0, MutexNormal)
	mustf(t, err, "init")
	lock := m.u32(mxLock)

	mutexWait = func(ctx context.Context, addr *uint32, val uint32) error {
		w, _ := ctx.Value(wakeTestKey{}).(*wakeTestWaiter)
		if w == nil {
			return futex.WaitContext(ctx, addr, val)
		}
		w.tid.Store(int32(unix.Gettid()))
		if !w.consume {
			return futex.Wait(addr, val, -1)
		}
		for atomic.LoadUint32(addr) == val {
			if err := futex.Wait(addr, val, -1); err != nil {
				return err
			}
		}
		return context.Canceled
	}
	t.Cleanup(func() { mutexWait = futex.WaitContext })

	for round := 0; round < 20; round++ {
		held, release, unlocked := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			if err := m.Lock(context.Background()); err != nil {
				unlocked <- err
				close(held)
				return
			}
			close(held)
			<-release
			unlocked <- m.Unlock()
		}()
		<-held

		w1 := &wakeTestWaiter{consume: true}
		w2 := &wakeTestWaiter{}
		err1, err2 := make(chan error, 1), make(chan error, 1)
		go func() { err1 <- m.Lock(context.WithValue(context.Background(), wakeTestKey{}, w1)) }()
		eventually(t, "the first waiter to sleep on the lock word", func() bool {
			return w1.tid.Load() != 0 && blockedOn(int(w1.tid.Load()), unsafe.Pointer(lock))
		})
		go func() {
			err := m.Lock(context.WithValue(context.Background(), wakeTestKey{}, w2))
			if err == nil {
				err = m.Unlock()
			}
			err2 <- err
		}()
		eventually(t, "the second waiter to sleep on the lock word", func() bool {
			return w2.tid.Load() != 0 && blockedOn(int(w2.tid.Load()), unsafe.Pointer(lock))
		})

		close(release)
		mustf(t, <-unlocked, "holder's unlock")
		if err := <-err1; !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: the cancelled waiter: %v", round, err)
		}
		select {
		case err := <-err2:
			mustf(t, err, "round %d: the other waiter", round)
		case <-time.After(20 * time.Second):
			v, _ := m.State()
			futex.Wake(lock, futex.WakeAll) // let the stranded waiter finish
			<-err2
			t.Fatalf("round %d: lost wake-up: the other waiter still slept 20s after the unlock, lock word %#x", round, v)
		}
	}
	if v, _ := m.State(); v != 0 {
		t.Fatalf("lock word %#x at the end", v)
	}
}

// Lockers that give up just as the mutex is released must never strand a
// waiter that does not give up. Each round a holder has the mutex, several
// lockers with cancellable contexts queue first and a patient locker
// after them; then the holder cancels their contexts and unlocks at once,
// so the Unlock's one wake-up usually lands on a waiter that is being
// cancelled. After that nothing else touches the mutex: the patient
// locker gets it only if the wake-up was passed on. This runs the real
// futex waits (futex_waitv where the kernel has it).
//
// Before the fix it failed within a few rounds with "stranded".
func TestMutexCancelledLockersStress(t *testing.T) {
	requireMutex(t)
	_, mem := shmFile(t)
	m, err := InitMutex(mem, 0, MutexNormal)
	mustf(t, err, "init")
	const impatient = 4
	rounds := 200
	if testing.Short() {
		rounds = 30
	}
	next, held, release, unlocked := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		for r := 0; r < rounds; r++ {
			<-next
			if err := m.Lock(context.Background()); err != nil {
				unlocked <- err
				return
			}
			held <- struct{}{}
			<-release
			unlocked <- m.Unlock()
		}
	}()
	for r := 0; r < rounds; r++ {
		next <- struct{}{}
		<-held
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := 0; i < impatient; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if m.Lock(ctx) == nil {
					m.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond) // let some of them queue first
		patient := make(chan error, 1)
		go func() {
			err := m.Lock(context.Background())
			if err == nil {
				err = m.Unlock()
			}
			patient <- err
		}()
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
		cancel()
		release <- struct{}{}
		mustf(t, <-unlocked, "round %d: holder's unlock", r)
		wg.Wait()
		select {
		case err := <-patient:
			mustf(t, err, "round %d: patient locker", r)
		case <-time.After(20 * time.Second):
			v, _ := m.State()
			futex.Wake(m.u32(mxLock), futex.WakeAll)
			<-patient
			t.Fatalf("round %d: the patient locker was stranded 20s beside lock word %#x", r, v)
		}
	}
	if v, _ := m.State(); v != 0 {
		t.Fatalf("lock word %#x at the end", v)
	}
}
