/* ring_litmus: the C side of mmapring's message-passing litmus test
 * (mmapring/litmus_test.go), with mmapring.h's own publication store
 * (mmr__st64: release) and acquire load (mmr__acq64).
 *
 *   ring_litmus write FD N   publish 1 … N: four data words (relaxed stores),
 *                            then the flag (mmr__st64), never more than 4
 *                            ahead of what the reader acknowledged
 *   ring_litmus read FD N    read until N: the flag (mmr__acq64), then the
 *                            data words (relaxed loads); print
 *                            "SEEN VIOLATIONS" (a data word older than the
 *                            flag it was read after is a violation)
 *
 * The page on FD: u64 flag at 0, u64 data words at 16, 128, 512 and 1024,
 * u64 acknowledgement at 1536, u32 "reader ready" at 2048.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "mmapring.h"

#define LAG 4
static const size_t data_offs[4] = {16, 128, 512, 1024};

static _Atomic uint64_t *w64(unsigned char *m, size_t off) { return (_Atomic uint64_t *)(m + off); }

int main(int argc, char **argv) {
	if (argc < 4) { fprintf(stderr, "usage: ring_litmus write|read FD N\n"); return 2; }
	unsigned char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, atoi(argv[2]), 0);
	if (m == MAP_FAILED) { perror("mmap"); return 1; }
	uint64_t n = strtoull(argv[3], NULL, 10);
	_Atomic uint32_t *start = (_Atomic uint32_t *)(m + 2048);
	mmr__order_setup(); /* as mmr_attach does: release publication where the barrier exists */
	if (!strcmp(argv[1], "write")) {
		while (atomic_load_explicit(start, memory_order_acquire) == 0) sched_yield();
		for (uint64_t i = 1; i <= n; i++) {
			for (unsigned spins = 0; mmr__acq64(w64(m, 1536)) + LAG < i; spins++)
				if ((spins & 1023) == 1023) sched_yield();
			for (int k = 0; k < 4; k++) atomic_store_explicit(w64(m, data_offs[k]), i, memory_order_relaxed);
			mmr__st64(w64(m, 0), i);
		}
		return 0;
	}
	if (!strcmp(argv[1], "read")) {
		atomic_store_explicit(start, 1, memory_order_release);
		uint64_t prev = 0, seen = 0, bad = 0;
		while (prev < n) {
			uint64_t f = mmr__acq64(w64(m, 0)), d[4];
			for (int k = 0; k < 4; k++) d[k] = atomic_load_explicit(w64(m, data_offs[k]), memory_order_relaxed);
			if (f < prev) bad++;
			if (f != prev) {
				seen++;
				atomic_store_explicit(w64(m, 1536), f, memory_order_release);
			}
			for (int k = 0; k < 4; k++)
				if (d[k] < f) bad++;
			prev = f;
		}
		printf("%llu %llu\n", (unsigned long long)seen, (unsigned long long)bad);
		return 0;
	}
	return 2;
}
