// Package shmname turns POSIX IPC names into paths the way glibc and musl
// do (docs/ABI.md §1), rejecting what they reject, with the errno they
// report.
//
// The rules, from glibc's posix/shm-directory.c (__shm_get_name, 2.34 and
// later, used by shm_open, shm_unlink, sem_open and sem_unlink) and musl's
// src/mman/shm_open.c (__shm_mapname, also used by musl's sem_open):
//
//   - every leading '/' is stripped;
//   - an empty rest, or one with another '/', is EINVAL;
//   - the file is Dir + prefix + rest, where prefix is "sem." for glibc's
//     named semaphores and empty otherwise;
//   - a file name component longer than NAME_MAX (255) is ENAMETOOLONG:
//     glibc 2.38 and later report it from __shm_get_name for names that
//     overflow its buffer and the kernel's open(2) reports it for the
//     others (glibc 2.34–2.37 said EINVAL from shm_open and sem_open and
//     ENOENT from the unlink calls for the longest names);
//   - a component that is "." or ".." (the directory or its parent) is
//     EINVAL: musl checks it by name, glibc's shm_open gets EISDIR from
//     open(2) and reports EINVAL (glibc's shm_unlink passes EISDIR on;
//     here it is EINVAL too). With glibc's "sem." prefix the names "."
//     and ".." are legal: sem_open(".") makes /dev/shm/sem.. and
//     sem_open("..") makes /dev/shm/sem...
//
// A NUL byte cannot reach C (it would end the string there); it is refused
// as EINVAL.
package shmname

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/errs"
)

// Dir is where POSIX shared memory and named semaphores live (hard-coded
// since glibc 2.34; musl always used it).
const Dir = "/dev/shm/"

// NameMax is NAME_MAX: the longest file name component.
const NameMax = 255

// ErrInvalid is returned (wrapped) for names that the C library rejects.
// It is errs.ErrInvalidName (matching fs.ErrInvalid); the error also wraps
// the errno the C library sets for the name (unix.EINVAL or
// unix.ENAMETOOLONG), so errors.Is matches either.
var ErrInvalid = errs.ErrInvalidName

func invalid(name string, errno unix.Errno, format string, a ...any) error {
	return fmt.Errorf("%w %q: %s: %w", ErrInvalid, name, fmt.Sprintf(format, a...), errno)
}

// Clean strips every leading '/' (as glibc does) and validates the rest:
// it must be non-empty and contain no further '/' or NUL byte; with prefix
// prepended it must fit in NAME_MAX bytes and not be "." or "..". It
// returns the file name component (prefix included).
func Clean(name, prefix string) (string, error) {
	s := strings.TrimLeft(name, "/")
	c := prefix + s
	switch {
	case s == "":
		return "", invalid(name, unix.EINVAL, "empty")
	case strings.Contains(s, "/"):
		return "", invalid(name, unix.EINVAL, "contains '/' after the leading slashes")
	case strings.IndexByte(s, 0) >= 0:
		return "", invalid(name, unix.EINVAL, "contains NUL")
	case len(c) > NameMax:
		return "", invalid(name, unix.ENAMETOOLONG, "%d bytes, more than %d", len(s), NameMax-len(prefix))
	case c == "." || c == "..":
		return "", invalid(name, unix.EINVAL, "names the directory %s itself or its parent", Dir)
	}
	return c, nil
}

// Path returns Dir + Clean(name, prefix).
func Path(name, prefix string) (string, error) {
	s, err := Clean(name, prefix)
	if err != nil {
		return "", err
	}
	return Dir + s, nil
}
