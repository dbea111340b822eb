package ipctest_test

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/ipctest"
)

// A package's TestMain runs children started by Command/Unprivileged and
// fails the run if the tests left objects behind.
func ExampleMain() {
	var m *testing.M // func TestMain(m *testing.M) {
	ipctest.Main(m)
	// }
}

// Keys from Key are unused and stand out in ipcs output (top byte 'I').
func ExampleKey() {
	k := ipctest.Key()
	fmt.Printf("%#x\n", uint32(k)>>24)
	// Output: 0x49
}

// A test that creates SysV objects with fixed keys runs them in a private
// IPC namespace: no other process can collide with the key, and the check
// at the end fails the test if the queue was not removed.
func ExampleInNewIPCNamespace() {
	var t *testing.T // func TestQueue(t *testing.T) {
	ipctest.InNewIPCNamespace(t, func() {
		id, err := unix.SysvShmGet(0x1234, 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		// ... exercise the segment ...
	}, ipctest.PrivateDevShm())
	// }
}

// A permission test runs the denied operation in a child process as
// nobody, against the real kernel.
func ExampleUnprivileged() {
	// func init() {
	ipctest.RegisterChild("open-denied", func(args []string) int {
		if _, err := os.Open(args[0]); os.IsPermission(err) {
			return 0
		}
		return 1
	})
	// }
	var t *testing.T // func TestDenied(t *testing.T) {
	cmd := ipctest.Unprivileged(t, ipctest.Nobody, ipctest.Nobody, "open-denied", "/dev/shm/secret")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	// }
}

// Limits are read and changed per IPC namespace; outside a namespace
// SetSysctl restores the old value when the test ends.
func ExampleSetSysctl() {
	var t *testing.T // func TestLimit(t *testing.T) {
	ipctest.InNewIPCNamespace(t, func() {
		ipctest.SetSysctl(t, "kernel.msgmax", "1024")
		// msgsnd of more than 1024 bytes now fails with EINVAL here only.
	})
	// }
}

// CheckLeaks goes first, so that its check runs after every other
// cleanup of the test.
func ExampleCheckLeaks() {
	var t *testing.T // func TestSomething(t *testing.T) {
	ipctest.CheckLeaks(t)
	name := ipctest.Name("segment")
	_ = name // create and remove objects named with Name ...
	// }
}
