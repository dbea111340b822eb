package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
)

// TestBenchSmoke runs `ipckit bench -quick`: every transport must produce
// a row with numbers (the C ring needs cc, so CI must have one), and the
// targets section must be printed. The numbers themselves are not checked.
func TestBenchSmoke(t *testing.T) {
	testenv.SkipUnderEmulation(t, "ipckit bench re-executes its own binary with os/exec, which needs binfmt_misc for a foreign GOARCH")
	testenv.Tool(t, "cc")
	var out, errb bytes.Buffer
	code := run([]string{"bench", "-quick", "-sizes", "64,65536"}, &out, &errb)
	t.Logf("\n%s", out.String())
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	for _, tr := range transports {
		found := false
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), tr.name) {
				found = true
				if strings.Contains(line, "error:") {
					t.Errorf("row %q failed: %s", tr.name, line)
				}
				if strings.Contains(line, "skipped") && !strings.Contains(line, "msgmax") && !strings.Contains(line, "msgsize_max") {
					t.Errorf("row %q skipped: %s", tr.name, line)
				}
			}
		}
		if !found {
			t.Errorf("no row for %q", tr.name)
		}
	}
	if !strings.Contains(out.String(), "targets (64 B):") || !strings.Contains(out.String(), "SPSC throughput ≥ 0.8× C ring") {
		t.Error("targets section missing")
	}
}

func TestBenchFlags(t *testing.T) {
	testenv.SkipUnderEmulation(t, "ipckit bench re-executes its own binary with os/exec, which needs binfmt_misc for a foreign GOARCH")
	var out, errb bytes.Buffer
	if code := run([]string{"bench", "-sizes", "3"}, &out, &errb); code != 2 {
		t.Fatalf("bad size accepted: %d", code)
	}
	out.Reset()
	if code := run([]string{"bench", "-quick", "-sizes", "64", "-only", "pipe"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if strings.Contains(out.String(), "mmapring MPMC") || !strings.Contains(out.String(), "pipe") {
		t.Fatalf("-only ignored:\n%s", out.String())
	}
}
