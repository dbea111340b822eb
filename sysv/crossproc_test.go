package sysv_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/sysv"
)

func init() {
	// queue-echo ID N: receive N messages of type 1 and answer each with
	// type 2 carrying the SHA-256 of the text.
	testenv.RegisterChild("queue-echo", func(args []string) int {
		var id, n int
		fmt.Sscan(args[0], &id)
		fmt.Sscan(args[1], &n)
		q, err := sysv.QueueFromID(id)
		if err != nil {
			return childFail("%v", err)
		}
		buf := make([]byte, 8192)
		for i := 0; i < n; i++ {
			got, _, err := q.Receive(context.Background(), 1, buf, 0)
			if err != nil {
				return childFail("receive %d: %v", i, err)
			}
			sum := sha256.Sum256(buf[:got])
			if err := q.Send(context.Background(), 2, sum[:]); err != nil {
				return childFail("send %d: %v", i, err)
			}
		}
		return 0
	})
	// undo-holder ID: take one unit with SEM_UNDO, say so, and wait to be killed.
	testenv.RegisterChild("undo-holder", func(args []string) int {
		var id int
		fmt.Sscan(args[0], &id)
		s, err := sysv.SemSetFromID(id)
		if err != nil {
			return childFail("%v", err)
		}
		if err := s.Op(context.Background(), sysv.Sembuf{Num: 0, Op: -1, Flg: sysv.SEM_UNDO}); err != nil {
			return childFail("%v", err)
		}
		fmt.Println("held")
		time.Sleep(time.Minute)
		return 0
	})
	// shm-fill ID BYTE: attach and fill the segment with BYTE.
	testenv.RegisterChild("shm-fill", func(args []string) int {
		var id, v int
		fmt.Sscan(args[0], &id)
		fmt.Sscan(args[1], &v)
		seg, err := sysv.SegmentFromID(id)
		if err != nil {
			return childFail("%v", err)
		}
		m, err := seg.Attach(0)
		if err != nil {
			return childFail("%v", err)
		}
		b := m.Bytes()
		for i := range b {
			b[i] = byte(v)
		}
		return errExit(m.Close())
	})
}

func errExit(err error) int {
	if err != nil {
		return childFail("%v", err)
	}
	return 0
}

// TestCrossProcessQueue re-executes the test binary as a second process
// that echoes checksums of random-sized messages.
func TestCrossProcessQueue(t *testing.T) {
	q := newQueue(t)
	const n = 300
	cmd := testenv.Child(t, "queue-echo", fmt.Sprint(q.ID()), fmt.Sprint(n))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	msg := make([]byte, 8192)
	reply := make([]byte, 64)
	seed := uint32(12345)
	for i := 0; i < n; i++ {
		seed = seed*1664525 + 1013904223
		size := int(seed % 8192)
		for j := 0; j < size; j++ {
			msg[j] = byte(seed >> (j % 24))
		}
		if err := q.Send(ctx, 1, msg[:size]); err != nil {
			t.Fatal(err)
		}
		got, typ, err := q.Receive(ctx, 2, reply, 0)
		want := sha256.Sum256(msg[:size])
		if err != nil || typ != 2 || string(reply[:got]) != string(want[:]) {
			t.Fatalf("message %d (%d bytes): reply type %d err %v checksum mismatch", i, size, typ, err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestSemUndoOnKill kills a process holding a unit taken with SEM_UNDO and
// shows the kernel gives the unit back, waking a waiter.
func TestSemUndoOnKill(t *testing.T) {
	s := newSemSet(t, 1)
	if err := s.SetValue(0, 1); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		cmd := testenv.Child(t, "undo-holder", fmt.Sprint(s.ID()))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || line != "held\n" {
			t.Fatalf("child: %q %v", line, err)
		}
		if v, _ := s.Value(0); v != 0 {
			t.Fatalf("while held the value is %d", v)
		}
		// A waiter blocks until the holder dies.
		ctx, cancel := context.WithTimeout(bg, 20*time.Second)
		done := make(chan error, 1)
		go func() { done <- s.Op(ctx, sysv.Sembuf{Num: 0, Op: -1}) }()
		time.Sleep(20 * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child did not die of SIGKILL: %v", cmd.ProcessState)
		}
		if err := <-done; err != nil {
			t.Fatalf("waiter after the holder's death: %v", err)
		}
		cancel()
		if err := s.Op(bg, sysv.Sembuf{Num: 0, Op: 1}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCrossProcessSegment(t *testing.T) {
	seg := newSegment(t, 1<<20)
	m, err := seg.Attach(sysv.SHM_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b := m.Bytes()
	cmd := testenv.Child(t, "shm-fill", fmt.Sprint(seg.ID()), "171")
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v", err)
	}
	for i, v := range b {
		if v != 171 {
			t.Fatalf("byte %d = %d", i, v)
		}
	}
	st, _ := seg.Stat()
	if st.LastPID == os.Getpid() || st.LastPID == 0 {
		t.Errorf("LastPID %d should be the child's", st.LastPID)
	}
}
