package csp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/ipckit/ipckit/csp"
	"github.com/ipckit/ipckit/proc"
)

// Reading is the value the examples send: fixed-size and pointer-free, so
// it is copied raw.
type Reading struct {
	Sensor int32
	Value  float64
}

func init() {
	// The child of Example_processes: it sends three readings on the
	// writer it was given (handle 0), then retires it.
	proc.Register("example-sensor", func(ctx context.Context, c *proc.Child) error {
		w, err := csp.WriterOf[Reading](c, 0)
		if err != nil {
			return err
		}
		defer w.Retire()
		id, err := c.Int(1)
		if err != nil {
			return err
		}
		for i := 1; i <= 3; i++ {
			if err := w.Send(ctx, Reading{Sensor: int32(id), Value: float64(i) / 2}); err != nil {
				return err
			}
		}
		return nil
	})
}

// A channel between two processes: the parent makes the channel and both
// ends, hands the writer to a child, and reads until the child retires it
// (PyCSP: Parallel(sensor(-ch), ...) with ch = Channel()).
func Example_processes() {
	ctx := context.Background()
	ch, err := csp.NewChan[Reading](&csp.Options{Capacity: 4, OneToOne: true})
	if err != nil {
		log.Fatal(err)
	}
	defer ch.Close()
	w, _ := ch.Writer()
	r, _ := ch.Reader()
	defer r.Close()
	p, err := proc.Start(ctx, "example-sensor", &proc.Options{Handles: []any{w, 7}})
	w.Close() // the child holds the writer now
	if err != nil {
		log.Fatal(err)
	}
	for {
		rd, err := r.Receive(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("sensor %d: %.1f\n", rd.Sensor, rd.Value)
	}
	if err := p.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// sensor 7: 0.5
	// sensor 7: 1.0
	// sensor 7: 1.5
}

// A rendezvous channel in one process: Send returns once the value has
// been taken.
func ExampleNewChan() {
	ctx := context.Background()
	ch, err := csp.NewChan[int64](nil) // rendezvous, any-to-any, raw
	if err != nil {
		log.Fatal(err)
	}
	defer ch.Close()
	w, _ := ch.Writer()
	r, _ := ch.Reader()
	defer r.Close()
	go func() {
		defer w.Retire()
		for i := int64(1); i <= 3; i++ {
			w.Send(ctx, i*i)
		}
	}()
	for {
		v, err := r.Receive(ctx)
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(v)
	}
	// Output:
	// 1
	// 4
	// 9
	// EOF
}

// Select waits on several channels at once, here with a timeout guard
// (PyCSP: AltSelect(InputGuard(a), InputGuard(b), TimeoutGuard(0.05))).
func ExampleSelect() {
	ctx := context.Background()
	a, _ := csp.NewChan[int64](&csp.Options{Capacity: 1})
	b, _ := csp.NewChan[string](&csp.Options{Capacity: 1})
	defer a.Close()
	defer b.Close()
	ra, _ := a.Reader()
	rb, _ := b.Reader()
	wb, _ := b.Writer()
	defer ra.Close()
	defer rb.Close()
	defer wb.Close()
	wb.Send(ctx, "hello")
	var n int64
	var s string
	alt := csp.NewAlt(csp.Receive(ra, &n), csp.Receive(rb, &s), csp.Timeout(50*time.Millisecond))
	for i := 0; i < 2; i++ {
		switch k, err := alt.Select(ctx); {
		case err != nil:
			log.Fatal(err)
		case k == 0:
			fmt.Println("a:", n)
		case k == 1:
			fmt.Println("b:", s)
		case k == 2:
			fmt.Println("timeout")
		}
	}
	// Output:
	// b: hello
	// timeout
}

func init() {
	// The members of ExampleParallel.
	proc.Register("example-producer", func(ctx context.Context, c *proc.Child) error {
		w, err := csp.WriterOf[int64](c, 0)
		if err != nil {
			return err
		}
		for i := int64(1); ; i++ {
			if err := w.Send(ctx, i); err != nil {
				return err // ErrPoisoned once the consumer has had enough
			}
		}
	})
}

// Parallel runs a producer process and a consumer goroutine; the consumer
// poisons the channel when it has had enough, which ends the producer too
// (PyCSP: Parallel(producer(-ch), consumer(+ch)) with poison).
func ExampleParallel() {
	ch, err := csp.NewChan[int64](&csp.Options{Capacity: 8})
	if err != nil {
		log.Fatal(err)
	}
	defer ch.Close()
	w, _ := ch.Writer()
	r, _ := ch.Reader()
	defer w.Close()
	defer r.Close()
	sum := int64(0)
	err = csp.Parallel(context.Background(),
		csp.Process{Name: "example-producer", Handles: []any{w}},
		csp.Process{Handles: []any{r}, Func: func(ctx context.Context) error {
			for i := 0; i < 10; i++ {
				v, err := r.Receive(ctx)
				if err != nil {
					return err
				}
				sum += v
			}
			return r.Poison()
		}},
	)
	fmt.Println(sum, err, errors.Is(err, csp.ErrPoisoned))
	// Output: 55 <nil> false
}
