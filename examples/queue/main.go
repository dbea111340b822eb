// Command queue mirrors Python's multiprocessing.Queue with a maxsize,
// several producer processes, several consumer processes and a poison pill:
//
//	q = Queue(maxsize=8)
//	producers put items; the parent puts one None per consumer when they
//	are done; each consumer gets until it sees None.
//
// The queue is an mmapring.Queue (an MPMC ring in shared memory) passed to
// each child by proc; results come back on a second queue.
package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"log"

	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/proc"
)

const (
	producers = 3
	consumers = 2
	perProd   = 1000
	pill      = -1 // the poison pill: Python's None
)

func init() {
	// produce: handle 0 the queue, 1 the producer's number.
	proc.Register("produce", func(ctx context.Context, c *proc.Child) error {
		q, err := c.RingQueue(0)
		if err != nil {
			return err
		}
		defer q.Close()
		id, _ := c.Int(1)
		var b [8]byte
		for i := 0; i < perProd; i++ {
			binary.LittleEndian.PutUint64(b[:], uint64(id*perProd+i))
			if err := q.Put(ctx, b[:]); err != nil { // waits while 8 items are queued
				return err
			}
		}
		return nil
	})
	// consume: handle 0 the queue, 1 the results queue.
	proc.Register("consume", func(ctx context.Context, c *proc.Child) error {
		q, err := c.RingQueue(0)
		if err != nil {
			return err
		}
		defer q.Close()
		res, err := c.RingQueue(1)
		if err != nil {
			return err
		}
		defer res.Close()
		sum, n := int64(0), int64(0)
		buf := make([]byte, 8)
		for {
			if _, err := q.Get(ctx, buf); err != nil {
				return err
			}
			v := int64(binary.LittleEndian.Uint64(buf))
			if v == pill {
				break
			}
			sum += v
			n++
		}
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], uint64(n))
		binary.LittleEndian.PutUint64(b[8:], uint64(sum))
		return res.Put(ctx, b[:])
	})
}

func main() {
	proc.Main()
	ctx := context.Background()
	q, err := mmapring.NewQueue(8, 8) // maxsize 8, 8-byte items
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	res, err := mmapring.NewQueue(consumers, 16)
	if err != nil {
		log.Fatal(err)
	}
	defer res.Close()

	var cons, prods []*proc.Process
	for i := 0; i < consumers; i++ {
		p, err := proc.Start(ctx, "consume", &proc.Options{Handles: []any{q, res}})
		if err != nil {
			log.Fatal(err)
		}
		cons = append(cons, p)
	}
	for i := 0; i < producers; i++ {
		p, err := proc.Start(ctx, "produce", &proc.Options{Handles: []any{q, i}})
		if err != nil {
			log.Fatal(err)
		}
		prods = append(prods, p)
	}
	for _, p := range prods {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	// One pill per consumer, after every item.
	var b [8]byte
	pillV := int64(pill)
	binary.LittleEndian.PutUint64(b[:], uint64(pillV))
	for i := 0; i < consumers; i++ {
		if err := q.Put(ctx, b[:]); err != nil {
			log.Fatal(err)
		}
	}
	total, sum := int64(0), int64(0)
	buf := make([]byte, 16)
	for i := 0; i < consumers; i++ {
		if _, err := res.Get(ctx, buf); err != nil {
			log.Fatal(err)
		}
		n, s := int64(binary.LittleEndian.Uint64(buf)), int64(binary.LittleEndian.Uint64(buf[8:]))
		fmt.Printf("a consumer took %d items\n", n)
		total += n
		sum += s
	}
	for _, p := range cons {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	const n = producers * perProd
	if total != n || sum != n*(n-1)/2 {
		log.Fatalf("consumers took %d items (sum %d), want %d (sum %d)", total, sum, n, n*(n-1)/2)
	}
	fmt.Printf("%d items from %d producers through a queue of maxsize 8, each taken once\n", total, producers)
}
