package mmapring

import (
	"errors"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/internal/futex"
	"github.com/ipckit/ipckit/internal/testenv"
)

func TestPrepareWait(t *testing.T) {
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		r := newRing(t, cfgFor(kind))
		p, _ := r.Producer()
		c, _ := r.Consumer()
		defer p.Close()
		defer c.Close()
		word, val, ready, err := c.PrepareWait()
		if err != nil || ready {
			t.Fatalf("%v: PrepareWait on an empty ring: ready %v, %v", kind, ready, err)
		}
		if n, _ := r.Waiters(); n != 1 {
			t.Fatalf("%v: %d data waiters registered, want 1", kind, n)
		}
		// A message sent now bumps the word the waiter would sleep on.
		if err := p.TrySend([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if atomic.LoadUint32(word) == val {
			t.Fatalf("%v: a send to a registered waiter left the futex word as it was", kind)
		}
		c.FinishWait()
		if n, _ := r.Waiters(); n != 0 {
			t.Fatalf("%v: %d data waiters after FinishWait", kind, n)
		}
		// With a message ready, PrepareWait registers nothing.
		if _, _, ready, err := c.PrepareWait(); !ready || err != nil {
			t.Fatalf("%v: PrepareWait with a message ready: %v %v", kind, ready, err)
		}
		if n, _ := r.Waiters(); n != 0 {
			t.Fatalf("%v: ready PrepareWait registered a waiter", kind)
		}
		buf := make([]byte, 16)
		if n, err := c.TryReceive(buf); err != nil || string(buf[:n]) != "hello" {
			t.Fatalf("%v: TryReceive: %q %v", kind, buf[:n], err)
		}
		// Interrupt bumps the word without a message.
		word, val, ready, _ = c.PrepareWait()
		if ready {
			t.Fatalf("%v: ready on an empty ring", kind)
		}
		r.Interrupt()
		if atomic.LoadUint32(word) == val {
			t.Fatalf("%v: Interrupt left the futex word as it was", kind)
		}
		c.FinishWait()
		if err := c.CheckPeers(); err != nil {
			t.Fatalf("%v: CheckPeers with a live producer: %v", kind, err)
		}
		// The producer side: fill the ring, register, free a slot.
		msg := make([]byte, 200)
		for p.TrySend(msg) == nil {
		}
		word, val, ready, err = p.PrepareWait(len(msg))
		if err != nil || ready {
			t.Fatalf("%v: producer PrepareWait on a full ring: %v %v", kind, ready, err)
		}
		if _, n := r.Waiters(); n != 1 {
			t.Fatalf("%v: %d space waiters, want 1", kind, n)
		}
		big := make([]byte, 256)
		for {
			if _, err := c.TryReceive(big); err != nil {
				break
			}
		}
		// An SPSC consumer publishes its position lazily, at the latest
		// before it sleeps.
		if _, _, ready, _ := c.PrepareWait(); !ready {
			c.FinishWait()
		}
		if atomic.LoadUint32(word) == val {
			t.Fatalf("%v: freeing room for a registered producer left the word as it was", kind)
		}
		p.FinishWait()
		if _, _, _, err := p.PrepareWait(r.MaxMessage() + 1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%v: PrepareWait for an oversized message: %v", kind, err)
		}
	}
}

func TestPrepareWaitClosed(t *testing.T) {
	r := newRing(t, cfgFor(KindMPMC))
	p, _ := r.Producer()
	c, _ := r.Consumer()
	p.Close()
	c.Close()
	if _, _, _, err := c.PrepareWait(); err != ErrClosed {
		t.Fatalf("Consumer.PrepareWait after Close: %v", err)
	}
	if _, _, _, err := p.PrepareWait(1); err != ErrClosed {
		t.Fatalf("Producer.PrepareWait after Close: %v", err)
	}
	if err := c.CheckPeers(); err != ErrClosed {
		t.Fatalf("CheckPeers after Close: %v", err)
	}
}

// waitAny sleeps on every consumer's ring at once with futex_waitv, as a
// select does, until one may have a message.
func waitAny(t *testing.T, cs []*Consumer) (timedOut bool) {
	var ws [8]abi.FutexWaitv
	var regs []*Consumer
	n := 0
	ready := false
	for _, c := range cs {
		word, val, rdy, err := c.PrepareWait()
		if err != nil {
			t.Fatal(err)
		}
		if rdy {
			ready = true
			break
		}
		regs = append(regs, c)
		ws[n] = abi.FutexWaitv{Val: uint64(val), Uaddr: uint64(uintptr(unsafe.Pointer(word))), Flags: futex.Futex2SizeU32}
		n++
	}
	if !ready {
		var now unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
		ts := abi.NsecToTimespec(now.Nano() + int64(LivenessInterval))
		_, err := futex.FutexWaitv(&ws[0], uint32(n), 0, &ts, unix.CLOCK_MONOTONIC)
		timedOut = err == unix.ETIMEDOUT
	}
	for _, c := range regs {
		c.FinishWait()
	}
	return timedOut
}

// A consumer sleeping on two rings at once through the hooks is woken by a
// C producer (mmapring.h) on one and a Go producer process on the other:
// the C header's producers issue the wake the hooks registered for.
func TestPrepareWaitWithCProducer(t *testing.T) {
	testenv.RequireFutexWaitv(t, futex.HaveWaitv())
	peer := ringPeer(t)
	const count = 20000
	for _, kind := range []Kind{KindSPSC, KindMPMC} {
		t.Run(kind.String(), func(t *testing.T) {
			ra, rb := newRing(t, cfgFor(kind)), newRing(t, cfgFor(kind))
			ca, _ := ra.Consumer()
			cb, _ := rb.Consumer()
			defer ca.Close()
			defer cb.Close()
			cnt := strconv.Itoa(count)
			cprod := testenv.Command(peer, "produce", "3", cnt, "200", "7", "1")
			gprod := testenv.Child(t, "produce", cnt, "200", "7", "2")
			cprod.Stderr, gprod.Stderr = os.Stderr, os.Stderr
			startChild(t, cprod, ra)
			startChild(t, gprod, rb)
			next := map[uint64]uint64{}
			open := []*Consumer{ca, cb}
			buf := make([]byte, 512)
			deadline := time.Now().Add(2 * time.Minute)
			for len(open) > 0 {
				got := false
				for i := 0; i < len(open); i++ {
					n, err := open[i].TryReceive(buf)
					if err == io.EOF {
						open = append(open[:i], open[i+1:]...)
						got = true
						break
					}
					if err == ErrEmpty {
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					seq, ok := check(buf[:n])
					if !ok {
						t.Fatal("corrupt message")
					}
					id, i := seq>>32, seq&0xffffffff
					if i != next[id] {
						t.Fatalf("producer %d: seq %d, want %d", id, i, next[id])
					}
					next[id]++
					got = true
				}
				if !got && len(open) > 0 {
					if time.Now().After(deadline) {
						t.Fatal("no progress")
					}
					waitAny(t, open)
				}
			}
			if next[1] != count || next[2] != count {
				t.Fatalf("received %v, want %d from each", next, count)
			}
			cprod.Wait()
			gprod.Wait()
		})
	}
}

// Config.Trailer: the file holds that many bytes after the ring, sealed
// with it, and peers open the ring as usual.
func TestTrailer(t *testing.T) {
	r, err := New(Config{Capacity: 4096, Trailer: 3 * 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(r.File().Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(r.Size())+3*4096 {
		t.Fatalf("file of %d bytes, want the ring's %d and 3 pages", st.Size, r.Size())
	}
	if !r.Sealed() {
		t.Fatal("a memfd ring with a trailer is not sealed")
	}
	if err := unix.Ftruncate(int(r.File().Fd()), int64(r.Size())); err == nil {
		t.Fatal("the trailer could be cut off")
	}
	r2, err := FromFile(r.File())
	if err != nil {
		t.Fatal(err)
	}
	r2.Close()
	if _, err := New(Config{Trailer: -1}); err == nil {
		t.Fatal("a negative trailer was accepted")
	}
}
