package sysv_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/sysv"
)

const nobody = 65534

func init() {
	// as-nobody KEY QID SID MID: try each kind of access and print one
	// line per attempt: "name errno-or-ok".
	testenv.RegisterChild("as-nobody", func(args []string) int {
		var key, qid, sid, mid int
		fmt.Sscan(args[0], &key)
		fmt.Sscan(args[1], &qid)
		fmt.Sscan(args[2], &sid)
		fmt.Sscan(args[3], &mid)
		report := func(name string, err error) {
			switch {
			case err == nil:
				fmt.Println(name, "ok")
			case errors.Is(err, os.ErrPermission) && errors.Is(err, unix.EACCES):
				fmt.Println(name, "EACCES")
			default:
				fmt.Println(name, err)
			}
		}
		_, err := sysv.OpenQueue(sysv.Key(key))
		report("msgget", err)
		_, err = sysv.QueueFromID(qid)
		report("msgctl", err)
		m := sysv.NewMsgbuf(1)
		m.SetType(1)
		report("msgsnd", sysv.Msgsnd(qid, m, sysv.IPC_NOWAIT))
		_, err = sysv.OpenSemSet(sysv.Key(key))
		report("semget", err)
		_, err = sysv.SemctlVal(sid, 0, sysv.GETVAL, 0)
		report("semctl", err)
		_, err = sysv.OpenSegment(sysv.Key(key))
		report("shmget", err)
		_, err = sysv.Shmat(mid, 0, 0)
		report("shmat", err)
		fmt.Println("uid", os.Getuid())
		return 0
	})
}

// TestEACCESAsNobody creates 0600 objects as root and has a child process
// running as nobody try to use them: every access fails with EACCES,
// which matches os.ErrPermission.
func TestEACCESAsNobody(t *testing.T) {
	testenv.RequireRoot(t, "dropping to uid nobody in a child process")
	key := uniqueKey(t)
	q, err := sysv.CreateQueue(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Remove()
	s, err := sysv.CreateSemSet(key, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Remove()
	seg, err := sysv.CreateSegment(key, 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Remove()

	cmd := ipctest.AsUser(t, testenv.Child(t, "as-nobody", fmt.Sprint(int32(key)), fmt.Sprint(q.ID()), fmt.Sprint(s.ID()), fmt.Sprint(seg.ID())), nobody, nobody)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got := string(out)
	for _, op := range []string{"msgget", "msgctl", "msgsnd", "semget", "semctl", "shmget", "shmat"} {
		if !strings.Contains(got, op+" EACCES\n") {
			t.Errorf("%s as nobody: want EACCES; child said:\n%s", op, got)
		}
	}
	if !strings.Contains(got, fmt.Sprintf("uid %d\n", nobody)) {
		t.Errorf("child did not run as nobody:\n%s", got)
	}
	// Granting access by mode lets nobody in.
	if testenv.IPCPermModeUnreliable() {
		t.Log("skipping the chmod step: qemu-user writes ipc_perm.mode as 16 bits on s390x (IPC_SET would set mode 0)")
		return
	}
	if err := q.Chmod(0o666); err != nil {
		t.Fatal(err)
	}
	cmd = ipctest.AsUser(t, testenv.Child(t, "as-nobody", fmt.Sprint(int32(key)), fmt.Sprint(q.ID()), fmt.Sprint(s.ID()), fmt.Sprint(seg.ID())), nobody, nobody)
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "msgsnd ok\n") || !strings.Contains(string(out), "msgget ok\n") {
		t.Errorf("after chmod 0666 nobody must be able to send:\n%s", out)
	}
}

// modeIs compares a mode read back with IPC_STAT, unless the emulator
// garbles it (testenv.IPCPermModeUnreliable).
func modeIs(got, want os.FileMode) bool {
	return got == want || testenv.IPCPermModeUnreliable()
}
