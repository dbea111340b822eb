package mmapring

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipckit/ipckit/internal/testenv"
)

// TestHeaderCompiles (item 7): mmapring.h is a user's first include in
// strict C11, C17 and gnu11, with gcc, clang and musl-gcc, under
// -O2 -Wall -Wextra -Werror (it used to need _POSIX_C_SOURCE for
// clock_gettime).
func TestHeaderCompiles(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "first.c")
	if err := os.WriteFile(src, []byte(firstInclude), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cc := range []string{"gcc", "clang-14", "musl-gcc"} {
		for _, std := range []string{"c11", "c17", "gnu11", "c11+killpoints"} {
			t.Run(cc+"/"+std, func(t *testing.T) {
				bin := testenv.Tool(t, cc)
				std, kp := strings.CutSuffix(std, "+killpoints")
				def := "-DMMR_NOTHING"
				if kp {
					def = "-DMMR_KILLPOINTS" // the kill-point hooks compile as strictly
				}
				cmd := exec.Command(bin, "-std="+std, def, "-O2", "-Wall", "-Wextra", "-Werror", "-c", "-o", os.DevNull,
					"-I", filepath.Join(testenv.Root(), "mmapring"), src)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
				}
			})
		}
	}
}

// TestHeaderUsersCompile: the C programs in this repository that use the
// header build warning-free at -O2 with every compiler.
func TestHeaderUsersCompile(t *testing.T) {
	users := []string{filepath.Join(testenv.Root(), "tests", "c", "ring_peer.c"),
		filepath.Join(testenv.Root(), "tests", "c", "ring_killpoint.c"),
		filepath.Join(testenv.Root(), "cmd", "ipckit", "cring", "ring_bench.c")}
	for _, cc := range []string{"gcc", "clang-14", "musl-gcc"} {
		for _, src := range users {
			t.Run(cc+"/"+filepath.Base(src), func(t *testing.T) {
				def := "-DMMR_NOTHING"
				if filepath.Base(src) == "ring_killpoint.c" {
					def = "-DMMR_KILLPOINTS"
				}
				cmd := exec.Command(testenv.Tool(t, cc), "-std=gnu11", def, "-O2", "-Wall", "-Wextra", "-Werror", "-c", "-o", os.DevNull,
					"-I", filepath.Join(testenv.Root(), "mmapring"), src)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
				}
			})
		}
	}
}

// firstInclude includes mmapring.h first and calls every public function,
// so that warnings that need the optimiser (-Wmaybe-uninitialized) show.
const firstInclude = `#include "mmapring.h"
int use(void *m, size_t len, int fd);
int use(void *m, size_t len, int fd) {
	mmr_ring r;
	if (mmr_sealed(fd) || mmr_seal(fd) || mmr_map_size(fd) < 0) return 1;
	if (mmr_init_flags(m, len, MMR_KIND_MPMC, 8, 32, 0, MMR_FLAG_CHECKSUM) || mmr_attach(&r, m, len)) return 1;
	mmr_producer p;
	mmr_consumer c;
	char buf[64];
	void *w;
	const void *msg;
	if (mmr_producer_open(&p, &r) || mmr_consumer_open(&c, &r)) return 1;
	if (mmr_send(&p, "x", 1, 0) || mmr_try_send(&p, "y", 1)) return 1;
	if (mmr_reserve(&p, 8, &w, -1) == 0) mmr_commit(&p, 0);
	if (mmr_try_reserve(&p, 8, &w) == 0) mmr_abort(&p);
	if (mmr_recv(&c, buf, sizeof buf, 1000) < 0 || mmr_try_recv(&c, buf, sizeof buf) < 0) return 1;
	if (mmr_peek(&c, &msg, 0) >= 0) mmr_release(&c);
	if (mmr_try_peek(&c, &msg) >= 0) mmr_release(&c);
	mmr_repair_dead(&r);
	mmr_producer_detach(&p);
	mmr_producer_close(&p);
	mmr_consumer_close(&c);
	return (int)mmr_crc32c(buf, sizeof buf) + (int)r.wake_failures;
}
int main(void) { return 0; }
`

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
