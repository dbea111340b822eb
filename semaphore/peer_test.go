package semaphore

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

// peerBin builds tests/c/sem_peer.c with cc: "" for the C compiler of the
// architecture under test (testenv.CC), or "musl-gcc", which builds for the
// host. musl peers are skipped where the Go side's musl sem_t cannot match
// a host-built program's: on big-endian targets (the int fields are
// byte-swapped). That is a property of the pairing, not a missing tool.
func peerBin(t testing.TB, cc string) string {
	t.Helper()
	out := "sem_peer_glibc"
	if cc != "" {
		if valueOff != 0 {
			t.Skip("musl-gcc builds for the little-endian host; this big-endian Go test cannot share a musl sem_t with it")
		}
		out = "sem_peer_" + cc
	}
	return buildPeer(t, cc, out, "sem_peer.c")
}

// emulated records the C peers built for the architecture under test,
// which the qemu-user legs run through $IPCKIT_EXEC.
var emulated sync.Map

func buildPeer(t testing.TB, cc, out, src string) string {
	t.Helper()
	bin := testenv.BuildC(t, cc, out, []string{src})
	if cc == "" {
		emulated.Store(bin, true)
	}
	return bin
}

// peerCmd returns the command that runs a C peer: through $IPCKIT_EXEC
// (e.g. "qemu-s390x-static -L /usr/s390x-linux-gnu") for peers built for
// an emulated architecture, directly otherwise.
func peerCmd(bin string, args ...string) *exec.Cmd {
	if _, ok := emulated.Load(bin); ok {
		if pre := strings.Fields(os.Getenv("IPCKIT_EXEC")); len(pre) > 0 {
			return exec.Command(pre[0], append(append(pre[1:], bin), args...)...)
		}
	}
	return exec.Command(bin, args...)
}

// ccFor returns the compiler that builds C peers for format f.
func ccFor(f Format) string {
	if f == Glibc {
		return ""
	}
	return "musl-gcc"
}

// peer is a running C peer whose stdout lines arrive on a channel.
type peer struct {
	t     testing.TB
	cmd   *exec.Cmd
	lines chan string
	done  chan error
}

func startPeer(t testing.TB, bin string, args ...string) *peer {
	t.Helper()
	cmd := peerCmd(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, cmd: cmd, lines: make(chan string, 64), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		io.Copy(io.Discard, out)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	p.expect("ready")
	return p
}

// expect waits (up to 30 s) for the next line and checks its prefix.
func (p *peer) expect(prefix string) string {
	p.t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("C peer %v exited before printing %q", p.cmd.Args, prefix)
		}
		if !strings.HasPrefix(l, prefix) {
			p.t.Fatalf("C peer %v printed %q, want %q...", p.cmd.Args, l, prefix)
		}
		return l
	case <-time.After(30 * time.Second):
		p.t.Fatalf("C peer %v: no %q within 30s", p.cmd.Args, prefix)
	}
	return ""
}

// wait waits for the peer to exit successfully.
func (p *peer) wait() {
	p.t.Helper()
	for range p.lines {
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			p.t.Fatalf("C peer %v: %v", p.cmd.Args, err)
		}
	case <-time.After(30 * time.Second):
		p.t.Fatalf("C peer %v did not exit", p.cmd.Args)
	}
}

// runPeer runs a peer to completion and returns its output lines after
// "ready".
func runPeer(t testing.TB, bin string, args ...string) []string {
	t.Helper()
	cmd := peerCmd(bin, args...)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, b)
	}
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(ls) == 0 || !strings.HasPrefix(ls[0], "ready") {
		t.Fatalf("%v printed %q", args, b)
	}
	return ls[1:]
}

// eventually polls cond every millisecond for up to 20 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// newNamed creates a fresh named semaphore of format f and removes it at
// the end of the test.
func newNamed(t testing.TB, f Format, value uint32) (*Sem, string) {
	t.Helper()
	name := "/" + ipctest.Name("sem")
	s, err := f.OpenFlags(name, os.O_CREATE|os.O_EXCL, 0o600, value)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		f.Unlink(name)
	})
	return s, name
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var formats = []Format{Glibc, Musl123}

func forFormats(t *testing.T, f func(t *testing.T, f Format)) {
	for _, fm := range formats {
		t.Run(fm.String(), func(t *testing.T) { f(t, fm) })
	}
}

func mustf(t testing.TB, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}
