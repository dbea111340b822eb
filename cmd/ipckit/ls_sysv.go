package main

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/sysv"
)

func init() {
	registerLister("sysv", listSysV)
	for _, k := range []sysv.Kind{sysv.MessageQueue, sysv.SemaphoreSet, sysv.SharedMemory} {
		k := k
		registerRemover(k.String(), func(arg string) error { return removeSysV(k, arg) })
	}
}

func listSysV() ([]object, error) {
	objs, err := sysv.List()
	if err != nil {
		return nil, err
	}
	out := make([]object, 0, len(objs))
	for _, o := range objs {
		r := object{
			Kind: o.Kind.String(), ID: o.ID, Key: int32(o.Perm.Key), UID: o.Perm.UID, GID: o.Perm.GID,
			Perms: fmt.Sprintf("%04o", uint32(o.Perm.Mode)), Changed: o.Changed,
		}
		switch o.Kind {
		case sysv.MessageQueue:
			r.Size, r.Count, r.LPID = o.Bytes, o.Messages, o.LastSendPID
		case sysv.SemaphoreSet:
			r.Count = uint64(o.NSems)
		case sysv.SharedMemory:
			r.Size, r.Count, r.CPID, r.LPID = o.Size, o.Attaches, o.CreatorPID, o.LastPID
			var flags []string
			if o.Removed {
				flags = append(flags, "dest")
			}
			if o.Locked {
				flags = append(flags, "locked")
			}
			r.Detail = strings.Join(flags, ",")
		}
		out = append(out, r)
	}
	return out, nil
}

// removeSysV removes by id, or by key when arg is hexadecimal (0x...).
func removeSysV(k sysv.Kind, arg string) error {
	id, err := sysvID(k, arg)
	if err != nil {
		return err
	}
	switch k {
	case sysv.MessageQueue:
		return sysv.QueueFromID(id).Remove()
	case sysv.SemaphoreSet:
		_, err := sysv.SemctlVal(id, 0, sysv.IPC_RMID, 0)
		return err
	default:
		return sysv.SegmentFromID(id).Remove()
	}
}

func sysvID(k sysv.Kind, arg string) (int, error) {
	if strings.HasPrefix(arg, "0x") || strings.HasPrefix(arg, "0X") {
		v, err := strconv.ParseUint(arg[2:], 16, 32)
		if err != nil {
			return 0, fmt.Errorf("bad key %q", arg)
		}
		key := sysv.Key(int32(uint32(v)))
		if key == sysv.IPCPrivate {
			return 0, fmt.Errorf("key 0 is IPC_PRIVATE, which names no single object: use the id")
		}
		switch k {
		case sysv.MessageQueue:
			return sysv.Msgget(key, 0)
		case sysv.SemaphoreSet:
			return sysv.Semget(key, 0, 0)
		default:
			return sysv.Shmget(key, 0, 0)
		}
	}
	id, err := strconv.Atoi(arg)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("%q is neither an id nor a 0x key: %w", arg, unix.EINVAL)
	}
	return id, nil
}
