package errs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSentinelsMatchTheStandardOnes(t *testing.T) {
	for _, tc := range []struct {
		err, std error
	}{
		{ErrClosed, os.ErrClosed},
		{ErrNotSupported, errors.ErrUnsupported},
		{ErrInvalidName, fs.ErrInvalid},
		{ErrInvalidName, os.ErrInvalid},
	} {
		wrapped := fmt.Errorf("op: %w", tc.err)
		if !errors.Is(wrapped, tc.err) || !errors.Is(wrapped, tc.std) {
			t.Errorf("%v: errors.Is(%v) = %v, errors.Is(%v) = %v", wrapped, tc.err, errors.Is(wrapped, tc.err), tc.std, errors.Is(wrapped, tc.std))
		}
	}
	all := []error{ErrClosed, ErrNotSupported, ErrCorrupt, ErrInvalidName}
	for i, a := range all {
		for j, b := range all {
			if (i == j) != errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = %v", a, b, errors.Is(a, b))
			}
		}
	}
	if errors.Is(ErrCorrupt, os.ErrClosed) || errors.Is(os.ErrClosed, ErrClosed) {
		t.Error("matching must go one way only: a plain os.ErrClosed is not ErrClosed")
	}
}

func TestWouldBlock(t *testing.T) {
	err := fmt.Errorf("msgrcv: %w", WouldBlock(unix.ENOMSG))
	if !errors.Is(err, unix.EAGAIN) || !errors.Is(err, unix.ENOMSG) || errors.Is(err, unix.EBUSY) {
		t.Errorf("%v: want a match for EAGAIN and ENOMSG only", err)
	}
	if err.Error() != "msgrcv: "+unix.ENOMSG.Error() {
		t.Errorf("message %q", err)
	}
	if WouldBlock(unix.EAGAIN) != unix.EAGAIN {
		t.Error("WouldBlock(EAGAIN) must be EAGAIN itself")
	}
}
