package posix_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/posix"
)

// Tests of the descriptor-mode design (package doc, "Descriptor modes"):
// a descriptor that another process may hold stays in the mode that
// process expects, and the Go side still waits in the poller and honours
// its context.

func nonblocking(t *testing.T, fd int) bool {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.O_NONBLOCK != 0
}

func fileNonblocking(t *testing.T, f *os.File) bool {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var nb bool
	rc.Control(func(fd uintptr) { nb = nonblocking(t, int(fd)) })
	return nb
}

// mustReturn fails the test if f does not return within 20 s (a guard
// against a call stuck in the kernel, not a timing assertion); unblock is
// then called to free it.
func mustReturn(t *testing.T, what string, f func() error, unblock func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		unblock()
		<-done
		t.Fatalf("%s did not return within 20s: stuck in a blocking system call", what)
		return nil
	}
}

// A Python multiprocessing Connection on an inherited end of posix.Pipe
// reads and writes with blocking calls: the end must be blocking, or
// recv_bytes raises BlockingIOError (as send_bytes does once a pipe is
// full). Before the fix both Pipe flavours handed out non-blocking
// descriptors and Python reported "BLOCKING False".
func TestPipeEndForPython(t *testing.T) {
	py := testenv.Python(t, "multiprocessing.connection")
	script := `
import os, sys
from multiprocessing.connection import Connection
role = sys.argv[1]
print("BLOCKING", os.get_blocking(3), flush=True)
c = Connection(3, readable=(role != "writer"), writable=(role != "reader"))
if role == "writer":
    c.send_bytes(b"x" * (1 << 20))   # far more than a pipe holds
    c.send_bytes(b"from python")
else:
    m = c.recv_bytes()
    print("GOT", m.decode(), flush=True)
    if role == "duplex":
        c.send_bytes(m[::-1])
`
	for _, tc := range []struct {
		name   string
		duplex bool
		role   string // what Python does with its end
	}{
		{"simplex-python-reads", false, "reader"},
		{"simplex-python-writes", false, "writer"},
		{"duplex", true, "duplex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := posix.Pipe(tc.duplex)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			mine, theirs := w, r // Go writes, Python reads
			if tc.role == "writer" {
				mine, theirs = r, w
			}
			if fileNonblocking(t, theirs.File()) {
				t.Errorf("the end for Python is non-blocking")
			}
			cmd := exec.Command(py, "-c", script, tc.role)
			cmd.ExtraFiles = []*os.File{theirs.File()} // fd 3
			cmd.Stderr = os.Stderr
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			theirs.Close() // Python has it now
			peer := newLineReader(t, stdout)
			if l := peer.expect("BLOCKING"); l != "BLOCKING True" {
				t.Errorf("Python sees its end as %q, want blocking", l)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			switch tc.role {
			case "writer":
				big, err := mine.ReceiveBytes(ctx)
				if err != nil || len(big) != 1<<20 {
					t.Fatalf("Go received %d bytes, %v", len(big), err)
				}
				got, err := mine.ReceiveBytes(ctx)
				if err != nil || string(got) != "from python" {
					t.Fatalf("Go received %q, %v", got, err)
				}
			default:
				if err := mine.Send(ctx, []byte("olleh")); err != nil {
					t.Fatal(err)
				}
				if l := peer.expect("GOT"); l != "GOT olleh" {
					t.Errorf("Python: %q", l)
				}
				if tc.role == "duplex" {
					got, err := mine.ReceiveBytes(ctx)
					if err != nil || string(got) != "hello" {
						t.Fatalf("Go received %q, %v", got, err)
					}
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("python: %v", err)
			}
		})
	}
}

// eventfdValuesCrossed reports whether eventfd counts that cross between
// processes arrive byte-swapped: under qemu-user a big-endian guest's
// eventfd values are translated by the emulator of the process that
// created the eventfd only (linux-user/fd-trans.c), so a count that one
// process writes reaches another one swapped. The tests then check only
// that the reads and writes complete.
func eventfdValuesCrossed() bool {
	x := uint16(1)
	return testenv.Emulated() && *(*byte)(unsafe.Pointer(&x)) == 0
}

// expectRead checks the C peer's "READ n" line.
func expectRead(t *testing.T, peer *lineReader, want string) {
	t.Helper()
	if l := peer.expect("READ"); l != want && !eventfdValuesCrossed() {
		t.Errorf("C: %q, want %q", l, want)
	}
}

// A C process that inherits the descriptor of a Go EventFD blocks in
// read(2) until Go adds, and Go's Wait sees what C adds. Before the fix
// the descriptor was non-blocking: C printed "MODE nonblocking" and its
// read failed with EAGAIN.
func TestEventFDInheritedByC(t *testing.T) {
	bin := testenv.BuildC(t, "", "eventfd_peer", []string{"eventfd_peer.c"})
	e, err := posix.NewEventFD(0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cmd := newCmd(bin, "inherit")
	cmd.ExtraFiles = []*os.File{e.File()}
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	peer := newLineReader(t, stdout)
	if l := peer.expect("MODE"); l != "MODE blocking" {
		t.Errorf("C sees the inherited eventfd as %q", l)
	}
	peer.expect("READY")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Go's own Wait still honours cancellation on the blocking descriptor.
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	_, err = e.Wait(short)
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on an empty eventfd with a deadline: %v", err)
	}
	if err := e.Add(ctx, 5); err != nil {
		t.Fatal(err)
	}
	expectRead(t, peer, "READ 5")
	if v, err := e.Wait(ctx); err != nil || v != 3 && !eventfdValuesCrossed() {
		t.Fatalf("Wait for C's write: %d %v", v, err)
	}
	peer.expect("DONE")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("C peer: %v", err)
	}
}

// EventFDFromFile on an eventfd that a C process sent must leave the C
// side's descriptor (the same open file description) blocking. Before the
// fix it made it non-blocking: C printed "MODE nonblocking" and its
// read(2) failed with EAGAIN. The adopted EventFD still waits in the
// poller: a Wait with a deadline returns, TryWait does not block, and
// Wait sees what C writes.
func TestEventFDFromFileKeepsSenderMode(t *testing.T) {
	bin := testenv.BuildC(t, "", "eventfd_peer", []string{"eventfd_peer.c"})
	mine, theirs, err := posix.SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	tf, err := theirs.File()
	if err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	cmd := newCmd(bin, "send")
	cmd.ExtraFiles = []*os.File{tf}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	tf.Close()
	peer := newLineReader(t, stdout)
	buf := make([]byte, 1)
	_, files, err := posix.ReceiveFiles(mine, buf, 1)
	if err != nil || len(files) != 1 {
		t.Fatalf("ReceiveFiles: %v %v", files, err)
	}
	e, err := posix.EventFDFromFile(files[0])
	files[0].Close()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	fmt.Fprintln(stdin, "ADOPTED")
	if l := peer.expect("MODE"); l != "MODE blocking" {
		t.Errorf("after Go adopted C's eventfd, C's own descriptor is %q", l)
	}
	peer.expect("READY")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.TryWait(); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("TryWait on an empty adopted eventfd: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	_, err = e.Wait(short)
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with a deadline on an empty adopted eventfd: %v", err)
	}
	if err := e.Add(ctx, 5); err != nil {
		t.Fatal(err)
	}
	expectRead(t, peer, "READ 5")
	if v, err := e.Wait(ctx); err != nil || v != 3 && !eventfdValuesCrossed() {
		t.Fatalf("Wait for C's write: %d %v", v, err)
	}
	peer.expect("DONE")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("C peer: %v", err)
	}
}

// ConnFromFile never changes the mode of the descriptor it adopts (another
// process may hold the same open file description), and the Conn still
// waits in the poller: a Receive with a deadline returns, and messages flow.
// Before the fix NewConn (now ConnFromFile) made every descriptor non-blocking.
func TestConnFromFileKeepsMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	check := func(t *testing.T, mine, peer int) {
		// mine: a blocking descriptor another process could share (the
		// test keeps a duplicate to look at its mode).
		dup, err := unix.Dup(mine)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(dup)
		c, err := connFromFD(mine, "adopted")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if nonblocking(t, dup) {
			t.Fatal("ConnFromFile made the shared open file description non-blocking")
		}
		short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
		err = mustReturn(t, "Receive with a deadline", func() error {
			_, err := c.Receive(short, make([]byte, 8))
			return err
		}, func() { unix.Write(peer, []byte{0, 0, 0, 0}) })
		cancelShort()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Receive with a deadline: %v", err)
		}
		if _, err := unix.Write(peer, append([]byte{0, 0, 0, 5}, "hello"...)); err != nil {
			t.Fatal(err)
		}
		got, err := c.ReceiveBytes(ctx)
		if err != nil || string(got) != "hello" {
			t.Fatalf("ReceiveBytes = %q %v", got, err)
		}
		if nonblocking(t, dup) {
			t.Fatal("the adopted descriptor became non-blocking")
		}
	}
	t.Run("pipe", func(t *testing.T) {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		defer unix.Close(p[1])
		check(t, p[0], p[1])
	})
	t.Run("socket", func(t *testing.T) {
		s, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(s[1])
		check(t, s[0], s[1])
	})
	t.Run("fifo", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "fifo")
		if err := unix.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		rfd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		wfd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(wfd)
		check(t, rfd, wfd)
	})
}

// OpenFifo's descriptor is blocking too (it is what File hands out).
func TestOpenFifoHandsOutBlocking(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := posix.Mkfifo(path, 0); err != nil {
		t.Fatal(err)
	}
	c, err := posix.OpenFifo(context.Background(), path, unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if fileNonblocking(t, c.File()) {
		t.Fatal("OpenFifo(O_RDWR) handed out a non-blocking descriptor")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Receive(ctx, make([]byte, 4)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive with a deadline: %v", err)
	}
}

// SendFiles must not switch the files it sends to blocking mode: f.Fd()
// does that to files that os.Pipe, os.OpenFile and a net.Conn's File made,
// after which a read with a deadline sits in the kernel for good (and for
// the net.Conn case, the connection's own socket with it). Before the fix
// both reads below stayed blocked past their deadlines.
func TestSendFilesKeepsModes(t *testing.T) {
	a, b, err := posix.SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	send := func(f *os.File) {
		t.Helper()
		if err := posix.SendFiles(a, nil, f); err != nil {
			t.Fatal(err)
		}
		_, files, err := posix.ReceiveFiles(b, make([]byte, 1), 1)
		if err != nil || len(files) != 1 {
			t.Fatalf("ReceiveFiles: %v %v", files, err)
		}
		files[0].Close()
	}

	t.Run("os.Pipe", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		send(r)
		r.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		err = mustReturn(t, "a deadline read on a sent os.Pipe end", func() error {
			_, err := r.Read(make([]byte, 1))
			return err
		}, func() { w.Write([]byte{1}) })
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read with a deadline: %v", err)
		}
	})
	t.Run("net.Conn.File", func(t *testing.T) {
		x, y, err := posix.SocketPair()
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		defer y.Close()
		xf, err := x.File() // shares x's open file description
		if err != nil {
			t.Fatal(err)
		}
		defer xf.Close()
		send(xf)
		x.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		err = mustReturn(t, "a deadline read on the net.Conn whose File was sent", func() error {
			_, err := x.Read(make([]byte, 1))
			return err
		}, func() { y.Write([]byte{1}) })
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read with a deadline: %v", err)
		}
	})
	t.Run("EventFD and Conn", func(t *testing.T) {
		e, err := posix.NewEventFD(0, false)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		r, w, err := posix.Pipe(false)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		send(e.File())
		send(r.File())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		err = mustReturn(t, "EventFD.Wait with a deadline", func() error { _, err := e.Wait(ctx); return err },
			func() { e.Add(context.Background(), 1) })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("EventFD.Wait: %v", err)
		}
		err = mustReturn(t, "Conn.Receive with a deadline", func() error { _, err := r.Receive(ctx, make([]byte, 4)); return err },
			func() { w.Send(context.Background(), nil) })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Conn.Receive: %v", err)
		}
	})
}

// The watched mode (a blocking socket from elsewhere) carries large
// messages both ways, with partial writes waiting for room, and Close
// wakes a blocked Receive.
func TestAdoptedBlockingSocketStream(t *testing.T) {
	s, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := connFromFD(s[0], "a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := connFromFD(s[1], "b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	big := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB
	errc := make(chan error, 1)
	go func() { errc <- a.Send(ctx, big) }()
	got, err := b.ReceiveBytes(ctx)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("ReceiveBytes: %d bytes, %v", len(got), err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	go func() { _, err := b.Receive(context.Background(), make([]byte, 4)); errc <- err }()
	time.Sleep(10 * time.Millisecond)
	b.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Receive on a closed Conn: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not wake a blocked Receive")
	}
}

// Both eventfd read paths (RWF_NOWAIT, and poll before read for kernels
// without it) keep a Go-made and an adopted blocking eventfd usable from
// the poller: TryWait does not block, Wait honours its deadline, counts
// add up, and the descriptors stay blocking.
func TestEventFDReadPaths(t *testing.T) {
	for _, nowait := range []bool{true, false} {
		t.Run(fmt.Sprint("RWF_NOWAIT=", nowait), func(t *testing.T) {
			if nowait && !posix.EventFDNowait() {
				// eventfd reads honour RWF_NOWAIT once fs/eventfd.c became a read_iter file
				// with FMODE_NOWAIT ("eventfd: convert to f_op->read_iter()", Linux 5.x);
				// 5.12 is taken as a safe bound for kernels that must have it.
				testenv.RequireKernelFeature(t, false, "RWF_NOWAIT reads of an eventfd", "5.12",
					"qemu-user does not implement preadv2 (or translates eventfd counts only for read/write)")
			}
			defer posix.SetEventFDNowait(nowait)()
			fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			f := os.NewFile(uintptr(fd), "eventfd")
			defer f.Close()
			adopted, err := posix.EventFDFromFile(f)
			if err != nil {
				t.Fatal(err)
			}
			defer adopted.Close()
			made, err := posix.NewEventFD(0, false)
			if err != nil {
				t.Fatal(err)
			}
			defer made.Close()
			for name, e := range map[string]*posix.EventFD{"NewEventFD": made, "EventFDFromFile": adopted} {
				if _, err := e.TryWait(); !errors.Is(err, unix.EAGAIN) {
					t.Fatalf("%s: TryWait at zero: %v", name, err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				_, err := e.Wait(ctx)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("%s: Wait at zero with a deadline: %v", name, err)
				}
				bg := context.Background()
				e.Add(bg, 2)
				e.Add(bg, 40)
				if v, err := e.Wait(bg); v != 42 || err != nil {
					t.Fatalf("%s: Wait = %d %v, want 42", name, v, err)
				}
				e.Add(bg, 7)
				if v, err := e.TryWait(); v != 7 || err != nil {
					t.Fatalf("%s: TryWait = %d %v, want 7", name, v, err)
				}
				if fileNonblocking(t, e.File()) {
					t.Fatalf("%s: the descriptor is non-blocking", name)
				}
			}
			if fileNonblocking(t, f) {
				t.Fatal("the adopted eventfd's open file description became non-blocking")
			}
		})
	}
}

// A Queue's File has the mode mq_open would give (blocking unless asked
// for O_NONBLOCK: mq_getattr on it reports mq_flags 0), while the Queue
// itself still waits in the poller. Before the fix OpenQueue always
// opened the queue O_NONBLOCK, so a process handed the descriptor got
// EAGAIN from mq_receive.
func TestQueueFileMode(t *testing.T) {
	q := newQueue(t, 4, 64)
	var a abi.MqAttr
	rc, err := q.File().SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var gerr error
	rc.Control(func(fd uintptr) { gerr = posix.MqGetsetattr(int(fd), nil, &a) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	if a.Flags&unix.O_NONBLOCK != 0 || fileNonblocking(t, q.File()) {
		t.Fatalf("the queue's File is non-blocking (mq_flags %#x)", a.Flags)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, _, err := q.Receive(ctx, make([]byte, 64)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive with a deadline on an empty queue: %v", err)
	}
	if _, _, err := q.TryReceive(make([]byte, 64)); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("TryReceive on an empty queue: %v", err)
	}
	nb, err := posix.OpenQueueFlags(q.Name(), unix.O_RDONLY|unix.O_NONBLOCK, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	if !fileNonblocking(t, nb.File()) {
		t.Fatal("a queue opened with O_NONBLOCK hands out a blocking descriptor")
	}
}
