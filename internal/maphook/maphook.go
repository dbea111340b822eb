// Package maphook lets package sysv hand memory it attached (shmat) to
// package posix's mapping layer, so that sysv.Segment.Attach returns a
// *posix.Mapping without posix exporting a constructor for arbitrary
// memory. Package posix sets Adopt when it is initialised; sysv imports
// posix, so Adopt is set before sysv can call it.
package maphook

// Adopt wraps b, mapped by another system call, in a *posix.Mapping
// (returned as any to keep this package below posix). The Mapping's last
// Close calls release(b), and op names that call in its error. readOnly
// records that the memory cannot be written. The memory is treated as
// fixed-size: Truncatable reports false and Resize is refused.
var Adopt func(b []byte, readOnly bool, op string, release func([]byte) error) any
