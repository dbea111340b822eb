package sysv_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ipckit/ipckit/proc"
	"github.com/ipckit/ipckit/sysv"
)

// The child: it turns the id it was given back into a queue (QueueFromID
// checks that the id still names one), receives a type-1 message and
// answers with type 2.
func echo(ctx context.Context, c *proc.Child) error {
	id, err := c.Int(0)
	if err != nil {
		return err
	}
	q, err := sysv.QueueFromID(id)
	if err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, _, err := q.Receive(ctx, 1, buf, 0)
	if err != nil {
		return err
	}
	return q.Send(ctx, 2, append([]byte("echo: "), buf[:n]...))
}

// A program registers its children's functions in init and calls
// proc.Main first thing in main (for a test binary, in TestMain).
func init() { proc.Register("sysv-echo", echo) }

// Two processes share a System V queue through its id: the parent creates
// a private queue (IPCPrivate: no key to collide with) and passes the id,
// as ipcs shows it, to a child it starts; types keep the two directions
// apart.
func ExampleQueueFromID() {
	ctx := context.Background()
	q, err := sysv.CreateQueue(sysv.IPCPrivate, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Remove()

	child, err := proc.Start(ctx, "sysv-echo", &proc.Options{Handles: []any{q.ID()}})
	if err != nil {
		log.Fatal(err)
	}
	if err := q.Send(ctx, 1, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 64)
	n, typ, err := q.Receive(ctx, 2, buf, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("type %d: %s\n", typ, buf[:n])
	if err := child.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	// Output: type 2: echo: hello
}
