package proc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipckit/ipckit/proc"
)

type point struct{ X, Y int32 }

func init() {
	proc.RegisterTask("upper", func(_ context.Context, task, out []byte) ([]byte, error) {
		return append(out, bytes.ToUpper(task)...), nil
	})
	proc.RegisterTaskOf("norm1", func(_ context.Context, p point) (int64, error) {
		return int64(abs(p.X)) + int64(abs(p.Y)), nil
	})
	// A type that is not fixed-size goes through gob.
	proc.RegisterTaskOf("words", func(_ context.Context, s string) ([]string, error) {
		return strings.Fields(s), nil
	})
	// crashy fails, panics or kills its worker on some inputs.
	proc.RegisterTaskOf("crashy", func(ctx context.Context, x int64) (int64, error) {
		switch x {
		case -1:
			os.Exit(3)
		case -2:
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		case -3:
			return 0, errors.New("minus three")
		case -4:
			panic("minus four")
		case -5:
			<-ctx.Done()
			time.Sleep(time.Hour)
		}
		return x * x, nil
	})
	proc.RegisterTask("echo-size", func(_ context.Context, task, out []byte) ([]byte, error) {
		n := len(task)
		if n == 1 {
			n = int(task[0]) << 10 // a result of task[0] KiB
		}
		return append(out, make([]byte, n)...), nil
	})
}

func abs(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

func newPool[In, Out any](t *testing.T, name string, o *proc.PoolOptions) *proc.PoolOf[In, Out] {
	t.Helper()
	p, err := proc.NewPoolOf[In, Out](t.Context(), name, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Terminate() })
	return p
}

func TestPoolMapBytes(t *testing.T) {
	p, err := proc.NewPool(t.Context(), "upper", &proc.PoolOptions{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	in := make([][]byte, 5000)
	for i := range in {
		in[i] = []byte(fmt.Sprintf("task %d", i))
	}
	out, err := p.Map(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if want := fmt.Sprintf("TASK %d", i); string(out[i]) != want {
			t.Fatalf("result %d = %q, want %q", i, out[i], want)
		}
	}
	if out, err := p.Map(t.Context(), nil); err != nil || len(out) != 0 {
		t.Fatalf("Map(nil) = %v, %v", out, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Map(t.Context(), in); !errors.Is(err, proc.ErrClosed) || !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Map after Close: %v", err)
	}
	if _, err := p.Submit([]byte("x")); !errors.Is(err, proc.ErrClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestPoolMapTyped(t *testing.T) {
	p := newPool[point, int64](t, "norm1", &proc.PoolOptions{Workers: 2})
	in := make([]point, 10000)
	for i := range in {
		in[i] = point{int32(i), -int32(i / 2)}
	}
	out, err := p.Map(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if want := int64(i + i/2); out[i] != want {
			t.Fatalf("result %d = %d, want %d", i, out[i], want)
		}
	}
	w := newPool[string, []string](t, "words", &proc.PoolOptions{Workers: 2})
	got, err := w.Map(t.Context(), []string{"a b", "", "c  d e"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[[a b] [] [c d e]]" {
		t.Fatalf("got %q", got)
	}
	if _, err := proc.NewPoolOf[int, int64](t.Context(), "norm1", nil); err == nil || !strings.Contains(err.Error(), "takes proc_test.point") {
		t.Fatalf("NewPoolOf with the wrong types: %v", err)
	}
	if _, err := proc.NewPool(t.Context(), "no such task", nil); !errors.Is(err, proc.ErrNotRegistered) {
		t.Fatalf("NewPool of an unregistered task: %v", err)
	}
}

func TestPoolSubmit(t *testing.T) {
	p := newPool[int64, int64](t, "crashy", &proc.PoolOptions{Workers: 2})
	var rs []*proc.ResultOf[int64]
	for i := int64(0); i < 50; i++ {
		r, err := p.Submit(i)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	bad, err := p.Submit(-3)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		v, err := r.Wait(t.Context())
		if err != nil || v != int64(i*i) {
			t.Fatalf("task %d: %d, %v", i, v, err)
		}
	}
	if _, err := bad.Wait(t.Context()); err == nil || !strings.Contains(err.Error(), "minus three") {
		t.Fatalf("failing task: %v", err)
	}
}

// TestPoolTaskErrors: a task's error or panic fails that task only; the
// worker goes on.
func TestPoolTaskErrors(t *testing.T) {
	p := newPool[int64, int64](t, "crashy", &proc.PoolOptions{Workers: 2})
	in := make([]int64, 300)
	for i := range in {
		in[i] = int64(i)
	}
	in[40], in[200] = -4, -3
	out, err := p.Map(t.Context(), in)
	var te *proc.TaskError
	if !errors.As(err, &te) || te.Index != 40 || !strings.Contains(err.Error(), "panic") || !strings.Contains(err.Error(), "minus four") {
		t.Fatalf("Map: %v, want the panic of task 40", err)
	}
	for i := range in {
		if i != 40 && i != 200 && out[i] != int64(i*i) {
			t.Fatalf("result %d = %d", i, out[i])
		}
	}
	if p.Replaced() != 0 {
		t.Fatalf("%d workers replaced after task errors", p.Replaced())
	}
}

// TestPoolCrash: a worker that dies fails the task it was running, with
// an error naming the task and how the worker ended; the other tasks all
// complete, and the worker is replaced.
func TestPoolCrash(t *testing.T) {
	for _, c := range []struct {
		input int64
		want  string
	}{
		{-1, "exited with status 3"},
		{-2, "killed by signal 9"},
	} {
		p := newPool[int64, int64](t, "crashy", &proc.PoolOptions{Workers: 2, ChunkSize: 8})
		in := make([]int64, 400)
		for i := range in {
			in[i] = int64(i)
		}
		in[157] = c.input
		out, err := p.Map(t.Context(), in)
		var te *proc.TaskError
		var ee *proc.ExitError
		if !errors.As(err, &te) || te.Index != 157 || !errors.Is(err, proc.ErrWorkerDied) || !errors.As(err, &ee) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("Map with a crash at 157: %v", err)
		}
		for i := range in {
			if i != 157 && out[i] != int64(i*i) {
				t.Fatalf("result %d = %d", i, out[i])
			}
		}
		if p.Replaced() != 1 {
			t.Fatalf("Replaced() = %d, want 1", p.Replaced())
		}
		// The replacement works.
		out, err = p.Map(t.Context(), []int64{2, 3})
		if err != nil || out[0] != 4 || out[1] != 9 {
			t.Fatalf("after the crash: %v, %v", out, err)
		}
		p.Close()
	}
}

// TestPoolCrashEveryWorker: tasks that kill every worker they reach still
// fail one by one, and the rest complete.
func TestPoolCrashEveryWorker(t *testing.T) {
	p := newPool[int64, int64](t, "crashy", &proc.PoolOptions{Workers: 2, ChunkSize: 4})
	in := []int64{1, -1, 2, -1, 3, -2, 4, -1, 5}
	out, err := p.Map(t.Context(), in)
	var te *proc.TaskError
	if !errors.As(err, &te) || te.Index != 1 || !errors.Is(err, proc.ErrWorkerDied) {
		t.Fatalf("Map: %v", err)
	}
	for i, x := range in {
		if x > 0 && out[i] != x*x {
			t.Fatalf("result %d = %d", i, out[i])
		}
	}
	if p.Replaced() != 4 {
		t.Fatalf("Replaced() = %d, want 4", p.Replaced())
	}
}

func TestPoolMapContext(t *testing.T) {
	p := newPool[int64, int64](t, "crashy", &proc.PoolOptions{Workers: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	in := []int64{-5, 1, 2, 3}
	if _, err := p.Map(ctx, in); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Map: %v, want DeadlineExceeded", err)
	}
	// The worker is stuck in task -5; Terminate ends it and fails what
	// was queued.
	r, err := p.Submit(7)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Terminate(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Wait(t.Context()); !errors.Is(err, proc.ErrClosed) {
		t.Fatalf("queued task after Terminate: %v", err)
	}
}

// TestPoolNewContext: cancelling NewPool's context terminates the pool.
func TestPoolNewContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	p, err := proc.NewPoolOf[int64, int64](ctx, "crashy", &proc.PoolOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Submit(-5)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := r.Wait(t.Context()); !errors.Is(err, proc.ErrClosed) {
		t.Fatalf("running task after the pool's context ended: %v", err)
	}
	if _, err := p.Submit(1); !errors.Is(err, proc.ErrClosed) {
		t.Fatalf("Submit: %v", err)
	}
}

// TestPoolTooLarge: a task or result that cannot fit the rings fails
// alone, with a clear error.
func TestPoolTooLarge(t *testing.T) {
	p, err := proc.NewPool(t.Context(), "echo-size", &proc.PoolOptions{Workers: 1, RingSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Terminate()
	out, err := p.Map(t.Context(), [][]byte{make([]byte, 10), make([]byte, 3000), {8}, make([]byte, 20)})
	var te *proc.TaskError
	if !errors.As(err, &te) || te.Index != 1 || !errors.Is(err, proc.ErrTooLarge) {
		t.Fatalf("Map: %v, want ErrTooLarge for task 1", err)
	}
	if len(out[0]) != 10 || len(out[3]) != 20 {
		t.Fatalf("results %d, %d bytes", len(out[0]), len(out[3]))
	}
	r, err := p.Submit([]byte{8}) // an 8 KiB result
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Wait(t.Context()); err == nil || !strings.Contains(err.Error(), "larger than the pool's rings allow") {
		t.Fatalf("large result: %v", err)
	}
	if _, err := proc.NewPool(t.Context(), "echo-size", &proc.PoolOptions{RingSize: 5000}); err == nil {
		t.Fatal("NewPool with a ring size that is not a power of two succeeded")
	}
}

// TestPoolCloseRunsQueued: Close runs what was queued before it.
func TestPoolCloseRunsQueued(t *testing.T) {
	p := newPool[int64, int64](t, "crashy", &proc.PoolOptions{Workers: 2})
	var rs []*proc.ResultOf[int64]
	for i := int64(0); i < 100; i++ {
		r, err := p.Submit(i)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if v, err := r.Wait(t.Context()); err != nil || v != int64(i*i) {
			t.Fatalf("task %d after Close: %d, %v", i, v, err)
		}
	}
}

// TestPoolConcurrentMaps: Map calls from several goroutines share the
// workers and each gets its own results in order.
func TestPoolConcurrentMaps(t *testing.T) {
	p := newPool[int64, int64](t, "crashy", &proc.PoolOptions{Workers: 2, ChunkSize: 16})
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			in := make([]int64, 3000)
			for i := range in {
				in[i] = int64(g*10000 + i)
			}
			out, err := p.Map(t.Context(), in)
			if err == nil {
				for i := range in {
					if out[i] != in[i]*in[i] {
						err = fmt.Errorf("goroutine %d: result %d = %d", g, i, out[i])
						break
					}
				}
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
