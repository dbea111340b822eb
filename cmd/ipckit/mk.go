package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/semaphore"
	"github.com/ipckit/ipckit/sysv"
)

func init() {
	register(command{name: "mk", summary: "create an IPC object or a named ring (like ipcmk)", run: runMk})
}

// parseSize reads a byte count with an optional suffix as util-linux
// does: K, M, G, T (or KiB ...) are powers of 1024, KB, MB ... of 1000.
func parseSize(s string) (uint64, error) {
	num := strings.TrimRightFunc(s, func(r rune) bool { return r > '9' || r < '0' })
	suf := strings.ToUpper(s[len(num):])
	v, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q", s)
	}
	base := uint64(1024)
	switch {
	case strings.HasSuffix(suf, "IB"):
		suf = strings.TrimSuffix(suf, "IB")
	case len(suf) == 2 && strings.HasSuffix(suf, "B"):
		suf, base = suf[:1], 1000
	case suf == "B":
		suf = ""
	}
	mult := uint64(1)
	if suf != "" {
		i := strings.Index("KMGTPE", suf)
		if len(suf) != 1 || i < 0 {
			return 0, fmt.Errorf("bad size %q (suffixes: K, M, G, T, P, E, KiB ..., KB ...)", s)
		}
		for ; i >= 0; i-- {
			mult *= base
		}
	}
	if v != 0 && mult > math.MaxUint64/v {
		return 0, fmt.Errorf("size %q overflows", s)
	}
	return v * mult, nil
}

// modeFlag is an octal permission such as 0640.
type modeFlag struct{ mode os.FileMode }

func (m *modeFlag) String() string { return fmt.Sprintf("%04o", uint32(m.mode)) }
func (m *modeFlag) Set(s string) error {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return fmt.Errorf("mode %q is not an octal permission 0000..0777", s)
	}
	m.mode = os.FileMode(v)
	return nil
}

// sizeFlag is a byte count with util-linux suffixes.
type sizeFlag struct{ n uint64 }

func (z *sizeFlag) String() string { return strconv.FormatUint(z.n, 10) }
func (z *sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	z.n = n
	return err
}

func runMk(args []string, stdout, stderr io.Writer) int {
	c := newCLI("mk", "mk msg|sem|shm [--key KEY] [--mode MODE] [--nsems N] [--value V] [--size SIZE]\n"+
		"mk posix-shm|posix-sem|mqueue|ring NAME [--mode MODE] [--size SIZE] [--value V]\n"+
		"   [--maxmsg N] [--msgsize N] [--type spsc|mpmc]",
		"Create one object, exclusively (it fails if the key or name is taken), with\n"+
			"mode 0600 unless --mode says otherwise; the umask does not narrow it. Print\n"+
			"what was made as KIND ID or KIND NAME, the arguments 'ipckit rm' takes:\n\n"+
			"  ipckit rm $(ipckit mk msg)\n\n"+
			"  msg        a System V message queue\n"+
			"  sem        a System V semaphore set of --nsems semaphores (default 1), each\n"+
			"             set to --value (default 0)\n"+
			"  shm        a System V segment of --size bytes (required)\n"+
			"  posix-shm  a POSIX shared-memory object of --size bytes (default 0)\n"+
			"  posix-sem  a glibc named semaphore with the initial --value (default 0)\n"+
			"  mqueue     a POSIX message queue of --maxmsg messages of up to --msgsize\n"+
			"             bytes (default: fs.mqueue.msg_default, msgsize_default)\n"+
			"  ring       an mmapring ring in /dev/shm/NAME: --type spsc (default) with\n"+
			"             --size data bytes (a power of two, default 1M), or --type mpmc\n"+
			"             with --maxmsg cells (a power of two, default 1024) of --msgsize\n"+
			"             bytes (default 240)\n\n"+
			"System V objects get key --key (hexadecimal 0x... or decimal; default\n"+
			"IPC_PRIVATE); they are removed by id.",
		stdout, stderr)
	mode := &modeFlag{mode: 0o600}
	c.fs.Var(mode, "mode", "permission `MODE`, octal")
	c.fs.Var(mode, "p", "same as --mode")
	key := c.fs.String("key", "", "System V `KEY` (default IPC_PRIVATE)")
	size := &sizeFlag{}
	c.fs.Var(size, "size", "`SIZE` in bytes; suffixes K, M, G (1024) or KB, MB, GB (1000)")
	nsems := c.fs.Int("nsems", 1, "semaphores in a System V set")
	value := c.fs.Int("value", 0, "initial semaphore value")
	maxmsg := c.fs.Int("maxmsg", 0, "capacity in messages (mqueue, mpmc ring)")
	msgsize := c.fs.Int("msgsize", 0, "largest message in bytes (mqueue, mpmc ring)")
	typ := c.fs.String("type", "spsc", "ring type: spsc or mpmc")
	pos, done, st := c.parse(args)
	if done {
		return st
	}
	if len(pos) == 0 {
		return c.usageErr("give a KIND")
	}
	kind := pos[0]
	if !isKind(kind) {
		return c.usageErr("unknown kind %q (kinds: %s)", kind, kindNames())
	}
	// Which flags apply to which kind.
	applies := map[string][]string{
		"key": {kindMsg, kindSem, kindShm}, "nsems": {kindSem}, "value": {kindSem, kindPosixSem},
		"size": {kindShm, kindPosixShm, kindRing}, "maxmsg": {kindMqueue, kindRing}, "msgsize": {kindMqueue, kindRing},
		"type": {kindRing},
	}
	var bad error
	c.fs.Visit(func(f *flag.Flag) {
		ks, ok := applies[f.Name]
		if !ok || bad != nil {
			return
		}
		for _, k := range ks {
			if k == kind {
				return
			}
		}
		bad = fmt.Errorf("--%s does not apply to %s", f.Name, kind)
	})
	if bad != nil {
		return c.usageErr("%v", bad)
	}
	set := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if isSysV(kind) {
		if len(pos) > 1 {
			return c.usageErr("%s takes no NAME (use --key): unexpected %q", kind, pos[1])
		}
	} else if len(pos) != 2 {
		if len(pos) < 2 {
			return c.usageErr("%s needs a NAME", kind)
		}
		return c.usageErr("one object at a time: unexpected %q", pos[2])
	}
	if *value < 0 || (kind == kindSem && *value > sysv.SEMVMX) || *value > semaphore.MaxValue {
		return c.usageErr("--value %d is out of range", *value)
	}
	perm := uint32(mode.mode.Perm())

	made, err := func() (string, error) {
		switch kind {
		case kindMsg, kindSem, kindShm:
			k := sysv.IPCPrivate
			if *key != "" {
				v, err := strconv.ParseInt(*key, 0, 64)
				if err != nil || v < math.MinInt32 || v > math.MaxUint32 {
					return "", fmt.Errorf("bad key %q", *key)
				}
				k = sysv.Key(int32(uint32(v)))
			}
			flags := sysv.IPC_CREAT | sysv.IPC_EXCL | int(perm)
			var id int
			var err error
			switch kind {
			case kindMsg:
				id, err = sysv.Msgget(k, flags)
			case kindSem:
				if *nsems < 1 {
					return "", fmt.Errorf("--nsems %d: a set has at least one semaphore", *nsems)
				}
				id, err = sysv.Semget(k, *nsems, flags)
				if err == nil && *value != 0 {
					for i := 0; i < *nsems && err == nil; i++ {
						_, err = sysv.SemctlVal(id, i, sysv.SETVAL, *value)
					}
					if err != nil {
						sysv.SemctlVal(id, 0, sysv.IPC_RMID, 0)
					}
				}
			case kindShm:
				if !set["size"] || size.n == 0 {
					return "", errors.New("--size is required for shm")
				}
				if size.n > math.MaxInt {
					return "", fmt.Errorf("--size %d is too large", size.n)
				}
				id, err = sysv.Shmget(k, int(size.n), flags)
			}
			if err != nil {
				return "", mkError(kind, err)
			}
			return fmt.Sprintf("%s %d", kind, id), nil

		case kindPosixShm:
			if _, err := shmFile(pos[1], ""); err != nil {
				return "", err
			}
			s, err := posix.OpenShmFlags(pos[1], os.O_RDWR|os.O_CREATE|os.O_EXCL, mode.mode)
			if err != nil {
				return "", mkError(kind, err)
			}
			defer s.Close()
			err = s.File().Chmod(mode.mode) // the umask must not narrow --mode
			if err == nil && size.n > 0 {
				err = s.Truncate(int64(size.n))
			}
			if err != nil {
				s.Unlink()
				return "", err
			}
		case kindPosixSem:
			path, err := shmFile(pos[1], "sem.")
			if err != nil {
				return "", err
			}
			s, err := semaphore.OpenFlags(pos[1], os.O_CREATE|os.O_EXCL, mode.mode, uint32(*value))
			if err != nil {
				return "", mkError(kind, err)
			}
			s.Close()
			if err := chmodNoFollow(path, perm); err != nil {
				semaphore.Unlink(pos[1])
				return "", err
			}
		case kindMqueue:
			if _, err := shmFile(pos[1], ""); err != nil {
				return "", err
			}
			var attr *posix.QueueAttr
			if set["maxmsg"] || set["msgsize"] {
				def := func(name string, v int) (int64, error) {
					if v > 0 {
						return int64(v), nil
					}
					vs, err := readSysctl(name)
					if err != nil || len(vs) == 0 {
						return 0, fmt.Errorf("%s: %v", name, err)
					}
					return int64(vs[0]), nil
				}
				m, err := def("fs.mqueue.msg_default", *maxmsg)
				if err != nil {
					return "", err
				}
				s, err := def("fs.mqueue.msgsize_default", *msgsize)
				if err != nil {
					return "", err
				}
				attr = &posix.QueueAttr{MaxMsgs: m, MsgSize: s}
			}
			q, err := posix.OpenQueueFlags(pos[1], unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, mode.mode, attr)
			if err != nil {
				return "", mkError(kind, err)
			}
			defer q.Close()
			if err := q.File().Chmod(mode.mode); err != nil {
				q.Unlink()
				return "", err
			}
		case kindRing:
			if _, err := shmFile(pos[1], ""); err != nil {
				return "", err
			}
			cfg := mmapring.Config{Mode: mode.mode}
			switch *typ {
			case "spsc":
				cfg.Kind = mmapring.KindSPSC
				if set["maxmsg"] || set["msgsize"] {
					return "", errors.New("an spsc ring takes --size (data bytes), not --maxmsg or --msgsize")
				}
				if size.n > math.MaxInt {
					return "", fmt.Errorf("--size %d is too large", size.n)
				}
				cfg.Capacity = int(size.n)
			case "mpmc":
				cfg.Kind = mmapring.KindMPMC
				if set["size"] {
					return "", errors.New("an mpmc ring takes --maxmsg (cells) and --msgsize, not --size")
				}
				cfg.Capacity, cfg.CellSize = *maxmsg, *msgsize
			default:
				return "", fmt.Errorf("--type %q: spsc or mpmc", *typ)
			}
			r, err := mmapring.CreateShm(pos[1], cfg)
			if err != nil {
				return "", mkError(kind, err)
			}
			r.Close()
		}
		return fmt.Sprintf("%s %s", kind, trimSlashes(pos[1])), nil
	}()
	if err != nil {
		return c.fail("%s: %v", kind, err)
	}
	fmt.Fprintln(stdout, made)
	return 0
}

// chmodNoFollow sets the mode of the file at path without following a
// link planted there.
func chmodNoFollow(path string, perm uint32) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, perm); err != nil {
		return &os.PathError{Op: "fchmod", Path: path, Err: err}
	}
	return nil
}

func mkError(kind string, err error) error {
	switch {
	case errors.Is(err, os.ErrExist):
		if isSysV(kind) {
			return errors.New("key already in use")
		}
		return errors.New("name already exists")
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("permission denied: %v", err)
	case errors.Is(err, unix.ENOSPC):
		return fmt.Errorf("a system limit was reached (see ipckit limits): %v", err)
	}
	return err
}
