package posix

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pollFD is a non-blocking descriptor registered with the Go runtime
// poller. Waiting parks the goroutine in epoll; no OS thread blocks.
//
// Readers are serialised among themselves, and so are writers, by a
// context-aware semaphore (a buffered channel). Only the holder sits inside
// RawConn.Read/Write, so the descriptor's read (write) deadline belongs to
// exactly one call: a call's context deadline or cancellation never wakes
// another goroutine's call. Goroutines queued behind the holder are parked
// on a channel (again no OS thread) and honour their own contexts there.
type pollFD struct {
	f      *os.File
	rc     syscall.RawConn
	rsem   chan struct{}
	wsem   chan struct{}
	closed chan struct{}
	once   sync.Once

	// dmu guards the deadlines against a late context.AfterFunc; gen
	// changes on every disarm so a stale callback does nothing.
	dmu  sync.Mutex
	rgen uint64
	wgen uint64
}

// newPollFD takes ownership of fd, sets it non-blocking and registers it
// with the runtime poller.
func newPollFD(fd int, name string) (*pollFD, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("newfile", unix.EBADF)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &pollFD{
		f:      f,
		rc:     rc,
		rsem:   make(chan struct{}, 1),
		wsem:   make(chan struct{}, 1),
		closed: make(chan struct{}),
	}, nil
}

// close closes the descriptor; in-flight calls return ErrClosed. Idempotent.
func (p *pollFD) close() error {
	err := os.ErrClosed
	p.once.Do(func() {
		close(p.closed)
		err = p.f.Close()
	})
	if err == os.ErrClosed {
		return nil
	}
	return err
}

// ready reports whether a non-blocking call finished (anything but EAGAIN
// or EINTR).
func ready(err error) bool {
	return err != unix.EAGAIN && err != unix.EINTR
}

// acquire takes the read (write) semaphore, honouring ctx and close.
func (p *pollFD) acquire(ctx context.Context, write bool) error {
	sem := p.rsem
	if write {
		sem = p.wsem
	}
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
	}
	select {
	case sem <- struct{}{}:
		return nil
	case <-done:
		return ctx.Err()
	case <-p.closed:
		return os.ErrClosed
	}
}

// release gives back what acquire took.
func (p *pollFD) release(write bool) {
	if write {
		<-p.wsem
	} else {
		<-p.rsem
	}
}

// wait runs fn through the poller until it returns true, honouring ctx.
// fn must be a func value made once (not a per-call closure) so that the
// call does not allocate. The returned error is a context error, ErrClosed,
// or nil; fn reports its own errno through its receiver.
func (p *pollFD) wait(ctx context.Context, write bool, fn func(uintptr) bool) error {
	sem := p.rsem
	if write {
		sem = p.wsem
	}
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
	}
	select {
	case sem <- struct{}{}:
	case <-done:
		return ctx.Err()
	case <-p.closed:
		return os.ErrClosed
	}
	defer func() { <-sem }()
	return p.waitHeld(ctx, write, fn)
}

// waitHeld is wait for a caller that already holds the semaphore.
func (p *pollFD) waitHeld(ctx context.Context, write bool, fn func(uintptr) bool) error {
	var err error
	if ctx.Done() == nil {
		if write {
			err = p.rc.Write(fn)
		} else {
			err = p.rc.Read(fn)
		}
	} else {
		err = p.waitCtx(ctx, write, fn)
	}
	return p.closedErr(err)
}

// closedErr maps the poller's "use of closed file" to os.ErrClosed.
func (p *pollFD) closedErr(err error) error {
	if err == nil {
		return nil
	}
	select {
	case <-p.closed:
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return os.ErrClosed
		}
	default:
	}
	return err
}

func (p *pollFD) setDeadline(write bool, t time.Time) error {
	if write {
		return p.f.SetWriteDeadline(t)
	}
	return p.f.SetReadDeadline(t)
}

func (p *pollFD) waitCtx(ctx context.Context, write bool, fn func(uintptr) bool) error {
	p.dmu.Lock()
	gen := p.rgen
	if write {
		gen = p.wgen
	}
	dl, hasDL := ctx.Deadline()
	if hasDL {
		if err := p.setDeadline(write, dl); err != nil {
			p.dmu.Unlock()
			return err
		}
	}
	p.dmu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		p.dmu.Lock()
		defer p.dmu.Unlock()
		cur := p.rgen
		if write {
			cur = p.wgen
		}
		if cur == gen {
			p.setDeadline(write, time.Unix(0, 1))
		}
	})
	var err error
	if write {
		err = p.rc.Write(fn)
	} else {
		err = p.rc.Read(fn)
	}
	stop()
	p.dmu.Lock()
	if write {
		p.wgen++
	} else {
		p.rgen++
	}
	p.setDeadline(write, time.Time{})
	p.dmu.Unlock()
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if hasDL {
			return context.DeadlineExceeded
		}
	}
	return err
}

// control runs fn on the descriptor without waiting (for non-blocking
// variants and control calls); it fails with ErrClosed after close.
func (p *pollFD) control(fn func(uintptr)) error {
	return p.closedErr(p.rc.Control(fn))
}

// opError wraps err with the operation name so that errors.Is sees the
// errno, os.ErrClosed or the context error underneath.
func opError(op string, err error) error {
	if err == nil {
		return nil
	}
	return &os.SyscallError{Syscall: op, Err: err}
}
