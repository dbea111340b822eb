// Command manager shares a list and a Namespace among four processes, as
// Python's multiprocessing Manager does, with shmheap instead of a server
// process: the list is a shmheap.Vector and the Namespace a
// shmheap.Namespace, both in one heap that every process maps.
//
// The Python program it mirrors:
//
//	from multiprocessing import Manager, Process
//
//	def worker(i, items, ns):
//	    for j in range(1000):
//	        items.append((i, j))
//	    setattr(ns, f"worker{i}", f"appended {1000} items")
//
//	if __name__ == "__main__":
//	    with Manager() as m:
//	        items, ns = m.list(), m.Namespace()
//	        ps = [Process(target=worker, args=(i, items, ns)) for i in range(4)]
//	        for p in ps: p.start()
//	        for p in ps: p.join()
//	        print(len(items), sorted(vars(ns).items()))
//
// Run it with go run ./examples/manager; it exits 0 when every process's
// items and attribute arrived.
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/ipckit/ipckit/proc"
	"github.com/ipckit/ipckit/shmheap"
)

const (
	workers = 4
	perWork = 1000
)

// item is what a worker appends: Python's tuple (i, j).
type item struct{ Worker, Seq int32 }

func init() { proc.Register("worker", worker) }

// worker runs in each child: handle 0 is the heap's memfd, handle 1 the
// worker's number.
func worker(ctx context.Context, c *proc.Child) error {
	f, err := c.File(0)
	if err != nil {
		return err
	}
	h, err := shmheap.FromFile(f)
	f.Close()
	if err != nil {
		return err
	}
	defer h.Close()
	i, err := c.Int(1)
	if err != nil {
		return err
	}
	items, err := shmheap.OpenVector[item](h, "items")
	if err != nil {
		return err
	}
	defer items.Close()
	ns, err := shmheap.OpenNamespace(h, "ns", nil)
	if err != nil {
		return err
	}
	defer ns.Close()
	for j := 0; j < perWork; j++ {
		if err := items.Append(item{int32(i), int32(j)}); err != nil {
			return err
		}
	}
	return ns.Set(fmt.Sprint("worker", i), fmt.Sprintf("appended %d items", perWork))
}

func main() {
	proc.Main() // in a child: runs worker and exits
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx := context.Background()
	h, err := shmheap.New(4<<20, nil) // with Manager() as m
	if err != nil {
		return err
	}
	defer h.Close()
	items, err := shmheap.CreateVector[item](h, "items") // m.list()
	if err != nil {
		return err
	}
	defer items.Close()
	ns, err := shmheap.CreateNamespace(h, "ns", nil) // m.Namespace()
	if err != nil {
		return err
	}
	defer ns.Close()

	var ps []*proc.Process
	for i := 0; i < workers; i++ {
		p, err := proc.Start(ctx, "worker", &proc.Options{Handles: []any{h.File(), i}})
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

	all, err := items.Snapshot()
	if err != nil {
		return err
	}
	next := make([]int32, workers)
	for _, it := range all { // each worker's items, in its order
		if it.Worker < 0 || it.Worker >= workers || it.Seq != next[it.Worker] {
			return fmt.Errorf("item %v out of order", it)
		}
		next[it.Worker]++
	}
	names, err := ns.Names()
	if err != nil {
		return err
	}
	fmt.Println(len(all), "items")
	for _, name := range names {
		var v string
		if err := ns.Get(name, &v); err != nil {
			return err
		}
		fmt.Printf("%s = %q\n", name, v)
	}
	if len(all) != workers*perWork || len(names) != workers {
		fmt.Fprintln(os.Stderr, "manager: items or attributes missing")
		os.Exit(1)
	}
	return nil
}
