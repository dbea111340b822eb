package ipctest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
)

func sysctlPath(name string) (string, error) {
	if name == "" || strings.Contains(name, "..") || strings.ContainsAny(name, "/\x00") {
		return "", fmt.Errorf("ipctest: bad sysctl name %q", name)
	}
	return filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")), nil
}

// Sysctl reads a sysctl such as "kernel.msgmax" or "fs.mqueue.msg_max"
// from /proc/sys and returns its value without the trailing newline. IPC
// sysctls are per IPC namespace: the answer is the calling thread's.
func Sysctl(name string) (string, error) {
	p, err := sysctlPath(name)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// SysctlInts reads a sysctl made of whitespace-separated integers, such as
// "kernel.sem" (SEMMSL SEMMNS SEMOPM SEMMNI) or "kernel.msgmax". Unsigned
// long sysctls beyond the int64 range (kernel.shmmax's default, 2^64 -
// 2^24 - 1) give an error; read those with Sysctl.
func SysctlInts(name string) ([]int64, error) {
	v, err := Sysctl(name)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, f := range strings.Fields(v) {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("ipctest: sysctl %s: %w", name, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// SetSysctl writes value to the sysctl and restores the old value when
// the test ends. It needs root (skipped, or failed with CI=true, without
// it).
//
// The IPC sysctls (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*)
// belong to the IPC namespace of the calling thread. Inside
// InNewIPCNamespace the change is private to that namespace and vanishes
// with it, so nothing is restored. Outside, it changes the limit for the
// whole host, including tests running in parallel: prefer a namespace.
func SetSysctl(t testing.TB, name, value string) {
	t.Helper()
	p, err := sysctlPath(name)
	if err != nil {
		t.Fatal(err)
	}
	old, err := Sysctl(name)
	if err != nil {
		t.Fatalf("ipctest: %v", err)
	}
	if err := os.WriteFile(p, []byte(value), 0); err != nil {
		if errors.Is(err, os.ErrPermission) {
			testenv.SkipOrFail(t, "ipctest: setting %s needs root: %v", name, err)
		}
		t.Fatalf("ipctest: setting %s=%q: %v", name, value, err)
	}
	if inPrivateIPCNamespace() {
		return
	}
	t.Cleanup(func() {
		if err := os.WriteFile(p, []byte(old), 0); err != nil {
			t.Errorf("ipctest: restoring %s=%q: %v", name, old, err)
		}
	})
}

// inPrivateIPCNamespace reports whether the calling thread's IPC
// namespace differs from the process's (its main thread's).
func inPrivateIPCNamespace() bool {
	self, err1 := os.Readlink("/proc/thread-self/ns/ipc")
	proc, err2 := os.Readlink("/proc/self/ns/ipc")
	return err1 == nil && err2 == nil && self != proc
}
