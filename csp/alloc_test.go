package csp_test

import (
	"context"
	"testing"

	"github.com/ipckit/ipckit/csp"
	"github.com/ipckit/ipckit/internal/race"
)

// Raw Send and Receive, and Select through a reused Alt, make no heap
// allocation.
func TestAllocs(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts differ under the race detector; run without -race")
	}
	ctx := context.Background()
	for _, o := range []csp.Options{{Capacity: 64}, {Capacity: 64, OneToOne: true}} {
		c := newChan[point](t, &o)
		w, r := writer(t, c), reader(t, c)
		v := point{Seq: 1}
		if a := testing.AllocsPerRun(1000, func() {
			if err := w.Send(ctx, v); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Receive(ctx); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%+v: Send+Receive: %v allocations, want 0", o, a)
		}
		if a := testing.AllocsPerRun(1000, func() {
			if err := w.TrySend(v); err != nil {
				t.Fatal(err)
			}
			if _, err := r.TryReceive(); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%+v: TrySend+TryReceive: %v allocations, want 0", o, a)
		}
		var got point
		c2 := newChan[int64](t, &csp.Options{Capacity: 4})
		r2 := reader(t, c2)
		alt := csp.NewAlt(csp.Receive(r2, new(int64)), csp.Receive(r, &got))
		if a := testing.AllocsPerRun(1000, func() {
			w.Send(ctx, v)
			if i, err := alt.Select(ctx); i != 1 || err != nil {
				t.Fatal(i, err)
			}
		}); a != 0 {
			t.Errorf("%+v: Select: %v allocations, want 0", o, a)
		}
	}
}

// A rendezvous, where both sides sleep and wake each other, allocates
// nothing either, also with a context that can be cancelled (a sleep arms
// a reusable cancellation hook, not context.AfterFunc).
func TestAllocsRendezvous(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts differ under the race detector; run without -race")
	}
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ctx := range []context.Context{context.Background(), cancellable} {
		for _, o := range []csp.Options{{}, {OneToOne: true}, {Capacity: 1, OneToOne: true}} {
			c := newChan[int64](t, &o)
			w, r := writer(t, c), reader(t, c)
			const runs = 2000
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					if _, err := r.Receive(ctx); err != nil {
						return
					}
				}
			}()
			if a := testing.AllocsPerRun(runs, func() {
				if err := w.Send(ctx, 1); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("%+v: Send to a Receive in another goroutine (cancellable context: %v): %v allocations, want 0", o, ctx == cancellable, a)
			}
			w.Retire()
			<-done
		}
	}
}
