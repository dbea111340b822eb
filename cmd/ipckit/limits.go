package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/shmname"
	"github.com/ipckit/ipckit/sysv"
)

func init() {
	register(command{name: "limits", summary: "IPC limits (every IPC sysctl) and current usage (like lsipc -g, ipcs -l)", run: runLimits})
}

// limitRow is one limit: where it comes from, what it bounds, its value
// and, where the kernel counts against it, the current use.
type limitRow struct {
	Resource    string  `json:"resource"`
	Source      string  `json:"source"` // the sysctl, "fixed", getrlimit or statfs
	Description string  `json:"description"`
	Limit       *uint64 `json:"limit,omitempty"`
	Used        *uint64 `json:"used,omitempty"`
	Error       string  `json:"error,omitempty"`
}

// ipcUsage counts the objects of each kind and what they hold.
type ipcUsage struct {
	MsgQueues     uint64  `json:"msg_queues"`
	MsgMessages   uint64  `json:"msg_messages"`
	MsgBytes      uint64  `json:"msg_bytes"`
	SemSets       uint64  `json:"sem_sets"`
	Semaphores    uint64  `json:"semaphores"`
	ShmSegments   uint64  `json:"shm_segments"`
	ShmBytes      uint64  `json:"shm_bytes"`
	ShmPages      uint64  `json:"shm_pages"`
	ShmAttached   uint64  `json:"shm_attached"`
	PosixShm      uint64  `json:"posix_shm"`
	PosixShmBytes uint64  `json:"posix_shm_bytes"`
	PosixSems     uint64  `json:"posix_sems"`
	Rings         uint64  `json:"rings"`
	RingBytes     uint64  `json:"ring_bytes"`
	Mqueues       *uint64 `json:"mqueues,omitempty"`
	MqMessages    *uint64 `json:"mqueue_messages,omitempty"`
	MqBytes       *uint64 `json:"mqueue_bytes,omitempty"`
}

func readSysctl(name string) ([]uint64, error) {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/"))
	if err != nil {
		return nil, err
	}
	var vs []uint64
	for _, f := range strings.Fields(string(b)) {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			// shmall and shmmax may print as a negative long on some
			// kernels; read them as the unsigned value they are.
			n, err2 := strconv.ParseInt(f, 10, 64)
			if err2 != nil {
				return nil, fmt.Errorf("%s: %q: %v", name, f, err)
			}
			v = uint64(n)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

func u64(v uint64) *uint64 { return &v }

func runLimits(args []string, stdout, stderr io.Writer) int {
	c := newCLI("limits", "limits [--json] [--noheadings]",
		"Print every IPC limit the kernel applies (the kernel.msg*, kernel.sem,\n"+
			"kernel.shm* and fs.mqueue.* sysctls, the fixed SEMVMX and SHMMIN, this\n"+
			"process's RLIMIT_MSGQUEUE and the size of /dev/shm) with the current use\n"+
			"where the kernel counts against the limit, then the objects of each kind\n"+
			"and what they hold. Limits are per IPC namespace except RLIMIT_MSGQUEUE\n"+
			"(per user) and /dev/shm (per mount).",
		stdout, stderr)
	asJSON := c.fs.Bool("json", false, "print JSON: {\"limits\": [...], \"usage\": {...}}")
	noHead := c.fs.Bool("noheadings", false, "do not print the header line")
	c.fs.BoolVar(noHead, "n", false, "same as --noheadings")
	pos, done, st := c.parse(args)
	if done {
		return st
	}
	if len(pos) != 0 {
		return c.usageErr("unexpected argument %q", pos[0])
	}
	status := 0
	var u ipcUsage
	objs, errs := listObjects(nil)
	mqOK := true
	for _, err := range errs {
		if strings.HasPrefix(err.Error(), "message queues:") {
			mqOK = false
			fmt.Fprintf(stderr, "ipckit limits: %v (POSIX queue usage not shown)\n", err)
			continue
		}
		fmt.Fprintf(stderr, "ipckit limits: %v\n", err)
		status = 1
	}
	if mqOK {
		u.Mqueues, u.MqMessages, u.MqBytes = u64(0), u64(0), u64(0)
	}
	pageSize := uint64(os.Getpagesize())
	for i := range objs {
		o := &objs[i]
		switch o.Kind {
		case kindMsg:
			u.MsgQueues++
			u.MsgMessages += o.SV.Messages
			u.MsgBytes += o.SV.Bytes
		case kindSem:
			u.SemSets++
			u.Semaphores += uint64(o.SV.NSems)
		case kindShm:
			u.ShmSegments++
			u.ShmBytes += o.SV.Size
			u.ShmPages += (o.SV.Size + pageSize - 1) / pageSize
			u.ShmAttached += o.SV.Attaches
		case kindPosixShm:
			u.PosixShm++
			u.PosixShmBytes += uint64(o.Size)
		case kindPosixSem:
			u.PosixSems++
		case kindRing:
			u.Rings++
			u.RingBytes += uint64(o.Size)
		case kindMqueue:
			*u.Mqueues++
			*u.MqBytes += o.MQ.QSize
			if o.MQAttr != nil {
				*u.MqMessages += uint64(o.MQAttr.CurMsgs)
			}
		}
	}

	var rows []limitRow
	sysctl := func(res, name string, idx int, desc string, used *uint64) {
		r := limitRow{Resource: res, Source: name, Description: desc, Used: used}
		vs, err := readSysctl(name)
		if len(vs) > 1 || idx > 0 {
			r.Source = fmt.Sprintf("%s[%d]", name, idx)
		}
		switch {
		case err != nil:
			r.Error = err.Error()
		case idx >= len(vs):
			r.Error = fmt.Sprintf("%s has %d values", name, len(vs))
		default:
			r.Limit = u64(vs[idx])
		}
		rows = append(rows, r)
	}
	fixed := func(res, desc string, v uint64) {
		rows = append(rows, limitRow{Resource: res, Source: "fixed", Description: desc, Limit: u64(v)})
	}
	sysctl("MSGMNI", "kernel.msgmni", 0, "System V message queues", u64(u.MsgQueues))
	sysctl("MSGMAX", "kernel.msgmax", 0, "largest System V message (bytes)", nil)
	sysctl("MSGMNB", "kernel.msgmnb", 0, "default capacity of a System V queue (bytes)", nil)
	sysctl("SEMMNI", "kernel.sem", 3, "System V semaphore sets", u64(u.SemSets))
	sysctl("SEMMNS", "kernel.sem", 1, "System V semaphores, all sets together", u64(u.Semaphores))
	sysctl("SEMMSL", "kernel.sem", 0, "semaphores in one set", nil)
	sysctl("SEMOPM", "kernel.sem", 2, "operations in one semop call", nil)
	fixed("SEMVMX", "largest semaphore value", sysv.SEMVMX)
	sysctl("SHMMNI", "kernel.shmmni", 0, "System V shared-memory segments", u64(u.ShmSegments))
	sysctl("SHMALL", "kernel.shmall", 0, fmt.Sprintf("System V shared memory, all segments together (%d-byte pages)", pageSize), u64(u.ShmPages))
	sysctl("SHMMAX", "kernel.shmmax", 0, "largest segment (bytes)", nil)
	fixed("SHMMIN", "smallest segment (bytes)", sysv.SHMMIN)
	sysctl("SHM_RMID_FORCED", "kernel.shm_rmid_forced", 0, "1: a segment goes when its last process detaches, even unremoved", nil)
	sysctl("MQ_QUEUES_MAX", "fs.mqueue.queues_max", 0, "POSIX message queues", u.Mqueues)
	sysctl("MQ_MSG_MAX", "fs.mqueue.msg_max", 0, "largest mq_maxmsg without CAP_SYS_RESOURCE", nil)
	sysctl("MQ_MSGSIZE_MAX", "fs.mqueue.msgsize_max", 0, "largest mq_msgsize without CAP_SYS_RESOURCE", nil)
	sysctl("MQ_MSG_DEFAULT", "fs.mqueue.msg_default", 0, "mq_maxmsg of a queue created without attributes", nil)
	sysctl("MQ_MSGSIZE_DEFAULT", "fs.mqueue.msgsize_default", 0, "mq_msgsize of a queue created without attributes", nil)
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MSGQUEUE, &rl); err == nil {
		r := limitRow{Resource: "RLIMIT_MSGQUEUE", Source: "getrlimit", Description: "bytes of POSIX queues per user (this process's soft limit)"}
		if rl.Cur != unix.RLIM_INFINITY {
			r.Limit = u64(rl.Cur)
		} else {
			r.Error = "unlimited"
		}
		rows = append(rows, r)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(shmname.Dir, &sfs); err == nil {
		bs := uint64(sfs.Bsize)
		rows = append(rows, limitRow{Resource: "DEVSHM", Source: "statfs " + strings.TrimSuffix(shmname.Dir, "/"),
			Description: "bytes of POSIX shared memory, semaphores and rings (tmpfs size)",
			Limit:       u64(uint64(sfs.Blocks) * bs), Used: u64(uint64(sfs.Blocks-sfs.Bfree) * bs)})
	}

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Limits []limitRow `json:"limits"`
			Usage  ipcUsage   `json:"usage"`
		}{rows, u}); err != nil {
			return c.fail("%v", err)
		}
		return status
	}
	var head []string
	if !*noHead {
		head = []string{"RESOURCE", "SOURCE", "LIMIT", "USED", "USE%", "DESCRIPTION"}
	}
	var cells [][]string
	for _, r := range rows {
		lim, used, pct := "-", "-", "-"
		if r.Limit != nil {
			lim = strconv.FormatUint(*r.Limit, 10)
		} else if r.Error != "" {
			lim = r.Error
		}
		if r.Used != nil {
			used = strconv.FormatUint(*r.Used, 10)
			if r.Limit != nil && *r.Limit > 0 {
				pct = fmt.Sprintf("%.2f%%", float64(*r.Used)*100/float64(*r.Limit))
			}
		}
		cells = append(cells, []string{r.Resource, r.Source, lim, used, pct, r.Description})
	}
	writeTable(stdout, head, []bool{false, false, true, true, true, false}, cells)
	fmt.Fprintf(stdout, "\nin use:\n")
	fmt.Fprintf(stdout, "  System V: %d message queues (%d messages, %d bytes), %d semaphore sets (%d semaphores),\n",
		u.MsgQueues, u.MsgMessages, u.MsgBytes, u.SemSets, u.Semaphores)
	fmt.Fprintf(stdout, "            %d shared-memory segments (%d bytes, %d attaches)\n", u.ShmSegments, u.ShmBytes, u.ShmAttached)
	mq := "POSIX queues not listed (see above)"
	if u.Mqueues != nil {
		mq = fmt.Sprintf("%d message queues (%d messages, %d bytes)", *u.Mqueues, *u.MqMessages, *u.MqBytes)
	}
	fmt.Fprintf(stdout, "  POSIX:    %d shared-memory objects (%d bytes), %d named semaphores, %s\n", u.PosixShm, u.PosixShmBytes, u.PosixSems, mq)
	fmt.Fprintf(stdout, "  rings:    %d named rings (%d bytes)\n", u.Rings, u.RingBytes)
	return status
}
