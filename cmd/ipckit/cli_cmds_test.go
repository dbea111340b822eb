package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
	"github.com/ipckit/ipckit/mmapring"
	"github.com/ipckit/ipckit/sysv"
)

// TestCLI builds the binary once and runs each subcommand's checks
// against it.
func TestCLI(t *testing.T) {
	bin := buildIpckit(t)
	for _, c := range []struct {
		name string
		fn   func(*testing.T, string)
	}{
		{"help-and-version", testHelpAndVersion},
		{"bad-input", testBadInput},
		{"rm-messages", testRmMessages},
		{"objects", testObjectsRoundTrip},
		{"ring-peers", testRingInfoPeers},
		{"ls-table", testLsTable},
		{"namespace", testNamespace},
		{"limits", testLimits},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, bin) })
	}
}

var subcommands = []string{"ls", "info", "limits", "mk", "rm", "bench", "features", "version", "help"}

// testHelpAndVersion: -h and --help exit 0 with the command's usage on
// stdout for every subcommand, `help CMD` prints the same, and version
// prints the module version from the build information.
func testHelpAndVersion(t *testing.T, bin string) {
	top := mustRun(t, bin, "-h")
	for _, c := range subcommands {
		if !strings.Contains(top, "\n  "+c+" ") {
			t.Errorf("ipckit -h does not list %s:\n%s", c, top)
		}
	}
	if r := ipckit(t, bin, "--help"); r.code != 0 || r.out != top {
		t.Errorf("ipckit --help: exit %d, output differs from -h", r.code)
	}
	for _, c := range subcommands {
		for _, h := range []string{"-h", "--help", "-help"} {
			r := ipckit(t, bin, c, h)
			if r.code != 0 || r.err != "" {
				t.Errorf("ipckit %s %s: exit %d, stderr %q", c, h, r.code, r.err)
			}
			if c != "help" && !strings.HasPrefix(r.out, "usage: ipckit "+c) {
				t.Errorf("ipckit %s %s: usage does not start with the command:\n%s", c, h, r.out)
			}
		}
		if c == "help" {
			continue
		}
		want := mustRun(t, bin, c, "-h")
		if got := mustRun(t, bin, "help", c); got != want {
			t.Errorf("ipckit help %s differs from ipckit %s -h:\n%s", c, c, cmp.Diff(want, got))
		}
	}
	if got := mustRun(t, bin, "help"); got != top {
		t.Errorf("ipckit help differs from ipckit -h")
	}
	// ls -h names its columns, rm -h its kinds, bench -h its rows.
	for c, words := range map[string][]string{
		"ls":    {"MESSAGES", "NSEMS", "NATTCH", "--noheadings", "--json"},
		"rm":    {"--all[=KINDS]", "posix-shm", "ring"},
		"bench": {nameSPSC, nameCRing, "-svg", "-csv", "-json"},
	} {
		h := mustRun(t, bin, c, "-h")
		for _, w := range words {
			if !strings.Contains(h, w) {
				t.Errorf("ipckit %s -h lacks %q", c, w)
			}
		}
	}

	for _, args := range [][]string{{"version"}, {"--version"}, {"-V"}} {
		out := mustRun(t, bin, args...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "ipckit ") || len(lines[0]) <= len("ipckit ") ||
			!strings.Contains(lines[1], "github.com/ipckit/ipckit") || !strings.Contains(lines[1], runtime.Version()) {
			t.Errorf("ipckit %s:\n%s", args[0], out)
		}
	}
}

// testBadInput: every bad flag or argument exits 1 with one line on
// stderr that says what was wrong, and nothing on stdout.
func testBadInput(t *testing.T, bin string) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"help", "bogus"}, `unknown command "bogus"`},
		{[]string{"ls", "bogus"}, `unknown kind "bogus"`},
		{[]string{"ls", "-kind", "bogus"}, `unknown kind "bogus"`},
		{[]string{"ls", "msg", "--kind", "msg,bogus"}, `unknown kind "bogus"`},
		{[]string{"ls", "-o", "KIND,COUNT"}, `unknown column "COUNT"`},
		{[]string{"ls", "--nosuch"}, "flag provided but not defined: -nosuch"},
		{[]string{"info"}, "give KIND"},
		{[]string{"info", "msg"}, "give an ID"},
		{[]string{"info", "bogus", "1"}, `unknown kind "bogus"`},
		{[]string{"info", "msg", "1", "2"}, "one object at a time"},
		{[]string{"info", "msg", "abc"}, "failed to parse argument: 'abc'"},
		{[]string{"limits", "extra"}, `unexpected argument "extra"`},
		{[]string{"mk"}, "give a KIND"},
		{[]string{"mk", "bogus"}, `unknown kind "bogus"`},
		{[]string{"mk", "msg", "--size", "4096"}, "--size does not apply to msg"},
		{[]string{"mk", "msg", "--mode", "999"}, "not an octal permission"},
		{[]string{"mk", "shm"}, "--size is required"},
		{[]string{"mk", "shm", "--size", "12Q"}, "bad size"},
		{[]string{"mk", "posix-shm"}, "needs a NAME"},
		{[]string{"mk", "msg", "name"}, "takes no NAME"},
		{[]string{"mk", "posix-shm", "../etc/passwd"}, "invalid name"},
		{[]string{"mk", "ring", ipctest.Name("cli-bad"), "--type", "nope"}, `--type "nope"`},
		{[]string{"rm"}, "nothing to remove"},
		{[]string{"rm", "msg"}, "msg: no ID, KEY or NAME given"},
		{[]string{"rm", "bogus", "1"}, `unknown kind "bogus"`},
		{[]string{"rm", "--all=bogus"}, `unknown kind "bogus"`},
		{[]string{"features", "extra"}, `unexpected argument "extra"`},
		{[]string{"version", "extra"}, `unexpected argument "extra"`},
		{[]string{"bench", "extra"}, `unexpected argument "extra"`},
		{[]string{"bench", "-repeat", "0"}, "-repeat 0: must be at least 1"},
		{[]string{"bench", "-repeat", "-3"}, "-repeat -3: must be at least 1"},
		{[]string{"bench", "-time", "-1s"}, "-time -1s: must be positive"},
		{[]string{"bench", "-time", "0"}, "-time 0s: must be positive"},
		{[]string{"bench", "-rtt-time", "0"}, "-rtt-time 0s: must be positive"},
		{[]string{"bench", "-only", "nosuch", "-quick"}, `"nosuch" matches no row`},
		{[]string{"bench", "-sizes", "3"}, `bad size "3"`},
		{[]string{"bench", "-json", "-csv"}, "choose one"},
		{[]string{"bench", "-quick", "-long"}, "choose one"},
		{[]string{"bench", "-only", "pipe", "-baseline", "spsc"}, `"spsc" is not among the rows run`},
		{[]string{"bench", "-baseline", "mmapring", "-quick"}, "matches 11 rows"},
		{[]string{"bench", "-svg", "/nonexistent/dir/x.svg", "-quick"}, "-svg"},
	}
	for _, c := range cases {
		r := ipckit(t, bin, c.args...)
		if r.code != 1 || r.out != "" || strings.Count(r.err, "\n") != 1 || !strings.Contains(r.err, c.want) ||
			strings.Contains(r.err, "panic") {
			t.Errorf("ipckit %s: exit %d, want 1 and one line on stderr containing %q\nstdout: %q\nstderr: %q",
				strings.Join(c.args, " "), r.code, c.want, r.out, r.err)
		}
	}
}

// testRmMessages: rm words its failures as ipcrm does, keeps going after
// a failure, and exits 1.
func testRmMessages(t *testing.T, bin string) {
	// A stale id: made and removed here, so it names nothing (the kernel
	// bumps the sequence number before reusing the slot).
	q, err := sysv.Msgget(sysv.IPCPrivate, sysv.IPC_CREAT|0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := sysvRemove(kindMsg, q); err != nil {
		t.Fatal(err)
	}
	seg, err := sysv.Shmget(sysv.IPCPrivate, 4096, sysv.IPC_CREAT|0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sysvRemove(kindShm, seg) })
	key := ipctest.Key()
	name := ipctest.Name("cli-rm")

	expect := func(args []string, code int, lines ...string) {
		t.Helper()
		r := ipckit(t, bin, args...)
		want := ""
		for _, l := range lines {
			want += "ipckit rm: " + l + "\n"
		}
		if r.code != code || r.err != want || r.out != "" {
			t.Errorf("ipckit %s: exit %d (want %d)\nstderr:\n%s", strings.Join(args, " "), r.code, code, cmp.Diff(want, r.err))
		}
	}
	// The id in the issue, when nothing on this host has it.
	var ds sysv.MsqidDS
	if _, err := sysv.Msgctl(99, sysv.IPC_STAT, &ds); errors.Is(err, unix.EINVAL) {
		expect([]string{"rm", "msg", "99"}, 1, "msg: invalid id (99)")
	}
	expect([]string{"rm", "msg", strconv.Itoa(q)}, 1, fmt.Sprintf("msg: invalid id (%d)", q))
	expect([]string{"rm", "msg", fmt.Sprintf("0x%08x", uint32(key))}, 1, fmt.Sprintf("msg: invalid key (0x%08x)", uint32(key)))
	expect([]string{"rm", "sem", "0x0"}, 1, "sem: illegal key (0x0): IPC_PRIVATE names no single object, use the id")
	expect([]string{"rm", "shm", "12abc"}, 1, "shm: failed to parse argument: '12abc'")
	expect([]string{"rm", "posix-shm", name}, 1, fmt.Sprintf("posix-shm: name not found (%s)", name))
	expect([]string{"rm", "posix-sem", name}, 1, fmt.Sprintf("posix-sem: name not found (%s)", name))
	expect([]string{"rm", "ring", "/" + name}, 1, fmt.Sprintf("ring: name not found (/%s)", name))
	for _, kind := range []string{"posix-shm", "posix-sem", "mqueue", "ring"} {
		for _, bad := range []string{"../x", "/a/b", "..", "/"} {
			if bad == ".." && kind == "posix-sem" {
				// glibc's sem_open accepts ".." (the file sem...): a name, not an error.
				expect([]string{"rm", kind, bad}, 1, "posix-sem: name not found (..)")
				continue
			}
			expect([]string{"rm", kind, bad}, 1, fmt.Sprintf("%s: invalid name (%s)", kind, bad))
		}
	}
	expect([]string{"rm", "posix-shm", "sem." + name}, 1, fmt.Sprintf("posix-shm: sem.%s is a named semaphore's file: remove it as posix-sem %s", name, name))
	// A failure does not stop the rest: the segment goes.
	expect([]string{"rm", "msg", strconv.Itoa(q), "shm", strconv.Itoa(seg)}, 1, fmt.Sprintf("msg: invalid id (%d)", q))
	if err := sysvStat(kindShm, seg); !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EIDRM) {
		t.Errorf("segment %d still there after rm: %v", seg, err)
	}
}

// testObjectsRoundTrip makes one object of every kind with mk, finds it
// with ls (table and JSON), reads it with info, and removes it with rm.
func testObjectsRoundTrip(t *testing.T, bin string) {
	if os.Geteuid() != 0 {
		if _, err := os.Stat("/dev/mqueue"); err != nil {
			testenv.SkipOrFail(t, "listing POSIX queues needs /dev/mqueue mounted or CAP_SYS_ADMIN")
		}
	}
	made := func(out, kind string) string {
		t.Helper()
		f := strings.Fields(out)
		if len(f) != 2 || f[0] != kind || strings.Count(out, "\n") != 1 {
			t.Fatalf("mk %s printed %q, want \"%s ID|NAME\"", kind, out, kind)
		}
		arg := f[1]
		t.Cleanup(func() { removeObject(kind, arg) })
		return arg
	}
	removed := func(kind, arg string) {
		t.Helper()
		if r := ipckit(t, bin, "rm", kind, arg); r.code != 0 || r.out != "" || r.err != "" {
			t.Errorf("rm %s %s: exit %d %q %q", kind, arg, r.code, r.out, r.err)
		}
		r := ipckit(t, bin, "info", kind, arg)
		if r.code != 1 || !(strings.Contains(r.err, "invalid id") || strings.Contains(r.err, "invalid key") || strings.Contains(r.err, "name not found")) {
			t.Errorf("info %s %s after rm: exit %d %q", kind, arg, r.code, r.err)
		}
	}

	t.Run("msg", func(t *testing.T) {
		id := made(mustRun(t, bin, "mk", "msg", "--mode", "0640"), kindMsg)
		n, _ := strconv.Atoi(id)
		m := make(sysv.Msgbuf, sysv.SizeofLong+5)
		m.SetType(1)
		copy(m.Text(), "hello")
		if err := sysv.Msgsnd(n, m, 0); err != nil {
			t.Fatal(err)
		}
		o := lsObject(t, bin, kindMsg, n)
		checkTimes(t, o)
		want := map[string]any{"kind": "msg", "id": float64(n), "key": "0x00000000", "owner": userName(uint32(os.Geteuid())),
			"uid": float64(os.Geteuid()), "gid": float64(os.Getegid()), "cuid": float64(os.Geteuid()), "cgid": float64(os.Getegid()),
			"perms": "0640", "usedbytes": float64(5), "messages": float64(1), "lspid": float64(os.Getpid()), "lrpid": float64(0)}
		if testenv.MsqPIDsUnreliable() {
			delete(o, "lspid")
			delete(want, "lspid")
		}
		if d := cmp.Diff(want, drop(o, "ctime", "stime")); d != "" {
			t.Errorf("ls msg --json (-want +got):\n%s", d)
		}
		info := jsonOf(t, mustRun(t, bin, "info", "msg", id, "--json"))
		checkTimes(t, info)
		msgmnb, _ := readSysctl("kernel.msgmnb")
		if info["maxbytes"] != float64(msgmnb[0]) || info["messages"] != float64(1) || info["rtime"] != nil || info["stime"] == nil {
			t.Errorf("info msg: %v", info)
		}
		removed(kindMsg, id)
	})

	t.Run("sem", func(t *testing.T) {
		key := ipctest.Key()
		keyArg := fmt.Sprintf("0x%08x", uint32(key))
		id := made(mustRun(t, bin, "mk", "sem", "--nsems", "3", "--value", "2", "--key", keyArg), kindSem)
		n, _ := strconv.Atoi(id)
		o := lsObject(t, bin, kindSem, n)
		if o["key"] != keyArg || o["nsems"] != float64(3) || o["name"] != nil || o["size"] != nil {
			t.Errorf("ls sem: %v", o)
		}
		// A waiter for semaphore 1 shows in its NCOUNT.
		done := make(chan error, 1)
		go func() {
			ts := sysv.NsecToTimespec(int64(time.Minute))
			done <- sysv.Semtimedop(n, []sysv.Sembuf{{Num: 1, Op: -3}}, &ts)
		}()
		var sems []any
		for deadline := time.Now().Add(time.Minute); ; {
			info := jsonOf(t, mustRun(t, bin, "info", "sem", keyArg, "--json"))
			if info["id"] != float64(n) || info["nsems"] != float64(3) {
				t.Fatalf("info sem by key: %v", info)
			}
			sems = info["semaphores"].([]any)
			if sems[1].(map[string]any)["ncount"] == float64(1) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		for i, s := range sems {
			m := s.(map[string]any)
			want := map[string]any{"semnum": float64(i), "value": float64(2), "ncount": float64(0), "zcount": float64(0)}
			if i == 1 {
				want["ncount"] = float64(1)
			}
			if pid, _ := m["pid"].(float64); pid <= 0 {
				t.Errorf("semaphore %d: pid %v, want the pid of mk's SETVAL", i, m["pid"])
			}
			if d := cmp.Diff(want, drop(m, "pid")); d != "" {
				t.Errorf("semaphore %d (-want +got):\n%s", i, d)
			}
		}
		table := mustRun(t, bin, "info", "sem", id)
		if !strings.Contains(table, "SEMNUM VALUE NCOUNT ZCOUNT") || !strings.Contains(table, "otime") {
			t.Errorf("info sem table:\n%s", table)
		}
		removed(kindSem, keyArg)
		if err := <-done; !errors.Is(err, unix.EIDRM) {
			t.Errorf("waiter: %v, want EIDRM after rm", err)
		}
	})

	t.Run("shm", func(t *testing.T) {
		id := made(mustRun(t, bin, "mk", "shm", "--size", "8K", "-p", "0604"), kindShm)
		n, _ := strconv.Atoi(id)
		o := lsObject(t, bin, kindShm, n)
		if o["size"] != float64(8192) || o["nattch"] != float64(0) || o["perms"] != "0604" || o["cpid"] == nil || o["messages"] != nil {
			t.Errorf("ls shm: %v", o)
		}
		info := jsonOf(t, mustRun(t, bin, "info", "shm", id, "--json"))
		if info["size"] != float64(8192) || info["atime"] != nil || info["status"] != nil {
			t.Errorf("info shm: %v", info)
		}
		removed(kindShm, id)
	})

	t.Run("posix-shm", func(t *testing.T) {
		name := made(mustRun(t, bin, "mk", "posix-shm", "/"+ipctest.Name("cli-shm"), "--size", "4096", "--mode", "0640"), kindPosixShm)
		o := lsObject(t, bin, kindPosixShm, name)
		checkTimes(t, o)
		want := map[string]any{"kind": "posix-shm", "name": name, "owner": userName(uint32(os.Geteuid())),
			"uid": float64(os.Geteuid()), "gid": float64(os.Getegid()), "perms": "0640", "size": float64(4096)}
		if d := cmp.Diff(want, drop(o, "ctime", "mtime")); d != "" {
			t.Errorf("ls posix-shm --json (-want +got):\n%s", d)
		}
		if r := ipckit(t, bin, "mk", "posix-shm", name); r.code != 1 || !strings.Contains(r.err, "name already exists") {
			t.Errorf("mk of an existing name: %d %q", r.code, r.err)
		}
		removed(kindPosixShm, name)
	})

	t.Run("posix-sem", func(t *testing.T) {
		name := made(mustRun(t, bin, "mk", "posix-sem", ipctest.Name("cli-sem"), "--value", "3"), kindPosixSem)
		info := jsonOf(t, mustRun(t, bin, "info", "posix-sem", name, "--json"))
		if info["value"] != float64(3) || info["waiters"] != float64(0) || info["format"] != "glibc" || info["perms"] != "0600" ||
			info["path"] != "/dev/shm/sem."+name {
			t.Errorf("info posix-sem: %v", info)
		}
		removed(kindPosixSem, name)
	})

	t.Run("mqueue", func(t *testing.T) {
		name := made(mustRun(t, bin, "mk", "mqueue", ipctest.Name("cli-mq"), "--maxmsg", "4", "--msgsize", "64"), kindMqueue)
		o := lsObject(t, bin, kindMqueue, name)
		if o["maxmsg"] != float64(4) || o["msgsize"] != float64(64) || o["messages"] != float64(0) || o["usedbytes"] != float64(0) || o["id"] != nil {
			t.Errorf("ls mqueue: %v", o)
		}
		info := jsonOf(t, mustRun(t, bin, "info", "mqueue", "/"+name, "--json"))
		if info["maxmsg"] != float64(4) || info["msgsize"] != float64(64) || info["notify"] != nil {
			t.Errorf("info mqueue: %v", info)
		}
		removed(kindMqueue, name)
	})

	t.Run("ring", func(t *testing.T) {
		name := made(mustRun(t, bin, "mk", "ring", ipctest.Name("cli-ring"), "--size", "64K"), kindRing)
		o := lsObject(t, bin, kindRing, name)
		if o["status"] != "spsc" || o["nattch"] != float64(0) || o["usedbytes"] != float64(0) || o["msgsize"] != float64(65536/2-8) {
			t.Errorf("ls ring: %v", o)
		}
		// It is a file in /dev/shm, but ls shows it as a ring only.
		doc := jsonOf(t, mustRun(t, bin, "ls", "posix-shm", "--json"))
		for _, x := range doc["objects"].([]any) {
			if x.(map[string]any)["name"] == name {
				t.Errorf("ring %s also listed as posix-shm", name)
			}
		}
		if r := ipckit(t, bin, "rm", "ring", name, "ring", name); r.code != 1 || r.err != fmt.Sprintf("ipckit rm: ring: name not found (%s)\n", name) {
			t.Errorf("rm ring twice: %d %q", r.code, r.err)
		}
		mpmc := made(mustRun(t, bin, "mk", "ring", ipctest.Name("cli-mpmc"), "--type", "mpmc", "--maxmsg", "16", "--msgsize", "64"), kindRing)
		info := jsonOf(t, mustRun(t, bin, "info", "ring", mpmc, "--json"))
		if info["type"] != "mpmc" || info["capacity"] != float64(16) || info["capacity_unit"] != "cells" || info["msgsize"] != float64(64) || info["messages"] != float64(0) {
			t.Errorf("info ring (mpmc): %v", info)
		}
		removed(kindRing, mpmc)
	})
}

// testRingInfoPeers: info on a ring shows its positions, waiters and each
// attached process with its liveness, and ls flags dead peers.
func testRingInfoPeers(t *testing.T, bin string) {
	testenv.SkipUnderEmulation(t, "a ring's peer table records start times that qemu-user reports differently for the test and its child")
	name := ipctest.Name("cli-peers")
	r, err := mmapring.CreateShm(name, mmapring.Config{Capacity: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); mmapring.UnlinkShm(name) })
	p, err := r.Producer()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Detach()
	for i := 0; i < 3; i++ {
		if err := p.TrySend([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	child := testenv.Child(t, "ring-consumer", name)
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if line, err := bufioLine(out); err != nil || line != "ready" {
		child.Process.Kill()
		child.Wait()
		t.Fatalf("child: %q %v", line, err)
	}

	info := jsonOf(t, mustRun(t, bin, "info", "ring", name, "--json"))
	checkTimes(t, info)
	want := map[string]any{
		"kind": "ring", "name": name, "path": "/dev/shm/" + name, "type": "spsc", "capacity": float64(4096), "capacity_unit": "bytes",
		"msgsize": float64(4096/2 - 8), "producer_pos": float64(3 * 24), "consumer_pos": float64(0), "usedbytes": float64(3 * 24),
		"fill_percent": float64(3*24) * 100 / 4096, "data_waiters": float64(0), "space_waiters": float64(0), "closed": false,
		"peers": []any{
			map[string]any{"pid": float64(os.Getpid()), "role": "producer", "alive": true},
			map[string]any{"pid": float64(child.Process.Pid), "role": "consumer", "alive": true},
		},
	}
	if d := cmp.Diff(want, drop(info, "owner", "uid", "gid", "perms", "size", "mtime", "ctime")); d != "" {
		t.Errorf("info ring --json (-want +got):\n%s", d)
	}
	table := mustRun(t, bin, "info", "ring", name)
	for _, w := range []string{"producer_pos", "consumer_pos", "data_waiters", "PID", "ROLE", "ALIVE", strconv.Itoa(child.Process.Pid)} {
		if !strings.Contains(table, w) {
			t.Errorf("info ring table lacks %q:\n%s", w, table)
		}
	}

	// Killed, the consumer stays in the table, proven dead.
	child.Process.Kill()
	child.Wait()
	info = jsonOf(t, mustRun(t, bin, "info", "ring", name, "--json"))
	peers := info["peers"].([]any)
	if len(peers) != 2 || peers[1].(map[string]any)["alive"] != false || peers[0].(map[string]any)["alive"] != true {
		t.Errorf("after the consumer died: peers %v", peers)
	}
	o := lsObject(t, bin, kindRing, name)
	if o["status"] != "spsc,dead-peers=1" || o["nattch"] != float64(1) {
		t.Errorf("ls ring after the consumer died: %v", o)
	}
}

// testLsTable: the table's columns are named for what they count, times
// carry their zone, -o and --noheadings work, and positional kinds filter.
func testLsTable(t *testing.T, bin string) {
	id, err := sysv.Msgget(sysv.IPCPrivate, sysv.IPC_CREAT|0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sysvRemove(kindMsg, id) })
	name := ipctest.Name("cli-ls")
	if out := mustRun(t, bin, "mk", "posix-shm", name, "--size", "100"); out != "posix-shm "+name+"\n" {
		t.Fatalf("mk: %q", out)
	}
	t.Cleanup(func() { removeObject(kindPosixShm, name) })

	table := mustRun(t, bin, "ls")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	head := strings.Fields(lines[0])
	if d := cmp.Diff([]string{"KIND", "ID", "KEY", "NAME", "OWNER", "PERMS", "SIZE", "USEDBYTES", "MESSAGES", "NSEMS", "NATTCH", "STATUS", "CTIME"}, head); d != "" {
		t.Errorf("ls header (-want +got):\n%s", d)
	}
	var sawMsg, sawShm bool
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != len(head) {
			t.Errorf("row with %d cells, header has %d: %q", len(f), len(head), l)
			continue
		}
		if !rfc3339.MatchString(f[len(f)-1]) && f[len(f)-1] != "-" {
			t.Errorf("CTIME %q is not RFC 3339 with a zone", f[len(f)-1])
		}
		sawMsg = sawMsg || (f[0] == "msg" && f[1] == strconv.Itoa(id) && f[2] == "0x00000000" && f[3] == "-")
		sawShm = sawShm || (f[0] == "posix-shm" && f[1] == "-" && f[2] == "-" && f[3] == name && f[6] == "100")
	}
	if !sawMsg || !sawShm {
		t.Errorf("ls lacks the queue (%v) or the shm object (%v):\n%s", sawMsg, sawShm, table)
	}

	// Kinds as arguments; defaults narrowed to the columns that apply.
	out := mustRun(t, bin, "ls", "msg")
	if h := strings.Fields(strings.SplitN(out, "\n", 2)[0]); !cmp.Equal(h, []string{"KIND", "ID", "KEY", "OWNER", "PERMS", "USEDBYTES", "MESSAGES", "CTIME"}) {
		t.Errorf("ls msg header: %v", h)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		if !strings.HasPrefix(l, "msg ") {
			t.Errorf("ls msg listed %q", l)
		}
	}
	out = mustRun(t, bin, "ls", "-o", "kind,id,LSPID", "--noheadings", "msg", "posix-shm")
	found := false
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] == "KIND" {
			t.Errorf("ls -o kind,id,LSPID --noheadings: %q", l)
		}
		found = found || (len(f) == 3 && f[0] == "msg" && f[1] == strconv.Itoa(id) && f[2] == "0")
	}
	if !found {
		t.Errorf("ls -o: queue %d missing:\n%s", id, out)
	}
	out = mustRun(t, bin, "ls", "-o", "+CUID", "msg")
	if h := strings.Fields(strings.SplitN(out, "\n", 2)[0]); h[len(h)-1] != "CUID" {
		t.Errorf("ls -o +CUID header: %v", h)
	}
	// JSON: keys as 0x strings, no id/key on POSIX objects, only the
	// selected columns with -o.
	doc := jsonOf(t, mustRun(t, bin, "ls", "--json", "-o", "KIND,ID,KEY,NAME", "msg", "posix-shm"))
	for _, x := range doc["objects"].([]any) {
		m := x.(map[string]any)
		switch m["kind"] {
		case "msg":
			if k, _ := m["key"].(string); !strings.HasPrefix(k, "0x") || len(k) != 10 || m["name"] != nil || len(m) != 3 {
				t.Errorf("msg in JSON: %v", m)
			}
		case "posix-shm":
			if m["id"] != nil || m["key"] != nil || m["name"] == nil || len(m) != 2 {
				t.Errorf("posix-shm in JSON: %v", m)
			}
		default:
			t.Errorf("ls msg posix-shm listed %v", m)
		}
	}
}

// testNamespace runs rm --all and limits in a fresh IPC namespace with a
// private /dev/shm, where the counts are exactly what the test made.
func testNamespace(t *testing.T, bin string) {
	ipctest.InNewIPCNamespace(t, func() {
		for _, args := range [][]string{{"mk", "msg"}, {"mk", "msg"}, {"mk", "sem", "--nsems", "5"}, {"mk", "shm", "--size", "10000"},
			{"mk", "posix-shm", "a", "--size", "8192"}, {"mk", "posix-sem", "b"}, {"mk", "ring", "c"}} {
			mustRun(t, bin, args...)
		}
		lim := jsonOf(t, mustRun(t, bin, "limits", "--json"))
		u := lim["usage"].(map[string]any)
		pages := float64((10000 + os.Getpagesize() - 1) / os.Getpagesize())
		want := map[string]any{"msg_queues": 2.0, "msg_messages": 0.0, "msg_bytes": 0.0, "sem_sets": 1.0, "semaphores": 5.0,
			"shm_segments": 1.0, "shm_bytes": 10000.0, "shm_pages": pages, "shm_attached": 0.0,
			"posix_shm": 1.0, "posix_shm_bytes": 8192.0, "posix_sems": 1.0, "rings": 1.0}
		if d := cmp.Diff(want, drop(u, "ring_bytes", "mqueues", "mqueue_messages", "mqueue_bytes")); d != "" {
			t.Errorf("limits usage (-want +got):\n%s", d)
		}
		used := map[string]float64{}
		for _, x := range lim["limits"].([]any) {
			m := x.(map[string]any)
			if v, ok := m["used"].(float64); ok {
				used[m["resource"].(string)] = v
			}
		}
		if used["MSGMNI"] != 2 || used["SEMMNI"] != 1 || used["SEMMNS"] != 5 || used["SHMMNI"] != 1 || used["SHMALL"] != pages {
			t.Errorf("limits used: %v", used)
		}

		// --all is ipcrm's: every System V object, nothing else.
		if r := ipckit(t, bin, "rm", "--all"); r.code != 0 || r.out != "" || r.err != "" {
			t.Errorf("rm --all: %d %q %q", r.code, r.out, r.err)
		}
		left := func() []string {
			var s []string
			for _, x := range jsonOf(t, mustRun(t, bin, "ls", "--json", "-o", "KIND"))["objects"].([]any) {
				s = append(s, x.(map[string]any)["kind"].(string))
			}
			return s
		}
		if d := cmp.Diff([]string{"posix-shm", "posix-sem", "ring"}, left()); d != "" {
			t.Errorf("after rm --all (-want +got):\n%s", d)
		}
		out := mustRun(t, bin, "rm", "-v", "--all=posix-shm,ring")
		if out != "removed posix-shm a\nremoved ring c\n" {
			t.Errorf("rm -v --all=posix-shm,ring: %q", out)
		}
		mustRun(t, bin, "rm", "--all=posix-sem")
		if l := left(); len(l) != 0 {
			t.Errorf("left after rm --all=...: %v", l)
		}
	}, ipctest.PrivateDevShm())
}

// testLimits: every IPC sysctl is shown with the kernel's value.
func testLimits(t *testing.T, bin string) {
	out := mustRun(t, bin, "limits")
	for _, w := range []string{"MSGMNI", "MSGMAX", "MSGMNB", "SEMMNI", "SEMMNS", "SEMMSL", "SEMOPM", "SEMVMX", "SHMMNI", "SHMALL", "SHMMAX", "SHMMIN",
		"kernel.shm_rmid_forced", "fs.mqueue.queues_max", "fs.mqueue.msg_max", "fs.mqueue.msgsize_max", "fs.mqueue.msg_default",
		"fs.mqueue.msgsize_default", "RLIMIT_MSGQUEUE", "in use:"} {
		if !strings.Contains(out, w) {
			t.Errorf("limits lacks %s:\n%s", w, out)
		}
	}
	lim := jsonOf(t, mustRun(t, bin, "limits", "--json"))
	got := map[string]any{}
	for _, x := range lim["limits"].([]any) {
		m := x.(map[string]any)
		got[m["source"].(string)] = m["limit"]
	}
	for _, name := range []string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.shmmni", "fs.mqueue.msg_max"} {
		v, err := readSysctl(name)
		if err != nil {
			t.Fatal(err)
		}
		if got[name] != float64(v[0]) {
			t.Errorf("%s: limits says %v, /proc/sys says %d", name, got[name], v[0])
		}
	}
	sem, _ := readSysctl("kernel.sem")
	for i, v := range sem {
		if s := fmt.Sprintf("kernel.sem[%d]", i); got[s] != float64(v) {
			t.Errorf("%s: limits says %v, /proc/sys says %d", s, got[s], v)
		}
	}
}
