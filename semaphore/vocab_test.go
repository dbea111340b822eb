package semaphore

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/feature"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/posix"
)

// ErrNotSupported and ErrClosed are the values every ipckit package
// shares. Before, semaphore.ErrNotSupported was its own value (matching
// only unix.ENOTSUP), so errors.Is(err, posix.ErrNotSupported) and
// errors.Is(err, errors.ErrUnsupported) failed on it, as
// errors.Is(err, posix.ErrClosed) did on a closed Sem's error.
func TestSharedSentinels(t *testing.T) {
	if ErrNotSupported != posix.ErrNotSupported || ErrClosed != posix.ErrClosed {
		t.Fatal("semaphore's ErrNotSupported and ErrClosed must be posix's values")
	}
	_, err := Format(9).Open("x")
	for _, target := range []error{ErrNotSupported, posix.ErrNotSupported, errors.ErrUnsupported, unix.ENOTSUP, feature.ErrNotSupported} {
		if !errors.Is(err, target) {
			t.Errorf("unknown format: %v does not match %v", err, target)
		}
	}
	mem := make([]byte, 64)
	s, err := Init(mem, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if err := s.Post(); !errors.Is(err, ErrClosed) || !errors.Is(err, posix.ErrClosed) || !errors.Is(err, os.ErrClosed) {
		t.Errorf("Post after Close: %v, want ErrClosed", err)
	}
}

// Create is exclusive, Open needs an existing semaphore, OpenOrCreate
// initialises once: the constructors every package has, for each format.
func TestNamedConstructors(t *testing.T) {
	for _, f := range []Format{Glibc, Musl123} {
		name := "/" + ipctest.Name("ctor")
		if _, err := f.Open(name); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v: Open of a missing semaphore: %v, want os.ErrNotExist", f, err)
		}
		a, err := f.OpenOrCreate(name, 2)
		mustf(t, err, "%v: OpenOrCreate", f)
		defer f.Unlink(name)
		defer a.Close()
		b, err := f.OpenOrCreate(name, 7)
		mustf(t, err, "%v: second OpenOrCreate", f)
		defer b.Close()
		if v := b.Value(); v != 2 {
			t.Errorf("%v: second OpenOrCreate sees %d, want the creator's 2", f, v)
		}
		if _, err := f.Create(name, 0); !errors.Is(err, os.ErrExist) {
			t.Errorf("%v: Create of a taken name: %v, want os.ErrExist", f, err)
		}
		c, err := f.Open(name)
		mustf(t, err, "%v: Open", f)
		c.Close()
	}
}

// Unlink acts on the name: it works after Close, and an unnamed semaphore
// has nothing to remove (it returned an error before).
func TestUnlinkRule(t *testing.T) {
	s, err := Init(make([]byte, 64), 0, 0)
	mustf(t, err, "Init")
	if err := s.Unlink(); err != nil {
		t.Errorf("Unlink of an unnamed semaphore: %v, want nil", err)
	}
	name := "/" + ipctest.Name("unlink")
	n, err := Create(name, 0)
	mustf(t, err, "Create")
	mustf(t, n.Close(), "Close")
	if err := n.Unlink(); err != nil {
		t.Errorf("Unlink after Close: %v", err)
	}
	if _, err := Open(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open after Unlink: %v, want os.ErrNotExist", err)
	}
}
