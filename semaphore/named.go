package semaphore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/shmname"
	"github.com/ipckit/ipckit/posix"
)

// Path returns the file that backs the glibc named semaphore name; see
// Format.Path.
func Path(name string) (string, error) { return Glibc.Path(name) }

// Path returns the file that backs the named semaphore name in format f:
// /dev/shm/sem.NAME for glibc (names up to 251 bytes), /dev/shm/NAME for
// musl (up to 255 bytes). Leading slashes are stripped. The name is
// checked as the C library checks it: an empty name or one with a further
// '/' is an error matching shmname.ErrInvalid (posix.ErrInvalidName) and
// unix.EINVAL; a name too long gives one matching it and
// unix.ENAMETOOLONG. The
// names "." and ".." are legal glibc names (glibc's sem_open makes
// /dev/shm/sem.. and /dev/shm/sem...) and are refused for musl, whose
// sem_open refuses them (EINVAL).
func (f Format) Path(name string) (string, error) {
	if !f.valid() {
		return "", notSupported("unknown format %d", int(f))
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

// Create creates the glibc named semaphore name with value and mode 0600,
// exactly the object C's sem_open(name, O_CREAT|O_EXCL, 0600, value)
// creates; it fails with an error matching os.ErrExist if the name is
// taken. See OpenFlags for how the file is made and opened.
func Create(name string, value uint32) (*Sem, error) { return Glibc.Create(name, value) }

// Open opens the existing glibc named semaphore name (sem_open(name, 0));
// it fails with an error matching os.ErrNotExist if there is none.
func Open(name string) (*Sem, error) { return Glibc.Open(name) }

// OpenOrCreate opens the glibc named semaphore name, or creates it with
// value and mode 0600 if there is none (sem_open(name, O_CREAT, 0600,
// value)). Whoever wins a race to create it, the value is set exactly once
// and no process sees the semaphore half-initialised.
func OpenOrCreate(name string, value uint32) (*Sem, error) { return Glibc.OpenOrCreate(name, value) }

// OpenFlags opens or creates the glibc named semaphore name, exactly the
// object C's sem_open(name, flag, mode, value) opens or creates: the
// 32-byte file /dev/shm/sem.NAME, created atomically through a temporary
// file and link so that no process ever sees it half-initialised.
//
// flag is 0 to open an existing semaphore, or unix.O_CREAT (os.O_CREATE),
// optionally with unix.O_EXCL (os.O_EXCL) to fail if it exists. The access
// mode bits (os.O_RDWR...) are ignored, as sem_open ignores them; other
// bits are rejected. mode and value apply only when the semaphore is created;
// the umask applies to mode as for sem_open, and mode 0 means 0600. A value
// above MaxValue is rejected.
//
// Like sem_open, OpenFlags maps each semaphore file once per process:
// opening a semaphore that this process has open already (the same file,
// by device and inode, whatever name reached it) returns a new *Sem
// sharing that mapping, and the mapping is unmapped when the last of them
// is closed (glibc keeps the same table, keyed by device, inode and name,
// in nptl/sem_routines.c). Each *Sem has its own idempotent Close. The
// file is opened with O_NOFOLLOW and without blocking on a FIFO planted at
// the name, and anything but a regular file is refused (posix's open
// path). Create, Open and OpenOrCreate are OpenFlags with fixed flags.
//
// Errors match os.ErrNotExist, os.ErrExist, os.ErrPermission and the unix
// errno values with errors.Is.
func OpenFlags(name string, flag int, mode os.FileMode, value uint32) (*Sem, error) {
	return Glibc.OpenFlags(name, flag, mode, value)
}

// Create is the package's Create for format f.
func (f Format) Create(name string, value uint32) (*Sem, error) {
	return f.OpenFlags(name, unix.O_CREAT|unix.O_EXCL, 0o600, value)
}

// Open is the package's Open for format f.
func (f Format) Open(name string) (*Sem, error) { return f.OpenFlags(name, 0, 0, 0) }

// OpenOrCreate is the package's OpenOrCreate for format f.
func (f Format) OpenOrCreate(name string, value uint32) (*Sem, error) {
	return f.OpenFlags(name, unix.O_CREAT, 0o600, value)
}

// OpenFlags is the package's OpenFlags for format f. For musl the file is
// /dev/shm/NAME and its contents are musl's sem_t; a musl program opens it
// with sem_open(name, ...).
func (f Format) OpenFlags(name string, flag int, mode os.FileMode, value uint32) (*Sem, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	path, err := f.Path(name)
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

// semOpErr renames the operation of a PathError from posix's open path to
// sem_open, as the C call would be named.
func semOpErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Op == "open" {
		pe.Op = "sem_open"
	}
	return err
}

// fileID is a file's identity: the key of the per-process table of named
// semaphore mappings.
type fileID struct{ dev, ino uint64 }

// semMapping is one mapped semaphore file, shared by every *Sem of this
// process that opened it.
type semMapping struct {
	id    fileID
	m     *posix.Mapping
	users int // open *Sems; guarded by semTable.mu
}

// semTable maps each open semaphore file to its mapping, like glibc's
// __sem_check_add_mapping tree: one mapping per file per process.
var semTable struct {
	mu sync.Mutex
	m  map[fileID]*semMapping
}

// share returns the table's mapping of the file id, counting a new user,
// or nil if there is none.
func share(id fileID) *semMapping {
	semTable.mu.Lock()
	defer semTable.mu.Unlock()
	sm := semTable.m[id]
	if sm != nil {
		sm.users++
	}
	return sm
}

// shareOrAdd returns the table's mapping of id with a new user, or, if
// there is none, adds m as it (ownership of m passes to the table). The
// second result reports whether m was added; if not, the caller closes m.
func shareOrAdd(id fileID, m *posix.Mapping) (*semMapping, bool) {
	semTable.mu.Lock()
	defer semTable.mu.Unlock()
	if sm := semTable.m[id]; sm != nil {
		sm.users++
		return sm, false
	}
	if semTable.m == nil {
		semTable.m = make(map[fileID]*semMapping)
	}
	sm := &semMapping{id: id, m: m, users: 1}
	semTable.m[id] = sm
	return sm, true
}

// release drops one user; the last one removes the entry and unmaps.
func (sm *semMapping) release() error {
	semTable.mu.Lock()
	sm.users--
	last := sm.users == 0
	if last {
		delete(semTable.m, sm.id)
	}
	semTable.mu.Unlock()
	if last {
		return sm.m.Close()
	}
	return nil
}

// identify returns the file identity and size of an open semaphore file.
func identify(sh *posix.SharedMemory) (fileID, int64, error) {
	fi, err := sh.Stat()
	if err != nil {
		return fileID{}, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, 0, unix.ENOTSUP
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, fi.Size(), nil
}

// bindNamed returns a *Sem of format f over the shared mapping sm, whose
// user it becomes (it releases sm on failure).
func bindNamed(f Format, name, path string, sm *semMapping) (*Sem, error) {
	mem := sm.m.Bytes()
	if len(mem) < f.Size() {
		sm.release()
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: fmt.Errorf("%w: %d-byte mapping, want %d", unix.EINVAL, len(mem), f.Size())}
	}
	mem = mem[:f.Size():f.Size()]
	p := unsafe.Pointer(&mem[0])
	if err := checkImage(f, p); err != nil {
		sm.release()
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: err}
	}
	s := &Sem{format: f, mem: mem, named: true, name: name, path: path, shared: sm}
	s.bind(p)
	s.cleanup = runtime.AddCleanup(s, func(sm *semMapping) { sm.release() }, sm)
	return s, nil
}

func openExisting(f Format, name, path string) (*Sem, error) {
	sh, err := posix.OpenSharedFile(path)
	if err != nil {
		return nil, semOpErr(err)
	}
	defer sh.Close()
	id, size, err := identify(sh)
	if err != nil {
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: err}
	}
	if sm := share(id); sm != nil {
		return bindNamed(f, name, path, sm)
	}
	if size < int64(f.Size()) {
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: fmt.Errorf("%w: not a %d-byte %v semaphore file", unix.EINVAL, f.Size(), f)}
	}
	m, err := posix.Map(sh.File(), 0, f.Size(), 0)
	if err != nil {
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: err}
	}
	sm, added := shareOrAdd(id, m)
	if !added {
		m.Close() // another goroutine mapped it meanwhile: use theirs
	}
	return bindNamed(f, name, path, sm)
}

// create writes a complete sem_t into a fresh temporary file and links it
// into place, as glibc's and musl's sem_open do.
func create(f Format, name, path string, excl bool, mode os.FileMode, value uint32) (*Sem, error) {
	var sh *posix.SharedMemory
	var tmp string
	var err error
	for i := 0; i < 50; i++ {
		if f == Glibc {
			tmp = shmname.Dir + "sem." + randName(6)
		} else {
			tmp = shmname.Dir + "tmp-" + strconv.FormatUint(rand.Uint64(), 36)
		}
		sh, err = posix.OpenSharedFileFlags(tmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, mode)
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: err}
	}
	defer sh.Close()
	fail := func(err error) (*Sem, error) {
		unix.Unlink(tmp)
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: err}
	}
	img := make([]byte, f.Size())
	initImage(f, unsafe.Pointer(&img[0]), value)
	if _, err := sh.File().WriteAt(img, 0); err != nil {
		return fail(err)
	}
	id, _, err := identify(sh)
	if err != nil {
		return fail(err)
	}
	m, err := posix.Map(sh.File(), 0, f.Size(), 0)
	if err != nil {
		return fail(err)
	}
	if err := unix.Link(tmp, path); err != nil {
		m.Close()
		unix.Unlink(tmp)
		if err == unix.EEXIST && !excl {
			return nil, errRaced
		}
		return nil, &os.PathError{Op: "sem_open", Path: path, Err: err}
	}
	unix.Unlink(tmp)
	sm, added := shareOrAdd(id, m)
	if !added {
		m.Close() // cannot happen for a new file, but never keep two
	}
	return bindNamed(f, name, path, sm)
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
func Unlink(name string) error { return Glibc.Unlink(name) }

// Unlink is the package's Unlink for format f.
func (f Format) Unlink(name string) error {
	path, err := f.Path(name)
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
