package posix

import (
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
// MFD_CLOEXEC) of size bytes. name is only a label shown in
// /proc/PID/fd. Nothing is left behind when every descriptor and mapping
// is gone; share it through ExtraFiles or SendFds.
func MemfdCreate(name string, size int64, flags MemfdFlag) (*os.File, error) {
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

// AddSeals adds seals to a memfd created with MemfdAllowSealing
// (fcntl F_ADD_SEALS).
func AddSeals(f *os.File, seals Seal) error {
	_, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, int(seals))
	return opError("fcntl(F_ADD_SEALS)", err)
}

// Seals returns the seals set on f (fcntl F_GET_SEALS).
func Seals(f *os.File) (Seal, error) {
	s, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil {
		return 0, opError("fcntl(F_GET_SEALS)", err)
	}
	return Seal(s), nil
}

// CheckSealed is what a receiver of a memfd calls before mapping it: it
// verifies that the seals in want, and always SealShrink|SealGrow (so the
// size cannot change under it), are set — seals can never be removed — and
// returns the size it can trust.
func CheckSealed(f *os.File, want Seal) (size int64, err error) {
	want |= SealSize
	have, err := Seals(f)
	if err != nil {
		return 0, err
	}
	if have&want != want {
		return 0, fmt.Errorf("posix: memfd seals %#x lack %#x", int(have), int(want&^have))
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
