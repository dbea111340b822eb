// Package testenv holds what ipckit's tests share: the CI rule that a
// missing tool is a failure rather than a skip, building C peers at test
// time, finding a Python interpreter with the modules a test needs, and
// re-executing the test binary as a child process.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true), where every test
// that would skip for a missing tool must fail instead.
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips the test with the given reason, or fails it in CI.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("CI=true forbids this skip: %s", msg)
	}
	t.Skip(msg)
}

// Tool returns the path of an executable on PATH, or skips (fails in CI).
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		SkipOrFail(t, "%s not found on PATH (on Debian: see .ci/apt.d for the package): %v", name, err)
	}
	return p
}

// RequireRoot skips (fails in CI, which runs as root) unless euid is 0.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root: %s", why)
	}
}

// Root returns the module's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// CSource returns the path of a C peer under tests/c.
func CSource(name string) string { return filepath.Join(Root(), "tests", "c", name) }

// CC returns the C compiler for the architecture the test binary runs on:
// $IPCKIT_CC when set (cross legs set it), else cc for the host. A test
// binary built for 386 on an amd64 host uses i686-linux-gnu-gcc.
func CC(t testing.TB) string {
	t.Helper()
	if cc := os.Getenv("IPCKIT_CC"); cc != "" {
		return Tool(t, cc)
	}
	if runtime.GOARCH == "386" {
		return Tool(t, "i686-linux-gnu-gcc")
	}
	return Tool(t, "cc")
}

// Cross reports whether C peers are built with a cross compiler: the
// test binary is 386 on an amd64 host, or a cross leg set $IPCKIT_CC.
func Cross() bool { return runtime.GOARCH == "386" || os.Getenv("IPCKIT_CC") != "" }

var buildMu sync.Mutex

// BuildC compiles C sources (paths, or names under tests/c) into an
// executable in a temporary directory and returns its path. cc is a
// compiler name ("" for CC(t)); flags go before the sources; -pthread is added.
func BuildC(t testing.TB, cc string, out string, srcs []string, flags ...string) string {
	t.Helper()
	if cc == "" {
		cc = CC(t)
	} else {
		cc = Tool(t, cc)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	bin := filepath.Join(t.TempDir(), out)
	args := append([]string{"-O2", "-Wall", "-std=gnu11", "-pthread", "-o", bin, "-I", filepath.Join(Root(), "tests", "c")}, flags...)
	if Cross() {
		// Cross-built peers link statically, so they need neither the
		// target's dynamic loader on the host nor qemu's -L.
		args = append(args, "-static")
	}
	for _, s := range srcs {
		if !filepath.IsAbs(s) {
			s = CSource(s)
		}
		args = append(args, s)
	}
	args = append(args, "-lrt")
	cmd := exec.Command(cc, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", cc, strings.Join(args, " "), err, b)
	}
	return bin
}

// Python returns an interpreter that can import every named module,
// trying python3 on PATH first and then Debian's /usr/bin/python3 (where
// Debian's python3-sysv-ipc is installed). It skips (fails in CI) if none can.
func Python(t testing.TB, modules ...string) string {
	t.Helper()
	var cands []string
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	cands = append(cands, "/usr/bin/python3")
	script := "import sys\n"
	for _, m := range modules {
		script += "import " + m + "\n"
	}
	for _, c := range cands {
		if err := exec.Command(c, "-c", script).Run(); err == nil {
			return c
		}
	}
	SkipOrFail(t, "no python3 can import %v (tried %v); on Debian install python3 and python3-sysv-ipc", modules, cands)
	return ""
}

const childEnv = "IPCKIT_TEST_CHILD"

var children = map[string]func(args []string) int{}

// RegisterChild names a function that a re-executed test binary runs
// instead of the tests; its return value is the exit status.
func RegisterChild(name string, fn func(args []string) int) { children[name] = fn }

// RunChildIfAsked must be the first statement of TestMain: in a child
// started by Child it runs the registered function and exits.
func RunChildIfAsked() {
	name := os.Getenv(childEnv)
	if name == "" {
		return
	}
	fn, ok := children[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "testenv: no child %q registered\n", name)
		os.Exit(3)
	}
	os.Exit(fn(os.Args[1:]))
}

// Child returns a command that re-executes the current test binary as the
// named child with args. The caller sets Stdin/Stdout, ExtraFiles, etc.
func Child(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	if _, ok := children[name]; !ok {
		t.Fatalf("testenv: child %q is not registered", name)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	cmd.Stderr = os.Stderr
	return cmd
}

// Command returns a command that runs a program built for the test's
// architecture. Under an emulated cross-architecture leg, $IPCKIT_EXEC
// (for example "qemu-aarch64-static -L /usr/aarch64-linux-gnu") is put in
// front of it.
func Command(bin string, args ...string) *exec.Cmd {
	if pre := strings.Fields(os.Getenv("IPCKIT_EXEC")); len(pre) > 0 {
		return exec.Command(pre[0], append(append(pre[1:], bin), args...)...)
	}
	return exec.Command(bin, args...)
}
