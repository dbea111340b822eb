package posix

import (
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/abi"
)

// kernelName makes the C string for a raw mq_open or mq_unlink the way
// glibc does: it builds "/" + name and passes a pointer to the byte after
// the slash. The kernel sees exactly name; and qemu-user's emulation of
// these calls, which reads from one byte before the pointer (it assumes
// glibc's convention), sees "/" + name too.
func kernelName(name string) (*byte, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return nil, unix.EINVAL
	}
	b := make([]byte, len(name)+2)
	b[0] = '/'
	copy(b[1:], name)
	return &b[1], nil
}

// MqOpen is the raw mq_open system call: name is the kernel's name, with
// no leading slash (a slash gives EACCES from the kernel), mode applies on
// creation, and attr (nil for the system defaults) is read only on
// creation. The kernel always sets O_CLOEXEC on the descriptor.
func MqOpen(name string, oflag int, mode uint32, attr *abi.MqAttr) (fd int, err error) {
	p, err := kernelName(name)
	if err != nil {
		return -1, err
	}
	return mqOpen(p, oflag, mode, attr)
}

// MqUnlink is the raw mq_unlink system call; name has no leading slash.
func MqUnlink(name string) error {
	p, err := kernelName(name)
	if err != nil {
		return err
	}
	return mqUnlink(p)
}
