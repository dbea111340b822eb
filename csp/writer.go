package csp

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ipckit/ipckit/internal/abi"
	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/proc"
)

// Writer is the sending end of a channel. It is not safe for concurrent
// use: make one end per goroutine (Chan.Writer). Poison may be called from
// any goroutine.
type Writer[T any] struct {
	end
	p     *mmapring.Producer
	codec proc.Codec[T] // nil: raw
	size  int           // raw: bytes of a value
	buf   []byte        // encoded message (codec or rendezvous)
	seq   uint32        // rendezvous: last sequence number sent

	sent, takenCache uint64 // one-to-one buffered: values sent, taken (cached)

	scratch [2]abi.FutexWaitv
}

func newWriter[T any](s *shared, codec proc.Codec[T], slot int) (*Writer[T], error) {
	var lockf *os.File
	if slot < 0 {
		var err error
		if slot, lockf, err = s.join(roleWriter); err != nil {
			return nil, err
		}
	}
	s.acquire()
	w := &Writer[T]{end: end{s: s, slot: slot, role: roleWriter, lockf: lockf}, codec: codec, size: s.elemSize}
	w.seq = atomic.LoadUint32(s.slotU32(slot, endSeq))
	if s.oneToOne {
		w.sent = atomic.LoadUint64(s.sent)
		w.takenCache = atomic.LoadUint64(s.taken)
	}
	return w, nil
}

// Send sends v, waiting as ctx allows: on a buffered channel until there is
// room, on a rendezvous channel until a reader has taken v. It fails with
// ErrPoisoned once the channel is poisoned, ErrRetired when every reader
// has retired, ErrPeerDead when every reader is gone and one of them died,
// and ctx.Err() when ctx is done first. A rendezvous Send that ctx ends
// after v entered the channel leaves v there for a reader to take. With a
// raw channel and a context that cannot be cancelled, Send does not
// allocate.
func (w *Writer[T]) Send(ctx context.Context, v T) error {
	msg, err := w.encode(&v)
	if err != nil {
		return err
	}
	err = w.trySend(msg)
	if err == ErrFull {
		err = w.waitSend(ctx, msg)
	}
	if err != nil {
		return err
	}
	if w.s.rendezvous {
		return w.waitAck(ctx)
	}
	return nil
}

// TrySend sends v if that needs no waiting, else fails with ErrFull
// (which matches unix.EAGAIN). On a rendezvous channel it sends only when a
// reader is waiting for a value, and then waits for that reader to take
// it (as Send with a context that is never done).
func (w *Writer[T]) TrySend(v T) error {
	if w.s.rendezvous {
		if err := w.usable(); err != nil {
			return err
		}
		if st := w.s.loadState(); st&(stPoisoned|stReadersGone) != 0 {
			return w.stateErr(st)
		}
		if n, _ := w.s.ring.Waiters(); n == 0 {
			return ErrFull
		}
	}
	msg, err := w.encode(&v)
	if err != nil {
		return err
	}
	if err := w.trySend(msg); err != nil {
		return err
	}
	if w.s.rendezvous {
		return w.waitAck(context.Background())
	}
	return nil
}

// encode returns the message for v, in w.buf. v must not escape (Send's
// value stays on the stack), so a raw value is copied into w.buf rather
// than handed to the ring as a view of itself (mmapring's Send takes its
// argument to the heap), and the codec path, which allocates anyway,
// copies it to the heap before handing it to the codec.
func (w *Writer[T]) encode(v *T) ([]byte, error) {
	b := w.buf[:0]
	if w.s.rendezvous {
		b = binary.NativeEndian.AppendUint32(b, uint32(w.slot))
		b = binary.NativeEndian.AppendUint32(b, w.seq+1)
	}
	if w.codec == nil {
		b = append(b, unsafe.Slice((*byte)(unsafe.Pointer(v)), w.size)...)
		w.buf = b
		return b, nil
	}
	return w.encodeCodec(b, *v)
}

func (w *Writer[T]) encodeCodec(b []byte, v T) ([]byte, error) {
	h := len(b)
	b, err := w.codec.Append(b, &v)
	if err != nil {
		return nil, fmt.Errorf("csp: encode: %w", err)
	}
	if len(b)-h > w.s.maxMsg {
		return nil, fmt.Errorf("%w: %d bytes, the channel takes %d", ErrTooLarge, len(b)-h, w.s.maxMsg)
	}
	w.buf = b
	return b, nil
}

func (w *Writer[T]) stateErr(st uint32) error {
	switch {
	case st&stPoisoned != 0:
		return ErrPoisoned
	case st&stReadersGone != 0 && st&stReaderDied != 0:
		return ErrPeerDead
	case st&stReadersGone != 0:
		return ErrRetired
	}
	return nil
}

func (w *Writer[T]) attach() error {
	p, err := w.s.ring.Producer()
	if err != nil {
		return fmt.Errorf("csp: attach writer: %w", err)
	}
	w.p = p
	return nil
}

// countFull reports whether a one-to-one buffered channel holds Capacity
// values (re-reading the reader's count when the cached one says so).
func (w *Writer[T]) countFull() bool {
	if !w.s.oneToOne || w.s.rendezvous {
		return false
	}
	c := uint64(w.s.capacity)
	if w.sent-w.takenCache < c || w.takenCache > w.sent {
		return false
	}
	w.takenCache = atomic.LoadUint64(w.s.taken)
	return w.sent-w.takenCache >= c && w.takenCache <= w.sent
}

// trySend publishes msg if it can without waiting.
func (w *Writer[T]) trySend(msg []byte) error {
	if err := w.usable(); err != nil {
		return err
	}
	if st := w.s.loadState(); st&(stPoisoned|stReadersGone) != 0 {
		return w.stateErr(st)
	}
	if w.p == nil {
		if err := w.attach(); err != nil {
			return err
		}
	}
	if w.countFull() {
		return ErrFull
	}
	if err := w.p.TrySend(msg); err != nil {
		return ringErr(err)
	}
	if w.s.rendezvous {
		w.seq++
	}
	w.sent++
	return nil
}

// ringErr translates the ring's errors.
func ringErr(err error) error {
	switch err {
	case mmapring.ErrFull:
		return ErrFull
	case mmapring.ErrEmpty:
		return ErrEmpty
	case mmapring.ErrTooLarge:
		return ErrTooLarge
	case mmapring.ErrClosed:
		return &corruptError{"the ring under the channel was closed by a foreign peer"}
	}
	return err
}

// waitSend waits until msg is sent (see Send).
func (w *Writer[T]) waitSend(ctx context.Context, msg []byte) error {
	var err error
	if spinUntil(func() bool { err = w.trySend(msg); return err != ErrFull }) {
		return err
	}
	for stall := 0; ; stall++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var wd word
		ready, registered := false, false
		if w.countFull() {
			wd = word{w.s.count.epoch, w.s.count.prepare()}
			ready = !w.countFull()
		} else {
			addr, val, rdy, perr := w.p.PrepareWait(len(msg))
			if perr != nil {
				return ringErr(perr)
			}
			wd, ready, registered = word{addr, val}, rdy, !rdy
		}
		ws := [1]word{wd}
		timedOut := false
		var serr error
		switch {
		case !ready:
			if w.s.loadState()&(stPoisoned|stReadersGone) == 0 {
				timedOut, serr = sleep(ctx, ws[:], time.Now().Add(livenessInterval), w.scratch[:])
			}
		case stall >= stallLimit:
			d := stallSleep(stall)
			timedOut, serr = sleep(ctx, ws[:], time.Now().Add(d), w.scratch[:])
			timedOut = timedOut && d == livenessInterval
		}
		if registered {
			w.p.FinishWait()
		}
		if serr != nil {
			return serr
		}
		if timedOut {
			w.p.CheckPeers(len(msg)) // repairs cells dead processes left claimed
			w.s.scanDead(roleReader)
		}
		if err = w.trySend(msg); err != ErrFull {
			return err
		}
	}
}

// waitAck waits until a reader has taken the rendezvous value w.seq.
func (w *Writer[T]) waitAck(ctx context.Context) error {
	seq := w.seq
	a := w.s.slotU32(w.slot, endAck)
	acked := func() bool { return int32(atomic.LoadUint32(a)-seq) >= 0 }
	bad := func() bool { return w.s.loadState()&(stPoisoned|stReadersGone) != 0 }
	spinUntil(func() bool { return acked() || bad() })
	ec := eventcount{epoch: w.s.slotU32(w.slot, endAckEp), need: w.s.slotU32(w.slot, endAckNeed)}
	for {
		if acked() {
			return nil
		}
		if st := w.s.loadState(); st&(stPoisoned|stReadersGone) != 0 {
			return w.stateErr(st)
		}
		v := ec.prepare()
		if acked() || bad() {
			continue
		}
		ws := [1]word{{ec.epoch, v}}
		timedOut, err := sleep(ctx, ws[:], time.Now().Add(livenessInterval), w.scratch[:])
		if err != nil {
			return err
		}
		if timedOut {
			w.s.scanDead(roleReader)
		}
	}
}

// Poison poisons the channel (see Chan.Poison).
func (w *Writer[T]) Poison() error {
	if w.done {
		return ErrClosed
	}
	w.s.poison()
	return nil
}

// Retire retires this writer: once every writer has retired, readers
// receive what was sent and then io.EOF. It is Close.
func (w *Writer[T]) Retire() error { return w.Close() }

// Close retires the writer (unless it was passed to another process,
// which holds it now) and releases this process's handle. A second Close
// returns nil; every other method then fails with ErrClosed.
func (w *Writer[T]) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	if w.p != nil {
		w.p.Detach()
		w.p = nil
	}
	w.retire()
	w.s.release()
	return nil
}

// pass hands the end to another process (proc's encoder).
func (w *Writer[T]) pass() (*os.File, []byte, error) {
	if err := w.usable(); err != nil {
		return nil, nil, err
	}
	me := myIdent()
	if !w.s.holds(w.slot) {
		return nil, nil, fmt.Errorf("%w (process %d holds it)", ErrPassed, atomic.LoadUint64(w.s.slotIdent(w.slot))>>32)
	}
	atomic.StoreUint32(w.s.slotU32(w.slot, endSeq), w.seq)
	if w.s.oneToOne {
		atomic.StoreUint64(w.s.sent, w.sent)
	}
	if w.p != nil {
		w.p.Detach()
		w.p = nil
	}
	w.passed = true
	return w.passFile(), passMeta(passWriter, w.slot, me), nil
}
