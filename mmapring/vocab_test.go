package mmapring

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

// The sentinels are ipckit's shared values, and a Try call's "would block"
// matches unix.EAGAIN. Before, mmapring.ErrClosed and ErrCorrupt were
// values of their own (errors.Is(err, posix.ErrClosed) failed on them) and
// ErrFull and ErrEmpty matched nothing else.
func TestSharedSentinels(t *testing.T) {
	if ErrClosed != posix.ErrClosed || ErrCorrupt != posix.ErrCorrupt {
		t.Fatal("ErrClosed and ErrCorrupt must be posix's values")
	}
	r, err := New(Config{Kind: KindSPSC, Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p, err := r.Producer()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := r.Consumer()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.TryReceive(make([]byte, 64)); !errors.Is(err, ErrEmpty) || !errors.Is(err, unix.EAGAIN) {
		t.Errorf("TryReceive on an empty ring: %v, want ErrEmpty matching EAGAIN", err)
	}
	for err == nil {
		err = p.TrySend(make([]byte, 100))
	}
	if !errors.Is(err, ErrFull) || !errors.Is(err, unix.EAGAIN) {
		t.Errorf("TrySend on a full ring: %v, want ErrFull matching EAGAIN", err)
	}
	if _, err := r.Producer(); !errors.Is(err, ErrRoleTaken) {
		t.Errorf("second SPSC producer: %v, want ErrRoleTaken", err)
	}
}

// Shutdown ends a Queue for every process (here: another handle on the
// same ring): Put fails with ErrClosed, Get drains and then returns
// io.EOF; Close only detaches. Before, both were Close(closeRing bool).
func TestQueueShutdown(t *testing.T) {
	ctx := context.Background()
	a, err := NewQueue(4, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r, err := FromFile(a.Ring().File())
	if err != nil {
		t.Fatal(err)
	}
	b, err := QueueFromRing(r)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Put(ctx, []byte("last")); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, []byte("more")); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after another handle's Shutdown: %v, want ErrClosed", err)
	}
	buf := make([]byte, 16)
	if n, err := a.Get(ctx, buf); err != nil || string(buf[:n]) != "last" {
		t.Errorf("Get after Shutdown: %q %v, want the queued message", buf[:n], err)
	}
	if _, err := b.Get(ctx, buf); err != io.EOF {
		t.Errorf("Get of a drained, shut-down queue: %v, want io.EOF", err)
	}
	// Close detaches only: a third handle still works on the ring.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Qsize(); err != nil {
		t.Errorf("Qsize after another handle's Close: %v", err)
	}
}

// A ring created or opened by a name removes that name with Unlink, also
// after Close; a ring without a name has nothing to remove.
func TestRingUnlink(t *testing.T) {
	cfg := Config{Kind: KindSPSC, Capacity: 4096}
	name := ipctest.Name("unlink")
	r, err := CreateShm(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { UnlinkShm(name) })
	o, err := OpenShm(name)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := o.Unlink(); err != nil {
		t.Fatalf("Unlink of a ring opened by name: %v", err)
	}
	if err := r.Unlink(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("second Unlink: %v, want os.ErrNotExist", err)
	}
	if _, err := o.Stats(); err != nil {
		t.Errorf("the ring must outlive its name: %v", err)
	}
	o.Close()

	path := filepath.Join(t.TempDir(), "ring")
	f, err := CreatePath(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := f.Unlink(); err != nil {
		t.Fatalf("Unlink of a path ring after Close: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file is still there: %v", err)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Unlink(); err != nil {
		t.Errorf("Unlink of a memfd ring: %v, want nil", err)
	}
}
