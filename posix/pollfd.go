package posix

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/ctxwatch"
)

// pollFD is a descriptor whose I/O waits in the Go runtime poller. Waiting
// parks the goroutine in epoll; no OS thread blocks.
//
// Readers are serialised among themselves, and so are writers, by a
// context-aware semaphore (a buffered channel). Only the holder sits inside
// RawConn.Read/Write, so the descriptor's read (write) deadline belongs to
// exactly one call: a call's context deadline or cancellation never wakes
// another goroutine's call. Goroutines queued behind the holder are parked
// on a channel (again no OS thread) and honour their own contexts there.
//
// The descriptor's mode (O_NONBLOCK, a flag of the open file description,
// which every duplicate and every process holding it shares) is set up in
// one of four ways; see newPollFD, newPollFDBlocking and adoptPollFD:
//
//   - non-blocking: f is non-blocking and registered; the I/O functions use
//     plain calls (message queues, the notification socket).
//   - blocking, registered: f was created non-blocking, registered with the
//     poller, and switched to blocking mode before anyone else could see
//     it; the I/O functions never block by themselves (MSG_DONTWAIT,
//     RWF_NOWAIT, a zero-timeout poll first), so f can be handed to a
//     process that expects blocking I/O.
//   - private description: f is a pipe or FIFO end or a message queue,
//     left as it is; the I/O goes through io, a second open file
//     description of the same object (opened through /proc/self/fd),
//     which is non-blocking and registered.
//   - watched: f came from elsewhere, is blocking and cannot be reopened
//     (a socket, an eventfd); it is left as it is and is not registered.
//     Two private epoll instances watch it, one for input and one for
//     output, and those are registered: a wait is a wait for the watcher
//     to become readable, and the I/O functions never block by themselves.
type pollFD struct {
	f      *os.File        // the descriptor the handle was made from (File)
	io     *os.File        // private description (pipes, FIFOs), or nil
	rc     syscall.RawConn // Control/Read/Write on the I/O descriptor (f or io)
	rsem   chan struct{}
	wsem   chan struct{}
	closed chan struct{}
	once   sync.Once

	// watched mode: the watchers, and per-direction adapters (made once,
	// so that waiting does not allocate) that run the current I/O function
	// on the watched descriptor.
	watch [2]*os.File
	wrc   [2]syscall.RawConn
	cur   [2]func(uintptr) bool
	ok    [2]bool
	cerr  [2]error
	adapt [2]func(uintptr) bool
	ctl   [2]func(uintptr)

	// dmu guards the deadlines against the cancellation hook; gen
	// changes on every disarm so a stale hook does nothing.
	dmu  sync.Mutex
	rgen uint64
	wgen uint64
}

func newPollFDStruct(f *os.File, rc syscall.RawConn) *pollFD {
	return &pollFD{
		f:      f,
		rc:     rc,
		rsem:   make(chan struct{}, 1),
		wsem:   make(chan struct{}, 1),
		closed: make(chan struct{}),
	}
}

// newPollFD takes ownership of fd, sets it non-blocking and registers it
// with the runtime poller.
func newPollFD(fd int, name string) (*pollFD, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	f, rc, err := registered(fd, name)
	if err != nil {
		return nil, err
	}
	return newPollFDStruct(f, rc), nil
}

// registered wraps a non-blocking fd in an *os.File, which os.NewFile
// registers with the runtime poller, and returns its RawConn. It takes
// ownership of fd.
func registered(fd int, name string) (*os.File, syscall.RawConn, error) {
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		unix.Close(fd)
		return nil, nil, os.NewSyscallError("newfile", unix.EBADF)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, rc, nil
}

// newPollFDBlocking takes ownership of fd, which this process has just
// created in non-blocking mode and nobody else holds yet: it registers fd
// with the runtime poller (os.NewFile does that only for a non-blocking
// descriptor) and then puts it in blocking mode, the mode other processes
// expect of a descriptor they inherit. The poller keeps watching it (epoll
// does not care about O_NONBLOCK); the caller's I/O functions must not
// block by themselves.
func newPollFDBlocking(fd int, name string) (*pollFD, error) {
	f, rc, err := registered(fd, name)
	if err != nil {
		return nil, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetNonblock(int(fd), false) }); err != nil {
		serr = err
	}
	if serr != nil {
		f.Close()
		return nil, os.NewSyscallError("fcntl(F_SETFL)", serr)
	}
	return newPollFDStruct(f, rc), nil
}

// adoptPollFD takes ownership of fd, a descriptor that may be shared with
// other processes, without changing its mode: a non-blocking one is
// registered as it is; a blocking pipe or FIFO end or message queue gets a private
// non-blocking open file description for this process's I/O; any other
// blocking descriptor is watched (see pollFD). Only if one cannot be
// reopened (no /proc, or a pipe of another user) is fd itself made
// non-blocking, as a last resort.
//
// The caller's I/O functions must not block by themselves on a blocking
// descriptor that cannot be reopened (sockets: MSG_DONTWAIT; eventfd:
// RWF_NOWAIT or a zero-timeout poll first).
func adoptPollFD(fd int, name string) (*pollFD, error) {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fcntl(F_GETFL)", err)
	}
	if fl&unix.O_NONBLOCK != 0 {
		f, rc, err := registered(fd, name)
		if err != nil {
			return nil, err
		}
		return newPollFDStruct(f, rc), nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("fstat", err)
	}
	if reopenable(fd, &st) {
		// Opening /proc/self/fd/N opens the pipe or queue again: a new
		// open file description, with flags of its own (for pipes and
		// FIFOs, fifo_open in fs/pipe.c).
		path := fmt.Sprintf("/proc/self/fd/%d", fd)
		iofd, err := unix.Open(path, fl&unix.O_ACCMODE|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		for err == unix.EINTR {
			iofd, err = unix.Open(path, fl&unix.O_ACCMODE|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		}
		if err != nil {
			return newPollFD(fd, name) // last resort: fd itself becomes non-blocking
		}
		io, rc, err := registered(iofd, name)
		if err != nil {
			unix.Close(fd)
			return nil, err
		}
		p := newPollFDStruct(unregistered(fd, name), rc)
		p.io = io
		return p, nil
	}
	return watchPollFD(unregistered(fd, name))
}

// reopenable reports whether a descriptor can get a second open file
// description through /proc/self/fd: pipes, FIFOs and message queues can;
// sockets and anonymous-inode files (eventfd) cannot (ENXIO).
func reopenable(fd int, st *unix.Stat_t) bool {
	if st.Mode&unix.S_IFMT == unix.S_IFIFO {
		return true
	}
	var fs unix.Statfs_t
	return st.Mode&unix.S_IFMT == unix.S_IFREG && unix.Fstatfs(fd, &fs) == nil && fs.Type == mqueueMagic
}

// unregistered wraps a blocking fd in an *os.File: os.NewFile leaves a
// blocking descriptor out of the poller, and that File's Fd method changes
// nothing.
func unregistered(fd int, name string) *os.File { return os.NewFile(uintptr(fd), name) }

// watchPollFD makes a watched pollFD for f (see pollFD), taking ownership
// of f.
func watchPollFD(f *os.File) (*pollFD, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := newPollFDStruct(f, rc)
	for i, ev := range [2]uint32{unix.EPOLLIN | unix.EPOLLRDHUP, unix.EPOLLOUT} {
		var werr error
		cerr := rc.Control(func(fd uintptr) { p.watch[i], p.wrc[i], werr = newWatcher(int(fd), ev) })
		if werr == nil {
			werr = cerr
		}
		if werr != nil {
			p.closeAll()
			return nil, werr
		}
		p.ctl[i] = func(fd uintptr) { p.ok[i] = p.cur[i](fd) }
		p.adapt[i] = func(uintptr) bool {
			if err := p.rc.Control(p.ctl[i]); err != nil {
				p.cerr[i] = err
				return true
			}
			return p.ok[i]
		}
	}
	return p, nil
}

// newWatcher returns a non-blocking epoll instance, registered with the
// runtime poller, that watches target (level-triggered) for events. It
// becomes readable whenever target has one of them: each wake-up of target
// wakes the watcher's own waiters (ep_poll_callback in fs/eventpoll.c),
// which the runtime poller sees as an edge.
func newWatcher(target int, events uint32) (*os.File, syscall.RawConn, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, nil, os.NewSyscallError("epoll_create1", err)
	}
	ev := unix.EpollEvent{Events: events, Fd: int32(target)}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, target, &ev); err != nil {
		unix.Close(ep)
		return nil, nil, os.NewSyscallError("epoll_ctl", err)
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		unix.Close(ep)
		return nil, nil, os.NewSyscallError("setnonblock", err)
	}
	return registered(ep, "epoll-watcher")
}

// closeAll closes every descriptor of p.
func (p *pollFD) closeAll() error {
	for _, w := range p.watch {
		if w != nil {
			w.Close()
		}
	}
	if p.io != nil {
		p.io.Close()
	}
	return p.f.Close()
}

// close closes the descriptor; in-flight calls return ErrClosed. Idempotent.
func (p *pollFD) close() error {
	var err error
	p.once.Do(func() {
		close(p.closed)
		err = p.closeAll()
	})
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
		return ErrClosed
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
		return ErrClosed
	}
	defer func() { <-sem }()
	return p.waitHeld(ctx, write, fn)
}

// waitHeld is wait for a caller that already holds the semaphore.
func (p *pollFD) waitHeld(ctx context.Context, write bool, fn func(uintptr) bool) error {
	var err error
	if ctx.Done() == nil {
		err = p.rawWait(write, fn)
	} else {
		err = p.waitCtx(ctx, write, fn)
	}
	return p.closedErr(err)
}

// rawWait runs fn on the I/O descriptor until it returns true, waiting in
// the poller in between: on the descriptor itself, or on its watcher.
func (p *pollFD) rawWait(write bool, fn func(uintptr) bool) error {
	if p.watch[0] == nil {
		if write {
			return p.rc.Write(fn)
		}
		return p.rc.Read(fn)
	}
	i := 0
	if write {
		i = 1
	}
	p.cur[i], p.cerr[i] = fn, nil
	err := p.wrc[i].Read(p.adapt[i])
	p.cur[i] = nil
	if err == nil {
		err = p.cerr[i]
	}
	return err
}

// closedErr maps the poller's "use of closed file" to ErrClosed.
func (p *pollFD) closedErr(err error) error {
	if err == nil {
		return nil
	}
	select {
	case <-p.closed:
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return ErrClosed
		}
	default:
	}
	return err
}

func (p *pollFD) setDeadline(write bool, t time.Time) error {
	switch {
	case p.watch[0] != nil && write:
		return p.watch[1].SetReadDeadline(t)
	case p.watch[0] != nil:
		return p.watch[0].SetReadDeadline(t)
	}
	f := p.f
	if p.io != nil {
		f = p.io
	}
	if write {
		return f.SetWriteDeadline(t)
	}
	return f.SetReadDeadline(t)
}

// expireDeadline is waitCtx's cancellation hook: it moves the waiting
// side's deadline into the past, unless that wait has already ended.
func expireDeadline(w *ctxwatch.Watch) bool {
	p := (*pollFD)(w.Ptr)
	write := w.Args[0] == 1
	p.dmu.Lock()
	defer p.dmu.Unlock()
	cur := p.rgen
	if write {
		cur = p.wgen
	}
	if uintptr(cur) == w.Args[1] {
		p.setDeadline(write, time.Unix(0, 1))
	}
	return false
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
	w := ctxwatch.Get()
	w.Ptr = unsafe.Pointer(p)
	w.Args = [2]uintptr{0, uintptr(gen)}
	if write {
		w.Args[0] = 1
	}
	w.Start(ctx, expireDeadline)
	err := p.rawWait(write, fn)
	w.Stop()
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
