package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Func is the body of a child process: Start(ctx, name, ...) in the
// parent runs the Func registered as name in a new process. Its context is
// cancelled when the process gets SIGTERM (Process.Terminate, or the
// parent's context). A nil result exits with status 0; an error exits with
// status 1 and its text goes back to the parent's Wait; a panic exits with
// status 2 and its value and stack go back likewise.
type Func func(ctx context.Context, c *Child) error

// Exit statuses of a child, besides what a Func does with os.Exit.
const (
	StatusOK         = 0 // the Func returned nil
	StatusError      = 1 // the Func returned an error
	StatusPanic      = 2 // the Func panicked (Go's own status for an unrecovered panic too)
	StatusSetup      = 3 // the child could not run the Func: unregistered name, bad hand-over
	StatusParentDied = 4 // the parent died; the child stopped on its own
)

// envProc names the environment variable Start sets in a child: the
// descriptor number of its manifest. Main removes it at once, so programs
// the child starts do not inherit it.
const envProc = "IPCKIT_PROC"

// envExec is the emulator prefix ipckit's cross-architecture test legs
// set (for example "qemu-aarch64-static -L /usr/aarch64-linux-gnu"):
// binfmt_misc is not assumed there, so re-executing this binary goes
// through it.
const envExec = "IPCKIT_EXEC"

var (
	regMu    sync.Mutex
	registry = map[string]Func{}
	internal = map[string]internalFunc{} // names ipckit itself registers

	// mainCalled records that this program called Main: Start and Track
	// refuse to re-execute a binary that would not dispatch to a child.
	mainCalled atomic.Bool
)

// internalFunc is a child body registered by proc itself (the tracker,
// pool workers). detached children ignore SIGTERM and SIGINT and have no
// parent watcher.
type internalFunc struct {
	fn       Func
	detached bool
}

// Register names fn so that Start(ctx, name, ...) can run it in a child
// process. Call it from an init function (or before Main): a child is a
// fresh copy of the program, and it knows only the names registered by
// the time Main runs. Register panics if name is empty or taken, as
// http.Handle does.
func Register(name string, fn Func) {
	if name == "" || fn == nil {
		panic("proc: Register with an empty name or a nil Func")
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("proc: Register called twice for " + strconv.Quote(name))
	}
	if _, dup := internal[name]; dup {
		panic("proc: the name " + strconv.Quote(name) + " is reserved by ipckit")
	}
	registry[name] = fn
}

func registerInternal(name string, fn Func, detached bool) {
	regMu.Lock()
	defer regMu.Unlock()
	internal[name] = internalFunc{fn: fn, detached: detached}
}

func lookup(name string) (internalFunc, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	if f, ok := internal[name]; ok {
		return f, true
	}
	if f, ok := registry[name]; ok {
		return internalFunc{fn: f}, true
	}
	return internalFunc{}, false
}

// Main must be the first statement of main (and of TestMain, before
// anything else runs). In a process that Start made, it runs the
// registered Func and exits with its status; it never returns there. In
// any other process it returns at once. Start, NewPool and Track refuse to
// work in a program that has not called Main, because re-executing it
// would run its main function a second time instead of a child.
func Main() {
	mainCalled.Store(true)
	v, ok := os.LookupEnv(envProc)
	if !ok {
		return
	}
	os.Unsetenv(envProc)
	os.Exit(runChild(v))
}

// runChild is the child side of Start: read the manifest, take over the
// inherited descriptors, say hello, run the Func and report how it ended.
func runChild(v string) int {
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		fmt.Fprintf(os.Stderr, "proc: %s=%q is not a descriptor number; was this process started by proc.Start?\n", envProc, v)
		return StatusSetup
	}
	m, err := readManifest(fd)
	if err != nil {
		fmt.Fprintf(os.Stderr, "proc: child cannot read what its parent handed over: %v\n", err)
		return StatusSetup
	}
	status := m.file(m.Status, "proc-status")
	if status == nil {
		fmt.Fprintf(os.Stderr, "proc: child %q has no status descriptor\n", m.Name)
		return StatusSetup
	}
	report := func(kind byte, text string, code int) int {
		writeFrame(status, kind, []byte(text))
		return code
	}
	if crash := m.file(m.Crash, "proc-crash"); crash != nil {
		// Fatal errors and panics in other goroutines cannot be recovered;
		// the runtime writes them here as well as to stderr, and Wait
		// reports them.
		debug.SetCrashOutput(crash, debug.CrashOptions{})
		crash.Close()
	}

	f, ok := lookup(m.Name)
	if !ok {
		return report(frameUnregistered, fmt.Sprintf("no function is registered as %q in the child (call proc.Register from an init function, so that a fresh copy of the program knows it)", m.Name), StatusSetup)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if f.detached {
		signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	} else {
		if m.Ppid != 0 && os.Getppid() != m.Ppid {
			// The parent died before this process could watch it.
			return StatusParentDied
		}
		if ll := m.file(m.Lifeline, "proc-lifeline"); ll != nil {
			go watchParent(ll)
		}
		sig := make(chan os.Signal, 2)
		signal.Notify(sig, syscall.SIGTERM)
		go func() {
			<-sig
			cancel() // first SIGTERM: ask the Func to stop
			<-sig
			os.Exit(128 + int(syscall.SIGTERM)) // second: stop now
		}()
	}
	if tw := m.file(m.Tracker, "proc-tracker"); tw != nil {
		inheritTracker(tw)
	}
	c, err := newChild(m)
	if err != nil {
		return report(frameSetup, err.Error(), StatusSetup)
	}
	var hello [4]byte
	putU32(hello[:], uint32(os.Getpid()))
	if err := writeFrame(status, frameHello, hello[:]); err != nil {
		// The parent gave up on us (handshake timeout) or died.
		return StatusParentDied
	}
	kind, text, code := runFunc(ctx, f.fn, c)
	return report(kind, text, code)
}

// runFunc runs fn, turning a panic into a report with its stack.
func runFunc(ctx context.Context, fn Func, c *Child) (kind byte, text string, code int) {
	defer func() {
		if r := recover(); r != nil {
			kind, text, code = framePanic, fmt.Sprintf("%v\n\n%s", r, debug.Stack()), StatusPanic
		}
	}()
	if err := fn(ctx, c); err != nil {
		return frameError, err.Error(), StatusError
	}
	return frameOK, "", StatusOK
}

// watchParent reads the lifeline: a pipe whose write end only the parent
// holds. Nothing is ever written, so the read returns when the parent's
// last descriptor closes, that is when the parent process is gone, however
// it died. This backs up the parent-death signal (SIGKILL), which the
// kernel ties to the thread that started the child.
func watchParent(ll *os.File) {
	var b [1]byte
	for {
		_, err := ll.Read(b[:])
		if err == nil {
			continue
		}
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		os.Exit(StatusParentDied)
	}
}
