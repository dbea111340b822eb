package feature

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ipckit/ipckit/internal/errs"
)

// ErrNotSupported is matched (errors.Is) by every error that reports a
// kernel feature this system lacks. It is ipckit's one not-supported
// error (internal/errs, re-exported as posix.ErrNotSupported and
// semaphore.ErrNotSupported), and matches errors.ErrUnsupported.
var ErrNotSupported = errs.ErrNotSupported

// UnsupportedFeatureError reports a missing kernel feature. It matches
// ErrNotSupported.
type UnsupportedFeatureError struct {
	// Name names the feature, e.g. "futex_waitv".
	Name string
	// MinimumVersion is the first kernel release that had the feature; a
	// kernel at least this new may still lack it when it was configured
	// out (CONFIG_SYSVIPC, CONFIG_POSIX_MQUEUE, ...) or when an emulator
	// does not implement it.
	MinimumVersion Version
}

func (e *UnsupportedFeatureError) Error() string {
	if e.MinimumVersion == (Version{}) {
		return e.Name + " not supported"
	}
	return fmt.Sprintf("%s not supported (requires Linux %s or later)", e.Name, e.MinimumVersion)
}

// Is makes errors.Is(err, ErrNotSupported) and
// errors.Is(err, errors.ErrUnsupported) true.
func (e *UnsupportedFeatureError) Is(target error) bool {
	return target == ErrNotSupported || target == errors.ErrUnsupported
}

// Test is a cached probe for one kernel feature.
type Test struct {
	// Name names the feature in errors and test output.
	Name string
	// Version is the first kernel release that had the feature.
	Version Version
	// Configurable is true for features that a kernel of Version or
	// later can still lack by configuration (CONFIG_*); the version check
	// in the tests reports those as configured out rather than failing,
	// unless the kernel is known to enable them (CI's Debian kernels do).
	Configurable bool

	fn   func() error
	mu   sync.Mutex
	done bool
	err  error
}

// NewTest declares a probe. fn returns nil when the feature works,
// ErrNotSupported (bare) when it is missing, and any other error when it
// could not tell; version is the feature's first kernel release
// ("major.minor").
func NewTest(name, version string, fn func() error) *Test {
	return &Test{Name: name, Version: MustParseVersion(version), fn: fn}
}

// Err runs the probe on the first call and returns its cached answer:
// nil, an *UnsupportedFeatureError, or (not cached) the error that kept
// the probe from deciding.
func (ft *Test) Err() error {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.done {
		return ft.err
	}
	err := ft.fn()
	switch {
	case err == nil:
	case errors.Is(err, ErrNotSupported):
		err = &UnsupportedFeatureError{Name: ft.Name, MinimumVersion: ft.Version}
	default:
		return fmt.Errorf("feature: probing %s: %w", ft.Name, err)
	}
	ft.done, ft.err = true, err
	return err
}

// Supported reports whether the probe found the feature; an undecided
// probe counts as unsupported.
func (ft *Test) Supported() bool { return ft.Err() == nil }

// All lists the predeclared probes, for tools and tests.
func All() []*Test {
	return []*Test{SysVIPC, StatAny, MsgCopy, Mqueue, MqNotify, IPCNamespace, Time64, FutexWaitv, Futex2, RobustList}
}

// Find returns the predeclared probe with the given name, or nil.
func Find(name string) *Test {
	for _, t := range All() {
		if t.Name == name {
			return t
		}
	}
	return nil
}
