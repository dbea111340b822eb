//go:build !(386 || arm || mips || mipsle)

package abi

import "golang.org/x/sys/unix"

// 64-bit architectures: the classic calls already take 64-bit timespecs.
const (
	SysFutex          = unix.SYS_FUTEX
	SysSemtimedop     = unix.SYS_SEMTIMEDOP
	SysMqTimedsend    = unix.SYS_MQ_TIMEDSEND
	SysMqTimedreceive = unix.SYS_MQ_TIMEDRECEIVE
)
