// Package testenv holds what ipckit's tests share: the CI rule that a
// missing tool is a failure rather than a skip, building C peers at test
// time, finding a Python interpreter with the modules a test needs, and
// re-executing the test binary as a child process.
package testenv

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
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

var (
	childMu  sync.Mutex
	children = map[string]func(args []string) int{}
)

// RegisterChild names a function that a re-executed test binary runs
// instead of the tests; its return value is the exit status. ipctest's
// RegisterChild, Command and Main use this same registry.
func RegisterChild(name string, fn func(args []string) int) {
	childMu.Lock()
	defer childMu.Unlock()
	children[name] = fn
}

// RunChildIfAsked must be the first statement of TestMain: in a child
// started by Child it runs the registered function and exits.
func RunChildIfAsked() {
	name := os.Getenv(childEnv)
	if name == "" {
		return
	}
	childMu.Lock()
	fn, ok := children[name]
	childMu.Unlock()
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
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return ChildOf(t, exe, name, args...)
}

// ChildOf is Child for a copy of the test binary at exe.
func ChildOf(t testing.TB, exe, name string, args ...string) *exec.Cmd {
	t.Helper()
	childMu.Lock()
	_, ok := children[name]
	childMu.Unlock()
	if !ok {
		t.Fatalf("testenv: child %q is not registered", name)
	}
	// Under qemu-user, os.Executable still names the emulated test binary
	// (qemu answers /proc/self/exe for its guest), but without binfmt_misc
	// the host cannot exec it directly: start it through the emulator.
	var cmd *exec.Cmd
	if prefix := ExecPrefix(); len(prefix) > 0 {
		cmd = exec.Command(prefix[0], append(append(prefix[1:len(prefix):len(prefix)], exe), args...)...)
	} else {
		cmd = exec.Command(exe, args...)
	}
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	cmd.Stderr = os.Stderr
	return cmd
}

// Cross-architecture legs (tests/legs.d/qemu.sh) run test binaries built
// for another GOARCH under a user-mode emulator and set IPCKIT_EXEC to the
// command words that run such a binary, e.g.
// "qemu-aarch64-static -L /usr/aarch64-linux-gnu". binfmt_misc is not
// assumed, so every binary built for GOARCH (the re-executed test binary
// and C peers built with CC) must be started through that prefix; Command
// and Child do it.
const execEnv = "IPCKIT_EXEC"

// ExecPrefix returns the words of $IPCKIT_EXEC: empty when binaries built
// for GOARCH run natively.
func ExecPrefix() []string { return strings.Fields(os.Getenv(execEnv)) }

// Emulated reports whether this test binary runs under a user-mode
// emulator (qemu-user), as the cross-architecture legs arrange.
func Emulated() bool { return len(ExecPrefix()) > 0 }

// SkipUnderEmulation skips the test when it runs under qemu-user, stating
// why the emulator cannot run it. It is for documented limitations of
// the emulator (listed in tests/PORTABILITY.md), never for missing tools;
// natively it does nothing, so the test always runs in the native legs.
func SkipUnderEmulation(t testing.TB, why string) {
	t.Helper()
	if Emulated() {
		t.Skipf("cannot run under user-mode emulation (%s, GOARCH=%s): %s", os.Getenv(execEnv), runtime.GOARCH, why)
	}
}

// Command returns a command that runs bin, a program built for the test's
// architecture (by BuildC with CC), with args. Under an emulated
// cross-architecture leg, $IPCKIT_EXEC (for example
// "qemu-aarch64-static -L /usr/aarch64-linux-gnu") is put in front of it.
// A program built for another architecture (by a host-only compiler such
// as musl-gcc) is run directly on the host instead, beside the emulated
// test; a test whose peer must share the test's own ABI (struct layouts
// in shared memory, say) calls SkipUnderEmulation for such peers.
func Command(bin string, args ...string) *exec.Cmd {
	prefix := ExecPrefix()
	if len(prefix) == 0 {
		return exec.Command(bin, args...)
	}
	if ok, _ := builtForGOARCH(bin); !ok {
		return exec.Command(bin, args...)
	}
	words := append(append([]string{}, prefix[1:]...), bin)
	return exec.Command(prefix[0], append(words, args...)...)
}

// BuiltForGOARCH reports whether the executable bin was built for the
// test's GOARCH, and if not, what it was built for.
func BuiltForGOARCH(bin string) (bool, string) { return builtForGOARCH(bin) }

// builtForGOARCH reports whether the ELF executable bin targets GOARCH
// (machine, word size and byte order); scripts and unreadable files are
// given the benefit of the doubt.
func builtForGOARCH(bin string) (bool, string) {
	f, err := elf.Open(bin)
	if err != nil {
		return true, ""
	}
	defer f.Close()
	want, ok := elfMachines[runtime.GOARCH]
	if !ok {
		return true, ""
	}
	class := elf.ELFCLASS32
	if strconv.IntSize == 64 {
		class = elf.ELFCLASS64
	}
	order := elf.ELFDATA2LSB
	if bigEndian {
		order = elf.ELFDATA2MSB
	}
	if f.Machine != want || f.Class != class || f.Data != order {
		return false, fmt.Sprintf("it is %v %v %v", f.Machine, f.Class, f.Data)
	}
	return true, ""
}

var bigEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 0 }()

var elfMachines = map[string]elf.Machine{
	"386": elf.EM_386, "amd64": elf.EM_X86_64, "arm": elf.EM_ARM, "arm64": elf.EM_AARCH64,
	"loong64": elf.EM_LOONGARCH, "mips": elf.EM_MIPS, "mipsle": elf.EM_MIPS,
	"mips64": elf.EM_MIPS, "mips64le": elf.EM_MIPS, "ppc64": elf.EM_PPC64,
	"ppc64le": elf.EM_PPC64, "riscv64": elf.EM_RISCV, "s390x": elf.EM_S390,
}

// IPCPermModeUnreliable reports whether ipc_perm.mode cannot be trusted in
// IPC_STAT results or IPC_SET requests because of the emulator: qemu-user
// (7.2, Debian 12) copies the mode as 16 bits for s390x, whose kernel and
// glibc use a 32-bit mode_t, so a guest reads mode<<16 (Go code masking
// with 0777 sees 0) and an IPC_SET writes mode 0. The kernel's own
// permission checks are unaffected. Tests that check or set modes skip
// those steps when it is true (tests/PORTABILITY.md).
func IPCPermModeUnreliable() bool { return Emulated() && runtime.GOARCH == "s390x" }

// MsqPIDsUnreliable reports whether msqid_ds.msg_lspid and msg_lrpid from
// IPC_STAT cannot be trusted because of the emulator: qemu-user (7.2)
// copies them as 8-byte fields for 64-bit guests, while the kernel's are
// 4-byte pids at offsets 96 and 100. On little-endian guests (arm64) lrpid
// reads 0; on big-endian ones (s390x) lspid reads 0 and lrpid reads the
// sender's pid. Tests that check these pids skip that step when it is
// true (tests/PORTABILITY.md).
func MsqPIDsUnreliable() bool { return Emulated() && strconv.IntSize == 64 }

// RequirePeerABI skips the test under emulation when the peer program bin
// was not built for the test's GOARCH (a host-only compiler such as
// musl-gcc, or cc named explicitly). Command runs such a peer natively
// beside the emulated test, which is fine for kernel objects (SysV IPC,
// queues, futexes) but not when both sides must agree on a data layout in
// shared memory: byte order and word size differ. Natively it does
// nothing.
func RequirePeerABI(t testing.TB, bin string) {
	t.Helper()
	if ok, why := builtForGOARCH(bin); !ok {
		SkipUnderEmulation(t, fmt.Sprintf("peer %s was built for the host (%s), not for GOARCH=%s; it cannot share in-memory layouts with this test", filepath.Base(bin), why, runtime.GOARCH))
	}
}

// RequireKernelFeature skips the test where a kernel feature cannot exist:
// under qemu-user, where why names the emulator's gap, and on a kernel
// older than min ("5.16"), the release that brought the feature. On a real
// kernel of min or later its absence is a failure (configured out or
// filtered by seccomp), never a quiet skip.
func RequireKernelFeature(t testing.TB, have bool, what, min, why string) {
	t.Helper()
	if have {
		return
	}
	SkipUnderEmulation(t, why)
	var want [2]int
	fmt.Sscanf(min, "%d.%d", &want[0], &want[1])
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		var major, minor int
		if n, _ := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); n == 2 &&
			(major < want[0] || major == want[0] && minor < want[1]) {
			t.Skipf("kernel %d.%d has no %s (Linux %s+)", major, minor, what, min)
		}
	}
	t.Fatalf("%s is missing although the kernel is %s or later (configured out or filtered by seccomp)", what, min)
}

// RequireFutexWaitv is RequireKernelFeature for futex_waitv (Linux 5.16).
func RequireFutexWaitv(t testing.TB, have bool) {
	t.Helper()
	RequireKernelFeature(t, have, "futex_waitv", "5.16", "qemu-user does not implement futex_waitv")
}
