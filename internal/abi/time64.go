//go:build 386 || arm || mips || mipsle

package abi

import "golang.org/x/sys/unix"

// 32-bit architectures use the _time64 system calls, which take a
// struct __kernel_timespec with 64-bit fields (Linux 5.1 and later).
const (
	SysFutex          = unix.SYS_FUTEX_TIME64
	SysSemtimedop     = unix.SYS_SEMTIMEDOP_TIME64
	SysMqTimedsend    = unix.SYS_MQ_TIMEDSEND_TIME64
	SysMqTimedreceive = unix.SYS_MQ_TIMEDRECEIVE_TIME64
)
