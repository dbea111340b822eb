package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var (
	// ErrNotRegistered is matched by Start's error for a name that is not
	// registered in this program, and by Wait's error when the child did
	// not know the name (it was registered too late, after Main).
	ErrNotRegistered = errors.New("proc: no function registered under this name")
	// ErrNoMain is matched by the error when a program did not call Main
	// first: this one (Start, NewPool and Track refuse to run), or the
	// child, which then exited or hung without saying hello.
	ErrNoMain = errors.New("proc: proc.Main was not called")
)

const (
	// DefaultGrace is how long a child has between SIGTERM and SIGKILL
	// when its context is cancelled (Options.Grace changes it).
	DefaultGrace = 2 * time.Second
	// DefaultStartTimeout is how long Start waits for a child to call
	// Main (Options.StartTimeout changes it).
	DefaultStartTimeout = 30 * time.Second
)

// Options are Start's optional settings; nil means defaults.
type Options struct {
	// Handles are passed to the child, which gets handle i back with the
	// accessors of Child (Ring, Conn, File, Value ...) or Get. A handle is
	// any ipckit object with a descriptor (*mmapring.Ring, *mmapring.Queue,
	// *posix.Conn, *posix.EventFD, *posix.Queue, *posix.SharedMemory), an
	// *os.File (a memfd, a pipe end, a file), a System V object
	// (*sysv.Queue, *sysv.SemSet, *sysv.Segment, passed by id), a plain
	// value (integers, strings, []byte, bools, floats: ids, keys and names
	// go this way), or a type taught with RegisterKind. Descriptors are
	// duplicated: the parent keeps its handles, and the child's share each
	// open file description (blocking mode, offset) with them.
	Handles []any
	// Args are appended to the child's command line (os.Args[1:]).
	Args []string
	// Env is added to the parent's environment for the child ("KEY=value").
	Env []string
	// Dir is the child's working directory ("" for the parent's).
	Dir string
	// Stdin is the child's standard input (nil: /dev/null). Stdout and
	// Stderr default to the parent's; use io.Discard to drop them.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Grace is how long the child has to return after SIGTERM when ctx is
	// cancelled, before SIGKILL (0: DefaultGrace).
	Grace time.Duration
	// StartTimeout bounds how long Start waits for the child to call Main
	// (0: DefaultStartTimeout).
	StartTimeout time.Duration
	// Executable runs another program instead of this one (it must call
	// Main and register the name); "" re-executes this program. The
	// emulator prefix of $IPCKIT_EXEC applies only to this program.
	Executable string
}

// spawnConfig holds what proc's own children need besides Options.
type spawnConfig struct {
	// detached: no parent-death signal, no lifeline, no tracker, its own
	// process group (the tracker, which must outlive the tree).
	detached bool
	// noPdeathsig leaves only the lifeline watching the parent (tests).
	noPdeathsig bool
}

// Start starts a child process that runs the Func registered as name,
// handing it o.Handles, and returns when the child has called Main and is
// about to run the Func (or has failed to: see Wait). The child dies
// within moments when this process dies, however it dies (a parent-death
// signal from a thread that lives as long as the process, backed by a
// pipe the child watches), and it terminates (SIGTERM, then SIGKILL after
// o.Grace) when ctx is cancelled.
//
// Start fails with an error matching ErrNotRegistered if name is not
// registered here, ErrNoMain if this program did not call Main or the
// child exits or hangs (o.StartTimeout) without calling Main, and a
// *HandleError for a handle it cannot pass.
func Start(ctx context.Context, name string, o *Options) (*Process, error) {
	if !mainCalled.Load() {
		return nil, fmt.Errorf("%w: call proc.Main() first in main (and in TestMain), so that a re-executed copy runs the child instead of the program", ErrNoMain)
	}
	if o == nil {
		o = &Options{}
	}
	if o.Executable == "" {
		if _, ok := lookup(name); !ok {
			return nil, fmt.Errorf("%w: %q (call proc.Register from an init function)", ErrNotRegistered, name)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ensureTracker(); err != nil {
		return nil, err
	}
	return start(ctx, name, o, spawnConfig{})
}

func start(ctx context.Context, name string, o *Options, cfg spawnConfig) (*Process, error) {
	var toClose []*os.File // the child's ends and duplicates, closed once it has them
	defer func() {
		for _, f := range toClose {
			f.Close()
		}
	}()
	statusR, statusW, err := childPipe()
	if err != nil {
		return nil, err
	}
	toClose = append(toClose, statusW)
	crashR, crashW, err := childPipe()
	if err != nil {
		statusR.Close()
		return nil, err
	}
	toClose = append(toClose, crashW)
	fail := func(err error) (*Process, error) {
		statusR.Close()
		crashR.Close()
		return nil, err
	}

	extra := []*os.File{nil} // [0] is the manifest, descriptor 3
	pass := func(f *os.File) int {
		extra = append(extra, f)
		return firstFD + len(extra) - 1
	}
	m := &manifest{V: manifestVersion, Name: name, Status: pass(statusW), Crash: pass(crashW), Lifeline: -1, Tracker: -1}
	if !cfg.detached {
		m.Ppid = os.Getpid()
		ll, err := lifelineEnd()
		if err != nil {
			return fail(err)
		}
		toClose = append(toClose, ll)
		m.Lifeline = pass(ll)
		if tw, err := trackerEnd(); err != nil {
			return fail(err)
		} else if tw != nil {
			toClose = append(toClose, tw)
			m.Tracker = pass(tw)
		}
	}
	for i, h := range o.Handles {
		k := kindOf(h)
		if k == nil {
			return fail(&HandleError{Index: i, Want: fmt.Sprintf("%T", h), Err: fmt.Errorf("%w: %T (RegisterKind teaches proc new types)", ErrUnsupported, h)})
		}
		f, meta, err := k.enc(h)
		if err != nil {
			return fail(&HandleError{Index: i, Kind: k.name, Want: reflect.TypeOf(h).String(), Err: err})
		}
		e := handleEntry{Kind: k.name, FD: -1, Meta: meta}
		if f != nil {
			d, err := dupFile(f, k.name)
			if err != nil {
				return fail(&HandleError{Index: i, Kind: k.name, Want: reflect.TypeOf(h).String(), Err: err})
			}
			toClose = append(toClose, d)
			e.FD = pass(d)
		}
		m.Handles = append(m.Handles, e)
	}
	mf, err := writeManifest(m)
	if err != nil {
		return fail(err)
	}
	toClose = append(toClose, mf)
	extra[0] = mf

	cmd, err := command(o)
	if err != nil {
		return fail(err)
	}
	cmd.Env = append(cmd.Env, envProc+"="+strconv.Itoa(firstFD))
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	switch {
	case cfg.detached:
		cmd.SysProcAttr.Setpgid = true
	case !cfg.noPdeathsig:
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if cmd.SysProcAttr.Pdeathsig != 0 {
		onSpawner(func() { err = cmd.Start() })
	} else {
		err = cmd.Start()
	}
	if err != nil {
		return fail(fmt.Errorf("proc: starting %q: %w", name, err))
	}
	grace := o.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	p := newProcess(name, cmd, statusR, crashR, grace)
	for _, f := range toClose {
		f.Close()
	}
	toClose = nil

	timeout := o.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.first:
	case <-t.C:
		p.Kill()
		<-p.done
		return nil, fmt.Errorf("%w: child %q (pid %d) did not call proc.Main within %v; it was killed", ErrNoMain, name, p.pid, timeout)
	case <-ctx.Done():
		p.Kill()
		<-p.done
		return nil, ctx.Err()
	}
	if helloed, record, _ := p.status(); !helloed && record == 0 {
		// The status stream ended without a word: the program never
		// called Main (or died before it could).
		<-p.done
		return nil, p.exitError(ErrNoMain)
	}
	p.watch(ctx)
	return p, nil
}

// command builds the exec.Cmd that re-executes this program (or
// o.Executable) with the standard streams and environment of o.
func command(o *Options) (*exec.Cmd, error) {
	cmd := &exec.Cmd{Dir: o.Dir, Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr}
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	exe := o.Executable
	var prefix []string
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("proc: finding this program: %w", err)
		}
		prefix = strings.Fields(os.Getenv(envExec))
	}
	args := append(append(prefix, exe), o.Args...)
	path := args[0]
	if len(prefix) > 0 {
		p, err := exec.LookPath(path)
		if err != nil {
			return nil, fmt.Errorf("proc: $%s: %w", envExec, err)
		}
		path = p
	}
	cmd.Path, cmd.Args = path, args
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envProc+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, o.Env...)
	return cmd, nil
}

// childPipe returns a pipe whose read end (the parent's) is non-blocking
// in the runtime poller and whose write end (the child's) is blocking.
// Both are close-on-exec; exec.Cmd dup2s the child's end into place.
func childPipe() (r, w *os.File, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(fds[0]), "proc-pipe"), os.NewFile(uintptr(fds[1]), "proc-pipe"), nil
}

// ---- the spawner thread ----

// The kernel sends a child's parent-death signal when the thread that
// forked it exits, not when the process does (prctl(2) PR_SET_PDEATHSIG:
// "the parent thread"; golang/go#27505). Go may retire any thread, and a
// goroutine that exits while locked to its thread takes the thread with
// it. So every child with a parent-death signal is forked by one goroutine
// that locks itself to its thread and never returns: that thread lives as
// long as the process, and the signal fires exactly when the process dies.
var spawner struct {
	once sync.Once
	req  chan func()
}

func onSpawner(fn func()) {
	spawner.once.Do(func() {
		spawner.req = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked, never returns
			for f := range spawner.req {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawner.req <- func() { defer close(done); fn() }
	<-done
}

// ---- the lifeline ----

// The lifeline is one pipe per process: it keeps the write end (close-on-
// exec, never written, never passed) for its whole life and hands every
// child a duplicate of the read end. When this process dies, however it
// dies, the kernel closes the write end and every child's read returns
// EOF: the child's watcher then exits. The read end is non-blocking so
// that children wait for it in their runtime poller.
var lifeline struct {
	mu   sync.Mutex
	r, w *os.File
}

func lifelineEnd() (*os.File, error) {
	lifeline.mu.Lock()
	defer lifeline.mu.Unlock()
	if lifeline.r == nil {
		var fds [2]int
		if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			return nil, os.NewSyscallError("pipe2", err)
		}
		lifeline.r = os.NewFile(uintptr(fds[0]), "proc-lifeline")
		lifeline.w = os.NewFile(uintptr(fds[1]), "proc-lifeline")
	}
	return dupFile(lifeline.r, "proc-lifeline")
}
