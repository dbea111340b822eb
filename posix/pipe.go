package posix

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxFrame is the largest message Conn.Send accepts: the 4-byte signed
// big-endian length prefix that Python's multiprocessing.connection uses
// for messages under 2 GiB.
const MaxFrame = 1<<31 - 1

// ErrBrokenStream is returned by Send after an earlier Send was cancelled
// part-way through a message: the stream would no longer be framed.
var ErrBrokenStream = errors.New("posix: stream broken by a cancelled partial send")

// MsgSizeError is returned by Receive when the next message does not fit in
// the buffer. The message stays queued: call Receive again with a buffer of
// at least Size bytes (or use ReceiveBytes).
type MsgSizeError struct{ Size int }

func (e *MsgSizeError) Error() string {
	return fmt.Sprintf("posix: next message is %d bytes, larger than the buffer", e.Size)
}

// Is makes errors.Is(err, unix.EMSGSIZE) true.
func (e *MsgSizeError) Is(target error) bool { return target == unix.EMSGSIZE }

// Conn is one end of a pipe, socket pair or FIFO carrying length-prefixed
// messages, like Python's multiprocessing.Connection (send_bytes /
// recv_bytes use the same framing: a 4-byte big-endian length, then the
// bytes). The descriptor waits in the Go runtime poller. A Conn is safe for
// concurrent use: senders take turns, and so do receivers.
type Conn struct {
	p      *pollFD
	broken atomic.Bool
	w      frameWriter
	r      frameReader
	pl     pollOp
}

// Pipe returns two connected Conns. With duplex, both ends send and
// receive (a Unix stream socket pair); otherwise r only receives and w
// only sends (a pipe), as multiprocessing.Pipe(duplex=False) returns
// (reader, writer).
//
// Both descriptors are in blocking mode, as multiprocessing.Pipe makes
// them, so either end's File can be handed to another process (ExtraFiles,
// SendFiles) that reads and writes it with blocking calls: a Python
// multiprocessing.connection.Connection, or C's read(2). The Conns
// themselves still wait in the Go runtime poller, never in a system call:
// a pipe end does its I/O through a private non-blocking open file
// description of the same pipe, and a socket end uses MSG_DONTWAIT.
func Pipe(duplex bool) (r, w *Conn, err error) {
	if duplex {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			return nil, nil, opError("socketpair", err)
		}
		r, err = newConn(fds[0], "socketpair", true)
		if err != nil {
			unix.Close(fds[1])
			return nil, nil, err
		}
		w, err = newConn(fds[1], "socketpair", true)
		if err != nil {
			r.Close()
			return nil, nil, err
		}
		return r, w, nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, opError("pipe2", err)
	}
	r, err = newConn(fds[0], "pipe", false)
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	w, err = newConn(fds[1], "pipe", false)
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, w, nil
}

// ConnFromFile adopts a pipe end, FIFO or stream socket inherited or
// received from another process (ExtraFiles, ReceiveFiles, proc), or any
// such *os.File of this process (os.Pipe, net.UnixConn.File). It
// duplicates the descriptor (the caller still owns f, and should close it
// when done) and waits for it in the runtime poller. It never changes the
// mode of the open file description (O_NONBLOCK belongs to it, and other
// processes holding the same description share it): a blocking pipe or
// FIFO end gets a private non-blocking open file description for the
// Conn's own I/O (reopened through /proc/self/fd; only where that fails,
// for want of /proc or for a pipe of another user, is the description
// itself made non-blocking); a blocking socket is watched through private
// epoll instances and read and written with MSG_DONTWAIT.
func ConnFromFile(f *os.File) (*Conn, error) {
	fd, err := dupFile(f)
	if err != nil {
		return nil, err
	}
	return newConn(fd, f.Name(), false)
}

// newConn makes a Conn of fd, which it owns; fresh means fd was just created here in non-blocking
// mode and nobody else holds it (it is registered, then made blocking).
func newConn(fd int, name string, fresh bool) (*Conn, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, opError("fstat", err)
	}
	var p *pollFD
	var err error
	if fresh {
		p, err = newPollFDBlocking(fd, name)
	} else {
		p, err = adoptPollFD(fd, name)
	}
	if err != nil {
		return nil, err
	}
	c := &Conn{p: p}
	sock := st.Mode&unix.S_IFMT == unix.S_IFSOCK
	c.w.sock, c.r.sock = sock, sock
	c.w.fn = c.w.write
	c.r.fn = c.r.read
	c.pl.fn = c.pl.poll
	return c, nil
}

// File returns the descriptor the Conn was made from, in the mode it was
// made in (blocking for Pipe and OpenFifo), to hand to another process
// through ExtraFiles or SendFiles. It stays owned by c. The Conn's own I/O
// may go through a private open file description of the same pipe (see
// ConnFromFile), so do not mix reads through File with the Conn's Receive.
func (c *Conn) File() *os.File { return c.p.f }

// Close closes the descriptor; blocked calls, and every later call, return
// an error matching ErrClosed (and os.ErrClosed). Close is idempotent.
func (c *Conn) Close() error { return opError("close", c.p.close()) }

type frameWriter struct {
	sock bool // sendmsg with MSG_DONTWAIT instead of writev
	hdr  [4]byte
	iov  [2]unix.Iovec
	mh   unix.Msghdr
	msg  []byte
	off  int // bytes of header+message written
	err  error
	fn   func(uintptr) bool
}

func (w *frameWriter) write(fd uintptr) bool {
	total := 4 + len(w.msg)
	for w.off < total {
		n := 0
		if w.off < 4 {
			w.iov[0].Base = &w.hdr[w.off]
			w.iov[0].SetLen(4 - w.off)
			n = 1
			if len(w.msg) > 0 {
				w.iov[1].Base = &w.msg[0]
				w.iov[1].SetLen(len(w.msg))
				n = 2
			}
		} else {
			w.iov[0].Base = &w.msg[w.off-4]
			w.iov[0].SetLen(total - w.off)
			n = 1
		}
		var r uintptr
		var e unix.Errno
		if w.sock {
			w.mh.Iov = &w.iov[0]
			w.mh.SetIovlen(n)
			r, _, e = unix.Syscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&w.mh)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
			w.mh.Iov = nil
		} else {
			r, _, e = unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(n))
		}
		if e == unix.EINTR {
			continue
		}
		if e == unix.EAGAIN {
			return false
		}
		if e != 0 {
			w.err = e
			return true
		}
		w.off += int(r)
	}
	return true
}

// Send writes msg as one message, waiting (in the poller) while the pipe is
// full until ctx is done. If ctx ends after part of the message was
// written, the Conn's sending side is broken (ErrBrokenStream from then
// on), because the peer would otherwise read a torn frame.
func (c *Conn) Send(ctx context.Context, msg []byte) error {
	if len(msg) > MaxFrame {
		return opError("send", unix.EMSGSIZE)
	}
	return opError("send", c.send(ctx, msg))
}

func (c *Conn) send(ctx context.Context, msg []byte) error {
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
	}
	select {
	case c.p.wsem <- struct{}{}:
	case <-done:
		return ctx.Err()
	case <-c.p.closed:
		return ErrClosed
	}
	defer func() { <-c.p.wsem }()
	if c.broken.Load() {
		return ErrBrokenStream
	}
	w := &c.w
	binary.BigEndian.PutUint32(w.hdr[:], uint32(len(msg)))
	w.msg, w.off, w.err = msg, 0, nil
	raceReadRange(msg)
	err := c.p.waitHeld(ctx, true, w.fn)
	if err == nil {
		err = w.err
	}
	if err != nil && w.off > 0 && w.off < 4+len(msg) {
		c.broken.Store(true)
	}
	w.msg = nil
	return err
}

type frameReader struct {
	sock bool // recvfrom with MSG_DONTWAIT instead of read
	hdr  [4]byte
	hoff int // header bytes read
	size int // body size once the header is complete
	boff int // body bytes read
	buf  []byte
	err  error
	fn   func(uintptr) bool
	// partial holds the body bytes an interrupted Receive had read
	partial []byte
}

var errTooSmall = errors.New("buffer too small")

func (r *frameReader) read(fd uintptr) bool {
	for r.hoff < 4 {
		n, err := r.readSome(fd, r.hdr[r.hoff:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil:
			r.err = err
			return true
		case n == 0:
			if r.hoff == 0 {
				r.err = io.EOF
			} else {
				r.err = io.ErrUnexpectedEOF
			}
			return true
		}
		r.hoff += n
		if r.hoff == 4 {
			r.size = int(binary.BigEndian.Uint32(r.hdr[:]))
			r.boff = 0
			if r.size > MaxFrame {
				r.err = fmt.Errorf("posix: frame length %#x is negative (multiprocessing's 8-byte extension is not supported)", uint32(r.size))
				return true
			}
		}
	}
	if r.size > len(r.buf) {
		r.err = errTooSmall
		return true
	}
	for r.boff < r.size {
		n, err := r.readSome(fd, r.buf[r.boff:r.size])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return false
		case err != nil:
			r.err = err
			return true
		case n == 0:
			r.err = io.ErrUnexpectedEOF
			return true
		}
		r.boff += n
	}
	return true
}

// readSome reads into b (not empty) without blocking.
func (r *frameReader) readSome(fd uintptr, b []byte) (int, error) {
	if !r.sock {
		return unix.Read(int(fd), b)
	}
	n, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Receive reads the next message into buf and returns its length, waiting
// until ctx is done. At the end of the stream it returns io.EOF. A message
// longer than buf gives a *MsgSizeError and stays queued. A Receive cancelled
// part-way keeps what it read, and the next Receive continues the message.
func (c *Conn) Receive(ctx context.Context, buf []byte) (int, error) {
	n, err := c.recv(ctx, buf)
	if err != nil && err != io.EOF {
		return n, opError("recv", err)
	}
	return n, err
}

func (c *Conn) recv(ctx context.Context, buf []byte) (int, error) {
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return 0, ctx.Err()
		default:
		}
	}
	select {
	case c.p.rsem <- struct{}{}:
	case <-done:
		return 0, ctx.Err()
	case <-c.p.closed:
		return 0, ErrClosed
	}
	defer func() { <-c.p.rsem }()
	r := &c.r
	if r.hoff == 4 && r.size > len(buf) {
		return 0, &MsgSizeError{Size: r.size}
	}
	if r.boff > 0 {
		// continuing a message whose first part an earlier, interrupted
		// Receive read (and saved)
		copy(buf, r.partial[:r.boff])
	}
	r.buf, r.err = buf, nil
	err := c.p.waitHeld(ctx, false, r.fn)
	if err == nil {
		err = r.err
	}
	r.buf = nil
	if err == errTooSmall {
		return 0, &MsgSizeError{Size: r.size}
	}
	if err != nil {
		if r.boff > 0 {
			// The caller owns buf again: keep our own copy of the part
			// read so far (allocates only on this interrupted path).
			r.partial = append(r.partial[:0], buf[:r.boff]...)
		}
		return 0, err
	}
	n := r.size
	raceWriteRange(buf[:n])
	r.hoff, r.size, r.boff = 0, 0, 0
	return n, nil
}

// ReceiveBytes reads the next message into a new slice of its exact size.
func (c *Conn) ReceiveBytes(ctx context.Context) ([]byte, error) {
	_, err := c.Receive(ctx, nil)
	if err == nil {
		return []byte{}, nil // an empty message
	}
	var se *MsgSizeError
	if !errors.As(err, &se) {
		return nil, err
	}
	buf := make([]byte, se.Size)
	n, err := c.Receive(ctx, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

type pollOp struct {
	fds [1]unix.PollFd
	fn  func(uintptr) bool
}

func (o *pollOp) poll(fd uintptr) bool {
	o.fds[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	for {
		n, err := unix.Poll(o.fds[:], 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || n > 0
	}
}

// Poll reports whether Receive would not wait: a message (or part of one) is
// readable, or the peer has closed. It waits until that is true or ctx is
// done (then it returns false and ctx's error), like Python's
// Connection.poll(timeout).
func (c *Conn) Poll(ctx context.Context) (bool, error) {
	done := ctx.Done()
	select {
	case c.p.rsem <- struct{}{}:
	case <-done:
		return false, ctx.Err()
	case <-c.p.closed:
		return false, opError("poll", ErrClosed)
	}
	defer func() { <-c.p.rsem }()
	if c.r.hoff > 0 {
		return true, nil
	}
	if err := c.p.waitHeld(ctx, false, c.pl.fn); err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return false, err
		}
		return false, opError("poll", err)
	}
	return true, nil
}
