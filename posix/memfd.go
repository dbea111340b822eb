package posix

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// MemfdFlag selects options for MemfdCreate.
type MemfdFlag int

const (
	// MemfdAllowSealing permits AddSeals (MFD_ALLOW_SEALING).
	MemfdAllowSealing MemfdFlag = unix.MFD_ALLOW_SEALING
	// MemfdHugeTLB backs the memfd with hugetlbfs pages (MFD_HUGETLB);
	// needs reserved huge pages (vm.nr_hugepages).
	MemfdHugeTLB MemfdFlag = unix.MFD_HUGETLB
	// MemfdNoExec forbids execution and exec-sealing (MFD_NOEXEC_SEAL,
	// Linux 6.3).
	MemfdNoExec MemfdFlag = 0x8 // MFD_NOEXEC_SEAL
)

// Seal is a file seal (F_SEAL_*), set with AddSeals.
type Seal int

const (
	SealSeal   Seal = unix.F_SEAL_SEAL   // no more seals may be added
	SealShrink Seal = unix.F_SEAL_SHRINK // the size may not decrease
	SealGrow   Seal = unix.F_SEAL_GROW   // the size may not increase
	SealWrite  Seal = unix.F_SEAL_WRITE  // no writes (needs no shared writable mapping)
	// SealFutureWrite forbids new writable mappings and writes but keeps
	// the existing writable mappings (Linux 5.1): the creator keeps
	// writing while receivers can only read.
	SealFutureWrite Seal = unix.F_SEAL_FUTURE_WRITE

	// SealSize is SealShrink|SealGrow: the size is fixed, so a receiver
	// can map it without risking SIGBUS from a peer's ftruncate.
	SealSize = SealShrink | SealGrow
)

// MemfdCreate creates an anonymous memory file (memfd_create, always
// MFD_CLOEXEC) of size bytes; a negative size is an error matching
// unix.EINVAL. name is only a label shown in /proc/PID/fd. Nothing is left
// behind when every descriptor and mapping is gone; share it through
// exec.Cmd's ExtraFiles or SendFiles. NewSharedMemory makes a memfd that is
// sealed against resizing in one call.
func MemfdCreate(name string, size int64, flags MemfdFlag) (*os.File, error) {
	if size < 0 {
		return nil, opError("memfd_create", fmt.Errorf("%w: negative size %d", unix.EINVAL, size))
	}
	fd, err := unix.MemfdCreate(name, int(flags)|unix.MFD_CLOEXEC)
	if err != nil {
		return nil, opError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "memfd:"+name)
	if size > 0 {
		if err := f.Truncate(size); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// SharedMemoryOptions are the settings of NewSharedMemory; nil means the
// defaults.
type SharedMemoryOptions struct {
	// Name is the label shown in /proc/PID/fd (memfd:NAME); default
	// "ipckit".
	Name string
	// Seals are added to SealShrink|SealGrow, which are always set. Add
	// SealSeal so that no process can add seals later (SealFutureWrite,
	// for instance, would keep later receivers from mapping it writable).
	Seals Seal
	// HugeTLB backs the memory with hugetlbfs pages (MFD_HUGETLB); size
	// must then be a multiple of the huge page size.
	HugeTLB bool
}

// NewSharedMemory creates anonymous shared memory of size bytes (> 0) to
// hand to other processes by descriptor: a memfd (MFD_CLOEXEC,
// MFD_ALLOW_SEALING, and MFD_NOEXEC_SEAL where the kernel has it), sized
// and then sealed with SealShrink|SealGrow and o.Seals. Its size can never
// change, so its mappings are not Truncatable and need no Guard, and a
// receiver can verify that with CheckSealed. Pass File to a child with
// exec.Cmd's ExtraFiles or SendFiles; the receiver calls
// SharedMemoryFromFile.
func NewSharedMemory(size int64, o *SharedMemoryOptions) (*SharedMemory, error) {
	if size <= 0 {
		return nil, opError("memfd_create", fmt.Errorf("%w: size %d is not positive", unix.EINVAL, size))
	}
	var opt SharedMemoryOptions
	if o != nil {
		opt = *o
	}
	if opt.Name == "" {
		opt.Name = "ipckit"
	}
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	if opt.HugeTLB {
		flags |= unix.MFD_HUGETLB
	}
	fd, err := unix.MemfdCreate(opt.Name, flags|int(MemfdNoExec))
	if err == unix.EINVAL {
		fd, err = unix.MemfdCreate(opt.Name, flags) // before Linux 6.3
	}
	if err != nil {
		return nil, opError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "memfd:"+opt.Name)
	s := &SharedMemory{f: f}
	if err := s.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	if err := AddSeals(f, SealSize|opt.Seals); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// AddSeals adds seals to a memfd created with MemfdAllowSealing
// (fcntl F_ADD_SEALS).
func AddSeals(f *os.File, seals Seal) error {
	return controlFile(f, "fcntl(F_ADD_SEALS)", func(fd int) error {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, int(seals))
		return opError("fcntl(F_ADD_SEALS)", err)
	})
}

// Seals returns the seals set on f (fcntl F_GET_SEALS). A file that
// cannot carry seals (outside tmpfs, hugetlbfs and memfd) gives an error
// matching unix.EINVAL; a tmpfs file that is not a memfd, such as a POSIX
// shm object, reports SealSeal alone.
func Seals(f *os.File) (Seal, error) {
	var s int
	err := controlFile(f, "fcntl(F_GET_SEALS)", func(fd int) (err error) {
		s, err = unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
		return opError("fcntl(F_GET_SEALS)", err)
	})
	if err != nil {
		return 0, err
	}
	return Seal(s), nil
}

// CheckSealed is what a receiver of a memfd calls before mapping it: it
// verifies that the seals in want, and always SealShrink|SealGrow (so the
// size cannot change under it), are set — seals can never be removed — and
// returns the size it can trust. A descriptor that lacks them, or cannot
// carry seals at all, gives an error matching ErrNotSealed. A mapping of
// at most that size is then not Truncatable.
func CheckSealed(f *os.File, want Seal) (size int64, err error) {
	want |= SealSize
	have, err := Seals(f)
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			return 0, fmt.Errorf("%w: %s cannot be sealed: %w", ErrNotSealed, f.Name(), err)
		}
		return 0, err
	}
	if have&want != want {
		return 0, fmt.Errorf("%w: %s has seals %#x, lacks %#x", ErrNotSealed, f.Name(), int(have), int(want&^have))
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
