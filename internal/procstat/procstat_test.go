package procstat

import (
	"os"
	"os/exec"
	"testing"
)

func TestSelfAndChild(t *testing.T) {
	st, running, ok := Stat(os.Getpid())
	if !running || !ok || st == 0 {
		t.Fatalf("Stat(self) = %d, %v, %v", st, running, ok)
	}
	if s := SelfStart(); !SameStart(uint32(s), uint32(st)) {
		t.Errorf("SelfStart %d, /proc/self/stat %d", s, st)
	}
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if _, running, ok := Stat(pid); !running || !ok {
		t.Fatalf("running child: running %v ok %v", running, ok)
	}
	cmd.Process.Kill()
	cmd.Process.Wait()
	if _, running, ok := Stat(pid); running || !ok {
		t.Errorf("reaped child: running %v ok %v, want gone", running, ok)
	}
}

func TestSameStart(t *testing.T) {
	for _, c := range []struct {
		a, b uint32
		want bool
	}{{5, 5, true}, {100, 0, true}, {0, 101, false}, {0xffffffff, 50, true}, {1000, 100, false}} {
		if got := SameStart(c.a, c.b); got != c.want {
			t.Errorf("SameStart(%d, %d) = %v", c.a, c.b, got)
		}
	}
}
