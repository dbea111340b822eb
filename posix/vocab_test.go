package posix_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

// Every handle follows the vocabulary's lifetime rule: Close is idempotent
// (a second Close returns nil), and a call on a closed handle fails with
// an error matching ErrClosed and os.ErrClosed. Before the rule was
// applied, Conn, EventFD and Queue returned a bare os.ErrClosed, which
// errors.Is(err, posix.ErrClosed) did not match, and SharedMemory returned
// os.File's error.
func TestClosedHandles(t *testing.T) {
	ctx := context.Background()
	buf := make([]byte, 64)
	check := func(t *testing.T, what string, close func() error, use func() error) {
		t.Helper()
		if err := close(); err != nil {
			t.Fatalf("%s: first Close: %v", what, err)
		}
		if err := close(); err != nil {
			t.Errorf("%s: second Close: %v, want nil", what, err)
		}
		err := use()
		if !errors.Is(err, posix.ErrClosed) || !errors.Is(err, os.ErrClosed) {
			t.Errorf("%s after Close: %v, want an error matching posix.ErrClosed and os.ErrClosed", what, err)
		}
	}
	r, w, err := posix.Pipe(false)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "Conn.Receive", r.Close, func() error { _, err := r.Receive(ctx, buf); return err })
	check(t, "Conn.Send", w.Close, func() error { return w.Send(ctx, []byte("x")) })
	e, err := posix.NewEventFD(0, false)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "EventFD.Wait", e.Close, func() error { _, err := e.Wait(ctx); return err })
	check(t, "EventFD.TryWait", e.Close, func() error { _, err := e.TryWait(); return err })
	check(t, "EventFD.Add", e.Close, func() error { return e.Add(ctx, 1) })
	q, err := posix.CreateQueue(ipctest.Name("mq"), 2, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Unlink()
	check(t, "Queue.Send", q.Close, func() error { return q.Send(ctx, []byte("x"), 0) })
	check(t, "Queue.TryReceive", q.Close, func() error { _, _, err := q.TryReceive(buf); return err })
	check(t, "Queue.Attr", q.Close, func() error { _, err := q.Attr(); return err })
	s, err := posix.NewSharedMemory(4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "SharedMemory.Map", s.Close, func() error { _, err := s.Map(0); return err })
	check(t, "SharedMemory.Size", s.Close, func() error { _, err := s.Size(); return err })
	check(t, "SharedMemory.Truncate", s.Close, func() error { return s.Truncate(1) })
	m, err := posix.MapAnonymous(4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "Mapping.Sync", m.Close, m.Sync)
	if err := q.Unlink(); err != nil {
		t.Errorf("Queue.Unlink after Close: %v (Unlink acts on the name and works after Close)", err)
	}
}
