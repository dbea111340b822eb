package posix

import (
	"context"
	"encoding/binary"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// EventFD is a Linux eventfd counter in the runtime poller. In counter
// mode Wait returns the whole count and resets it to zero; in semaphore
// mode (EFD_SEMAPHORE) Wait takes one and returns 1. Add adds to the
// count; it waits only when the count would exceed 2^64-2.
//
// The eventfd's descriptor stays in blocking mode (O_NONBLOCK is a flag of
// the open file description, shared by every process that holds it), so a
// C process that inherits or receives it can block in read(2), and
// EventFDFromFile leaves the sender's mode alone. The EventFD still waits
// in the poller, never in a system call: it reads with preadv2(RWF_NOWAIT)
// where the kernel's eventfd honours that flag (probed once), and
// otherwise reads only after a zero-timeout poll(2) has found the count
// non-zero; it writes only after poll(2) has found room. Without
// RWF_NOWAIT, and when another process reads the same eventfd, that
// process can take the count between the poll and the read: the read then
// occupies an OS thread until the next Add, and cancelling the Wait takes
// effect only then.
type EventFD struct {
	p     *pollFD
	r, w  efdOp
	tryMu sync.Mutex
	try   efdOp
}

type efdOp struct {
	buf [8]byte
	iov unix.Iovec
	pfd [1]unix.PollFd
	n   int
	err error
	fn  func(uintptr) bool
	ct  func(uintptr)
	wr  bool
}

// Whether the kernel's eventfd honours RWF_NOWAIT: 0 unknown, 1 yes, 2 no.
var efdNowait atomic.Int32

func eventfdNowait() bool {
	switch efdNowait.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	// The probe also checks that a count written with write(2) reads back
	// unchanged: a user-mode emulator that translates eventfd values for
	// read(2) and write(2) but not for preadv2 must not use it.
	ok := false
	if fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC); err == nil {
		var o efdOp
		if o.preadNowait(uintptr(fd)) == unix.EAGAIN {
			binary.NativeEndian.PutUint64(o.buf[:], 1)
			if n, err := unix.Write(fd, o.buf[:]); err == nil && n == 8 {
				clear(o.buf[:])
				ok = o.preadNowait(uintptr(fd)) == nil && o.n == 8 && binary.NativeEndian.Uint64(o.buf[:]) == 1
			}
		}
		unix.Close(fd)
	}
	if ok {
		efdNowait.Store(1)
	} else {
		efdNowait.Store(2)
	}
	return ok
}

// preadNowait is preadv2(fd, buf, -1, RWF_NOWAIT): read at the current
// position without waiting, whatever the descriptor's mode.
func (o *efdOp) preadNowait(fd uintptr) error {
	o.iov.Base = &o.buf[0]
	o.iov.SetLen(len(o.buf))
	// The offset -1 is passed as two halves (pos_l, pos_h), as the
	// kernel's preadv2 takes it on every architecture.
	n, _, e := unix.Syscall6(unix.SYS_PREADV2, fd, uintptr(unsafe.Pointer(&o.iov)), 1, ^uintptr(0), ^uintptr(0), unix.RWF_NOWAIT)
	o.iov.Base = nil
	if e != 0 {
		return e
	}
	o.n = int(n)
	return nil
}

// ready polls fd for ev without waiting.
func (o *efdOp) ready(fd uintptr, ev int16) bool {
	o.pfd[0] = unix.PollFd{Fd: int32(fd), Events: ev}
	for {
		n, err := unix.Poll(o.pfd[:], 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || n > 0
	}
}

func (o *efdOp) do(fd uintptr) bool {
	for {
		if o.wr {
			if !o.ready(fd, unix.POLLOUT) {
				return false
			}
			o.n, o.err = unix.Write(int(fd), o.buf[:])
		} else if eventfdNowait() {
			o.err = o.preadNowait(fd)
		} else {
			if !o.ready(fd, unix.POLLIN) {
				return false
			}
			o.n, o.err = unix.Read(int(fd), o.buf[:])
		}
		if o.err != unix.EINTR {
			return o.err != unix.EAGAIN
		}
	}
}

func (o *efdOp) control(fd uintptr) {
	if !o.do(fd) {
		o.err = unix.EAGAIN
	}
}

func (o *efdOp) init(wr bool) { o.wr, o.fn, o.ct = wr, o.do, o.control }

// NewEventFD creates an eventfd with initial count initval; semaphore
// selects EFD_SEMAPHORE mode. The descriptor is close-on-exec and
// blocking; pass it to children through ExtraFiles or SendFiles.
func NewEventFD(initval uint32, semaphore bool) (*EventFD, error) {
	flags := unix.EFD_CLOEXEC | unix.EFD_NONBLOCK // made blocking once registered
	if semaphore {
		flags |= unix.EFD_SEMAPHORE
	}
	fd, err := unix.Eventfd(uint(initval), flags)
	if err != nil {
		return nil, opError("eventfd2", err)
	}
	p, err := newPollFDBlocking(fd, "eventfd")
	if err != nil {
		return nil, err
	}
	return newEventFD(p), nil
}

// EventFDFromFile adopts a duplicate of an eventfd descriptor received
// from another process (for example through ExtraFiles or ReceiveFiles). The
// duplicate shares the sender's open file description; its mode is left
// as it is. The caller still owns f.
func EventFDFromFile(f *os.File) (*EventFD, error) {
	fd, err := dupFile(f)
	if err != nil {
		return nil, err
	}
	p, err := adoptPollFD(fd, "eventfd")
	if err != nil {
		return nil, err
	}
	return newEventFD(p), nil
}

// dupFile duplicates f's descriptor (close-on-exec) through its RawConn:
// f.Fd would switch a file that os.Pipe, os.OpenFile or a net.Conn's File
// made, and the file description under it, to blocking mode for good.
func dupFile(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, opError("fcntl(F_DUPFD_CLOEXEC)", derr)
	}
	return fd, nil
}

func newEventFD(p *pollFD) *EventFD {
	e := &EventFD{p: p}
	e.r.init(false)
	e.w.init(true)
	e.try.init(false)
	return e
}

// File returns the eventfd's descriptor, owned by e, in blocking mode for
// NewEventFD (as it came for EventFDFromFile): hand it to another process
// through ExtraFiles or SendFiles.
func (e *EventFD) File() *os.File { return e.p.f }

// Close closes the descriptor; blocked calls, and every later call, return
// an error matching ErrClosed (and os.ErrClosed). Close is idempotent.
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
		return opError("write", ErrClosed)
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
		return 0, opError("read", ErrClosed)
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
