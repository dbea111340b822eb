// Command fifo mirrors a named pipe between two unrelated processes, as in
// Python:
//
//	os.mkfifo(path)
//	# process A                       # process B
//	with open(path, 'w') as f:        with open(path) as f:
//	    f.write(...)                      for line in f: ...
//
// The two children share nothing but the path (a plain string handle):
// each opens the FIFO by name, and each open waits for the other side. The
// resource tracker removes the FIFO even if this program is killed.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/proc"
)

const messages = 5

func init() {
	proc.Register("writer", func(ctx context.Context, c *proc.Child) error {
		path, err := c.String(0)
		if err != nil {
			return err
		}
		w, err := posix.OpenFifo(ctx, path, unix.O_WRONLY) // waits for a reader
		if err != nil {
			return err
		}
		defer w.Close()
		for i := 1; i <= messages; i++ {
			if err := w.Send(ctx, []byte(fmt.Sprintf("message %d from pid %d", i, os.Getpid()))); err != nil {
				return err
			}
		}
		return nil
	})
	proc.Register("reader", func(ctx context.Context, c *proc.Child) error {
		path, err := c.String(0)
		if err != nil {
			return err
		}
		r, err := posix.OpenFifo(ctx, path, unix.O_RDONLY) // waits for a writer
		if err != nil {
			return err
		}
		defer r.Close()
		n := 0
		for {
			msg, err := r.ReceiveBytes(ctx)
			if errors.Is(err, io.EOF) {
				break // the writer closed its end
			}
			if err != nil {
				return err
			}
			n++
			fmt.Printf("reader (pid %d) got: %s\n", os.Getpid(), msg)
		}
		if n != messages {
			return fmt.Errorf("got %d messages, want %d", n, messages)
		}
		return nil
	})
}

func main() {
	proc.Main()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ipckit-fifo-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "pipe")
	if err := posix.Mkfifo(path, 0o600); err != nil {
		log.Fatal(err)
	}
	if err := proc.Track(proc.FilePath, path); err != nil { // removed even if we are killed
		log.Fatal(err)
	}
	// The reader starts first and waits in open(2) for the writer.
	rd, err := proc.Start(ctx, "reader", &proc.Options{Handles: []any{path}})
	if err != nil {
		log.Fatal(err)
	}
	wr, err := proc.Start(ctx, "writer", &proc.Options{Handles: []any{path}})
	if err != nil {
		log.Fatal(err)
	}
	if err := wr.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	if err := rd.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	os.Remove(path)
	proc.Untrack(proc.FilePath, path)
	fmt.Println("the FIFO carried", messages, "messages between two processes that shared only its path")
}
