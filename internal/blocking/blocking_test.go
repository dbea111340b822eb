package blocking

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
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

const (
	ipcPrivate = 0
	ipcCreat   = 0o1000
	ipcRmid    = 0
)

// sembuf is struct sembuf.
type sembuf struct {
	num uint16
	op  int16
	flg int16
}

// semWait blocks on semaphore 0 of set id (value 0) for up to d and
// returns the errno: EAGAIN when the timeout passes, EINTR when a signal
// interrupts it.
func semWait(id int, d time.Duration) unix.Errno {
	op := sembuf{op: -1}
	ts := abi.DurationToTimespec(d) // 64-bit time: semtimedop_time64 on 32-bit architectures
	_, _, e := unix.Syscall6(abi.SysSemtimedop, uintptr(id), uintptr(unsafe.Pointer(&op)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0)
	return e
}

func newSem(t testing.TB) int {
	id, _, e := unix.Syscall(unix.SYS_SEMGET, ipcPrivate, 1, ipcCreat|0o600)
	if e != 0 {
		t.Fatalf("semget: %v", e)
	}
	t.Cleanup(func() { unix.Syscall6(unix.SYS_SEMCTL, id, 0, ipcRmid, 0, 0, 0) })
	return int(id)
}

func init() {
	// stray-signal: the race in which the signaller has seen the call
	// running, the call returns, and the signal is sent after
	// Interruptible returned. The hook holds the signaller in that window
	// (for at most 200ms) until this goroutine, on the same locked thread,
	// is blocked in another semtimedop, which must not be interrupted.
	// Run with GODEBUG=asyncpreemptoff=1, so that the runtime's own
	// preemption signals cannot cause an EINTR here.
	testenv.RegisterChild("stray-signal", func([]string) int {
		id, _, e := unix.Syscall(unix.SYS_SEMGET, ipcPrivate, 1, ipcCreat|0o600)
		if e != 0 {
			fmt.Fprintln(os.Stderr, "semget:", e)
			return 2
		}
		defer unix.Syscall6(unix.SYS_SEMCTL, id, 0, ipcRmid, 0, 0, 0)
		runtime.LockOSThread() // the follow-up call runs on the same thread
		entered := make(chan struct{})
		release := make(chan struct{})
		first := true
		testHookBeforeSignal = func() {
			if !first {
				return
			}
			first = false
			close(entered)
			select {
			case <-release:
				time.Sleep(20 * time.Millisecond) // let the follow-up call block
			case <-time.After(200 * time.Millisecond):
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		Interruptible(ctx, func() unix.Errno {
			cancel()
			<-entered // the signaller has seen this call running
			return 0
		})
		close(release)
		if e := semWait(int(id), 300*time.Millisecond); e != unix.EAGAIN {
			fmt.Fprintf(os.Stderr, "a blocking call after Interruptible returned: %v, want EAGAIN (timed out); EINTR is Interruptible's stray signal\n", e)
			return 1
		}
		return 0
	})
}

func TestNoSignalAfterReturn(t *testing.T) {
	for i := 0; i < 3; i++ {
		cmd := testenv.Child(t, "stray-signal")
		cmd.Env = append(cmd.Env, "GODEBUG=asyncpreemptoff=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, stderr.String())
		}
	}
}

// TestCancelInterrupts checks the basic promise: a blocked call returns
// EINTR soon after ctx is cancelled, and EAGAIN-free calls are untouched.
func TestCancelInterrupts(t *testing.T) {
	id := newSem(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	e := Interruptible(ctx, func() unix.Errno { return semWait(id, time.Minute) })
	if e != unix.EINTR {
		t.Fatalf("Interruptible after cancel: %v, want EINTR", e)
	}
	if e := Interruptible(context.Background(), func() unix.Errno { return semWait(id, time.Millisecond) }); e != unix.EAGAIN {
		t.Fatalf("Interruptible with an uncancellable context: %v, want EAGAIN", e)
	}
}

// Arming and disarming the interruption for a call that can be cancelled
// allocates nothing.
func TestInterruptibleNoAllocs(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts differ under the race detector; test.sh runs this without it")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	call := func() unix.Errno { return 0 }
	Interruptible(ctx, call)
	if n := testing.AllocsPerRun(1000, func() { Interruptible(ctx, call) }); n != 0 {
		t.Fatalf("%v allocations per Interruptible, want 0", n)
	}
}
