package posix_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/posix"
)

func init() {
	// In the listqueues-main child, keep the main goroutine on the main
	// thread from the start (init runs there), so the child can let go of
	// it right before calling ListQueues.
	if os.Getenv("IPCKIT_TEST_CHILD") == "listqueues-main" {
		runtime.LockOSThread()
	}
	// listqueues-main: runs in a mount namespace of its own (the parent
	// unshares it) with /dev/mqueue unmounted there, so ListQueues must
	// take its private-mount path. With GOMAXPROCS=1 (set by the parent)
	// the main goroutine calls ListQueues from the main thread, unlocked: the goroutine
	// ListQueues starts then runs on the main thread as soon as the main
	// goroutine blocks. Prints "same" if the main thread's mount namespace
	// is the one it had before, "changed OLD NEW" otherwise.
	testenv.RegisterChild("listqueues-main", func(args []string) int {
		var st unix.Statfs_t
		if unix.Statfs(posix.MqueueDir, &st) == nil && st.Type == 0x19800202 {
			if err := unix.Unmount(posix.MqueueDir, unix.MNT_DETACH); err != nil {
				fmt.Fprintln(os.Stderr, "umount /dev/mqueue:", err)
				return 2
			}
		}
		mainNS := fmt.Sprintf("/proc/self/task/%d/ns/mnt", os.Getpid())
		before, err := os.Readlink(mainNS)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		// The main goroutine is on the main thread (locked since init);
		// let the thread run other goroutines.
		if unix.Gettid() != os.Getpid() {
			fmt.Fprintln(os.Stderr, "the main goroutine is not on the main thread")
			return 2
		}
		runtime.UnlockOSThread()
		if _, err := posix.ListQueues(); err != nil {
			fmt.Fprintln(os.Stderr, "ListQueues:", err)
			return 1
		}
		after, err := os.Readlink(mainNS)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if after != before {
			fmt.Println("changed", before, after)
		} else {
			fmt.Println("same")
		}
		return 0
	})
}

// ListQueues' private mqueue mount must happen on a thread that is then
// discarded, never on the main thread: the Go runtime cannot end the main
// thread, so a goroutine that exits locked to it leaves the process's main
// thread (the one /proc/PID and the thread-group leader's namespace
// links describe) in the throwaway mount namespace for good. Before the
// fix the child printed "changed mnt:[…] mnt:[…]".
func TestListQueuesKeepsMainThreadNamespace(t *testing.T) {
	testenv.RequireRoot(t, "a private mount namespace and an mqueue mount")
	for i := 0; i < 5; i++ {
		cmd := testenv.Child(t, "listqueues-main")
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child: %v (%s)", err, out)
		}
		if s := strings.TrimSpace(string(out)); s != "same" {
			t.Fatalf("run %d: ListQueues moved the main thread to another mount namespace: %s", i, s)
		}
	}
}
