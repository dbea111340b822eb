package proc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/testenv"
)

// TestWithoutMain: a program that did not call Main cannot start children,
// pools or a tracker (a copy of it would run main again).
func TestWithoutMain(t *testing.T) {
	mainCalled.Store(false)
	defer mainCalled.Store(true)
	if _, err := Start(t.Context(), "quitter", nil); !errors.Is(err, ErrNoMain) {
		t.Errorf("Start: %v, want ErrNoMain", err)
	}
	if _, err := NewPool(t.Context(), "upper", nil); !errors.Is(err, ErrNoMain) {
		t.Errorf("NewPool: %v, want ErrNoMain", err)
	}
	if _, err := NewPoolOf[int64, int64](t.Context(), "square", nil); !errors.Is(err, ErrNoMain) {
		t.Errorf("NewPoolOf: %v, want ErrNoMain", err)
	}
	if err := Track(ShmName, "x"); !errors.Is(err, ErrNoMain) {
		t.Errorf("Track: %v, want ErrNoMain", err)
	}
}

// TestBadManifest: a process started with $IPCKIT_PROC pointing at
// something that is not a manifest says so and exits with StatusSetup.
func TestBadManifest(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		contents string // "" passes a pipe instead of a file
		env      string
		want     string
	}{
		{"not a number", "{}", "x", "is not a descriptor number"},
		{"pipe", "", "3", "is not a manifest"},
		{"garbage", "garbage", "3", "manifest: invalid character"},
		{"version", `{"v":99}`, "3", "manifest version 99"},
		{"closed descriptor", `{"v":1,"name":"quitter","status":900,"crash":-1,"lifeline":-1,"tracker":-1}`, "3", "descriptor 900 for status, which is not open"},
		{"descriptor 0", `{"v":1,"name":"quitter","status":0,"crash":-1,"lifeline":-1,"tracker":-1}`, "3", "descriptor 0 for status"},
		{"twice", `{"v":1,"name":"quitter","status":4,"crash":4,"lifeline":-1,"tracker":-1}`, "3", "descriptor 4 for crash output"},
		{"no kind", `{"v":1,"name":"quitter","status":4,"crash":-1,"lifeline":-1,"tracker":-1,"handles":[{"kind":"","fd":-1}]}`, "3", "handle 0 has no kind"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var f3 *os.File
			if c.contents == "" {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				defer w.Close()
				f3 = r
			} else {
				f3, err = os.CreateTemp(t.TempDir(), "manifest")
				if err != nil {
					t.Fatal(err)
				}
				defer f3.Close()
				if _, err := f3.WriteString(c.contents); err != nil {
					t.Fatal(err)
				}
			}
			_, w4, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer w4.Close()
			cmd := testenv.Command(exe)
			cmd.Env = append(os.Environ(), envProc+"="+c.env)
			cmd.ExtraFiles = []*os.File{f3, w4}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err = cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != StatusSetup {
				t.Fatalf("child: %v, want exit status %d; stderr:\n%s", err, StatusSetup, stderr.String())
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Fatalf("stderr %q lacks %q", stderr.String(), c.want)
			}
		})
	}
}

func TestReadFrame(t *testing.T) {
	frame := func(kind byte, n uint32, payload string) []byte {
		b := []byte{kind, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(b[1:], n)
		return append(b, payload...)
	}
	k, p, err := readFrame(bytes.NewReader(frame('E', 3, "abc")))
	if err != nil || k != 'E' || string(p) != "abc" {
		t.Fatalf("good frame: %c %q %v", k, p, err)
	}
	if _, _, err := readFrame(bytes.NewReader(nil)); err == nil || err.Error() != "EOF" {
		t.Fatalf("empty stream: %v, want EOF", err)
	}
	for name, b := range map[string][]byte{
		"short header":  {'E', 1},
		"short payload": frame('E', 10, "abc"),
		"huge length":   frame('E', frameMax+1, ""),
	} {
		if _, _, err := readFrame(bytes.NewReader(b)); !errors.Is(err, errBadFrame) {
			t.Errorf("%s: %v, want errBadFrame", name, err)
		}
	}
}

// TestQueueTake: the queue hands out chunks that shrink as the backlog
// does, skips cancelled jobs, and takes tasks back at its head in order.
func TestQueueTake(t *testing.T) {
	var q taskQueue
	q.avail = make(chan struct{}, 1)
	a, b := &job{}, &job{}
	q.push(a, 0, 1000)
	q.push(b, 0, 10)
	refs := q.take(nil, 1<<20, 64, 2)
	if len(refs) != 64 || refs[0] != (taskRef{a, 0}) || refs[63] != (taskRef{a, 63}) {
		t.Fatalf("first take: %d refs", len(refs))
	}
	refs = q.take(refs[:0], 10, 64, 2) // capped by the caller's room
	if len(refs) != 10 || refs[0].i != 64 {
		t.Fatalf("second take: %v", refs)
	}
	q.pushFront([]taskRef{{a, 64}, {a, 65}, {b, 3}})
	refs = q.take(refs[:0], 3, 64, 2)
	if len(refs) != 3 || refs[0] != (taskRef{a, 64}) || refs[1] != (taskRef{a, 65}) || refs[2] != (taskRef{b, 3}) {
		t.Fatalf("after pushFront: %v", refs)
	}
	a.cancelled.Store(true)
	var got []taskRef
	for {
		refs = q.take(refs[:0], 1<<20, 64, 2)
		if len(refs) == 0 {
			break
		}
		got = append(got, refs...)
	}
	if len(got) != 10 || got[0] != (taskRef{b, 0}) || got[9] != (taskRef{b, 9}) {
		t.Fatalf("after cancelling a: %v", got)
	}
	if !q.empty() {
		t.Fatal("queue not empty")
	}
	// With a short backlog, chunks of one spread the tail.
	q.push(b, 0, 3)
	if refs = q.take(refs[:0], 1<<20, 64, 2); len(refs) != 1 {
		t.Fatalf("tail take: %d refs, want 1", len(refs))
	}
}

// TestBadResult: a malformed result from a worker (wrong sequence number,
// a length that does not match, an unknown status, a message with no task
// waiting) is caught, not trusted.
func TestBadResult(t *testing.T) {
	msg := func(seq uint64, status, n uint32, payload string) []byte {
		b := make([]byte, resultHeader, resultHeader+len(payload))
		binary.LittleEndian.PutUint64(b, seq)
		binary.LittleEndian.PutUint32(b[8:], status)
		binary.LittleEndian.PutUint32(b[12:], n)
		return append(b, payload...)
	}
	for name, m := range map[string][]byte{
		"short":          {1, 2, 3},
		"wrong sequence": msg(1, resultOK, 2, "ok"),
		"wrong length":   msg(0, resultOK, 3, "ok"),
		"huge length":    msg(0, resultOK, 1<<31, "ok"),
		"unknown status": msg(0, 7, 2, "ok"),
	} {
		j := &job{done: make(chan struct{}), dec: func(int, []byte, *arena) error { return nil }}
		j.remaining.Store(1)
		s := &poolSlot{inflight: []taskRef{{j, 0}}}
		s.onResult(m)
		if !errors.Is(s.bad, errBadResult) {
			t.Errorf("%s: not caught", name)
		}
		if s.pending() != 1 {
			t.Errorf("%s: the task was taken as answered", name)
		}
	}
	s := &poolSlot{}
	if s.onResult(msg(0, resultOK, 0, "")); !errors.Is(s.bad, errBadResult) {
		t.Error("a result with no task in flight was accepted")
	}
	// A good one.
	var got string
	j := &job{done: make(chan struct{}), dec: func(_ int, b []byte, _ *arena) error { got = string(b); return nil }}
	j.remaining.Store(1)
	s = &poolSlot{inflight: []taskRef{{j, 0}}}
	s.onResult(msg(0, resultOK, 2, "ok"))
	s.flush()
	if s.bad != nil || got != "ok" || s.pending() != 0 {
		t.Fatalf("good result: bad=%v got=%q pending=%d", s.bad, got, s.pending())
	}
	<-j.done
}

// TestCorruptTask: the worker refuses malformed task messages instead of
// reading out of bounds.
func TestCorruptTask(t *testing.T) {
	w := &worker{fn: func(_ context.Context, task, out []byte) ([]byte, error) { return out, nil }, word: new(uint64)}
	chunk := func(count uint32, body ...byte) []byte {
		b := make([]byte, taskHeader)
		binary.LittleEndian.PutUint32(b[8:], count)
		return append(b, body...)
	}
	for name, m := range map[string][]byte{
		"short header":     {1, 2},
		"missing length":   chunk(1),
		"length too large": chunk(1, 9, 0, 0, 0, 'x'),
		"trailing bytes":   chunk(0, 1),
	} {
		if err := w.chunk(t.Context(), m); !errors.Is(err, errCorruptTask) {
			t.Errorf("%s: %v, want errCorruptTask", name, err)
		}
	}
}

// TestManifestFDs: the child's view of the descriptors the manifest names
// is close-on-exec, so a program the Func execs does not inherit them.
func TestManifestFDs(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd, err := unix.Dup(int(w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	unix.CloseOnExec(fd) // so the descriptor does not leak if the test fails
	flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags&^unix.FD_CLOEXEC)
	mf, err := writeManifest(&manifest{V: manifestVersion, Name: "x", Status: fd, Crash: -1, Lifeline: -1, Tracker: -1})
	if err != nil {
		t.Fatal(err)
	}
	mfd, err := unix.Dup(int(mf.Fd()))
	mf.Close()
	if err != nil {
		t.Fatal(err)
	}
	if mfd <= firstFD || fd <= firstFD {
		t.Skip("descriptors too low for the check: " + strconv.Itoa(mfd) + ", " + strconv.Itoa(fd))
	}
	if _, err := readManifest(mfd); err != nil {
		t.Fatal(err)
	}
	flags, err = unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("status descriptor flags %#x, %v: want close-on-exec", flags, err)
	}
	unix.Close(fd)
}
