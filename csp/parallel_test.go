package csp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ipckit/ipckit/csp"
	"github.com/ipckit/ipckit/proc"
)

func init() {
	// consume: handle 0 a *Reader[point], 1 how many values it must get
	// before io.EOF (-1: any number), 2 "fail" to fail after the first.
	proc.Register("csp-consume", func(ctx context.Context, c *proc.Child) error {
		r, err := csp.ReaderOf[point](c, 0)
		if err != nil {
			return err
		}
		defer r.Close()
		want, _ := c.Int(1)
		how, _ := c.String(2)
		n := 0
		for {
			_, err := r.Receive(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			n++
			if how == "fail" {
				return errors.New("consumer gave up: boom")
			}
		}
		if want >= 0 && n != want {
			return fmt.Errorf("got %d values, want %d", n, want)
		}
		return nil
	})
}

func TestParallel(t *testing.T) {
	ctx := testCtx(t)
	c := newChan[point](t, &csp.Options{Capacity: 8})
	w, r := writer(t, c), reader(t, c)
	err := csp.Parallel(ctx,
		csp.Process{Name: "csp-send", Handles: []any{w, 0, 500, "retire"}},
		csp.Process{Name: "csp-consume", Handles: []any{r, 500, ""}},
	)
	if err != nil {
		t.Fatal(err)
	}
}

// The first member to fail poisons every channel: the others end, and
// Parallel returns the failure.
func TestParallelFailurePoisons(t *testing.T) {
	ctx := testCtx(t)
	c := newChan[point](t, &csp.Options{Capacity: 8})
	w, r := writer(t, c), reader(t, c)
	r2 := reader(t, c)
	err := csp.Parallel(ctx,
		csp.Process{Name: "csp-send", Handles: []any{w, 0, -1, "retire"}}, // sends until poisoned
		csp.Process{Name: "csp-consume", Handles: []any{r, -1, "fail"}},
		csp.Process{Func: func(ctx context.Context) error { // blocks until poisoned
			for {
				if _, err := r2.Receive(ctx); err != nil {
					return err
				}
			}
		}, Handles: []any{r2}},
	)
	var ee *proc.ExitError
	if !errors.As(err, &ee) || !strings.Contains(ee.Err, "boom") {
		t.Fatalf("Parallel: %v, want the consumer's failure", err)
	}
	if !c.Poisoned() {
		t.Fatal("the channel was not poisoned")
	}
}

// Poison is how a network shuts down: members ending with ErrPoisoned are
// not failures.
func TestParallelPoisonShutdown(t *testing.T) {
	ctx := testCtx(t)
	c := newChan[point](t, &csp.Options{Capacity: 8})
	w, r := writer(t, c), reader(t, c)
	err := csp.Parallel(ctx,
		csp.Process{Name: "csp-send", Handles: []any{w, 0, 100, "poison"}},
		csp.Process{Name: "csp-consume", Handles: []any{r, -1, ""}},
	)
	if err != nil {
		t.Fatalf("Parallel: %v, want nil (poison is a shutdown)", err)
	}
}

func TestParallelStartFails(t *testing.T) {
	ctx := testCtx(t)
	c := newChan[point](t, &csp.Options{Capacity: 8})
	w, r := writer(t, c), reader(t, c)
	err := csp.Parallel(ctx,
		csp.Process{Name: "csp-consume", Handles: []any{r, -1, ""}}, // would wait forever
		csp.Process{Name: "no-such-func", Handles: []any{w}},
	)
	if !errors.Is(err, proc.ErrNotRegistered) {
		t.Fatalf("Parallel: %v, want ErrNotRegistered", err)
	}
	// The end the failed Start marked as passed is ours again.
	if err := w.Send(ctx, point{}); !errors.Is(err, csp.ErrPoisoned) {
		t.Fatalf("Send after the failed Parallel: %v, want ErrPoisoned (the end is usable again)", err)
	}
}

func TestParallelCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	c := newChan[point](t, &csp.Options{Capacity: 8})
	w, r := writer(t, c), reader(t, c)
	done := make(chan error, 1)
	go func() {
		done <- csp.Parallel(ctx,
			csp.Process{Name: "csp-consume", Handles: []any{r, -1, ""}},
			csp.Process{Func: func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}, Handles: []any{w}},
		)
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Parallel after cancel: %v", err)
	}
}
