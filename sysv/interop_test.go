package sysv_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/sysv"
)

func itoa(n int) string { return strconv.Itoa(n) }

// cPeer builds tests/c/sysv_peer.c for the architecture under test.
func cPeer(t *testing.T) string {
	t.Helper()
	return testenv.BuildC(t, "", "sysv_peer", []string{"sysv_peer.c"})
}

func runPeer(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := testenv.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sysv_peer %v: %v\n%s", args, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// TestCPeer exchanges messages, semaphore posts and shared memory with a
// C program (glibc's msgsnd/msgrcv/semop/shmat) in both directions.
func TestCPeer(t *testing.T) {
	bin := cPeer(t)
	t.Run("messages", func(t *testing.T) {
		q := newQueue(t)
		const n = 200
		cmd := testenv.Command(bin, "echo", itoa(q.ID()), itoa(n))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(bg, 30*time.Second)
		defer cancel()
		buf := make([]byte, 8192)
		for i := 0; i < n; i++ {
			msg := fmt.Sprintf("msg-%03d-%s", i, strings.Repeat("z", i*37%4000))
			if err := q.Send(ctx, 1+i%900, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			// The C peer answers with type+1000; select it by type.
			got, typ, err := q.Receive(ctx, 1000+1+i%900, buf, 0)
			if err != nil {
				t.Fatalf("message %d: %v (C peer: %s)", i, err, stderr.String())
			}
			if typ != 1000+1+i%900 || string(buf[:got]) != reverse(msg) {
				t.Fatalf("message %d: type %d text %.20q", i, typ, buf[:got])
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("C peer: %v\n%s", err, stderr.String())
		}
	})
	t.Run("semaphores", func(t *testing.T) {
		s := newSemSet(t, 2)
		const rounds = 300
		cmd := testenv.Command(bin, "sem", itoa(s.ID()), itoa(rounds))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(bg, 30*time.Second)
		defer cancel()
		for i := 0; i < rounds; i++ {
			if err := s.Op(ctx, sysv.Sembuf{Num: 0, Op: 1}); err != nil {
				t.Fatal(err)
			}
			if err := s.Op(ctx, sysv.Sembuf{Num: 1, Op: -1}); err != nil {
				t.Fatalf("round %d: %v (C peer: %s)", i, err, stderr.String())
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("C peer: %v\n%s", err, stderr.String())
		}
	})
	t.Run("semun", func(t *testing.T) {
		s := newSemSet(t, 2)
		// C sets through its by-value union semun, Go reads; and back.
		if got := runPeer(t, bin, "semval", itoa(s.ID()), "1", "4242"); got != "4242" {
			t.Fatalf("C GETVAL after C SETVAL: %s", got)
		}
		if v, err := s.Value(1); err != nil || v != 4242 {
			t.Fatalf("Go Value after C SETVAL: %d %v", v, err)
		}
		if err := s.SetValue(0, 31000); err != nil {
			t.Fatal(err)
		}
		vals, err := s.Values()
		if err != nil || vals[0] != 31000 || vals[1] != 4242 {
			t.Fatalf("Values: %v %v", vals, err)
		}
	})
	t.Run("shm", func(t *testing.T) {
		seg := newSegment(t, 4096)
		m, err := seg.Attach(0)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		b := m.Bytes()
		copy(b, "go:hello")
		runPeer(t, bin, "shm", itoa(seg.ID()))
		if got := string(b[64:68]); got != "c:ok" {
			t.Fatalf("C wrote %q", got)
		}
	})
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// TestPythonPeer has Debian's python3-sysv-ipc attach by key to a queue,
// a semaphore and a segment that Go created.
func TestPythonPeer(t *testing.T) {
	py := testenv.Python(t, "sysv_ipc")
	qk, sk, mk := uniqueKey(t), uniqueKey(t)+1, uniqueKey(t)+2
	q, err := sysv.CreateQueue(qk, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Remove()
	s, err := sysv.CreateSemSet(sk, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Remove()
	seg, err := sysv.CreateSegment(mk, 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Remove()
	m, err := seg.Attach(0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b := m.Bytes()
	copy(b, "go:")
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	if err := q.Send(ctx, 7, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetValue(0, 1); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, py, filepath.Join(testenv.Root(), "tests", "py", "sysv_peer.py"),
		fmt.Sprint(int32(qk)), fmt.Sprint(int32(sk)), fmt.Sprint(int32(mk)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python peer: %v\n%s", err, out)
	}
	buf := make([]byte, 64)
	n, typ, err := q.Receive(ctx, 8, buf, 0)
	if err != nil || typ != 8 || string(buf[:n]) != "py:ping" {
		t.Fatalf("reply from Python: %q type %d err %v", buf[:n], typ, err)
	}
	if v, _ := s.Value(0); v != 0 {
		t.Errorf("Python's acquire left the semaphore at %d", v)
	}
	if string(b[64:69]) != "py:ok" {
		t.Errorf("Python wrote %q", b[64:69])
	}
}

// TestUtilLinuxInterop checks that ipcs shows what ipckit made, with the
// same key, mode and sizes, and that objects ipcmk made are usable here.
func TestUtilLinuxInterop(t *testing.T) {
	ipcs := testenv.Tool(t, "ipcs")
	ipcmk := testenv.Tool(t, "ipcmk")
	key := uniqueKey(t)
	q, err := sysv.CreateQueue(key, &sysv.Options{Mode: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Remove()
	if err := q.Send(bg, 1, []byte("12345")); err != nil {
		t.Fatal(err)
	}
	seg, err := sysv.CreateSegment(key, 12345, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Remove()
	sem, err := sysv.CreateSemSet(key, 3, &sysv.Options{Mode: 0o604})
	if err != nil {
		t.Fatal(err)
	}
	defer sem.Remove()

	out := func(args ...string) string {
		t.Helper()
		b, err := exec.Command(ipcs, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ipcs %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	hexKey := fmt.Sprintf("0x%08x", uint32(key))
	line := func(text string, id int) []string {
		for _, l := range strings.Split(text, "\n") {
			f := strings.Fields(l)
			if len(f) > 2 && f[0] == hexKey && f[1] == itoa(id) {
				return f
			}
		}
		t.Fatalf("ipcs does not list key %s id %d:\n%s", hexKey, id, text)
		return nil
	}
	// ipcs -q: key msqid owner perms used-bytes messages
	if f := line(out("-q"), q.ID()); f[3] != "640" || f[4] != "5" || f[5] != "1" {
		t.Errorf("ipcs -q line %v: want perms 640, 5 bytes, 1 message", f)
	}
	// ipcs -m: key shmid owner perms bytes nattch status
	if f := line(out("-m"), seg.ID()); f[3] != "600" || f[4] != "12345" {
		t.Errorf("ipcs -m line %v: want perms 600, 12345 bytes", f)
	}
	// ipcs -s: key semid owner perms nsems
	if f := line(out("-s"), sem.ID()); f[3] != "604" || f[4] != "3" {
		t.Errorf("ipcs -s line %v: want perms 604, 3 semaphores", f)
	}

	// ipcmk makes objects; ipckit opens and uses them by id.
	idRe := regexp.MustCompile(`id:\s*(\d+)`)
	mk := func(args ...string) int {
		t.Helper()
		b, err := exec.Command(ipcmk, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ipcmk %v: %v\n%s", args, err, b)
		}
		m := idRe.FindStringSubmatch(string(b))
		if m == nil {
			t.Fatalf("ipcmk %v printed no id: %s", args, b)
		}
		return atoi(t, m[1])
	}
	mq, err := sysv.QueueFromID(mk("-Q", "-p", "0600"))
	if err != nil {
		t.Fatal(err)
	}
	defer mq.Remove()
	if err := mq.Send(bg, 4, []byte("via ipcmk")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	if n, typ, err := mq.Receive(bg, 4, buf, sysv.ReceiveNoWait); err != nil || typ != 4 || string(buf[:n]) != "via ipcmk" {
		t.Fatalf("ipcmk queue: %q %d %v", buf[:n], typ, err)
	}
	ms, err := sysv.SegmentFromID(mk("-M", "8192", "-p", "0600"))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Remove()
	m, err := ms.Attach(0)
	if err != nil || m.Len() != 8192 {
		t.Fatalf("ipcmk segment: %v", err)
	}
	m.Bytes()[8191] = 1
	m.Close()
	ss, err := sysv.SemSetFromID(mk("-S", "4", "-p", "0600"))
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Remove()
	if ss.Len() != 4 {
		t.Fatalf("ipcmk set has %d semaphores", ss.Len())
	}
	if err := ss.Op(bg, sysv.Sembuf{Num: 3, Op: 2}, sysv.Sembuf{Num: 3, Op: -1}); err != nil {
		t.Fatal(err)
	}
	if v, _ := ss.Value(3); v != 1 {
		t.Fatalf("value %d", v)
	}
}
