package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/posix"
	"github.com/ipckit/ipckit/semaphore"
	"github.com/ipckit/ipckit/sysv"
)

func init() {
	register(command{name: "info", summary: "every field of one object, semaphore values, ring peers (like ipcs -i)", run: runInfo})
}

// infoReport is what info prints: fields in order, then tables (the
// semaphores of a set, the peers of a ring).
type infoReport struct {
	fields orderedObject
	tables []infoTable
}

type infoTable struct {
	key  string   // JSON key of the array
	head []string // column names; JSON keys are their lower case
	rows [][]any
}

func (r *infoReport) add(k string, v any) {
	if v == nil || v == "" {
		return
	}
	r.fields = append(r.fields, kv{k, v})
}

func runInfo(args []string, stdout, stderr io.Writer) int {
	c := newCLI("info", "info KIND ID|0xKEY|NAME [--json]",
		"Print every field of one object, as ipcs -i does: for a semaphore set each\n"+
			"semaphore's value, pid of the last operation and waiters (GETVAL, GETPID,\n"+
			"GETNCNT, GETZCNT); for a POSIX queue its attributes (mq_getattr) and\n"+
			"notification; for a named semaphore its value and waiters; for a ring its\n"+
			"header (kind, capacity, positions, waiters) and each attached process with\n"+
			"whether it is alive. Times that were never set print as \"not set\" and are\n"+
			"left out of JSON.",
		stdout, stderr)
	asJSON := c.fs.Bool("json", false, "print JSON")
	c.extra = kindHelp()
	pos, done, st := c.parse(args)
	if done {
		return st
	}
	switch {
	case len(pos) == 0:
		return c.usageErr("give KIND and ID, KEY or NAME")
	case !isKind(pos[0]):
		return c.usageErr("unknown kind %q (kinds: %s)", pos[0], kindNames())
	case len(pos) == 1:
		return c.usageErr("%s: give an ID, KEY or NAME", pos[0])
	case len(pos) > 2:
		return c.usageErr("one object at a time: unexpected %q", pos[2])
	}
	rep, err := objectInfo(pos[0], pos[1])
	if err != nil {
		return c.fail("%s: %v", pos[0], err)
	}
	if *asJSON {
		var out orderedObject
		for _, f := range rep.fields {
			if t, ok := f.v.(time.Time); ok && t.IsZero() {
				continue // never set
			}
			out = append(out, kv{f.k, jsonValue(f.v)})
		}
		for _, t := range rep.tables {
			rows := make([]orderedObject, 0, len(t.rows))
			for _, r := range t.rows {
				var o orderedObject
				for j, v := range r {
					if v != nil {
						o = append(o, kv{toLower(t.head[j]), jsonValue(v)})
					}
				}
				rows = append(rows, o)
			}
			out = append(out, kv{t.key, rows})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return c.fail("%v", err)
		}
		return 0
	}
	var rows [][]string
	for _, f := range rep.fields {
		v := cellText(f.v)
		if t, ok := f.v.(time.Time); ok && t.IsZero() {
			v = "not set"
		}
		rows = append(rows, []string{f.k, v})
	}
	writeTable(stdout, nil, nil, rows)
	for _, t := range rep.tables {
		fmt.Fprintln(stdout)
		var cells [][]string
		right := make([]bool, len(t.head))
		for _, r := range t.rows {
			var line []string
			for j, v := range r {
				line = append(line, cellText(v))
				switch v.(type) {
				case int, int64, uint64, uint32:
					right[j] = true
				}
			}
			cells = append(cells, line)
		}
		if len(cells) == 0 {
			fmt.Fprintf(stdout, "%s: none\n", t.key)
			continue
		}
		fmt.Fprintf(stdout, "%s:\n", t.key)
		writeTable(stdout, t.head, right, cells)
	}
	return 0
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// timeOrUnset keeps zero times (printed "not set", left out of JSON).
func timeOrUnset(t time.Time) any {
	if t.IsZero() || t.Unix() == 0 {
		return time.Time{}
	}
	return t
}

func objectInfo(kind, arg string) (*infoReport, error) {
	switch kind {
	case kindMsg, kindSem, kindShm:
		return sysvInfo(kind, arg)
	case kindMqueue:
		return mqueueInfo(arg)
	}
	return shmFileInfo(kind, arg)
}

func permFields(r *infoReport, uid, gid uint32, mode os.FileMode) {
	r.add("owner", userName(uid))
	r.add("uid", uid)
	r.add("gid", gid)
	r.add("perms", fmt.Sprintf("%04o", uint32(mode.Perm())))
}

func sysvInfo(kind, arg string) (*infoReport, error) {
	id, err := sysvID(kind, arg, true)
	if err != nil {
		return nil, err
	}
	o, err := sysvObject(kind, id)
	if err != nil {
		return nil, idError(arg, false, err)
	}
	r := &infoReport{}
	r.add("kind", kind)
	r.add("id", o.ID)
	r.add("key", keyString(int32(o.Perm.Key)))
	permFields(r, o.Perm.UID, o.Perm.GID, o.Perm.Mode)
	r.add("cuid", o.Perm.CUID)
	r.add("cgid", o.Perm.CGID)
	switch kind {
	case kindMsg:
		r.add("usedbytes", o.Bytes)
		r.add("messages", o.Messages)
		var ds sysv.MsqidDS
		if _, err := sysv.Msgctl(id, sysv.IPC_STAT, &ds); err == nil {
			r.add("maxbytes", uint64(ds.Qbytes))
		}
		r.add("lspid", o.LastSendPID)
		r.add("lrpid", o.LastReceivePID)
		r.add("stime", timeOrUnset(o.LastSend))
		r.add("rtime", timeOrUnset(o.LastReceive))
	case kindSem:
		r.add("nsems", o.NSems)
		r.add("otime", timeOrUnset(o.LastOp))
		t := infoTable{key: "semaphores", head: []string{"SEMNUM", "VALUE", "NCOUNT", "ZCOUNT", "PID"}}
		for i := 0; i < o.NSems; i++ {
			row := []any{i}
			for _, cmd := range []int{sysv.GETVAL, sysv.GETNCNT, sysv.GETZCNT, sysv.GETPID} {
				v, err := sysv.SemctlVal(id, i, cmd, 0)
				if err != nil {
					return nil, idError(arg, false, err)
				}
				row = append(row, v)
			}
			t.rows = append(t.rows, row)
		}
		r.tables = append(r.tables, t)
	case kindShm:
		r.add("size", o.Size)
		r.add("nattch", o.Attaches)
		r.add("status", (&object{Kind: kindShm, SV: o}).status())
		r.add("cpid", o.CreatorPID)
		r.add("lpid", o.LastPID)
		r.add("rss", o.RSS)
		r.add("swap", o.Swap)
		r.add("atime", timeOrUnset(o.LastAttach))
		r.add("dtime", timeOrUnset(o.LastDetach))
	}
	r.add("ctime", timeOrUnset(o.Changed))
	return r, nil
}

func mqueueInfo(arg string) (*infoReport, error) {
	if _, err := shmFile(arg, ""); err != nil {
		return nil, err
	}
	qs, err := posix.ListQueues()
	if err != nil {
		return nil, err
	}
	name := trimSlashes(arg)
	var q *posix.QueueInfo
	for i := range qs {
		if qs[i].Name == name {
			q = &qs[i]
		}
	}
	if q == nil {
		return nil, errf("name not found (%s)", arg)
	}
	r := &infoReport{}
	r.add("kind", kindMqueue)
	r.add("name", q.Name)
	permFields(r, q.UID, q.GID, q.Mode)
	r.add("usedbytes", q.QSize)
	if a := mqAttr(q.Name); a != nil {
		r.add("messages", a.CurMsgs)
		r.add("maxmsg", a.MaxMsgs)
		r.add("msgsize", a.MsgSize)
	} else {
		r.add("attributes", "unreadable (no read or write permission)")
	}
	if q.NotifyPID != 0 {
		r.add("notify", map[int]string{0: "signal", 1: "none", 2: "thread"}[q.Notify])
		r.add("notify_pid", q.NotifyPID)
		if q.Notify == 0 {
			r.add("notify_signo", q.Signo)
		}
	}
	r.add("mtime", q.ModTime)
	return r, nil
}

func trimSlashes(s string) string {
	for len(s) > 0 && s[0] == '/' {
		s = s[1:]
	}
	return s
}

// shmFileInfo covers the kinds that live in /dev/shm.
func shmFileInfo(kind, arg string) (*infoReport, error) {
	prefix := ""
	if kind == kindPosixSem {
		prefix = "sem."
	}
	path, err := shmFile(arg, prefix)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, nameError(arg, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errf("not a POSIX object (%s): %s is a %s", arg, path, fi.Mode().Type())
	}
	if kind == kindPosixShm && isSemFile(arg) {
		return nil, errf("%s is a named semaphore's file: see ipckit info posix-sem %s", arg, strings.TrimPrefix(trimSlashes(arg), "sem."))
	}
	isRing := hasRingMagic(path)
	if kind == kindRing && !isRing {
		return nil, errf("not a ring (%s): see ipckit info posix-shm %s", arg, arg)
	}
	r := &infoReport{}
	r.add("kind", kind)
	r.add("name", trimSlashes(arg))
	r.add("path", path)
	var uid, gid uint32
	var ctime time.Time
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid, gid = st.Uid, st.Gid
		ctime = time.Unix(int64(st.Ctim.Sec), int64(st.Ctim.Nsec))
	}
	permFields(r, uid, gid, fi.Mode())
	r.add("size", fi.Size())
	switch kind {
	case kindPosixShm:
		if isRing {
			r.add("holds", "an mmapring ring: see ipckit info ring "+trimSlashes(arg))
		}
	case kindPosixSem:
		s, err := semaphore.Open(arg)
		if err != nil {
			r.add("error", err.Error())
			break
		}
		r.add("format", s.Format().String())
		r.add("value", s.Value())
		r.add("waiters", s.Waiters())
		s.Close()
	case kindRing:
		ring, err := mmapring.OpenShm(arg)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, nameError(arg, err)
			}
			r.add("error", err.Error())
			break
		}
		st, err := ring.Stats()
		ring.Close()
		if err != nil {
			r.add("error", err.Error())
			break
		}
		ringFields(r, &st)
	}
	r.add("mtime", fi.ModTime())
	r.add("ctime", ctime)
	return r, nil
}

func ringFields(r *infoReport, st *mmapring.Stats) {
	r.add("type", ringKind(st.Kind))
	unit := "bytes"
	if st.Kind == mmapring.KindMPMC {
		unit = "cells"
	}
	r.add("capacity", st.Capacity)
	r.add("capacity_unit", unit)
	r.add("msgsize", st.MaxMessage)
	r.add("producer_pos", st.ProducerPos)
	r.add("consumer_pos", st.ConsumerPos)
	if st.Kind == mmapring.KindSPSC {
		r.add("usedbytes", st.Used)
	} else {
		r.add("messages", st.Used)
	}
	r.add("fill_percent", percent(st.Fill*100))
	r.add("data_waiters", st.DataWaiters)
	r.add("space_waiters", st.SpaceWaiters)
	r.add("closed", st.Closed)
	if st.Kind == mmapring.KindMPMC {
		r.add("orphans", st.Orphans)
		r.add("unfinished", st.Unfinished)
	}
	t := infoTable{key: "peers", head: []string{"PID", "ROLE", "ALIVE"}}
	for _, p := range st.Peers {
		role := "producer"
		switch {
		case p.Producer && p.Consumer:
			role = "producer+consumer"
		case p.Consumer:
			role = "consumer"
		case !p.Producer:
			role = "none"
		}
		t.rows = append(t.rows, []any{p.Pid, role, p.Alive})
	}
	r.tables = append(r.tables, t)
}
