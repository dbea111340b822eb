// Command signals mirrors signals between processes, as in Python:
//
//	# child                                   # parent
//	signal.signal(signal.SIGUSR1, handler)    os.kill(p.pid, signal.SIGUSR1)
//	signal.signal(signal.SIGTERM, stop)       p.terminate()
//
// The child catches SIGUSR1 with os/signal and answers on a pipe each
// time; Process.Terminate sends SIGTERM, which cancels the child's context
// so that it returns cleanly (a child that ignored it would be killed after
// the grace period). Process.Signal goes through a pidfd: it can never hit
// another process that reused the pid.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/proc"
)

func init() {
	// handler: handle 0 the write end of a pipe to answer on.
	proc.Register("handler", func(ctx context.Context, c *proc.Child) error {
		w, err := c.Conn(0)
		if err != nil {
			return err
		}
		defer w.Close()
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		if err := w.Send(ctx, []byte("ready")); err != nil {
			return err
		}
		n := 0
		for {
			select {
			case <-usr1:
				n++
				if err := w.Send(ctx, []byte(fmt.Sprintf("SIGUSR1 #%d caught by pid %d", n, os.Getpid()))); err != nil {
					return err
				}
			case <-ctx.Done(): // SIGTERM from Terminate
				return w.Send(context.Background(), []byte(fmt.Sprintf("SIGTERM: stopping cleanly after %d SIGUSR1", n)))
			}
		}
	})
}

func main() {
	proc.Main()
	ctx := context.Background()
	r, w, err := posix.Pipe(false)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	p, err := proc.Start(ctx, "handler", &proc.Options{Handles: []any{w}})
	w.Close()
	if err != nil {
		log.Fatal(err)
	}
	recv := func() string {
		msg, err := r.ReceiveBytes(ctx)
		if err != nil {
			log.Fatal(err)
		}
		return string(msg)
	}
	recv() // "ready": the handler is installed
	for i := 0; i < 3; i++ {
		if err := p.Signal(syscall.SIGUSR1); err != nil { // os.kill(pid, SIGUSR1)
			log.Fatal(err)
		}
		fmt.Println(recv())
	}
	if err := p.Terminate(10 * time.Second); err != nil { // p.terminate(): SIGTERM, SIGKILL after 10 s
		log.Fatal(err)
	}
	fmt.Println(recv())
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("child exited with status", p.ExitCode())
}
