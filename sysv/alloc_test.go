package sysv_test

import (
	"context"
	"testing"
	"time"

	"github.com/ipckit/ipckit/internal/race"
	"github.com/ipckit/ipckit/sysv"
)

// The raw calls and the handles' non-waiting paths must not allocate.
func TestZeroAllocs(t *testing.T) {
	q := newQueue(t)
	s := newSemSet(t, 1)
	m := sysv.NewMsgbuf(64)
	m.SetType(1)
	buf := make([]byte, 64)
	ctx, cancel := context.WithTimeout(bg, time.Hour)
	defer cancel()
	cases := map[string]func(){
		"Msgsnd+Msgrcv": func() {
			if err := sysv.Msgsnd(q.ID(), m, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := sysv.Msgrcv(q.ID(), m, 0, 0); err != nil {
				t.Fatal(err)
			}
		},
		"Queue.Send+Receive": func() {
			if err := q.Send(bg, 1, buf); err != nil {
				t.Fatal(err)
			}
			if _, _, err := q.Receive(bg, 0, buf, 0); err != nil {
				t.Fatal(err)
			}
		},
		"Queue.Send+Receive with deadline": func() {
			if err := q.Send(ctx, 1, buf); err != nil {
				t.Fatal(err)
			}
			if _, _, err := q.Receive(ctx, 0, buf, 0); err != nil {
				t.Fatal(err)
			}
		},
		"Semop": func() {
			ops := [2]sysv.Sembuf{{Num: 0, Op: 1}, {Num: 0, Op: -1}}
			if err := sysv.Semop(s.ID(), ops[:]); err != nil {
				t.Fatal(err)
			}
		},
		"SemSet.Op post+wait": func() {
			if err := s.Op(bg, sysv.Sembuf{Num: 0, Op: 1}); err != nil {
				t.Fatal(err)
			}
			if err := s.Op(ctx, sysv.Sembuf{Num: 0, Op: -1}); err != nil {
				t.Fatal(err)
			}
		},
	}
	pooled := map[string]bool{"Queue.Send+Receive": true, "Queue.Send+Receive with deadline": true}
	for name, f := range cases {
		if race.Enabled && pooled[name] {
			// Under the race detector sync.Pool drops items at random;
			// test.sh runs the alloc tests without -race as well.
			t.Logf("%s: not measured under -race", name)
			continue
		}
		f() // warm the buffer pool
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, n)
		}
	}
}
