package posix_test

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

func newShm(t *testing.T, size int64) *posix.SharedMemory {
	t.Helper()
	name := ipctest.Name("shm")
	s, err := posix.CreateShm(name, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if err := posix.UnlinkShm(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Error(err)
		}
	})
	return s
}

func TestShmOpenLikeGlibc(t *testing.T) {
	name := ipctest.Name("shm")
	// Leading slashes are stripped, as glibc does ("//name" is "name").
	s, err := posix.OpenShmFlags("//"+name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer posix.UnlinkShm(name)
	defer s.Close()
	if s.Name() != name {
		t.Errorf("Name() = %q", s.Name())
	}
	fi, err := os.Stat("/dev/shm/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("default mode %v, want 0600", fi.Mode().Perm())
	}
	// O_CLOEXEC is set.
	fl, _ := unix.FcntlInt(s.File().Fd(), unix.F_GETFD, 0)
	if fl&unix.FD_CLOEXEC == 0 {
		t.Error("descriptor lacks FD_CLOEXEC")
	}
	// Exclusive create fails on an existing object.
	if _, err := posix.OpenShmFlags(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0); !errors.Is(err, os.ErrExist) {
		t.Errorf("exclusive create of existing: %v", err)
	}
	// Resize and stat.
	if err := s.Truncate(3 * 4096); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Size(); err != nil || n != 3*4096 {
		t.Fatalf("Size = %d %v", n, err)
	}
	// O_NOFOLLOW: a symlink in /dev/shm is not followed.
	link := ipctest.Name("link")
	if err := os.Symlink("/dev/shm/"+name, "/dev/shm/"+link); err != nil {
		t.Fatal(err)
	}
	defer os.Remove("/dev/shm/" + link)
	if _, err := posix.OpenShmFlags(link, unix.O_RDWR, 0); !errors.Is(err, unix.ELOOP) {
		t.Errorf("OpenShmFlags through a symlink: %v, want ELOOP", err)
	}
	if err := posix.UnlinkShm(name); err != nil {
		t.Fatal(err)
	}
	if _, err := posix.OpenShmFlags(name, unix.O_RDWR, 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("open after unlink: %v", err)
	}
}

func TestShmBadNames(t *testing.T) {
	// Each refusal also matches the errno glibc's shm_open sets (2.38's
	// __shm_get_name; "." and ".." via EISDIR mapped to EINVAL), and
	// fs.ErrInvalid.
	for _, tc := range []struct {
		name  string
		errno unix.Errno
	}{
		{"", unix.EINVAL}, {"/", unix.EINVAL}, {"///", unix.EINVAL}, {"/a/b", unix.EINVAL}, {"a/b", unix.EINVAL},
		{"/.", unix.EINVAL}, {"/..", unix.EINVAL}, {".", unix.EINVAL}, {"..", unix.EINVAL}, {"x\x00y", unix.EINVAL},
		{strings.Repeat("n", 256), unix.ENAMETOOLONG}, {"/" + strings.Repeat("n", 300), unix.ENAMETOOLONG},
	} {
		_, err := posix.OpenShmFlags(tc.name, unix.O_RDWR|unix.O_CREAT, 0)
		if !errors.Is(err, posix.ErrInvalidName) || !errors.Is(err, tc.errno) || !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("OpenShmFlags(%.20q) = %v, want ErrInvalidName and %v", tc.name, err, tc.errno)
		}
		if err := posix.UnlinkShm(tc.name); !errors.Is(err, posix.ErrInvalidName) || !errors.Is(err, tc.errno) {
			t.Errorf("UnlinkShm(%.20q) = %v, want ErrInvalidName and %v", tc.name, err, tc.errno)
		}
	}
	_, err := posix.OpenShmFlags("/a/b", unix.O_RDWR, 0)
	if err == nil || !strings.Contains(err.Error(), "'/'") {
		t.Errorf("unclear error for /a/b: %v", err)
	}
}

func TestMappingLifecycle(t *testing.T) {
	s := newShm(t, 4096)
	m, err := s.Map(posix.MapPopulate)
	if err != nil {
		t.Fatal(err)
	}
	copy(m.Bytes(), "mapped")
	// A second mapping of the same object sees the bytes.
	m2, err := posix.Map(s.File(), 0, 4096, posix.MapReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	if string(m2.Bytes()[:6]) != "mapped" {
		t.Fatal("second mapping does not share memory")
	}
	m2.Close()
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := m.Advise(unix.MADV_WILLNEED); err != nil {
		t.Fatal(err)
	}
	if err := m.Lock(); err != nil && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.ENOMEM) {
		t.Fatal(err)
	} else if err == nil {
		if err := m.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
	// Grow: truncate the object, then mremap.
	if err := s.Truncate(4 * 4096); err != nil {
		t.Fatal(err)
	}
	if err := m.Resize(4 * 4096); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 4*4096 || string(m.Bytes()[:6]) != "mapped" {
		t.Fatal("Resize lost the contents")
	}
	m.Bytes()[4*4096-1] = 1
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if m.Bytes() != nil {
		t.Error("Bytes after Close")
	}
	if err := m.Sync(); !errors.Is(err, posix.ErrClosed) {
		t.Errorf("Sync after Close: %v", err)
	}
	if _, err := posix.Map(s.File(), 1, 4096, 0); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unaligned offset: %v", err)
	}
}

func TestMapAnonymousHugePages(t *testing.T) {
	m, err := posix.MapAnonymous(4<<20, posix.MapHugePages)
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			t.Logf("kernel without transparent huge pages: %v", err)
			return
		}
		t.Fatal(err)
	}
	defer m.Close()
	m.Bytes()[0] = 1
}

func TestMemfdSeals(t *testing.T) {
	f, err := posix.MemfdCreate("seal-test", 8192, posix.MemfdAllowSealing)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := posix.CheckSealed(f, 0); err == nil {
		t.Fatal("CheckSealed accepted an unsealed memfd")
	}
	if err := posix.AddSeals(f, posix.SealSize|posix.SealSeal); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4096); !errors.Is(err, unix.EPERM) {
		t.Errorf("shrink after SealShrink: %v, want EPERM", err)
	}
	if err := f.Truncate(16384); !errors.Is(err, unix.EPERM) {
		t.Errorf("grow after SealGrow: %v, want EPERM", err)
	}
	if err := posix.AddSeals(f, posix.SealWrite); !errors.Is(err, unix.EPERM) {
		t.Errorf("seal after SealSeal: %v, want EPERM", err)
	}
	size, err := posix.CheckSealed(f, 0)
	if err != nil || size != 8192 {
		t.Fatalf("CheckSealed = %d, %v", size, err)
	}
	if _, err := posix.CheckSealed(f, posix.SealWrite); err == nil {
		t.Error("CheckSealed did not notice the missing SealWrite")
	}

	// SealWrite: refused while a shared writable mapping exists, then
	// forbids writes and writable mappings.
	g, err := posix.MemfdCreate("write-seal", 4096, posix.MemfdAllowSealing)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	m, err := posix.Map(g, 0, 4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	copy(m.Bytes(), "frozen")
	if err := posix.AddSeals(g, posix.SealWrite); !errors.Is(err, unix.EBUSY) {
		t.Errorf("SealWrite with a writable mapping: %v, want EBUSY", err)
	}
	m.Close()
	if err := posix.AddSeals(g, posix.SealWrite|posix.SealSize); err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt([]byte("x"), 0); !errors.Is(err, unix.EPERM) {
		t.Errorf("write after SealWrite: %v, want EPERM", err)
	}
	if _, err := posix.Map(g, 0, 4096, 0); !errors.Is(err, unix.EPERM) {
		t.Errorf("writable mapping after SealWrite: %v, want EPERM", err)
	}
	ro, err := posix.Map(g, 0, 4096, posix.MapReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if string(ro.Bytes()[:6]) != "frozen" {
		t.Error("read-only mapping lost the contents")
	}
	if size, err := posix.CheckSealed(g, posix.SealWrite); err != nil || size != 4096 {
		t.Errorf("CheckSealed(SealWrite) = %d %v", size, err)
	}
}

type header struct {
	Magic   uint32
	Version uint16
	Flags   uint16
	Count   int64
	Names   [4][8]byte
}

func TestTypedViews(t *testing.T) {
	m, err := posix.MapAnonymous(4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h, err := posix.ValueAt[header](m, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.Magic, h.Count = 0xfeedface, 3
	arr, err := posix.ArrayAt[float64](m, 64, 100)
	if err != nil {
		t.Fatal(err)
	}
	arr[99] = 2.5
	if *(*float64)(unsafe.Pointer(&m.Bytes()[64+99*8])) != 2.5 {
		t.Fatal("ArrayAt does not alias the mapping")
	}
	ctr, err := posix.Int64At(m, 1024)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				ctr.Add(1)
			}
		}()
	}
	wg.Wait()
	if ctr.Load() != 8000 {
		t.Fatalf("counter = %d", ctr.Load())
	}
	w, err := posix.Uint32At(m, 2048)
	if err != nil || !w.CompareAndSwap(0, 7) {
		t.Fatal(err)
	}
	if _, err := posix.Int32At(m, 4096); err == nil {
		t.Error("Int32At beyond the end accepted")
	}

	// Errors, never panics.
	bad := []struct {
		name string
		err  error
	}{
		{"misaligned int64", func() error { _, err := posix.Int64At(m, 4); return err }()},
		{"misaligned uint32", func() error { _, err := posix.Uint32At(m, 2); return err }()},
		{"overrun", func() error { _, err := posix.ArrayAt[uint64](m, 8, 512); return err }()},
		{"negative offset", func() error { _, err := posix.ValueAt[uint8](m, -1); return err }()},
		{"negative count", func() error { _, err := posix.ArrayAt[uint8](m, 0, -1); return err }()},
		{"huge count", func() error { _, err := posix.ArrayAt[uint64](m, 0, math.MaxInt); return err }()},
		{"pointer type", func() error { _, err := posix.ValueAt[*int](m, 0); return err }()},
		{"string field", func() error { _, err := posix.ValueAt[struct{ S string }](m, 0); return err }()},
		{"slice", func() error { _, err := posix.ArrayAt[[]byte](m, 0, 1); return err }()},
	}
	for _, b := range bad {
		if !errors.Is(b.err, posix.ErrLayout) {
			t.Errorf("%s: %v, want ErrLayout", b.name, b.err)
		}
	}
	m.Close()
	if _, err := posix.Int32At(m, 0); !errors.Is(err, posix.ErrClosed) {
		t.Errorf("view of closed mapping: %v", err)
	}
}
