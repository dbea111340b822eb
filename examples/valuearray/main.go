// Command valuearray shares a Value and an Array with child processes, as
// Python's multiprocessing.Value and Array do, with shmheap.
//
// The Python program it mirrors (the multiprocessing documentation's
// "Sharing state between processes", plus a counter behind get_lock):
//
//	from multiprocessing import Process, Value, Array
//
//	def f(n, a):
//	    n.value = 3.1415927
//	    for i in range(len(a)):
//	        a[i] = -a[i]
//
//	def count(c):
//	    for _ in range(10000):
//	        with c.get_lock():
//	            c.value += 1
//
//	if __name__ == "__main__":
//	    num, arr = Value('d', 0.0), Array('i', range(10))
//	    p = Process(target=f, args=(num, arr)); p.start(); p.join()
//	    print(num.value, arr[:])
//	    c = Value('q', 0)
//	    ps = [Process(target=count, args=(c,)) for _ in range(4)]
//	    for p in ps: p.start()
//	    for p in ps: p.join()
//	    print(c.value)
//
// Run it with go run ./examples/valuearray; it exits 0 when every update
// arrived.
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/ipckit/ipckit/proc"
	"github.com/ipckit/ipckit/shmheap"
)

const counters = 4

func init() {
	proc.Register("f", f)
	proc.Register("count", count)
}

func openHeap(c *proc.Child) (*shmheap.Heap, error) {
	file, err := c.File(0)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return shmheap.FromFile(file)
}

// f: n.value = 3.1415927; a[i] = -a[i].
func f(ctx context.Context, c *proc.Child) error {
	h, err := openHeap(c)
	if err != nil {
		return err
	}
	defer h.Close()
	n, err := shmheap.OpenValue[float64](h, "num")
	if err != nil {
		return err
	}
	defer n.Close()
	a, err := shmheap.OpenArray[int32](h, "arr")
	if err != nil {
		return err
	}
	defer a.Close()
	if err := n.Store(3.1415927); err != nil {
		return err
	}
	return a.Update(func(s []int32) { // under the array's lock
		for i := range s {
			s[i] = -s[i]
		}
	})
}

// count: with c.get_lock(): c.value += 1, ten thousand times.
func count(ctx context.Context, c *proc.Child) error {
	h, err := openHeap(c)
	if err != nil {
		return err
	}
	defer h.Close()
	v, err := shmheap.OpenValue[int64](h, "counter")
	if err != nil {
		return err
	}
	defer v.Close()
	for i := 0; i < 10000; i++ {
		if err := v.Update(func(x *int64) { *x++ }); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	proc.Main()
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx := context.Background()
	h, err := shmheap.New(1<<20, nil)
	if err != nil {
		return err
	}
	defer h.Close()
	num, err := shmheap.CreateValue[float64](h, "num") // Value('d', 0.0)
	if err != nil {
		return err
	}
	defer num.Close()
	arr, err := shmheap.CreateArray[int32](h, "arr", 10) // Array('i', range(10))
	if err != nil {
		return err
	}
	defer arr.Close()
	arr.Update(func(s []int32) {
		for i := range s {
			s[i] = int32(i)
		}
	})
	counter, err := shmheap.CreateValue[int64](h, "counter") // Value('q', 0)
	if err != nil {
		return err
	}
	defer counter.Close()

	p, err := proc.Start(ctx, "f", &proc.Options{Handles: []any{h.File()}})
	if err != nil {
		return err
	}
	if err := p.Wait(ctx); err != nil {
		return err
	}
	x, _ := num.Load()
	s, _ := arr.Snapshot()
	fmt.Println(x, s)

	var ps []*proc.Process
	for i := 0; i < counters; i++ {
		p, err := proc.Start(ctx, "count", &proc.Options{Handles: []any{h.File()}})
		if err != nil {
			return err
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			return err
		}
	}
	total, _ := counter.Load()
	fmt.Println(total)
	if x != 3.1415927 || s[9] != -9 || total != counters*10000 {
		fmt.Fprintln(os.Stderr, "valuearray: an update is missing")
		os.Exit(1)
	}
	return nil
}
