/* ring_peer: a C peer for the mmapring tests, built on mmapring/mmapring.h.
 *
 *   ring_peer produce FD COUNT MAXSIZE SEED [ID [detach]]  send COUNT checksummed messages, then close (or detach)
 *   ring_peer consume FD COUNT                     receive until EOF, check each message and order
 *
 * Message format (shared with the Go tests, native byte order): u64 seq (ID<<32 | i), a
 * xorshift payload derived from seq, and the CRC-32 (IEEE) of everything
 * before it in the last 4 bytes. Prints "ok N" on success.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "mmapring.h"

static uint32_t crc_table[256];
static void crc_init(void) {
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}
static uint32_t crc32_ieee(const unsigned char *p, size_t n) {
	uint32_t c = 0xffffffffu;
	while (n--) c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static void fill(unsigned char *b, size_t n, uint64_t seq) {
	memcpy(b, &seq, 8);
	uint32_t x = (uint32_t)(seq * 2654435761ull + 1);
	for (size_t i = 8; i < n - 4; i++) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		b[i] = (unsigned char)x;
	}
	uint32_t c = crc32_ieee(b, n - 4);
	memcpy(b + n - 4, &c, 4);
}

static int check(const unsigned char *b, size_t n, uint64_t *seq) {
	if (n < 12) return 0;
	uint32_t c;
	memcpy(&c, b + n - 4, 4);
	if (c != crc32_ieee(b, n - 4)) return 0;
	memcpy(seq, b, 8);
	return 1;
}

static uint64_t rng_state;
static uint64_t rnd(void) {
	rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
	return rng_state;
}

int main(int argc, char **argv) {
	if (argc < 4) { fprintf(stderr, "usage\n"); return 2; }
	crc_init();
	int fd = atoi(argv[2]);
	uint64_t count = strtoull(argv[3], NULL, 10);
	long long len = mmr_map_size(fd);
	void *m = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) { perror("mmap"); return 1; }
	mmr_ring r;
	int rc = mmr_attach(&r, m, (size_t)len);
	if (rc) { fprintf(stderr, "attach: %d\n", rc); return 1; }
	unsigned char *buf = malloc(r.max_msg + 16);
	if (!strcmp(argv[1], "produce")) {
		uint64_t max = strtoull(argv[4], NULL, 10);
		rng_state = strtoull(argv[5], NULL, 10) | 1;
		uint64_t id = argc > 6 ? strtoull(argv[6], NULL, 10) : 0;
		if (max > r.max_msg) max = r.max_msg;
		mmr_producer p;
		if ((rc = mmr_producer_open(&p, &r))) { fprintf(stderr, "producer: %d\n", rc); return 1; }
		for (uint64_t i = 0; i < count; i++) {
			size_t n = 12 + rnd() % (max - 11);
			fill(buf, n, id << 32 | i);
			if ((rc = mmr_send(&p, buf, n, -1))) { fprintf(stderr, "send %llu: %d\n", (unsigned long long)i, rc); return 1; }
		}
		if (argc > 7 && !strcmp(argv[7], "detach")) mmr_producer_detach(&p);
		else mmr_producer_close(&p);
		printf("ok %llu waits %llu wakes %llu\n", (unsigned long long)count,
		       (unsigned long long)r.futex_waits, (unsigned long long)r.futex_wakes);
		return 0;
	}
	if (!strcmp(argv[1], "consume")) {
		mmr_consumer c;
		if ((rc = mmr_consumer_open(&c, &r))) { fprintf(stderr, "consumer: %d\n", rc); return 1; }
		uint64_t i = 0;
		for (;;) {
			long n = mmr_recv(&c, buf, r.max_msg, -1);
			if (n == MMR_EOF) break;
			if (n < 0) { fprintf(stderr, "recv %llu: %ld\n", (unsigned long long)i, n); return 1; }
			uint64_t seq = 0;
			if (!check(buf, (size_t)n, &seq) || seq != i) {
				fprintf(stderr, "message %llu bad (seq %llu, len %ld)\n", (unsigned long long)i, (unsigned long long)seq, n);
				return 1;
			}
			i++;
		}
		mmr_consumer_close(&c);
		if (i != count) { fprintf(stderr, "got %llu messages, want %llu\n", (unsigned long long)i, (unsigned long long)count); return 1; }
		printf("ok %llu waits %llu wakes %llu\n", (unsigned long long)i,
		       (unsigned long long)r.futex_waits, (unsigned long long)r.futex_wakes);
		return 0;
	}
	fprintf(stderr, "unknown mode %s\n", argv[1]);
	return 2;
}
