package sysv_test

import (
	"testing"

	"github.com/ipckit/ipckit/sysv"
)

func benchSizes(b *testing.B, f func(b *testing.B, size int)) {
	for _, size := range []int{8, 64, 1024, 8000} {
		b.Run(itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			f(b, size)
		})
	}
}

// BenchmarkMsgsndMsgrcv is one send and one receive of the raw calls, in
// one goroutine (the kernel's cost with no wake-up).
func BenchmarkMsgsndMsgrcv(b *testing.B) {
	benchSizes(b, func(b *testing.B, size int) {
		q := newQueue(b)
		m := sysv.NewMsgbuf(size)
		m.SetType(1)
		for i := 0; i < b.N; i++ {
			if err := sysv.Msgsnd(q.ID(), m, 0); err != nil {
				b.Fatal(err)
			}
			if _, err := sysv.Msgrcv(q.ID(), m, 0, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkQueueSendReceive is the same through the handle (one copy each
// way through a pooled buffer).
func BenchmarkQueueSendReceive(b *testing.B) {
	benchSizes(b, func(b *testing.B, size int) {
		q := newQueue(b)
		buf := make([]byte, size)
		for i := 0; i < b.N; i++ {
			if err := q.Send(bg, 1, buf); err != nil {
				b.Fatal(err)
			}
			if _, _, err := q.Receive(bg, 0, buf, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSemopPostWait(b *testing.B) {
	s := newSemSet(b, 1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := s.Op(bg, sysv.Sembuf{Num: 0, Op: 1}); err != nil {
			b.Fatal(err)
		}
		if err := s.Op(bg, sysv.Sembuf{Num: 0, Op: -1}); err != nil {
			b.Fatal(err)
		}
	}
}
