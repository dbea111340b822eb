// Command lock mirrors Python's multiprocessing.Lock around output:
//
//	lock = Lock()
//	def f(lock, i):
//	    with lock:
//	        print('hello world', i)   # several lines, never interleaved
//
// The lock is a process-shared POSIX semaphore (a glibc sem_t, as Python's
// SemLock is) in a memfd that every child maps. Each child writes its lines
// one write at a time, with pauses, to a pipe the parent reads; the lock
// keeps each child's lines together, and the parent checks that they are.
package main

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/proc"
	"github.com/ipckit/ipckit/semaphore"
)

const children, lines = 4, 3

func init() {
	// f: handle 0 the memfd holding the lock, 1 the output (a pipe's
	// write end, as an *os.File), 2 the child's number.
	proc.Register("f", func(ctx context.Context, c *proc.Child) error {
		m, err := c.Mapping(0)
		if err != nil {
			return err
		}
		defer m.Close()
		lock, err := semaphore.Attach(m.Bytes(), 0)
		if err != nil {
			return err
		}
		out, err := c.File(1)
		if err != nil {
			return err
		}
		defer out.Close()
		i, _ := c.Int(2)
		if err := lock.Wait(ctx); err != nil { // with lock:
			return err
		}
		defer lock.Post()
		for k := 1; k <= lines; k++ {
			fmt.Fprintf(out, "hello world %d (line %d of %d)\n", i, k, lines)
			time.Sleep(2 * time.Millisecond) // invite another child in: the lock keeps it out
		}
		return nil
	})
}

func main() {
	proc.Main()
	ctx := context.Background()
	mem, err := posix.MemfdCreate("lock", 64, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer mem.Close()
	m, err := posix.Map(mem, 0, 64, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if _, err := semaphore.Init(m.Bytes(), 0, 1); err != nil { // Lock(): a semaphore of 1
		log.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		log.Fatal(err)
	}
	var ps []*proc.Process
	for i := 0; i < children; i++ {
		p, err := proc.Start(ctx, "f", &proc.Options{Handles: []any{mem, pw, i}})
		if err != nil {
			log.Fatal(err)
		}
		ps = append(ps, p)
	}
	pw.Close()
	for _, p := range ps {
		if err := p.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	var got []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		fmt.Println(sc.Text())
		got = append(got, sc.Text())
	}
	if len(got) != children*lines {
		log.Fatalf("%d lines, want %d", len(got), children*lines)
	}
	for b := 0; b < len(got); b += lines {
		who := strings.Fields(got[b])[2]
		for _, l := range got[b : b+lines] {
			if strings.Fields(l)[2] != who {
				log.Fatalf("lines of two children interleaved: %q", got[b:b+lines])
			}
		}
	}
	fmt.Printf("%d children, %d lines each, never interleaved\n", children, lines)
}
