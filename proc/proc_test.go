package proc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/proc"
	"github.com/ipckit/ipckit/sysv"
)

// start starts a child for a test; it is killed and reaped when the test
// ends if it still runs.
func start(t *testing.T, name string, o *proc.Options) *proc.Process {
	t.Helper()
	p, err := proc.Start(t.Context(), name, o)
	if err != nil {
		t.Fatalf("Start(%q): %v", name, err)
	}
	t.Cleanup(func() {
		p.Kill()
		<-p.Done()
	})
	return p
}

var bigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

func wait(t *testing.T, p *proc.Process) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := p.Wait(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("child %s (pid %d) did not exit", p.Name(), p.Pid())
	}
	return err
}

func exitError(t *testing.T, err error) *proc.ExitError {
	t.Helper()
	var ee *proc.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v (%T) is not an *ExitError", err, err)
	}
	return ee
}

// The handles TestHandles passes, in order.
const (
	hRing = iota
	hRingQueue
	hConn
	hEventFD
	hMQ
	hShm
	hMemfd
	hSysV
	hInt
	hString
	hBytes
	hBool
	hFloat
	hUint
	hInt8
	nHandles
)

func init() {
	proc.Register("handles", childHandles)
	proc.Register("wrong-kind", childWrongKind)
	proc.Register("fail", func(ctx context.Context, c *proc.Child) error {
		return errors.New("the child says no")
	})
	proc.Register("panic", func(ctx context.Context, c *proc.Child) error {
		panicInChild()
		return nil
	})
	proc.Register("crash", func(ctx context.Context, c *proc.Child) error {
		go func() { panic("crash in another goroutine") }()
		select {}
	})
	proc.Register("exit", func(ctx context.Context, c *proc.Child) error {
		code, err := c.Int(0)
		if err != nil {
			return err
		}
		os.Exit(code)
		return nil
	})
	proc.Register("until-cancelled", func(ctx context.Context, c *proc.Child) error {
		<-ctx.Done()
		return ctx.Err()
	})
	proc.Register("stubborn", func(ctx context.Context, c *proc.Child) error {
		time.Sleep(time.Hour) // ignores its context
		return nil
	})
	proc.Register("hello-stdout", func(ctx context.Context, c *proc.Child) error {
		fmt.Printf("args=%q env=%q\n", os.Args[1:], os.Getenv("PROC_TEST_VAR"))
		return nil
	})
	proc.Register("concurrent", func(ctx context.Context, c *proc.Child) error {
		errs := make(chan error, 8)
		for range 8 {
			go func() {
				f, err := c.File(0)
				if err == nil {
					f.Close()
					_, err = c.Int(1)
				}
				errs <- err
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				return err
			}
		}
		return nil
	})
	proc.Register("quitter", func(ctx context.Context, c *proc.Child) error {
		return nil // takes nothing from the ring it was given
	})
	proc.Register("drain", func(ctx context.Context, c *proc.Child) error {
		r, err := c.Ring(0)
		if err != nil {
			return err
		}
		defer r.Close()
		cons, err := r.Consumer()
		if err != nil {
			return err
		}
		defer cons.Close()
		w, err := c.Conn(1)
		if err != nil {
			return err
		}
		defer w.Close()
		buf := make([]byte, 64)
		for {
			n, err := cons.Receive(ctx, buf)
			if err != nil {
				return err // io.EOF: the producer closed
			}
			if err := w.Send(ctx, buf[:n]); err != nil {
				return err
			}
			if string(buf[:n]) == "last" {
				return nil
			}
		}
	})
}

//go:noinline
func panicInChild() { panic("kaboom") }

// childHandles checks every handle TestHandles passes and answers through
// some of them.
func childHandles(ctx context.Context, c *proc.Child) error {
	if c.Len() != nHandles {
		return fmt.Errorf("got %d handles, want %d", c.Len(), nHandles)
	}
	buf := make([]byte, 256)

	r, err := c.Ring(hRing)
	if err != nil {
		return err
	}
	defer r.Close()
	cons, err := r.Consumer()
	if err != nil {
		return err
	}
	n, err := cons.Receive(ctx, buf)
	if err != nil || string(buf[:n]) != "via ring" {
		return fmt.Errorf("ring: %q, %v", buf[:n], err)
	}
	cons.Close()

	q, err := c.RingQueue(hRingQueue)
	if err != nil {
		return err
	}
	n, err = q.Get(ctx, buf)
	if err != nil || string(buf[:n]) != "via queue" {
		return fmt.Errorf("queue: %q, %v", buf[:n], err)
	}
	q.TaskDone()
	q.Close()

	conn, err := c.Conn(hConn)
	if err != nil {
		return err
	}
	defer conn.Close()

	efd, err := c.EventFD(hEventFD)
	if err != nil {
		return err
	}
	defer efd.Close()
	if err := efd.Add(ctx, 5); err != nil {
		return err
	}

	mq, err := c.Queue(hMQ)
	if err != nil {
		return err
	}
	defer mq.Close()
	n, _, err = mq.Receive(ctx, buf)
	if err != nil || string(buf[:n]) != "via mq" {
		return fmt.Errorf("mq: %q, %v", buf[:n], err)
	}

	shm, err := c.SharedMemory(hShm)
	if err != nil {
		return err
	}
	shm.Close()
	m, err := c.Mapping(hShm)
	if err != nil {
		return err
	}
	if got := string(m.Bytes()[:7]); got != "via shm" {
		return fmt.Errorf("shm: %q", got)
	}
	copy(m.Bytes()[100:], "from child")
	m.Close()

	mf, err := c.Mapping(hMemfd)
	if err != nil {
		return err
	}
	if got := string(mf.Bytes()[:9]); got != "via memfd" {
		return fmt.Errorf("memfd: %q", got)
	}
	mf.Close()
	f, err := c.File(hMemfd)
	if err != nil {
		return err
	}
	f.Close()

	sq, err := c.SysVQueue(hSysV)
	if err != nil {
		return err
	}
	if err := sq.Send(ctx, 1, []byte("via sysv")); err != nil {
		return err
	}

	if v, err := c.Int(hInt); err != nil || v != 42 {
		return fmt.Errorf("int: %v, %v", v, err)
	}
	if v, err := c.String(hString); err != nil || v != "text" {
		return fmt.Errorf("string: %q, %v", v, err)
	}
	if v, err := c.Bytes(hBytes); err != nil || !bytes.Equal(v, []byte{1, 2, 3}) {
		return fmt.Errorf("bytes: %v, %v", v, err)
	}
	if v, err := proc.Get[bool](c, hBool); err != nil || !v {
		return fmt.Errorf("bool: %v, %v", v, err)
	}
	if v, err := proc.Get[float64](c, hFloat); err != nil || v != 2.5 {
		return fmt.Errorf("float: %v, %v", v, err)
	}
	if v, err := proc.Get[uint16](c, hUint); err != nil || v != 7 {
		return fmt.Errorf("uint: %v, %v", v, err)
	}
	if v, err := proc.Get[int8](c, hInt8); err != nil || v != -3 {
		return fmt.Errorf("int8: %v, %v", v, err)
	}
	if v, err := c.Value(hInt); err != nil || v != int64(42) {
		return fmt.Errorf("Value(int): %v (%T), %v", v, v, err)
	}
	if k, err := c.Kind(hConn); err != nil || k != "posix.Conn" {
		return fmt.Errorf("Kind: %q, %v", k, err)
	}
	return conn.Send(ctx, []byte("via conn"))
}

// TestHandles passes one handle of every kind proc knows to a child, which
// gets each back by index with its type and uses it.
func TestHandles(t *testing.T) {
	ctx := t.Context()
	ring, err := mmapring.New(mmapring.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	prod, err := ring.Producer()
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Send(ctx, []byte("via ring")); err != nil {
		t.Fatal(err)
	}
	q, err := mmapring.NewQueue(4, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Put(ctx, []byte("via queue")); err != nil {
		t.Fatal(err)
	}
	pr, pw, err := posix.Pipe(false)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	efd, err := posix.NewEventFD(0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer efd.Close()
	mqName := ipctest.Name("mq")
	mq, err := posix.CreateQueue(mqName, 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer posix.UnlinkQueue(mqName)
	defer mq.Close()
	if err := mq.Send(ctx, []byte("via mq"), 0); err != nil {
		t.Fatal(err)
	}
	shmName := ipctest.Name("shm")
	shm, err := posix.CreateShm(shmName, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Unlink()
	defer shm.Close()
	sm, err := shm.Map(0)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	copy(sm.Bytes(), "via shm")
	memfd, err := posix.MemfdCreate("proc-test", 4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer memfd.Close()
	if _, err := memfd.WriteAt([]byte("via memfd"), 0); err != nil {
		t.Fatal(err)
	}
	sq, err := sysv.CreateQueue(sysv.IPCPrivate, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Remove()

	handles := make([]any, nHandles)
	handles[hRing], handles[hRingQueue], handles[hConn], handles[hEventFD] = ring, q, pw, efd
	handles[hMQ], handles[hShm], handles[hMemfd], handles[hSysV] = mq, shm, memfd, sq
	handles[hInt], handles[hString], handles[hBytes], handles[hBool] = 42, "text", []byte{1, 2, 3}, true
	handles[hFloat], handles[hUint], handles[hInt8] = 2.5, uint64(7), int8(-3)
	p := start(t, "handles", &proc.Options{Handles: handles})
	if err := wait(t, p); err != nil {
		t.Fatal(err)
	}
	msg, err := pr.ReceiveBytes(ctx)
	if err != nil || string(msg) != "via conn" {
		t.Errorf("conn: %q, %v", msg, err)
	}
	if v, err := efd.TryWait(); err != nil {
		t.Errorf("eventfd: %v", err)
	} else if v != 5 && !(testenv.Emulated() && bigEndian) {
		// qemu-user byte-swaps eventfd counters for a big-endian guest
		// only on descriptors it saw created (its fd translator table);
		// the child's qemu inherited this one across exec and does not
		// swap it, so the two processes disagree on the byte order.
		t.Errorf("eventfd: %d, want 5", v)
	}
	if got := string(sm.Bytes()[100:110]); got != "from child" {
		t.Errorf("shm: %q", got)
	}
	buf := make([]byte, 64)
	n, _, err := sq.Receive(ctx, 1, buf, 0)
	if err != nil || string(buf[:n]) != "via sysv" {
		t.Errorf("sysv: %q, %v", buf[:n], err)
	}
	// The parent's handles still work: proc passed duplicates.
	if err := pw.Send(ctx, []byte("still mine")); err != nil {
		t.Errorf("parent's Conn after the hand-over: %v", err)
	}
	if msg, err := pr.ReceiveBytes(ctx); err != nil || string(msg) != "still mine" {
		t.Errorf("parent's Conn after the hand-over: %q, %v", msg, err)
	}
}

// childWrongKind asks for its handles in every wrong way and reports the
// errors; it returns the error of asking for the Conn as a ring, so that
// the parent sees the text.
func childWrongKind(ctx context.Context, c *proc.Child) error {
	check := func(what string, err error, want error) error {
		if !errors.Is(err, want) {
			return fmt.Errorf("%s: error %v, want one matching %v", what, err, want)
		}
		var he *proc.HandleError
		if !errors.As(err, &he) {
			return fmt.Errorf("%s: error %T is not a *HandleError", what, err)
		}
		return nil
	}
	_, err := c.Ring(99)
	if e := check("Ring(99)", err, proc.ErrNoHandle); e != nil {
		return e
	}
	if !strings.Contains(err.Error(), "handle 99") || !strings.Contains(err.Error(), "given 2") {
		return fmt.Errorf("Ring(99): unclear error %q", err)
	}
	_, err = c.Conn(-1)
	if e := check("Conn(-1)", err, proc.ErrNoHandle); e != nil {
		return e
	}
	_, err = c.Int(0) // a Conn
	if e := check("Int(0)", err, proc.ErrWrongKind); e != nil {
		return e
	}
	_, err = proc.Get[int8](c, 1) // 300 does not fit
	if e := check("Get[int8](1)", err, proc.ErrWrongKind); e != nil {
		return e
	}
	_, err = c.File(1) // a plain value has no descriptor
	if e := check("File(1)", err, proc.ErrWrongKind); e != nil {
		return e
	}
	_, err = c.Mapping(0) // a pipe cannot be mapped
	if e := check("Mapping(0)", err, proc.ErrWrongKind); e != nil {
		return e
	}
	// The handle is still there, of the right kind.
	conn, err := c.Conn(0)
	if err != nil {
		return fmt.Errorf("Conn(0) after the wrong requests: %v", err)
	}
	conn.Close()
	_, err = c.Ring(0)
	if e := check("Ring(0)", err, proc.ErrWrongKind); e != nil {
		return e
	}
	return err
}

// TestWrongKind: asking for a handle as the wrong kind, or out of range,
// is a clear error in the child (not a crash), and loses nothing.
func TestWrongKind(t *testing.T) {
	_, pw, err := posix.Pipe(false)
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	p := start(t, "wrong-kind", &proc.Options{Handles: []any{pw, 300}})
	ee := exitError(t, wait(t, p))
	if ee.Code != proc.StatusError || ee.Err != "proc: handle 0 is a posix.Conn, not a mmapring.Ring" {
		t.Fatalf("got %v", ee)
	}
}

// TestUnsupportedHandle: Start refuses what it cannot pass, and starts
// nothing.
func TestUnsupportedHandle(t *testing.T) {
	m, err := posix.MapAnonymous(4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, h := range []any{make(chan int), m, nil} {
		_, err := proc.Start(t.Context(), "quitter", &proc.Options{Handles: []any{1, h}})
		var he *proc.HandleError
		if !errors.Is(err, proc.ErrUnsupported) || !errors.As(err, &he) || he.Index != 1 {
			t.Errorf("Start with a %T: %v, want a *HandleError for handle 1 matching ErrUnsupported", h, err)
		}
	}
}

func TestWaitReportsError(t *testing.T) {
	ee := exitError(t, wait(t, start(t, "fail", nil)))
	if ee.Code != proc.StatusError || ee.Err != "the child says no" || ee.Signal != 0 || ee.Panic != "" {
		t.Fatalf("got %+v", ee)
	}
	if !strings.Contains(ee.Error(), "the child says no") || !strings.Contains(ee.Error(), `"fail"`) {
		t.Errorf("Error() = %q", ee.Error())
	}
}

func TestWaitReportsPanic(t *testing.T) {
	ee := exitError(t, wait(t, start(t, "panic", nil)))
	if ee.Code != proc.StatusPanic || !strings.HasPrefix(ee.Panic, "kaboom\n") || !strings.Contains(ee.Panic, "panicInChild") {
		t.Fatalf("got code %d, panic %q", ee.Code, ee.Panic)
	}
}

// TestWaitReportsCrash: a panic in another goroutine cannot be recovered;
// the runtime's report still reaches Wait.
func TestWaitReportsCrash(t *testing.T) {
	ee := exitError(t, wait(t, start(t, "crash", &proc.Options{Stderr: &bytes.Buffer{}})))
	if ee.Code != 2 || !strings.Contains(ee.Crash, "panic: crash in another goroutine") {
		t.Fatalf("got code %d, crash output %q", ee.Code, ee.Crash)
	}
}

func TestWaitExitCode(t *testing.T) {
	ee := exitError(t, wait(t, start(t, "exit", &proc.Options{Handles: []any{7}})))
	if ee.Code != 7 || ee.Err != "" || ee.Cause != nil {
		t.Fatalf("got %+v", ee)
	}
	if err := wait(t, start(t, "exit", &proc.Options{Handles: []any{0}})); err != nil {
		t.Fatalf("os.Exit(0) in the child: %v", err)
	}
}

// TestTerminate: SIGTERM cancels the Func's context; a Func that ignores
// it is killed after the grace period.
func TestTerminate(t *testing.T) {
	p := start(t, "until-cancelled", nil)
	if !p.Alive() || p.ExitCode() != -1 {
		t.Fatal("child not alive after Start")
	}
	if err := p.Terminate(time.Minute); err != nil {
		t.Fatal(err)
	}
	if p.Alive() {
		t.Fatal("child alive after Terminate")
	}
	ee := exitError(t, wait(t, p))
	if ee.Code != proc.StatusError || ee.Err != context.Canceled.Error() {
		t.Fatalf("got %+v", ee)
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit: %v, want os.ErrProcessDone", err)
	}

	p = start(t, "stubborn", nil)
	if err := p.Terminate(100 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ee = exitError(t, wait(t, p))
	if ee.Signal != syscall.SIGKILL {
		t.Fatalf("stubborn child: %+v, want killed by SIGKILL", ee)
	}
}

func TestKill(t *testing.T) {
	p := start(t, "stubborn", nil)
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	ee := exitError(t, wait(t, p))
	if ee.Signal != syscall.SIGKILL || ee.Code != -1 {
		t.Fatalf("got %+v", ee)
	}
	if !strings.Contains(ee.Error(), "killed by signal 9") {
		t.Errorf("Error() = %q", ee.Error())
	}
}

// TestContextCancelTerminates: cancelling Start's context terminates the
// child.
func TestContextCancelTerminates(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	p, err := proc.Start(ctx, "until-cancelled", nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	ee := exitError(t, wait(t, p))
	if ee.Err != context.Canceled.Error() {
		t.Fatalf("got %+v", ee)
	}
	if _, err := proc.Start(ctx, "until-cancelled", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled context: %v", err)
	}
}

func TestWaitContext(t *testing.T) {
	p := start(t, "until-cancelled", nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := p.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v, want DeadlineExceeded", err)
	}
	if !p.Alive() {
		t.Fatal("Wait's context ended the child")
	}
}

func TestStdoutArgsEnv(t *testing.T) {
	var out bytes.Buffer
	p := start(t, "hello-stdout", &proc.Options{Stdout: &out, Args: []string{"a", "b c"}, Env: []string{"PROC_TEST_VAR=v"}})
	if err := wait(t, p); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "args=[\"a\" \"b c\"] env=\"v\"\n"; got != want {
		t.Fatalf("child wrote %q, want %q", got, want)
	}
}

// TestUnregistered: a name this program does not know fails in Start; one
// registered too late (after Main, so the child lacks it) fails in the
// child, and Wait says why.
func TestUnregistered(t *testing.T) {
	if _, err := proc.Start(t.Context(), "no such child", nil); !errors.Is(err, proc.ErrNotRegistered) {
		t.Fatalf("Start: %v, want ErrNotRegistered", err)
	}
	late := fmt.Sprintf("late-%d", time.Now().UnixNano())
	proc.Register(late, func(ctx context.Context, c *proc.Child) error { return nil })
	ee := exitError(t, wait(t, start(t, late, nil)))
	if !errors.Is(ee, proc.ErrNotRegistered) || ee.Code != proc.StatusSetup || !strings.Contains(ee.Err, "init function") {
		t.Fatalf("got %+v", ee)
	}
}

// TestNoMain: a program that does not call Main is reported, whether it
// exits or hangs.
func TestNoMain(t *testing.T) {
	_, err := proc.Start(t.Context(), "x", &proc.Options{Executable: "/bin/true"})
	var ee *proc.ExitError
	if !errors.Is(err, proc.ErrNoMain) || !errors.As(err, &ee) || ee.Code != 0 {
		t.Fatalf("/bin/true: %v, want an ExitError matching ErrNoMain", err)
	}
	if !strings.Contains(err.Error(), "without calling proc.Main") {
		t.Errorf("unclear error %q", err)
	}
	_, err = proc.Start(t.Context(), "x", &proc.Options{Executable: "/bin/sh", Args: []string{"-c", "exec sleep 60"}, StartTimeout: 200 * time.Millisecond})
	if !errors.Is(err, proc.ErrNoMain) || !strings.Contains(err.Error(), "within 200ms") {
		t.Fatalf("sleeping shell: %v, want ErrNoMain after the timeout", err)
	}
}

// TestChildExitsBeforeReading: a child that exits without touching the
// ring it was given loses nothing: the messages wait for the next one.
func TestChildExitsBeforeReading(t *testing.T) {
	ctx := t.Context()
	ring, err := mmapring.New(mmapring.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	prod, err := ring.Producer()
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, m := range []string{"one", "two", "last"} {
		if err := prod.Send(ctx, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := wait(t, start(t, "quitter", &proc.Options{Handles: []any{ring}})); err != nil {
		t.Fatal(err)
	}
	pr, pw, err := posix.Pipe(false)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	p := start(t, "drain", &proc.Options{Handles: []any{ring, pw}})
	pw.Close()
	var got []string
	for {
		msg, err := pr.ReceiveBytes(ctx)
		if err != nil {
			break // EOF: the child exited
		}
		got = append(got, string(msg))
	}
	if err := wait(t, p); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "one,two,last" {
		t.Fatalf("second child got %q", got)
	}
}

// TestStartInChild: a child can start children of its own.
func TestStartInChild(t *testing.T) {
	pr, pw, err := posix.Pipe(false)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	p := start(t, "nested", &proc.Options{Handles: []any{pw}})
	pw.Close()
	msg, err := pr.ReceiveBytes(t.Context())
	if err != nil || string(msg) != "hello, nested, from the child greeter" {
		t.Fatalf("got %q, %v", msg, err)
	}
	if err := wait(t, p); err != nil {
		t.Fatal(err)
	}
}

func init() {
	proc.Register("nested", func(ctx context.Context, c *proc.Child) error {
		w, err := c.Conn(0)
		if err != nil {
			return err
		}
		defer w.Close()
		p, err := proc.Start(ctx, "greeter", &proc.Options{Handles: []any{w, "nested"}})
		if err != nil {
			return err
		}
		return p.Wait(ctx)
	})
}

// TestChildConcurrentUse: a Child's accessors may be called from several
// goroutines at once.
func TestChildConcurrentUse(t *testing.T) {
	_, pw, err := posix.Pipe(false)
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	if err := wait(t, start(t, "concurrent", &proc.Options{Handles: []any{pw, 5}})); err != nil {
		t.Fatal(err)
	}
}

func init() {
	proc.Register("unlinked-handles", func(ctx context.Context, c *proc.Child) error {
		mq, err := c.Queue(0)
		if err != nil {
			return err
		}
		defer mq.Close()
		buf := make([]byte, mq.MsgSize())
		n, _, err := mq.Receive(ctx, buf)
		if err != nil || string(buf[:n]) != "after unlink" {
			return fmt.Errorf("mq: %q, %v", buf[:n], err)
		}
		shm, err := c.SharedMemory(1)
		if err != nil {
			return err
		}
		defer shm.Close()
		m, err := shm.Map(0)
		if err != nil {
			return err
		}
		defer m.Close()
		if got := string(m.Bytes()[:12]); got != "after unlink" {
			return fmt.Errorf("shm: %q", got)
		}
		return nil
	})
}

// A message queue and a shared-memory object reach the child through
// their descriptors, not their names: the child gets them after the parent
// unlinked both. Before QueueFromFile the child opened them again by name
// and failed ("was unlinked before the child opened it").
func TestQueueAndShmAfterUnlink(t *testing.T) {
	ctx := t.Context()
	mq, err := posix.CreateQueue(ipctest.Name("mq"), 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer mq.Close()
	if err := mq.Unlink(); err != nil {
		t.Fatal(err)
	}
	if err := mq.Send(ctx, []byte("after unlink"), 0); err != nil {
		t.Fatal(err)
	}
	shm, err := posix.CreateShm(ipctest.Name("shm"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer shm.Close()
	if err := shm.Unlink(); err != nil {
		t.Fatal(err)
	}
	m, err := shm.Map(0)
	if err != nil {
		t.Fatal(err)
	}
	copy(m.Bytes(), "after unlink")
	m.Close()
	p := start(t, "unlinked-handles", &proc.Options{Handles: []any{mq, shm}})
	if err := wait(t, p); err != nil {
		t.Fatal(err)
	}
}
