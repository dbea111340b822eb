package posix

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/shmname"
)

// SharedMemory is an open POSIX shared-memory object: the file
// /dev/shm/NAME that glibc's shm_open, musl and Python's
// multiprocessing.shared_memory all use.
type SharedMemory struct {
	name string // without leading slashes
	f    *os.File
}

// ShmPath returns the file that shm_open(name) names, applying glibc's
// rules: leading slashes are stripped; an empty rest, another '/', "." or
// ".." and names over NAME_MAX are rejected (error wraps ErrInvalidName).
func ShmPath(name string) (string, error) {
	return shmname.Path(name, "") // its errors wrap ErrInvalidName
}

// ShmOpen opens or creates the shared-memory object name like glibc's
// shm_open: open("/dev/shm/NAME", flag|O_NOFOLLOW|O_CLOEXEC, perm). flag
// is O_RDONLY or O_RDWR, optionally with O_CREAT, O_EXCL (exclusive
// create) and O_TRUNC. perm applies on creation; 0 means 0600.
func ShmOpen(name string, flag int, perm os.FileMode) (*SharedMemory, error) {
	path, err := ShmPath(name)
	if err != nil {
		return nil, &os.PathError{Op: "shm_open", Path: name, Err: err}
	}
	if perm == 0 {
		perm = 0o600
	}
	fd, err := openRetry(path, flag|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		if err == unix.EISDIR {
			err = unix.EINVAL // as glibc
		}
		return nil, &os.PathError{Op: "shm_open", Path: path, Err: err}
	}
	return &SharedMemory{name: path[len(shmname.Dir):], f: os.NewFile(uintptr(fd), path)}, nil
}

// CreateShm creates a new object exclusively (O_RDWR|O_CREAT|O_EXCL, mode
// 0600) and sizes it to size bytes (zero-filled).
func CreateShm(name string, size int64) (*SharedMemory, error) {
	s, err := ShmOpen(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
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

// ShmUnlink removes the object name, like glibc's shm_unlink (EPERM is
// reported as EACCES, as glibc does).
func ShmUnlink(name string) error {
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

func openRetry(path string, flag int, mode uint32) (int, error) {
	for {
		fd, err := unix.Open(path, flag, mode)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// Name returns the object's name without the leading slash.
func (s *SharedMemory) Name() string { return s.name }

// File returns the descriptor, owned by s.
func (s *SharedMemory) File() *os.File { return s.f }

// Truncate sets the object's size (ftruncate).
func (s *SharedMemory) Truncate(size int64) error {
	return s.f.Truncate(size)
}

// Size returns the object's current size (fstat st_size).
func (s *SharedMemory) Size() (int64, error) {
	fi, err := s.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Stat returns the object's file information (size, mode, owner in Sys()).
func (s *SharedMemory) Stat() (os.FileInfo, error) { return s.f.Stat() }

// Map maps the whole object (its current size) with flags; see Map.
func (s *SharedMemory) Map(flags MapFlag) (*Mapping, error) {
	size, err := s.Size()
	if err != nil {
		return nil, err
	}
	return Map(s.f, 0, int(size), flags)
}

// Unlink removes the object's name; mappings stay valid.
func (s *SharedMemory) Unlink() error { return ShmUnlink(s.name) }

// Close closes the descriptor; mappings stay valid. Idempotent.
func (s *SharedMemory) Close() error {
	if err := s.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}
