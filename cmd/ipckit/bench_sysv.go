package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ipckit/ipckit/sysv"
)

// SysV message queue row: one IPC_PRIVATE queue through the sysv package,
// mtype 1 parent→child and 2 child→parent; a zero-length message ends a
// stream. SendMsg/ReceiveMsg use a prepared Msgbuf, so the row measures
// the kernel's queue, not an extra copy.

type sysvConn struct {
	q           *sysv.Queue
	sendT, rcvT int
	sbuf, rbuf  sysv.Msgbuf
	owner       bool
}

func (c *sysvConn) msgsnd(b []byte) error {
	m := c.sbuf[:sysv.SizeofLong+len(b)]
	m.SetType(c.sendT)
	copy(m.Text(), b)
	return c.q.SendMsg(bg, m)
}

func (c *sysvConn) send(b []byte) error { return c.msgsnd(b) }
func (c *sysvConn) closeSend() error    { return c.msgsnd(nil) }

func (c *sysvConn) recv(b []byte) (int, error) {
	n, err := c.q.ReceiveMsg(bg, c.rbuf, c.rcvT, 0)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return copy(b, c.rbuf.Text()[:n]), nil
}

func (c *sysvConn) close() {
	if c.owner {
		c.q.Remove()
	}
}

func sysvMsgmax() int {
	b, err := os.ReadFile("/proc/sys/kernel/msgmax")
	if err != nil {
		return 8192
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func newSysvConn(q *sysv.Queue, size, sendT, rcvT int, owner bool) *sysvConn {
	return &sysvConn{q: q, sendT: sendT, rcvT: rcvT, sbuf: sysv.NewMsgbuf(size), rbuf: sysv.NewMsgbuf(size), owner: owner}
}

func sysvSetup(size int, mode string) (conn, []*os.File, []string, func(), error) {
	q, err := sysv.CreateQueue(sysv.IPCPrivate, nil)
	if err != nil {
		return nil, nil, nil, nil, &skipError{err.Error()}
	}
	c := newSysvConn(q, size, 1, 2, true)
	return c, nil, []string{strconv.Itoa(q.ID())}, c.close, nil
}

func sysvOpen(size int, mode string, args []string) (conn, error) {
	id, err := strconv.Atoi(args[0])
	if err != nil {
		return nil, err
	}
	q, err := sysv.QueueFromID(id)
	if err != nil {
		return nil, err
	}
	return newSysvConn(q, size, 2, 1, false), nil
}

// sysvSizeOK skips sizes above kernel.msgmax.
func sysvSizeOK(size int) string {
	if m := sysvMsgmax(); size > m {
		return fmt.Sprintf("kernel.msgmax is %d", m)
	}
	return ""
}
