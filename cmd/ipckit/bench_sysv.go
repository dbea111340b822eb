package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SysV message queue row: one IPC_PRIVATE queue, mtype 1 parent→child and
// 2 child→parent; a zero-length message ends a stream. Raw msgsnd/msgrcv
// system calls (TODO(lead): switch to the sysv package once merged).

type sysvConn struct {
	qid         int
	sendT, rcvT int
	buf         []byte // mtype (a C long = Go int on Linux) + payload
	owner       bool
}

const longSize = int(unsafe.Sizeof(int(0)))

func (c *sysvConn) msgsnd(b []byte) error {
	*(*int)(unsafe.Pointer(&c.buf[0])) = c.sendT
	copy(c.buf[longSize:], b)
	for {
		_, _, e := unix.Syscall6(unix.SYS_MSGSND, uintptr(c.qid), uintptr(unsafe.Pointer(&c.buf[0])), uintptr(len(b)), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return os.NewSyscallError("msgsnd", e)
		}
		return nil
	}
}

func (c *sysvConn) send(b []byte) error { return c.msgsnd(b) }
func (c *sysvConn) closeSend() error    { return c.msgsnd(nil) }

func (c *sysvConn) recv(b []byte) (int, error) {
	for {
		n, _, e := unix.Syscall6(unix.SYS_MSGRCV, uintptr(c.qid), uintptr(unsafe.Pointer(&c.buf[0])), uintptr(len(c.buf)-longSize), uintptr(c.rcvT), 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, os.NewSyscallError("msgrcv", e)
		}
		if n == 0 {
			return 0, io.EOF
		}
		return copy(b, c.buf[longSize:longSize+int(n)]), nil
	}
}

func (c *sysvConn) close() {
	if c.owner {
		unix.Syscall(unix.SYS_MSGCTL, uintptr(c.qid), uintptr(unix.IPC_RMID), 0)
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

func sysvSetup(size int, mode string) (conn, []*os.File, []string, func(), error) {
	id, _, e := unix.Syscall(unix.SYS_MSGGET, uintptr(unix.IPC_PRIVATE), uintptr(unix.IPC_CREAT|0o600), 0)
	if e != 0 {
		return nil, nil, nil, nil, &skipError{fmt.Sprintf("msgget: %v", e)}
	}
	c := &sysvConn{qid: int(id), sendT: 1, rcvT: 2, buf: make([]byte, longSize+size), owner: true}
	return c, nil, []string{strconv.Itoa(int(id))}, c.close, nil
}

func sysvOpen(size int, mode string, args []string) (conn, error) {
	id, err := strconv.Atoi(args[0])
	if err != nil {
		return nil, err
	}
	return &sysvConn{qid: id, sendT: 2, rcvT: 1, buf: make([]byte, longSize+size)}, nil
}

// Registered in variable initialisation, which runs before any init
// function, so the bench child dispatch in bench.go's init sees them all.
var _ = []bool{
	addTransport(&transport{name: nameSysV, order: 12, setup: sysvSetup, open: sysvOpen,
		sizeOK: func(size int) string {
			if m := sysvMsgmax(); size > m {
				return fmt.Sprintf("kernel.msgmax is %d", m)
			}
			return ""
		}}),
}
