package posix

import (
	"errors"

	"github.com/ipckit/ipckit/internal/errs"
)

// The error sentinels shared by every ipckit package (CONTRIBUTING.md, "API
// vocabulary"); ErrInvalidName is declared with the message queues.
var (
	// ErrClosed is returned by every method of a closed Mapping (and
	// other handles) except Close; it matches os.ErrClosed.
	ErrClosed = errs.ErrClosed
	// ErrCorrupt reports shared state that failed validation; a
	// FaultError (memory that vanished under a Mapping) matches it.
	ErrCorrupt = errs.ErrCorrupt
	// ErrNotSupported reports a feature this kernel or object lacks; it
	// matches errors.ErrUnsupported.
	ErrNotSupported = errs.ErrNotSupported
)

// ErrNotSealed is returned (wrapped) by CheckSealed and
// SharedMemory.CheckSealed when a descriptor lacks the seals asked for,
// or cannot carry seals at all (a file outside tmpfs, hugetlbfs and
// memfd).
var ErrNotSealed = errors.New("posix: descriptor lacks the required seals")
