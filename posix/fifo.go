package posix

import (
	"context"
	"os"

	"golang.org/x/sys/unix"
)

// Mkfifo creates a named pipe at path with perm (0 means 0600).
func Mkfifo(path string, perm os.FileMode) error {
	if perm == 0 {
		perm = 0o600
	}
	if err := unix.Mkfifo(path, uint32(perm.Perm())); err != nil {
		return &os.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	return nil
}

// OpenFifo opens the FIFO at path for reading (unix.O_RDONLY) or writing
// (unix.O_WRONLY) and returns a Conn in the runtime poller. Like open(2)
// without O_NONBLOCK it waits until the other end is opened too, so that
// a reader does not see end-of-file before any writer came; the wait
// occupies one OS thread inside open(2). Cancelling ctx releases it
// without polling: OpenFifo then opens the other end itself (non-blocking),
// which completes the pending open, and closes both.
//
// With unix.O_RDWR (Linux-specific) it opens at once.
//
// The descriptor (Conn.File) stays in blocking mode, for a process it is
// handed to; the Conn does its own I/O through a private non-blocking open
// file description of the FIFO (see ConnFromFile).
func OpenFifo(ctx context.Context, path string, flag int) (*Conn, error) {
	acc := flag & unix.O_ACCMODE
	flag |= unix.O_CLOEXEC | unix.O_NOFOLLOW
	var fd int
	var err error
	if acc == unix.O_RDWR {
		fd, err = openRetry(path, flag&^unix.O_NONBLOCK, 0) // never waits on Linux (fifo_open)
	} else {
		fd, err = openFifoWait(ctx, path, flag, acc)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: path, Err: unix.EINVAL}
	}
	return newConn(fd, path, false)
}

func openFifoWait(ctx context.Context, path string, flag, acc int) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		fd, err := openRetry(path, flag&^unix.O_NONBLOCK, 0)
		ch <- result{fd, err}
	}()
	select {
	case r := <-ch:
		return r.fd, r.err
	case <-ctx.Done():
	}
	// Complete the pending open by opening the other end ourselves.
	other := unix.O_WRONLY
	if acc == unix.O_WRONLY {
		other = unix.O_RDONLY
	}
	kick, kerr := openRetry(path, other|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	r := <-ch
	if kerr == nil {
		unix.Close(kick)
	}
	if r.err == nil {
		unix.Close(r.fd)
	}
	return -1, ctx.Err()
}
