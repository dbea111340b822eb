package posix_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

// Queue names that glibc's mq_open and mq_unlink (and the raw system
// calls) refuse are refused before any system call, with an error that
// matches ErrInvalidName and the errno glibc gives for the same name
// (checked against glibc 2.36 by a C program): ENAMETOOLONG for a name
// over NAME_MAX (the kernel's simple_lookup), EACCES for another '/' or a
// dot name (lookup_one_len). Before the fix only ErrInvalidName matched.
// The empty name, for which glibc says ENOENT, deliberately matches only
// ErrInvalidName: it must not look like a queue that does not exist.
func TestQueueNameErrnos(t *testing.T) {
	for _, tc := range []struct {
		name  string
		errno unix.Errno
	}{
		{"/" + strings.Repeat("a", 256), unix.ENAMETOOLONG},
		{"/" + strings.Repeat("a", 300), unix.ENAMETOOLONG},
		{"/a/b", unix.EACCES},
		{"//x", unix.EACCES},
		{"/.", unix.EACCES},
		{"/..", unix.EACCES},
	} {
		short := tc.name
		if len(short) > 12 {
			short = fmt.Sprintf("%s…(%d bytes)", short[:6], len(short))
		}
		_, oerr := posix.OpenQueueFlags(tc.name, unix.O_RDWR|unix.O_CREAT, 0o600, nil)
		uerr := posix.UnlinkQueue(tc.name)
		for op, err := range map[string]error{"OpenQueue": oerr, "UnlinkQueue": uerr} {
			if !errors.Is(err, posix.ErrInvalidName) || !errors.Is(err, tc.errno) {
				t.Errorf("%s(%q): %v; want an error matching ErrInvalidName and %v", op, short, err, tc.errno)
			}
		}
	}
	for _, op := range []func() error{
		func() error { _, err := posix.OpenQueueFlags("/", unix.O_RDWR|unix.O_CREAT, 0o600, nil); return err },
		func() error { return posix.UnlinkQueue("/") },
	} {
		if err := op(); !errors.Is(err, posix.ErrInvalidName) || errors.Is(err, os.ErrNotExist) {
			t.Errorf("empty queue name: %v; want ErrInvalidName, not os.ErrNotExist", err)
		}
	}
	// The longest legal name still works.
	name := "/" + strings.Repeat("q", 255)
	q, err := posix.OpenQueueFlags(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600, nil)
	if err != nil {
		t.Fatalf("a 255-byte name: %v", err)
	}
	q.Close()
	if err := posix.UnlinkQueue(name); err != nil {
		t.Fatal(err)
	}
}

func init() {
	// unlink-queue NAME: UnlinkQueue(NAME) as whoever runs it; prints the
	// error's errno name, or "ok".
	ipctest.RegisterChild("unlink-queue", func(args []string) int {
		err := posix.UnlinkQueue(args[0])
		switch {
		case err == nil:
			fmt.Println("ok")
		case errors.Is(err, unix.EACCES) && errors.Is(err, os.ErrPermission):
			fmt.Println("EACCES")
		case errors.Is(err, unix.EPERM):
			fmt.Println("EPERM")
		default:
			fmt.Println("other:", err)
		}
		return 0
	})
}

// Another user unlinking a queue gets EACCES, as from glibc's mq_unlink,
// which turns the kernel's EPERM (the sticky /dev/mqueue directory:
// may_delete) into EACCES (sysdeps/unix/sysv/linux/mq_unlink.c), as
// UnlinkShm does for shm_unlink. Before the fix UnlinkQueue returned
// EPERM.
func TestUnlinkQueueAsOtherUserIsEACCES(t *testing.T) {
	q := newQueue(t, 2, 16)
	if err := q.File().Chmod(0o666); err != nil {
		t.Fatal(err)
	}
	cmd := ipctest.Unprivileged(t, ipctest.Nobody, ipctest.Nobody, "unlink-queue", q.Name())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != "EACCES" {
		t.Fatalf("UnlinkQueue of root's queue as nobody: %s, want EACCES", got)
	}
	// The queue is still there.
	again, err := posix.OpenQueueFlags(q.Name(), unix.O_RDONLY, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
}
