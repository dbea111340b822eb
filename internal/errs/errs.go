// Package errs holds the error sentinels that mean the same thing in every
// ipckit package (CONTRIBUTING.md, "API vocabulary"). Packages re-export
// them (posix.ErrClosed is errs.ErrClosed), so errors.Is matches one value
// whichever package returned the error.
package errs

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// sentinel is an error that also matches the standard errors in also, so
// that errors.Is(ErrClosed, os.ErrClosed) holds without the two being the
// same value (whose messages would say "file already closed" about a
// mapping or a ring).
type sentinel struct {
	msg  string
	also []error
}

func (e *sentinel) Error() string { return e.msg }

func (e *sentinel) Is(target error) bool {
	for _, a := range e.also {
		if target == a {
			return true
		}
	}
	return false
}

var (
	// ErrClosed is returned by every method of a handle after its Close,
	// except Close itself (which returns nil). It matches os.ErrClosed.
	ErrClosed error = &sentinel{"use of a closed handle", []error{os.ErrClosed}}

	// ErrNotSupported reports that the kernel, the architecture or the
	// build lacks a feature. It matches errors.ErrUnsupported.
	ErrNotSupported error = &sentinel{"not supported", []error{errors.ErrUnsupported}}

	// ErrCorrupt reports shared state that failed validation: a value
	// written by a buggy, dead or hostile process, or memory that
	// vanished under a mapping (a peer truncated the file). It is never
	// a panic.
	ErrCorrupt error = &sentinel{"corrupt shared state", nil}

	// ErrInvalidName reports a name refused before any system call. It
	// matches fs.ErrInvalid (os.ErrInvalid); where the C library would
	// fail with an errno for the same name, the error returned wraps that
	// errno too.
	ErrInvalidName error = &sentinel{"invalid name", []error{fs.ErrInvalid}}
)

// WouldBlock returns errno (the kernel's answer to a call that was told
// not to wait, such as ENOMSG from msgrcv with IPC_NOWAIT) as an error
// that also matches unix.EAGAIN, the errno every ipckit Try* call's "would
// block" error matches.
func WouldBlock(errno unix.Errno) error {
	if errno == unix.EAGAIN {
		return errno
	}
	return wouldBlock{errno}
}

type wouldBlock struct{ errno unix.Errno }

func (e wouldBlock) Error() string        { return e.errno.Error() }
func (e wouldBlock) Unwrap() error        { return e.errno }
func (e wouldBlock) Is(target error) bool { return target == unix.EAGAIN }
