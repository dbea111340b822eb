package ipctest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/feature"
	"github.com/ipckit/ipckit/internal/testenv"

	"testing"
)

// NamespaceOption configures InNewIPCNamespace.
type NamespaceOption func(*nsConfig)

type nsConfig struct {
	privateShm bool
	allowLeaks bool
}

// PrivateDevShm also gives the function a private mount namespace with a
// fresh tmpfs on /dev/shm and, where /dev/mqueue exists, a fresh mqueue
// mount there. POSIX shared memory and named semaphores live in /dev/shm,
// which an IPC namespace alone does not isolate; /dev/mqueue lists the
// queues of the namespace that mounted it.
func PrivateDevShm() NamespaceOption { return func(c *nsConfig) { c.privateShm = true } }

// AllowLeftovers turns off the check that the function removed every
// object it created in the namespace (the namespace and its objects are
// discarded either way).
func AllowLeftovers() NamespaceOption { return func(c *nsConfig) { c.allowLeaks = true } }

// InNewIPCNamespace runs fn in a new IPC namespace, on an OS thread locked
// to fn's goroutine, and waits for it. The thread is discarded afterwards
// (its goroutine exits while still locked, so the Go runtime ends the
// thread instead of reusing it), so no other goroutine ever runs in the
// namespace. When fn returns, InNewIPCNamespace fails the test if fn left
// SysV objects in the namespace (and, with PrivateDevShm, files in
// /dev/shm or queues in /dev/mqueue), unless AllowLeftovers is given.
//
// The namespace is per thread: fn must do its IPC on its own goroutine. A
// goroutine that fn starts runs on another thread, in the test process's
// original namespace. Processes that fn starts (os/exec) inherit the
// namespace, because they are forked from the locked thread. fn may call
// t.Fatal and friends; the failure is reported on the test's goroutine.
//
// Unsharing needs CAP_SYS_ADMIN: without it the test is skipped (or, with
// CI=true, failed). The kernel must have IPC namespaces (CONFIG_IPC_NS).
func InNewIPCNamespace(t testing.TB, fn func(), opts ...NamespaceOption) {
	t.Helper()
	var cfg nsConfig
	for _, o := range opts {
		o(&cfg)
	}
	if err := feature.IPCNamespace.Err(); err != nil {
		testenv.SkipOrFail(t, "ipctest: %v", err)
	}
	var (
		setupErr error
		panicked any
		stack    []byte
		leaks    []string
		returned bool
	)
	onDiscardedThread(func() {
		defer func() {
			if r := recover(); r != nil {
				panicked, stack = r, debug.Stack()
			}
		}()
		if setupErr = enterNamespaces(cfg.privateShm); setupErr != nil {
			return
		}
		before, err := takeNamespace(cfg.privateShm)
		if err != nil {
			setupErr = err
			return
		}
		fn()
		returned = true
		if cfg.allowLeaks {
			return
		}
		after, err := takeNamespace(cfg.privateShm)
		if err != nil {
			setupErr = err
			return
		}
		for _, o := range before.Added(after) {
			leaks = append(leaks, o.String())
		}
	})
	switch {
	case errors.Is(setupErr, unix.EPERM):
		testenv.SkipOrFail(t, "ipctest: a new IPC namespace needs CAP_SYS_ADMIN (run as root): %v", setupErr)
	case setupErr != nil:
		t.Fatalf("ipctest: %v", setupErr)
	case panicked != nil:
		t.Fatalf("ipctest: panic in the namespace: %v\n%s", panicked, stack)
	case !returned:
		// fn called t.FailNow (runtime.Goexit) on the namespace thread.
		t.FailNow()
	case len(leaks) > 0:
		t.Errorf("ipctest: the function left %d IPC objects in its namespace:\n  %s", len(leaks), strings.Join(leaks, "\n  "))
	}
}

// onDiscardedThread runs body on a goroutine locked to an OS thread that
// the runtime ends when body is done, and waits for it. The main thread
// (m0) is never used: the runtime cannot end it and would park it for
// good instead, leaving the process's main thread in the namespace. A
// goroutine that lands on m0 holds it while body runs on a helper
// goroutine, which then cannot be scheduled on m0, and gives it back
// unchanged afterwards.
func onDiscardedThread(body func()) {
	done := make(chan struct{})
	go runLockedOffMain(body, done, forceMainThreadPath)
	<-done
}

func runLockedOffMain(body func(), finished chan<- struct{}, pretendMain bool) {
	runtime.LockOSThread()
	if pretendMain || unix.Gettid() == unix.Getpid() {
		inner := make(chan struct{})
		go runLockedOffMain(body, inner, false)
		<-inner
		runtime.UnlockOSThread()
		close(finished)
		return
	}
	defer close(finished)
	body()
	// Return still locked: the thread exits with the goroutine.
}

// forceMainThreadPath makes onDiscardedThread take its main-thread path
// on whatever thread its first goroutine lands, so tests can exercise it.
var forceMainThreadPath bool

// enterNamespaces unshares the calling (locked) thread's IPC namespace
// and, with privateShm, its mount namespace, then mounts fresh /dev/shm
// and /dev/mqueue file systems that only this thread sees.
func enterNamespaces(privateShm bool) error {
	flags := unix.CLONE_NEWIPC
	if privateShm {
		flags |= unix.CLONE_NEWNS
	}
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	if !privateShm {
		return nil
	}
	// Stop mount events from propagating back to the host's namespace
	// before mounting anything.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("mounting a tmpfs on /dev/shm: %w", err)
	}
	if fi, err := os.Stat("/dev/mqueue"); err == nil && fi.IsDir() {
		if err := unix.Mount("mqueue", "/dev/mqueue", "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("mounting mqueue on /dev/mqueue: %w", err)
		}
	}
	return nil
}

// takeNamespace snapshots what belongs to the thread's namespace: SysV
// objects always, named objects only when /dev/shm and /dev/mqueue are
// private to it.
func takeNamespace(privateShm bool) (Snapshot, error) {
	s, err := Take()
	if err != nil {
		return nil, err
	}
	if !privateShm {
		for k, o := range s {
			if o.ID < 0 {
				delete(s, k)
			}
		}
	}
	return s, nil
}

// IPCNamespaceID returns the identity of the calling thread's IPC
// namespace ("ipc:[4026531839]"). Call it with the goroutine locked to its
// thread (as inside InNewIPCNamespace) for a stable answer.
func IPCNamespaceID() (string, error) {
	return os.Readlink("/proc/thread-self/ns/ipc")
}
