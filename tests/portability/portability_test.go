package portability_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/futex"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

func TestMain(m *testing.M) {
	testenv.RunChildIfAsked()
	ipctest.Main(m)
}

const (
	ipcCreat = 0o1000
	ipcRmid  = 0
	getval   = 12
	setval   = 16
)

var (
	bigEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 0 }()
	wordSize  = int(unsafe.Sizeof(uintptr(0)))
	byteOrder = func() binary.ByteOrder {
		if bigEndian {
			return binary.BigEndian
		}
		return binary.LittleEndian
	}()
)

// cPeer is tests/c/portability_abi.c built for the test's GOARCH.
type cPeer struct{ bin string }

func newPeer(t *testing.T) cPeer {
	t.Helper()
	return cPeer{testenv.BuildC(t, "", "portability_abi", []string{"portability_abi.c"})}
}

// run runs the peer with args and returns its trimmed stdout.
func (p cPeer) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := testenv.Command(p.bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("C peer %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestCTypeSizes pins the sizes that the Go side of ipckit assumes for
// this GOARCH against what the C compiler for it says.
func TestCTypeSizes(t *testing.T) {
	out := newPeer(t).run(t, "sizes")
	t.Logf("GOARCH=%s: %s", runtime.GOARCH, out)
	got := map[string]int{}
	for _, f := range strings.Fields(out) {
		k, v, _ := strings.Cut(f, "=")
		got[k], _ = strconv.Atoi(v)
	}
	want := map[string]int{"long": wordSize, "ptr": wordSize, "sembuf": 6}
	// glibc: 64-bit atomics give a 32-byte sem_t; i386 and 32-bit arm
	// use the 16-byte layout.
	if wordSize == 8 {
		want["sem_t"] = 32
	} else {
		want["sem_t"] = 16
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("C sizeof(%s) = %d on %s, Go assumes %d", k, got[k], runtime.GOARCH, v)
		}
	}
}

func newSemSet(t *testing.T, n int) int {
	t.Helper()
	id, _, errno := unix.Syscall(unix.SYS_SEMGET, 0, uintptr(n), ipcCreat|0o600)
	if errno != 0 {
		t.Fatalf("semget: %v", errno)
	}
	t.Cleanup(func() { unix.Syscall6(unix.SYS_SEMCTL, id, 0, ipcRmid, 0, 0, 0) })
	return int(id)
}

func semGetval(t *testing.T, id, num int) int {
	t.Helper()
	v, _, errno := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), uintptr(num), getval, 0, 0, 0)
	if errno != 0 {
		t.Fatalf("semctl(GETVAL): %v", errno)
	}
	return int(v)
}

func semSetval(t *testing.T, id, num int, arg uintptr) {
	t.Helper()
	if _, _, errno := unix.Syscall6(unix.SYS_SEMCTL, uintptr(id), uintptr(num), setval, arg, 0, 0); errno != 0 {
		t.Fatalf("semctl(SETVAL): %v", errno)
	}
}

// TestSemunByValue shows, on this ABI, how semctl's fourth argument (a C
// union semun passed by value as an unsigned long) carries SETVAL's int:
// in the low half of the register on little-endian and 32-bit
// architectures, in the high half on big-endian 64-bit ones, where the
// kernel reads arg >> 32. The C peer and the Go side must agree both ways.
func TestSemunByValue(t *testing.T) {
	ipctest.CheckLeaks(t)
	p := newPeer(t)
	id := newSemSet(t, 3)

	p.run(t, "setval", itoa(id), "0", "7")
	if v := semGetval(t, id, 0); v != 7 {
		t.Errorf("C SETVAL 7 (union semun by value), Go GETVAL = %d", v)
	}

	// The encoding the kernel expects for this GOARCH.
	arg := uintptr(9)
	if bigEndian && wordSize == 8 {
		arg = high(9)
	}
	semSetval(t, id, 1, arg)
	if v := p.run(t, "getval", itoa(id), "1"); v != "9" {
		t.Errorf("Go SETVAL 9 as %#x, C GETVAL = %s", arg, v)
	}

	// The other encoding must NOT work: this proves the quirk is real on
	// this ABI (and faithfully emulated), not an accident of both.
	if wordSize == 8 {
		wrong := high(5)
		if bigEndian {
			wrong = 5
		}
		semSetval(t, id, 2, wrong)
		if v := semGetval(t, id, 2); v != 0 {
			t.Errorf("SETVAL with the wrong half (%#x) set %d; the kernel should have read 0 on %s", wrong, v, runtime.GOARCH)
		}
	}
}

// high puts v in the upper half of a 64-bit word (0 on 32-bit).
func high(v uint64) uintptr { return uintptr(v << 32) }

// TestMsgbufLongMtype exchanges messages whose type is a C long (4 bytes
// on 386, 8 on 64-bit), in both directions, including msgrcv's negative
// msgtyp (lowest type <= |msgtyp|), which must travel as a long. It runs
// in a private IPC namespace (ipctest.InNewIPCNamespace) with a fixed
// key, which no other process can collide with; the C peer, forked from
// the namespace's thread, shares it.
func TestMsgbufLongMtype(t *testing.T) {
	p := newPeer(t)
	ipctest.InNewIPCNamespace(t, func() {
		const key = 0x1234
		id, _, errno := unix.Syscall(unix.SYS_MSGGET, key, ipcCreat|unix.IPC_EXCL|0o600, 0)
		if errno != 0 {
			t.Fatalf("msgget: %v", errno)
		}
		defer unix.Syscall(unix.SYS_MSGCTL, id, ipcRmid, 0)
		exchangeLongMtype(t, p, id)
	})
}

func exchangeLongMtype(t *testing.T, p cPeer, id uintptr) {
	// C -> Go.
	p.run(t, "msgsnd", itoa(int(id)), "2147483647", "from-c")
	buf := make([]byte, wordSize+64)
	n, _, errno := unix.Syscall6(unix.SYS_MSGRCV, id, uintptr(unsafe.Pointer(&buf[0])), 64, 0, unix.IPC_NOWAIT, 0)
	if errno != 0 {
		t.Fatalf("msgrcv: %v", errno)
	}
	var mtype int64
	if wordSize == 8 {
		mtype = int64(byteOrder.Uint64(buf))
	} else {
		mtype = int64(int32(byteOrder.Uint32(buf)))
	}
	if text := string(buf[wordSize : wordSize+int(n)]); mtype != 2147483647 || text != "from-c" {
		t.Errorf("Go received type %d %q, want 2147483647 \"from-c\"", mtype, text)
	}

	// Go -> C: types 9, 3, 5; C asks for the lowest type <= 5, then any.
	for _, m := range []struct {
		typ  int
		text string
	}{{9, "nine"}, {3, "three"}, {5, "five"}} {
		msg := make([]byte, wordSize+len(m.text))
		if wordSize == 8 {
			byteOrder.PutUint64(msg, uint64(m.typ))
		} else {
			byteOrder.PutUint32(msg, uint32(m.typ))
		}
		copy(msg[wordSize:], m.text)
		if _, _, errno := unix.Syscall6(unix.SYS_MSGSND, id, uintptr(unsafe.Pointer(&msg[0])), uintptr(len(m.text)), unix.IPC_NOWAIT, 0, 0); errno != 0 {
			t.Fatalf("msgsnd: %v", errno)
		}
	}
	if got := p.run(t, "msgrcv", itoa(int(id)), "-5"); got != "3 three" {
		t.Errorf("C msgrcv(msgtyp=-5) = %q, want \"3 three\"", got)
	}
	if got := p.run(t, "msgrcv", itoa(int(id)), "0"); got != "9 nine" {
		t.Errorf("C msgrcv(msgtyp=0) = %q, want \"9 nine\"", got)
	}
	if got := p.run(t, "msgrcv", itoa(int(id)), "5"); got != "5 five" {
		t.Errorf("C msgrcv(msgtyp=5) = %q, want \"5 five\"", got)
	}
}

func newSegment(t *testing.T, size int) (int, []byte) {
	t.Helper()
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, size, ipcCreat|0o600)
	if err != nil {
		t.Fatalf("shmget: %v", err)
	}
	mem, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		t.Fatalf("shmat: %v", err)
	}
	t.Cleanup(func() {
		unix.SysvShmDetach(mem)
		unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	})
	return id, mem
}

// TestShmidDSAgrees compares IPC_STAT of one segment as glibc's struct
// shmid_ds (C) and golang.org/x/sys's SysvShmDesc (Go) see it.
func TestShmidDSAgrees(t *testing.T) {
	ipctest.CheckLeaks(t)
	p := newPeer(t)
	id, _ := newSegment(t, 8192)
	var ds unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &ds); err != nil {
		t.Fatal(err)
	}
	mode := ds.Perm.Mode & 0o777
	goSide := fmt.Sprintf("segsz=%d cpid=%d nattch=%d mode=%o uid=%d", ds.Segsz, ds.Cpid, ds.Nattch, mode, ds.Perm.Uid)
	cSide := p.run(t, "shmstat", itoa(id))
	if testenv.IPCPermModeUnreliable() {
		// qemu-user 7.2 copies ipc_perm.mode as 16 bits for s390x, whose
		// kernel and glibc use a 32-bit mode_t: both sides see mode<<16.
		t.Logf("qemu-user s390x ipc_perm.mode quirk: ignoring mode (Go %o)", mode)
		goSide = goSide[:strings.Index(goSide, " mode=")] + goSide[strings.Index(goSide, " uid="):]
		cSide = cSide[:strings.Index(cSide, " mode=")] + cSide[strings.Index(cSide, " uid="):]
	} else if mode != 0o600 {
		t.Errorf("Go sees mode %o, want 600", mode)
	}
	if goSide != cSide {
		t.Errorf("IPC_STAT disagrees:\n  Go (x/sys SysvShmDesc): %s\n  C  (glibc shmid_ds):    %s", goSide, cSide)
	}
	if ds.Segsz != 8192 || int(ds.Cpid) != os.Getpid() || ds.Nattch != 1 {
		t.Errorf("Go IPC_STAT = %s, want segsz=8192 cpid=%d nattch=1", goSide, os.Getpid())
	}
}

// semValue reads glibc's sem_t value from shared memory, per this ABI:
// 64-bit atomics keep the value in the low 32 bits of a uint64 at offset 0
// (so at byte 4 on big-endian) and the waiter count in the high 32 bits;
// 32-bit ports keep value<<1 | nwaiters-bit in a uint32 at offset 0.
func semWord(mem []byte) *uint32 {
	if wordSize == 8 && bigEndian {
		return (*uint32)(unsafe.Pointer(&mem[4]))
	}
	return (*uint32)(unsafe.Pointer(&mem[0]))
}

func semValue(mem []byte) int {
	v := atomic.LoadUint32(semWord(mem))
	if wordSize == 4 {
		return int(v >> 1)
	}
	return int(v)
}

func semWaiters(mem []byte) int {
	if wordSize == 4 {
		return int(atomic.LoadUint32((*uint32)(unsafe.Pointer(&mem[12]))))
	}
	hi := (*uint32)(unsafe.Pointer(&mem[0]))
	if bigEndian {
		return int(atomic.LoadUint32(hi))
	}
	return int(atomic.LoadUint32((*uint32)(unsafe.Pointer(&mem[4]))))
}

// semPost follows glibc's sem_post: add one to the value, and wake one
// waiter through a shared futex on the value word if any are registered.
func semPost(mem []byte) error {
	if wordSize == 4 {
		v := atomic.AddUint32(semWord(mem), 2)
		if v&1 != 0 {
			_, err := futex.Wake(semWord(mem), 1)
			return err
		}
		return nil
	}
	d := atomic.AddUint64((*uint64)(unsafe.Pointer(&mem[0])), 1)
	if d>>32 != 0 {
		_, err := futex.Wake(semWord(mem), 1)
		return err
	}
	return nil
}

// TestSemTLayoutAndWake checks glibc's sem_t layout on this ABI (value
// word position and encoding, the process-shared flag) and its wake-up
// protocol: a C process blocked in sem_timedwait on a semaphore in SysV
// shared memory is woken by a Go post that uses internal/futex.
func TestSemTLayoutAndWake(t *testing.T) {
	ipctest.CheckLeaks(t)
	p := newPeer(t)
	id, mem := newSegment(t, 4096)
	p.run(t, "seminit", itoa(id), "5")
	privOff := 8
	if wordSize == 4 {
		privOff = 4
	}
	if v := semValue(mem); v != 5 {
		t.Fatalf("after sem_init(5) Go reads value %d (bytes % x)", v, mem[:16])
	}
	if priv := int32(byteOrder.Uint32(mem[privOff:])); priv != 128 {
		t.Errorf("private field at offset %d = %d, want 128 (glibc's encoding of a process-shared semaphore)", privOff, priv)
	}
	if err := semPost(mem); err != nil {
		t.Fatal(err)
	}
	if v := p.run(t, "semgetvalue", itoa(id)); v != "6" {
		t.Errorf("after a Go post, C sem_getvalue = %s, want 6", v)
	}
	p.run(t, "sempost", itoa(id))
	if v := semValue(mem); v != 7 {
		t.Errorf("after a C post, Go reads %d, want 7", v)
	}

	// Drain to zero, then let C block and wake it from Go.
	for semValue(mem) > 0 {
		w := semWord(mem)
		old := atomic.LoadUint32(w)
		dec := uint32(1)
		if wordSize == 4 {
			dec = 2
		}
		atomic.CompareAndSwapUint32(w, old, old-dec)
	}
	cmd := testenv.Command(p.bin, "semwait", itoa(id), "20000")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	line := make([]byte, 8)
	if _, err := stdout.Read(line); err != nil {
		t.Fatalf("C peer: %v", err)
	}
	// "waiting" is printed just before sem_timedwait; poll the waiter
	// count (which C registers before it sleeps) for up to 10 s.
	deadline := time.Now().Add(10 * time.Second)
	for semWaiters(mem) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("C never registered as a waiter: bytes % x", mem[:16])
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if err := semPost(mem); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		rest := make([]byte, 64)
		n, _ := stdout.Read(rest)
		if !strings.Contains(string(line)+string(rest[:n]), "woken") {
			done <- errors.New("C peer did not report a wake-up: " + string(line) + string(rest[:n]))
			return
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("C waiter: %v", err)
		}
		t.Logf("C waiter woken %v after the Go post", time.Since(start))
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("C waiter not woken within 15 s of the Go post (bytes % x)", mem[:16])
	}
}
