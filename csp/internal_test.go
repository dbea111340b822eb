package csp

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Without futex_waitv, a Select that may sleep on several channels fails
// at once; one channel, a Skip guard and plain Receive still work, with
// cancellable contexts too.
func TestNoWaitv(t *testing.T) {
	defer SetHaveWaitv(func() bool { return false })()
	a, _ := NewChan[int64](&Options{Capacity: 2})
	b, _ := NewChan[int64](&Options{Capacity: 2})
	defer a.Close()
	defer b.Close()
	ra, _ := a.Reader()
	rb, _ := b.Reader()
	wa, _ := a.Writer()
	defer ra.Close()
	defer rb.Close()
	defer wa.Close()
	var v int64
	_, err := Select(context.Background(), Recv(ra, &v), Recv(rb, &v))
	if !errors.Is(err, ErrNotSupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Select over two channels without futex_waitv: %v", err)
	}
	if i, err := Select(context.Background(), Recv(ra, &v), Recv(rb, &v), Skip()); i != 2 || err != nil {
		t.Fatalf("with Skip: %d %v", i, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if i, err := Select(ctx, Recv(ra, &v)); i != -1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("one channel: %d %v", i, err)
	}
	sent := make(chan error, 1)
	go func() {
		time.Sleep(10 * time.Millisecond)
		sent <- wa.Send(context.Background(), 5)
	}()
	defer func() { <-sent }()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if v, err := ra.Receive(ctx2); v != 5 || err != nil {
		t.Fatalf("Receive: %d %v", v, err)
	}
}

// Validation of a control block another process may have scribbled on:
// every field is checked, nothing panics.
func TestCorruptControlBlock(t *testing.T) {
	c, err := NewChan[int64](&Options{Capacity: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		off int
		val uint32
	}{
		{ctlMagic, 1}, {ctlVersion, 9}, {ctlFlags, 0x80}, {ctlFlags, flagOneToOne}, {ctlMode, 7},
		{ctlElemSize, 9}, {ctlCapacity, 0}, {ctlCapacity, maxCapacity + 1}, {ctlMaxMsg, 1 << 30},
		{ctlMaxEnds, 3}, {ctlRingSize, 12},
	} {
		p := c.s.u32(tc.off)
		old := *p
		*p = tc.val
		_, err := ChanFromFile[int64](c.File())
		*p = old
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("field at %d = %#x: %v, want ErrCorrupt", tc.off, tc.val, err)
		}
	}
	// A rendezvous message naming an end slot out of range, or of the
	// wrong length, is consumed and reported, never trusted.
	rv, _ := NewChan[int64](&Options{})
	defer rv.Close()
	r, _ := rv.Reader()
	defer r.Close()
	p, _ := rv.s.ring.Producer()
	p.TrySend([]byte{200, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	p.TrySend([]byte{1, 2, 3})
	if _, err := r.TryReceive(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad slot: %v", err)
	}
	if _, err := r.TryReceive(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short message: %v", err)
	}
	if _, err := r.TryReceive(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("after the bad messages: %v", err)
	}
}
