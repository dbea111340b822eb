// Command csp mirrors a PyCSP network: two producers and a consumer that
// alternates between them, run with Parallel, shut down with poison:
//
//	@process
//	def producer(cout, x):
//	    while True: cout(x)
//	@process
//	def consumer(cin1, cin2):
//	    for i in range(20):
//	        (g, msg) = AltSelect(InputGuard(cin1), InputGuard(cin2), TimeoutGuard(1))
//	    poison(cin1, cin2)
//	Parallel(producer(-a, ...), producer(-b, ...), consumer(+a, +b))
//
// Each member is a process; channel a carries raw int64s, channel b
// strings (through gob). The consumer's FairSelect sleeps on both rings at
// once (futex_waitv) until either producer sends, and takes from each in
// turn while both have values; after 20 values it poisons both channels, the producers' next Send fails with ErrPoisoned,
// and Parallel returns nil: poison is how a CSP network stops.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/ipckit/ipckit/csp"
	"github.com/ipckit/ipckit/proc"
)

func init() {
	proc.Register("numbers", func(ctx context.Context, c *proc.Child) error {
		w, err := csp.WriterOf[int64](c, 0)
		if err != nil {
			return err
		}
		defer w.Close()
		for i := int64(1); ; i++ {
			if err := w.Send(ctx, i*i); err != nil {
				return err // ErrPoisoned: the network is shutting down
			}
		}
	})
	proc.Register("words", func(ctx context.Context, c *proc.Child) error {
		w, err := csp.WriterOf[string](c, 0)
		if err != nil {
			return err
		}
		defer w.Close()
		for i := 0; ; i++ {
			if err := w.Send(ctx, fmt.Sprintf("word-%d", i)); err != nil {
				return err
			}
		}
	})
	proc.Register("consumer", func(ctx context.Context, c *proc.Child) error {
		a, err := csp.ReaderOf[int64](c, 0)
		if err != nil {
			return err
		}
		defer a.Close()
		b, err := csp.ReaderOf[string](c, 1)
		if err != nil {
			return err
		}
		defer b.Close()
		var n int64
		var s string
		alt := csp.NewAlt(csp.Receive(a, &n), csp.Receive(b, &s), csp.Timeout(time.Second))
		counts := [3]int{}
		for i := 0; i < 20; i++ {
			k, err := alt.FairSelect(ctx)
			if err != nil {
				return err
			}
			counts[k]++
			switch k {
			case 0:
				fmt.Println("consumer: number", n)
			case 1:
				fmt.Println("consumer: word", s)
			case 2:
				fmt.Println("consumer: nothing for a second")
			}
		}
		fmt.Printf("consumer: %d numbers, %d words, %d timeouts; poisoning the network\n", counts[0], counts[1], counts[2])
		a.Poison()
		return b.Poison()
	})
}

func main() {
	proc.Main()
	a, err := csp.NewChan[int64](&csp.Options{Capacity: 4}) // raw int64s
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := csp.NewChan[string](&csp.Options{Capacity: 4}) // strings, through gob
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	wa, _ := a.Writer()
	wb, _ := b.Writer()
	ra, _ := a.Reader()
	rb, _ := b.Reader()
	for _, e := range []interface{ Close() error }{wa, wb, ra, rb} {
		defer e.Close() // each child holds its end; this drops our copies
	}
	err = csp.Parallel(context.Background(),
		csp.Process{Name: "numbers", Handles: []any{wa}},
		csp.Process{Name: "words", Handles: []any{wb}},
		csp.Process{Name: "consumer", Handles: []any{ra, rb}},
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Parallel returned nil; channels poisoned:", a.Poisoned() && b.Poisoned())
}
