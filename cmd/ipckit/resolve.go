package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/shmname"
	"github.com/ipckit/ipckit/sysv"
)

// A target is what the user named on the command line: a SysV object by
// id or key, or a POSIX object or ring by name. Errors about it read like
// util-linux's ipcrm: "invalid id (99)", "invalid key (0x1234)",
// "name not found (foo)".

// targetError is a failure about one named object, in ipcrm's words.
type targetError struct{ msg string }

func (e *targetError) Error() string { return e.msg }

func errf(format string, a ...any) error { return &targetError{fmt.Sprintf(format, a...)} }

// idError words an errno from an operation on a SysV id as ipcrm does.
func idError(arg string, isKey bool, err error) error {
	what := "id"
	if isKey {
		what = "key"
	}
	switch {
	case errors.Is(err, unix.EINVAL):
		return errf("invalid %s (%s)", what, arg)
	case errors.Is(err, unix.EIDRM):
		return errf("already removed %s (%s)", what, arg)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return errf("permission denied for %s (%s)", what, arg)
	}
	return errf("%s (%s): %v", what, arg, err)
}

// nameError words an error from an operation on a POSIX name.
func nameError(arg string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errf("name not found (%s)", arg)
	case errors.Is(err, os.ErrPermission):
		return errf("permission denied for name (%s)", arg)
	case errors.Is(err, shmname.ErrInvalid):
		return errf("invalid name (%s)", arg)
	}
	return errf("%s: %v", arg, err)
}

// parseKey parses a hexadecimal key "0x..." (the form ipcs prints).
func parseKey(arg string) (sysv.Key, bool, error) {
	if !strings.HasPrefix(arg, "0x") && !strings.HasPrefix(arg, "0X") {
		return 0, false, nil
	}
	v, err := strconv.ParseUint(arg[2:], 16, 32)
	if err != nil {
		return 0, true, errf("failed to parse argument: '%s'", arg)
	}
	return sysv.Key(int32(uint32(v))), true, nil
}

// sysvID resolves ID or 0xKEY to an id. With check, an id is checked with
// IPC_STAT, so a stale id fails here (rm leaves that to IPC_RMID, which the
// owner may do without read permission).
func sysvID(kind, arg string, check bool) (int, error) {
	key, isKey, err := parseKey(arg)
	if err != nil {
		return 0, err
	}
	if isKey {
		if key == sysv.IPCPrivate {
			return 0, errf("illegal key (%s): IPC_PRIVATE names no single object, use the id", arg)
		}
		var id int
		switch kind {
		case kindMsg:
			id, err = sysv.Msgget(key, 0)
		case kindSem:
			id, err = sysv.Semget(key, 0, 0)
		default:
			id, err = sysv.Shmget(key, 0, 0)
		}
		if errors.Is(err, unix.ENOENT) {
			return 0, errf("invalid key (%s)", arg)
		}
		if err != nil {
			return 0, idError(arg, true, err)
		}
		return id, nil
	}
	id, err := strconv.Atoi(arg)
	if err != nil {
		return 0, errf("failed to parse argument: '%s'", arg)
	}
	if id < 0 {
		return 0, errf("invalid id (%s)", arg)
	}
	if !check {
		return id, nil
	}
	if err := sysvStat(kind, id); err != nil {
		return 0, idError(arg, false, err)
	}
	return id, nil
}

// sysvStat checks that id names a live object of kind (IPC_STAT).
func sysvStat(kind string, id int) error {
	var err error
	switch kind {
	case kindMsg:
		var ds sysv.MsqidDS
		_, err = sysv.Msgctl(id, sysv.IPC_STAT, &ds)
	case kindSem:
		var ds sysv.SemidDS
		_, err = sysv.SemctlBuf(id, sysv.IPC_STAT, &ds)
	default:
		var ds sysv.ShmidDS
		_, err = sysv.Shmctl(id, sysv.IPC_STAT, &ds)
	}
	return err
}

// sysvRemove removes id (IPC_RMID).
func sysvRemove(kind string, id int) error {
	var err error
	switch kind {
	case kindMsg:
		_, err = sysv.Msgctl(id, sysv.IPC_RMID, nil)
	case kindSem:
		_, err = sysv.SemctlVal(id, 0, sysv.IPC_RMID, 0)
	default:
		_, err = sysv.Shmctl(id, sysv.IPC_RMID, nil)
	}
	return err
}

// sysvObject returns the listing record of id (as ls shows it).
func sysvObject(kind string, id int) (*sysv.Object, error) {
	objs, err := sysv.List()
	if err != nil {
		return nil, err
	}
	for i := range objs {
		if objs[i].ID == id && objs[i].Kind.String() == kind {
			return &objs[i], nil
		}
	}
	return nil, unix.EINVAL // removed meanwhile
}

// shmFile returns the /dev/shm path of a POSIX name (prefix "sem." for
// named semaphores) after checking the name.
func shmFile(arg, prefix string) (string, error) {
	p, err := shmname.Path(arg, prefix)
	if err != nil {
		return "", nameError(arg, err)
	}
	return p, nil
}

// isSemFile reports whether a posix-shm name is really glibc's file for a
// named semaphore (sem.NAME), which ls lists as a posix-sem.
func isSemFile(arg string) bool {
	rest, ok := strings.CutPrefix(trimSlashes(arg), "sem.")
	return ok && rest != ""
}
