/* ring_bench: the C ring rows of `ipckit bench`, built at run time from
 * mmapring.h. Both processes are C; rings (SPSC or MPMC) are created by the
 * Go parent.
 *
 *   ring_bench sink   IN_FD OUT_FD              count until EOF, send the count back, print it
 *   ring_bench source OUT_FD IN_FD SIZE DUR_NS  send for DUR_NS, close, wait for the count;
 *                                               print "COUNT ELAPSED_NS"
 *   ring_bench echo   IN_FD OUT_FD SIZE         echo until EOF
 *   ring_bench ping   OUT_FD IN_FD SIZE DUR_NS MAX   print the sorted RTTs' p50 and p99 in ns
 *
 * and, for the producers x consumers rows, one MPMC ring shared by all:
 *
 *   ring_bench mpsend FD SIZE DUR_NS   attach a producer, print "ready", wait for a line on
 *                                      stdin, send for DUR_NS, detach, print the count
 *   ring_bench mprecv FD SIZE          attach a consumer, print "ready", receive until EOF,
 *                                      print the count
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "mmapring.h"

static mmr_ring *map_ring(int fd) {
	long long len = mmr_map_size(fd);
	void *m = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) { perror("mmap"); exit(1); }
	mmr_ring *r = calloc(1, sizeof *r);
	if (mmr_attach(r, m, (size_t)len)) { fprintf(stderr, "attach failed\n"); exit(1); }
	return r;
}

/* A message of size bytes, every byte written: untouched calloc memory
 * reads as the kernel's shared zero page, one cache-resident 4 KiB page,
 * which would make copying it cheaper than copying a real message (the
 * Go rows fill theirs the same way). */
static unsigned char *message(uint64_t size) {
	unsigned char *m = malloc(size ? size : 1);
	for (uint64_t i = 0; i < size; i++) m[i] = (unsigned char)(i * 131 + 1);
	return m;
}

static int cmp(const void *a, const void *b) {
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
	if (argc < 4) return 2;
	const char *mode = argv[1];
	if (!strcmp(mode, "mpsend") && argc > 4) {
		mmr_ring *r = map_ring(atoi(argv[2]));
		uint64_t size = strtoull(argv[3], NULL, 10), dur = strtoull(argv[4], NULL, 10);
		mmr_producer p;
		if (mmr_producer_open(&p, r)) return 1;
		unsigned char *msg = message(size);
		printf("ready\n"); fflush(stdout);
		int ch;
		while ((ch = getchar()) != EOF && ch != '\n') {}
		uint64_t n = 0, start = mmr_now_ns();
		for (;;) {
			for (int i = 0; i < 64; i++) {
				if (mmr_send(&p, msg, size, -1)) return 1;
				n++;
			}
			if (mmr_now_ns() - start >= dur) break;
		}
		mmr_producer_detach(&p);
		printf("%llu\n", (unsigned long long)n);
		return 0;
	}
	if (!strcmp(mode, "mprecv")) {
		mmr_ring *r = map_ring(atoi(argv[2]));
		uint64_t size = strtoull(argv[3], NULL, 10);
		mmr_consumer c;
		if (mmr_consumer_open(&c, r)) return 1;
		unsigned char *buf = malloc(size);
		printf("ready\n"); fflush(stdout);
		uint64_t n = 0;
		for (;;) {
			long k = mmr_recv(&c, buf, size, -1);
			if (k == MMR_EOF) break;
			if (k < 0) { fprintf(stderr, "recv %ld\n", k); return 1; }
			n++;
		}
		mmr_consumer_close(&c);
		printf("%llu\n", (unsigned long long)n);
		return 0;
	}
	mmr_ring *a = map_ring(atoi(argv[2])), *b = map_ring(atoi(argv[3]));
	if (!strcmp(mode, "sink")) {
		mmr_consumer c; mmr_producer p;
		if (mmr_consumer_open(&c, a) || mmr_producer_open(&p, b)) return 1;
		printf("ready\n"); fflush(stdout);
		unsigned char *buf = malloc(a->max_msg);
		uint64_t n = 0;
		for (;;) {
			long k = mmr_recv(&c, buf, a->max_msg, -1);
			if (k == MMR_EOF) break;
			if (k < 0) { fprintf(stderr, "recv %ld\n", k); return 1; }
			n++;
		}
		mmr_send(&p, &n, sizeof n, -1);
		printf("%llu\n", (unsigned long long)n);
		return 0;
	}
	if (!strcmp(mode, "source")) {
		uint64_t size = strtoull(argv[4], NULL, 10), dur = strtoull(argv[5], NULL, 10);
		mmr_producer p; mmr_consumer c;
		if (mmr_producer_open(&p, a) || mmr_consumer_open(&c, b)) return 1;
		unsigned char *msg = message(size);
		uint64_t n = 0, start = mmr_now_ns();
		for (;;) {
			for (int i = 0; i < 64; i++) {
				if (mmr_send(&p, msg, size, -1)) return 1;
				n++;
			}
			if (mmr_now_ns() - start >= dur) break;
		}
		mmr_producer_close(&p);
		uint64_t got = 0;
		if (mmr_recv(&c, &got, sizeof got, -1) != sizeof got) return 1;
		uint64_t el = mmr_now_ns() - start;
		if (got != n) { fprintf(stderr, "sent %llu, sink got %llu\n", (unsigned long long)n, (unsigned long long)got); return 1; }
		printf("%llu %llu\n", (unsigned long long)n, (unsigned long long)el);
		return 0;
	}
	if (!strcmp(mode, "echo")) {
		uint64_t size = strtoull(argv[4], NULL, 10);
		mmr_consumer c; mmr_producer p;
		if (mmr_consumer_open(&c, a) || mmr_producer_open(&p, b)) return 1;
		printf("ready\n"); fflush(stdout);
		unsigned char *buf = malloc(size);
		for (;;) {
			long k = mmr_recv(&c, buf, size, -1);
			if (k < 0) break;
			mmr_send(&p, buf, (uint64_t)k, -1);
		}
		mmr_producer_close(&p);
		return 0;
	}
	if (!strcmp(mode, "ping")) {
		uint64_t size = strtoull(argv[4], NULL, 10), dur = strtoull(argv[5], NULL, 10), max = strtoull(argv[6], NULL, 10);
		mmr_producer p; mmr_consumer c;
		if (mmr_producer_open(&p, a) || mmr_consumer_open(&c, b)) return 1;
		unsigned char *msg = message(size), *buf = malloc(size);
		uint64_t *lat = malloc(max * sizeof *lat), n = 0;
		for (int i = 0; i < 100; i++) { mmr_send(&p, msg, size, -1); mmr_recv(&c, buf, size, -1); }
		uint64_t end = mmr_now_ns() + dur;
		while (n < max) {
			uint64_t t0 = mmr_now_ns();
			mmr_send(&p, msg, size, -1);
			if (mmr_recv(&c, buf, size, -1) < 0) return 1;
			uint64_t t1 = mmr_now_ns();
			lat[n++] = t1 - t0;
			if (t1 > end) break;
		}
		mmr_producer_close(&p);
		qsort(lat, n, sizeof *lat, cmp);
		printf("%llu %llu\n", (unsigned long long)lat[n / 2], (unsigned long long)lat[n * 99 / 100]);
		return 0;
	}
	return 2;
}
