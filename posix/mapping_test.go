package posix_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

// mapsLines returns the lines of /proc/self/maps that contain s.
func mapsLines(t testing.TB, s string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// mapped reports whether address p is mapped in this process.
func mapped(t testing.TB, p uintptr) bool {
	t.Helper()
	for _, l := range mapsLines(t, "-") {
		var lo, hi uint64
		if _, err := fmt.Sscanf(l, "%x-%x", &lo, &hi); err == nil && uint64(p) >= lo && uint64(p) < hi {
			return true
		}
	}
	return false
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// Handles made by Acquire share one mapping: it stays mapped until the
// last handle closes, in any order, and every closed handle reports
// ErrClosed (never a fault).
func TestMappingHandles(t *testing.T) {
	s := newShm(t, 8192)
	m, err := s.Map(0)
	if err != nil {
		t.Fatal(err)
	}
	p := addrOf(m.Bytes())
	copy(m.Bytes(), "first")
	h1, err := m.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	h2, err := h1.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	if addrOf(h2.Bytes()) != p || string(h2.Bytes()[:5]) != "first" {
		t.Fatal("Acquire did not return the same memory")
	}
	if err := m.Resize(4096); !errors.Is(err, unix.EBUSY) {
		t.Errorf("Resize with three handles: %v, want EBUSY", err)
	}
	// Close the original first (the "wrong" order for a ring closed
	// before its producer): the others keep working.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !mapped(t, p) || len(mapsLines(t, s.Path())) != 1 {
		t.Fatal("the mapping went away with its first handle")
	}
	h2.Bytes()[0] = 'F'
	if err := h1.Close(); err != nil {
		t.Fatal(err)
	}
	if string(h2.Bytes()[:5]) != "First" {
		t.Fatal("memory lost while a handle is open")
	}
	if _, err := m.Acquire(); !errors.Is(err, posix.ErrClosed) || !errors.Is(err, os.ErrClosed) {
		t.Errorf("Acquire on a closed handle: %v", err)
	}
	if err := h2.Close(); err != nil {
		t.Fatal(err)
	}
	if mapped(t, p) || len(mapsLines(t, s.Path())) != 0 {
		t.Fatal("the last Close did not unmap")
	}
	// A zero Mapping behaves as a closed one.
	for i, h := range []*posix.Mapping{m, h1, h2, new(posix.Mapping)} {
		if err := h.Close(); err != nil {
			t.Errorf("handle %d: second Close: %v", i, err)
		}
		if h.Bytes() != nil || h.Len() != 0 {
			t.Errorf("handle %d: Bytes after Close", i)
		}
		for what, err := range map[string]error{
			"Sync":   h.Sync(),
			"Advise": h.Advise(unix.MADV_NORMAL),
			"Lock":   h.Lock(),
			"Unlock": h.Unlock(),
			"Resize": h.Resize(4096),
			"Guard":  h.Guard(func() error { t.Error("Guard ran fn on a closed handle"); return nil }),
			"view":   func() error { _, err := posix.Int64At(h, 0); return err }(),
		} {
			if !errors.Is(err, os.ErrClosed) {
				t.Errorf("handle %d: %s after Close: %v, want ErrClosed", i, what, err)
			}
		}
	}
}

// Concurrent Acquire and Close from many goroutines: the memory is
// unmapped exactly once, after the last handle (run with -race).
func TestMappingHandlesConcurrent(t *testing.T) {
	m, err := posix.MapAnonymous(4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := addrOf(m.Bytes())
	var wg sync.WaitGroup
	var acquired atomic.Int64
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				h, err := m.Acquire()
				if err != nil {
					t.Error(err)
					return
				}
				acquired.Add(1)
				ctr, err := posix.Int64At(h, 0)
				if err != nil {
					t.Error(err)
					return
				}
				ctr.Add(1)
				h.Close()
				h.Close()
			}
		}()
	}
	wg.Wait()
	if got := *(*int64)(unsafe.Pointer(&m.Bytes()[0])); got != acquired.Load() {
		t.Fatalf("counter %d, want %d", got, acquired.Load())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if mapped(t, p) {
		t.Fatal("still mapped after every handle closed")
	}
}

// A handle dropped without Close is unmapped by its cleanup after a
// garbage collection.
func TestMappingCleanup(t *testing.T) {
	s := newShm(t, 4096)
	func() {
		m, err := s.Map(0)
		if err != nil {
			t.Fatal(err)
		}
		copy(m.Bytes(), "forgotten")
	}()
	if len(mapsLines(t, s.Path())) != 1 {
		t.Fatal("the mapping is not in /proc/self/maps")
	}
	for i := 0; i < 200 && len(mapsLines(t, s.Path())) != 0; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // cleanups run on their own goroutine
	}
	if l := mapsLines(t, s.Path()); len(l) != 0 {
		t.Fatalf("a dropped Mapping is never unmapped: %q", l)
	}
}

// One open path: a FIFO planted at a shm name (or a file path) is refused
// at once instead of blocking open(2) forever waiting for a writer, and
// so are directories and other special files. Before the shared open
// path, OpenShmFlags(name, O_RDONLY) on a FIFO hung.
func TestOpenRefusesSpecialFiles(t *testing.T) {
	name := ipctest.Name("fifo")
	path := "/dev/shm/" + name
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	dirName := ipctest.Name("dir")
	if err := os.Mkdir("/dev/shm/"+dirName, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.Remove("/dev/shm/" + dirName)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, tc := range []struct {
			what string
			open func() (*posix.SharedMemory, error)
		}{
			{"OpenShmFlags O_RDONLY", func() (*posix.SharedMemory, error) { return posix.OpenShmFlags(name, unix.O_RDONLY, 0) }},
			{"OpenShmFlags O_RDWR", func() (*posix.SharedMemory, error) { return posix.OpenShmFlags(name, unix.O_RDWR, 0) }},
			{"OpenShmFlags O_WRONLY", func() (*posix.SharedMemory, error) { return posix.OpenShmFlags(name, unix.O_WRONLY, 0) }},
			{"OpenShmFlags O_CREAT", func() (*posix.SharedMemory, error) {
				return posix.OpenShmFlags(name, unix.O_RDWR|unix.O_CREAT, 0)
			}},
			{"OpenShm", func() (*posix.SharedMemory, error) { return posix.OpenShm(name) }},
			{"OpenSharedFile", func() (*posix.SharedMemory, error) { return posix.OpenSharedFile(path) }},
			{"OpenSharedFileFlags O_RDONLY", func() (*posix.SharedMemory, error) {
				return posix.OpenSharedFileFlags(path, unix.O_RDONLY, 0)
			}},
		} {
			s, err := tc.open()
			var nr *posix.NotRegularError
			if !errors.As(err, &nr) || !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "FIFO") {
				t.Errorf("%s on a FIFO: %v, want a NotRegularError matching EINVAL", tc.what, err)
			}
			if s != nil {
				s.Close()
			}
		}
		// A directory: EINVAL as glibc's shm_open (which maps EISDIR).
		for _, fl := range []int{unix.O_RDONLY, unix.O_RDWR} {
			if _, err := posix.OpenShmFlags(dirName, fl, 0); !errors.Is(err, unix.EINVAL) {
				t.Errorf("OpenShmFlags(directory, %#x): %v, want EINVAL", fl, err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("open of a FIFO blocked")
	}
	// The descriptors of regular objects are left in blocking mode.
	s := newShm(t, 4096)
	fl, err := unix.FcntlInt(s.File().Fd(), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_NONBLOCK != 0 {
		t.Errorf("F_GETFL = %#x %v: O_NONBLOCK left set", fl, err)
	}
}

func TestSharedMemoryFromFileRefusesPipes(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := posix.SharedMemoryFromFile(r); !errors.Is(err, unix.EINVAL) {
		t.Errorf("SharedMemoryFromFile(pipe): %v, want EINVAL", err)
	}
	r.Close()
	if _, err := posix.SharedMemoryFromFile(r); !errors.Is(err, os.ErrClosed) {
		t.Errorf("SharedMemoryFromFile(closed): %v, want ErrClosed", err)
	}
}

func TestCreateSharedFile(t *testing.T) {
	path := t.TempDir() + "/ring"
	s, err := posix.CreateSharedFile(path, 3*4096, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != 3*4096 || fi.Mode().Perm() != 0o666 {
		t.Fatalf("created %v %v: want 12288 bytes, mode 0666 exactly (umask not applied)", fi, err)
	}
	if _, err := posix.CreateSharedFile(path, 4096, 0); !errors.Is(err, os.ErrExist) {
		t.Errorf("second create: %v, want ErrExist", err)
	}
	if _, err := posix.CreateSharedFile(path+"2", -1, 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("negative size: %v", err)
	}
	if _, err := os.Stat(path + "2"); !errors.Is(err, os.ErrNotExist) {
		t.Error("a failed create left a file behind")
	}
	o, err := posix.OpenSharedFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Path() != path || o.Name() != path {
		t.Errorf("Path %q Name %q", o.Path(), o.Name())
	}
	m, err := o.Map(0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.Truncatable() {
		t.Error("a file mapping must be Truncatable")
	}
	link := path + ".link"
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := posix.OpenSharedFile(link); !errors.Is(err, unix.ELOOP) {
		t.Errorf("through a symlink: %v, want ELOOP", err)
	}
	if err := o.Unlink(); err != nil {
		t.Fatal(err)
	}
	if _, err := posix.OpenSharedFile(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Unlink: %v", err)
	}
}

// F9: a negative size was accepted silently as 0.
func TestMemfdCreateNegativeSize(t *testing.T) {
	f, err := posix.MemfdCreate("neg", -1, 0)
	if err == nil {
		f.Close()
		t.Fatal("MemfdCreate(-1) succeeded")
	}
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("MemfdCreate(-1): %v, want EINVAL", err)
	}
	for _, size := range []int64{0, -4096} {
		if _, err := posix.NewSharedMemory(size, nil); !errors.Is(err, unix.EINVAL) {
			t.Errorf("NewSharedMemory(%d): %v, want EINVAL", size, err)
		}
	}
	if _, err := posix.CreateShm(ipctest.Name("neg"), -1); !errors.Is(err, unix.EINVAL) {
		t.Errorf("CreateShm(-1): %v, want EINVAL", err)
	}
}

// A sealed memfd: its size cannot change, its mappings are not
// Truncatable, and a receiver that adopts the descriptor can verify it.
func TestNewSharedMemorySealed(t *testing.T) {
	s, err := posix.NewSharedMemory(3*4096, &posix.SharedMemoryOptions{Name: "sealed", Seals: posix.SealSeal})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seals, err := s.Seals()
	if err != nil || seals&(posix.SealSize|posix.SealSeal) != posix.SealSize|posix.SealSeal {
		t.Fatalf("Seals = %#x %v", seals, err)
	}
	if err := s.Truncate(4096); !errors.Is(err, unix.EPERM) {
		t.Errorf("shrink: %v, want EPERM", err)
	}
	if err := s.Truncate(4 * 4096); !errors.Is(err, unix.EPERM) {
		t.Errorf("grow: %v, want EPERM", err)
	}
	if err := posix.AddSeals(s.File(), posix.SealFutureWrite); !errors.Is(err, unix.EPERM) {
		t.Errorf("a seal after SealSeal: %v, want EPERM", err)
	}
	if !strings.Contains(s.Name(), "sealed") || s.Path() != "" {
		t.Errorf("Name %q Path %q", s.Name(), s.Path())
	}
	if err := s.Unlink(); err != nil {
		t.Errorf("Unlink of a memfd: %v, want nil", err)
	}
	m, err := s.Map(0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Truncatable() || m.Len() != 3*4096 {
		t.Errorf("Truncatable %v Len %d", m.Truncatable(), m.Len())
	}
	// The receiver's side.
	r, err := posix.SharedMemoryFromFile(s.File())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.File().Fd() == s.File().Fd() {
		t.Error("SharedMemoryFromFile did not duplicate the descriptor")
	}
	size, err := r.CheckSealed(posix.SealSeal)
	if err != nil || size != 3*4096 {
		t.Fatalf("CheckSealed = %d %v", size, err)
	}
	rm, err := r.Map(0)
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	if rm.Truncatable() {
		t.Error("the receiver's mapping of a sealed memfd is Truncatable")
	}
	// Mapping beyond the sealed size faults there: Truncatable.
	big, err := posix.Map(r.File(), 0, 4*4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	if !big.Truncatable() {
		t.Error("a mapping longer than the sealed object must be Truncatable")
	}

	// Unsealed memfds and shm objects are Truncatable and fail CheckSealed.
	f, err := posix.MemfdCreate("unsealed", 4096, posix.MemfdAllowSealing)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	um, err := posix.Map(f, 0, 4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer um.Close()
	if !um.Truncatable() {
		t.Error("an unsealed memfd mapping must be Truncatable")
	}
	if _, err := posix.CheckSealed(f, 0); !errors.Is(err, posix.ErrNotSealed) {
		t.Errorf("CheckSealed(unsealed): %v, want ErrNotSealed", err)
	}
	shm := newShm(t, 4096)
	if _, err := shm.CheckSealed(0); !errors.Is(err, posix.ErrNotSealed) {
		t.Errorf("CheckSealed(shm object): %v, want ErrNotSealed", err)
	}
	tf, err := os.Create(t.TempDir() + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	if _, err := posix.CheckSealed(tf, 0); !errors.Is(err, posix.ErrNotSealed) && !errors.Is(err, unix.EINVAL) {
		t.Errorf("CheckSealed(file): %v", err)
	}
	am, err := posix.MapAnonymous(4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer am.Close()
	if am.Truncatable() {
		t.Error("anonymous memory cannot be truncated by anyone")
	}
}

// Fault containment: an object truncated under a live mapping makes the
// lost pages raise SIGBUS. Under Guard the access returns a FaultError
// matching ErrCorrupt and the process lives on.
func TestGuardTruncatedShm(t *testing.T) {
	testenv.SkipUnderEmulation(t, qemuSIGBUS)
	s := newShm(t, 3*4096)
	m, err := s.Map(0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.Truncatable() {
		t.Fatal("a shm object mapping must be Truncatable")
	}
	b := m.Bytes()
	copy(b[8192:], "tail")
	if err := s.Truncate(4096); err != nil {
		t.Fatal(err)
	}
	var sink byte
	for _, tc := range []struct {
		what string
		fn   func() error
	}{
		{"load", func() error { sink = b[8192]; return nil }},
		{"store", func() error { b[8200] = 1; return nil }},
		{"copy", func() error { buf := make([]byte, 64); copy(buf, b[4096+1000:]); return nil }},
		{"atomic", func() error {
			atomic.AddUint64((*uint64)(unsafe.Pointer(&b[8192+64])), 1)
			return nil
		}},
	} {
		err := m.Guard(tc.fn)
		var fe *posix.FaultError
		if !errors.As(err, &fe) || !errors.Is(err, posix.ErrCorrupt) {
			t.Fatalf("%s beyond the end: %v, want a FaultError matching ErrCorrupt", tc.what, err)
		}
		var re runtime.Error
		if !errors.As(err, &re) {
			t.Errorf("%s: %v does not unwrap to the runtime.Error", tc.what, err)
		}
		if fe.Offset < 4096 || fe.Offset >= 3*4096 || fe.Len != 3*4096 {
			t.Errorf("%s: fault at offset %d of %d", tc.what, fe.Offset, fe.Len)
		}
	}
	_ = sink
	// The pages that still exist work, and fn's own error comes back.
	errMine := errors.New("mine")
	if err := m.Guard(func() error { b[10] = 'x'; return errMine }); err != errMine {
		t.Errorf("Guard returned %v, want fn's error", err)
	}
	// The object grows back: the memory is there again.
	if err := s.Truncate(3 * 4096); err != nil {
		t.Fatal(err)
	}
	if err := m.Guard(func() error { b[8192] = 1; return nil }); err != nil {
		t.Errorf("after regrowing: %v", err)
	}
}

// qemuSIGBUS is why Guard's fault tests cannot run under qemu-user.
const qemuSIGBUS = "qemu-user delivers the SIGBUS of a truncated mapping with si_addr 0, so Go reports a nil dereference without the address and Guard cannot attribute the fault"

// Guard contains only faults in its own mapping; other panics pass
// through unchanged.
func TestGuardRepanics(t *testing.T) {
	m, err := posix.MapAnonymous(4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	catch := func(fn func() error) (r any) {
		defer func() { r = recover() }()
		m.Guard(fn)
		return nil
	}
	if r := catch(func() error { panic("boom") }); r != "boom" {
		t.Errorf("panic value %v, want boom", r)
	}
	var nilp *int
	r := catch(func() error { return fmt.Errorf("%d", *nilp) })
	if _, ok := r.(runtime.Error); !ok {
		t.Errorf("nil dereference: %v, want the runtime.Error re-raised", r)
	}
	// A fault in another mapping is not m's.
	testenv.SkipUnderEmulation(t, qemuSIGBUS)
	other := newShm(t, 2*4096)
	om, err := other.Map(0)
	if err != nil {
		t.Fatal(err)
	}
	defer om.Close()
	ob := om.Bytes()
	if err := other.Truncate(0); err != nil {
		t.Fatal(err)
	}
	r = catch(func() error { ob[4096] = 1; return nil })
	if _, ok := r.(runtime.Error); !ok {
		t.Errorf("fault in another mapping: %v, want it re-raised", r)
	}
	// The goroutine's panic-on-fault setting is restored.
	if err := om.Guard(func() error { ob[0] = 1; return nil }); !errors.Is(err, posix.ErrCorrupt) {
		t.Errorf("om.Guard: %v", err)
	}
}

func TestGuardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m, err := posix.MapAnonymous(4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w := (*uint64)(unsafe.Pointer(&m.Bytes()[0]))
	allocs := testing.AllocsPerRun(1000, func() {
		if err := m.Guard(func() error { atomic.AddUint64(w, 1); return nil }); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Guard: %v allocs/op", allocs)
	}
}

func init() {
	// shm-victim NAME guard|raw: maps the object, says "mapped", waits for
	// a line on stdin (meanwhile the parent process truncates the
	// object), then touches the lost page with or without Guard.
	testenv.RegisterChild("shm-victim", func(args []string) int {
		s, err := posix.OpenShm(args[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		m, err := s.Map(0)
		s.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer m.Close()
		b := m.Bytes()
		fmt.Println("mapped")
		bufio.NewReader(os.Stdin).ReadString('\n')
		touch := func() error { b[4096] = 1; return nil }
		if args[1] == "guard" {
			err = m.Guard(touch)
		} else {
			err = touch()
		}
		fmt.Printf("survived: %v\n", err)
		return 0
	})
}

// The whole story across processes: this process truncates the object
// under another process's live mapping. Without Guard the victim's next
// access kills it (SIGBUS: "unexpected fault address"); with Guard it is
// an error and the victim goes on.
func TestGuardSurvivesPeerTruncation(t *testing.T) {
	testenv.SkipUnderEmulation(t, qemuSIGBUS)
	run := func(mode string) (string, error) {
		s := newShm(t, 2*4096)
		cmd := testenv.Child(t, "shm-victim", s.Name(), mode)
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout = pw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		rd := bufio.NewReader(pr)
		if line, err := rd.ReadString('\n'); line != "mapped\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("victim: %q %v", line, err)
		}
		if err := s.Truncate(0); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(in, "go")
		rest, _ := io.ReadAll(rd)
		err = cmd.Wait()
		return string(rest) + out.String(), err
	}
	out, err := run("raw")
	if err == nil || !strings.Contains(out, "fault") {
		t.Errorf("an unguarded access to a truncated page should kill the process; it exited with %v:\n%s", err, out)
	}
	out, err = run("guard")
	if err != nil || !strings.Contains(out, "survived: posix: memory fault at offset 4096") {
		t.Errorf("guarded: %v\n%s", err, out)
	}
}

// BenchmarkGuard measures Guard's cost per call around an 8-byte atomic
// add, against the same closure called directly. Its results are in
// BENCHMARKS.md.
func BenchmarkGuard(b *testing.B) {
	m, err := posix.MapAnonymous(4096, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	w := (*uint64)(unsafe.Pointer(&m.Bytes()[0]))
	fn := func() error { atomic.AddUint64(w, 1); return nil }
	var sink uint64
	load := func() error { sink += *w; return nil }
	b.Run("load/direct", func(b *testing.B) {
		for b.Loop() {
			if err := load(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("load/guarded", func(b *testing.B) {
		for b.Loop() {
			if err := m.Guard(load); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			if err := fn(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("guarded", func(b *testing.B) {
		for b.Loop() {
			if err := m.Guard(fn); err != nil {
				b.Fatal(err)
			}
		}
	})
}
