package semaphore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/shmname"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

func TestNamedLifecycle(t *testing.T) {
	forFormats(t, func(t *testing.T, f Format) {
		s, name := newNamed(t, f, 3)
		st, err := os.Stat(s.Path())
		mustf(t, err, "stat")
		if st.Size() != int64(f.Size()) || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: size %d mode %v, want %d bytes 0600", s.Path(), st.Size(), st.Mode(), f.Size())
		}
		want := shmname.Dir + "sem." + name[1:]
		if f != Glibc {
			want = shmname.Dir + name[1:]
		}
		if s.Path() != want {
			t.Fatalf("path %q, want %q", s.Path(), want)
		}
		if v := s.Value(); v != 3 {
			t.Fatalf("value %d, want 3", v)
		}
		s2, err := f.OpenFlags(name, 0, 0, 0)
		mustf(t, err, "open existing")
		defer s2.Close()
		for i := 0; i < 3; i++ {
			mustf(t, s2.TryWait(), "trywait %d", i)
		}
		if err := s.TryWait(); !errors.Is(err, ErrWouldBlock) || !errors.Is(err, unix.EAGAIN) {
			t.Fatalf("TryWait at 0: %v", err)
		}
		mustf(t, s.Post(), "post")
		if s2.Value() != 1 {
			t.Fatalf("value seen through the second mapping: %d", s2.Value())
		}
		// O_CREAT without O_EXCL opens the existing one and ignores value.
		s3, err := f.OpenFlags(name, os.O_CREATE, 0o600, 9)
		mustf(t, err, "open with O_CREAT")
		if s3.Value() != 1 {
			t.Fatalf("O_CREAT reopen: value %d, want 1", s3.Value())
		}
		s3.Close()
		if _, err := f.OpenFlags(name, os.O_CREATE|os.O_EXCL, 0o600, 0); !errors.Is(err, os.ErrExist) {
			t.Fatalf("exclusive create of an existing name: %v", err)
		}
		mustf(t, s.Unlink(), "unlink")
		if _, err := f.OpenFlags(name, 0, 0, 0); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("open after unlink: %v", err)
		}
		if err := f.Unlink(name); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("second unlink: %v", err)
		}
		// Still usable after unlink.
		mustf(t, s2.TryWait(), "trywait after unlink")
		mustf(t, s.Close(), "close")
		if err := s.Post(); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Post after Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v, want nil (Close is idempotent)", err)
		}
	})
}

// A glibc sem_t made by Go has exactly the bytes glibc's sem_open writes
// (docs/ABI.md §2.1), and C reads and changes it.
func TestGlibcImageAndCInterop(t *testing.T) {
	bin := peerBin(t, "")
	s, name := newNamed(t, Glibc, 5)
	b, err := os.ReadFile(s.Path())
	mustf(t, err, "read")
	want := make([]byte, Glibc.Size())
	if glibc32 {
		*(*uint32)(unsafe.Pointer(&want[0])) = 5 << 1 // value<<1 | waiters bit
	} else {
		*(*uint32)(unsafe.Pointer(&want[valueOff])) = 5 // the value half of the 64-bit word
	}
	*(*uint32)(unsafe.Pointer(&want[glibcPrivateOff])) = 128
	if string(b) != string(want) {
		t.Fatalf("file bytes %x, want %x", b, want)
	}
	out := runPeer(t, bin, "open", name, "value", "trywait", "post", "1", "post", "1", "value")
	if strings.Join(out, ",") != "value 5,ok,posted 1,posted 1,value 6" {
		t.Fatalf("C saw %q", out)
	}
	if s.Value() != 6 {
		t.Fatalf("Go value after C: %d", s.Value())
	}
	// C creates, Go opens.
	cname := "/" + ipctest.Name("csem")
	defer Unlink(cname)
	runPeer(t, bin, "create", cname, "7")
	c, err := Open(cname)
	mustf(t, err, "open the C-created semaphore")
	defer c.Close()
	if c.Value() != 7 || c.Waiters() != 0 {
		t.Fatalf("C-created: value %d waiters %d", c.Value(), c.Waiters())
	}
}

func TestMuslImageAndCInterop(t *testing.T) {
	bin := peerBin(t, "musl-gcc")
	s, name := newNamed(t, Musl123, 4)
	out := runPeer(t, bin, "open", name, "value", "trywait", "trywait", "value", "post", "1", "value")
	if strings.Join(out, ",") != "value 4,ok,ok,value 2,posted 1,value 3" {
		t.Fatalf("musl C saw %q", out)
	}
	if s.Value() != 3 {
		t.Fatalf("Go value after musl C: %d", s.Value())
	}
	cname := "/" + ipctest.Name("csem")
	defer Musl123.Unlink(cname)
	runPeer(t, bin, "create", cname, "2")
	if _, err := os.Stat(shmname.Dir + cname[1:]); err != nil {
		t.Fatalf("musl's sem_open did not make /dev/shm/NAME: %v", err)
	}
	c, err := Musl123.OpenFlags(cname, 0, 0, 0)
	mustf(t, err, "open the musl-created semaphore")
	defer c.Close()
	if c.Value() != 2 {
		t.Fatalf("musl-created: value %d", c.Value())
	}
	// Opening a glibc semaphore's file as musl (or the reverse) is refused.
	_, gname := newNamed(t, Glibc, 0)
	if _, err := Musl123.OpenFlags("sem."+gname[1:], 0, 0, 0); err == nil && !glibc32 {
		t.Fatal("a glibc sem_t opened as musl")
	}
}

// A Go Post wakes C threads blocked in sem_timedwait, and a C sem_post wakes
// blocked Go waiters; the waiter count returns to zero.
func TestBlockedWaitersBothWays(t *testing.T) {
	forFormats(t, func(t *testing.T, f Format) {
		bin := peerBin(t, ccFor(f))
		s, name := newNamed(t, f, 0)

		// C waiters, Go poster.
		p := startPeer(t, bin, "open", name, "threads", "3", "1", "30000")
		p.expect("started 3")
		eventually(t, "3 C waiters registered", func() bool { return s.Waiters() == 3 })
		if f == Musl123 {
			if v := *s.val; v != musl123Waiting {
				t.Errorf("musl 1.2.3 value word with blocked waiters: %#x, want 0xffffffff", v)
			}
		}
		time.Sleep(10 * time.Millisecond)
		for i := 0; i < 3; i++ {
			mustf(t, s.Post(), "post")
		}
		p.expect("joined 3")
		p.wait()
		if s.Value() != 0 || s.Waiters() != 0 {
			t.Fatalf("after C waiters: value %d waiters %d", s.Value(), s.Waiters())
		}

		// Go waiters, C poster.
		ctx := testCtx(t)
		errs := make(chan error, 3)
		for i := 0; i < 3; i++ {
			go func() { errs <- s.Wait(ctx) }()
		}
		eventually(t, "3 Go waiters registered", func() bool { return s.Waiters() == 3 })
		time.Sleep(10 * time.Millisecond)
		runPeer(t, bin, "open", name, "post", "3")
		for i := 0; i < 3; i++ {
			mustf(t, <-errs, "Go waiter %d", i)
		}
		if s.Value() != 0 || s.Waiters() != 0 {
			t.Fatalf("after Go waiters: value %d waiters %d", s.Value(), s.Waiters())
		}
	})
}

// Several waiters on each side and posters on each side, thousands of
// rounds: every unit is taken exactly once, nobody is left asleep, and the
// waiter count ends at zero.
func TestInteropStress(t *testing.T) {
	forFormats(t, func(t *testing.T, f Format) {
		bin := peerBin(t, ccFor(f))
		s, name := newNamed(t, f, 0)
		perWaiter := 1500
		if testing.Short() {
			perWaiter = 300
		}
		const waiters = 3 // per side
		total := 2 * waiters * perWaiter
		cw := startPeer(t, bin, "open", name, "threads", strconv.Itoa(waiters), strconv.Itoa(perWaiter), "30000")
		cw.expect("started")
		ctx := testCtx(t)
		var wg sync.WaitGroup
		errs := make(chan error, waiters+1)
		for i := 0; i < waiters; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < perWaiter; k++ {
					if err := s.Wait(ctx); err != nil {
						errs <- fmt.Errorf("Go waiter, unit %d: %w", k, err)
						return
					}
				}
			}()
		}
		cp := startPeer(t, bin, "open", name, "postslow", strconv.Itoa(total/2))
		for k := 0; k < total/2; k++ {
			if err := s.Post(); err != nil {
				t.Fatal(err)
			}
			if k%4 == 0 {
				runtime.Gosched()
			}
		}
		cp.expect("posted")
		cp.wait()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		cw.expect("joined")
		cw.wait()
		if s.Value() != 0 || s.Waiters() != 0 {
			t.Fatalf("after %d rounds: value %d waiters %d", total, s.Value(), s.Waiters())
		}
	})
}

func TestUnnamedInterop(t *testing.T) {
	bin := peerBin(t, "")
	path := shmname.Dir + ipctest.Name("unnamed")
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	mustf(t, err, "create")
	defer os.Remove(path)
	defer unix.Close(fd)
	mustf(t, unix.Ftruncate(fd, 4096), "truncate")
	mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	mustf(t, err, "mmap")
	defer unix.Munmap(mem)

	// Go initialises, C threads wait on it, Go posts.
	s, err := Init(mem, 64, 0)
	mustf(t, err, "init")
	p := startPeer(t, bin, "shm", path, "64", "threads", "2", "50", "30000")
	p.expect("started")
	for i := 0; i < 100; i++ {
		mustf(t, s.Post(), "post")
	}
	p.expect("joined")
	p.wait()
	if s.Value() != 0 || s.Waiters() != 0 {
		t.Fatalf("value %d waiters %d", s.Value(), s.Waiters())
	}

	// C's sem_init(pshared=1), Go attaches, Go waiters, C posts.
	runPeer(t, bin, "shminit", path, "128", "2")
	a, err := Attach(mem, 128)
	mustf(t, err, "attach")
	if a.Value() != 2 {
		t.Fatalf("attached value %d", a.Value())
	}
	mustf(t, a.TryWait(), "trywait")
	mustf(t, a.TryWait(), "trywait")
	ctx := testCtx(t)
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { errs <- a.Wait(ctx) }()
	}
	eventually(t, "2 Go waiters", func() bool { return a.Waiters() == 2 })
	runPeer(t, bin, "shm", path, "128", "post", "2")
	mustf(t, <-errs, "wait")
	mustf(t, <-errs, "wait")

	// A process-private sem_t (pshared=0) is refused.
	for i := 128; i < 160; i++ {
		mem[i] = 0
	}
	if _, err := Attach(mem, 128); err == nil {
		t.Fatal("Attach accepted a sem_t whose private field says process-private")
	}
}

func TestUnnamedMuslInterop(t *testing.T) {
	bin := peerBin(t, "musl-gcc")
	path := shmname.Dir + ipctest.Name("unnamed")
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	mustf(t, err, "create")
	defer os.Remove(path)
	defer unix.Close(fd)
	mustf(t, unix.Ftruncate(fd, 4096), "truncate")
	mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	mustf(t, err, "mmap")
	defer unix.Munmap(mem)
	runPeer(t, bin, "shminit", path, "36", "1")
	s, err := Musl123.Attach(mem, 36)
	mustf(t, err, "attach")
	mustf(t, s.TryWait(), "trywait")
	p := startPeer(t, bin, "shm", path, "36", "threads", "2", "20", "30000")
	p.expect("started")
	for i := 0; i < 40; i++ {
		mustf(t, s.Post(), "post")
	}
	p.expect("joined")
	p.wait()
	if s.Value() != 0 || s.Waiters() != 0 {
		t.Fatalf("value %d waiters %d", s.Value(), s.Waiters())
	}
}

// Musl124 is exercised Go to Go (no musl ≥ 1.2.4 is available to build
// against on Debian 12): waiters set the sticky sign bit, posts clear it
// when the last waiter goes.
func TestMusl124GoOnly(t *testing.T) {
	s, name := newNamed(t, Musl124, 0)
	o, err := Musl124.OpenFlags(name, 0, 0, 0)
	mustf(t, err, "open")
	defer o.Close()
	ctx := testCtx(t)
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { errs <- o.Wait(ctx) }()
	}
	eventually(t, "2 waiters", func() bool { return s.Waiters() == 2 })
	if v := *s.val; v != musl124Waiting {
		t.Fatalf("value word with waiters %#x, want 0x80000000", v)
	}
	if s.Value() != 0 {
		t.Fatalf("Value %d", s.Value())
	}
	mustf(t, s.Post(), "post")
	mustf(t, s.Post(), "post")
	mustf(t, <-errs, "wait")
	mustf(t, <-errs, "wait")
	mustf(t, s.Post(), "post")
	if v := *s.val; v != 1 {
		t.Fatalf("value word after waiters left and a post: %#x, want 1", v)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 500; k++ {
				if err := o.Wait(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for k := 0; k < 2000-1; k++ {
		s.Post()
	}
	wg.Wait()
	if s.Value() != 0 || s.Waiters() != 0 {
		t.Fatalf("value %d waiters %d", s.Value(), s.Waiters())
	}
}

func TestWaitTimeoutAndCancel(t *testing.T) {
	for _, f := range []Format{Glibc, Musl123, Musl124} {
		t.Run(f.String(), func(t *testing.T) {
			s, _ := newNamed(t, f, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Millisecond)
			defer cancel()
			start := time.Now()
			if err := s.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait: %v, want DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("deadline honoured after %v", d)
			}
			ctx, cancel = context.WithCancel(context.Background())
			errs := make(chan error, 1)
			go func() { errs <- s.Wait(ctx) }()
			eventually(t, "waiter registered", func() bool { return s.Waiters() == 1 })
			cancel()
			select {
			case err := <-errs:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Wait: %v, want Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Wait did not return within 5s of cancel")
			}
			if s.Waiters() != 0 || s.Value() != 0 {
				t.Fatalf("after cancel: waiters %d value %d", s.Waiters(), s.Value())
			}
			if f == Musl123 && int32(*s.val) != -1 && *s.val != 0 {
				t.Fatalf("value word %#x", *s.val)
			}
			// A unit posted afterwards is still there.
			mustf(t, s.Post(), "post")
			mustf(t, s.Wait(context.Background()), "wait")
			// An already-cancelled context takes nothing... unless a unit is free.
			if err := s.Wait(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Wait with a done ctx: %v", err)
			}
		})
	}
}

// Cancelling one of several waiters must not strand the others next to an
// available unit.
func TestCancelPassesWakeOn(t *testing.T) {
	forFormats(t, func(t *testing.T, f Format) {
		s, _ := newNamed(t, f, 0)
		for round := 0; round < 50; round++ {
			ctx, cancel := context.WithCancel(context.Background())
			errA, errB := make(chan error, 1), make(chan error, 1)
			go func() { errA <- s.Wait(ctx) }()
			go func() { errB <- s.Wait(testCtx(t)) }()
			eventually(t, "2 waiters", func() bool { return s.Waiters() == 2 })
			s.Post()
			cancel()
			switch err := <-errA; {
			case err == nil:
				// A took the unit before it saw the cancellation; B
				// still waits for one.
				s.Post()
			case errors.Is(err, context.Canceled):
				// The unit is B's, even if the post's one wake-up went
				// to A: A must have passed it on.
			default:
				t.Fatal(err)
			}
			if err := <-errB; err != nil {
				t.Fatalf("round %d: the other waiter: %v", round, err)
			}
			if s.Value() != 0 || s.Waiters() != 0 {
				t.Fatalf("round %d: value %d waiters %d", round, s.Value(), s.Waiters())
			}
		}
	})
}

func TestOverflow(t *testing.T) {
	for _, f := range []Format{Glibc, Musl123, Musl124} {
		t.Run(f.String(), func(t *testing.T) {
			s, _ := newNamed(t, f, MaxValue-1)
			mustf(t, s.Post(), "post to MaxValue")
			if err := s.Post(); !errors.Is(err, ErrOverflow) || !errors.Is(err, unix.EOVERFLOW) {
				t.Fatalf("post at MaxValue: %v", err)
			}
			if s.Value() != MaxValue {
				t.Fatalf("value %d", s.Value())
			}
			mustf(t, s.TryWait(), "trywait")
			if _, err := f.OpenFlags("/"+ipctest.Name("big"), os.O_CREATE|os.O_EXCL, 0o600, MaxValue+1); !errors.Is(err, unix.EINVAL) {
				t.Fatalf("value above SEM_VALUE_MAX: %v", err)
			}
		})
	}
	// C agrees on where overflow is.
	forFormats(t, func(t *testing.T, f Format) {
		s, name := newNamed(t, f, MaxValue-3)
		out := runPeer(t, peerBin(t, ccFor(f)), "open", name, "overflow")
		if out[0] != "overflow at 2147483647" {
			t.Fatalf("C: %q", out)
		}
		if err := s.Post(); !errors.Is(err, ErrOverflow) {
			t.Fatalf("Go post after C overflowed: %v", err)
		}
	})
}

func TestBadNames(t *testing.T) {
	long := func(n int) string { return strings.Repeat("n", n) }
	for _, tc := range []struct {
		f    Format
		name string
	}{
		{Glibc, ""}, {Glibc, "/"}, {Glibc, "//"}, {Glibc, "a/b"}, {Glibc, "/a/b"}, {Musl123, "."}, {Musl124, "/.."},
		{Glibc, "a\x00b"}, {Glibc, long(252)}, {Musl123, long(256)}, {Musl123, "../x"},
	} {
		_, err := tc.f.OpenFlags(tc.name, os.O_CREATE|os.O_EXCL, 0o600, 0)
		if !errors.Is(err, shmname.ErrInvalid) {
			t.Errorf("%v %q: %v, want shmname.ErrInvalid", tc.f, tc.name, err)
		}
	}
	// The longest names each libc allows work.
	for _, tc := range []struct {
		f Format
		n int
	}{{Glibc, 251}, {Musl123, 255}} {
		name := ipctest.Name("x")
		name += long(tc.n - len(name))
		s, err := tc.f.OpenFlags(name, os.O_CREATE|os.O_EXCL, 0o600, 0)
		mustf(t, err, "%v %d-byte name", tc.f, tc.n)
		s.Close()
		mustf(t, tc.f.Unlink(name), "unlink")
	}
	if _, err := OpenFlags(ipctest.Name("x"), os.O_CREATE|os.O_TRUNC, 0o600, 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unsupported flag: %v", err)
	}
	if _, err := Format(9).OpenFlags("x", 0, 0, 0); !errors.Is(err, ErrNotSupported) {
		t.Errorf("bad format: %v", err)
	}
	// A file that is not a semaphore is refused, not mapped.
	name := ipctest.Name("junk")
	path := shmname.Dir + "sem." + name
	mustf(t, os.WriteFile(path, []byte("short"), 0o600), "write")
	defer os.Remove(path)
	if _, err := Open(name); !errors.Is(err, unix.EINVAL) {
		t.Errorf("short file: %v", err)
	}
	mustf(t, os.WriteFile(path, make([]byte, 32), 0o600), "write")
	if _, err := Open(name); !errors.Is(err, unix.EINVAL) {
		t.Errorf("zeroed file (private field 0): %v", err)
	}
	// A symlink is not followed.
	mustf(t, os.Remove(path), "rm")
	mustf(t, os.Symlink("/etc/passwd", path), "symlink")
	if _, err := Open(name); !errors.Is(err, unix.ELOOP) {
		t.Errorf("symlink: %v", err)
	}
}

func TestBounds(t *testing.T) {
	mem := make([]byte, 128)
	base := int((8 - uintptr(unsafe.Pointer(&mem[0]))%8) % 8)
	for _, off := range []int{-1, 200, 120, base + 2, base + 97} {
		if _, err := Init(mem, off, 0); !errors.Is(err, unix.EINVAL) {
			t.Errorf("Init at %d: %v", off, err)
		}
		if _, err := Attach(mem, off); !errors.Is(err, unix.EINVAL) {
			t.Errorf("Attach at %d: %v", off, err)
		}
	}
	if _, err := Init(mem, base, MaxValue+1); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Init above MaxValue: %v", err)
	}
	if _, err := Musl123.Init(mem, base+4, 1); err != nil {
		t.Errorf("musl at 4-aligned offset: %v", err)
	}
	if _, err := Init(nil, 0, 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Init on nil: %v", err)
	}
}

func TestZeroAllocs(t *testing.T) {
	for _, f := range []Format{Glibc, Musl123, Musl124} {
		t.Run(f.String(), func(t *testing.T) {
			s, _ := newNamed(t, f, 0)
			bg := context.Background()
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			n := testing.AllocsPerRun(1000, func() {
				s.Post()
				s.TryWait()
				s.Post()
				s.Wait(bg)
				s.Post()
				s.Wait(ctx) // a unit is there: no blocking, no hook
				s.TryWait() // ErrWouldBlock
				s.Value()
			})
			if n != 0 {
				t.Fatalf("%v allocs per run, want 0", n)
			}
		})
	}
}

func init() {
	// sem-waiter NAME: takes units from the glibc semaphore NAME forever,
	// printing "ready" once it is registered as a waiter.
	testenv.RegisterChild("sem-waiter", func(args []string) int {
		s, err := Open(args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		go func() {
			for s.Waiters() == 0 {
				time.Sleep(time.Millisecond)
			}
			fmt.Println("ready")
		}()
		for {
			if err := s.Wait(context.Background()); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
	})
}

// Waiters SIGKILLed at random points (blocked in the kernel, or between
// registering and sleeping, or while taking a unit) cannot unregister, as in
// C: glibc's nwaiters then over-counts, which costs posters a futex wake-up
// and nothing else. After 20 such kills the semaphore still works: Go and
// C waiters are woken, no unit is lost or made up, nothing hangs.
func TestKilledWaitersLeaveItUsable(t *testing.T) {
	bin := peerBin(t, "")
	s, name := newNamed(t, Glibc, 0)
	posted := 0
	kills := 20
	if testing.Short() {
		kills = 6
	}
	for i := 0; i < kills; i++ {
		cmd := testenv.Child(t, "sem-waiter", name)
		out, err := cmd.StdoutPipe()
		mustf(t, err, "pipe")
		mustf(t, cmd.Start(), "start")
		sc := bufio.NewScanner(out)
		if !sc.Scan() || sc.Text() != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child: %q", sc.Text())
		}
		// Feed it a few units so it is killed at varied points.
		for k := rand.IntN(4); k > 0; k-- {
			mustf(t, s.Post(), "post")
			posted++
		}
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
		cmd.Process.Kill()
		cmd.Wait()
	}
	w := s.Waiters()
	if w < 0 || w > kills {
		t.Fatalf("waiter count %d after %d killed waiters", w, kills)
	}
	t.Logf("posted %d units to waiters that were killed; %d stale waiter registrations, value %d", posted, w, s.Value())
	for s.TryWait() == nil { // drain what the dead did not take
	}
	// A Go and a C waiter, both blocked, are both woken by two posts.
	ctx := testCtx(t)
	errs := make(chan error, 1)
	go func() { errs <- s.Wait(ctx) }()
	p := startPeer(t, bin, "open", name, "wait", "1", "30000")
	eventually(t, "two more waiters", func() bool { return s.Waiters() == w+2 })
	mustf(t, s.Post(), "post")
	mustf(t, s.Post(), "post")
	mustf(t, <-errs, "Go waiter")
	p.expect("waited 1")
	p.wait()
	if s.Value() != 0 || s.Waiters() != w {
		t.Fatalf("value %d waiters %d, want 0 and %d", s.Value(), s.Waiters(), w)
	}
}

func TestOpenIgnoresAccessMode(t *testing.T) {
	name := ipctest.Name("acc")
	s, err := OpenFlags(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600, 1)
	mustf(t, err, "open with O_RDWR")
	defer Unlink(name)
	defer s.Close()
	o, err := OpenFlags(name, os.O_RDONLY, 0, 0)
	mustf(t, err, "open with O_RDONLY")
	mustf(t, o.TryWait(), "trywait")
	o.Close()
}

// Python's multiprocessing semaphores are glibc's: a Python process that
// opens ours by name (as multiprocessing does for its children) is woken
// by a Go Post, and its release wakes a blocked Go waiter.
func TestPythonInterop(t *testing.T) {
	if glibc32 || runtime.GOARCH != runtimeHostArch() {
		t.Skip("the host's Python is a 64-bit x86_64 glibc program; this test binary's sem_t layout differs")
	}
	py := testenv.Python(t, "_multiprocessing")
	script := filepath.Join(testenv.Root(), "tests", "py", "semaphore_peer.py")
	s, name := newNamed(t, Glibc, 0)

	// Python waits, Go posts.
	p := startPeer(t, py, script, name, "acquire", "2", "20", "value")
	eventually(t, "the Python waiter", func() bool { return s.Waiters() == 1 })
	mustf(t, s.Post(), "post")
	mustf(t, s.Post(), "post")
	p.expect("acquired 2")
	p.expect("value 0")
	p.wait()

	// Go waits, Python posts.
	ctx := testCtx(t)
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() { errs <- s.Wait(ctx) }()
	}
	eventually(t, "two Go waiters", func() bool { return s.Waiters() == 2 })
	out := runPeer(t, py, script, name, "release", "3", "value")
	if out[0] != "released 3" {
		t.Fatalf("Python: %q", out)
	}
	mustf(t, <-errs, "Go waiter")
	mustf(t, <-errs, "Go waiter")
	if s.Value() != 1 || s.Waiters() != 0 {
		t.Fatalf("value %d waiters %d, want 1 and 0", s.Value(), s.Waiters())
	}
}

// runtimeHostArch is the architecture of the host's own programs.
func runtimeHostArch() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	switch unix.ByteSliceToString(u.Machine[:]) {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return ""
}
