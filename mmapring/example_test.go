package mmapring_test

import (
	"context"
	"fmt"
	"io"

	"github.com/ipckit/ipckit/mmapring"
)

// A producer and a consumer on one SPSC ring. Across processes, hand
// r.File() to the child and attach there with FromFile (see
// ExampleFromFile).
func Example() {
	r, err := mmapring.New(mmapring.Config{Kind: mmapring.KindSPSC, Capacity: 1 << 16})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	p, _ := r.Producer()
	c, _ := r.Consumer()
	ctx := context.Background()
	for _, m := range []string{"hello", "ring"} {
		p.Send(ctx, []byte(m))
	}
	p.Close() // consumers drain, then see io.EOF
	buf := make([]byte, r.MaxMessage())
	for {
		n, err := c.Receive(ctx, buf)
		if err == io.EOF {
			break
		}
		fmt.Println(string(buf[:n]))
	}
	// Output:
	// hello
	// ring
}

// Zero-copy: write in place with Reserve/Commit, read in place with
// Peek/Release.
func ExampleProducer_Reserve() {
	r, _ := mmapring.New(mmapring.Config{Kind: mmapring.KindMPMC, Capacity: 8, CellSize: 64})
	defer r.Close()
	p, _ := r.Producer()
	c, _ := r.Consumer()
	ctx := context.Background()
	b, _ := p.Reserve(ctx, 64)
	n := copy(b, "built in place")
	p.Commit(n)
	m, _ := c.Peek(ctx)
	fmt.Printf("%s (%d bytes)\n", m, len(m))
	c.Release()
	// Output: built in place (14 bytes)
}

// A JoinableQueue: Join returns once every message put was TaskDone.
func ExampleQueue() {
	q, _ := mmapring.NewQueue(4, 32)
	defer q.Close()
	ctx := context.Background()
	go func() {
		buf := make([]byte, 32)
		for i := 0; i < 3; i++ {
			q.Get(ctx, buf)
			q.TaskDone()
		}
	}()
	for _, job := range []string{"a", "b", "c"} {
		q.Put(ctx, []byte(job))
	}
	q.Join(ctx)
	n, _ := q.Unfinished()
	fmt.Println("all done, unfinished:", n)
	// Output: all done, unfinished: 0
}
