package csp

import (
	"golang.org/x/sys/unix"

	"errors"

	"github.com/ipckit/ipckit/internal/errs"
	"github.com/ipckit/ipckit/mmapring"
)

var (
	// ErrPoisoned is returned by every operation on a channel that was
	// poisoned (Poison on any end or on the Chan, in any process), at once
	// for calls blocked when it happened. Poison is final.
	ErrPoisoned = errors.New("csp: channel poisoned")

	// ErrRetired is returned by Send when every reader end of the channel
	// has retired (a reader Retire or Close): nobody will ever read what is
	// sent. Readers see io.EOF when every writer has retired. New ends of
	// a side that has retired cannot be made either.
	ErrRetired = errors.New("csp: channel retired by every end of the other side")

	// ErrPeerDead is returned when every end of the other side is gone and
	// at least one of them died (its process exited or was killed) without
	// retiring; readers get it only after everything committed was
	// received. It is the ring's error (mmapring.ErrPeerDead).
	ErrPeerDead = mmapring.ErrPeerDead

	// ErrWrongType is matched by the error of opening a channel (ChanOf,
	// ReaderOf, WriterOf, ChanFromFile) with another element type or codec
	// than it was made with.
	ErrWrongType = errors.New("csp: channel carries another type")

	// ErrPassed is returned by the methods of an end that was passed to
	// another process (through proc.Start): that process holds it now.
	// Close on it releases this process's copy without retiring the end.
	ErrPassed = errors.New("csp: end was passed to another process")

	// ErrTooManyEnds is returned when a channel has no free end slot, or a
	// one-to-one channel already has its writer (or reader).
	ErrTooManyEnds = errors.New("csp: channel has no room for another end")

	// ErrTooLarge is returned by Send when a value's encoding is larger than
	// the channel's Options.MaxMessage (codec mode).
	ErrTooLarge = errors.New("csp: encoded value larger than the channel's MaxMessage")

	// ErrClosed is returned by the methods of an end or Chan after Close
	// (or of an end after Retire). It matches os.ErrClosed.
	ErrClosed = errs.ErrClosed

	// ErrCorrupt is matched by errors about shared state that failed
	// validation (a buggy or hostile peer); never a panic.
	ErrCorrupt = errs.ErrCorrupt

	// ErrFull is returned by TrySend when the value cannot be sent without
	// waiting, and ErrEmpty by TryReceive when no value is ready. Both
	// match unix.EAGAIN.
	ErrFull  = errAgain("csp: channel full")
	ErrEmpty = errAgain("csp: channel empty")
)

// againError is a sentinel that also matches unix.EAGAIN.
type againError struct{ msg string }

func errAgain(msg string) error { return &againError{msg} }

func (e *againError) Error() string        { return e.msg }
func (e *againError) Is(target error) bool { return target == unix.EAGAIN }

// corruptError carries detail about shared state that failed validation;
// it matches ErrCorrupt.
type corruptError struct{ what string }

func (e *corruptError) Error() string { return "csp: corrupt shared state: " + e.what }
func (e *corruptError) Unwrap() error { return ErrCorrupt }

// Preallocated so the hot paths stay allocation-free when they detect
// corruption.
var (
	errBadLength = &corruptError{"message of the wrong length for the channel's type"}
	errBadSlot   = &corruptError{"rendezvous message names no end of the channel"}
)
