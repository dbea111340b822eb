package posix

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openFlags are added to every open of named shared memory and files by
// this package (OpenShmFlags, OpenShm, CreateShm, the SharedFile functions) and
// by the named semaphores:
//   - O_NOFOLLOW: a symbolic link planted at the name is not followed
//     (ELOOP), as glibc's shm_open does;
//   - O_CLOEXEC: the descriptor does not leak into exec'd children;
//   - O_NONBLOCK: open(2) of a FIFO planted at the name returns at once
//     instead of waiting for a writer forever (it is then refused as not
//     a regular file); the flag is cleared again once the descriptor is
//     known to be a regular file;
//   - O_NOCTTY: a terminal planted at the name does not become the
//     controlling terminal.
const openFlags = unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY

// openShared is the one open path for named shared memory and files: it
// opens path with flag|openFlags and perm (the umask applies, as for
// open(2)), refuses anything but a regular file (a FIFO, device, socket or
// directory planted at the name) with an error matching unix.EINVAL, and
// returns the descriptor in blocking mode. op names the operation in
// errors (an *os.PathError).
func openShared(op, path string, flag int, perm os.FileMode) (*os.File, error) {
	if perm == 0 {
		perm = 0o600
	}
	fd, err := openRetry(path, flag|openFlags, uint32(perm.Perm()))
	if err != nil {
		if err == unix.ENXIO {
			// O_WRONLY|O_NONBLOCK on a FIFO without a reader.
			var st unix.Stat_t
			if unix.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFIFO {
				err = notRegular(st.Mode)
			}
		}
		return nil, &os.PathError{Op: op, Path: path, Err: err}
	}
	if err := checkRegular(fd); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: op, Path: path, Err: err}
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	}
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: op, Path: path, Err: os.NewSyscallError("fcntl", err)}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// checkRegular refuses a descriptor that is not a regular file: only
// regular files (tmpfs objects, memfds, files) can back shared memory.
func checkRegular(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return os.NewSyscallError("fstat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return notRegular(st.Mode)
	}
	return nil
}

// NotRegularError reports an object that is not a regular file where
// shared memory was expected: a FIFO, device, socket or directory at a
// shm name or path, or such a descriptor. It matches unix.EINVAL.
type NotRegularError struct {
	Kind string // "named pipe (FIFO)", "directory", ...
}

func notRegular(mode uint32) error {
	kind := "special file"
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		kind = "named pipe (FIFO)"
	case unix.S_IFDIR:
		kind = "directory"
	case unix.S_IFCHR:
		kind = "character device"
	case unix.S_IFBLK:
		kind = "block device"
	case unix.S_IFSOCK:
		kind = "socket"
	case unix.S_IFLNK:
		kind = "symbolic link"
	}
	return &NotRegularError{Kind: kind}
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("a %s, not a regular file: refused as shared memory", e.Kind)
}

// Is reports whether target is unix.EINVAL.
func (e *NotRegularError) Is(target error) bool { return target == unix.EINVAL }
