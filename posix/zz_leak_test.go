package posix_test

import (
	"os"
	"strings"
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

// TestZZNothingLeft runs last (file and test order; no test in this
// package is top-level parallel). ipctest.Main's gate sees message queues
// only where /dev/mqueue is mounted, so this lists the mqueue namespace
// itself (ListQueues mounts a private instance when needed) and checks
// /dev/shm as well.
func TestZZNothingLeft(t *testing.T) {
	qs, err := posix.ListQueues()
	if err != nil {
		if os.Geteuid() != 0 && !testenv.InCI() {
			t.Skipf("cannot list message queues without /dev/mqueue mounted and without CAP_SYS_ADMIN: %v", err)
		}
		t.Fatal(err)
	}
	for _, q := range qs {
		if strings.Contains(q.Name, ipctest.Prefix()) {
			t.Errorf("message queue /%s left behind", q.Name)
			posix.UnlinkQueue(q.Name)
		}
	}
	ents, err := os.ReadDir("/dev/shm")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ipctest.Prefix()) {
			t.Errorf("/dev/shm/%s left behind", e.Name())
			os.Remove("/dev/shm/" + e.Name())
		}
	}
}
