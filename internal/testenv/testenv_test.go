package testenv_test

import (
	"os"
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipckit/ipckit/internal/testenv"
	"github.com/ipckit/ipckit/ipctest"
)

func init() {
	testenv.RegisterChild("hello", func(args []string) int {
		os.Stdout.WriteString("hello " + args[0])
		return 0
	})
}

func TestMain(m *testing.M) {
	testenv.RunChildIfAsked()
	ipctest.Main(m)
}

func TestCommandUsesExecPrefix(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("IPCKIT_EXEC", "qemu-fake-static -L /usr/fake-linux-gnu")
	if !testenv.Emulated() {
		t.Fatal("Emulated() = false with IPCKIT_EXEC set")
	}
	cmd := testenv.Command(exe, "-x", "y")
	want := []string{"qemu-fake-static", "-L", "/usr/fake-linux-gnu", exe, "-x", "y"}
	if !slices.Equal(cmd.Args, want) {
		t.Errorf("Command args = %q, want %q", cmd.Args, want)
	}
	child := testenv.Child(t, "hello", "z")
	want = []string{"qemu-fake-static", "-L", "/usr/fake-linux-gnu", exe, "z"}
	if !slices.Equal(child.Args, want) {
		t.Errorf("Child args = %q, want %q", child.Args, want)
	}
	// A program built for another architecture runs directly.
	if other := foreignBinary(t); other != "" {
		if cmd := testenv.Command(other); !slices.Equal(cmd.Args, []string{other}) {
			t.Errorf("Command(%s) = %q under emulation, want it run directly", other, cmd.Args)
		}
	}
}

// foreignBinary returns an executable on this host that is not built for
// GOARCH, or "" if there is none to be found.
func foreignBinary(t *testing.T) string {
	for _, p := range []string{"/bin/sh", "/usr/bin/env"} {
		if ok, _ := testenv.BuiltForGOARCH(p); !ok {
			return p
		}
	}
	return ""
}

func TestBuiltForGOARCH(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := testenv.BuiltForGOARCH(exe); !ok {
		t.Errorf("the test binary itself is not built for %s: %s", runtime.GOARCH, why)
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	if runtime.GOARCH == "386" && unix.ByteSliceToString(u.Machine[:]) == "x86_64" {
		// The 386 leg: the host's /bin/sh is an x86_64 program.
		if ok, _ := testenv.BuiltForGOARCH("/bin/sh"); ok {
			t.Errorf("the x86_64 host's /bin/sh is reported as built for 386")
		}
	}
}

func TestChildRunsNatively(t *testing.T) {
	out, err := testenv.Child(t, "hello", "world").Output()
	if err != nil || string(out) != "hello world" {
		t.Fatalf("child said %q, %v", out, err)
	}
}

func TestSkipUnderEmulation(t *testing.T) {
	ran := false
	t.Run("sub", func(t *testing.T) {
		testenv.SkipUnderEmulation(t, "deliberately, to test the helper")
		ran = true
	})
	if ran == testenv.Emulated() {
		t.Errorf("SkipUnderEmulation: body ran = %v with Emulated() = %v", ran, testenv.Emulated())
	}
}

func TestRequirePeerABI(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	t.Run("own-binary", func(t *testing.T) {
		testenv.RequirePeerABI(t, exe)
		ran = true
	})
	if !ran {
		t.Error("RequirePeerABI skipped for a binary built for GOARCH")
	}
	other := foreignBinary(t)
	if other == "" {
		return
	}
	ran = false
	t.Run("host-binary", func(t *testing.T) {
		testenv.RequirePeerABI(t, other)
		ran = true
	})
	if ran == testenv.Emulated() {
		t.Errorf("RequirePeerABI(%s): ran=%v with Emulated()=%v", other, ran, testenv.Emulated())
	}
}
