package posix

import (
	"context"
	"encoding/binary"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// EventFD is a Linux eventfd counter in the runtime poller. In counter
// mode Wait returns the whole count and resets it to zero; in semaphore
// mode (EFD_SEMAPHORE) Wait takes one and returns 1. Add adds to the
// count; it waits only when the count would exceed 2^64-2.
type EventFD struct {
	p     *pollFD
	r, w  efdOp
	tryMu sync.Mutex
	try   efdOp
}

type efdOp struct {
	buf [8]byte
	n   int
	err error
	fn  func(uintptr) bool
	ct  func(uintptr)
	wr  bool
}

func (o *efdOp) do(fd uintptr) bool {
	for {
		if o.wr {
			o.n, o.err = unix.Write(int(fd), o.buf[:])
		} else {
			o.n, o.err = unix.Read(int(fd), o.buf[:])
		}
		if o.err != unix.EINTR {
			return o.err != unix.EAGAIN
		}
	}
}

func (o *efdOp) control(fd uintptr) { o.do(fd) }

func (o *efdOp) init(wr bool) { o.wr, o.fn, o.ct = wr, o.do, o.control }

// NewEventFD creates an eventfd with initial count initval; semaphore
// selects EFD_SEMAPHORE mode. The descriptor is close-on-exec; pass it to
// children through ExtraFiles or SendFiles.
func NewEventFD(initval uint32, semaphore bool) (*EventFD, error) {
	flags := unix.EFD_CLOEXEC | unix.EFD_NONBLOCK
	if semaphore {
		flags |= unix.EFD_SEMAPHORE
	}
	fd, err := unix.Eventfd(uint(initval), flags)
	if err != nil {
		return nil, opError("eventfd2", err)
	}
	return adoptEventFD(fd)
}

// EventFDFromFile adopts a duplicate of an eventfd descriptor received
// from another process (for example through ExtraFiles or RecvFiles).
func EventFDFromFile(f *os.File) (*EventFD, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, opError("fcntl(F_DUPFD_CLOEXEC)", err)
	}
	return adoptEventFD(fd)
}

func adoptEventFD(fd int) (*EventFD, error) {
	p, err := newPollFD(fd, "eventfd")
	if err != nil {
		return nil, err
	}
	e := &EventFD{p: p}
	e.r.init(false)
	e.w.init(true)
	e.try.init(false)
	return e, nil
}

// File returns the descriptor, owned by e.
func (e *EventFD) File() *os.File { return e.p.f }

// Close closes the descriptor; blocked calls return os.ErrClosed.
func (e *EventFD) Close() error { return opError("close", e.p.close()) }

// Add adds n (at most 2^64-2) to the count, waking waiters.
func (e *EventFD) Add(ctx context.Context, n uint64) error {
	if n == ^uint64(0) {
		return opError("write", unix.EINVAL)
	}
	select {
	case e.p.wsem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.p.closed:
		return opError("write", os.ErrClosed)
	}
	defer func() { <-e.p.wsem }()
	binary.NativeEndian.PutUint64(e.w.buf[:], n)
	err := e.p.waitHeld(ctx, true, e.w.fn)
	if err == nil {
		err = e.w.err
	}
	return opError("write", err)
}

// Wait waits until the count is non-zero, then takes it (counter mode:
// returns the count and resets it; semaphore mode: returns 1 and
// decrements).
func (e *EventFD) Wait(ctx context.Context) (uint64, error) {
	select {
	case e.p.rsem <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-e.p.closed:
		return 0, opError("read", os.ErrClosed)
	}
	defer func() { <-e.p.rsem }()
	err := e.p.waitHeld(ctx, false, e.r.fn)
	if err == nil {
		err = e.r.err
	}
	if err != nil {
		return 0, opError("read", err)
	}
	return binary.NativeEndian.Uint64(e.r.buf[:]), nil
}

// TryWait is Wait without waiting: a zero count gives unix.EAGAIN.
func (e *EventFD) TryWait() (uint64, error) {
	e.tryMu.Lock()
	defer e.tryMu.Unlock()
	err := e.p.control(e.try.ct)
	if err == nil {
		err = e.try.err
	}
	if err != nil {
		return 0, opError("read", err)
	}
	return binary.NativeEndian.Uint64(e.try.buf[:]), nil
}
