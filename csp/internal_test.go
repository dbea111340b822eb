package csp

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipckit/ipckit/mmapring"
)

// Without futex_waitv, Select sleeps on every channel through one
// goroutine per channel: it is woken by a value on any of them, honours
// its context and timeout guard, and leaves no sleeper behind.
func TestNoWaitv(t *testing.T) {
	defer SetHaveWaitv(func() bool { return false })()
	chans := make([]*Chan[int64], 3)
	rs := make([]*Reader[int64], 3)
	ws := make([]*Writer[int64], 3)
	for i := range chans {
		chans[i], _ = NewChan[int64](&Options{Capacity: 2})
		rs[i], _ = chans[i].Reader()
		ws[i], _ = chans[i].Writer()
		defer chans[i].Close()
		defer rs[i].Close()
		defer ws[i].Close()
	}
	var v int64
	alt := NewAlt(Receive(rs[0], &v), Receive(rs[1], &v), Receive(rs[2], &v))
	for k := 0; k < 3; k++ {
		sent := make(chan error, 1)
		go func() {
			for {
				if n, _ := chans[2].s.ring.Waiters(); n > 0 {
					break // the Select is asleep on every channel
				}
				time.Sleep(time.Millisecond)
			}
			sent <- ws[k].Send(context.Background(), int64(10+k))
		}()
		i, err := alt.Select(context.Background())
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		if i != k || err != nil || v != int64(10+k) {
			t.Fatalf("Select: %d %v %d, want %d", i, err, v, k)
		}
		for j := range chans {
			if n, _ := chans[j].s.ring.Waiters(); n != 0 {
				t.Fatalf("channel %d: %d sleepers left behind", j, n)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if i, err := alt.Select(ctx); i != -1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %d %v", i, err)
	}
	if i, err := Select(context.Background(), Receive(rs[0], &v), Receive(rs[1], &v), Timeout(20*time.Millisecond)); i != 2 || err != nil {
		t.Fatalf("timeout guard: %d %v", i, err)
	}
	// One channel, a cancellable context: the classic FUTEX_WAIT path.
	sent := make(chan error, 1)
	go func() {
		time.Sleep(10 * time.Millisecond)
		sent <- ws[0].Send(context.Background(), 5)
	}()
	defer func() { <-sent }()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	if v, err := rs[0].Receive(ctx2); v != 5 || err != nil {
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

// Files that are not channels, or that another process could shrink under
// the control block's mapping, are refused.
func TestChanFromFileRefuses(t *testing.T) {
	plain, err := mmapring.New(mmapring.Config{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := ChanFromFile[int64](plain.File()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a ring without a control block: %v", err)
	}
	path := filepath.Join(t.TempDir(), "ring")
	unsealed, err := mmapring.CreatePath(path, mmapring.Config{Capacity: 4096, Trailer: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer unsealed.Close()
	if _, err := ChanFromFile[int64](unsealed.File()); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("an unsealed file: %v", err)
	}
}
