// Command pipe mirrors Python's multiprocessing.Pipe, both kinds:
//
//	a, b = Pipe()               # duplex: both ends send and receive
//	r, w = Pipe(duplex=False)   # half-duplex: r receives, w sends
//	if r.poll(timeout): r.recv_bytes()
//
// A child echoes what it gets on a duplex pipe in upper case; another
// child writes to a half-duplex pipe, which the parent polls before it
// reads.
package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"time"

	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/proc"
)

func init() {
	// echo: handle 0, one end of a duplex pipe.
	proc.Register("echo", func(ctx context.Context, c *proc.Child) error {
		conn, err := c.Conn(0)
		if err != nil {
			return err
		}
		defer conn.Close()
		for {
			msg, err := conn.ReceiveBytes(ctx)
			if err != nil {
				return nil // the parent closed its end
			}
			if err := conn.Send(ctx, bytes.ToUpper(msg)); err != nil {
				return err
			}
		}
	})
	// late: handle 0, the write end of a half-duplex pipe; it writes
	// after a pause, so the parent's first poll finds nothing.
	proc.Register("late", func(ctx context.Context, c *proc.Child) error {
		w, err := c.Conn(0)
		if err != nil {
			return err
		}
		defer w.Close()
		time.Sleep(100 * time.Millisecond)
		return w.Send(ctx, []byte("worth the wait"))
	})
}

func main() {
	proc.Main()
	ctx := context.Background()

	// Duplex.
	a, b, err := posix.Pipe(true)
	if err != nil {
		log.Fatal(err)
	}
	p, err := proc.Start(ctx, "echo", &proc.Options{Handles: []any{b}})
	b.Close() // the child has its own copy
	if err != nil {
		log.Fatal(err)
	}
	for _, word := range []string{"ping", "duplex"} {
		if err := a.Send(ctx, []byte(word)); err != nil {
			log.Fatal(err)
		}
		reply, err := a.ReceiveBytes(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("duplex: sent %q, got %q\n", word, reply)
	}
	a.Close() // the child sees end-of-file and returns
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}

	// Half-duplex, with poll.
	r, w, err := posix.Pipe(false)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	p, err = proc.Start(ctx, "late", &proc.Options{Handles: []any{w}})
	w.Close()
	if err != nil {
		log.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	ready, _ := r.Poll(short) // r.poll(0.01)
	cancel()
	fmt.Println("half-duplex: poll(0.01) =", ready)
	if ready, err = r.Poll(ctx); err != nil || !ready { // r.poll(None)
		log.Fatal("poll: ", err)
	}
	msg, err := r.ReceiveBytes(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("half-duplex: poll() = true, got %q\n", msg)
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
}
