package posix_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

// This example creates a message queue, sends messages with priorities and
// receives them highest priority first.
func ExampleQueue() {
	name := "/" + ipctest.Name("example") // any name, such as "/orders"
	q, err := posix.CreateQueue(name, 10, 128)
	if err != nil {
		log.Fatal(err)
	}
	defer posix.UnlinkQueue(name)
	defer q.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q.Send(ctx, []byte("routine"), 1)
	q.Send(ctx, []byte("urgent"), 9)

	buf := make([]byte, q.MsgSize())
	for i := 0; i < 2; i++ {
		n, prio, err := q.Receive(ctx, buf)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s (priority %d)\n", buf[:n], prio)
	}
	// Output:
	// urgent (priority 9)
	// routine (priority 1)
}

// This example creates a shared-memory object as glibc's shm_open would
// (/dev/shm/NAME, mode 0600), maps it and keeps a shared counter in it.
func ExampleCreateShm() {
	name := ipctest.Name("example") // any name, such as "/telemetry"
	shm, err := posix.CreateShm(name, 4096)
	if err != nil {
		log.Fatal(err)
	}
	defer posix.UnlinkShm(name)
	m, err := shm.Map(0)
	shm.Close() // the mapping stays valid
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	hits, err := posix.Int64At(m, 0)
	if err != nil {
		log.Fatal(err)
	}
	hits.Add(41)
	hits.Add(1)
	fmt.Println(hits.Load())
	// Output: 42
}

// This example passes framed messages through a duplex pipe.
func ExamplePipe() {
	a, b, err := posix.Pipe(true)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	a.Send(ctx, []byte("ping"))
	msg, _ := b.ReceiveBytes(ctx)
	b.Send(ctx, append(msg, " pong"...))
	reply, _ := a.ReceiveBytes(ctx)
	fmt.Println(string(reply))
	// Output: ping pong
}

// This example waits for a notification on a channel when a message
// arrives in an empty queue (mq_notify's SIGEV_THREAD, without a thread).
func ExampleQueue_Notify() {
	name := "/" + ipctest.Name("example")
	q, err := posix.CreateQueue(name, 4, 64)
	if err != nil {
		log.Fatal(err)
	}
	defer posix.UnlinkQueue(name)
	defer q.Close()
	events, err := q.Notify()
	if err != nil {
		log.Fatal(err)
	}
	sender, err := posix.OpenQueueFlags(name, unix.O_WRONLY, 0, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sender.Close()
	sender.TrySend([]byte("hello"), 0)
	fmt.Println(<-events)
	// (Not run as a test: qemu-user has no mq_notify, and TestQueueNotifyChannel
	// covers this.) Prints: woken
}

// This example shares a sealed memfd: the receiver can trust its size.
func ExampleCheckSealed() {
	f, err := posix.MemfdCreate("frame", 1<<20, posix.MemfdAllowSealing)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := posix.AddSeals(f, posix.SealSize|posix.SealSeal); err != nil {
		log.Fatal(err)
	}
	// ... SendFiles(conn, nil, f) to another process, which does:
	size, err := posix.CheckSealed(f, 0)
	fmt.Println(size, err)
	// Output: 1048576 <nil>
}
