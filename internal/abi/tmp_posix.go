package abi

import "unsafe"

// Placeholders for the generated POSIX types (posix area); the lead deletes
// this file when gen emits them per architecture.

// MqAttr is struct mq_attr: four C longs and four reserved longs.
type MqAttr struct {
	Flags   int
	Maxmsg  int
	Msgsize int
	Curmsgs int
	_       [4]int
}

// Sigevent is struct sigevent as mq_notify reads it (64 bytes).
type Sigevent struct {
	Value  uintptr // union sigval
	Signo  int32
	Notify int32
	Un     [64 - 8 - unsafe.Sizeof(uintptr(0))]byte
}
