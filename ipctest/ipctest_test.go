package ipctest_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/feature"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/proc"
)

const (
	mqueueMagic = 0x19800202 // MQUEUE_MAGIC, <linux/magic.h>
	ipcCreat    = 0o1000
	ipcExcl     = 0o2000
	ipcRmid     = 0
)

func init() {
	// nsid prints the child's IPC namespace.
	ipctest.RegisterChild("nsid", func([]string) int {
		id, err := os.Readlink("/proc/self/ns/ipc")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Print(id)
		return 0
	})
	// msgget-denied KEY: exit 0 iff msgget(KEY, 0600) fails with EACCES
	// for a process that is not root (msgget checks only the permissions
	// asked for in its flags).
	ipctest.RegisterChild("msgget-denied", func(args []string) int {
		key, _ := strconv.ParseInt(args[0], 10, 32)
		if os.Geteuid() == 0 || os.Getegid() == 0 {
			fmt.Fprintf(os.Stderr, "still privileged: euid %d egid %d\n", os.Geteuid(), os.Getegid())
			return 2
		}
		_, _, errno := unix.Syscall(unix.SYS_MSGGET, uintptr(key), 0o600, 0)
		if errno != unix.EACCES {
			fmt.Fprintf(os.Stderr, "msgget as uid %d: %v, want EACCES\n", os.Geteuid(), errno)
			return 1
		}
		return 0
	})
}

func TestMain(m *testing.M) {
	proc.Main() // a child started by proc (the examples) runs here and exits
	testenv.RunChildIfAsked()
	ipctest.Main(m)
}

func msgget(t testing.TB, key int32, flags int) (int, error) {
	t.Helper()
	id, _, errno := unix.Syscall(unix.SYS_MSGGET, uintptr(key), uintptr(flags), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(id), nil
}

func msgrm(id int) error {
	if _, _, errno := unix.Syscall(unix.SYS_MSGCTL, uintptr(id), ipcRmid, 0); errno != 0 {
		return errno
	}
	return nil
}

// newQueue creates a queue with a fresh key and removes it at cleanup.
func newQueue(t testing.TB) (key int32, id int) {
	t.Helper()
	for {
		key = ipctest.Key()
		var err error
		id, err = msgget(t, key, ipcCreat|ipcExcl|0o600)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			t.Fatalf("msgget: %v", err)
		}
		t.Cleanup(func() {
			if err := msgrm(id); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EIDRM) {
				t.Errorf("msgctl(IPC_RMID): %v", err)
			}
		})
		return key, id
	}
}

func TestNameIsUniqueAndOwned(t *testing.T) {
	a, b := ipctest.Name("x"), ipctest.Name("x")
	if a == b || !strings.HasPrefix(a, ipctest.Prefix()) || strings.Contains(a, "/") {
		t.Fatalf("Name gave %q and %q", a, b)
	}
	if !ipctest.Owned(ipctest.Object{Kind: "posix-shm", ID: -1, Name: a}) {
		t.Errorf("a name from Name is not Owned")
	}
	if ipctest.Owned(ipctest.Object{Kind: "posix-shm", ID: -1, Name: "someone-else"}) {
		t.Errorf("a foreign name is Owned")
	}
}

func TestKey(t *testing.T) {
	seen := map[int32]bool{}
	for range 100 {
		k := ipctest.Key()
		if k <= 0 || seen[k] {
			t.Fatalf("Key returned %#x (seen before: %v)", k, seen[k])
		}
		seen[k] = true
	}
	key, id := newQueue(t)
	s, err := ipctest.Take()
	if err != nil {
		t.Fatal(err)
	}
	o, ok := s[ipctest.Object{Kind: "msg", ID: id, Key: key}.String()]
	if !ok {
		t.Fatalf("Take does not list queue id=%d key=%#x", id, key)
	}
	if !ipctest.Owned(o) {
		t.Errorf("a queue with a key from Key is not Owned: %v", o)
	}
}

func TestTakeSeesEveryKind(t *testing.T) {
	before, err := ipctest.Take()
	if err != nil {
		t.Fatal(err)
	}
	msgKey, msgID := newQueue(t)
	semID, _, errno := unix.Syscall(unix.SYS_SEMGET, 0, 1, ipcCreat|0o600)
	if errno != 0 {
		t.Fatalf("semget: %v", errno)
	}
	t.Cleanup(func() { unix.Syscall6(unix.SYS_SEMCTL, semID, 0, ipcRmid, 0, 0, 0) })
	shmID, err := unix.SysvShmGet(0, 4096, ipcCreat|0o600)
	if err != nil {
		t.Fatalf("shmget: %v", err)
	}
	t.Cleanup(func() { unix.SysvShmCtl(shmID, unix.IPC_RMID, nil) })
	shmName := ipctest.Name("take")
	if err := os.WriteFile("/dev/shm/"+shmName, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove("/dev/shm/" + shmName) })
	// Queues are listed whether or not /dev/mqueue is mounted (as root:
	// the fallback mounts a private instance).
	requireQueueListing(t)
	mqName := ipctest.Name("take")
	mqOpen(t, mqName)
	after, err := ipctest.Take()
	if err != nil {
		t.Fatal(err)
	}
	// Exactly these objects, with these fields, are among those added.
	want := []ipctest.Object{
		{Kind: "msg", ID: msgID, Key: msgKey},
		{Kind: "sem", ID: int(semID)},
		{Kind: "shm", ID: shmID, CPID: os.Getpid()},
		{Kind: "posix-shm", ID: -1, Name: shmName},
		{Kind: "mqueue", ID: -1, Name: mqName},
	}
	mine := map[string]bool{}
	for _, o := range want {
		mine[o.String()] = true
	}
	var got []ipctest.Object
	for _, o := range before.Added(after) {
		if mine[o.String()] {
			got = append(got, o)
		}
	}
	order := func(a, b ipctest.Object) bool { return a.String() < b.String() }
	if d := cmp.Diff(want, got, cmpopts.SortSlices(order)); d != "" {
		t.Errorf("objects Added (-want +got):\n%s", d)
	}
	for _, o := range got {
		if o.Kind == "shm" && !ipctest.Owned(o) {
			t.Errorf("segment %v is not Owned", o)
		}
	}
}

// requireQueueListing skips (fails in CI) where Take cannot list queues:
// a kernel without POSIX message queues, or no mqueue mount at
// /dev/mqueue and no root to mount a private instance.
func requireQueueListing(t *testing.T) {
	t.Helper()
	if err := feature.Mqueue.Err(); err != nil {
		testenv.SkipOrFail(t, "%v", err)
	}
	var st unix.Statfs_t
	if os.Geteuid() != 0 && (unix.Statfs("/dev/mqueue", &st) != nil || st.Type != mqueueMagic) {
		testenv.SkipOrFail(t, "listing queues without an mqueue mount at /dev/mqueue needs root")
	}
}

// TestTakeListsQueuesWithAndWithoutMount runs Take where /dev/mqueue is an
// empty directory with no mqueue file system on it (as on machines whose
// init does not mount it) and where it is mounted, each in a private mount
// namespace on a discarded thread, so the host's /dev is untouched. In
// both, a queue created in the (host's) IPC namespace must be listed. A
// Take that reads /dev/mqueue as a plain directory sees nothing in the
// first case.
func TestTakeListsQueuesWithAndWithoutMount(t *testing.T) {
	requireQueueListing(t)
	testenv.RequireRoot(t, "a private mount namespace with its own /dev")
	name := ipctest.Name("take-mount")
	mqOpen(t, name)
	for _, mounted := range []bool{false, true} {
		t.Run(map[bool]string{false: "unmounted", true: "mounted"}[mounted], func(t *testing.T) {
			var (
				setupErr error
				snap     ipctest.Snapshot
				takeErr  error
				magic    int64
			)
			ipctest.OnDiscardedThread(func() {
				setupErr = func() error {
					if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
						return fmt.Errorf("unshare(CLONE_NEWNS): %w", err)
					}
					if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
						return fmt.Errorf("making / private: %w", err)
					}
					// A private /dev with an empty mqueue directory, like a
					// devtmpfs where nothing mounted mqueue.
					if err := unix.Mount("tmpfs", "/dev", "tmpfs", unix.MS_NOSUID, "mode=0755"); err != nil {
						return fmt.Errorf("mounting a tmpfs on /dev: %w", err)
					}
					if err := os.Mkdir("/dev/mqueue", 0o755); err != nil {
						return err
					}
					if mounted {
						if err := unix.Mount("mqueue", "/dev/mqueue", "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
							return fmt.Errorf("mounting mqueue: %w", err)
						}
					}
					var st unix.Statfs_t
					if err := unix.Statfs("/dev/mqueue", &st); err != nil {
						return err
					}
					magic = int64(st.Type)
					return nil
				}()
				if setupErr == nil {
					snap, takeErr = ipctest.Take()
				}
			})
			if setupErr != nil {
				t.Fatal(setupErr)
			}
			if (magic == mqueueMagic) != mounted {
				t.Fatalf("/dev/mqueue in the private namespace has file-system magic %#x; want mounted=%v", magic, mounted)
			}
			if takeErr != nil {
				t.Fatalf("Take: %v", takeErr)
			}
			if _, ok := snap[ipctest.Object{Kind: "mqueue", ID: -1, Name: name}.String()]; !ok {
				t.Errorf("Take with /dev/mqueue %s does not list queue %s", map[bool]string{false: "unmounted", true: "mounted"}[mounted], name)
			}
		})
	}
}

// mqOpen creates a POSIX message queue and unlinks it at cleanup. The
// name keeps its slash in the byte before the pointer, as glibc does and
// qemu-user requires.
func mqOpen(t testing.TB, name string) {
	t.Helper()
	b, err := unix.ByteSliceFromString("/" + name)
	if err != nil {
		t.Fatal(err)
	}
	attr := [8]int{0, 2, 16, 0}
	fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(&b[1])), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600, uintptr(unsafe.Pointer(&attr)), 0, 0)
	if errno != 0 {
		t.Fatalf("mq_open(%s): %v", name, errno)
	}
	unix.Close(int(fd))
	t.Cleanup(func() { unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(&b[1])), 0, 0) })
}

// fakeTB records what a kit helper reports instead of failing the real
// test, so that the helpers' failure paths can be tested.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	errors   []string
	failed   bool
	cleanups []func()
}

func (f *fakeTB) Helper()             {}
func (f *fakeTB) Logf(string, ...any) {}
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
	f.failed = true
}
func (f *fakeTB) Fatalf(format string, args ...any) { f.Errorf(format, args...); runtime.Goexit() }
func (f *fakeTB) FailNow()                          { f.mu.Lock(); f.failed = true; f.mu.Unlock(); runtime.Goexit() }
func (f *fakeTB) Failed() bool                      { f.mu.Lock(); defer f.mu.Unlock(); return f.failed }
func (f *fakeTB) Cleanup(fn func())                 { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// run calls body with the fake on its own goroutine, as a test would.
func (f *fakeTB) run(body func()) {
	done := make(chan struct{})
	go func() { defer close(done); body() }()
	<-done
}

func TestCheckLeaksCatchesOwnedLeak(t *testing.T) {
	fake := &fakeTB{TB: t}
	var id int
	fake.run(func() {
		ipctest.CheckLeaks(fake)
		var err error
		id, err = msgget(t, ipctest.Key(), ipcCreat|ipcExcl|0o600)
		if err != nil {
			t.Errorf("msgget: %v", err)
		}
		fake.runCleanups()
	})
	if err := msgrm(id); err != nil {
		t.Errorf("removing the deliberate leak: %v", err)
	}
	if !fake.failed || len(fake.errors) != 1 || !strings.Contains(fake.errors[0], fmt.Sprintf("msg id=%d", id)) {
		t.Fatalf("CheckLeaks reported %q, want one error naming msg id=%d", fake.errors, id)
	}
}

func TestCheckLeaksPassesCleanTest(t *testing.T) {
	fake := &fakeTB{TB: t}
	fake.run(func() {
		ipctest.CheckLeaks(fake)
		_, id := newQueue(fake)
		_ = id
		fake.runCleanups()
	})
	if fake.failed {
		t.Fatalf("CheckLeaks failed a test that removed its objects: %q", fake.errors)
	}
}

func TestInNewIPCNamespaceIsolates(t *testing.T) {
	hostKey, _ := newQueue(t)
	hostNS, err := os.Readlink("/proc/self/ns/ipc")
	if err != nil {
		t.Fatal(err)
	}
	innerKey := ipctest.Key()
	var innerNS string
	ipctest.InNewIPCNamespace(t, func() {
		innerNS, err = ipctest.IPCNamespaceID()
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := msgget(t, hostKey, 0); !errors.Is(err, unix.ENOENT) {
			t.Errorf("the host's queue is visible in the new namespace: msgget = %v, want ENOENT", err)
		}
		id, err := msgget(t, innerKey, ipcCreat|ipcExcl|0o600)
		if err != nil {
			t.Fatalf("msgget in the namespace: %v", err)
		}
		s, err := ipctest.Take()
		if err != nil {
			t.Fatal(err)
		}
		if len(s) == 0 {
			t.Errorf("Take in the namespace does not see the new queue")
		}
		for _, o := range s {
			if o.ID >= 0 && o.Key != innerKey {
				t.Errorf("Take in the namespace sees a host object: %v", o)
			}
		}
		if err := msgrm(id); err != nil {
			t.Error(err)
		}
	})
	if innerNS == "" || innerNS == hostNS {
		t.Fatalf("namespace inside %q, outside %q: want a different one", innerNS, hostNS)
	}
	if self, _ := os.Readlink("/proc/thread-self/ns/ipc"); self != hostNS {
		t.Errorf("the test goroutine's thread is in %s after the call, want the host's %s", self, hostNS)
	}
	if _, err := msgget(t, innerKey, 0); !errors.Is(err, unix.ENOENT) {
		t.Errorf("the namespace's key is visible on the host: %v", err)
	}
	// The namespace's thread was discarded, not handed back to the
	// scheduler: no thread of the process stays in the namespace.
	if foreign := waitForeignThreads(hostNS, 10*time.Second); len(foreign) > 0 {
		t.Errorf("threads still outside the host's IPC namespace: %v", foreign)
	}
}

func TestInNewIPCNamespaceReportsLeftovers(t *testing.T) {
	fake := &fakeTB{TB: t}
	fake.run(func() {
		ipctest.InNewIPCNamespace(fake, func() {
			if _, err := msgget(t, 0x1234, ipcCreat|0o600); err != nil {
				t.Errorf("msgget: %v", err)
			}
		})
	})
	if len(fake.errors) != 1 || !strings.Contains(fake.errors[0], "left 1 IPC objects") || !strings.Contains(fake.errors[0], "key=0x1234") {
		t.Fatalf("got %q, want one error about the queue with key 0x1234", fake.errors)
	}
	fake = &fakeTB{TB: t}
	fake.run(func() {
		ipctest.InNewIPCNamespace(fake, func() { msgget(t, 0x1234, ipcCreat|0o600) }, ipctest.AllowLeftovers())
	})
	if fake.failed {
		t.Errorf("AllowLeftovers still failed: %q", fake.errors)
	}
}

// A queue left in a namespace with PrivateDevShm is reported whether or
// not the host has a /dev/mqueue directory to mount the namespace's
// queues on (without one, the check mounts them on a temporary directory).
func TestInNewIPCNamespaceReportsLeftoverQueue(t *testing.T) {
	requireQueueListing(t)
	name := ipctest.Name("ns-leftover")
	fake := &fakeTB{TB: t}
	fake.run(func() {
		ipctest.InNewIPCNamespace(fake, func() {
			b, _ := unix.ByteSliceFromString("/" + name)
			attr := [8]int{0, 2, 16, 0}
			fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(&b[1])), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600, uintptr(unsafe.Pointer(&attr)), 0, 0)
			if errno != 0 {
				t.Errorf("mq_open: %v", errno)
				return
			}
			unix.Close(int(fd))
		}, ipctest.PrivateDevShm())
	})
	if len(fake.errors) != 1 || !strings.Contains(fake.errors[0], "left 1 IPC objects") || !strings.Contains(fake.errors[0], "mqueue "+name) {
		t.Fatalf("got %q, want one error about the queue %s", fake.errors, name)
	}
	if m, _ := filepath.Glob(filepath.Join(os.TempDir(), "ipckit-ns-mqueue-*")); len(m) != 0 {
		t.Errorf("temporary mqueue mount points left behind: %v", m)
	}
}

func TestInNewIPCNamespaceFatalAndPanic(t *testing.T) {
	fake := &fakeTB{TB: t}
	after := false
	fake.run(func() {
		ipctest.InNewIPCNamespace(fake, func() { fake.Fatalf("stop here") })
		after = true
	})
	if !fake.failed || after {
		t.Errorf("t.Fatalf inside fn: failed=%v, test went on=%v", fake.failed, after)
	}
	fake = &fakeTB{TB: t}
	fake.run(func() {
		ipctest.InNewIPCNamespace(fake, func() { panic("boom") })
	})
	if len(fake.errors) != 1 || !strings.Contains(fake.errors[0], "boom") {
		t.Errorf("panic inside fn reported as %q", fake.errors)
	}
}

func TestInNewIPCNamespaceChildInherits(t *testing.T) {
	ipctest.InNewIPCNamespace(t, func() {
		mine, err := ipctest.IPCNamespaceID()
		if err != nil {
			t.Fatal(err)
		}
		out, err := ipctest.Command(t, "nsid").Output()
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		if string(out) != mine {
			t.Errorf("child is in %s, the namespace is %s", out, mine)
		}
	})
}

func TestPrivateDevShm(t *testing.T) {
	hostName := ipctest.Name("host")
	if err := os.WriteFile(filepath.Join("/dev/shm", hostName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join("/dev/shm", hostName)) })
	innerName := ipctest.Name("inner")
	_, haveMqueue := os.Stat("/dev/mqueue")
	mountsBefore, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	ipctest.InNewIPCNamespace(t, func() {
		if _, err := os.Stat(filepath.Join("/dev/shm", hostName)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the host's /dev/shm file is visible: %v", err)
		}
		p := filepath.Join("/dev/shm", innerName)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(p)
		if haveMqueue == nil {
			b, _ := unix.ByteSliceFromString("/" + innerName)
			attr := [8]int{0, 2, 16, 0}
			fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(&b[1])), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600, uintptr(unsafe.Pointer(&attr)), 0, 0)
			if errno != 0 {
				t.Fatalf("mq_open: %v", errno)
			}
			unix.Close(int(fd))
			ents, err := os.ReadDir("/dev/mqueue")
			if err != nil || len(ents) != 1 || ents[0].Name() != innerName {
				t.Errorf("/dev/mqueue in the namespace lists %v (%v), want only %s", ents, err, innerName)
			}
			defer unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(&b[1])), 0, 0)
		}
	}, ipctest.PrivateDevShm())
	if _, err := os.Stat(filepath.Join("/dev/shm", innerName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the namespace's /dev/shm file is visible on the host: %v", err)
	}
	if haveMqueue == nil {
		if _, err := os.Stat(filepath.Join("/dev/mqueue", innerName)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the namespace's queue is visible on the host: %v", err)
		}
	}
	if m, _ := os.ReadFile("/proc/self/mountinfo"); string(m) != string(mountsBefore) {
		t.Errorf("the host's mount table changed:\nbefore:\n%s\nafter:\n%s", mountsBefore, m)
	}
}

func TestUnprivilegedGetsEACCES(t *testing.T) {
	key, _ := newQueue(t) // mode 0600, owned by root
	cmd := ipctest.Unprivileged(t, ipctest.Nobody, ipctest.Nobody, "msgget-denied", strconv.Itoa(int(key)))
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("child as nobody: %v %s", err, out)
	}
}

func TestSysctlRead(t *testing.T) {
	for _, name := range []string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.shmmni", "fs.mqueue.msg_max"} {
		v, err := ipctest.SysctlInts(name)
		if err != nil || len(v) != 1 || v[0] <= 0 {
			t.Errorf("%s = %v, %v", name, v, err)
		}
	}
	sem, err := ipctest.SysctlInts("kernel.sem")
	if err != nil || len(sem) != 4 {
		t.Errorf("kernel.sem = %v, %v; want SEMMSL SEMMNS SEMOPM SEMMNI", sem, err)
	}
	for _, bad := range []string{"", "../etc/passwd", "kernel/msgmax"} {
		if _, err := ipctest.Sysctl(bad); err == nil {
			t.Errorf("Sysctl(%q) succeeded", bad)
		}
	}
}

func TestSetSysctlInNamespaceIsPrivate(t *testing.T) {
	host, err := ipctest.Sysctl("kernel.msgmax")
	if err != nil {
		t.Fatal(err)
	}
	ipctest.InNewIPCNamespace(t, func() {
		ipctest.SetSysctl(t, "kernel.msgmax", "12345")
		ipctest.SetSysctl(t, "kernel.sem", "100 1000 50 64")
		if v, _ := ipctest.Sysctl("kernel.msgmax"); v != "12345" {
			t.Errorf("kernel.msgmax in the namespace = %q, want 12345", v)
		}
		if v, _ := ipctest.SysctlInts("kernel.sem"); fmt.Sprint(v) != "[100 1000 50 64]" {
			t.Errorf("kernel.sem in the namespace = %v", v)
		}
		// The kernel enforces the namespace's limit.
		id, err := msgget(t, 0, ipcCreat|0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer msgrm(id)
		buf := make([]byte, 8+12346)
		buf[0] = 1 // mtype 1 (little or big endian: set the low byte of the long)
		if unsafe.Sizeof(uintptr(0)) == 8 && isBigEndian() {
			buf[0], buf[7] = 0, 1
		} else if isBigEndian() {
			buf[0], buf[3] = 0, 1
		}
		mtext := len(buf) - int(unsafe.Sizeof(uintptr(0)))
		_, _, errno := unix.Syscall6(unix.SYS_MSGSND, uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(mtext), 0o4000, 0, 0)
		if errno != unix.EINVAL {
			t.Errorf("msgsnd of %d bytes with msgmax 12345: %v, want EINVAL", mtext, errno)
		}
	})
	if v, _ := ipctest.Sysctl("kernel.msgmax"); v != host {
		t.Errorf("host kernel.msgmax = %q after the namespace, want %q", v, host)
	}
}

func isBigEndian() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 0 }

func TestSetSysctlRestoresHostValue(t *testing.T) {
	old, err := ipctest.Sysctl("kernel.msgmnb")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(old)
	raised := strconv.Itoa(n + 1) // raising a limit by one cannot hurt tests running beside this one
	t.Run("set", func(t *testing.T) {
		ipctest.SetSysctl(t, "kernel.msgmnb", raised)
		if v, _ := ipctest.Sysctl("kernel.msgmnb"); v != raised {
			t.Errorf("kernel.msgmnb = %q, want %q", v, raised)
		}
	})
	if v, _ := ipctest.Sysctl("kernel.msgmnb"); v != old {
		t.Errorf("kernel.msgmnb = %q after the test, want it restored to %q", v, old)
	}
}

// TestInNewIPCNamespaceMainThreadPath exercises the path taken when the
// namespace goroutine lands on the main thread, which the runtime would
// park forever rather than end: the work moves to a helper goroutine on
// another thread, and the main thread stays in the host's namespace.
func TestInNewIPCNamespaceMainThreadPath(t *testing.T) {
	ipctest.SetForceMainThreadPath(true)
	defer ipctest.SetForceMainThreadPath(false)
	host, err := os.Readlink("/proc/self/ns/ipc")
	if err != nil {
		t.Fatal(err)
	}
	var inner string
	ipctest.InNewIPCNamespace(t, func() {
		inner, _ = ipctest.IPCNamespaceID()
	})
	if inner == "" || inner == host {
		t.Fatalf("namespace %q, host %q", inner, host)
	}
	fake := &fakeTB{TB: t}
	fake.run(func() {
		ipctest.InNewIPCNamespace(fake, func() { fake.Fatalf("stop") })
	})
	if !fake.failed {
		t.Error("t.Fatalf on the helper goroutine was lost")
	}
	// The thread that took the main-thread path went back to the
	// scheduler unchanged, and the namespace threads end: soon no thread
	// of the process is outside the host's namespace. (A thread ends a
	// moment after its goroutine, so allow time.)
	if foreign := waitForeignThreads(host, 10*time.Second); len(foreign) > 0 {
		t.Errorf("threads still outside the host's IPC namespace: %v", foreign)
	}
	if now, _ := os.Readlink("/proc/self/ns/ipc"); now != host {
		t.Errorf("the main thread moved to %s", now)
	}
}

// waitForeignThreads polls until every thread of the process is in the
// IPC namespace host, and returns those that still are not at the end.
func waitForeignThreads(host string, limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	for {
		var foreign []string
		ents, _ := os.ReadDir("/proc/self/task")
		for _, e := range ents {
			ns, err := os.Readlink("/proc/self/task/" + e.Name() + "/ns/ipc")
			if err == nil && ns != host {
				foreign = append(foreign, e.Name()+":"+ns)
			}
		}
		if len(foreign) == 0 || time.Now().After(deadline) {
			return foreign
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSkipIfNotSupported(t *testing.T) {
	kv, err := feature.KernelVersion()
	if err != nil {
		t.Fatal(err)
	}
	outcome := func(err error) string {
		fake := &skipTB{fakeTB: fakeTB{TB: t}}
		fake.run(func() { ipctest.SkipIfNotSupported(fake, err) })
		switch {
		case fake.skipped:
			return "skip"
		case fake.failed:
			return "fail"
		}
		return "pass"
	}
	old := &feature.UnsupportedFeatureError{Name: "old", MinimumVersion: feature.Version{2, 6, 0}}
	future := &feature.UnsupportedFeatureError{Name: "future", MinimumVersion: feature.Version{kv[0] + 1, 0, 0}}
	wantOld := "fail"
	if testenv.Emulated() {
		wantOld = "skip"
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "pass"},
		{future, "skip"},
		{fmt.Errorf("wrapped: %w", future), "skip"},
		{old, wantOld},
		{errors.New("EIO"), "fail"},
		{feature.ErrNotSupported, "skip"},
		{fmt.Errorf("wrapped: %w", errors.ErrUnsupported), "skip"},
	} {
		if got := outcome(c.err); got != c.want {
			t.Errorf("SkipIfNotSupported(%v) did %s, want %s", c.err, got, c.want)
		}
	}
}

type skipTB struct {
	fakeTB
	skipped bool
}

func (s *skipTB) Skipf(string, ...any) { s.skipped = true; runtime.Goexit() }
func (s *skipTB) Skip(...any)          { s.skipped = true; runtime.Goexit() }
func (s *skipTB) SkipNow()             { s.skipped = true; runtime.Goexit() }
