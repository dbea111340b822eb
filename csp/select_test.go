package csp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ipckit/ipckit/csp"
	"github.com/ipckit/ipckit/internal/futex"
	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/proc"
)

// bothWaits runs f with futex_waitv (where the kernel has it: not under
// qemu-user) and with the fallback that sleeps on each channel in a
// goroutine of its own.
func bothWaits(t *testing.T, f func(t *testing.T)) {
	t.Run("waitv", func(t *testing.T) {
		testenv.RequireFutexWaitv(t, futex.HaveWaitv())
		f(t)
	})
	t.Run("threads", func(t *testing.T) {
		defer csp.SetHaveWaitv(func() bool { return false })()
		f(t)
	})
}

// selectAll selects over readers until every one has ended with io.EOF,
// checking that each writer's values arrive in order and exactly once; it
// returns how many values came from each writer.
func selectAll(t *testing.T, ctx context.Context, fair bool, rs ...*csp.Reader[point]) map[int64]int64 {
	t.Helper()
	next := map[int64]int64{}
	open := append([]*csp.Reader[point](nil), rs...)
	vals := make([]point, len(open))
	for len(open) > 0 {
		guards := make([]csp.Guard, len(open))
		for i, r := range open {
			guards[i] = csp.Receive(r, &vals[i])
		}
		alt := csp.NewAlt(guards...)
		for {
			var i int
			var err error
			if fair {
				i, err = alt.FairSelect(ctx)
			} else {
				i, err = alt.Select(ctx)
			}
			if err == io.EOF {
				open = append(open[:i], open[i+1:]...)
				vals = append(vals[:i], vals[i+1:]...)
				break
			}
			if err != nil {
				t.Fatalf("Select: guard %d: %v", i, err)
			}
			v := vals[i]
			if v.Seq != next[v.From] {
				t.Fatalf("writer %d: seq %d, want %d", v.From, v.Seq, next[v.From])
			}
			next[v.From]++
		}
	}
	return next
}

// Writers in several processes, on channels of every kind, and one reader
// selecting over all of them: every value arrives exactly once, in order.
func TestSelectAcrossProcesses(t *testing.T) { bothWaits(t, testSelectAcrossProcesses) }

func testSelectAcrossProcesses(t *testing.T) {
	for _, fair := range []bool{false, true} {
		t.Run(fmt.Sprintf("fair=%v", fair), func(t *testing.T) {
			ctx := testCtx(t)
			opts := []csp.Options{{Capacity: 16}, {Capacity: 4, OneToOne: true}, {}, {OneToOne: true}}
			writers := []int{2, 1, 2, 1}
			const n = 1000
			var rs []*csp.Reader[point]
			id := 0
			for k, o := range opts {
				c := newChan[point](t, &o)
				rs = append(rs, reader(t, c))
				for j := 0; j < writers[k]; j++ {
					w := writer(t, c)
					start(t, "csp-send", w, id, n, "retire")
					w.Close()
					id++
				}
			}
			got := selectAll(t, ctx, fair, rs...)
			for i := 0; i < id; i++ {
				if got[int64(i)] != n {
					t.Errorf("writer %d: %d values, want %d", i, got[int64(i)], n)
				}
			}
		})
	}
}

func init() {
	// selector: handles 0..k-1 *Reader[point]s, then a *Writer[[2]int64]
	// to report on: how many values and their sum of Seq, in one value (the
	// selectors share the report channel). It selects until every reader
	// has ended.
	proc.Register("csp-selector", func(ctx context.Context, c *proc.Child) error {
		var rs []*csp.Reader[point]
		for i := 0; i < c.Len()-1; i++ {
			r, err := csp.ReaderOf[point](c, i)
			if err != nil {
				return err
			}
			rs = append(rs, r)
		}
		rep, err := csp.WriterOf[[2]int64](c, c.Len()-1)
		if err != nil {
			return err
		}
		defer rep.Retire()
		vals := make([]point, len(rs))
		count, sum := int64(0), int64(0)
		for len(rs) > 0 {
			guards := make([]csp.Guard, len(rs))
			for i, r := range rs {
				guards[i] = csp.Receive(r, &vals[i])
			}
			alt := csp.NewAlt(guards...)
			for {
				i, err := alt.FairSelect(ctx)
				if err == io.EOF {
					rs[i].Close()
					rs = append(rs[:i], rs[i+1:]...)
					vals = append(vals[:i], vals[i+1:]...)
					break
				}
				if err != nil {
					return err
				}
				count++
				sum += vals[i].Seq
			}
		}
		return rep.Send(ctx, [2]int64{count, sum})
	})
}

// Several processes select over the same channels at once: each value is
// taken by exactly one of them.
func TestSelectCompeting(t *testing.T) {
	for _, o := range []csp.Options{{Capacity: 8}, {}} {
		t.Run(fmt.Sprintf("capacity=%d", o.Capacity), func(t *testing.T) {
			ctx := testCtx(t)
			const chans, selectors, n = 2, 3, 2000
			var cs []*csp.Chan[point]
			var ws []*csp.Writer[point]
			for i := 0; i < chans; i++ {
				c := newChan[point](t, &o)
				cs = append(cs, c)
				ws = append(ws, writer(t, c))
			}
			results := newChan[[2]int64](t, &csp.Options{Capacity: selectors})
			rr := reader(t, results)
			for s := 0; s < selectors; s++ {
				var hs []any
				for _, c := range cs {
					r := reader(t, c)
					hs = append(hs, r)
					defer r.Close()
				}
				rep := writer(t, results)
				hs = append(hs, rep)
				start(t, "csp-selector", hs...)
				rep.Close()
			}
			var wg sync.WaitGroup
			for i, w := range ws {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; j < n; j++ {
						if err := w.Send(ctx, point{Seq: int64(j), From: int64(i)}); err != nil {
							t.Error(err)
							return
						}
					}
					w.Retire()
				}()
			}
			wg.Wait()
			count, sum := int64(0), int64(0)
			for s := 0; s < selectors; s++ {
				res, err := rr.Receive(ctx)
				if err != nil {
					t.Fatal(err)
				}
				count += res[0]
				sum += res[1]
			}
			if want := int64(chans * n); count != want || sum != chans*int64(n*(n-1)/2) {
				t.Fatalf("selectors took %d values (sum %d); want %d (sum %d), each exactly once", count, sum, want, chans*int64(n*(n-1)/2))
			}
		})
	}
}

func TestSelectGuards(t *testing.T) { bothWaits(t, testSelectGuards) }

func testSelectGuards(t *testing.T) {
	ctx := testCtx(t)
	a := newChan[int64](t, &csp.Options{Capacity: 4})
	b := newChan[int64](t, &csp.Options{Capacity: 4, OneToOne: true})
	ra, rb := reader(t, a), reader(t, b)
	wa, wb := writer(t, a), writer(t, b)
	var va, vb int64
	// Nothing ready: the skip guard, wherever it is.
	if i, err := csp.Select(ctx, csp.Skip(), csp.Receive(ra, &va), csp.Receive(rb, &vb)); i != 0 || err != nil {
		t.Fatalf("Skip: %d %v", i, err)
	}
	// Nothing ready: the timeout guard fires after its time.
	begin := time.Now()
	if i, err := csp.Select(ctx, csp.Receive(ra, &va), csp.Timeout(30*time.Millisecond), csp.Receive(rb, &vb)); i != 1 || err != nil {
		t.Fatalf("Timeout: %d %v", i, err)
	}
	if time.Since(begin) < 30*time.Millisecond {
		t.Fatal("the timeout guard fired before its time")
	}
	// Ready inputs win over Skip; priority takes the first in the list.
	wa.Send(ctx, 1)
	wb.Send(ctx, 2)
	if i, err := csp.Select(ctx, csp.Skip(), csp.Receive(rb, &vb), csp.Receive(ra, &va)); i != 1 || err != nil || vb != 2 {
		t.Fatalf("priority: %d %v %d", i, err, vb)
	}
	if i, err := csp.Select(ctx, csp.Receive(rb, &vb), csp.Receive(ra, &va), csp.Skip()); i != 1 || err != nil || va != 1 {
		t.Fatalf("priority: %d %v %d", i, err, va)
	}
	// A done context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if i, err := csp.Select(cctx, csp.Receive(ra, &va), csp.Receive(rb, &vb)); i != -1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %d %v", i, err)
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if i, err := csp.Select(dctx, csp.Receive(ra, &va), csp.Receive(rb, &vb)); i != -1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %d %v", i, err)
	}
	// A retired channel fires with io.EOF.
	wb.Retire()
	if i, err := csp.Select(ctx, csp.Receive(ra, &va), csp.Receive(rb, &vb)); i != 1 || err != io.EOF {
		t.Fatalf("retired: %d %v", i, err)
	}
	// Zero guards and zero-value guards.
	if i, err := csp.Select(ctx, csp.Guard{}); err == nil {
		t.Fatalf("zero Guard: %d %v", i, err)
	}
}

func TestFairSelect(t *testing.T) {
	ctx := testCtx(t)
	a := newChan[int64](t, &csp.Options{Capacity: 100})
	b := newChan[int64](t, &csp.Options{Capacity: 100})
	ra, rb := reader(t, a), reader(t, b)
	wa, wb := writer(t, a), writer(t, b)
	for i := 0; i < 100; i++ {
		wa.Send(ctx, int64(i))
		wb.Send(ctx, int64(i))
	}
	var v int64
	alt := csp.NewAlt(csp.Receive(ra, &v), csp.Receive(rb, &v))
	counts := [2]int{}
	for i := 0; i < 100; i++ {
		k, err := alt.FairSelect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		counts[k]++
	}
	if counts[0] != 50 || counts[1] != 50 {
		t.Fatalf("FairSelect over two busy channels chose %v", counts)
	}
	for i := 0; i < 20; i++ {
		if k, err := alt.Select(ctx); k != 0 || err != nil {
			t.Fatalf("Select (priority) chose %d %v", k, err)
		}
	}
}

func init() {
	// poke: handle 0 a *Chan[point] to watch, 1 a *Chan[point] to act on,
	// 2 "poison" or "send". It waits until somebody sleeps on channel 0,
	// then poisons channel 1 or sends one value on it.
	proc.Register("csp-poke", func(ctx context.Context, c *proc.Child) error {
		watch, err := csp.ChanOf[point](c, 0)
		if err != nil {
			return err
		}
		defer watch.Close()
		act, err := csp.ChanOf[point](c, 1)
		if err != nil {
			return err
		}
		defer act.Close()
		for {
			if n, _ := csp.RingWaiters(watch); n > 0 {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		if how, _ := c.String(2); how == "poison" {
			return act.Poison()
		}
		w, err := act.Writer()
		if err != nil {
			return err
		}
		defer w.Retire()
		return w.Send(ctx, point{Seq: 99})
	})
}

// A Select asleep over several channels is woken by a value on any one of
// them, sent by another process, and by poison on any one of them.
func TestSelectWakes(t *testing.T) { bothWaits(t, testSelectWakes) }

func testSelectWakes(t *testing.T) {
	for _, how := range []string{"send", "poison"} {
		for k := 0; k < 3; k++ {
			t.Run(fmt.Sprintf("%s/%d", how, k), func(t *testing.T) {
				ctx := testCtx(t)
				var cs []*csp.Chan[point]
				var guards []csp.Guard
				vals := make([]point, 3)
				for i := 0; i < 3; i++ {
					o := csp.Options{Capacity: 2}
					if i == 1 {
						o = csp.Options{} // rendezvous
					}
					c := newChan[point](t, &o)
					cs = append(cs, c)
					guards = append(guards, csp.Receive(reader(t, c), &vals[i]))
				}
				// Watch the last channel: once its waiter count shows us,
				// we are asleep on all three (registered in order).
				p := start(t, "csp-poke", cs[2], cs[k], how)
				i, err := csp.Select(ctx, guards...)
				if i != k {
					t.Fatalf("Select chose %d (%v), want %d", i, err, k)
				}
				if how == "poison" && !errors.Is(err, csp.ErrPoisoned) || how == "send" && (err != nil || vals[k].Seq != 99) {
					t.Fatalf("Select: %v %+v", err, vals[k])
				}
				if err := wait(t, p); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
