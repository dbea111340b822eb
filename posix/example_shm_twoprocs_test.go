package posix_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/proc"
)

// The child: it adopts the memfd it inherited, checks that it is sealed
// against resizing (so that mapping it cannot fault), and writes into it.
func writer(ctx context.Context, c *proc.Child) error {
	f, err := c.File(0)
	if err != nil {
		return err
	}
	shm, err := posix.SharedMemoryFromFile(f)
	f.Close()
	if err != nil {
		return err
	}
	defer shm.Close()
	if _, err := shm.CheckSealed(posix.SealSize); err != nil {
		return err
	}
	m, err := shm.Map(0)
	if err != nil {
		return err
	}
	defer m.Close()
	copy(m.Bytes(), "written by the child")
	return nil
}

// A program registers its children's functions in init and calls
// proc.Main first thing in main (for a test binary, in TestMain).
func init() { proc.Register("posix-writer", writer) }

// Anonymous shared memory (a sealed memfd) goes to another process as a
// descriptor, and both map the same pages. Nothing has a name, so nothing
// outlives the two processes.
func ExampleSharedMemoryFromFile() {
	ctx := context.Background()
	shm, err := posix.NewSharedMemory(4096, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Close()
	m, err := shm.Map(0)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	child, err := proc.Start(ctx, "posix-writer", &proc.Options{Handles: []any{shm}})
	if err != nil {
		log.Fatal(err)
	}
	if err := child.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(m.Bytes()[:20]))
	// Output: written by the child
}
