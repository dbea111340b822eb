package mmapring

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
)

// TestHeaderCompiles (item 7): mmapring.h is a user's first include in
// strict C11, C17 and gnu11, with gcc, clang and musl-gcc, under
// -Wall -Wextra -Werror (it used to need _POSIX_C_SOURCE for clock_gettime).
func TestHeaderCompiles(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "first.c")
	if err := os.WriteFile(src, []byte("#include \"mmapring.h\"\nint main(void) { return 0; }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cc := range []string{"gcc", "clang-14", "musl-gcc"} {
		for _, std := range []string{"c11", "c17", "gnu11"} {
			t.Run(cc+"/"+std, func(t *testing.T) {
				bin := testenv.Tool(t, cc)
				cmd := exec.Command(bin, "-std="+std, "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
					"-I", filepath.Join(testenv.Root(), "mmapring"), src)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
				}
			})
		}
	}
}

// TestValidateHeaderMisaligned (item 7): validateHeader decodes the header
// from any byte slice; it used to cast &h[off] to *uint64, which checkptr
// (-race) rejects for a slice not 8-byte aligned.
func TestValidateHeaderMisaligned(t *testing.T) {
	r := newRing(t, Config{Kind: KindMPMC, Capacity: 16, CellSize: 32})
	buf := make([]byte, headerSize+1)
	copy(buf[1:], r.mem[:headerSize])
	if _, err := validateHeader(buf[1:], int64(r.Size())); err != nil {
		t.Fatal(err)
	}
}
