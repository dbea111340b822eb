package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ipckit/ipckit/mmapring"
)

// column is one column of ls: its name (upper case in the table, lower
// case as a JSON key), what it shows, the kinds it applies to, and the
// value for one object (nil where it does not apply, so the table shows
// "-" and JSON leaves the key out).
type column struct {
	name   string
	help   string
	kinds  []string // empty: every kind
	dflt   bool     // shown without -o
	number bool     // right-aligned
	get    func(o *object) any
}

var (
	sysvKinds  = []string{kindMsg, kindSem, kindShm}
	namedKinds = []string{kindPosixShm, kindPosixSem, kindMqueue, kindRing}
	fileKinds  = []string{kindShm, kindPosixShm, kindPosixSem, kindRing}
)

// sysvTime is a SysV time, or nil when it was never set (ipcs: "Not set").
func sysvTime(t time.Time) any {
	if t.IsZero() || t.Unix() == 0 {
		return nil
	}
	return t
}

func svGet(f func(o *object) any) func(o *object) any {
	return func(o *object) any {
		if o.SV == nil {
			return nil
		}
		return f(o)
	}
}

var columns = []column{
	{name: "KIND", help: "kind of object (msg, sem, shm, posix-shm, posix-sem, mqueue, ring)", dflt: true,
		get: func(o *object) any { return o.Kind }},
	{name: "ID", help: "System V id", kinds: sysvKinds, dflt: true, number: true,
		get: svGet(func(o *object) any { return o.SV.ID })},
	{name: "KEY", help: "System V key, hexadecimal (0x00000000 is IPC_PRIVATE)", kinds: sysvKinds, dflt: true,
		get: svGet(func(o *object) any { return keyString(int32(o.SV.Perm.Key)) })},
	{name: "NAME", help: "name of a POSIX object or ring, without the leading slash", kinds: namedKinds, dflt: true,
		get: func(o *object) any {
			if o.SV != nil {
				return nil
			}
			return o.Name
		}},
	{name: "OWNER", help: "owner's user name", dflt: true, get: func(o *object) any { return userName(o.uid()) }},
	{name: "UID", help: "owner's uid", number: true, get: func(o *object) any { return o.uid() }},
	{name: "GID", help: "owner's gid", number: true, get: func(o *object) any { return o.gid() }},
	{name: "CUID", help: "creator's uid (System V)", kinds: sysvKinds, number: true,
		get: svGet(func(o *object) any { return o.SV.Perm.CUID })},
	{name: "CGID", help: "creator's gid (System V)", kinds: sysvKinds, number: true,
		get: svGet(func(o *object) any { return o.SV.Perm.CGID })},
	{name: "PERMS", help: "permission bits, octal", dflt: true,
		get: func(o *object) any { return fmt.Sprintf("%04o", uint32(o.mode().Perm())) }},
	{name: "SIZE", help: "bytes: a segment's size, a file's size", kinds: fileKinds, dflt: true, number: true,
		get: func(o *object) any {
			if o.SV != nil {
				if o.Kind == kindShm {
					return o.SV.Size
				}
				return nil
			}
			if o.Kind == kindMqueue {
				return nil
			}
			return o.Size
		}},
	{name: "USEDBYTES", help: "bytes queued: message text (msg, mqueue), ring data (SPSC ring)", kinds: []string{kindMsg, kindMqueue, kindRing}, dflt: true, number: true,
		get: func(o *object) any {
			switch {
			case o.SV != nil && o.Kind == kindMsg:
				return o.SV.Bytes
			case o.MQ != nil:
				return o.MQ.QSize
			case o.Ring != nil && o.Ring.Kind == mmapring.KindSPSC:
				return o.Ring.Used
			}
			return nil
		}},
	{name: "MESSAGES", help: "messages queued (msg, mqueue, MPMC ring)", kinds: []string{kindMsg, kindMqueue, kindRing}, dflt: true, number: true,
		get: func(o *object) any {
			switch {
			case o.SV != nil && o.Kind == kindMsg:
				return o.SV.Messages
			case o.MQAttr != nil:
				return o.MQAttr.CurMsgs
			case o.Ring != nil && o.Ring.Kind == mmapring.KindMPMC:
				return o.Ring.Used
			}
			return nil
		}},
	{name: "MAXMSG", help: "capacity in messages (mqueue mq_maxmsg, MPMC ring cells)", kinds: []string{kindMqueue, kindRing}, number: true,
		get: func(o *object) any {
			switch {
			case o.MQAttr != nil:
				return o.MQAttr.MaxMsgs
			case o.Ring != nil && o.Ring.Kind == mmapring.KindMPMC:
				return o.Ring.Capacity
			}
			return nil
		}},
	{name: "MSGSIZE", help: "largest message in bytes (mqueue mq_msgsize, ring)", kinds: []string{kindMqueue, kindRing}, number: true,
		get: func(o *object) any {
			switch {
			case o.MQAttr != nil:
				return o.MQAttr.MsgSize
			case o.Ring != nil:
				return o.Ring.MaxMessage
			}
			return nil
		}},
	{name: "NSEMS", help: "semaphores in the set", kinds: []string{kindSem}, dflt: true, number: true,
		get: func(o *object) any {
			if o.SV == nil || o.Kind != kindSem {
				return nil
			}
			return o.SV.NSems
		}},
	{name: "NATTCH", help: "processes attached (shm), live peers attached (ring)", kinds: []string{kindShm, kindRing}, dflt: true, number: true,
		get: func(o *object) any {
			switch {
			case o.SV != nil && o.Kind == kindShm:
				return o.SV.Attaches
			case o.Ring != nil:
				return livePeers(o.Ring)
			}
			return nil
		}},
	{name: "STATUS", help: "state flags: dest, locked (shm); notification (mqueue); spsc/mpmc, closed, dead-peers=N (ring)", kinds: []string{kindShm, kindMqueue, kindRing}, dflt: true,
		get: func(o *object) any {
			if s := o.status(); s != "" {
				return s
			}
			return nil
		}},
	{name: "CPID", help: "creator's pid (shm)", kinds: []string{kindShm}, number: true,
		get: func(o *object) any {
			if o.SV == nil || o.Kind != kindShm {
				return nil
			}
			return o.SV.CreatorPID
		}},
	{name: "LPID", help: "pid of the last shmat/shmdt (shm)", kinds: []string{kindShm}, number: true,
		get: func(o *object) any {
			if o.SV == nil || o.Kind != kindShm {
				return nil
			}
			return o.SV.LastPID
		}},
	{name: "LSPID", help: "pid of the last msgsnd (msg)", kinds: []string{kindMsg}, number: true,
		get: func(o *object) any {
			if o.SV == nil || o.Kind != kindMsg {
				return nil
			}
			return o.SV.LastSendPID
		}},
	{name: "LRPID", help: "pid of the last msgrcv (msg)", kinds: []string{kindMsg}, number: true,
		get: func(o *object) any {
			if o.SV == nil || o.Kind != kindMsg {
				return nil
			}
			return o.SV.LastReceivePID
		}},
	{name: "RSS", help: "resident bytes (shm)", kinds: []string{kindShm}, number: true,
		get: func(o *object) any {
			if o.SV == nil || o.Kind != kindShm {
				return nil
			}
			return o.SV.RSS
		}},
	{name: "SWAP", help: "swapped bytes (shm)", kinds: []string{kindShm}, number: true,
		get: func(o *object) any {
			if o.SV == nil || o.Kind != kindShm {
				return nil
			}
			return o.SV.Swap
		}},
	{name: "STIME", help: "time of the last msgsnd (msg)", kinds: []string{kindMsg},
		get: func(o *object) any {
			if o.SV == nil || o.Kind != kindMsg {
				return nil
			}
			return sysvTime(o.SV.LastSend)
		}},
	{name: "RTIME", help: "time of the last msgrcv (msg)", kinds: []string{kindMsg},
		get: func(o *object) any {
			if o.SV == nil || o.Kind != kindMsg {
				return nil
			}
			return sysvTime(o.SV.LastReceive)
		}},
	{name: "OTIME", help: "time of the last semop (sem)", kinds: []string{kindSem},
		get: func(o *object) any {
			if o.SV == nil || o.Kind != kindSem {
				return nil
			}
			return sysvTime(o.SV.LastOp)
		}},
	{name: "ATIME", help: "time of the last shmat (shm)", kinds: []string{kindShm},
		get: func(o *object) any {
			if o.SV == nil || o.Kind != kindShm {
				return nil
			}
			return sysvTime(o.SV.LastAttach)
		}},
	{name: "DTIME", help: "time of the last shmdt (shm)", kinds: []string{kindShm},
		get: func(o *object) any {
			if o.SV == nil || o.Kind != kindShm {
				return nil
			}
			return sysvTime(o.SV.LastDetach)
		}},
	{name: "MTIME", help: "last modification of the file (POSIX objects, rings)", kinds: namedKinds,
		get: func(o *object) any {
			if o.SV != nil || o.MTime.IsZero() {
				return nil
			}
			return o.MTime
		}},
	{name: "CTIME", help: "last change: IPC_SET or creation (System V), inode change (POSIX files)", dflt: true,
		get: func(o *object) any {
			if o.SV != nil {
				return sysvTime(o.SV.Changed)
			}
			if o.CTime.IsZero() {
				if o.MTime.IsZero() {
					return nil
				}
				return o.MTime // the mqueue filesystem: its mtime is what it keeps
			}
			return o.CTime
		}},
}

func findColumn(name string) *column {
	for i := range columns {
		if columns[i].name == name {
			return &columns[i]
		}
	}
	return nil
}

func (c *column) appliesTo(want map[string]bool) bool {
	if len(c.kinds) == 0 || len(want) == 0 {
		return true
	}
	for _, k := range c.kinds {
		if want[k] {
			return true
		}
	}
	return false
}

func keyString(k int32) string { return fmt.Sprintf("0x%08x", uint32(k)) }

// timeFormat is RFC 3339 with the zone, in the table and in JSON.
const timeFormat = time.RFC3339

// percent is a percentage: "12.5%" in a table, 12.5 in JSON.
type percent float64

// cellText formats a column value for the table.
func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case percent:
		return fmt.Sprintf("%.1f%%", float64(x))
	case time.Time:
		return x.Format(timeFormat)
	case string:
		if x == "" {
			return "-"
		}
		return x
	}
	return fmt.Sprint(v)
}

// jsonValue returns v as it goes into JSON: numbers stay numbers, times
// become RFC 3339 strings.
func jsonValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.Format(timeFormat)
	case percent:
		return float64(x)
	}
	return v
}

// orderedObject is a JSON object whose keys keep their order.
type orderedObject []kv

type kv struct {
	k string
	v any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.k)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeTable prints rows under head (no header line when head is nil),
// columns separated by one space, right-aligned where right says so, the
// last column unpadded.
func writeTable(w io.Writer, head []string, right []bool, rows [][]string) {
	all := rows
	if head != nil {
		all = append([][]string{head}, rows...)
	}
	var widths []int
	for _, r := range all {
		for j, s := range r {
			if j >= len(widths) {
				widths = append(widths, 0)
			}
			widths[j] = max(widths[j], utf8.RuneCountInString(s))
		}
	}
	for _, r := range all {
		var line strings.Builder
		for j, s := range r {
			pad := strings.Repeat(" ", widths[j]-utf8.RuneCountInString(s))
			if j > 0 {
				line.WriteByte(' ')
			}
			switch {
			case j < len(right) && right[j]:
				line.WriteString(pad + s)
			case j == len(r)-1:
				line.WriteString(s)
			default:
				line.WriteString(s + pad)
			}
		}
		fmt.Fprintln(w, line.String())
	}
}
