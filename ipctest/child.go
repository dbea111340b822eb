package ipctest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
)

// RegisterChild names a function that Command and Unprivileged run in a
// re-executed copy of the test binary (from TestMain via Main, before any
// test runs); its result is the child's exit status. Register children in
// init functions or at the top of TestMain. (ipckit's own tests share this
// registry through internal/testenv.)
func RegisterChild(name string, fn func(args []string) int) {
	testenv.RegisterChild(name, fn)
}

func runChildIfAsked() { testenv.RunChildIfAsked() }

// Command returns a command that re-executes the test binary to run the
// child registered as name with args; the caller sets Stdin, Stdout,
// ExtraFiles and so on (Stderr defaults to the test's). Under ipckit's
// emulator legs it runs the binary through $IPCKIT_EXEC.
func Command(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	return testenv.Child(t, name, args...)
}

// Nobody is the uid and gid of the unprivileged user on Debian and most
// distributions (nobody:nogroup).
const Nobody = 65534

// Unprivileged is Command for a child that runs as uid and gid (use
// Nobody) with no supplementary groups, to test permission errors
// against the real kernel; see AsUser.
func Unprivileged(t testing.TB, uid, gid uint32, name string, args ...string) *exec.Cmd {
	t.Helper()
	return AsUser(t, Command(t, name, args...), uid, gid)
}

// AsUser makes cmd, a command that re-executes the test binary (from
// Command, or any helper that starts os.Executable(), directly or through
// an emulator prefix), run as uid and gid with no supplementary groups.
// go test builds the binary in a directory only its owner can enter, so
// AsUser points cmd at a copy in a directory every user can read (made
// once per test binary run and removed by Main), and runs it from there with HOME and TMPDIR
// pointing at it. Changing the user needs root: otherwise the test is
// skipped (failed with CI=true).
func AsUser(t testing.TB, cmd *exec.Cmd, uid, gid uint32) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "ipctest: running a child as uid %d needs root", uid)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("ipctest: %v", err)
	}
	pub, err := publicCopy(t)
	if err != nil {
		t.Fatalf("ipctest: %v", err)
	}
	replaced := false
	if cmd.Path == exe {
		cmd.Path, replaced = pub, true
	}
	for i, a := range cmd.Args {
		if a == exe {
			cmd.Args[i], replaced = pub, true
		}
	}
	if !replaced {
		t.Fatalf("ipctest: AsUser: %v does not run the test binary %s", cmd.Args, exe)
	}
	cmd.Dir = filepath.Dir(pub)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	// HOME and TMPDIR may point at root's private directories.
	cmd.Env = append(filterEnv(env, "HOME=", "TMPDIR=", "GOCOVERDIR="), "HOME="+filepath.Dir(pub), "TMPDIR="+filepath.Dir(pub))
	return cmd
}

var public struct {
	sync.Mutex
	path string
}

// publicCopy copies the test binary, once per process, into a fresh
// directory with mode 0755 that Main removes after the tests.
func publicCopy(t testing.TB) (string, error) {
	public.Lock()
	defer public.Unlock()
	if public.path != "" {
		if _, err := os.Stat(public.path); err == nil {
			return public.path, nil
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "ipctest-public-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	dst := filepath.Join(dir, filepath.Base(exe))
	if err := copyFile(dst, exe, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	public.path = dst
	return dst, nil
}

// removePublicCopy deletes what publicCopy made; Main calls it.
func removePublicCopy() {
	public.Lock()
	defer public.Unlock()
	if public.path != "" {
		os.RemoveAll(filepath.Dir(public.path))
		public.path = ""
	}
}

func copyFile(dst, src string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

func filterEnv(env []string, drop ...string) []string {
	out := env[:0:0]
next:
	for _, kv := range env {
		for _, p := range drop {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}
