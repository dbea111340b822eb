package abi

import "time"

// Timespec is struct __kernel_timespec: 64-bit seconds and nanoseconds on
// every architecture, as the _time64 system calls and futex2 expect.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// NsecToTimespec converts a duration in nanoseconds.
func NsecToTimespec(ns int64) Timespec {
	return Timespec{Sec: ns / 1e9, Nsec: ns % 1e9}
}

// DurationToTimespec converts d, clamping negative values to zero.
func DurationToTimespec(d time.Duration) Timespec {
	if d < 0 {
		d = 0
	}
	return NsecToTimespec(int64(d))
}

// TimeToTimespec converts an absolute time (CLOCK_REALTIME).
func TimeToTimespec(t time.Time) Timespec {
	return NsecToTimespec(t.UnixNano())
}
