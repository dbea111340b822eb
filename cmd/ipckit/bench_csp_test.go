package main

import (
	"encoding/json"
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
)

// TestBenchCSP runs the csp rows at the sizes of their values: each
// measures at its own size (both throughput and round trip, between two
// processes) and says why it skips the other.
func TestBenchCSP(t *testing.T) {
	testenv.SkipUnderEmulation(t, "ipckit bench re-executes its own binary with os/exec, which needs binfmt_misc for a foreign GOARCH")
	bin := buildIpckit(t)
	var doc benchJSON
	out := mustRun(t, bin, "bench", "-quick", "-q", "-only", "csp,go chan", "-sizes", "8,64", "-json")
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("-json: %v\n%s", err, out)
	}
	want := map[string]int{nameCSP8: 8, nameCSP64: 64}
	seen := 0
	for _, res := range doc.Results {
		size, ok := want[res.Transport]
		if !ok {
			continue
		}
		seen++
		switch {
		case res.Size == size && (res.Status != "ok" || res.MsgsPerS == nil || res.RTTP50NS == nil):
			t.Errorf("%s at %d: %s %s: %+v", res.Transport, res.Size, res.Status, res.Reason, res)
		case res.Size != size && res.Status != "skipped":
			t.Errorf("%s at %d: %s, want skipped", res.Transport, res.Size, res.Status)
		}
	}
	if seen != 4 {
		t.Errorf("%d csp results, want 4:\n%s", seen, out)
	}
}
