package abi

import "time"

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
