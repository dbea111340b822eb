package abi

// FutexWaitv is struct futex_waitv (placeholder until gen writes it).
type FutexWaitv struct {
	Val   uint64
	Uaddr uint64
	Flags uint32
	_     uint32
}
