package csp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/csp"
	"github.com/ipckit/ipckit/proc"
)

func TestInProcess(t *testing.T) {
	for _, cf := range configs {
		t.Run(cf.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := newChan[int64](t, &cf.o)
			w, r := writer(t, c), reader(t, c)
			const n = 5000
			errc := make(chan error, 1)
			go func() {
				for i := int64(0); i < n; i++ {
					if err := w.Send(ctx, i); err != nil {
						t.Errorf("Send %d: %v", i, err)
						errc <- err
						return
					}
				}
				errc <- w.Retire()
			}()
			for i := int64(0); i < n; i++ {
				v, err := r.Receive(ctx)
				if err != nil {
					t.Fatalf("Receive %d: %v", i, err)
				}
				if v != i {
					t.Fatalf("got %d, want %d", v, i)
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if _, err := r.Receive(ctx); err != io.EOF {
				t.Fatalf("after the writer retired: %v, want io.EOF", err)
			}
		})
	}
}

func TestCapacityExact(t *testing.T) {
	for _, oneToOne := range []bool{false, true} {
		for _, capacity := range []int{1, 3, 8, 100} {
			c := newChan[int64](t, &csp.Options{Capacity: capacity, OneToOne: oneToOne})
			w, r := writer(t, c), reader(t, c)
			for round := 0; round < 3; round++ {
				for i := 0; i < capacity; i++ {
					if err := w.TrySend(int64(i)); err != nil {
						t.Fatalf("one2one %v capacity %d: TrySend %d: %v", oneToOne, capacity, i, err)
					}
				}
				err := w.TrySend(-1)
				if !errors.Is(err, csp.ErrFull) || !errors.Is(err, unix.EAGAIN) {
					t.Fatalf("one2one %v capacity %d: TrySend beyond capacity: %v, want ErrFull matching EAGAIN", oneToOne, capacity, err)
				}
				// One taken makes room for exactly one.
				if v, err := r.TryReceive(); err != nil || v != 0 {
					t.Fatalf("TryReceive: %v %v", v, err)
				}
				if err := w.TrySend(int64(capacity)); err != nil {
					t.Fatalf("TrySend after one was taken: %v", err)
				}
				if err := w.TrySend(-1); !errors.Is(err, csp.ErrFull) {
					t.Fatalf("TrySend beyond capacity: %v", err)
				}
				for i := 1; i <= capacity; i++ {
					if v, err := r.TryReceive(); err != nil || v != int64(i) {
						t.Fatalf("TryReceive %d: %v %v", i, v, err)
					}
				}
				if _, err := r.TryReceive(); !errors.Is(err, csp.ErrEmpty) || !errors.Is(err, unix.EAGAIN) {
					t.Fatalf("TryReceive on empty: %v", err)
				}
			}
		}
	}
}

func TestRendezvousInProcess(t *testing.T) {
	for _, oneToOne := range []bool{false, true} {
		ctx := testCtx(t)
		c := newChan[int64](t, &csp.Options{OneToOne: oneToOne})
		w, r := writer(t, c), reader(t, c)
		// No reader: Send cannot complete.
		short, cancel := context.WithTimeout(ctx, 20_000_000)
		err := w.Send(short, 7)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("rendezvous Send without a reader: %v, want DeadlineExceeded", err)
		}
		// The value entered the channel: a reader takes it.
		if v, err := r.Receive(ctx); err != nil || v != 7 {
			t.Fatalf("Receive: %v %v", v, err)
		}
		// A Send returns only after the reader has begun to receive.
		var entered atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			entered.Store(true)
			if v, err := r.Receive(ctx); err != nil || v != 8 {
				t.Errorf("Receive: %v %v", v, err)
			}
		}()
		if err := w.Send(ctx, 8); err != nil {
			t.Fatal(err)
		}
		if !entered.Load() {
			t.Fatal("rendezvous Send returned before any reader received")
		}
		wg.Wait()
		// TrySend with no reader waiting fails without sending.
		if err := w.TrySend(9); !errors.Is(err, csp.ErrFull) {
			t.Fatalf("rendezvous TrySend with no reader waiting: %v", err)
		}
		if _, err := r.TryReceive(); !errors.Is(err, csp.ErrEmpty) {
			t.Fatalf("TrySend left a value: %v", err)
		}
	}
}

func TestRawRefused(t *testing.T) {
	type withString struct {
		A int
		S string
	}
	type withPtr struct{ P *int }
	type inArray struct{ X [2]map[int]int }
	check := func(err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want one mentioning %q", err, want)
		}
	}
	_, err := csp.NewChan[string](&csp.Options{Encoding: csp.Raw})
	check(err, "string")
	_, err = csp.NewChan[withString](&csp.Options{Encoding: csp.Raw})
	check(err, "field S: it is a string")
	_, err = csp.NewChan[withPtr](&csp.Options{Encoding: csp.Raw})
	check(err, "pointer")
	_, err = csp.NewChan[[]int](&csp.Options{Encoding: csp.Raw})
	check(err, "slice")
	_, err = csp.NewChan[inArray](&csp.Options{Encoding: csp.Raw})
	check(err, "map")
	_, err = csp.NewChan[any](&csp.Options{Encoding: csp.Raw})
	check(err, "interface")
	// Auto picks gob for them, raw for the others.
	c, err := csp.NewChan[withString](nil)
	if err != nil || c.Raw() {
		t.Fatalf("Auto for a struct with a string: %v, raw %v", err, c != nil && c.Raw())
	}
	c.Close()
	p, err := csp.NewChan[point](nil)
	if err != nil || !p.Raw() {
		t.Fatalf("Auto for a pointer-free struct: %v", err)
	}
	p.Close()
}

func TestGobInProcess(t *testing.T) {
	type rec struct {
		Name string
		Tags []string
		M    map[string]int
	}
	ctx := testCtx(t)
	c := newChan[rec](t, &csp.Options{Capacity: 4})
	w, r := writer(t, c), reader(t, c)
	in := rec{Name: "x", Tags: []string{"a", "b"}, M: map[string]int{"k": 1}}
	if err := w.Send(ctx, in); err != nil {
		t.Fatal(err)
	}
	out, err := r.Receive(ctx)
	if err != nil || out.Name != "x" || len(out.Tags) != 2 || out.M["k"] != 1 {
		t.Fatalf("Receive: %+v %v", out, err)
	}
	big := rec{Name: strings.Repeat("x", 5000)}
	if err := w.Send(ctx, big); !errors.Is(err, csp.ErrTooLarge) {
		t.Fatalf("Send of a value larger than MaxMessage: %v", err)
	}
}

func TestPoisonInProcess(t *testing.T) {
	for _, cf := range configs {
		t.Run(cf.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := newChan[int64](t, &cf.o)
			w, r := writer(t, c), reader(t, c)
			errc := make(chan error, 2)
			go func() {
				// Take what comes until the poison (values may arrive first).
				for {
					if _, err := r.Receive(ctx); err != nil {
						errc <- err
						return
					}
				}
			}()
			go func() {
				// Fill the buffer, then block.
				for i := 0; ; i++ {
					if err := w.Send(ctx, int64(i)); err != nil {
						errc <- err
						return
					}
				}
			}()
			// Poison ends both loops, wherever each is.
			if err := c.Poison(); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				if err := <-errc; !errors.Is(err, csp.ErrPoisoned) {
					t.Fatalf("blocked call after Poison: %v", err)
				}
			}
			if _, err := r.TryReceive(); !errors.Is(err, csp.ErrPoisoned) {
				t.Fatalf("TryReceive after Poison: %v", err)
			}
			if _, err := c.Writer(); !errors.Is(err, csp.ErrPoisoned) {
				t.Fatalf("Writer after Poison: %v", err)
			}
			if !c.Poisoned() {
				t.Fatal("Poisoned() = false")
			}
		})
	}
}

func TestCloseIdempotent(t *testing.T) {
	c, err := csp.NewChan[int64](&csp.Options{Capacity: 1})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := c.Writer()
	r, _ := c.Reader()
	for i := 0; i < 2; i++ {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Send(context.Background(), 1); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if _, err := r.Receive(context.Background()); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Receive after Close: %v", err)
	}
	if _, err := c.Writer(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Writer after Close: %v", err)
	}
}

func TestReadersRetired(t *testing.T) {
	for _, cf := range configs {
		t.Run(cf.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := newChan[int64](t, &cf.o)
			w, r := writer(t, c), reader(t, c)
			errc := make(chan error, 1)
			go func() {
				for i := 0; ; i++ {
					if err := w.Send(ctx, int64(i)); err != nil {
						errc <- err
						return
					}
				}
			}()
			r.Retire()
			if err := <-errc; !errors.Is(err, csp.ErrRetired) {
				t.Fatalf("Send after every reader retired: %v", err)
			}
			if _, err := c.Reader(); !errors.Is(err, csp.ErrRetired) {
				t.Fatalf("Reader after every reader retired: %v", err)
			}
		})
	}
}

func TestOneToOneEnds(t *testing.T) {
	c := newChan[int64](t, &csp.Options{Capacity: 2, OneToOne: true})
	writer(t, c)
	if _, err := c.Writer(); !errors.Is(err, csp.ErrTooManyEnds) {
		t.Fatalf("second writer of a one-to-one channel: %v", err)
	}
	reader(t, c)
	if _, err := c.Reader(); !errors.Is(err, csp.ErrTooManyEnds) {
		t.Fatalf("second reader of a one-to-one channel: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []csp.Options{
		{Capacity: -1}, {Capacity: 1<<24 + 1}, {MaxMessage: -5, Encoding: csp.Gob}, {Encoding: 9},
	} {
		if c, err := csp.NewChan[int64](&o); err == nil {
			c.Close()
			t.Errorf("NewChan(%+v) succeeded", o)
		}
	}
	if c, err := csp.NewChan[[1 << 20]byte](&csp.Options{Capacity: 1 << 24, OneToOne: true}); err == nil {
		c.Close()
		t.Error("a one-to-one channel of 16 Mi values of 1 MiB was made")
	}
	if _, err := csp.NewChanCodec[int64](nil, nil); err == nil {
		t.Error("NewChanCodec with a nil codec succeeded")
	}
}

// jsonCodec is a custom codec for the tests.
type jsonCodec[T any] struct{}

func (jsonCodec[T]) Append(dst []byte, v *T) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(dst, b...), err
}
func (jsonCodec[T]) Decode(src []byte, v *T) error { return json.Unmarshal(src, v) }

func TestCustomCodec(t *testing.T) {
	type msg struct{ Text string }
	ctx := testCtx(t)
	c, err := csp.NewChanCodec[msg](jsonCodec[msg]{}, &csp.Options{Capacity: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := csp.ChanFromFile[msg](c.File()); !errors.Is(err, csp.ErrWrongType) {
		t.Fatalf("opened with the default codec: %v", err)
	}
	if _, err := csp.ChanFromFileCodec[msg](c.File(), proc.GobCodec[msg]()); !errors.Is(err, csp.ErrWrongType) {
		t.Fatalf("opened with another codec: %v", err)
	}
	c2, err := csp.ChanFromFileCodec[msg](c.File(), jsonCodec[msg]{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	w, r := writer(t, c), reader(t, c2)
	if err := w.Send(ctx, msg{"héllo"}); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Receive(ctx); err != nil || v.Text != "héllo" {
		t.Fatalf("Receive: %+v %v", v, err)
	}
	// Another element type with the same codec type is refused too.
	if _, err := csp.ChanFromFileCodec[struct{ X int }](c.File(), jsonCodec[struct{ X int }]{}); !errors.Is(err, csp.ErrWrongType) {
		t.Fatalf("another element type: %v", err)
	}
}
