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
// mount there (where it does not, the leak check mounts the namespace's
// queues on a temporary directory instead, so they are checked too).
// POSIX shared memory and named semaphores live in /dev/shm, which an IPC
// namespace alone does not isolate; an mqueue mount lists the queues of
// the namespace that mounted it.
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
		mqDir    string
	)
	defer func() {
		// A temporary mqueue mount point: the mount went with the
		// thread's namespace; in ours it is an empty directory.
		if mqDir != "" && mqDir != "/dev/mqueue" {
			os.Remove(mqDir)
		}
	}()
	onDiscardedThread(func() {
		defer func() {
			if r := recover(); r != nil {
				panicked, stack = r, debug.Stack()
			}
		}()
		if mqDir, setupErr = enterNamespaces(cfg.privateShm); setupErr != nil {
			return
		}
		before, err := takeNamespace(mqDir)
		if err != nil {
			setupErr = err
			return
		}
		fn()
		returned = true
		if cfg.allowLeaks {
			return
		}
		after, err := takeNamespace(mqDir)
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
// and mqueue file systems that only this thread sees. It returns where the
// namespace's queues are listed: /dev/mqueue when that directory exists,
// otherwise a temporary directory (removed by the caller once the thread,
// and with it the mount, is gone); "" without privateShm.
func enterNamespaces(privateShm bool) (mqDir string, err error) {
	flags := unix.CLONE_NEWIPC
	if privateShm {
		flags |= unix.CLONE_NEWNS
	}
	if err := unix.Unshare(flags); err != nil {
		return "", fmt.Errorf("unshare: %w", err)
	}
	if !privateShm {
		return "", nil
	}
	// Stop mount events from propagating back to the host's namespace
	// before mounting anything.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return "", fmt.Errorf("making / private: %w", err)
	}
	if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return "", fmt.Errorf("mounting a tmpfs on /dev/shm: %w", err)
	}
	mqDir = "/dev/mqueue"
	if fi, err := os.Stat(mqDir); err != nil || !fi.IsDir() {
		// No mount point in /dev (and making one would change the
		// host's /dev): mount the namespace's queues where only the
		// snapshot looks.
		if mqDir, err = os.MkdirTemp("", "ipckit-ns-mqueue-"); err != nil {
			return "", err
		}
	}
	if err := unix.Mount("mqueue", mqDir, "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return mqDir, fmt.Errorf("mounting mqueue on %s: %w", mqDir, err)
	}
	return mqDir, nil
}

// takeNamespace snapshots what belongs to the thread's namespace: SysV
// objects always, and, when enterNamespaces gave it the namespace's own
// mqueue mount (mqDir), the private /dev/shm and the queues listed there.
// It does not use posix.ListQueues: that mounts a fallback instance on
// another thread, which is in the host's IPC namespace, not this one.
func takeNamespace(mqDir string) (Snapshot, error) {
	if mqDir == "" {
		s, err := take(nil)
		for k, o := range s {
			if o.ID < 0 {
				delete(s, k)
			}
		}
		return s, err
	}
	return take(func() ([]string, error) {
		ents, err := os.ReadDir(mqDir)
		if err != nil {
			return nil, err
		}
		names := make([]string, len(ents))
		for i, e := range ents {
			names[i] = e.Name()
		}
		return names, nil
	})
}

// IPCNamespaceID returns the identity of the calling thread's IPC
// namespace ("ipc:[4026531839]"). Call it with the goroutine locked to its
// thread (as inside InNewIPCNamespace) for a stable answer.
func IPCNamespaceID() (string, error) {
	return os.Readlink("/proc/thread-self/ns/ipc")
}
