package sysv_test

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/sysv"
)

// A message queue: send typed messages, receive by type. System V objects
// outlive the process, so remove what you create.
func ExampleQueue() {
	q, err := sysv.CreateQueue(sysv.IPCPrivate, nil) // mode 0600
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Remove()

	ctx := context.Background()
	q.Send(ctx, 2, []byte("second kind"))
	q.Send(ctx, 1, []byte("first kind"))

	buf := make([]byte, 64)
	n, typ, _ := q.Receive(ctx, 1, buf, 0) // the first message of type 1
	fmt.Printf("type %d: %s\n", typ, buf[:n])
	n, typ, _ = q.Receive(ctx, 0, buf, 0) // the first message of any type
	fmt.Printf("type %d: %s\n", typ, buf[:n])
	// Output:
	// type 1: first kind
	// type 2: second kind
}

// Waiting on a semaphore with a deadline: semtimedop enforces it in the kernel.
func ExampleSemSet_Op() {
	s, err := sysv.CreateSemSet(sysv.IPCPrivate, 1, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Remove()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err = s.Op(ctx, sysv.Sembuf{Num: 0, Op: -1, Flg: sysv.SEM_UNDO})
	fmt.Println(err)

	s.Op(context.Background(), sysv.Sembuf{Num: 0, Op: 1})
	v, _ := s.Value(0)
	fmt.Println("value", v)
	// Output:
	// semop: context deadline exceeded
	// value 1
}

// An attached segment is a posix.Mapping, the same type as a POSIX shm
// mapping; its Close detaches.
func ExampleSegment_Attach() {
	seg, err := sysv.CreateSegment(sysv.IPCPrivate, 4096, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer seg.Remove()
	m, err := seg.Attach(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	copy(m.Bytes(), "visible to every process that attaches")
	st, _ := seg.Stat()
	fmt.Println(m.Len(), st.Attaches)
	// Output: 4096 1
}

// The raw blocking calls return EINTR when a signal interrupts them, and
// in a Go program the runtime's preemption signal can do that at any time:
// retry. A relative timeout must be recomputed from a deadline on each
// try. (SemSet.Op does all of this for you.)
func ExampleSemtimedop_retryEINTR() {
	s, err := sysv.CreateSemSet(sysv.IPCPrivate, 1, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Remove()
	id := s.ID()
	sysv.Semop(id, []sysv.Sembuf{{Num: 0, Op: 1}}) // value 1

	ops := []sysv.Sembuf{{Num: 0, Op: -1}}
	deadline := time.Now().Add(time.Second)
	for {
		ts := sysv.NsecToTimespec(int64(max(time.Until(deadline), 0)))
		err = sysv.Semtimedop(id, ops, &ts)
		if err != unix.EINTR {
			break
		}
	}
	fmt.Println("took a unit:", err == nil)
	// Output:
	// took a unit: true
}
