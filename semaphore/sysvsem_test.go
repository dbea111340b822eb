package semaphore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/race"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/sysv"
)

func init() {
	// sysv-holder ID MODE: "loop" takes and gives back a unit forever;
	// "hold" takes one and sleeps.
	testenv.RegisterChild("sysv-holder", func(args []string) int {
		id, _ := strconv.Atoi(args[0])
		set, err := sysv.SemSetFromID(id)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		s, err := SysVFromSet(set, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		ready := false
		for {
			if err := s.Wait(context.Background()); err != nil {
				fmt.Fprintln(os.Stderr, "child wait:", err)
				return 1
			}
			if args[1] == "hold" {
				fmt.Println("held")
				select {}
			}
			for i := 0; i < rand.IntN(1000); i++ {
				runtime.Gosched()
			}
			if err := s.Post(); err != nil {
				fmt.Fprintln(os.Stderr, "child post:", err)
				return 1
			}
			if !ready {
				fmt.Println("ready")
				ready = true
			}
		}
	})
}

func newSysV(t testing.TB, value int) *SysV {
	t.Helper()
	s, err := CreateSysV(sysv.IPCPrivate, value, nil)
	mustf(t, err, "CreateSysV")
	t.Cleanup(func() { s.Remove() })
	return s
}

func sysvValue(t testing.TB, s *SysV) int {
	t.Helper()
	v, err := s.Value()
	mustf(t, err, "value")
	return v
}

func TestSysVBasics(t *testing.T) {
	s := newSysV(t, 2)
	st, err := s.Set().Stat()
	mustf(t, err, "stat")
	if st.LastOp.IsZero() {
		t.Fatalf("last op %v: want the set initialised by semop", st.LastOp)
	}
	if st.Perm.Mode != 0o600 && os.Getenv("IPCKIT_EXEC") == "" { // qemu-user mistranslates semid_ds on some guests
		t.Fatalf("mode %v, want 0600", st.Perm.Mode)
	}
	mustf(t, s.TryWait(), "trywait")
	mustf(t, s.Wait(context.Background()), "wait")
	if err := s.TryWait(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryWait at 0: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := s.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with deadline: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() { errs <- s.Wait(ctx) }()
	eventually(t, "a waiter", func() bool { n, _, _ := s.Set().Waiting(0); return n == 1 })
	cancel()
	select {
	case err := <-errs:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Wait: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return within 5s of cancel")
	}
	// A blocked waiter is woken by Post.
	go func() { errs <- s.Wait(testCtx(t)) }()
	eventually(t, "a waiter", func() bool { n, _, _ := s.Set().Waiting(0); return n == 1 })
	mustf(t, s.Post(), "post")
	mustf(t, <-errs, "woken waiter")
	if v := sysvValue(t, s); v != 0 {
		t.Fatalf("value %d", v)
	}
	// Removal wakes waiters with EIDRM.
	go func() { errs <- s.Wait(testCtx(t)) }()
	eventually(t, "a waiter", func() bool { n, _, _ := s.Set().Waiting(0); return n == 1 })
	mustf(t, s.Remove(), "remove")
	if err := <-errs; !errors.Is(err, unix.EIDRM) {
		t.Fatalf("Wait on a removed set: %v", err)
	}
	if _, err := CreateSysV(sysv.IPCPrivate, SysVMaxValue+1, nil); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("value above SEMVMX: %v", err)
	}
	m := newSysV(t, SysVMaxValue)
	if err := m.Post(); !errors.Is(err, unix.ERANGE) {
		t.Fatalf("Post at SEMVMX: %v", err)
	}
	if _, err := SysVFromSet(m.Set(), 1); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("semaphore number out of range: %v", err)
	}
}

// SIGKILL a holder that took a unit with SEM_UNDO: the unit comes back.
// Then kill holders that take and give back units in a loop, at random
// points, 20 times: the value is always back to its initial value.
func TestSysVUndoOnKill(t *testing.T) {
	s := newSysV(t, 1)
	start := func(mode string) (*bufio.Scanner, func()) {
		cmd := testenv.Child(t, "sysv-holder", strconv.Itoa(s.Set().ID()), mode)
		out, err := cmd.StdoutPipe()
		mustf(t, err, "pipe")
		mustf(t, cmd.Start(), "start")
		return bufio.NewScanner(out), func() { cmd.Process.Kill(); cmd.Wait() }
	}
	sc, kill := start("hold")
	if !sc.Scan() || sc.Text() != "held" {
		kill()
		t.Fatalf("child: %q", sc.Text())
	}
	if v := sysvValue(t, s); v != 0 {
		kill()
		t.Fatalf("value while held: %d", v)
	}
	kill()
	if v := sysvValue(t, s); v != 1 {
		t.Fatalf("value after the holder was killed: %d, want 1 (SEM_UNDO)", v)
	}
	ctx := testCtx(t)
	iters := 20
	if testing.Short() {
		iters = 6
	}
	for i := 0; i < iters; i++ {
		sc, kill := start("loop")
		if !sc.Scan() || sc.Text() != "ready" {
			kill()
			t.Fatalf("child: %q", sc.Text())
		}
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		kill()
		if v := sysvValue(t, s); v != 1 {
			t.Fatalf("iteration %d: value %d after kill, want 1", i, v)
		}
		// The survivor proceeds.
		mustf(t, s.Wait(ctx), "survivor wait")
		mustf(t, s.Post(), "survivor post")
	}
}

func TestSysVZeroAllocs(t *testing.T) {
	s := newSysV(t, 0)
	bg := context.Background()
	n := testing.AllocsPerRun(200, func() {
		s.Post()
		s.TryWait()
		s.Post()
		s.Wait(bg)
	})
	if n != 0 {
		t.Fatalf("%v allocs per Post/TryWait/Post/Wait, want 0", n)
	}
}

func init() {
	// sysv-opener KEY VALUE: maps the start line on fd 3 (a memfd), counts
	// itself in at word 1 and spins until word 0 turns non-zero, so that
	// all openers of a round start at once, then calls
	// OpenOrCreateSysV(KEY, VALUE) and exits.
	testenv.RegisterChild("sysv-opener", func(args []string) int {
		key, _ := strconv.ParseInt(args[0], 10, 32)
		value, _ := strconv.Atoi(args[1])
		mem, err := unix.Mmap(3, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mmap:", err)
			return 2
		}
		w := (*[2]uint32)(unsafe.Pointer(&mem[0]))
		atomic.AddUint32(&w[1], 1)
		t0 := time.Now()
		for i := 1; atomic.LoadUint32(&w[0]) == 0; i++ {
			if i%(1<<20) == 0 && time.Since(t0) > time.Minute {
				fmt.Fprintln(os.Stderr, "no start signal within a minute")
				return 2
			}
		}
		if _, err := OpenOrCreateSysV(sysv.Key(key), value, nil); err != nil {
			fmt.Fprintln(os.Stderr, "OpenOrCreateSysV:", err)
			return 1
		}
		return 0
	})
}

// Processes racing to open-or-create one keyed set initialise it exactly
// once: whoever creates it sets the value, everyone else waits for that and
// adds nothing. Before the fix (create without IPC_EXCL, then "never
// operated on" from sem_otime decided who initialises) two racers both saw
// sem_otime 0 and both added the value: the final value was 2N or more in
// some round.
func TestSysVOpenOrCreateRaceInitialisesOnce(t *testing.T) {
	const (
		openers = 3
		value   = 5
	)
	rounds := 300
	if testing.Short() || race.Enabled {
		rounds = 100
	}
	for r := 0; r < rounds; r++ {
		key := sysv.Key(ipctest.Key())
		t.Cleanup(func() {
			if s, err := sysv.OpenSemSet(key); err == nil {
				s.Remove()
			}
		})
		fd, err := unix.MemfdCreate("start", unix.MFD_CLOEXEC)
		mustf(t, err, "memfd")
		start := os.NewFile(uintptr(fd), "start")
		mustf(t, start.Truncate(4096), "truncate")
		mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		mustf(t, err, "mmap")
		w := (*[2]uint32)(unsafe.Pointer(&mem[0]))
		var cmds []*exec.Cmd
		for i := 0; i < openers; i++ {
			cmd := testenv.Child(t, "sysv-opener", strconv.Itoa(int(key)), strconv.Itoa(value))
			cmd.ExtraFiles = []*os.File{start}
			// A -race child otherwise sleeps 1s in exit (atexit_sleep_ms).
			cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			mustf(t, cmd.Start(), "start opener")
			cmds = append(cmds, cmd)
		}
		start.Close()
		eventually(t, "the openers to reach the start line", func() bool { return atomic.LoadUint32(&w[1]) == openers })
		atomic.StoreUint32(&w[0], 1) // go
		for _, cmd := range cmds {
			if err := cmd.Wait(); err != nil {
				t.Errorf("round %d: opener: %v", r, err)
			}
		}
		unix.Munmap(mem)
		set, err := sysv.OpenSemSet(key)
		mustf(t, err, "round %d: open", r)
		v, err := set.Value(0)
		mustf(t, err, "round %d: value", r)
		mustf(t, set.Remove(), "remove")
		if v != value {
			t.Fatalf("round %d: %d racing openers left the value at %d, want %d (initialised more than once)", r, openers, v, value)
		}
	}
}

// An opener that finds a set whose creator never initialised it (it died
// between semget and its first semop) gives up after a bounded wait with
// an error matching unix.ETIMEDOUT, instead of adding the value itself or
// waiting for ever.
func TestSysVOpenOrCreateUninitialised(t *testing.T) {
	key := sysv.Key(ipctest.Key())
	set, err := sysv.CreateSemSet(key, 1, nil) // created, never operated on
	mustf(t, err, "create")
	t.Cleanup(func() { set.Remove() })
	sysvInitWait = 50 * time.Millisecond
	t.Cleanup(func() { sysvInitWait = defaultSysVInitWait })
	if _, err := OpenOrCreateSysV(key, 3, nil); !errors.Is(err, unix.ETIMEDOUT) {
		t.Fatalf("OpenOrCreateSysV on a set never initialised: %v, want ETIMEDOUT", err)
	}
	if v, _ := set.Value(0); v != 0 {
		t.Fatalf("value %d: the opener initialised a set it did not create", v)
	}
	// Once the creator's semop has run, openers proceed and leave the value.
	mustf(t, set.Op(context.Background(), sysv.Sembuf{Num: 0, Op: 3}), "creator's semop")
	s, err := OpenOrCreateSysV(key, 3, nil)
	mustf(t, err, "OpenOrCreateSysV on an initialised set")
	if v := sysvValue(t, s); v != 3 {
		t.Fatalf("value %d, want 3", v)
	}
}
