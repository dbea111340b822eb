package posix

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// MaxFilesPerMessage is the kernel's limit on descriptors in one
// SCM_RIGHTS message (SCM_MAX_FD).
const MaxFilesPerMessage = 253

// SocketPair returns two connected Unix stream sockets, for passing
// descriptors to a child: give one end to the child through ExtraFiles
// (the child adopts it with net.FileConn) and keep the other.
func SocketPair() (*net.UnixConn, *net.UnixConn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, opError("socketpair", err)
	}
	a, err := unixConnFromFD(fds[0])
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	b, err := unixConnFromFD(fds[1])
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

func unixConnFromFD(fd int) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), "socketpair")
	defer f.Close() // net.FileConn dups it
	c, err := net.FileConn(f)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("posix: %T is not a Unix socket", c)
	}
	return uc, nil
}

// SendFiles sends msg (at least one byte; a single zero byte is sent if
// msg is empty) with duplicates of files attached as SCM_RIGHTS, so the
// receiving process gets its own descriptors for the same open files: a
// memfd, an eventfd, a message queue, a socket. The caller keeps files,
// and their mode: SendFiles reaches each descriptor through its RawConn,
// never through Fd, which would switch a file that os.Pipe, os.OpenFile or
// a net.Conn's File made to blocking mode and leave reads with a deadline
// stuck in the kernel.
func SendFiles(c *net.UnixConn, msg []byte, files ...*os.File) error {
	if len(files) > MaxFilesPerMessage {
		return opError("sendmsg", unix.EINVAL)
	}
	if len(msg) == 0 {
		msg = []byte{0}
	}
	// Send duplicates, taken while each file is held open by its RawConn,
	// so that a concurrent Close of a file cannot turn its number into
	// another descriptor before the message is sent.
	fds := make([]int, 0, len(files))
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, f := range files {
		fd, err := dupFile(f)
		if err != nil {
			return err
		}
		fds = append(fds, fd)
	}
	oob := unix.UnixRights(fds...)
	n, oobn, err := c.WriteMsgUnix(msg, oob, nil)
	if err != nil {
		return err
	}
	if n != len(msg) || oobn != len(oob) {
		return fmt.Errorf("posix: sendmsg sent %d/%d bytes, %d/%d control bytes", n, len(msg), oobn, len(oob))
	}
	return nil
}

// ErrTruncatedRights is returned when more descriptors arrived than
// ReceiveFiles had room for; the kernel closed the rest (MSG_CTRUNC).
var ErrTruncatedRights = errors.New("posix: SCM_RIGHTS truncated: more descriptors were sent than maxFiles")

// ReceiveFiles receives one message into buf together with up to maxFiles
// descriptors (close-on-exec). The caller owns the returned files.
func ReceiveFiles(c *net.UnixConn, buf []byte, maxFiles int) (int, []*os.File, error) {
	if maxFiles <= 0 || maxFiles > MaxFilesPerMessage {
		maxFiles = MaxFilesPerMessage
	}
	oob := make([]byte, unix.CmsgSpace(4*maxFiles))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob) // Go sets MSG_CMSG_CLOEXEC
	if err != nil {
		return n, nil, err
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return n, nil, opError("recvmsg", err)
	}
	var files []*os.File
	for i := range cmsgs {
		if cmsgs[i].Header.Level != unix.SOL_SOCKET || cmsgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		fds, err := unix.ParseUnixRights(&cmsgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "scm_rights"))
		}
	}
	if flags&unix.MSG_CTRUNC != 0 {
		for _, f := range files {
			f.Close()
		}
		return n, nil, ErrTruncatedRights
	}
	return n, files, nil
}
