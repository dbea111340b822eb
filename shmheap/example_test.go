package shmheap_test

import (
	"context"
	"fmt"
	"log"
	"sort"

	"github.com/ipckit/ipckit/proc"
	"github.com/ipckit/ipckit/shmheap"
)

// Python's
//
//	counter = Value('q', 0)
//	with counter.get_lock(): counter.value += 1
func ExampleValue() {
	h, err := shmheap.New(1<<20, nil) // a memfd, to hand to child processes
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	counter, err := shmheap.OpenOrCreateValue[int64](h, "counter")
	if err != nil {
		log.Fatal(err)
	}
	defer counter.Close()
	counter.Update(func(x *int64) { *x += 1 }) // under the object's lock
	hits, _ := counter.Int64("")               // or lock-free
	hits.Add(41)
	x, _ := counter.Load()
	fmt.Println(x)
	// Output: 42
}

// Opening an object as another type than it was created with is refused.
func ExampleOpenValue() {
	h, err := shmheap.New(1<<20, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	v, _ := shmheap.CreateValue[int64](h, "x")
	defer v.Close()
	_, err = shmheap.OpenValue[int32](h, "x")
	fmt.Println(err)
	// Output: shmheap: object has another kind or type: Value "x" holds 8-byte elements (layout 0xd91e7a21e619fe2c), not 4-byte ones (layout 0xee6908f770e7b3a8)
}

func init() {
	// The child's side: what proc.Start runs in the re-executed program.
	proc.Register("shmheap-example", func(ctx context.Context, c *proc.Child) error {
		f, err := c.File(0) // the heap's memfd
		if err != nil {
			return err
		}
		h, err := shmheap.FromFile(f)
		f.Close()
		if err != nil {
			return err
		}
		defer h.Close()
		squares, err := shmheap.OpenVector[int64](h, "squares")
		if err != nil {
			return err
		}
		defer squares.Close()
		for i := int64(1); i <= 4; i++ {
			if err := squares.Append(i * i); err != nil {
				return err
			}
		}
		ns, err := shmheap.OpenNamespace(h, "ns", nil)
		if err != nil {
			return err
		}
		defer ns.Close()
		return ns.Set("status", "done by the child")
	})
}

// A Manager's list and Namespace shared with a child process: Python's
//
//	with Manager() as m:
//	    squares, ns = m.list(), m.Namespace()
//	    p = Process(target=f, args=(squares, ns)); p.start(); p.join()
//
// The child (registered above with proc.Register, and started by
// re-executing this program) opens the heap from the descriptor it was
// handed; the program calls proc.Main first thing in main (here, TestMain).
func Example_processes() {
	ctx := context.Background()
	h, err := shmheap.New(1<<20, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	squares, _ := shmheap.CreateVector[int64](h, "squares")
	defer squares.Close()
	ns, _ := shmheap.CreateNamespace(h, "ns", nil)
	defer ns.Close()
	squares.Append(0)

	p, err := proc.Start(ctx, "shmheap-example", &proc.Options{Handles: []any{h.File()}})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	all, _ := squares.Snapshot()
	var status string
	ns.Get("status", &status)
	fmt.Println(all, status)
	// Output: [0 1 4 9 16] done by the child
}

// Named heaps in /dev/shm are what C programs open with shm_open (see
// LAYOUT.md and shmheap.h). A Map with fixed-size keys and values:
func ExampleMap() {
	h, err := shmheap.New(1<<20, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	type point struct{ X, Y int32 }
	m, _ := shmheap.CreateMap[point, float64](h, "dist")
	defer m.Close()
	m.Put(point{3, 4}, 5)
	m.Put(point{6, 8}, 10)
	d, ok, _ := m.Get(point{3, 4})
	n, _ := m.Len()
	fmt.Println(d, ok, n)
	// Output: 5 true 2
}

// Stats shows the heap's memory; Remove gives an object's memory back.
func ExampleHeap_Stats() {
	h, err := shmheap.New(1<<20, &shmheap.Options{Lock: shmheap.LockPID})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	before, _ := h.Stats()
	a, _ := shmheap.CreateArray[float64](h, "samples", 10000)
	a.Close()
	during, _ := h.Stats()
	names, _ := h.Names()
	h.Remove("samples")
	after, _ := h.Stats()
	sort.Strings(names)
	fmt.Println(names, during.Used-before.Used >= 80000, after.Used == before.Used)
	// Output: [samples] true true
}
