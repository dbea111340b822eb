package proc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// The manifest is what Start hands a child besides descriptors: which
// Func to run and, for each inherited descriptor, what it is. It travels
// in a memfd at the descriptor named by $IPCKIT_PROC (always 3), encoded
// as JSON. Every field is checked before use: the child trusts its parent,
// but not blindly.
type manifest struct {
	V        int           `json:"v"`
	Name     string        `json:"name"`
	Ppid     int           `json:"ppid"` // 0: no parent watch (detached)
	Status   int           `json:"status"`
	Crash    int           `json:"crash"`
	Lifeline int           `json:"lifeline"`
	Tracker  int           `json:"tracker"`
	Handles  []handleEntry `json:"handles"`

	mu    sync.Mutex
	files map[int]*os.File
}

// handleEntry describes handle i: its kind and, for descriptors, the
// descriptor number in the child; Meta is kind-specific.
type handleEntry struct {
	Kind string `json:"kind"`
	FD   int    `json:"fd"` // -1 for plain values
	Meta []byte `json:"meta,omitempty"`
}

const (
	manifestVersion = 1
	manifestMax     = 64 << 20
	firstFD         = 3 // ExtraFiles[i] is descriptor 3+i in the child
)

func (m *manifest) encode() ([]byte, error) { return json.Marshal(m) }

// writeManifest puts the manifest in a fresh memfd for the child to read.
func writeManifest(m *manifest) (*os.File, error) {
	b, err := m.encode()
	if err != nil {
		return nil, fmt.Errorf("proc: encoding the manifest: %w", err)
	}
	fd, err := unix.MemfdCreate("ipckit-proc-manifest", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "proc-manifest")
	for off := 0; off < len(b); {
		n, err := unix.Pwrite(fd, b[off:], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			f.Close()
			return nil, os.NewSyscallError("pwrite", err)
		}
		off += n
	}
	return f, nil
}

// readManifest reads and checks the manifest at fd and closes fd.
func readManifest(fd int) (*manifest, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, os.NewSyscallError("fstat", err)
	}
	unix.CloseOnExec(fd)
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size <= 0 || st.Size > manifestMax {
		unix.Close(fd)
		return nil, fmt.Errorf("descriptor %d is not a manifest (mode %#o, %d bytes)", fd, st.Mode, st.Size)
	}
	b := make([]byte, st.Size)
	for off := 0; off < len(b); {
		n, err := unix.Pread(fd, b[off:], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return nil, os.NewSyscallError("pread", err)
		}
		if n == 0 {
			unix.Close(fd)
			return nil, io.ErrUnexpectedEOF
		}
		off += n
	}
	unix.Close(fd)
	m := &manifest{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.V != manifestVersion {
		return nil, fmt.Errorf("manifest version %d, this program reads %d (parent and child are different builds)", m.V, manifestVersion)
	}
	// Every descriptor the manifest names must be one the parent passed:
	// above the manifest itself, open, and named once.
	m.files = map[int]*os.File{}
	seen := map[int]bool{}
	check := func(fd int, what string) error {
		if fd == -1 {
			return nil
		}
		if fd <= firstFD || fd > 1<<20 || seen[fd] {
			return fmt.Errorf("manifest names descriptor %d for %s", fd, what)
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return fmt.Errorf("manifest names descriptor %d for %s, which is not open", fd, what)
		}
		seen[fd] = true
		// Close-on-exec at once: a program the Func execs must not keep
		// the status pipe (the parent would never see EOF) or any handle.
		unix.CloseOnExec(fd)
		return nil
	}
	if err := check(m.Status, "status"); err != nil {
		return nil, err
	}
	if err := check(m.Crash, "crash output"); err != nil {
		return nil, err
	}
	if err := check(m.Lifeline, "the parent watch"); err != nil {
		return nil, err
	}
	if err := check(m.Tracker, "the resource tracker"); err != nil {
		return nil, err
	}
	for i, h := range m.Handles {
		if h.Kind == "" {
			return nil, fmt.Errorf("manifest: handle %d has no kind", i)
		}
		if err := check(h.FD, fmt.Sprintf("handle %d", i)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// file returns the inherited descriptor fd as an *os.File (nil for -1).
func (m *manifest) file(fd int, name string) *os.File {
	if fd < 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.files[fd]; ok {
		return f
	}
	f := os.NewFile(uintptr(fd), name)
	m.files[fd] = f
	return f
}

// Status frames, child to parent: a type byte, a 4-byte little-endian
// length, then the payload. The child writes a hello when it is about to
// run the Func, then one final record.
const (
	frameHello        = 'H'
	frameOK           = 'O'
	frameError        = 'E'
	framePanic        = 'P'
	frameUnregistered = 'U'
	frameSetup        = 'S'

	frameMax = 1 << 20 // longer texts are cut
)

func putU32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }

// writeFrame writes one frame to the (blocking) status pipe.
func writeFrame(f *os.File, kind byte, payload []byte) error {
	if len(payload) > frameMax {
		payload = payload[:frameMax]
	}
	b := make([]byte, 5+len(payload))
	b[0] = kind
	putU32(b[1:], uint32(len(payload)))
	copy(b[5:], payload)
	_, err := f.Write(b)
	return err
}

var errBadFrame = errors.New("proc: malformed status frame")

// readFrame reads one frame; io.EOF when the stream ended cleanly.
func readFrame(r io.Reader) (kind byte, payload []byte, err error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = errBadFrame
		}
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(h[1:])
	if n > frameMax {
		return 0, nil, errBadFrame
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, errBadFrame
	}
	return h[0], payload, nil
}
