package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ipckit/ipckit/sysv"
)

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestLsAndRmSysV(t *testing.T) {
	q, err := sysv.CreateQueue(sysv.IPCPrivate, &sysv.Options{Mode: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Remove()
	if err := q.Send(context.Background(), 1, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	seg, err := sysv.CreateSegment(sysv.IPCPrivate, 8192, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Remove()

	out, errs, code := runCmd(t, "ls", "--json", "--kind", "msg,shm")
	if code != 0 {
		t.Fatalf("ls exit %d: %s", code, errs)
	}
	var objs []object
	if err := json.Unmarshal([]byte(out), &objs); err != nil {
		t.Fatalf("ls --json is not JSON: %v\n%s", err, out)
	}
	var sawQ, sawSeg bool
	for _, o := range objs {
		if o.Kind == "msg" && o.ID == q.ID() {
			sawQ = o.Perms == "0640" && o.Size == 5 && o.Count == 1
		}
		if o.Kind == "shm" && o.ID == seg.ID() {
			sawSeg = o.Size == 8192 && o.Perms == "0600"
		}
		if o.Kind != "msg" && o.Kind != "shm" {
			t.Errorf("--kind msg,shm listed %s", o.Kind)
		}
	}
	if !sawQ || !sawSeg {
		t.Fatalf("ls --json lacks the queue (%v) or segment (%v):\n%s", sawQ, sawSeg, out)
	}
	table, _, _ := runCmd(t, "ls")
	if !strings.Contains(table, fmt.Sprintf("msg   %d", q.ID())) && !strings.Contains(table, fmt.Sprint(q.ID())) {
		t.Errorf("table lacks the queue:\n%s", table)
	}

	if _, errs, code := runCmd(t, "rm", "msg", fmt.Sprint(q.ID())); code != 0 {
		t.Fatalf("rm msg: %s", errs)
	}
	if _, err := q.Stat(); err == nil {
		t.Fatal("queue still exists after rm")
	}
	if _, _, code := runCmd(t, "rm", "msg", fmt.Sprint(q.ID())); code != 1 {
		t.Errorf("rm of a missing queue exited %d, want 1", code)
	}
	if _, _, code := runCmd(t, "rm", "nonsense", "1"); code != 2 {
		t.Errorf("rm of an unknown kind exited %d, want 2", code)
	}
}

func TestRmByKey(t *testing.T) {
	key := sysv.Key(0x4950c000 | int32(os.Getpid()&0xfff))
	s, err := sysv.CreateSemSet(key, 1, &sysv.Options{OpenExisting: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Remove()
	if _, errs, code := runCmd(t, "rm", "sem", fmt.Sprintf("0x%08x", uint32(key))); code != 0 {
		t.Fatalf("rm sem by key: %s", errs)
	}
	if _, err := sysv.OpenSemSet(key); err == nil {
		t.Fatal("set still exists")
	}
	if _, errs, code := runCmd(t, "rm", "sem", "0x0"); code != 1 || !strings.Contains(errs, "IPC_PRIVATE") {
		t.Errorf("rm by key 0: %d %s", code, errs)
	}
}

func TestUsage(t *testing.T) {
	out, _, code := runCmd(t, "help")
	if code != 0 || !strings.Contains(out, "ls") || !strings.Contains(out, "rm") {
		t.Errorf("help: %d %s", code, out)
	}
	if _, _, code := runCmd(t, "bogus"); code != 2 {
		t.Errorf("unknown command exit %d", code)
	}
}
