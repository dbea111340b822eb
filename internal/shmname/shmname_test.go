package shmname

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestClean(t *testing.T) {
	long251 := strings.Repeat("a", 251)
	for _, tc := range []struct {
		name, prefix, want string
		errno              unix.Errno // 0: accepted
	}{
		{"x", "", "x", 0},
		{"/x", "", "x", 0},
		{"//x", "", "x", 0},
		{"/x", "sem.", "sem.x", 0},
		{"", "", "", unix.EINVAL},
		{"/", "", "", unix.EINVAL},
		{"/a/b", "", "", unix.EINVAL},
		{"/a/b", "sem.", "", unix.EINVAL},
		{"a\x00b", "", "", unix.EINVAL},
		// The directory and its parent are refused for shm_open names
		// (and musl's semaphores, which have no prefix)...
		{"/.", "", "", unix.EINVAL},
		{"/..", "", "", unix.EINVAL},
		{".", "", "", unix.EINVAL},
		// ...but are legal glibc semaphore names: sem_open(".") makes
		// /dev/shm/sem.. and sem_open("..") /dev/shm/sem...
		{"/.", "sem.", "sem..", 0},
		{"..", "sem.", "sem...", 0},
		{"/...", "", "...", 0},
		{long251, "sem.", "sem." + long251, 0},
		{long251 + "a", "sem.", "", unix.ENAMETOOLONG},
		{strings.Repeat("b", 255), "", strings.Repeat("b", 255), 0},
		{strings.Repeat("b", 256), "", "", unix.ENAMETOOLONG},
		{"/" + strings.Repeat("b", 4096), "", "", unix.ENAMETOOLONG},
	} {
		got, err := Clean(tc.name, tc.prefix)
		if (tc.errno == 0) != (err == nil) || got != tc.want {
			t.Errorf("Clean(%.20q, %q) = %.20q, %v; want %.20q, errno %v", tc.name, tc.prefix, got, err, tc.want, tc.errno)
			continue
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, fs.ErrInvalid) || !errors.Is(err, tc.errno) {
			t.Errorf("Clean(%.20q, %q): %v does not match ErrInvalid, fs.ErrInvalid and %v", tc.name, tc.prefix, err, tc.errno)
		}
	}
}
