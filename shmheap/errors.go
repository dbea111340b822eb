package shmheap

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/errs"
)

// The shared sentinels of every ipckit package (CONTRIBUTING.md, "API
// vocabulary"); errors.Is matches them whichever package returned the
// error.
var (
	// ErrClosed is returned by every method of a closed handle except
	// Close. It matches os.ErrClosed.
	ErrClosed = errs.ErrClosed
	// ErrCorrupt reports a heap whose shared state failed validation: a
	// header, block, offset, length or log entry that no correct process
	// writes, or memory that vanished under the mapping (another process
	// truncated the file). It is never a panic.
	ErrCorrupt = errs.ErrCorrupt
	// ErrInvalidName reports an object or heap name refused before any
	// change: empty, longer than MaxNameLen, or holding a NUL byte. It
	// matches fs.ErrInvalid.
	ErrInvalidName = errs.ErrInvalidName
	// ErrNotSupported reports a feature this build or kernel lacks: a
	// heap locked with glibc's robust mutex opened by a 32-bit process or
	// under qemu-user. It matches errors.ErrUnsupported.
	ErrNotSupported = errs.ErrNotSupported
)

var (
	// ErrNoSpace is returned when the heap has no free block large enough
	// for an allocation. The heap is then unchanged: the operation that
	// needed the memory had no effect. It matches unix.ENOSPC.
	ErrNoSpace error = &matchErr{"shmheap: out of space in the heap", unix.ENOSPC}
	// ErrTypeMismatch is returned when a named object exists with another
	// kind (a Vector opened as a Value) or another element type than the
	// caller's: its stored size or layout fingerprint differs.
	ErrTypeMismatch = errors.New("shmheap: object has another kind or type")
	// ErrUnsupportedType is returned when a type cannot live in shared
	// memory: it holds pointers, slices, maps, strings, interfaces,
	// channels or functions, or has size zero.
	ErrUnsupportedType = errors.New("shmheap: type cannot live in shared memory")
	// ErrIndex is returned for an index outside a Vector or Array.
	ErrIndex = errors.New("shmheap: index out of range")
)

// matchErr is a sentinel that also matches an errno.
type matchErr struct {
	msg string
	err error
}

func (e *matchErr) Error() string        { return e.msg }
func (e *matchErr) Is(target error) bool { return target == e.err }

// corruptError carries the detail of a validation failure; it matches
// ErrCorrupt.
type corruptError struct{ what string }

func (e *corruptError) Error() string { return "shmheap: corrupt heap: " + e.what }
func (e *corruptError) Unwrap() error { return ErrCorrupt }

func corrupt(format string, args ...any) error {
	return &corruptError{fmt.Sprintf(format, args...)}
}

// Preallocated so that hot paths stay allocation-free when they detect
// corruption.
var (
	errBadLen    = &corruptError{"length out of bounds"}
	errBadChunk  = &corruptError{"vector chunk outside the heap"}
	errBadTable  = &corruptError{"hash table outside the heap"}
	errBadRedo   = &corruptError{"redo record out of bounds"}
	errTableFull = &corruptError{"hash table has no empty slot"}
)
