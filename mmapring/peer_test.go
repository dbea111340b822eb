package mmapring

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/testenv"
)

// The peer harness. Every fault test runs its victim (or its survivor) as
// a child process of each peer kind: the Go package (this test binary
// re-executed) and the C header (tests/c/ring_peer.c). Both implement the
// same modes with the same arguments and the same output, one line per
// event:
//
//	recv-all FD TIMEOUT_MS          receive until a non-message result or the
//	                                deadline: "msg TEXT" per message, then a status
//	send FD TIMEOUT_MS close|detach|hold MSG...
//	                                send each MSG (blocking until the deadline):
//	                                "sent" each, then "done" or a status; then
//	                                close the ring, detach, or hold the role
//	                                until killed
//	attach FD producer|consumer     wait for a line on stdin (a start barrier), take
//	                                the role: "won" or a status, then hold it until
//	                                stdin reaches EOF
//	send-nowake FD TIMEOUT_MS close|detach|hold MSG...
//	                                send, with every FUTEX_WAKE failing (ENOSYS, by
//	                                a seccomp filter): "wakefailed" for a message
//	                                published whose wake-up failed
//	open FD                         validate the ring: "ok" or a status
//	hold-reserve FD                 claim an MPMC cell and never commit: "held"
//	hold-peek FD                    take a message in place and never release it:
//	                                "msg TEXT"
//	reserve-abort FD TIMEOUT_MS N   reserve N bytes, abort, close the ring: "done" or
//	                                a status
//	produce/consume/drain ...       the cross-process modes of cross_test.go
//
// With IPCKIT_TEST_NO_MEMBARRIER=1 in its environment a peer first makes
// membarrier(2) fail with ENOSYS (a seccomp filter), as a kernel without it
// would, and prints "nobarrier" once attached if it then runs without the
// barrier (sequentially consistent publication), "barrier" if not.
//
// Statuses: eof, timeout, peerdead, corrupt, closed, busy, full, empty,
// toobig, notready, pending, or "err DETAIL".
type peerKind struct {
	name string // "go" or "c"
	cbin string // the C peer, built once per top-level test
}

func (pk peerKind) String() string { return pk.name }

var goPeer = peerKind{name: "go"}

// forEachPeer runs fn once per peer kind, as subtests named after the kind.
// Every TestFault* test must use it (TestFaultTestsRunEveryPeer checks).
func forEachPeer(t *testing.T, fn func(t *testing.T, pk peerKind)) {
	t.Helper()
	t.Run("go", func(t *testing.T) { fn(t, goPeer) })
	t.Run("c", func(t *testing.T) { fn(t, cPeerKind(t)) })
}

// cPeerKind builds the C peer (in a directory removed when t ends).
func cPeerKind(t *testing.T) peerKind { return peerKind{name: "c", cbin: ringPeer(t)} }

// cmd returns the command of a peer of kind pk running mode with the ring
// on fd 3.
func (pk peerKind) cmd(t *testing.T, mode string, args ...string) *exec.Cmd {
	t.Helper()
	if pk.name == "go" {
		return testenv.Child(t, "peer", append([]string{mode, "3"}, args...)...)
	}
	return testenv.Command(pk.cbin, append([]string{mode, "3"}, args...)...)
}

// peerProc is a running peer whose stdout is read line by line.
type peerProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string
	stdin io.WriteCloser
	done  chan struct{}
}

// startPeer starts a peer of kind pk on the ring in f; it is killed at the
// end of the test if still running.
func startPeer(t *testing.T, pk peerKind, f *os.File, mode string, args ...string) *peerProc {
	t.Helper()
	return startPeerCmd(t, pk.cmd(t, mode, args...), f)
}

// startPeerCmd starts cmd with the ring in f on fd 3 and reads its output.
func startPeerCmd(t *testing.T, cmd *exec.Cmd, f *os.File) *peerProc {
	t.Helper()
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &peerProc{t: t, cmd: cmd, lines: make(chan string, 1024), stdin: in, done: make(chan struct{})}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *peerProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	p.wait()
}

func (p *peerProc) wait() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	err := p.cmd.Wait()
	close(p.done)
	return err
}

// line returns the next line of output, failing the test after guard (a
// hung peer: the fault under test made it spin or ignore its deadline).
func (p *peerProc) line(guard time.Duration) string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("%s peer %v ended its output early (%v)", p.name(), p.cmd.Args, p.wait())
		}
		return l
	case <-time.After(guard):
		p.t.Fatalf("%s peer %v hung: no output for %v", p.name(), p.cmd.Args, guard)
	}
	return ""
}

func (p *peerProc) name() string {
	if strings.Contains(strings.Join(p.cmd.Args, " "), "ring_peer") {
		return "C"
	}
	return "Go"
}

// all reads every line until the peer exits, failing after guard.
func (p *peerProc) all(guard time.Duration) []string {
	p.t.Helper()
	var out []string
	deadline := time.After(guard)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				if err := p.wait(); err != nil {
					p.t.Fatalf("%s peer %v: %v (output %q)", p.name(), p.cmd.Args, err, out)
				}
				return out
			}
			out = append(out, l)
		case <-deadline:
			p.t.Fatalf("%s peer %v hung after %v; output so far %q", p.name(), p.cmd.Args, guard, out)
		}
	}
}

// runPeer runs a peer to completion and returns its output lines.
func runPeer(t *testing.T, pk peerKind, r *Ring, guard time.Duration, mode string, args ...string) []string {
	t.Helper()
	return startPeer(t, pk, r.File(), mode, args...).all(guard)
}

// wantLines fails unless got equals want.
func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("peer output %q, want %q", got, want)
	}
}

// statusOf names an error as the peers print it.
func statusOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case err == io.EOF:
		return "eof"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, ErrPeerDead):
		return "peerdead"
	case errors.Is(err, ErrCorrupt):
		return "corrupt"
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.Is(err, ErrRoleTaken):
		return "busy"
	case errors.Is(err, ErrFull):
		return "full"
	case errors.Is(err, ErrEmpty):
		return "empty"
	case errors.Is(err, ErrTooLarge):
		return "toobig"
	case errors.Is(err, ErrNotReady):
		return "notready"
	}
	return "err " + strings.ReplaceAll(err.Error(), "\n", " ")
}

func init() {
	testenv.RegisterChild("peer", goPeerMain)
}

// goPeerMain is the Go side of the peer harness (see peerKind).
func goPeerMain(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "peer: usage: MODE FD ...")
		return 2
	}
	mode, fd := args[0], int(atoi(args[1]))
	args = args[2:]
	out := bufio.NewWriter(os.Stdout)
	say := func(format string, a ...any) {
		fmt.Fprintf(out, format+"\n", a...)
		out.Flush()
	}
	denyBarrier := os.Getenv(noMembarrierEnv) == "1"
	if denyBarrier {
		if err := testenv.DenySyscalls(testenv.SeccompRule{Nr: unix.SYS_MEMBARRIER, Arg: -1, Errno: unix.ENOSYS}); err != nil {
			say("err seccomp: %v", err)
			return 0
		}
	}
	r, err := ringFromFD(fd)
	if err == nil && denyBarrier {
		if seqCstPublish && noBarrier {
			say("nobarrier")
		} else {
			say("barrier")
		}
	}
	if mode == "open" {
		say("%s", statusOf(err))
		return 0
	}
	if err != nil {
		say("%s", statusOf(err))
		return 0
	}
	deadline := func(ms string) (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), time.Duration(atoi(ms))*time.Millisecond)
	}
	switch mode {
	case "recv-all":
		c, err := r.Consumer()
		if err != nil {
			say("%s", statusOf(err))
			return 0
		}
		ctx, cancel := deadline(args[0])
		defer cancel()
		buf := make([]byte, r.MaxMessage())
		for {
			n, err := c.Receive(ctx, buf)
			if err != nil {
				say("%s", statusOf(err))
				break
			}
			say("msg %s", buf[:n])
		}
		c.Close()
		return 0
	case "send-nowake":
		if err := denyFutexWake(); err != nil {
			say("err seccomp: %v", err)
			return 0
		}
		fallthrough
	case "send":
		p, err := r.Producer()
		if err != nil {
			say("%s", statusOf(err))
			return 0
		}
		ctx, cancel := deadline(args[0])
		defer cancel()
		status := "done"
		for _, m := range args[2:] {
			err := p.Send(ctx, []byte(m))
			if errors.Is(err, ErrWakeFailed) && errors.Is(err, unix.ENOSYS) {
				say("wakefailed") // published; the wake-up failed
				continue
			}
			if err != nil {
				status = statusOf(err)
				break
			}
			say("sent")
		}
		switch args[1] {
		case "close":
			p.Close()
		case "hold": // keep the role until killed
			say("%s", status)
			time.Sleep(time.Hour)
		default:
			p.Detach()
		}
		say("%s", status)
		return 0
	case "attach":
		in := bufio.NewReader(os.Stdin)
		in.ReadString('\n') // the start barrier
		var closeFn func()
		if args[0] == "producer" {
			p, err := r.Producer()
			if err != nil {
				say("%s", statusOf(err))
				return 0
			}
			closeFn = func() { p.Detach() }
		} else {
			c, err := r.Consumer()
			if err != nil {
				say("%s", statusOf(err))
				return 0
			}
			closeFn = func() { c.Close() }
		}
		say("won")
		io.Copy(io.Discard, in)
		closeFn()
		return 0
	case "hold-reserve":
		p, err := r.Producer()
		if err != nil {
			say("%s", statusOf(err))
			return 1
		}
		b, err := p.TryReserve(5)
		if err != nil {
			say("%s", statusOf(err))
			return 1
		}
		copy(b, "never")
		say("held")
		time.Sleep(time.Hour) // until killed
		return 0
	case "reserve-abort":
		p, err := r.Producer()
		if err != nil {
			say("%s", statusOf(err))
			return 0
		}
		ctx, cancel := deadline(args[0])
		defer cancel()
		status := "done"
		if _, err := p.Reserve(ctx, int(atoi(args[1]))); err != nil {
			status = statusOf(err)
		} else if err := p.Abort(); err != nil {
			status = statusOf(err)
		}
		p.Close()
		say("%s", status)
		return 0
	case "hold-peek":
		c, err := r.Consumer()
		if err != nil {
			say("%s", statusOf(err))
			return 1
		}
		m, err := c.Peek(context.Background())
		if err != nil {
			say("%s", statusOf(err))
			return 1
		}
		say("msg %s", m)
		time.Sleep(time.Hour) // until killed
		return 0
	}
	fmt.Fprintln(os.Stderr, "peer: unknown mode", mode)
	return 2
}

// noMembarrierEnv asks a peer to run as if membarrier(2) did not exist.
const noMembarrierEnv = "IPCKIT_TEST_NO_MEMBARRIER"

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
