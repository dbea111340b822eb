package shmheap

import (
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipckit/ipckit/posix"

	"github.com/ipckit/ipckit/internal/procstat"
)

func lockMem(t *testing.T) *mem {
	t.Helper()
	pg, err := posix.MapAnonymous(4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	b := pg.Bytes()
	return &mem{base: unsafeData(b), size: uint64(len(b))}
}

// TestTakeOverStaleStart is the regression test for a pid-lock takeover
// that paired the lock word of one holder with the start time of another:
// the lock is held by a live process A (here: this test process) and a
// waiter's view of the start time is stale (another holder's). The
// takeover must not happen. Before the fix (two 32-bit reads, a CAS of the
// word alone), takeOver's equivalent judged A dead from the mismatch and
// took the lock.
func TestTakeOverStaleStart(t *testing.T) {
	if !atomic64Shared {
		t.Skip("64-bit atomics are process-local here; liveness is judged by pid alone")
	}
	m := lockMem(t)
	me, start := self()
	// A live holder, with its true start time: not taken over.
	*m.u32(lkWord) = me | pidWaiters
	*m.u32(lkStart) = start
	if takeOver(m, 0, 12345, 1) {
		t.Fatal("took the lock of a live holder")
	}
	// The start time in memory belongs to another process (what a waiter
	// reading the two words apart could see): the pair is judged as one,
	// and a live pid with a foreign start time is a reused pid — dead. But
	// if the word changes between the read and the CAS, the CAS must fail.
	*m.u32(lkStart) = start + 5000
	v := atomic.LoadUint64((*uint64)(m.ptr(0)))
	*m.u32(lkStart) = start // the holder wrote its own start meanwhile
	if atomic.CompareAndSwapUint64((*uint64)(m.ptr(0)), v, packLock(1, 1)) {
		t.Fatal("64-bit CAS ignored the start time")
	}
	if takeOver(m, 0, 12345, 1) {
		t.Fatal("took the lock of a live holder whose start time is current")
	}
	// A dead holder: taken over.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	dead := uint32(cmd.Process.Pid)
	*m.u32(lkWord) = dead
	*m.u32(lkStart) = 0
	if !takeOver(m, 0, me, start) {
		t.Fatal("did not take the lock of a dead holder")
	}
	if w := *m.u32(lkWord); w != me|pidWaiters {
		t.Fatalf("word %#x after takeover", w)
	}
}

// TestPIDLockDeadOwner: a process that dies holding a pid lock is
// detected by the next locker, which gets ownerDead.
func TestPIDLockDeadOwner(t *testing.T) {
	m := lockMem(t)
	cmd := exec.Command("sleep", "0.3")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	pid := uint32(cmd.Process.Pid)
	st, _, _ := procstat.Stat(int(pid))
	*m.u32(lkWord) = pid
	*m.u32(lkStart) = uint32(st)
	go func() { cmd.Wait() }()
	t0 := time.Now()
	if !pidLock(m, 0) {
		t.Fatal("no ownerDead after the holder died")
	}
	if time.Since(t0) < 200*time.Millisecond {
		t.Log("took the lock before the holder died?")
	}
	pidUnlock(m, 0)
	if pidLock(m, 0) {
		t.Fatal("ownerDead on a free lock")
	}
	pidUnlock(m, 0)
	_ = os.Getpid
}
