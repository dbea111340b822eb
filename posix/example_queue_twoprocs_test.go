package posix_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/proc"
)

// The child: descriptor 0 of its handles is the queue. It adopts it with
// QueueFromFile (no name needed: the parent may have unlinked it), takes
// the parent's message and answers on the same queue.
func ponger(ctx context.Context, c *proc.Child) error {
	f, err := c.File(0) // the inherited descriptor (exec.Cmd.ExtraFiles underneath)
	if err != nil {
		return err
	}
	q, err := posix.QueueFromFile(f)
	f.Close() // q has its own duplicate
	if err != nil {
		return err
	}
	defer q.Close()
	buf := make([]byte, q.MsgSize())
	n, _, err := q.Receive(ctx, buf)
	if err != nil {
		return err
	}
	return q.Send(ctx, []byte(string(buf[:n])+" pong"), 1)
}

// A program registers its children's functions in init and calls
// proc.Main first thing in main (for a test binary, in TestMain).
func init() { proc.Register("posix-ponger", ponger) }

// A POSIX message queue goes to another process as a descriptor: proc
// puts it in exec.Cmd.ExtraFiles, and the child adopts it with
// QueueFromFile. The queue's name is unlinked before the child starts,
// so nothing is left behind whatever happens to either process.
func ExampleQueueFromFile() {
	ctx := context.Background()
	q, err := posix.CreateQueue(ipctest.Name("example"), 4, 64)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	if err := q.Unlink(); err != nil { // the descriptors keep it alive
		log.Fatal(err)
	}
	if err := q.Send(ctx, []byte("ping"), 0); err != nil {
		log.Fatal(err)
	}
	child, err := proc.Start(ctx, "posix-ponger", &proc.Options{Handles: []any{q}})
	if err != nil {
		log.Fatal(err)
	}
	if err := child.Wait(ctx); err != nil { // it has taken "ping" and sent its answer
		log.Fatal(err)
	}
	buf := make([]byte, q.MsgSize())
	n, prio, err := q.Receive(ctx, buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (priority %d)\n", buf[:n], prio)
	// Output: ping pong (priority 1)
}
