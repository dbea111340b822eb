package mmapring

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/testenv"
)

// denyFutexWake installs a seccomp filter (on every thread of this
// process) that makes each FUTEX_WAKE on a shared futex fail with ENOSYS,
// as a kernel without the call would. The Go runtime's own futexes are
// private (FUTEX_WAKE_PRIVATE) and unaffected.
func denyFutexWake() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	opOff := uint32(24) // seccomp_data.args[1], its low 32 bits
	var one uint16 = 1
	if *(*byte)(unsafe.Pointer(&one)) == 0 {
		opOff += 4
	}
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, Jf: 0, K: uint32(unix.SYS_FUTEX)},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: uint32(abi.SysFutex)},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: opOff},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: 1}, // FUTEX_WAKE
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	const setModeFilter, flagTsync = 1, 1
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, setModeFilter, flagTsync, uintptr(unsafe.Pointer(&prog))); e != 0 {
		return e
	}
	return nil
}

// TestFaultWakeFails (item 8): a producer whose FUTEX_WAKE fails (ENOSYS,
// as on a kernel without the call) still publishes its message, and says
// so: Go's Send returns an error matching ErrWakeFailed and the errno; the
// C header counts it in wake_failures. The sleeping consumer still gets
// the message (within its liveness interval).
func TestFaultWakeFails(t *testing.T) {
	testenv.SkipUnderEmulation(t, "qemu-user does not implement seccomp (ENOSYS): a guest cannot filter its own system calls")
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		for _, kind := range []Kind{KindSPSC, KindMPMC} {
			r := newRing(t, Config{Kind: kind, Capacity: 256, CellSize: 32})
			c, err := r.Consumer()
			if err != nil {
				t.Fatal(err)
			}
			c.SetSpin(0)
			got := make(chan string, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), guard)
				defer cancel()
				buf := make([]byte, 32)
				n, err := c.Receive(ctx, buf)
				if err != nil {
					got <- statusOf(err)
					return
				}
				got <- string(buf[:n])
			}()
			for atomic32(r, offDataWaiters) == 0 {
				time.Sleep(time.Millisecond)
			}
			wantLines(t, runPeer(t, pk, r, guard, "send-nowake", "5000", "detach", "hello"), "wakefailed", "done")
			if m := <-got; m != "hello" {
				t.Fatalf("%v: the sleeping consumer got %q", kind, m)
			}
			c.Close()
		}
	})
}
