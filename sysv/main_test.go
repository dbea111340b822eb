package sysv_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/proc"
	"github.com/ipckit/ipckit/sysv"
)

func TestMain(m *testing.M) {
	proc.Main() // a child started by proc (the examples) runs here and exits
	testenv.RunChildIfAsked()
	ipctest.Main(m)
}

func newQueue(t testing.TB) *sysv.Queue {
	t.Helper()
	q, err := sysv.CreateQueue(sysv.IPCPrivate, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Remove() })
	return q
}

func newSemSet(t testing.TB, n int) *sysv.SemSet {
	t.Helper()
	s, err := sysv.CreateSemSet(sysv.IPCPrivate, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Remove() })
	return s
}

func newSegment(t testing.TB, size int) *sysv.Segment {
	t.Helper()
	s, err := sysv.CreateSegment(sysv.IPCPrivate, size, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Remove() })
	return s
}

// uniqueKey returns a key that names no object now, made from this
// process's pid so that concurrent test processes do not collide.
func uniqueKey(t testing.TB) sysv.Key {
	t.Helper()
	for i := 0; i < 1000; i++ {
		k := sysv.Key(0x49500000 | int32(os.Getpid()&0xffff)<<4 ^ int32(i)<<20 | int32(i&0xf))
		_, e1 := sysv.Msgget(k, 0)
		_, e2 := sysv.Semget(k, 0, 0)
		_, e3 := sysv.Shmget(k, 0, 0)
		if e1 != nil && e2 != nil && e3 != nil {
			return k
		}
	}
	t.Fatal("no free key")
	return 0
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("atoi(%q): %v", s, err)
	}
	return n
}

// childFail reports a failure from a re-executed child and returns its
// exit status.
func childFail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
	return 1
}

var bg = context.Background()
