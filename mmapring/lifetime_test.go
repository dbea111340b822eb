package mmapring

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/testenv"
)

// TestCloseOrder: closing the Ring before its handles (a user's deferred
// closes in the "wrong" order) must not fault: the handles keep the
// mapping, every method but Close returns ErrClosed (matching
// os.ErrClosed), and Close still works and releases the slot.
func TestCloseOrder(t *testing.T) {
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		t.Run(kind.String(), func(t *testing.T) {
			r, err := New(Config{Kind: kind, Capacity: 256, CellSize: 32})
			if err != nil {
				t.Fatal(err)
			}
			p, _ := r.Producer()
			c, _ := r.Consumer()
			if err := p.Send(context.Background(), []byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			buf := make([]byte, 64)
			checks := map[string]error{
				"Send":    p.Send(ctx, []byte("y")),
				"TrySend": p.TrySend([]byte("y")),
			}
			_, checks["TryReserve"] = p.TryReserve(4)
			_, checks["SendBatch"] = p.SendBatch(ctx, [][]byte{[]byte("z")})
			_, checks["Receive"] = c.Receive(ctx, buf)
			_, checks["TryReceive"] = c.TryReceive(buf)
			_, checks["Peek"] = c.Peek(ctx)
			_, checks["ReceiveBatch"] = c.ReceiveBatch(ctx, 4, func([]byte) {})
			_, checks["Stats"] = r.Stats()
			_, checks["Producer"] = r.Producer()
			_, checks["Consumer"] = r.Consumer()
			for name, err := range checks {
				if !errors.Is(err, ErrClosed) || !errors.Is(err, os.ErrClosed) {
					t.Errorf("%s after Ring.Close: %v, want ErrClosed (os.ErrClosed)", name, err)
				}
			}
			if err := p.Close(); err != nil {
				t.Errorf("Producer.Close after Ring.Close: %v", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Consumer.Close after Ring.Close: %v", err)
			}
			if err := p.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := r.Close(); err != nil {
				t.Errorf("second Ring.Close: %v", err)
			}
		})
	}
}

// TestSlotReleasedAfterRingClose: a handle closed after its Ring still
// releases its peer slot, so the next SPSC producer is not refused.
func TestSlotReleasedAfterRingClose(t *testing.T) {
	r := newRing(t, Config{Kind: KindSPSC, Capacity: 256})
	r2, err := FromFile(r.File())
	if err != nil {
		t.Fatal(err)
	}
	p, err := r2.Producer()
	if err != nil {
		t.Fatal(err)
	}
	r2.Close()
	p.Close()
	p2, err := r.Producer()
	if err != nil {
		t.Fatalf("producer after the previous one's Close: %v", err)
	}
	p2.Detach()
}

// TestCloseWakesBlockedCalls: Ring.Close wakes calls blocked on the ring
// in this process; they return ErrClosed.
func TestCloseWakesBlockedCalls(t *testing.T) {
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		r, _ := New(Config{Kind: kind, Capacity: 256, CellSize: 32})
		c, _ := r.Consumer()
		c.SetSpin(0)
		done := make(chan error, 1)
		go func() {
			_, err := c.Receive(context.Background(), make([]byte, 64))
			done <- err
		}()
		for atomic32(r, offDataWaiters) == 0 {
			time.Sleep(time.Millisecond)
		}
		r.Close()
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%v: blocked Receive after Close: %v", kind, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: Receive still blocked after Ring.Close", kind)
		}
		c.Close()
	}
}

// TestQueueAfterClose (F7): every Queue method after Close returns
// ErrClosed instead of faulting on the unmapped ring.
func TestQueueAfterClose(t *testing.T) {
	q, err := NewQueue(4, 16)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	q.Put(ctx, []byte("a"))
	buf := make([]byte, 16)
	q.Get(ctx, buf)
	if err := q.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{"Put": q.Put(ctx, []byte("b")), "TaskDone": q.TaskDone(), "Join": q.Join(ctx)}
	_, checks["Get"] = q.Get(ctx, buf)
	_, checks["Qsize"] = q.Qsize()
	_, checks["Unfinished"] = q.Unfinished()
	_, checks["Stats"] = q.Ring().Stats()
	for name, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if err := q.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := q.Shutdown(); !errors.Is(err, ErrClosed) {
		t.Errorf("Shutdown after Close: %v, want ErrClosed", err)
	}
}

// TestQueueConcurrentClose: Queue promises safety for concurrent use, Close
// included (run with -race): Join, Qsize, TaskDone, Put and Get race with
// each other and with Close, and end with nil or ErrClosed.
func TestQueueConcurrentClose(t *testing.T) {
	for round := 0; round < 20; round++ {
		q, err := NewQueue(8, 16)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		ok := func(err error) {
			if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrTaskDone) && err != io.EOF {
				errs <- err
			}
		}
		for i := 0; i < 2; i++ {
			wg.Add(4)
			go func() {
				defer wg.Done()
				for j := 0; j < 50; j++ {
					ok(q.Put(ctx, []byte("m")))
				}
			}()
			go func() {
				defer wg.Done()
				buf := make([]byte, 16)
				for j := 0; j < 50; j++ {
					_, err := q.Get(ctx, buf)
					ok(err)
					if err != nil {
						return
					}
					ok(q.TaskDone())
				}
			}()
			go func() {
				defer wg.Done()
				for j := 0; j < 50; j++ {
					_, err := q.Qsize()
					ok(err)
					_, err = q.Unfinished()
					ok(err)
				}
			}()
			go func() {
				defer wg.Done()
				jctx, jcancel := context.WithTimeout(ctx, 50*time.Millisecond)
				err := q.Join(jctx)
				jcancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					ok(err)
				}
			}()
		}
		time.Sleep(time.Duration(round%5) * time.Millisecond)
		if round%2 == 0 {
			if err := q.Shutdown(); !errors.Is(err, ErrClosed) {
				ok(err)
			}
		}
		ok(q.Close())
		wg.Wait()
		cancel()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

// TestQueueSizeValidated (F4): a maxsize beyond what a ring can hold is an
// error, not an endless loop (the capacity doubling overflowed past 2^62).
func TestQueueSizeValidated(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		sizes := []int{0, -1, int(^uint(0) >> 1)}
		if strconv.IntSize == 64 {
			one := uint64(1) // not a constant: these overflow int on 32-bit
			sizes = append(sizes, int(one<<32+1), int(one<<62+1))
		}
		for _, n := range sizes {
			if q, err := NewQueue(n, 8); err == nil {
				q.Close()
				t.Errorf("NewQueue(%d) accepted", n)
			}
			if r, err := New(QueueConfig(n, 8)); err == nil {
				r.Close()
				t.Errorf("New(QueueConfig(%d)) accepted", n)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("QueueConfig with a huge maxsize does not return")
	}
}

// TestSendWhileReserved (F6): Send with a Reserve pending returns
// ErrPending at once instead of spinning and ignoring its context.
func TestSendWhileReserved(t *testing.T) {
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		r := newRing(t, Config{Kind: kind, Capacity: 256, CellSize: 32})
		p, _ := r.Producer()
		if _, err := p.TryReserve(8); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			done <- p.Send(ctx, []byte("x"))
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrPending) {
				t.Errorf("%v: Send with a Reserve pending: %v, want ErrPending", kind, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: Send with a Reserve pending hangs", kind)
		}
		if _, err := p.TryReserve(8); !errors.Is(err, ErrPending) {
			t.Errorf("%v: second TryReserve: %v", kind, err)
		}
		p.Abort()
		p.Detach()
	}
}

func init() {
	// queue-put MSG: Put MSG (blocking), after saying "putting".
	testenv.RegisterChild("queue-put", func(args []string) int {
		q, err := QueueFromRing(childRing())
		if err != nil {
			return 1
		}
		os.Stdout.WriteString("putting\n")
		if err := q.Put(context.Background(), []byte(args[0])); err != nil {
			return 1
		}
		os.Stdout.WriteString("put\n")
		time.Sleep(time.Hour)
		return 0
	})
}

// TestFaultJoinAfterKilledPut (F5): a producer killed while blocked in Put
// (the queue full) must not leave a task counted: Join returns once the
// tasks that were put are done. (The Go Queue is the only Put; the C peer
// runs as the consumer that finishes the task.)
func TestFaultJoinAfterKilledPut(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		q, err := NewQueue(1, 8)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		ctx := context.Background()
		if err := q.Put(ctx, []byte("a")); err != nil {
			t.Fatal(err)
		}
		cmd := testenv.Child(t, "queue-put", "b")
		putter := startPeerCmd(t, cmd, q.Ring().File())
		if l := putter.line(guard); l != "putting" {
			t.Fatalf("putter: %q", l)
		}
		// Wait until it sleeps for room (a producer waiting for space
		// counts as a waiter), then kill it.
		for atomic32(q.Ring(), offSpaceWaiters) == 0 {
			time.Sleep(time.Millisecond)
		}
		putter.kill()
		wantLines(t, runPeer(t, pk, q.Ring(), guard, "recv-all", "1000"), "msg a", "timeout")
		if err := q.TaskDone(); err != nil {
			t.Fatal(err)
		}
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := q.Join(jctx); err != nil {
			n, _ := q.Unfinished()
			t.Fatalf("Join after a producer was killed inside Put: %v (%d unfinished)", err, n)
		}
	})
}
