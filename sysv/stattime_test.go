package sysv_test

import (
	"context"
	"testing"
	"time"

	"github.com/ipckit/ipckit/sysv"
)

// TestStatTimesAreNow checks every time a Stat reports against the clock:
// each must lie within a minute of now. On 32-bit ABIs the kernel returns
// a time as two 32-bit halves (msg_stime and msg_stime_high, and so on,
// since Linux 4.19's y2038 work); a high half read from the wrong place,
// or left out, puts a time decades away, which the zero-value checks
// elsewhere cannot see. Natively on 386 this exercises the kernel's IA-32
// compat path; under qemu-i386 (the 386 leg's fallback) qemu converts the
// structs itself, and the test checks that conversion instead.
func TestStatTimesAreNow(t *testing.T) {
	ctx := context.Background()
	near := func(what string, got time.Time) {
		t.Helper()
		if d := time.Since(got); d < -time.Minute || d > time.Minute {
			t.Errorf("%s = %v (Unix %d), want within a minute of now (%v)", what, got, got.Unix(), time.Now())
		}
	}

	q, err := sysv.CreateQueue(sysv.IPCPrivate, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Remove() })
	if err := q.Send(ctx, 1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, _, err := q.Receive(ctx, 0, buf, 0); err != nil {
		t.Fatal(err)
	}
	qs, err := q.Stat()
	if err != nil {
		t.Fatal(err)
	}
	near("queue LastSend", qs.LastSend)
	near("queue LastReceive", qs.LastReceive)
	near("queue Changed", qs.Changed)

	s, err := sysv.CreateSemSet(sysv.IPCPrivate, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Remove() })
	if err := s.Op(ctx, sysv.Sembuf{Num: 0, Op: 1}); err != nil {
		t.Fatal(err)
	}
	ss, err := s.Stat()
	if err != nil {
		t.Fatal(err)
	}
	near("semaphore set LastOp", ss.LastOp)
	near("semaphore set Changed", ss.Changed)

	seg, err := sysv.CreateSegment(sysv.IPCPrivate, 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Remove() })
	m, err := seg.Attach(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	gs, err := seg.Stat()
	if err != nil {
		t.Fatal(err)
	}
	near("segment LastAttach", gs.LastAttach)
	near("segment LastDetach", gs.LastDetach)
	near("segment Changed", gs.Changed)
}
