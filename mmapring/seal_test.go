package mmapring

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/ipctest"
)

// TestSealedMemfd (F8): New's memfd is sealed against shrinking and
// growing; no holder of the descriptor can truncate it under the peers,
// and the ring runs without the fault guard.
func TestSealedMemfd(t *testing.T) {
	r := newRing(t, Config{Kind: KindMPMC, Capacity: 8, CellSize: 32})
	if !r.Sealed() {
		t.Fatal("New's ring is not sealed")
	}
	if err := r.File().Truncate(0); !errors.Is(err, unix.EPERM) {
		t.Fatalf("truncating a sealed ring: %v, want EPERM", err)
	}
	if err := r.File().Truncate(int64(r.Size()) * 2); !errors.Is(err, unix.EPERM) {
		t.Fatalf("growing a sealed ring: %v, want EPERM", err)
	}
}

// ringImage returns the bytes of a fresh ring with cfg.
func ringImage(t *testing.T, cfg Config) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "img")
	r, err := CreatePath(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpenVerifiesSeals: FromFile seals a memfd that allows sealing (one
// made by a C peer, say) and maps everything it cannot seal with the
// fault guard.
func TestOpenVerifiesSeals(t *testing.T) {
	img := ringImage(t, Config{Kind: KindSPSC, Capacity: 256})
	for _, sealable := range []bool{true, false} {
		flags := unix.MFD_CLOEXEC
		if sealable {
			flags |= unix.MFD_ALLOW_SEALING
		}
		fd, err := unix.MemfdCreate("img", flags)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(fd), "memfd")
		f.Write(img)
		r, err := FromFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if r.Sealed() != sealable {
			t.Errorf("sealable=%v: Sealed() = %v", sealable, r.Sealed())
		}
		r.Close()
		if err := f.Truncate(0); sealable != errors.Is(err, unix.EPERM) {
			t.Errorf("sealable=%v: truncate after FromFile: %v", sealable, err)
		}
		f.Close()
	}
}

// backing is a way to make a ring, and to truncate its file from outside.
type backing struct {
	name   string
	sealed bool
	make   func(t *testing.T, cfg Config) (*Ring, func() error)
}

var backings = []backing{
	{"memfd", true, func(t *testing.T, cfg Config) (*Ring, func() error) {
		r := newRing(t, cfg)
		return r, func() error { return r.File().Truncate(0) }
	}},
	{"shm", false, func(t *testing.T, cfg Config) (*Ring, func() error) {
		name := ipctest.Name("trunc")
		r, err := CreateShm(name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { UnlinkShm(name); r.Close() })
		return r, func() error { return os.Truncate("/dev/shm/"+name, 0) }
	}},
	{"file", false, func(t *testing.T, cfg Config) (*Ring, func() error) {
		path := filepath.Join(t.TempDir(), "ring")
		r, err := CreatePath(path, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r, func() error { return os.Truncate(path, 0) }
	}},
	{"unsealable-memfd", false, func(t *testing.T, cfg Config) (*Ring, func() error) {
		f := memfdWith(t, ringImage(t, cfg), len(ringImage(t, cfg)))
		r, err := FromFile(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r, func() error { return r.File().Truncate(0) }
	}},
}

// truncateUnder shrinks a ring's file to nothing while peers map it.
func truncateUnder(trunc func() error) error { return trunc() }

// TestFaultTruncate (F8): a process truncates the ring's file under a
// live peer blocked in Receive, for every backing. A sealed memfd refuses;
// otherwise every Go peer's next access faults, and the fault is
// contained: the call returns ErrCorrupt and the process lives. A C peer
// cannot contain it inside mmapring.h (a SIGBUS handler is process-wide):
// the C test peer handles SIGBUS itself, as the header documents.
func TestFaultTruncate(t *testing.T) {
	forEachPeer(t, func(t *testing.T, pk peerKind) {
		for _, b := range backings {
			for _, kind := range []Kind{KindSPSC, KindMPMC} {
				t.Run(b.name+"/"+kind.String(), func(t *testing.T) {
					r, trunc := b.make(t, Config{Kind: kind, Capacity: 256, CellSize: 32})
					if r.Sealed() != b.sealed {
						t.Fatalf("Sealed() = %v", r.Sealed())
					}
					p, err := r.Producer()
					if err != nil {
						t.Fatal(err)
					}
					defer p.Detach()
					ctx := context.Background()
					p.Send(ctx, []byte("a"))
					peer := startPeer(t, pk, r.File(), "recv-all", "20000")
					if l := peer.line(guard); l != "msg a" {
						t.Fatalf("peer: %q", l)
					}
					if !b.sealed && raceEnabled {
						// Under -race an atomic operation runs inside the race
						// runtime's C code; a fault there cannot become a panic
						// (the runtime cannot unwind it) and kills the process.
						t.Skip("fault containment needs the faulting access in Go code; the race detector runs atomics in C (covered by the non-race run)")
					}
					err = truncateUnder(trunc)
					if b.sealed {
						if !errors.Is(err, unix.EPERM) {
							t.Fatalf("truncating a sealed ring: %v", err)
						}
						p.Send(ctx, []byte("b"))
						p.Close()
						wantLines(t, peer.all(guard), "msg b", "eof")
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					want := "corrupt"
					if pk.name == "c" {
						want = "sigbus"
					}
					wantLines(t, peer.all(guard), want)
					// This process maps it too: its calls fail, it lives.
					if err := p.Send(ctx, []byte("c")); !errors.Is(err, ErrCorrupt) {
						t.Errorf("Send on a truncated ring: %v, want ErrCorrupt", err)
					}
					if _, err := r.Stats(); !errors.Is(err, ErrCorrupt) {
						t.Errorf("Stats on a truncated ring: %v, want ErrCorrupt", err)
					}
				})
			}
		}
	})
}
