package csp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipckit/ipckit/csp"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/proc"
)

// Children. Each gets its ends and parameters by index.
func init() {
	// send: handle 0 a *Writer[point], 1 the writer's id, 2 how many
	// values (-1: until the channel says stop), 3 what to do at the end:
	// "retire", "exit" (return without retiring), "poison".
	proc.Register("csp-send", func(ctx context.Context, c *proc.Child) error {
		w, err := csp.WriterOf[point](c, 0)
		if err != nil {
			return err
		}
		id, _ := c.Int(1)
		n, _ := c.Int(2)
		how, _ := c.String(3)
		for i := 0; n < 0 || i < n; i++ {
			if err := w.Send(ctx, point{Seq: int64(i), From: int64(id)}); err != nil {
				return fmt.Errorf("send %d: %w", i, err)
			}
		}
		switch how {
		case "retire":
			return w.Retire()
		case "poison":
			return w.Poison()
		}
		return nil // "exit": the process ends holding the end
	})
	// recv: handle 0 a *Reader[point], 1 how many values to take (-1:
	// until an error), 2 "retire", "exit" or "block", 3 a *Writer[int64] to report
	// the count on (optional). It returns the error that ended it, if
	// any other than io.EOF.
	proc.Register("csp-recv", func(ctx context.Context, c *proc.Child) error {
		r, err := csp.ReaderOf[point](c, 0)
		if err != nil {
			return err
		}
		n, _ := c.Int(1)
		how, _ := c.String(2)
		var rep *csp.Writer[int64]
		if c.Len() > 3 {
			if rep, err = csp.WriterOf[int64](c, 3); err != nil {
				return err
			}
			defer rep.Retire()
		}
		got := int64(0)
		var rerr error
		for n < 0 || got < int64(n) {
			if _, rerr = r.Receive(ctx); rerr != nil {
				break
			}
			got++
		}
		if rep != nil {
			if err := rep.Send(ctx, got); err != nil {
				return err
			}
		}
		if rerr != nil && rerr != io.EOF {
			return rerr
		}
		switch how {
		case "retire":
			return r.Retire()
		case "block": // hold the end until killed
			<-ctx.Done()
		}
		return nil
	})
}

// collect receives from r until an error and checks that each writer's
// values arrive in order, exactly once; it returns the count per writer
// and the final error.
func collect(t *testing.T, ctx context.Context, r *csp.Reader[point]) (map[int64]int64, error) {
	t.Helper()
	next := map[int64]int64{}
	for {
		v, err := r.Receive(ctx)
		if err != nil {
			return next, err
		}
		if v.Seq != next[v.From] {
			t.Fatalf("writer %d: got seq %d, want %d", v.From, v.Seq, next[v.From])
		}
		next[v.From]++
	}
}

func TestRetireAcrossProcesses(t *testing.T) {
	for _, cf := range configs {
		t.Run(cf.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := newChan[point](t, &cf.o)
			r := reader(t, c)
			writers := 3
			if cf.o.OneToOne {
				writers = 1
			}
			const n = 2000
			var ps []*proc.Process
			for i := 0; i < writers; i++ {
				w := writer(t, c)
				ps = append(ps, start(t, "csp-send", w, i, n, "retire"))
				w.Close() // passed: this only drops our copy
			}
			got, err := collect(t, ctx, r)
			if err != io.EOF {
				t.Fatalf("after every writer retired: %v, want io.EOF", err)
			}
			for i := 0; i < writers; i++ {
				if got[int64(i)] != n {
					t.Errorf("writer %d: %d values, want %d", i, got[int64(i)], n)
				}
			}
			for _, p := range ps {
				if err := wait(t, p); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestReadersAcrossProcesses(t *testing.T) {
	for _, cf := range configs {
		if cf.o.OneToOne {
			continue
		}
		t.Run(cf.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := newChan[point](t, &cf.o)
			w := writer(t, c)
			counts := newChan[int64](t, &csp.Options{Capacity: 8})
			cr := reader(t, counts)
			const readers, n = 3, 3000
			for i := 0; i < readers; i++ {
				r := reader(t, c)
				cw := writer(t, counts)
				start(t, "csp-recv", r, -1, "retire", cw)
				r.Close()
				cw.Close()
			}
			for i := 0; i < n; i++ {
				if err := w.Send(ctx, point{Seq: int64(i)}); err != nil {
					t.Fatal(err)
				}
			}
			w.Retire()
			total := int64(0)
			for {
				k, err := cr.Receive(ctx)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				total += k
			}
			if total != n {
				t.Fatalf("readers took %d values in all, want %d (each exactly once)", total, n)
			}
		})
	}
}

func TestWriterKilled(t *testing.T) {
	for _, cf := range configs {
		t.Run(cf.name, func(t *testing.T) {
			ctx := testCtx(t)
			for round := 0; round < 3; round++ {
				c := newChan[point](t, &cf.o)
				r := reader(t, c)
				w := writer(t, c)
				p := start(t, "csp-send", w, 0, -1, "retire")
				w.Close()
				next := int64(0)
				for ; next < 100; next++ {
					v, err := r.Receive(ctx)
					if err != nil || v.Seq != next {
						t.Fatalf("Receive: %+v %v", v, err)
					}
				}
				p.Kill()
				wait(t, p)
				for {
					v, err := r.Receive(ctx)
					if err != nil {
						if !errors.Is(err, csp.ErrPeerDead) {
							t.Fatalf("after the writer was killed: %v, want ErrPeerDead", err)
						}
						break
					}
					if v.Seq != next {
						t.Fatalf("got seq %d, want %d", v.Seq, next)
					}
					next++
				}
			}
		})
	}
}

func TestWriterExitsWithoutRetiring(t *testing.T) {
	ctx := testCtx(t)
	c := newChan[point](t, &csp.Options{Capacity: 16})
	r := reader(t, c)
	w := writer(t, c)
	p := start(t, "csp-send", w, 0, 10, "exit")
	w.Close()
	if err := wait(t, p); err != nil {
		t.Fatal(err)
	}
	got, err := collect(t, ctx, r)
	if !errors.Is(err, csp.ErrPeerDead) || got[0] != 10 {
		t.Fatalf("got %d values then %v; want 10 then ErrPeerDead", got[0], err)
	}
}

func TestReaderLeaves(t *testing.T) {
	for _, cf := range configs {
		for _, how := range []string{"retire", "kill"} {
			t.Run(cf.name+"/"+how, func(t *testing.T) {
				ctx := testCtx(t)
				c := newChan[point](t, &cf.o)
				w := writer(t, c)
				r := reader(t, c)
				mode := "retire"
				if how == "kill" {
					mode = "block"
				}
				p := start(t, "csp-recv", r, 1, mode)
				r.Close()
				var err error
				for i := 0; err == nil; i++ {
					err = w.Send(ctx, point{Seq: int64(i)})
					if i == 0 && how == "kill" {
						p.Kill() // it took one value; the writer blocks now
					}
				}
				want := csp.ErrRetired
				if how == "kill" {
					want = csp.ErrPeerDead
				}
				if !errors.Is(err, want) {
					t.Fatalf("Send after the reader left (%s): %v, want %v", how, err, want)
				}
			})
		}
	}
}

// waitBlocked waits until cond holds (a child is asleep in the kernel).
func waitBlocked(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 60000 {
			t.Fatalf("%s never blocked", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPoisonAcrossProcesses(t *testing.T) {
	for _, cf := range configs {
		t.Run(cf.name+"/reader", func(t *testing.T) {
			c := newChan[point](t, &cf.o)
			writer(t, c) // a writer that never sends
			r := reader(t, c)
			p := start(t, "csp-recv", r, -1, "retire")
			r.Close()
			waitBlocked(t, "the reader", func() bool { n, _ := csp.RingWaiters(c); return n > 0 })
			c.Poison()
			err := wait(t, p)
			if err == nil || !strings.Contains(err.Error(), csp.ErrPoisoned.Error()) {
				t.Fatalf("blocked reader after Poison: %v", err)
			}
		})
		t.Run(cf.name+"/writer", func(t *testing.T) {
			c := newChan[point](t, &cf.o)
			reader(t, c) // a reader that never receives
			w := writer(t, c)
			p := start(t, "csp-send", w, 0, -1, "retire")
			w.Close()
			waitBlocked(t, "the writer", func() bool {
				_, n := csp.RingWaiters(c)
				return n > 0 || csp.AckWaiting(c) || cf.o.OneToOne && cf.o.Capacity > 0 && csp.CountWaiting(c)
			})
			c.Poison()
			err := wait(t, p)
			if err == nil || !strings.Contains(err.Error(), csp.ErrPoisoned.Error()) {
				t.Fatalf("blocked writer after Poison: %v", err)
			}
		})
	}
}

func TestPassedEnds(t *testing.T) {
	ctx := testCtx(t)
	c := newChan[point](t, &csp.Options{Capacity: 4})
	r := reader(t, c)
	w := writer(t, c)
	p := start(t, "csp-send", w, 0, 5, "retire")
	// The end is the child's now: passing it again fails, using it here
	// fails, and closing our copy does not retire it.
	_, err := proc.Start(ctx, "csp-send", &proc.Options{Handles: []any{w, 1, 5, "retire"}})
	if !errors.Is(err, csp.ErrPassed) {
		t.Fatalf("passing an end twice: %v, want ErrPassed", err)
	}
	if err := w.Send(ctx, point{}); !errors.Is(err, csp.ErrPassed) {
		t.Fatalf("Send on a passed end: %v, want ErrPassed", err)
	}
	w.Close()
	got, err := collect(t, ctx, r)
	if err != io.EOF || got[0] != 5 {
		t.Fatalf("got %v then %v", got, err)
	}
	if err := wait(t, p); err != nil {
		t.Fatal(err)
	}
}

func init() {
	proc.Register("csp-wrong", func(ctx context.Context, c *proc.Child) error {
		// handle 0: a *Reader[point]; 1: a *Chan[point]; 2: a *Writer[point].
		if _, err := csp.ReaderOf[int64](c, 0); !errors.Is(err, csp.ErrWrongType) {
			return fmt.Errorf("ReaderOf[int64] on a reader of point: %v", err)
		}
		type other struct {
			Seq, From int64
			Pad       [6]uint64 // same size, other type
		}
		if _, err := csp.ReaderOf[other](c, 0); !errors.Is(err, csp.ErrWrongType) {
			return fmt.Errorf("ReaderOf[other] on a reader of point: %v", err)
		}
		if _, err := csp.WriterOf[point](c, 0); !errors.Is(err, proc.ErrWrongKind) {
			return fmt.Errorf("WriterOf on a reader: %v", err)
		}
		if _, err := csp.ChanOf[string](c, 1); !errors.Is(err, csp.ErrWrongType) {
			return fmt.Errorf("ChanOf[string] on a Chan[point]: %v", err)
		}
		if _, err := csp.ReaderOf[point](c, 7); !errors.Is(err, proc.ErrNoHandle) {
			return fmt.Errorf("ReaderOf out of range: %v", err)
		}
		// After all that, the right asks still work.
		r, err := csp.ReaderOf[point](c, 0)
		if err != nil {
			return err
		}
		defer r.Close()
		ch, err := csp.ChanOf[point](c, 1)
		if err != nil {
			return err
		}
		defer ch.Close()
		w, err := csp.WriterOf[point](c, 2)
		if err != nil {
			return err
		}
		if err := w.Send(ctx, point{Seq: 42}); err != nil {
			return err
		}
		v, err := r.Receive(ctx)
		if err != nil || v.Seq != 42 {
			return fmt.Errorf("Receive: %v %v", v, err)
		}
		return w.Retire()
	})
}

func TestWrongTypeAndKind(t *testing.T) {
	c := newChan[point](t, &csp.Options{Capacity: 4})
	r, w := reader(t, c), writer(t, c)
	p := start(t, "csp-wrong", r, c, w)
	if err := wait(t, p); err != nil {
		t.Fatal(err)
	}
}

func TestKilledReaderInRendezvous(t *testing.T) {
	// A rendezvous writer waiting for its acknowledgement learns that the
	// only reader died.
	ctx := testCtx(t)
	c := newChan[point](t, &csp.Options{})
	w := writer(t, c)
	r := reader(t, c)
	p := start(t, "csp-recv", r, 0, "exit") // takes nothing, exits holding the end
	r.Close()
	wait(t, p)
	if err := w.Send(ctx, point{}); !errors.Is(err, csp.ErrPeerDead) {
		t.Fatalf("rendezvous Send with a dead reader: %v", err)
	}
	_ = syscall.SIGKILL
}

func init() {
	// idle: holds whatever it was given without opening it, until killed
	// or told to return (handle 1: "return").
	proc.Register("csp-idle", func(ctx context.Context, c *proc.Child) error {
		if how, _ := c.String(1); how == "return" {
			return nil
		}
		<-ctx.Done()
		return nil
	})
}

// An end passed to a child that dies (or returns) before opening it is
// counted dead: the other side does not wait for it forever. (Before ends
// held an OFD lock, the end stayed "held" by the parent that passed it and
// a reader blocked until its context ended.)
func TestChildDiesBeforeOpeningEnd(t *testing.T) {
	for _, how := range []string{"kill", "return"} {
		for _, cf := range configs {
			t.Run(cf.name+"/"+how, func(t *testing.T) {
				ctx := testCtx(t)
				c := newChan[point](t, &cf.o)
				r := reader(t, c)
				w := writer(t, c)
				p := start(t, "csp-idle", w, how)
				w.Close()
				if how == "kill" {
					p.Kill()
				}
				wait(t, p)
				if _, err := r.Receive(ctx); !errors.Is(err, csp.ErrPeerDead) {
					t.Fatalf("Receive: %v, want ErrPeerDead", err)
				}
			})
		}
	}
}

func init() {
	// send-late: handle 0 a *Writer[point]. It waits longer than the slack
	// allowed between start times (100 ticks), then, on an OS thread made
	// only then, opens the end, sends 0, waits while the reader's sleeps
	// time out (so it checks this end's holder), sends 1 and retires.
	proc.Register("csp-send-late", func(ctx context.Context, c *proc.Child) error {
		time.Sleep(1500 * time.Millisecond)
		var err error
		testenv.OnNewThread(func() {
			var w *csp.Writer[point]
			if w, err = csp.WriterOf[point](c, 0); err != nil {
				return
			}
			if err = w.Send(ctx, point{Seq: 0}); err != nil {
				return
			}
			time.Sleep(3 * mmapring.LivenessInterval)
			if err = w.Send(ctx, point{Seq: 1}); err != nil {
				return
			}
			err = w.Retire()
		})
		return err
	})
}

// A process that first looks up its own identity on a thread made long
// after it started is still seen alive by every other process. qemu-user
// answers /proc/self/stat with the calling thread's start time: a child
// that did so recorded a start time seconds after the one the kernel
// shows everyone else, so the reader's liveness check took the writer's
// process for a new process with a reused pid, counted the writer dead and
// returned ErrPeerDead instead of the writer's values and io.EOF (the rare
// failure of TestRetireAcrossProcesses in the qemu leg); mmapring's peer
// table took the writer's ring handle for dead as well. The test fails
// that way only under qemu-user; natively every thread sees the
// process's start time.
func TestEndHeldFromLateThread(t *testing.T) {
	for _, cf := range configs {
		t.Run(cf.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			c := newChan[point](t, &cf.o)
			r := reader(t, c)
			w := writer(t, c)
			p := start(t, "csp-send-late", w)
			w.Close()
			if v, err := r.Receive(ctx); err != nil || v.Seq != 0 {
				t.Fatalf("first Receive: %+v %v", v, err)
			}
			ring, err := mmapring.FromFile(c.File())
			if err != nil {
				t.Fatal(err)
			}
			st, err := ring.Stats()
			ring.Close()
			if err != nil {
				t.Fatal(err)
			}
			for _, peer := range st.Peers {
				if !peer.Alive {
					t.Errorf("ring peer %+v (the writer is pid %d) taken for dead", peer, p.Pid())
				}
			}
			if v, err := r.Receive(ctx); err != nil || v.Seq != 1 {
				t.Fatalf("second Receive: %+v %v", v, err)
			}
			if _, err := r.Receive(ctx); err != io.EOF {
				t.Fatalf("after the writer retired: %v, want io.EOF", err)
			}
			if err := wait(t, p); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func init() {
	// hold: handle 0 a *Writer[point], 1 a *Reader[int64]. It opens the
	// writer, sends 0, waits for a value on the reader, then retires the
	// writer.
	proc.Register("csp-hold", func(ctx context.Context, c *proc.Child) error {
		w, err := csp.WriterOf[point](c, 0)
		if err != nil {
			return err
		}
		cr, err := csp.ReaderOf[int64](c, 1)
		if err != nil {
			return err
		}
		defer cr.Close()
		if err := w.Send(ctx, point{Seq: 0}); err != nil {
			return err
		}
		if _, err := cr.Receive(ctx); err != nil {
			return err
		}
		return w.Retire()
	})
}

// An end that takes the slot of an end that retired (and whose process
// exited) while a liveness check was looking at the slot is not counted
// out in its place. The check read the slot (active, held by the child),
// found the child gone and counted the slot's end dead with a
// compare-and-swap of the state from active to dead, which the new end's
// active state satisfied: the channel lost its only writer, and readers
// got ErrPeerDead while that writer lived. The state word now carries a
// generation. The check is stopped right after it read the slot (the
// slotLoaded hook) while the child retires and a new writer takes the
// slot; a third writer keeps the writers' side open meanwhile.
func TestSlotReusedWhileJudged(t *testing.T) {
	ctx := testCtx(t)
	c := newChan[point](t, &csp.Options{Capacity: 8})
	ctl := newChan[int64](t, &csp.Options{Capacity: 1})
	r := reader(t, c)
	w1 := writer(t, c)
	w0 := writer(t, c) // keeps the writers' side open when w1 retires
	cw, cr := writer(t, ctl), reader(t, ctl)
	p := start(t, "csp-hold", w1, cr)
	w1.Close()
	cr.Close()
	if v, err := r.Receive(ctx); err != nil || v.Seq != 0 {
		t.Fatalf("first Receive: %+v %v", v, err) // the child holds the writer now
	}
	var w2 *csp.Writer[point]
	calls := 0
	defer csp.SetSlotLoaded(func(slot int) {
		if slot != csp.WriterSlot(w1) {
			return
		}
		if calls++; calls > 1 {
			return
		}
		// The reader's liveness check has read the child's slot.
		if err := cw.Send(ctx, 1); err != nil {
			t.Error(err)
		}
		if err := wait(t, p); err != nil {
			t.Error(err)
		}
		var err error
		if w2, err = c.Writer(); err != nil {
			t.Error(err)
			return
		}
		if w2.Send(ctx, point{Seq: 7}) != nil || slot != csp.WriterSlot(w2) {
			t.Errorf("the new writer took slot %d, not the retired writer's %d", csp.WriterSlot(w2), slot)
		}
	})()
	if v, err := r.Receive(ctx); err != nil || v.Seq != 7 {
		t.Fatalf("Receive: %+v %v, want the new writer's value", v, err)
	}
	if calls == 0 || w2 == nil {
		t.Fatalf("the liveness check never ran (%d calls)", calls)
	}
	defer w2.Close()
	w0.Retire()
	if _, err := r.TryReceive(); err != csp.ErrEmpty {
		t.Fatalf("TryReceive with the new writer alive: %v, want ErrEmpty", err)
	}
	w2.Retire()
	if _, err := r.Receive(ctx); err != io.EOF {
		t.Fatalf("after the new writer retired: %v, want io.EOF", err)
	}
}
