package posix_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

// lineReader reads the peer's protocol lines with a timeout.
type lineReader struct {
	t     *testing.T
	lines chan string
}

func newLineReader(t *testing.T, r io.Reader) *lineReader {
	lr := &lineReader{t: t, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lr.lines <- sc.Text()
		}
		close(lr.lines)
	}()
	return lr
}

func (lr *lineReader) expect(prefix string) string {
	lr.t.Helper()
	select {
	case l, ok := <-lr.lines:
		if !ok {
			lr.t.Fatalf("peer exited; wanted %q", prefix)
		}
		if !strings.HasPrefix(l, prefix) {
			lr.t.Fatalf("peer said %q, want %q", l, prefix)
		}
		return l
	case <-time.After(20 * time.Second):
		lr.t.Fatalf("peer silent; wanted %q", prefix)
	}
	return ""
}

// A glibc C program creates a shm object and two queues; Go opens them by
// the same names, and both sides exchange messages with priorities,
// time out on empty queues, and wake each other's blocked receives.
func TestInteropC(t *testing.T) {
	bin := testenv.BuildC(t, "", "posix_mq_shm", []string{"posix_mq_shm.c"})
	shmName := "/" + ipctest.Name("cshm")
	c2g := "/" + ipctest.Name("c2g")
	g2c := "/" + ipctest.Name("g2c")
	t.Cleanup(func() {
		// The C side leaves its objects for Go to remove by name: this
		// proves the names are the same objects glibc made.
		for _, err := range []error{posix.UnlinkShm(shmName), posix.UnlinkQueue(c2g), posix.UnlinkQueue(g2c)} {
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Error(err)
			}
		}
	})
	cmd := newCmd(bin, shmName, c2g, g2c)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	peer := newLineReader(t, stdout)
	peer.expect("READY")

	// shm: read C's greeting, write ours.
	shm, err := posix.OpenShmFlags(shmName, unix.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := shm.Stat()
	if fi.Mode().Perm() != 0o600 || fi.Size() != 4096 {
		t.Errorf("C's shm object: mode %v size %d", fi.Mode(), fi.Size())
	}
	m, err := shm.Map(0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	shm.Close()
	if got := string(m.Bytes()[:12]); got != "hello from C" {
		t.Fatalf("shm holds %q", got)
	}
	copy(m.Bytes()[1024:], "hello from Go\x00")

	// C → Go, in priority order.
	in, err := posix.OpenQueueFlags(c2g, unix.O_RDONLY, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	buf := make([]byte, in.MsgSize())
	var got []string
	for i := 0; i < 3; i++ {
		n, prio, err := in.Receive(ctx, buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s/%d", buf[:n], prio))
	}
	if s := strings.Join(got, " "); s != "c-high/20 c-mid/5 c-low/1" {
		t.Errorf("Go received %s", s)
	}
	// Go times out on C's (now empty) queue.
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	if _, _, err := in.Receive(short, buf); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Receive on empty C queue: %v", err)
	}
	cancelShort()

	// Go → C.
	out, err := posix.OpenQueueFlags(g2c, unix.O_WRONLY, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for _, s := range []struct {
		m string
		p uint
	}{{"g-low", 2}, {"g-high", 9}, {"g-mid", 4}} {
		if err := out.Send(ctx, []byte(s.m), s.p); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintln(stdin, "GO")
	for _, w := range []string{"RECV g-high 9", "RECV g-mid 4", "RECV g-low 2"} {
		if l := peer.expect("RECV"); l != w {
			t.Errorf("C: %q, want %q", l, w)
		}
	}
	peer.expect("SHM-OK")
	t.Logf("C: %s", peer.expect("TIMEOUT-OK"))

	// C blocks in mq_timedreceive; Go wakes it.
	peer.expect("WAITING")
	time.Sleep(100 * time.Millisecond)
	if err := out.Send(ctx, []byte("late-go"), 7); err != nil {
		t.Fatal(err)
	}
	if l := peer.expect("LATE"); l != "LATE late-go 7" {
		t.Errorf("C: %q", l)
	}
	// Go blocks in Receive (in the poller); C wakes it 200 ms later.
	start := time.Now()
	n, prio, err := in.Receive(ctx, buf)
	if err != nil || string(buf[:n]) != "late-c" || prio != 3 {
		t.Fatalf("late receive: %q %d %v", buf[:n], prio, err)
	}
	t.Logf("Go's Receive woke by C's mq_send after %v", time.Since(start))
	peer.expect("DONE")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("C peer: %v", err)
	}
}
