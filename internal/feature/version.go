package feature

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Version is a Linux kernel version: major, minor, patch.
type Version [3]uint16

// ParseVersion parses "6.7", "5.16.0" or a uname release such as
// "6.1.0-18-amd64" (everything after the first character that is neither
// a digit nor a dot is ignored).
func ParseVersion(s string) (Version, error) {
	var v Version
	end := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if end >= 0 {
		s = s[:end]
	}
	parts := strings.Split(strings.TrimSuffix(s, "."), ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("feature: kernel version %q is not major.minor[.patch]", s)
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return Version{}, fmt.Errorf("feature: kernel version %q: %w", s, err)
		}
		v[i] = uint16(n)
	}
	return v, nil
}

// MustParseVersion is ParseVersion for constants; it panics on a bad string.
func MustParseVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// Less reports whether v is an older release than o.
func (v Version) Less(o Version) bool {
	for i := range v {
		if v[i] != o[i] {
			return v[i] < o[i]
		}
	}
	return false
}

// String formats v as "major.minor" or "major.minor.patch".
func (v Version) String() string {
	if v[2] == 0 {
		return fmt.Sprintf("%d.%d", v[0], v[1])
	}
	return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
}

var kernel struct {
	once sync.Once
	v    Version
	err  error
}

// KernelVersion returns the running kernel's version from uname(2),
// parsed once per process.
func KernelVersion() (Version, error) {
	kernel.once.Do(func() {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			kernel.err = fmt.Errorf("feature: uname: %w", err)
			return
		}
		kernel.v, kernel.err = ParseVersion(unix.ByteSliceToString(u.Release[:]))
	})
	return kernel.v, kernel.err
}
