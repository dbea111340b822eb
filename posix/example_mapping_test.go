package posix_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

// This example makes shared memory to hand to another process by
// descriptor: a memfd sealed against resizing, so no process can make it
// shorter under a mapping, and the receiver's side of the hand-off.
func ExampleNewSharedMemory() {
	shm, err := posix.NewSharedMemory(1<<20, &posix.SharedMemoryOptions{Name: "frames", Seals: posix.SealSeal})
	if err != nil {
		log.Fatal(err)
	}
	defer shm.Close()
	m, err := shm.Map(0)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	copy(m.Bytes(), "frame 1")

	// cmd.ExtraFiles = []*os.File{shm.File()}; in the child, the
	// descriptor is os.NewFile(3, "frames"):
	received := shm.File()
	r, err := posix.SharedMemoryFromFile(received)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	size, err := r.CheckSealed(0) // the size cannot change any more
	if err != nil {
		log.Fatal(err)
	}
	rm, err := r.Map(0)
	if err != nil {
		log.Fatal(err)
	}
	defer rm.Close()
	fmt.Println(size, string(rm.Bytes()[:7]), rm.Truncatable())
	// Output: 1048576 frame 1 false
}

// This example reads memory that another process can truncate: the
// object behind a shm name cannot be sealed, so the access runs under
// Guard, and a truncation becomes an error instead of a SIGBUS that
// would kill the program.
func ExampleMapping_Guard() {
	name := ipctest.Name("example") // any name, such as "/telemetry"
	shm, err := posix.CreateShm(name, 2*4096)
	if err != nil {
		log.Fatal(err)
	}
	defer posix.UnlinkShm(name)
	defer shm.Close()
	m, err := shm.Map(0)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	b := m.Bytes()

	shm.Truncate(4096) // what a hostile or buggy peer might do
	var last byte
	err = m.Guard(func() error {
		last = b[len(b)-1]
		return nil
	})
	fmt.Println(m.Truncatable(), last, errors.Is(err, posix.ErrCorrupt))
	// (Not run as a test: under qemu-user the fault carries no address;
	// TestGuardTruncatedShm covers this.) Prints: true 0 true
}
