package semaphore

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/shmname"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

// inode returns the inode number of path.
func inode(t testing.TB, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	mustf(t, unix.Stat(path, &st), "stat")
	return uint64(st.Ino)
}

// mapsOf returns the lines of /proc/self/maps that map the /dev/shm file
// with inode ino (whatever name the mapping shows: a semaphore created
// through a temporary file shows that file's name, "(deleted)").
func mapsOf(t testing.TB, ino uint64) []string {
	t.Helper()
	f, err := os.Open("/proc/self/maps")
	mustf(t, err, "maps")
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 6 && fs[4] == fmt.Sprint(ino) && strings.HasPrefix(fs[5], shmname.Dir) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// Two opens of one semaphore give one mapping, as sem_open returns the
// same sem_t* and reference-counts sem_close: the memory stays until the
// last Sem is closed. Before the per-process table, each Open mapped the
// file again (two lines in /proc/self/maps, two addresses).
func TestOpenSharesOneMapping(t *testing.T) {
	forFormats(t, func(t *testing.T, f Format) {
		s1, name := newNamed(t, f, 2)
		s2, err := f.OpenFlags(name, 0, 0, 0)
		mustf(t, err, "second open")
		// Another spelling of the name reaches the same file.
		s3, err := f.OpenFlags("///"+strings.TrimLeft(name, "/"), os.O_CREATE, 0o600, 9)
		mustf(t, err, "third open")
		if s1.val != s2.val || s2.val != s3.val {
			t.Fatalf("sem_t at %p, %p, %p: want one address", s1.val, s2.val, s3.val)
		}
		ino := inode(t, s1.Path())
		if l := mapsOf(t, ino); len(l) != 1 {
			t.Fatalf("%d mappings of %s, want 1: %q", len(l), s1.Path(), l)
		}
		// Close once: the others still work.
		mustf(t, s1.Close(), "close s1")
		mustf(t, s1.Close(), "close s1 again")
		mustf(t, s2.Post(), "post through s2")
		mustf(t, s3.TryWait(), "trywait through s3")
		if v := s3.Value(); v != 2 {
			t.Fatalf("value %d, want 2", v)
		}
		if err := s1.Post(); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Post on the closed Sem: %v", err)
		}
		mustf(t, s2.Close(), "close s2")
		if l := mapsOf(t, ino); len(l) != 1 {
			t.Fatalf("closing two of three Sems unmapped the file: %q", l)
		}
		mustf(t, s3.TryWait(), "trywait through s3")
		// A new file under the same name is a different semaphore with
		// its own mapping.
		mustf(t, f.Unlink(name), "unlink")
		s4, err := f.OpenFlags(name, os.O_CREATE|os.O_EXCL, 0o600, 7)
		mustf(t, err, "recreate")
		if s4.val == s3.val || s4.Value() != 7 || s3.Value() != 1 {
			t.Fatalf("recreated semaphore shares the old mapping (%p, %p) or value (%d, %d)", s4.val, s3.val, s4.Value(), s3.Value())
		}
		mustf(t, s4.Close(), "close s4")
		// The last Close unmaps.
		mustf(t, s3.Close(), "close s3")
		if l := mapsOf(t, ino); len(l) != 0 {
			t.Fatalf("still mapped after the last Close: %q", l)
		}
		semTable.mu.Lock()
		n := len(semTable.m)
		semTable.mu.Unlock()
		if n != 0 {
			t.Errorf("%d entries left in the table", n)
		}
		if err := s3.Post(); !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Post after the last Close: %v", err)
		}
	})
}

// A Sem dropped without Close is released by its cleanup.
func TestNamedCleanup(t *testing.T) {
	name := "/" + ipctest.Name("drop")
	t.Cleanup(func() { Unlink(name) })
	ino := func() uint64 {
		s, err := Create(name, 1)
		mustf(t, err, "create")
		if len(mapsOf(t, inode(t, s.Path()))) != 1 {
			t.Fatal("the semaphore is not in /proc/self/maps")
		}
		return inode(t, s.Path())
	}()
	for i := 0; i < 200 && len(mapsOf(t, ino)) != 0; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // cleanups run on their own goroutine
	}
	if l := mapsOf(t, ino); len(l) != 0 {
		t.Fatalf("a dropped Sem is never unmapped: %q", l)
	}
}

// Names refused before any system call match both ErrInvalidName and the
// errno the C library gives: ENAMETOOLONG for a name too long (glibc's
// sem_unlink and sem_open, through __shm_get_name or the kernel), EINVAL
// for the rest. Before, only ErrInvalidName matched.
func TestNameErrnos(t *testing.T) {
	long := strings.Repeat("n", 252)
	for _, tc := range []struct {
		f     Format
		name  string
		errno unix.Errno
	}{
		{Glibc, long, unix.ENAMETOOLONG},
		{Glibc, "/" + long + long, unix.ENAMETOOLONG},
		{Musl123, long + "nnnn", unix.ENAMETOOLONG},
		{Glibc, "", unix.EINVAL},
		{Glibc, "/a/b", unix.EINVAL},
		{Musl123, ".", unix.EINVAL},
		{Musl124, "..", unix.EINVAL},
	} {
		for op, err := range map[string]error{
			"Unlink": tc.f.Unlink(tc.name),
			"Open":   func() error { _, err := tc.f.OpenFlags(tc.name, os.O_CREATE, 0o600, 0); return err }(),
		} {
			if !errors.Is(err, posix.ErrInvalidName) || !errors.Is(err, shmname.ErrInvalid) || !errors.Is(err, fs.ErrInvalid) || !errors.Is(err, tc.errno) {
				t.Errorf("%s(%v, %.20q): %v, want ErrInvalidName and %v", op, tc.f, tc.name, err, tc.errno)
			}
		}
	}
}

// A FIFO planted at the semaphore's name is refused at once, not opened
// (and not waited on).
func TestOpenRefusesFIFO(t *testing.T) {
	name := ipctest.Name("fifo")
	path := shmname.Dir + "sem." + name
	mustf(t, unix.Mkfifo(path, 0o600), "mkfifo")
	defer os.Remove(path)
	for _, flag := range []int{0, os.O_CREATE} {
		_, err := OpenFlags(name, flag, 0o600, 1)
		var nr *posix.NotRegularError
		if !errors.As(err, &nr) || !errors.Is(err, unix.EINVAL) {
			t.Errorf("OpenFlags(%#x) of a FIFO: %v, want a NotRegularError matching EINVAL", flag, err)
		}
	}
}

func init() {
	// sem-dots PEER...: in a private mount namespace with its own tmpfs
	// on /dev/shm, checks that "." and ".." are glibc semaphore names
	// (/dev/shm/sem.. and /dev/shm/sem...) that Go and the C peer (the
	// command words PEER...) both reach, and that musl refuses them.
	testenv.RegisterChild("sem-dots", func(peer []string) int {
		fail := func(format string, a ...any) int {
			fmt.Fprintf(os.Stderr, "sem-dots: "+format+"\n", a...)
			return 1
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return fail("make / private: %v", err)
		}
		if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", 0, "mode=1777"); err != nil {
			return fail("mount tmpfs: %v", err)
		}
		runC := func(args ...string) (string, error) {
			out, err := exec.Command(peer[0], append(peer[1:len(peer):len(peer)], args...)...).Output()
			return strings.TrimSpace(string(out)), err
		}
		for i, name := range []string{".", "/.."} {
			want := shmname.Dir + "sem." + strings.TrimLeft(name, "/")
			s, err := Create(name, uint32(3+i))
			if err != nil {
				return fail("Create(%q): %v", name, err)
			}
			if s.Path() != want {
				return fail("Create(%q) made %s, want %s", name, s.Path(), want)
			}
			if fi, err := os.Stat(want); err != nil || !fi.Mode().IsRegular() {
				return fail("%s: %v", want, err)
			}
			out, err := runC("open", name, "value")
			if wantOut := fmt.Sprintf("ready\nvalue %d", 3+i); err != nil || out != wantOut {
				return fail("C sem_open(%q): %q %v, want %q", name, out, err, wantOut)
			}
			if _, err := Musl123.OpenFlags(name, os.O_CREATE, 0o600, 0); !errors.Is(err, unix.EINVAL) || !errors.Is(err, posix.ErrInvalidName) {
				return fail("musl %q: %v, want ErrInvalidName and EINVAL", name, err)
			}
			s.Close()
			if err := Unlink(name); err != nil {
				return fail("Unlink(%q): %v", name, err)
			}
		}
		// C creates "..", Go opens it.
		if out, err := runC("create", "..", "5", "value"); err != nil || out != "ready\nvalue 5" {
			return fail("C sem_open(\"..\", O_CREAT): %q %v", out, err)
		}
		s, err := Open("..")
		if err != nil || s.Value() != 5 {
			return fail("Go Open(\"..\") after C: %v", err)
		}
		s.Close()
		if err := Unlink(".."); err != nil {
			return fail("Unlink: %v", err)
		}
		ents, _ := os.ReadDir("/dev/shm")
		if len(ents) != 0 {
			return fail("left behind: %v", ents)
		}
		fmt.Println("ok")
		return 0
	})
}

// glibc's sem_open accepts "." and ".." (the "sem." prefix makes the files
// sem.. and sem... legal); the package promises exactly the object
// sem_open opens, so they are accepted for the glibc format. Before, Open
// refused them. The test runs in a child with a private tmpfs on
// /dev/shm, so these fixed names cannot collide with anyone's.
func TestDotNamesLikeGlibc(t *testing.T) {
	testenv.RequireRoot(t, "a private tmpfs on /dev/shm needs a mount namespace")
	bin := peerBin(t, "")
	cmd := testenv.Child(t, "sem-dots", peerCmd(bin).Args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
