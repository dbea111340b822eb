package mmapring

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/errs"
)

// wouldBlock is a Try call's "would block" error: it matches unix.EAGAIN,
// as every ipckit Try call's does.
type wouldBlock struct{ msg string }

func (e *wouldBlock) Error() string        { return e.msg }
func (e *wouldBlock) Is(target error) bool { return target == unix.EAGAIN }

var (
	// ErrFull is returned by TrySend and TryReserve when the ring has no
	// room. It matches unix.EAGAIN.
	ErrFull error = &wouldBlock{"mmapring: ring full"}
	// ErrEmpty is returned by TryReceive and TryPeek when no message is
	// ready. It matches unix.EAGAIN.
	ErrEmpty error = &wouldBlock{"mmapring: ring empty"}
	// ErrClosed is returned by a handle whose Ring (or which itself) was
	// closed in this process, and when sending on a ring a producer has
	// closed or a Queue that was shut down (consumers see io.EOF instead
	// once the ring is drained). It is ipckit's one closed-handle error
	// (the same value as posix.ErrClosed) and matches os.ErrClosed.
	ErrClosed = errs.ErrClosed
	// ErrPeerDead is returned by a blocked call when every process on the
	// other side that ever attached is proven dead and nothing is left.
	ErrPeerDead = errors.New("mmapring: peer process died")
	// ErrTooLarge is returned for a message longer than MaxMessage.
	ErrTooLarge = errors.New("mmapring: message larger than the ring allows")
	// ErrCorrupt is returned (wrapped, with detail) when a value read from
	// shared memory is impossible (a bad header, position, length or
	// checksum) or the ring's file was truncated under the mapping. It is
	// the same value as posix.ErrCorrupt.
	ErrCorrupt = errs.ErrCorrupt
	// ErrNotReady is returned by Open while the creator has not finished
	// initialising the header (its version word is still 0).
	ErrNotReady = errors.New("mmapring: ring not initialised yet")
	// ErrRoleTaken is returned when an SPSC ring already has a live
	// producer (or consumer), or every peer slot is held by a live
	// process.
	ErrRoleTaken = errors.New("mmapring: role already taken by a live process")
	// ErrWrongKind is returned when a Queue is opened on an SPSC ring.
	ErrWrongKind = errors.New("mmapring: wrong ring kind")
	// ErrNoMessage is returned by Commit/Release/Abort without a pending
	// Reserve/Peek.
	ErrNoMessage = errors.New("mmapring: no reserved or peeked message")
	// ErrPending is returned by Send, TrySend, SendBatch, Reserve and
	// TryReserve while a Reserve of the same handle is neither committed
	// nor aborted.
	ErrPending = errors.New("mmapring: a reservation is pending (Commit or Abort it first)")
	// ErrTaskDone is returned by Queue.TaskDone called more times than
	// messages were put (Python's ValueError).
	ErrTaskDone = errors.New("mmapring: TaskDone called more times than Put")
	// ErrWakeFailed is matched by the error of a call that published its
	// change (a message, a release) but whose FUTEX_WAKE of a sleeping
	// peer failed; the error also matches the errno. The change itself is
	// done: do not send the message again. The sleeper still notices it
	// within LivenessInterval.
	ErrWakeFailed = errors.New("mmapring: futex wake of a sleeping peer failed")
)

// corruptError carries detail about corrupt shared state; errors.Is(err,
// ErrCorrupt) holds.
type corruptError struct{ what string }

func (e *corruptError) Error() string { return "mmapring: corrupt shared state: " + e.what }
func (e *corruptError) Unwrap() error { return ErrCorrupt }

// wakeError is a failed FUTEX_WAKE after a successful publication.
type wakeError struct{ err error }

func (e *wakeError) Error() string   { return ErrWakeFailed.Error() + ": " + e.err.Error() }
func (e *wakeError) Unwrap() []error { return []error{ErrWakeFailed, e.err} }

// Preallocated so that the hot paths stay allocation-free even when they
// detect corruption.
var (
	errBadTail     = &corruptError{"producer position outside the ring"}
	errBadHead     = &corruptError{"consumer position outside the ring"}
	errBadRecord   = &corruptError{"record length or type out of bounds"}
	errBadPadding  = &corruptError{"padding record beyond published data"}
	errBadCell     = &corruptError{"cell state or length out of bounds"}
	errBadPosition = &corruptError{"position out of range"}
	errBadChecksum = &corruptError{"message checksum mismatch"}
	errClaimLost   = &corruptError{"a cell this handle claimed was taken over (was this process reported dead?)"}
)
