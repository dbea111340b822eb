package posix_test

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

// newQueue creates a fresh queue with a unique name, removed at cleanup.
func newQueue(t testing.TB, maxMsgs, msgSize int) *posix.Queue {
	t.Helper()
	name := "/" + ipctest.Name("mq")
	q, err := posix.CreateQueue(name, maxMsgs, msgSize)
	if err != nil {
		t.Fatalf("CreateQueue(%q): %v", name, err)
	}
	t.Cleanup(func() {
		q.Close()
		if err := posix.UnlinkQueue(name); err != nil && !os.IsNotExist(err) {
			t.Errorf("UnlinkQueue: %v", err)
		}
	})
	return q
}

// openAgain opens the same queue through a second descriptor.
func openAgain(t testing.TB, q *posix.Queue, flag int) *posix.Queue {
	t.Helper()
	q2, err := posix.OpenQueueFlags(q.Name(), flag, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q2.Close() })
	return q2
}

// threads returns the number of OS threads of this process.
func threads(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// fdCount returns the number of open descriptors.
func fdCount(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

var _ = unix.EAGAIN

// connFromFD makes a Conn of a raw descriptor, which it consumes (the Conn
// keeps a duplicate), as a program adopting an inherited descriptor does.
func connFromFD(fd int, name string) (*posix.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return posix.ConnFromFile(f)
}
