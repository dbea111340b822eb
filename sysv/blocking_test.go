package sysv_test

import (
	"context"
	"errors"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/sysv"
)

// blocked runs f in a goroutine, waits until the kernel reports it as
// waiting (via wait), and returns a channel with f's error.
func blocked(t *testing.T, f func() error, waiting func() bool) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	deadline := time.Now().Add(10 * time.Second)
	for !waiting() {
		if time.Now().After(deadline) {
			t.Fatal("the call never blocked in the kernel")
		}
		select {
		case err := <-done:
			t.Fatalf("returned before blocking: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	return done
}

func waitResult(t *testing.T, done <-chan error, within time.Duration) (error, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case err := <-done:
		return err, time.Since(start)
	case <-time.After(within):
		t.Fatalf("did not return within %v", within)
	}
	return nil, 0
}

// semWaiters reports whether a process waits for semaphore 0 to increase.
func semWaiters(s *sysv.SemSet) func() bool {
	return func() bool {
		n, _, err := s.Waiting(0)
		return err == nil && n > 0
	}
}

func TestCancelSemOp(t *testing.T) {
	s := newSemSet(t, 1)
	ctx, cancel := context.WithCancel(bg)
	done := blocked(t, func() error { return s.Op(ctx, sysv.Sembuf{Num: 0, Op: -1}) }, semWaiters(s))
	cancel()
	err, took := waitResult(t, done, 5*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v", err)
	}
	t.Logf("semop returned %v after cancel", took)
	if n, _, _ := s.Waiting(0); n != 0 {
		t.Errorf("a waiter is still registered in the kernel: %d", n)
	}
}

func TestDeadlineSemOp(t *testing.T) {
	s := newSemSet(t, 1)
	ctx, cancel := context.WithTimeout(bg, 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Op(ctx, sysv.Sembuf{Num: 0, Op: -1})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v, want DeadlineExceeded", err)
	}
	if took := time.Since(start); took < 25*time.Millisecond {
		t.Fatalf("returned after %v, before the deadline", took)
	}
	// IPC_NOWAIT from the caller stays EAGAIN, not a deadline.
	ctx2, cancel2 := context.WithTimeout(bg, time.Minute)
	defer cancel2()
	if err := s.Op(ctx2, sysv.Sembuf{Num: 0, Op: -1, Flg: sysv.IPC_NOWAIT}); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("IPC_NOWAIT: %v", err)
	}
}

func TestCancelReceiveAndSend(t *testing.T) {
	q := newQueue(t)
	// Receive on an empty queue.
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() {
		_, _, err := q.Receive(ctx, 0, make([]byte, 16), 0)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let it reach msgrcv; correctness does not depend on it
	cancel()
	err, took := waitResult(t, done, 5*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Receive after cancel: %v", err)
	}
	t.Logf("msgrcv returned %v after cancel", took)

	// Send on a full queue: shrink it to 16 bytes, fill it.
	if err := q.SetMaxBytes(16); err != nil {
		t.Fatal(err)
	}
	if err := q.Send(bg, 1, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if err := q.TrySend(1, []byte("x")); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("TrySend on a full queue: %v", err)
	}
	ctx, cancel = context.WithTimeout(bg, 40*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = q.Send(ctx, 1, []byte("x"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send on a full queue past the deadline: %v", err)
	}
	t.Logf("msgsnd returned %v after its 40ms deadline", time.Since(start)-40*time.Millisecond)
}

// TestCancelManyNoThreadLeak cancels many blocked receives and checks
// that the process does not keep an OS thread per cancelled call.
func TestCancelManyNoThreadLeak(t *testing.T) {
	q := newQueue(t)
	threads := pprof.Lookup("threadcreate")
	before := threads.Count()
	for round := 0; round < 5; round++ {
		ctx, cancel := context.WithCancel(bg)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := q.Receive(ctx, 0, make([]byte, 8), 0)
				errs <- err
			}()
		}
		time.Sleep(20 * time.Millisecond)
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	// Each blocked receive holds a thread while blocked (SysV calls cannot
	// use the poller); after they return, the threads are reused, so five
	// rounds of 20 must not create 100 new threads.
	if grown := threads.Count() - before; grown > 40 {
		t.Errorf("threads created: %d for 5 rounds of 20 cancelled receives", grown)
	}
}

func TestEIDRMUnderBlockedCaller(t *testing.T) {
	t.Run("msgrcv", func(t *testing.T) {
		q, err := sysv.CreateQueue(sysv.IPCPrivate, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, _, err := q.Receive(bg, 0, make([]byte, 8), 0)
			done <- err
		}()
		time.Sleep(50 * time.Millisecond)
		if err := q.Remove(); err != nil {
			t.Fatal(err)
		}
		err, _ = waitResult(t, done, 5*time.Second)
		if !errors.Is(err, unix.EIDRM) {
			t.Fatalf("receiver after IPC_RMID: %v, want EIDRM", err)
		}
	})
	t.Run("semop", func(t *testing.T) {
		s, err := sysv.CreateSemSet(sysv.IPCPrivate, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(bg, time.Minute)
		defer cancel()
		done := blocked(t, func() error { return s.Op(ctx, sysv.Sembuf{Num: 0, Op: -1}) }, semWaiters(s))
		if err := s.Remove(); err != nil {
			t.Fatal(err)
		}
		err, _ = waitResult(t, done, 5*time.Second)
		if !errors.Is(err, unix.EIDRM) {
			t.Fatalf("waiter after IPC_RMID: %v, want EIDRM", err)
		}
	})
}

// TestEINTRRetried interrupts a thread blocked in msgrcv with signals: the
// raw call reports EINTR (SysV calls are never restarted), and Receive
// retries it and still delivers the message.
func TestEINTRRetried(t *testing.T) {
	q := newQueue(t)
	type result struct {
		n   int
		err error
	}
	run := func(recv func() (int, error)) (tid int, res <-chan result) {
		tids := make(chan int)
		out := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids <- unix.Gettid()
			n, err := recv()
			out <- result{n, err}
		}()
		return <-tids, out
	}
	interrupt := func(tid int, res <-chan result) (result, bool) {
		for i := 0; i < 200; i++ {
			_ = unix.Tgkill(unix.Getpid(), tid, unix.SIGURG)
			select {
			case r := <-res:
				return r, true
			case <-time.After(5 * time.Millisecond):
			}
		}
		return result{}, false
	}
	tid, res := run(func() (int, error) { return sysv.Msgrcv(q.ID(), sysv.NewMsgbuf(8), 0, 0) })
	r, ok := interrupt(tid, res)
	if !ok || r.err != unix.EINTR {
		t.Fatalf("raw msgrcv under signals: returned=%v err=%v, want EINTR", ok, r.err)
	}
	tid, res = run(func() (int, error) {
		n, _, err := q.Receive(bg, 0, make([]byte, 8), 0)
		return n, err
	})
	if r, done := interrupt(tid, res); done {
		t.Fatalf("Receive returned under signals: %+v; it must retry EINTR", r)
	}
	if err := q.Send(bg, 1, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if r.err != nil || r.n != 3 {
			t.Fatalf("Receive after the signals: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Receive never returned")
	}
}

func TestSendReceiveAcrossGoroutines(t *testing.T) {
	q := newQueue(t)
	const n = 2000
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := q.Send(bg, 1+i%5, []byte{byte(i)}); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	buf := make([]byte, 4)
	for i := 0; i < n; i++ {
		nb, typ, err := q.Receive(ctx, 0, buf, 0)
		if err != nil || nb != 1 || buf[0] != byte(i) || typ != 1+i%5 {
			t.Fatalf("message %d: n=%d typ=%d byte=%d err=%v", i, nb, typ, buf[0], err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestNoWaitManyOps: with more operations than Op's fast path takes (8)
// and a deadline, an operation with IPC_NOWAIT that cannot proceed is
// EAGAIN, as with fewer operations, not context.DeadlineExceeded.
func TestNoWaitManyOps(t *testing.T) {
	for _, n := range []int{1, 8, 9, 12} {
		s := newSemSet(t, n)
		ops := make([]sysv.Sembuf, n)
		for i := range ops {
			ops[i] = sysv.Sembuf{Num: uint16(i), Op: 0} // wait-for-zero: proceeds at once
		}
		ops[n-1] = sysv.Sembuf{Num: uint16(n - 1), Op: -1, Flg: sysv.IPC_NOWAIT} // value 0: cannot
		ctx, cancel := context.WithTimeout(bg, time.Minute)
		err := s.Op(ctx, ops...)
		cancel()
		if !errors.Is(err, unix.EAGAIN) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%d ops, one IPC_NOWAIT that cannot proceed, deadline in a minute: %v, want EAGAIN", n, err)
		}
		// Without the IPC_NOWAIT the deadline is what ends it.
		ops[n-1].Flg = 0
		ctx, cancel = context.WithTimeout(bg, 20*time.Millisecond)
		err = s.Op(ctx, ops...)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%d ops that block until the deadline: %v, want context.DeadlineExceeded", n, err)
		}
	}
}

// TestSemopEINTR sends SIGURG, the signal the Go runtime uses for
// asynchronous preemption, to a thread blocked in semop: the raw call
// returns EINTR (the kernel never restarts semop), which is how raw
// callers see preemption; SemSet.Op, with and without a cancellable
// context, retries it and returns only when it has taken the unit.
func TestSemopEINTR(t *testing.T) {
	s := newSemSet(t, 1)
	run := func(op func() error) (tid int, res <-chan error) {
		tids := make(chan int)
		out := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids <- unix.Gettid()
			out <- op()
		}()
		return <-tids, out
	}
	interrupt := func(tid int, res <-chan error) (error, bool) {
		for i := 0; i < 100; i++ {
			_ = unix.Tgkill(unix.Getpid(), tid, unix.SIGURG)
			select {
			case err := <-res:
				return err, true
			case <-time.After(5 * time.Millisecond):
			}
		}
		return nil, false
	}
	tid, res := run(func() error { return sysv.Semop(s.ID(), []sysv.Sembuf{{Num: 0, Op: -1}}) })
	if err, ok := interrupt(tid, res); !ok || err != unix.EINTR {
		t.Fatalf("raw semop under SIGURG: returned=%v err=%v, want EINTR", ok, err)
	}
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	for name, c := range map[string]context.Context{"Background": bg, "cancellable": ctx} {
		tid, res := run(func() error { return s.Op(c, sysv.Sembuf{Num: 0, Op: -1}) })
		if err, done := interrupt(tid, res); done {
			t.Fatalf("SemSet.Op(%s) returned under SIGURG: %v; it must retry EINTR", name, err)
		}
		if err := s.Op(bg, sysv.Sembuf{Num: 0, Op: 1}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-res:
			if err != nil {
				t.Fatalf("SemSet.Op(%s) after the signals: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("SemSet.Op(%s) never returned", name)
		}
	}
	if v, _ := s.Value(0); v != 0 {
		t.Fatalf("value %d after two posts and two takes, want 0", v)
	}
}
