package semaphore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/proc"
	"github.com/ipckit/ipckit/semaphore"
)

// The child opens the semaphore by name, as a C program would with
// sem_open(name, 0), and posts it.
func poster(ctx context.Context, c *proc.Child) error {
	name, err := c.String(0)
	if err != nil {
		return err
	}
	s, err := semaphore.Open(name)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Post()
}

// A program registers its children's functions in init and calls
// proc.Main first thing in main (for a test binary, in TestMain).
func init() { proc.Register("semaphore-poster", poster) }

// Two processes meet at a named semaphore: the parent creates it at zero
// and waits; the child opens it by name and posts, which wakes the
// parent's Wait (a futex wake across processes, as between C's sem_post
// and sem_wait).
func ExampleOpen() {
	ctx := context.Background()
	name := "/" + ipctest.Name("example")
	s, err := semaphore.Create(name, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer semaphore.Unlink(name)
	defer s.Close()

	child, err := proc.Start(ctx, "semaphore-poster", &proc.Options{Handles: []any{name}})
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Wait(ctx); err != nil { // until the child posts
		log.Fatal(err)
	}
	fmt.Println("posted by the child; value now", s.Value())
	if err := child.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	// Output: posted by the child; value now 0
}
