package shmheap

import (
	"bufio"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

func buildPeer(t *testing.T) string {
	bin := testenv.BuildC(t, "", "shmheap_peer", []string{"shmheap_peer.c"}, "-I", filepath.Join(testenv.Root(), "shmheap"))
	testenv.RequirePeerABI(t, bin)
	return bin
}

// TestCPeer: C processes using shmheap.h find a Value created by Go and
// increment it under its lock, concurrently with Go; read an Array; and
// leave a half-done store when killed, which Go's next Load completes.
func TestCPeer(t *testing.T) {
	bin := buildPeer(t)
	out, err := testenv.Command(bin, "fp").Output()
	if err != nil {
		t.Fatal(err)
	}
	i64, _ := typeOf[int64]()
	i32, _ := typeOf[int32]()
	if got, want := strings.TrimSpace(string(out)), fmt.Sprint(i64.fp, " ", i32.fp); got != want {
		t.Fatalf("C fingerprints %s, Go %s", got, want)
	}
	locks(t, func(t *testing.T, lk LockKind) {
		name := ipctest.Name("cpeer")
		h, err := CreateShm(name, 1<<20, &Options{Lock: lk})
		if err != nil {
			t.Fatal(err)
		}
		defer UnlinkShm(name)
		defer h.Close()
		v := must(CreateValue[int64](h, "counter"))
		defer v.Close()
		a := must(CreateArray[int32](h, "arr", 4))
		defer a.Close()
		for i := 0; i < 4; i++ {
			a.Store(i, int32(10*i-5))
		}

		const n = 3000
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := testenv.Command(bin, "inc", name, "counter", fmt.Sprint(n)).CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != "ok" {
					errs <- fmt.Errorf("C inc: %v: %s", err, out)
				}
			}()
		}
		for i := 0; i < n; i++ {
			if err := v.Update(func(x *int64) { *x++ }); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if x, _ := v.Load(); x != 3*n {
			t.Fatalf("counter %d after 3×%d increments by C and Go", x, n)
		}

		out, err := testenv.Command(bin, "read", name, "arr").Output()
		if err != nil || strings.TrimSpace(string(out)) != "-5 5 15 25" {
			t.Fatalf("C read: %q %v", out, err)
		}
		out, _ = testenv.Command(bin, "wrong", name, "counter").Output()
		if strings.TrimSpace(string(out)) != "EPROTOTYPE" {
			t.Fatalf("C lookup with the wrong size: %q", out)
		}

		// A C process dies half-way through a store: Go completes it.
		cmd := testenv.Command(bin, "hold", name, "counter", "777")
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		if line != "held\n" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("C hold: %q", line)
		}
		cmd.Process.Kill()
		cmd.Wait()
		if x, err := v.Load(); err != nil || x != 777 {
			t.Fatalf("after the C holder died mid-store: %d, %v", x, err)
		}
		mustCheck(t, h)
	})
}

// TestCPeerMusl: a musl C peer shares a LockPID heap, and refuses a heap
// locked by glibc's robust mutex, whose layout musl does not share.
func TestCPeerMusl(t *testing.T) {
	bin := testenv.BuildC(t, "musl-gcc", "shmheap_peer_musl", []string{"shmheap_peer.c"}, "-I", filepath.Join(testenv.Root(), "shmheap"))
	testenv.RequirePeerABI(t, bin)
	name := ipctest.Name("musl")
	h, err := CreateShm(name, 1<<20, &Options{Lock: LockPID})
	if err != nil {
		t.Fatal(err)
	}
	defer UnlinkShm(name)
	defer h.Close()
	v := must(CreateValue[int64](h, "counter"))
	defer v.Close()
	out, err := testenv.Command(bin, "inc", name, "counter", "2000").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("musl inc: %v: %s", err, out)
	}
	if x, _ := v.Load(); x != 2000 {
		t.Fatalf("counter %d", x)
	}
	if robustOK() != nil {
		return
	}
	rname := ipctest.Name("muslrobust")
	hr, err := CreateShm(rname, 1<<20, &Options{Lock: LockRobust})
	if err != nil {
		t.Fatal(err)
	}
	defer UnlinkShm(rname)
	defer hr.Close()
	must(CreateValue[int64](hr, "counter")).Close()
	out, err = testenv.Command(bin, "inc", rname, "counter", "1").CombinedOutput()
	if err == nil || !strings.Contains(strings.ToLower(string(out)), "not supported") {
		t.Fatalf("musl peer on a robust-locked heap: %v: %s", err, out)
	}
}
