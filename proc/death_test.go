package proc_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/proc"
)

func init() {
	// middle starts a grandchild that ignores its context, tells the test
	// its pid, and waits to be killed.
	middle := func(startFn func(context.Context, string, *proc.Options) (*proc.Process, error)) proc.Func {
		return func(ctx context.Context, c *proc.Child) error {
			w, err := c.Conn(0)
			if err != nil {
				return err
			}
			g, err := startFn(ctx, "stubborn", nil)
			if err != nil {
				return err
			}
			if err := w.Send(ctx, []byte(strconv.Itoa(g.Pid()))); err != nil {
				return err
			}
			select {}
		}
	}
	proc.Register("middle", middle(proc.Start))
	proc.Register("middle-lifeline-only", middle(proc.StartLifelineOnly))

	proc.Register("thread-middle", func(ctx context.Context, c *proc.Child) error {
		var g *proc.Process
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			// Locked and never unlocked: when this goroutine returns, the
			// runtime ends its thread. A parent-death signal tied to that
			// thread would kill the grandchild now.
			runtime.LockOSThread()
			g, err = proc.Start(ctx, "stubborn", nil)
		}()
		<-done
		if err != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
		if !g.Alive() {
			return errors.New("the grandchild died when the thread that called Start exited")
		}
		if err := g.Signal(syscall.Signal(0)); err != nil {
			return err
		}
		g.Kill()
		return nil
	})
}

// pidfdExited waits up to d for the process behind pidfd to exit.
func pidfdExited(t *testing.T, pidfd int, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left < 0 {
			left = 0
		}
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("poll(pidfd): %v", err)
		}
		return n > 0
	}
}

// killMiddle starts name (a middle process), learns its child's pid,
// SIGKILLs the middle process and reports whether the grandchild was gone
// within a second.
func killMiddle(t *testing.T, name string) {
	ctx := t.Context()
	pr, pw, err := posix.Pipe(false)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	p := start(t, name, &proc.Options{Handles: []any{pw}})
	pw.Close()
	msg, err := pr.ReceiveBytes(ctx)
	if err != nil {
		t.Fatalf("middle process: %v (%v)", err, wait(t, p))
	}
	gpid, err := strconv.Atoi(string(msg))
	if err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(gpid, 0)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", gpid, err)
	}
	defer unix.Close(pidfd)
	if pidfdExited(t, pidfd, 0) {
		t.Fatal("the grandchild died before its parent")
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if ee := exitError(t, wait(t, p)); ee.Signal != syscall.SIGKILL {
		t.Fatalf("middle process: %v", ee)
	}
	if !pidfdExited(t, pidfd, time.Second) {
		unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		t.Fatalf("grandchild %d still runs 1 s after its parent was SIGKILLed", gpid)
	}
}

// TestParentKilledChildrenDie: when a parent is SIGKILLed, its children
// die within a second (the parent-death signal, from the spawner thread).
func TestParentKilledChildrenDie(t *testing.T) { killMiddle(t, "middle") }

// TestParentKilledLifeline: the lifeline alone (no parent-death signal)
// also ends an orphan within a second.
func TestParentKilledLifeline(t *testing.T) { killMiddle(t, "middle-lifeline-only") }

// TestStartFromExitingThread: a child started from a goroutine whose
// thread then exits keeps running, because Start forks from a thread
// that lives as long as the process.
func TestStartFromExitingThread(t *testing.T) {
	if err := wait(t, start(t, "thread-middle", nil)); err != nil {
		t.Fatal(err)
	}
}
