package posix

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/shmname"
)

// SharedMemory is an open shared-memory object: a POSIX shm object (the
// file /dev/shm/NAME that glibc's shm_open, musl and Python's
// multiprocessing.shared_memory all use), a memfd (NewSharedMemory), a
// file (CreateSharedFile, OpenSharedFile) or a descriptor received from
// another process (SharedMemoryFromFile). Map maps it.
//
// Every named object is opened through one path: O_NOFOLLOW, O_CLOEXEC,
// O_NOCTTY, and O_NONBLOCK during open(2) so that a FIFO planted at the
// name cannot block the caller; then anything but a regular file is
// refused (a *NotRegularError, matching unix.EINVAL).
type SharedMemory struct {
	name   string // POSIX shm name without leading slashes; "" otherwise
	path   string // the file's path; "" for memfds and adopted descriptors
	f      *os.File
	closed atomic.Bool
}

// closedErr turns the error of an operation on s.f into one matching
// ErrClosed once s is closed (os.File's own says only os.ErrClosed).
func (s *SharedMemory) closedErr(op string, err error) error {
	if err != nil && s.closed.Load() {
		return &os.PathError{Op: op, Path: s.Name(), Err: ErrClosed}
	}
	return err
}

// usable fails with ErrClosed once s is closed.
func (s *SharedMemory) usable(op string) error {
	if s.closed.Load() {
		return &os.PathError{Op: op, Path: s.Name(), Err: ErrClosed}
	}
	return nil
}

// ShmPath returns the file that shm_open(name) names, applying glibc's
// rules: leading slashes are stripped; an empty rest, another '/', "." or
// ".." are rejected with an error matching ErrInvalidName and
// unix.EINVAL, names over NAME_MAX with one matching ErrInvalidName and
// unix.ENAMETOOLONG.
func ShmPath(name string) (string, error) {
	return shmname.Path(name, "")
}

// OpenShmFlags opens or creates the shared-memory object name like glibc's
// shm_open: open("/dev/shm/NAME", flag|O_NOFOLLOW|O_CLOEXEC, perm). flag
// is O_RDONLY or O_RDWR, optionally with O_CREAT, O_EXCL (exclusive
// create) and O_TRUNC. perm applies on creation, less the umask; 0 means
// 0600. Unlike glibc it never blocks on a FIFO planted at the name and
// refuses anything but a regular file (see SharedMemory).
func OpenShmFlags(name string, flag int, perm os.FileMode) (*SharedMemory, error) {
	path, err := ShmPath(name)
	if err != nil {
		return nil, &os.PathError{Op: "shm_open", Path: name, Err: err}
	}
	f, err := openShared("shm_open", path, flag, perm)
	if err != nil {
		if pe, ok := err.(*os.PathError); ok && pe.Err == unix.EISDIR {
			pe.Err = unix.EINVAL // as glibc
		}
		return nil, err
	}
	return &SharedMemory{name: path[len(shmname.Dir):], path: path, f: f}, nil
}

// OpenShm opens the existing shared-memory object name for reading and
// writing (OpenShmFlags(name, O_RDWR, 0)); it fails with an error matching
// os.ErrNotExist if there is none.
func OpenShm(name string) (*SharedMemory, error) {
	return OpenShmFlags(name, unix.O_RDWR, 0)
}

// CreateShm creates a new object exclusively (O_RDWR|O_CREAT|O_EXCL, mode
// 0600; an error matching os.ErrExist if the name is taken) and sizes it
// to size bytes (zero-filled).
func CreateShm(name string, size int64) (*SharedMemory, error) {
	if size < 0 {
		return nil, &os.PathError{Op: "shm_open", Path: name, Err: fmt.Errorf("%w: negative size %d", unix.EINVAL, size)}
	}
	s, err := OpenShmFlags(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := s.Truncate(size); err != nil {
		s.Close()
		s.Unlink()
		return nil, err
	}
	return s, nil
}

// UnlinkShm removes the object name, like glibc's shm_unlink (EPERM is
// reported as EACCES, as glibc does).
func UnlinkShm(name string) error {
	path, err := ShmPath(name)
	if err != nil {
		return &os.PathError{Op: "shm_unlink", Path: name, Err: err}
	}
	if err := unix.Unlink(path); err != nil {
		if err == unix.EPERM {
			err = unix.EACCES
		}
		return &os.PathError{Op: "shm_unlink", Path: path, Err: err}
	}
	return nil
}

// CreateSharedFile creates the file path exclusively (an error matching
// os.ErrExist if it exists) with mode perm exactly (0 means 0600; the
// umask does not narrow it) and size bytes, for memory shared through a
// file outside /dev/shm. A file cannot be sealed: its mappings are
// Truncatable. On failure nothing is left behind.
func CreateSharedFile(path string, size int64, perm os.FileMode) (*SharedMemory, error) {
	if size < 0 {
		return nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: negative size %d", unix.EINVAL, size)}
	}
	if perm == 0 {
		perm = 0o600
	}
	f, err := openShared("open", path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, perm)
	if err != nil {
		return nil, err
	}
	s := &SharedMemory{path: path, f: f}
	err = f.Chmod(perm.Perm())
	if err == nil {
		err = s.Truncate(size)
	}
	if err != nil {
		f.Close()
		unix.Unlink(path)
		return nil, err
	}
	return s, nil
}

// OpenSharedFile opens the existing regular file path for reading and
// writing; it fails with an error matching os.ErrNotExist if there is
// none, and refuses anything but a regular file.
func OpenSharedFile(path string) (*SharedMemory, error) {
	return OpenSharedFileFlags(path, unix.O_RDWR, 0)
}

// OpenSharedFileFlags is the flag-taking form of OpenSharedFile, with
// open(2)'s semantics: flag is O_RDONLY or O_RDWR, optionally with
// O_CREAT, O_EXCL and O_TRUNC; perm applies on creation, less the umask
// (0 means 0600). O_NOFOLLOW, O_CLOEXEC, O_NOCTTY and a transient
// O_NONBLOCK are always added, and anything but a regular file is
// refused.
func OpenSharedFileFlags(path string, flag int, perm os.FileMode) (*SharedMemory, error) {
	f, err := openShared("open", path, flag, perm)
	if err != nil {
		return nil, err
	}
	return &SharedMemory{path: path, f: f}, nil
}

// SharedMemoryFromFile adopts a descriptor received from another process
// (ExtraFiles, SendFiles/ReceiveFiles): a memfd, a shm object or a file. It
// duplicates the descriptor (the caller still owns f) and refuses anything
// but a regular file. Call CheckSealed before trusting its size, or map
// it and Guard the accesses while the mapping is Truncatable.
func SharedMemoryFromFile(f *os.File) (*SharedMemory, error) {
	var nfd int
	err := controlFile(f, "fcntl", func(fd int) (err error) {
		nfd, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		return opError("fcntl", err)
	})
	if err != nil {
		return nil, err
	}
	if err := checkRegular(nfd); err != nil {
		unix.Close(nfd)
		return nil, &os.PathError{Op: "adopt", Path: f.Name(), Err: err}
	}
	return &SharedMemory{f: os.NewFile(uintptr(nfd), f.Name())}, nil
}

func openRetry(path string, flag int, mode uint32) (int, error) {
	for {
		fd, err := unix.Open(path, flag, mode)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// Name returns a POSIX shm object's name without the leading slash; for
// other objects it returns the descriptor's name (the path of a file,
// "memfd:LABEL" for NewSharedMemory, the received file's name).
func (s *SharedMemory) Name() string {
	if s.name != "" {
		return s.name
	}
	return s.f.Name()
}

// Path returns the file behind a named object (/dev/shm/NAME for a shm
// object), or "" for a memfd or an adopted descriptor.
func (s *SharedMemory) Path() string { return s.path }

// File returns the descriptor, owned by s.
func (s *SharedMemory) File() *os.File { return s.f }

// Truncate sets the object's size (ftruncate).
func (s *SharedMemory) Truncate(size int64) error {
	if err := s.usable("truncate"); err != nil {
		return err
	}
	return s.closedErr("truncate", s.f.Truncate(size))
}

// Size returns the object's current size (fstat st_size).
func (s *SharedMemory) Size() (int64, error) {
	fi, err := s.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Stat returns the object's file information (size, mode, owner in Sys()).
func (s *SharedMemory) Stat() (os.FileInfo, error) {
	if err := s.usable("stat"); err != nil {
		return nil, err
	}
	fi, err := s.f.Stat()
	return fi, s.closedErr("stat", err)
}

// Seals returns the seals set on the object (F_GET_SEALS); see Seals.
func (s *SharedMemory) Seals() (Seal, error) {
	if err := s.usable("fcntl"); err != nil {
		return 0, err
	}
	seals, err := Seals(s.f)
	return seals, s.closedErr("fcntl", err)
}

// CheckSealed verifies that the object is sealed against resizing (and
// carries the seals in want) and returns the size it can trust; see
// CheckSealed.
func (s *SharedMemory) CheckSealed(want Seal) (int64, error) {
	if err := s.usable("fcntl"); err != nil {
		return 0, err
	}
	size, err := CheckSealed(s.f, want)
	return size, s.closedErr("fcntl", err)
}

// Map maps the whole object (its current size, which must be positive)
// with flags; see Map. The mapping is Truncatable unless the object is
// sealed against shrinking. The mapping stays valid after s is closed.
func (s *SharedMemory) Map(flags MapFlag) (*Mapping, error) {
	size, err := s.Size()
	if err != nil {
		return nil, err
	}
	if size > math.MaxInt {
		return nil, opError("mmap", unix.EOVERFLOW)
	}
	m, err := Map(s.f, 0, int(size), flags)
	return m, s.closedErr("mmap", err)
}

// Unlink removes the name the object was opened or created by (shm_unlink
// for a shm object, unlink(2) for a file); mappings and descriptors stay
// valid. It acts on the name, not the descriptor, so it works after Close
// too. An object without a name (a memfd, an adopted descriptor) has
// nothing to remove: Unlink returns nil.
func (s *SharedMemory) Unlink() error {
	switch {
	case s.name != "":
		return UnlinkShm(s.name)
	case s.path != "":
		if err := unix.Unlink(s.path); err != nil {
			return &os.PathError{Op: "unlink", Path: s.path, Err: err}
		}
	}
	return nil
}

// Close closes the descriptor; mappings stay valid. Every later call but
// Close (which returns nil), Name, Path and Unlink fails with an error
// matching ErrClosed (and os.ErrClosed).
func (s *SharedMemory) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}
