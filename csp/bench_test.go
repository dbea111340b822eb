package csp_test

import (
	"context"
	"testing"

	"github.com/ipckit/ipckit/csp"
	"github.com/ipckit/ipckit/mmapring"
)

// Benchmarks between two goroutines of one process; `ipckit bench` has the
// two-process rows (csp.Chan[int64] and the 64-byte struct) beside the
// rings and a Go channel.

func benchChan[T any](b *testing.B, o csp.Options) {
	c, err := csp.NewChan[T](&o)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	w, _ := c.Writer()
	r, _ := c.Reader()
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := r.Receive(ctx); err != nil {
				return
			}
		}
	}()
	var v T
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Send(ctx, v); err != nil {
			b.Fatal(err)
		}
	}
	w.Retire()
	<-done
	r.Close()
}

func BenchmarkChanInt64OneToOne(b *testing.B) {
	benchChan[int64](b, csp.Options{Capacity: 1024, OneToOne: true})
}
func BenchmarkChanInt64AnyToAny(b *testing.B) { benchChan[int64](b, csp.Options{Capacity: 1024}) }
func BenchmarkChan64BOneToOne(b *testing.B) {
	benchChan[point](b, csp.Options{Capacity: 1024, OneToOne: true})
}
func BenchmarkChanInt64Rendezvous(b *testing.B) { benchChan[int64](b, csp.Options{OneToOne: true}) }

func BenchmarkGoChanInt64(b *testing.B) {
	ch := make(chan int64, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ch {
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ch <- int64(i)
	}
	close(ch)
	<-done
}

func BenchmarkRingSPSC8(b *testing.B) {
	r, _ := mmapring.New(mmapring.Config{Capacity: 1 << 16})
	defer r.Close()
	p, _ := r.Producer()
	c, _ := r.Consumer()
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 8)
		for {
			if _, err := c.Receive(ctx, buf); err != nil {
				return
			}
		}
	}()
	msg := make([]byte, 8)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Send(ctx, msg)
	}
	p.Close()
	<-done
	c.Close()
}

// One goroutine, alternating: the CPU cost of a Send and a Receive without
// any cross-core traffic.
func BenchmarkChanPingSelf(b *testing.B) {
	c, _ := csp.NewChan[int64](&csp.Options{Capacity: 1024, OneToOne: true})
	defer c.Close()
	w, _ := c.Writer()
	r, _ := c.Reader()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		w.Send(ctx, 1)
		r.Receive(ctx)
	}
}

func BenchmarkRingPingSelf(b *testing.B) {
	r, _ := mmapring.New(mmapring.Config{Capacity: 1 << 15})
	defer r.Close()
	p, _ := r.Producer()
	c, _ := r.Consumer()
	ctx := context.Background()
	msg := make([]byte, 8)
	for i := 0; i < b.N; i++ {
		p.Send(ctx, msg)
		c.Receive(ctx, msg)
	}
}
