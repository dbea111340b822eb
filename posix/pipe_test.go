package posix_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/posix"
)

func TestPipeDuplexAndSimplex(t *testing.T) {
	for _, duplex := range []bool{true, false} {
		t.Run(fmt.Sprint("duplex=", duplex), func(t *testing.T) {
			a, b, err := posix.Pipe(duplex)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			defer b.Close()
			ctx := context.Background()
			big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB: many partial writes
			done := make(chan error, 1)
			go func() {
				for _, m := range [][]byte{[]byte("one"), {}, big, []byte("last")} {
					if err := b.Send(ctx, m); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			buf := make([]byte, 8)
			if n, err := a.Receive(ctx, buf); err != nil || string(buf[:n]) != "one" {
				t.Fatalf("Receive = %q %v", buf[:n], err)
			}
			if ok, err := a.Poll(ctx); !ok || err != nil {
				t.Fatalf("Poll = %v %v", ok, err)
			}
			if n, err := a.Receive(ctx, buf); err != nil || n != 0 {
				t.Fatalf("empty message: %d %v", n, err)
			}
			// Too small a buffer: the message stays queued.
			_, err = a.Receive(ctx, buf)
			var se *posix.MsgSizeError
			if !errors.As(err, &se) || se.Size != len(big) || !errors.Is(err, unix.EMSGSIZE) {
				t.Fatalf("Receive into small buffer: %v", err)
			}
			got, err := a.ReceiveBytes(ctx)
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("ReceiveBytes: %d bytes, %v", len(got), err)
			}
			if n, err := a.Receive(ctx, buf); err != nil || string(buf[:n]) != "last" {
				t.Fatalf("Receive = %q %v", buf[:n], err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if duplex { // the other direction
				if err := a.Send(ctx, []byte("back")); err != nil {
					t.Fatal(err)
				}
				if n, err := b.Receive(ctx, buf); err != nil || string(buf[:n]) != "back" {
					t.Fatalf("reverse: %q %v", buf[:n], err)
				}
			}
			// Poll with a deadline on an empty pipe.
			pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			if ok, err := a.Poll(pctx); ok || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Poll on empty = %v %v", ok, err)
			}
			cancel()
			// Peer closed: Poll is true, Receive reports EOF.
			b.Close()
			if ok, _ := a.Poll(ctx); !ok {
				t.Fatal("Poll after peer close = false")
			}
			if _, err := a.Receive(ctx, buf); err != io.EOF {
				t.Fatalf("Receive after peer close: %v, want EOF", err)
			}
			if duplex { // writing to a closed peer fails; the process lives on
				if err := a.Send(ctx, []byte("x")); !errors.Is(err, unix.EPIPE) {
					t.Fatalf("Send to a closed peer: %v, want EPIPE", err)
				}
			}
		})
	}
}

func TestPipeCancel(t *testing.T) {
	a, b, err := posix.Pipe(true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := a.Receive(ctx, make([]byte, 8)); errc <- err }()
	time.Sleep(30 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Receive ignored cancellation")
	}
	// A Send cancelled part-way breaks the sending side. Cancel only once
	// part of the 8 MiB message (far more than the socket buffer) has
	// reached the peer, so the cancellation lands mid-frame.
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	serr := make(chan error, 1)
	go func() { serr <- b.Send(sctx, make([]byte, 8<<20)) }()
	if ok, err := a.Poll(context.Background()); !ok || err != nil {
		t.Fatalf("Poll: %v %v", ok, err)
	}
	scancel()
	select {
	case err := <-serr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Send of 8 MiB: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send ignored cancellation")
	}
	if err := b.Send(context.Background(), []byte("x")); !errors.Is(err, posix.ErrBrokenStream) {
		t.Fatalf("Send after torn frame: %v, want ErrBrokenStream", err)
	}
}

func TestPipeAllocs(t *testing.T) {
	a, b, err := posix.Pipe(true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	msg, buf := []byte("payload"), make([]byte, 64)
	allocs := testing.AllocsPerRun(500, func() {
		if err := a.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Receive(ctx, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Pipe Send+Receive: %v allocs/op, want 0", allocs)
	}
}

func BenchmarkPipeSendReceive(b *testing.B) {
	x, y, err := posix.Pipe(true)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	defer y.Close()
	ctx := context.Background()
	msg, buf := make([]byte, 64), make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		x.Send(ctx, msg)
		y.Receive(ctx, buf)
	}
}

// Python's multiprocessing.connection reads the same framing.
func TestPipePythonConnection(t *testing.T) {
	py := testenv.Python(t, "multiprocessing.connection")
	// A socket pair whose Go end is adopted by ConnFromFile (non-blocking, in
	// the poller) and whose other end stays blocking for Python.
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := connFromFD(fds[0], "to-python")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	pf := os.NewFile(uintptr(fds[1]), "python-end")
	defer pf.Close()
	script := `
from multiprocessing.connection import Connection
c = Connection(3)
m = c.recv_bytes()
c.send_bytes(m[::-1] + b" from python")
`
	cmd := exec.Command(py, "-c", script)
	cmd.ExtraFiles = []*os.File{pf} // fd 3
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Send(ctx, []byte("olleh")); err != nil {
		t.Fatal(err)
	}
	got, err := a.ReceiveBytes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello from python" {
		t.Fatalf("python replied %q", got)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestFifo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := posix.Mkfifo(path, 0); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode()&os.ModeNamedPipe == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	ctx := context.Background()
	// Opening for writing waits for a reader.
	wc := make(chan *posix.Conn, 1)
	go func() {
		w, err := posix.OpenFifo(ctx, path, unix.O_WRONLY)
		if err != nil {
			t.Error(err)
		}
		wc <- w
	}()
	r, err := posix.OpenFifo(ctx, path, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := <-wc
	if w == nil {
		t.FailNow()
	}
	if err := w.Send(ctx, []byte("through the fifo")); err != nil {
		t.Fatal(err)
	}
	got, err := r.ReceiveBytes(ctx)
	if err != nil || string(got) != "through the fifo" {
		t.Fatalf("ReceiveBytes = %q %v", got, err)
	}
	w.Close()
	if _, err := r.ReceiveBytes(ctx); err != io.EOF {
		t.Fatalf("after writer closed: %v", err)
	}
	r.Close()

	// Cancelling an open that waits for the other side.
	before := fdCount(t)
	for _, flag := range []int{unix.O_WRONLY, unix.O_RDONLY} {
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		start := time.Now()
		_, err := posix.OpenFifo(cctx, path, flag)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("OpenFifo(%#x) with nobody on the other side: %v", flag, err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("cancel took %v", el)
		}
	}
	if after := fdCount(t); after != before {
		t.Errorf("cancelled opens leaked %d descriptors", after-before)
	}
	// Not a FIFO.
	if _, err := posix.OpenFifo(ctx, t.TempDir(), unix.O_RDWR); err == nil {
		t.Error("OpenFifo of a directory succeeded")
	}
}

func TestEventFD(t *testing.T) {
	ctx := context.Background()
	e, err := posix.NewEventFD(0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.TryWait(); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("TryWait on zero: %v", err)
	}
	got := make(chan uint64, 1)
	go func() {
		v, err := e.Wait(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- v
	}()
	time.Sleep(20 * time.Millisecond)
	e.Add(ctx, 3)
	if v := <-got; v != 3 {
		t.Fatalf("counter mode: Wait = %d, want 3", v)
	}
	e.Add(ctx, 2)
	e.Add(ctx, 5)
	if v, _ := e.Wait(ctx); v != 7 {
		t.Fatalf("counter mode sums: %d", v)
	}
	// Semaphore mode.
	s, err := posix.NewEventFD(2, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 2; i++ {
		if v, err := s.Wait(ctx); v != 1 || err != nil {
			t.Fatalf("semaphore Wait = %d %v", v, err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := s.Wait(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("semaphore Wait at zero: %v", err)
	}
	allocs := testing.AllocsPerRun(500, func() {
		s.Add(ctx, 1)
		s.Wait(ctx)
	})
	if allocs != 0 {
		t.Errorf("EventFD Add+Wait: %v allocs/op", allocs)
	}
}

func init() {
	// Child: receives a memfd and an eventfd over SCM_RIGHTS from the
	// socket on fd 3, checks the memfd's seals, reads the payload, adds
	// 100000 to the shared counter at offset 4096 concurrently with the
	// parent, then signals the eventfd.
	testenv.RegisterChild("fdpass", func(args []string) int {
		fail := func(f string, a ...any) int { fmt.Fprintf(os.Stderr, "child: "+f+"\n", a...); return 1 }
		c, err := net.FileConn(os.NewFile(3, "sock"))
		if err != nil {
			return fail("%v", err)
		}
		buf := make([]byte, 16)
		n, files, err := posix.ReceiveFiles(c.(*net.UnixConn), buf, 4)
		if err != nil || len(files) != 2 || string(buf[:n]) != "take these" {
			return fail("ReceiveFiles: %q %d %v", buf[:n], len(files), err)
		}
		size, err := posix.CheckSealed(files[0], 0)
		if err != nil {
			return fail("CheckSealed: %v", err)
		}
		m, err := posix.Map(files[0], 0, int(size), 0)
		if err != nil {
			return fail("%v", err)
		}
		defer m.Close() // keeps m reachable while ctr points into it
		if got := string(m.Bytes()[:14]); got != "sealed payload" {
			return fail("payload %q", got)
		}
		ctr, err := posix.Int64At(m, 4096)
		if err != nil {
			return fail("%v", err)
		}
		ev, err := posix.EventFDFromFile(files[1])
		if err != nil {
			return fail("%v", err)
		}
		ev.Add(context.Background(), 1) // started
		for i := 0; i < 100000; i++ {
			ctr.Add(1)
		}
		ev.Add(context.Background(), 1) // done
		fmt.Print("child ok")
		return 0
	})
}

// Unrelated processes share a memfd: the parent passes it (sealed against
// resizing) and an eventfd over a Unix socket; both processes update one
// atomic counter in it.
func TestPassMemfdToChild(t *testing.T) {
	f, err := posix.MemfdCreate("pass", 8192, posix.MemfdAllowSealing)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := posix.Map(f, 0, 8192, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	copy(m.Bytes(), "sealed payload")
	if err := posix.AddSeals(f, posix.SealSize|posix.SealSeal); err != nil {
		t.Fatal(err)
	}
	ev, err := posix.NewEventFD(0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
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
	cmd := testenv.Child(t, "fdpass")
	cmd.ExtraFiles = []*os.File{tf} // only the socket: the rest goes by SCM_RIGHTS
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tf.Close()
	if err := posix.SendFiles(mine, []byte("take these"), f, ev.File()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := ev.Wait(ctx); err != nil { // child started
		t.Fatal(err)
	}
	ctr, err := posix.Int64At(m, 4096)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100000; i++ {
		ctr.Add(1)
	}
	if _, err := ev.Wait(ctx); err != nil { // child done
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil || out.String() != "child ok" {
		t.Fatalf("child: %v %q", err, out.String())
	}
	if v := ctr.Load(); v != 200000 {
		t.Fatalf("shared counter = %d, want 200000", v)
	}
}

func TestReceiveFilesTruncated(t *testing.T) {
	testenv.SkipUnderEmulation(t, "qemu-user gives the host kernel a control buffer twice the guest's, so SCM_RIGHTS truncates at other sizes")
	a, b, err := posix.SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	before := fdCount(t)
	if err := posix.SendFiles(a, nil, os.Stdin, os.Stdout, os.Stderr); err != nil {
		t.Fatal(err)
	}
	_, files, err := posix.ReceiveFiles(b, make([]byte, 4), 1)
	if !errors.Is(err, posix.ErrTruncatedRights) || files != nil {
		t.Fatalf("ReceiveFiles with room for 1 of 3: %v %v", files, err)
	}
	if after := fdCount(t); after != before {
		t.Errorf("truncated receive leaked %d descriptors", after-before)
	}
}

// A Receive interrupted in the middle of a message keeps what it read; the
// next Receive, into another buffer, returns the whole message intact.
func TestPipeReceiveResumesAfterCancel(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := connFromFD(fds[0], "r")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer unix.Close(fds[1])
	// Write a 10-byte frame by hand, only half of the body at first.
	msg := []byte("0123456789")
	unix.Write(fds[1], append([]byte{0, 0, 0, 10}, msg[:5]...))
	first := make([]byte, 16)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Receive(ctx, first); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive of half a message: %v", err)
	}
	for i := range first {
		first[i] = 'X' // the caller reuses its buffer
	}
	unix.Write(fds[1], msg[5:])
	second := make([]byte, 10)
	n, err := r.Receive(context.Background(), second)
	if err != nil || string(second[:n]) != string(msg) {
		t.Fatalf("resumed Receive = %q %v", second[:n], err)
	}
}
