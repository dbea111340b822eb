package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/posix"
)

// POSIX message queue row: two queues (one each way) through the posix
// package, whose descriptors wait in the Go runtime poller. The parent
// creates them, the child opens them by name, and the parent unlinks them
// when the row ends. A zero-length message ends a stream.

type mqConn struct {
	r, w  *posix.Queue
	buf   []byte
	names []string // set in the parent, which unlinks them
}

func (c *mqConn) send(b []byte) error { return c.w.Send(bg, b, 0) }
func (c *mqConn) closeSend() error    { return c.w.Send(bg, nil, 0) }

func (c *mqConn) recv(b []byte) (int, error) {
	n, _, err := c.r.Receive(bg, c.buf)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return copy(b, c.buf[:n]), nil
}

func (c *mqConn) close() {
	c.r.Close()
	c.w.Close()
	for _, n := range c.names {
		posix.UnlinkQueue(n)
	}
}

var mqSeq int

func mqCreate(size int) (*posix.Queue, error) {
	mqSeq++
	name := fmt.Sprintf("/ipckit-bench-%d-%d", os.Getpid(), mqSeq)
	q, err := posix.CreateQueue(name, 10, size)
	if err != nil {
		return nil, &skipError{err.Error()}
	}
	return q, nil
}

func mqSetup(size int, mode string) (conn, []*os.File, []string, func(), error) {
	ab, err := mqCreate(size)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	ba, err := mqCreate(size)
	if err != nil {
		ab.Close()
		ab.Unlink()
		return nil, nil, nil, nil, err
	}
	c := &mqConn{r: ba, w: ab, buf: make([]byte, size), names: []string{ab.Name(), ba.Name()}}
	return c, nil, []string{ab.Name(), ba.Name()}, c.close, nil
}

func mqOpen(size int, mode string, args []string) (conn, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("mq child: want two queue names, got %q", args)
	}
	r, err := posix.OpenQueueFlags(args[0], unix.O_RDONLY, 0, nil)
	if err != nil {
		return nil, err
	}
	w, err := posix.OpenQueueFlags(args[1], unix.O_WRONLY, 0, nil)
	if err != nil {
		r.Close()
		return nil, err
	}
	return &mqConn{r: r, w: w, buf: make([]byte, size)}, nil
}

// mqSizeOK skips sizes above fs.mqueue.msgsize_max.
func mqSizeOK(size int) string {
	b, err := os.ReadFile("/proc/sys/fs/mqueue/msgsize_max")
	if err != nil {
		return ""
	}
	if m, _ := strconv.Atoi(strings.TrimSpace(string(b))); m > 0 && size > m {
		return fmt.Sprintf("fs.mqueue.msgsize_max is %d", m)
	}
	return ""
}
