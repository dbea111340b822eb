package main

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Byte-stream rows: a pair of pipes and a Unix stream socketpair, used
// with plain blocking read/write system calls (what a C program does), so
// the row measures the kernel transport rather than Go's poller.

type fdConn struct {
	rfd, wfd int
}

func (c *fdConn) send(b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(c.wfd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func (c *fdConn) recv(b []byte) (int, error) {
	got := 0
	for got < len(b) {
		n, err := unix.Read(c.rfd, b[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return got, err
		}
		if n == 0 {
			return got, io.EOF
		}
		got += n
	}
	return got, nil
}

func (c *fdConn) closeSend() error {
	if c.wfd < 0 {
		return nil
	}
	if c.rfd == c.wfd {
		return unix.Shutdown(c.wfd, unix.SHUT_WR)
	}
	err := unix.Close(c.wfd)
	c.wfd = -1
	return err
}

func (c *fdConn) close() {
	if c.rfd >= 0 {
		unix.Close(c.rfd)
	}
	if c.wfd >= 0 && c.rfd != c.wfd {
		unix.Close(c.wfd)
	}
	c.rfd, c.wfd = -1, -1
}

func fileOf(fd int, name string) *os.File { return os.NewFile(uintptr(fd), name) }

func pipeSetup(size int, mode string) (conn, []*os.File, []string, func(), error) {
	var ab, ba [2]int
	if err := unix.Pipe2(ab[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, nil, nil, os.NewSyscallError("pipe2", err)
	}
	if err := unix.Pipe2(ba[:], unix.O_CLOEXEC); err != nil {
		unix.Close(ab[0])
		unix.Close(ab[1])
		return nil, nil, nil, nil, os.NewSyscallError("pipe2", err)
	}
	childR, childW := fileOf(ab[0], "pipe-r"), fileOf(ba[1], "pipe-w")
	c := &fdConn{rfd: ba[0], wfd: ab[1]}
	cleanup := func() { childR.Close(); childW.Close(); c.close() }
	// The child's ends stay open here until cleanup; ExtraFiles dups them.
	return &closingConn{c, func() { childR.Close(); childW.Close() }}, []*os.File{childR, childW}, nil, cleanup, nil
}

// closingConn closes the parent's copies of the child's descriptors on the
// first closeSend, so EOF can reach the child.
type closingConn struct {
	*fdConn
	drop func()
}

func (c *closingConn) closeSend() error {
	if c.drop != nil {
		c.drop()
		c.drop = nil
	}
	return c.fdConn.closeSend()
}

func pipeOpen(size int, mode string, args []string) (conn, error) {
	return &fdConn{rfd: 3, wfd: 4}, nil
}

func sockSetup(size int, mode string) (conn, []*os.File, []string, func(), error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, nil, nil, os.NewSyscallError("socketpair", err)
	}
	child := fileOf(fds[1], "sock")
	c := &fdConn{rfd: fds[0], wfd: fds[0]}
	return &closingConn{c, func() { child.Close() }}, []*os.File{child}, nil, func() { child.Close(); c.close() }, nil
}

func sockOpen(size int, mode string, args []string) (conn, error) {
	return &fdConn{rfd: 3, wfd: 3}, nil
}
