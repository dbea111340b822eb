// Command joinablequeue mirrors Python's multiprocessing.JoinableQueue:
//
//	q = JoinableQueue()
//	workers: while True: item = q.get(); work(item); q.task_done()
//	parent:  for item in items: q.put(item)
//	         q.join()   # returns once every item was marked done
//
// The workers run until their context ends (daemon processes in Python);
// the parent stops them after Join.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/proc"
)

func init() {
	// worker: handle 0 the queue, 1 a shared counter (a memfd) of the
	// work done.
	proc.Register("worker", func(ctx context.Context, c *proc.Child) error {
		q, err := c.RingQueue(0)
		if err != nil {
			return err
		}
		defer q.Close()
		m, err := c.Mapping(1)
		if err != nil {
			return err
		}
		defer m.Close()
		done, err := posix.Int64At(m, 0)
		if err != nil {
			return err
		}
		buf := make([]byte, 64)
		for {
			n, err := q.Get(ctx, buf)
			if err != nil {
				return nil // stopped by the parent
			}
			done.Add(int64(len(buf[:n]))) // the "work": count the bytes
			if err := q.TaskDone(); err != nil {
				return err
			}
		}
	})
}

func main() {
	proc.Main()
	ctx := context.Background()
	q, err := mmapring.NewQueue(16, 64)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	mem, err := posix.MemfdCreate("done", 8, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer mem.Close()

	var workers []*proc.Process
	for i := 0; i < 3; i++ {
		p, err := proc.Start(ctx, "worker", &proc.Options{Handles: []any{q, mem}})
		if err != nil {
			log.Fatal(err)
		}
		workers = append(workers, p)
	}
	want := int64(0)
	for i := 0; i < 200; i++ {
		item := fmt.Sprintf("item %d", i)
		want += int64(len(item))
		if err := q.Put(ctx, []byte(item)); err != nil {
			log.Fatal(err)
		}
	}
	if err := q.Join(ctx); err != nil { // every item put is done
		log.Fatal(err)
	}
	m, err := posix.Map(mem, 0, 8, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	done, _ := posix.Int64At(m, 0)
	left, err := q.Unfinished()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("join returned: %d items done (%d bytes of work), %d unfinished\n", 200, done.Load(), left)
	if done.Load() != want {
		fmt.Fprintf(os.Stderr, "work done %d, want %d\n", done.Load(), want)
		os.Exit(1)
	}
	for _, p := range workers {
		p.Terminate(10 * time.Second) // SIGTERM cancels the worker's context; it returns as soon as the worker exits
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
}
