package csp

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/proc"
)

// Reader is the receiving end of a channel. It is not safe for concurrent
// use: make one end per goroutine (Chan.Reader). Poison may be called from
// any goroutine.
type Reader[T any] struct {
	end
	c     *mmapring.Consumer
	codec proc.Codec[T] // nil: raw
	size  int
	taken uint64 // one-to-one buffered: values taken

	scratch [2]abi.FutexWaitv
}

func newReader[T any](s *shared, codec proc.Codec[T], slot int) (*Reader[T], error) {
	var lockf *os.File
	if slot < 0 {
		var err error
		if slot, lockf, err = s.join(roleReader); err != nil {
			return nil, err
		}
	}
	s.acquire()
	r := &Reader[T]{end: end{s: s, slot: slot, role: roleReader, lockf: lockf}, codec: codec, size: s.elemSize}
	if s.oneToOne {
		r.taken = atomic.LoadUint64(s.taken)
	}
	return r, nil
}

// Receive returns the next value, waiting as ctx allows. It returns io.EOF
// once every writer has retired and everything they sent was received,
// ErrPeerDead instead when one of them died without retiring, ErrPoisoned
// once the channel is poisoned (values still buffered are dropped), and
// ctx.Err() when ctx is done first. On a rendezvous channel, taking the
// value releases the writer's Send. With a raw channel and a context that
// cannot be cancelled, Receive does not allocate.
func (r *Reader[T]) Receive(ctx context.Context) (T, error) {
	var v T
	err := r.take(&v)
	if err == ErrEmpty {
		err = r.waitTake(ctx, &v)
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// TryReceive returns the next value if one is ready, else ErrEmpty (which
// matches unix.EAGAIN); other results are as for Receive.
func (r *Reader[T]) TryReceive() (T, error) {
	var v T
	if err := r.take(&v); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

func (r *Reader[T]) attach() error {
	c, err := r.s.ring.Consumer()
	if err != nil {
		return fmt.Errorf("csp: attach reader: %w", err)
	}
	r.c = c
	return nil
}

// take receives the next value into v if one is ready.
func (r *Reader[T]) take(v *T) error {
	if err := r.usable(); err != nil {
		return err
	}
	// The state is read before the ring: writers publish everything before
	// they retire, so "gone" seen here and an empty ring after it mean
	// nothing more will come.
	st := r.s.loadState()
	if st&stPoisoned != 0 {
		return ErrPoisoned
	}
	if r.c == nil {
		if err := r.attach(); err != nil {
			return err
		}
	}
	msg, err := r.c.TryPeek()
	if err == mmapring.ErrEmpty && st&stWritersGone != 0 {
		if st&stWriterDied != 0 && !r.s.oneToOne {
			// A writer killed between claiming a cell and committing it
			// holds up the cells behind it until the claim is repaired.
			r.c.CheckPeers()
			msg, err = r.c.TryPeek()
		}
		if err == mmapring.ErrEmpty {
			if st&stWriterDied != 0 {
				return ErrPeerDead
			}
			return io.EOF
		}
	}
	if err != nil {
		if err == io.EOF {
			return io.EOF // a foreign producer closed the ring
		}
		return ringErr(err)
	}
	derr := r.decode(msg, v)
	r.c.Release()
	if r.s.oneToOne && !r.s.rendezvous {
		r.taken++
		atomic.StoreUint64(r.s.taken, r.taken)
		r.s.count.notify()
	}
	return derr
}

// decode copies a message out of the ring into v and acknowledges a
// rendezvous value (before the message is released, so that a writer
// never waits for a value that is gone).
func (r *Reader[T]) decode(msg []byte, v *T) error {
	slot, seq := -1, uint32(0)
	if r.s.rendezvous {
		if len(msg) < rvHeader {
			return errBadLength
		}
		s := binary.NativeEndian.Uint32(msg)
		seq = binary.NativeEndian.Uint32(msg[4:])
		msg = msg[rvHeader:]
		if s >= maxEnds {
			return errBadSlot
		}
		slot = int(s)
	}
	var err error
	if r.codec == nil {
		if len(msg) != r.size {
			err = errBadLength
		} else if r.size > 0 {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(v)), r.size), msg)
		}
	} else {
		err = r.decodeCodec(msg, v)
	}
	if slot >= 0 {
		r.s.ack(slot, seq)
	}
	return err
}

// decodeCodec decodes through the codec into a value of its own, so that
// v (Receive's, on the stack) never reaches the codec interface.
func (r *Reader[T]) decodeCodec(msg []byte, v *T) error {
	tmp := new(T)
	if err := r.codec.Decode(msg, tmp); err != nil {
		return fmt.Errorf("csp: decode: %w", err)
	}
	*v = *tmp
	return nil
}

// waitTake waits until a value is taken into v (see Receive).
func (r *Reader[T]) waitTake(ctx context.Context, v *T) error {
	var err error
	if spinUntil(func() bool { err = r.take(v); return err != ErrEmpty }) {
		return err
	}
	for stall := 0; ; stall++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		addr, val, ready, perr := r.c.PrepareWait()
		if perr != nil {
			return ringErr(perr)
		}
		ws := [1]word{{addr, val}}
		timedOut := false
		var serr error
		switch {
		case !ready:
			if r.s.loadState()&(stPoisoned|stWritersGone) == 0 {
				timedOut, serr = sleep(ctx, ws[:], time.Now().Add(livenessInterval), r.scratch[:])
			}
			r.c.FinishWait()
		case stall >= stallLimit:
			// The ring keeps saying "ready" with nothing to take.
			d := stallSleep(stall)
			timedOut, serr = sleep(ctx, ws[:], time.Now().Add(d), r.scratch[:])
			timedOut = timedOut && d == livenessInterval
		}
		if serr != nil {
			return serr
		}
		if timedOut {
			r.liveness()
		}
		if err = r.take(v); err != ErrEmpty {
			return err
		}
	}
}

// liveness runs when a sleep timed out: repair what dead processes left
// in the ring, and count dead writers out.
func (r *Reader[T]) liveness() {
	if r.c != nil {
		r.c.CheckPeers()
	}
	r.s.scanDead(roleWriter)
}

// Poison poisons the channel (see Chan.Poison).
func (r *Reader[T]) Poison() error {
	if r.done {
		return ErrClosed
	}
	r.s.poison()
	return nil
}

// Retire retires this reader: once every reader has retired, Send fails
// with ErrRetired. It is Close.
func (r *Reader[T]) Retire() error { return r.Close() }

// Close retires the reader (unless it was passed to another process,
// which holds it now) and releases this process's handle. A second Close
// returns nil; every other method then fails with ErrClosed.
func (r *Reader[T]) Close() error {
	if r.done {
		return nil
	}
	r.done = true
	if r.c != nil {
		r.c.Close()
		r.c = nil
	}
	r.retire()
	r.s.release()
	return nil
}

// pass hands the end to another process (proc's encoder).
func (r *Reader[T]) pass() (*os.File, []byte, error) {
	if err := r.usable(); err != nil {
		return nil, nil, err
	}
	me := myIdent()
	if !r.s.holds(r.slot) {
		return nil, nil, fmt.Errorf("%w (process %d holds it)", ErrPassed, atomic.LoadUint64(r.s.slotIdent(r.slot))>>32)
	}
	if r.c != nil {
		r.c.Close()
		r.c = nil
	}
	r.passed = true
	return r.passFile(), passMeta(passReader, r.slot, me), nil
}
