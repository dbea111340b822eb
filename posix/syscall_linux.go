package posix

import "github.com/ipckit/ipckit/internal/abi"

var _ abi.MqAttr

// Prototypes for ../gen: one //sys line per system call; the generator
// writes zsyscall_linux.go from them. These are the raw kernel calls: queue
// names carry no leading slash (see OpenQueue for glibc's name rules), and
// timeouts are absolute CLOCK_REALTIME.

//sys	mqOpen(name *byte, oflag int, mode uint32, attr *abi.MqAttr) (fd int, err error) = unix.SYS_MQ_OPEN
//sys	mqUnlink(name *byte) (err error) = unix.SYS_MQ_UNLINK
//sys	MqTimedsend(mqd int, msg []byte, prio uint32, abstime *abi.Timespec) (err error) = abi.SysMqTimedsend
//sys	MqTimedreceive(mqd int, buf []byte, prio *uint32, abstime *abi.Timespec) (n int, err error) = abi.SysMqTimedreceive
//sys	MqNotify(mqd int, sev *abi.Sigevent) (err error) = unix.SYS_MQ_NOTIFY
//sys	MqGetsetattr(mqd int, attr *abi.MqAttr, oldattr *abi.MqAttr) (err error) = unix.SYS_MQ_GETSETATTR
