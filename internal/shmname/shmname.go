// Package shmname turns POSIX IPC names into paths the way glibc and musl
// do (docs/ABI.md §1), rejecting what they reject.
package shmname

import (
	"errors"
	"fmt"
	"strings"
)

// Dir is where POSIX shared memory and named semaphores live (hard-coded
// since glibc 2.34; musl always used it).
const Dir = "/dev/shm/"

// NameMax is NAME_MAX: the longest file name component.
const NameMax = 255

// ErrInvalid is returned (wrapped) for names that glibc rejects.
var ErrInvalid = errors.New("invalid POSIX IPC name")

// Clean strips every leading '/' (as glibc does) and validates the rest:
// it must be non-empty, contain no further '/', not be "." or "..", contain
// no NUL byte, and with prefix prepended fit in NAME_MAX bytes. It returns
// the file name component (prefix included).
func Clean(name, prefix string) (string, error) {
	s := strings.TrimLeft(name, "/")
	switch {
	case s == "":
		return "", fmt.Errorf("%w %q: empty", ErrInvalid, name)
	case s == "." || s == "..":
		return "", fmt.Errorf("%w %q: dot name", ErrInvalid, name)
	case strings.Contains(s, "/"):
		return "", fmt.Errorf("%w %q: contains '/' after the leading slashes", ErrInvalid, name)
	case strings.IndexByte(s, 0) >= 0:
		return "", fmt.Errorf("%w %q: contains NUL", ErrInvalid, name)
	case len(prefix)+len(s) > NameMax:
		return "", fmt.Errorf("%w %q: %d bytes, more than %d", ErrInvalid, name, len(s), NameMax-len(prefix))
	}
	return prefix + s, nil
}

// Path returns Dir + Clean(name, prefix).
func Path(name, prefix string) (string, error) {
	s, err := Clean(name, prefix)
	if err != nil {
		return "", err
	}
	return Dir + s, nil
}
