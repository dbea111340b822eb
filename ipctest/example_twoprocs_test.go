package ipctest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/proc"
	"github.com/ipckit/ipckit/sysv"
)

// The child creates a message queue with the key it is given and exits
// without removing it: a leak.
func leaker(ctx context.Context, c *proc.Child) error {
	key, err := c.Int(0)
	if err != nil {
		return err
	}
	_, err = sysv.CreateQueue(sysv.Key(key), nil)
	return err
}

// A program registers its children's functions in init and calls
// proc.Main first thing in main (for a test binary, in TestMain).
func init() { proc.Register("ipctest-leaker", leaker) }

// Snapshots taken before and after a child process ran show what it left
// behind. A key from Key marks the object as this test's (Owned), though
// another process created it, which is how Main and CheckLeaks find leaks
// made by children.
func ExampleTake() {
	ctx := context.Background()
	key := ipctest.Key()
	before, err := ipctest.Take()
	if err != nil {
		log.Fatal(err)
	}
	child, err := proc.Start(ctx, "ipctest-leaker", &proc.Options{Handles: []any{int(key)}})
	if err != nil {
		log.Fatal(err)
	}
	if err := child.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	after, err := ipctest.Take()
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range before.Added(after) { // other processes may add objects too
		if o.Kind == "msg" && o.Key == key {
			fmt.Println("the child left a", o.Kind, "queue; owned by this test:", ipctest.Owned(o))
			if err := sysv.RemoveQueue(o.ID); err != nil {
				log.Fatal(err)
			}
		}
	}
	// Output: the child left a msg queue; owned by this test: true
}
