package semaphore

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/shmname"
)

// Path returns the file that backs the named semaphore name in format f:
// /dev/shm/sem.NAME for glibc (names up to 251 bytes), /dev/shm/NAME for
// musl (up to 255 bytes). Leading slashes are stripped; an empty name, one
// with a further '/', "." or ".." is rejected (errors.Is(err,
// shmname.ErrInvalid)).
func Path(f Format, name string) (string, error) {
	if !f.valid() {
		return "", fmt.Errorf("semaphore: %w: unknown format %d", ErrNotSupported, int(f))
	}
	prefix := "sem."
	if f != Glibc {
		prefix = ""
	}
	p, err := shmname.Path(name, prefix)
	if err != nil {
		return "", fmt.Errorf("semaphore: %w", err)
	}
	return p, nil
}

// Open opens or creates the glibc named semaphore name, exactly the object
// C's sem_open(name, flag, mode, value) opens or creates: the 32-byte file
// /dev/shm/sem.NAME, created atomically through a temporary file and link
// so that no process ever sees it half-initialised.
//
// flag is 0 to open an existing semaphore, or unix.O_CREAT (os.O_CREATE),
// optionally with unix.O_EXCL (os.O_EXCL) to fail if it exists. The access
// mode bits (os.O_RDWR...) are ignored, as sem_open ignores them; other
// bits are rejected. mode and value apply only when the semaphore is created;
// the umask applies to mode as for sem_open, and mode 0 means 0600. A value
// above MaxValue is rejected.
//
// Errors match os.ErrNotExist, os.ErrExist, os.ErrPermission and the unix
// errno values with errors.Is.
func Open(name string, flag int, mode os.FileMode, value uint32) (*Sem, error) {
	return OpenFormat(Glibc, name, flag, mode, value)
}

// Create creates the glibc named semaphore name with mode 0600, failing if
// it exists: Open(name, O_CREAT|O_EXCL, 0600, value).
func Create(name string, value uint32) (*Sem, error) {
	return OpenFormat(Glibc, name, unix.O_CREAT|unix.O_EXCL, 0o600, value)
}

// OpenFormat is Open for the given format. For musl the file is
// /dev/shm/NAME and its contents are musl's sem_t; a musl program opens it
// with sem_open(name, ...).
func OpenFormat(f Format, name string, flag int, mode os.FileMode, value uint32) (*Sem, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	path, err := Path(f, name)
	if err != nil {
		return nil, err
	}
	flag &^= unix.O_ACCMODE
	if flag&^(unix.O_CREAT|unix.O_EXCL) != 0 {
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: unix.EINVAL}
	}
	if flag&unix.O_CREAT != 0 && value > MaxValue {
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: unix.EINVAL}
	}
	if mode == 0 {
		mode = 0o600
	}
	for try := 0; ; try++ {
		if flag&unix.O_CREAT == 0 || flag&unix.O_EXCL == 0 {
			s, err := openExisting(f, name, path)
			if err == nil || flag&unix.O_CREAT == 0 || !os.IsNotExist(err) {
				return s, err
			}
		}
		s, err := create(f, name, path, flag&unix.O_EXCL != 0, mode, value)
		if err == errRaced && try < 100 {
			continue // someone else created it between our open and link: open theirs
		}
		return s, err
	}
}

var errRaced = fmt.Errorf("semaphore: lost a creation race")

func openExisting(f Format, name, path string) (*Sem, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size < int64(f.Size()) {
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: fmt.Errorf("%w: not a %d-byte %v semaphore file", unix.EINVAL, f.Size(), f)}
	}
	mem, err := unix.Mmap(fd, 0, f.Size(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: err}
	}
	p := unsafe.Pointer(&mem[0])
	if err := checkImage(f, p); err != nil {
		unix.Munmap(mem)
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: err}
	}
	s := &Sem{format: f, mem: mem, named: true, name: name, path: path}
	s.bind(p)
	return s, nil
}

// create writes a complete sem_t into a fresh temporary file and links it
// into place, as glibc's and musl's sem_open do.
func create(f Format, name, path string, excl bool, mode os.FileMode, value uint32) (*Sem, error) {
	var fd int
	var tmp string
	var err error
	for i := 0; i < 50; i++ {
		if f == Glibc {
			tmp = shmname.Dir + "sem." + randName(6)
		} else {
			tmp = shmname.Dir + "tmp-" + strconv.FormatUint(rand.Uint64(), 36)
		}
		fd, err = unix.Open(tmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(mode.Perm()))
		if err != unix.EEXIST {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	fail := func(op string, err error) (*Sem, error) {
		unix.Unlink(tmp)
		return nil, &os.PathError{Op: op, Path: path, Err: err}
	}
	img := make([]byte, f.Size())
	initImage(f, unsafe.Pointer(&img[0]), value)
	if _, err := unix.Pwrite(fd, img, 0); err != nil {
		return fail("sem_open", err)
	}
	mem, err := unix.Mmap(fd, 0, f.Size(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail("sem_open", err)
	}
	if err := unix.Link(tmp, path); err != nil {
		unix.Munmap(mem)
		unix.Unlink(tmp)
		if err == unix.EEXIST && !excl {
			return nil, errRaced
		}
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: err}
	}
	unix.Unlink(tmp)
	s := &Sem{format: f, mem: mem, named: true, name: name, path: path}
	s.bind(unsafe.Pointer(&mem[0]))
	return s, nil
}

func randName(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b)
}

// Unlink removes the glibc named semaphore name (sem_unlink). Processes
// that have it open keep using it; the memory goes when the last closes.
func Unlink(name string) error { return UnlinkFormat(Glibc, name) }

// UnlinkFormat is Unlink for the given format.
func UnlinkFormat(f Format, name string) error {
	path, err := Path(f, name)
	if err != nil {
		return err
	}
	return unlinkPath(path)
}

func unlinkPath(path string) error {
	if err := unix.Unlink(path); err != nil {
		if err == unix.EPERM {
			err = unix.EACCES // as glibc's sem_unlink reports it
		}
		return &os.PathError{Op: "sem_unlink", Path: path, Err: err}
	}
	return nil
}
