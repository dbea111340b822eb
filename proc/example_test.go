package proc_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/proc"
)

// A program registers what its children run in init, and calls
// proc.Main first thing in main (here TestMain, in main_test.go):
//
//	func main() {
//		proc.Main()
//		...
//	}
func init() {
	proc.Register("greeter", func(ctx context.Context, c *proc.Child) error {
		w, err := c.Conn(0) // handle 0: the write end of a pipe
		if err != nil {
			return err
		}
		defer w.Close()
		name, err := c.String(1) // handle 1: a plain value
		if err != nil {
			return err
		}
		return w.Send(ctx, []byte("hello, "+name+", from the child "+c.Name()))
	})
	proc.RegisterTaskOf("square", func(_ context.Context, x int64) (int64, error) { return x * x, nil })
}

// Start re-executes the program as a child that runs the Func registered
// as "greeter", handing it a pipe and a string (Python:
// Process(target=greeter, args=(conn, "gopher")).start()).
func ExampleStart() {
	ctx := context.Background()
	r, w, err := posix.Pipe(false)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	p, err := proc.Start(ctx, "greeter", &proc.Options{Handles: []any{w, "gopher"}})
	w.Close() // the child has its own copy
	if err != nil {
		log.Fatal(err)
	}
	msg, err := r.ReceiveBytes(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	// Output: hello, gopher, from the child greeter
}

// A pool of worker processes maps a registered task over its input, like
// Python's multiprocessing.Pool(2).map(square, [1, 2, 3, 4]).
func ExampleNewPoolOf() {
	ctx := context.Background()
	pool, err := proc.NewPoolOf[int64, int64](ctx, "square", &proc.PoolOptions{Workers: 2})
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	out, err := pool.Map(ctx, []int64{1, 2, 3, 4})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out)
	// Output: [1 4 9 16]
}

// Track hands a named object to the resource tracker, which removes it
// if this process tree dies without doing so itself.
func ExampleTrack() {
	name := ipctest.Name("example")
	shm, err := posix.CreateShm(name, 4096)
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Close()
	if err := proc.Track(proc.ShmName, name); err != nil {
		log.Fatal(err)
	}
	// ... use it, hand it to children ...

	// Done with it: remove it and tell the tracker.
	if err := shm.Unlink(); err != nil {
		log.Fatal(err)
	}
	if err := proc.Untrack(proc.ShmName, name); err != nil {
		log.Fatal(err)
	}
	fmt.Println("removed")
	// Output: removed
}
