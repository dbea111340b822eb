package semaphore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ipckit/ipckit/proc"
	"github.com/ipckit/ipckit/semaphore"
	"github.com/ipckit/ipckit/sysv"
)

// The child takes a unit and exits without giving it back, as a process
// that crashes while holding it would.
func taker(ctx context.Context, c *proc.Child) error {
	set, err := c.SemSet(0) // passed by id
	if err != nil {
		return err
	}
	s, err := semaphore.SysVFromSet(set, 0) // SEM_UNDO on
	if err != nil {
		return err
	}
	return s.Wait(ctx) // ... and never Post
}

// A program registers its children's functions in init and calls
// proc.Main first thing in main (for a test binary, in TestMain).
func init() { proc.Register("semaphore-taker", taker) }

// A SysV-backed semaphore gets back the units of a process that exits
// without posting them: the kernel undoes the exited process's SEM_UNDO
// adjustments. A POSIX semaphore would stay at zero.
func ExampleSysVFromSet() {
	ctx := context.Background()
	s, err := semaphore.CreateSysV(sysv.IPCPrivate, 1, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Remove()

	child, err := proc.Start(ctx, "semaphore-taker", &proc.Options{Handles: []any{s.Set()}})
	if err != nil {
		log.Fatal(err)
	}
	if err := child.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	v, err := s.Value()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("value after the child took a unit and exited:", v)
	// Output: value after the child took a unit and exited: 1
}
