package mmapring_test

import (
	"context"
	"fmt"
	"io"
	"log"

	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/proc"
)

// The child attaches to the ring on the descriptor it inherited, sends two
// messages and closes its producer, which ends the stream.
func sender(ctx context.Context, c *proc.Child) error {
	f, err := c.File(0) // exec.Cmd.ExtraFiles underneath
	if err != nil {
		return err
	}
	r, err := mmapring.FromFile(f)
	f.Close() // the Ring keeps its own duplicate
	if err != nil {
		return err
	}
	defer r.Close()
	p, err := r.Producer()
	if err != nil {
		return err
	}
	for _, m := range []string{"hello", "from the child"} {
		if err := p.Send(ctx, []byte(m)); err != nil {
			return err
		}
	}
	return p.Close() // the consumer drains, then sees io.EOF
}

// A program registers its children's functions in init and calls
// proc.Main first thing in main (for a test binary, in TestMain).
func init() { proc.Register("mmapring-sender", sender) }

// A ring in a sealed memfd goes to another process as a descriptor; the
// child produces, the parent consumes, and nothing has a name to clean
// up.
func ExampleFromFile() {
	ctx := context.Background()
	r, err := mmapring.New(mmapring.Config{Kind: mmapring.KindSPSC, Capacity: 1 << 16})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	c, err := r.Consumer()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	child, err := proc.Start(ctx, "mmapring-sender", &proc.Options{Handles: []any{r.File()}})
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, r.MaxMessage())
	for {
		n, err := c.Receive(ctx, buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(buf[:n]))
	}
	if err := child.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// hello
	// from the child
}
