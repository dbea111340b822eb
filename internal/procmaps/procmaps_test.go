package procmaps

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

func TestSharedOnRealMappings(t *testing.T) {
	page := os.Getpagesize()
	// Three private pages, the first two then replaced by a shared
	// mapping: the page after the shared one is certainly private.
	region, err := unix.Mmap(-1, 0, 3*page, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(region)
	shared, err := unix.MmapPtr(-1, 0, unsafe.Pointer(&region[0]), uintptr(2*page), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_FIXED)
	if err != nil {
		t.Fatal(err)
	}
	if shared != unsafe.Pointer(&region[0]) {
		t.Fatalf("MAP_FIXED mapped at %p, not %p", shared, &region[0])
	}
	private, err := unix.Mmap(-1, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(private)
	heap := make([]byte, 64)

	fd, err := unix.MemfdCreate("procmaps-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, int64(page)); err != nil {
		t.Fatal(err)
	}
	filePrivate, err := unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(filePrivate)
	fileShared, err := unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(fileShared)

	for _, c := range []struct {
		name string
		addr uintptr
		n    uintptr
		want bool
	}{
		{"MAP_SHARED|MAP_ANONYMOUS", addr(region), uintptr(2 * page), true},
		{"last byte of a shared mapping", addr(region) + uintptr(2*page-1), 1, true},
		{"memfd MAP_SHARED", addr(fileShared), 40, true},
		{"MAP_PRIVATE|MAP_ANONYMOUS", addr(private), 40, false},
		{"memfd MAP_PRIVATE", addr(filePrivate), 40, false},
		{"Go heap", addr(heap), 40, false},
		{"running past a shared mapping into a private one", addr(region) + uintptr(2*page-8), 16, false},
		{"address 0 (never mapped)", 0, 8, false},
	} {
		got, err := Shared(c.addr, c.n)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s [%#x, +%d): Shared = %v, want %v", c.name, c.addr, c.n, got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "maps")
	text := "1000-2000 rw-s 00000000 00:01 42                         /dev/zero (deleted)\n" +
		"2000-3000 rw-s 00001000 fe:00 7                          /tmp/a file with spaces\n" +
		"3000-4000 rw-p 00000000 00:00 0 \n" +
		"5000-6000 rw-s 00000000 00:00 0\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	old := path
	path = p
	defer func() { path = old }()

	maps, ok, err := Covering(0x1800, 0x1000)
	if err != nil || !ok || len(maps) != 2 {
		t.Fatalf("Covering across two mappings: %v %v %v", maps, ok, err)
	}
	if maps[0].Path != "/dev/zero (deleted)" || maps[1].Path != "/tmp/a file with spaces" || !maps[1].Shared() {
		t.Fatalf("parsed %+v", maps)
	}
	if s, _ := Shared(0x1000, 0x2000); !s {
		t.Error("two adjacent shared mappings: not shared")
	}
	if s, _ := Shared(0x2800, 0x1000); s {
		t.Error("a range running into a private mapping: shared")
	}
	if s, _ := Shared(0x3800, 0x2000); s {
		t.Error("a range across a hole: shared")
	}
	if _, ok, _ := Covering(0x4000, 1); ok {
		t.Error("a hole: covered")
	}
	if maps, ok, _ := Covering(0x5000, 0x1000); !ok || maps[0].Path != "" {
		t.Errorf("a line without a path: %+v %v", maps, ok)
	}
	if _, _, err := Covering(^uintptr(0), 2); err == nil {
		t.Error("a wrapping range: no error")
	}
	if err := os.WriteFile(p, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Covering(0x1000, 1); err == nil {
		t.Error("a malformed line: no error")
	}
}
