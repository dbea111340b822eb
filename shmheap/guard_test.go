package shmheap

import (
	"errors"
	"os"
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

// TestTruncated: a heap behind a shm name, which cannot be sealed, whose
// file a hostile or buggy process shrinks under the mapping. Every access
// to the lost pages must become ErrCorrupt (posix.Mapping.Guard), never a
// SIGBUS that kills the process; and opening the shrunk heap fails.
func TestTruncated(t *testing.T) {
	testenv.SkipUnderEmulation(t, "qemu-user reports no fault address, so Guard cannot attribute a SIGBUS (tests/PORTABILITY.md)")
	name := ipctest.Name("trunc")
	h, err := CreateShm(name, 4<<20, &Options{Lock: LockPID})
	if err != nil {
		t.Fatal(err)
	}
	defer UnlinkShm(name)
	defer h.Close()
	if !h.c.trunc {
		t.Fatal("a shm heap should be truncatable")
	}
	vec := must(CreateVector[[64]int64](h, "vec"))
	defer vec.Close()
	for i := 0; i < 2000; i++ {
		if err := vec.Append([64]int64{int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	ns := must(CreateNamespace(h, "ns", nil))
	defer ns.Close()
	ns.Set("a", make([]byte, 100000))
	v := must(CreateValue[int64](h, "v"))
	defer v.Close()

	if err := posix.UnlinkShm(name); err != nil { // keep the test's cleanup simple
		t.Fatal(err)
	}
	if err := h.c.sm.Truncate(hLogEnd); err != nil { // header and heap lock survive
		t.Fatal(err)
	}
	isCorrupt := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s on a truncated heap: %v, want ErrCorrupt", what, err)
		}
	}
	_, err = vec.Get(1999)
	isCorrupt("Vector.Get", err)
	isCorrupt("Vector.Append", vec.Append([64]int64{}))
	var b []byte
	isCorrupt("Namespace.Get", ns.Get("a", &b))
	_, err = v.Load()
	isCorrupt("Value.Load", err)
	_, err = h.Stats()
	isCorrupt("Stats", err)
	isCorrupt("Check", h.Check())
	_, err = CreateValue[int64](h, "w")
	isCorrupt("CreateValue", err)

	// The heap lock's page survived: the faults above released it.
	if err := h.c.run(func() error {
		if err := h.c.lockHeap(); err != nil {
			return err
		}
		h.c.unlockHeap()
		return nil
	}); err != nil {
		t.Fatalf("heap lock after faults: %v", err)
	}
	if _, err := FromFile(h.File()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("opening the truncated heap: %v", err)
	}
	h.c.sm.Truncate(0)
	if _, err := FromFile(h.File()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("opening an empty file: %v", err)
	}
	_ = os.ErrNotExist
}
