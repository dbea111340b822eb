package csp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipckit/ipckit/csp"
	"github.com/ipckit/ipckit/proc"
)

// testCtx bounds a test's blocking calls: a hang fails the test instead of
// the whole run.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newChan[T any](t *testing.T, o *csp.Options) *csp.Chan[T] {
	t.Helper()
	c, err := csp.NewChan[T](o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func writer[T any](t *testing.T, c *csp.Chan[T]) *csp.Writer[T] {
	t.Helper()
	w, err := c.Writer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func reader[T any](t *testing.T, c *csp.Chan[T]) *csp.Reader[T] {
	t.Helper()
	r, err := c.Reader()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// start starts a child; it is killed and reaped when the test ends.
func start(t *testing.T, name string, handles ...any) *proc.Process {
	t.Helper()
	p, err := proc.Start(t.Context(), name, &proc.Options{Handles: handles})
	if err != nil {
		t.Fatalf("Start(%q): %v", name, err)
	}
	t.Cleanup(func() {
		p.Kill()
		<-p.Done()
	})
	return p
}

func wait(t *testing.T, p *proc.Process) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := p.Wait(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("child %s (pid %d) did not exit", p.Name(), p.Pid())
	}
	return err
}

// The configurations most tests run over.
var configs = []struct {
	name string
	o    csp.Options
}{
	{"any2any/buffered", csp.Options{Capacity: 8}},
	{"any2any/rendezvous", csp.Options{}},
	{"one2one/buffered", csp.Options{Capacity: 8, OneToOne: true}},
	{"one2one/rendezvous", csp.Options{OneToOne: true}},
}

// A 64-byte raw value.
type point struct {
	Seq  int64
	From int64
	Pad  [6]int64
}
