/* ring_peer: a C peer for the mmapring tests, built on mmapring/mmapring.h.
 *
 *   ring_peer produce FD COUNT MAXSIZE SEED [ID [detach]]  send COUNT checksummed messages, then close (or detach);
 *                                                  COUNT 0: send until killed, writing each committed seq
 *                                                  to stdout (8 bytes, little-endian) once it is committed
 *   ring_peer consume FD COUNT                     receive until EOF, check each message and order
 *   ring_peer drain FD [marker]                    receive until EOF with peek/release, writing each seq
 *                                                  (8 bytes, little-endian) before releasing it; a moment
 *                                                  with every producer dead (MMR_EPEERDEAD) is waited out
 *                                                  (with marker: reported as ~0, and a torn message as ~1)
 *
 * and the modes of the Go tests' peer harness (mmapring/peer_test.go), with
 * the same arguments and output: recv-all, send, attach, open, hold-reserve,
 * hold-peek, reserve-abort; and, as there, IPCKIT_TEST_NO_MEMBARRIER=1 makes
 * membarrier(2) fail first (and "nobarrier" is printed once attached).
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
#include <sys/prctl.h>
#if defined(__has_include)
#if __has_include(<linux/seccomp.h>) && __has_include(<linux/filter.h>)
#include <linux/filter.h>
#include <linux/seccomp.h>
#define HAVE_SECCOMP 1
#endif
#endif

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

static int check(const void *m, size_t n, uint64_t *seq) {
	const unsigned char *b = (const unsigned char *)m;
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

static const char *status(long rc) {
	static char other[32];
	switch (rc) {
	case 0: return "ok";
	case MMR_EFULL: return "full";
	case MMR_EEMPTY: return "empty";
	case MMR_EOF: return "eof";
	case MMR_ECLOSED: return "closed";
	case MMR_EPEERDEAD: return "peerdead";
	case MMR_ETOOBIG: return "toobig";
	case MMR_ECORRUPT: return "corrupt";
	case MMR_EBUSY: return "busy";
	case MMR_ETIMEDOUT: return "timeout";
#ifdef MMR_EPENDING
	case MMR_EPENDING: return "pending";
#endif
#ifdef MMR_ENOTREADY
	case MMR_ENOTREADY: return "notready";
#endif
	}
	snprintf(other, sizeof other, "err %ld", rc);
	return other;
}

/* Write v to stdout as 8 little-endian bytes, unbuffered. */
static void put_le64(uint64_t v) {
	unsigned char b[8];
	for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
	if (write(1, b, 8) != 8) _exit(1);
}

#ifdef HAVE_SECCOMP
/* Make every shared FUTEX_WAKE fail with ENOSYS (the wake-error tests). */
static int deny_futex_wake(void) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	const unsigned op_off = offsetof(struct seccomp_data, args[1]) + 4;
#else
	const unsigned op_off = offsetof(struct seccomp_data, args[1]);
#endif
#ifdef SYS_futex_time64
	const unsigned nr2 = SYS_futex_time64;
#else
	const unsigned nr2 = SYS_futex;
#endif
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr2, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, op_off),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FUTEX_WAKE, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* Make membarrier(2) fail with ENOSYS, as on a kernel without it. */
static int deny_membarrier(void) {
#ifdef SYS_membarrier
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
#else
	return 0; /* no membarrier system call at all */
#endif
}
#endif

/* Nanoseconds left until deadline (never negative). */
static long long left_ns(uint64_t deadline) {
	uint64_t now = mmr_now_ns();
	return now >= deadline ? 0 : (long long)(deadline - now);
}

/* A ring in a POSIX shm object or a plain file can be truncated under the
 * mapping; the next access raises SIGBUS. mmapring.h cannot contain that
 * for its caller (a signal handler is process-wide), so a C program that
 * must survive a hostile truncation handles SIGBUS itself, as here, or
 * uses a sealed memfd (mmr_seal, mmr_sealed). */
static void on_sigbus(int sig) {
	(void)sig;
	static const char msg[] = "sigbus\n";
	if (write(1, msg, sizeof msg - 1) < 0) _exit(2);
	_exit(0);
}

/* The peer-harness modes; the ring is attached (r), or rc says why not. */
static int harness(const char *mode, mmr_ring *r, int rc, int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGBUS, on_sigbus);
	if (!strcmp(mode, "open") || rc) {
		printf("%s\n", status(rc));
		return 0;
	}
	uint64_t deadline = argc > 3 ? mmr_now_ns() + strtoull(argv[3], NULL, 10) * 1000000ull : 0;
	unsigned char *buf = malloc(r->max_msg + 1);
	if (!strcmp(mode, "recv-all")) {
		mmr_consumer c;
		if ((rc = mmr_consumer_open(&c, r))) { printf("%s\n", status(rc)); return 0; }
		for (;;) {
			long n = mmr_recv(&c, buf, r->max_msg, left_ns(deadline));
			if (n < 0) { printf("%s\n", status(n)); break; }
			printf("msg %.*s\n", (int)n, (char *)buf);
		}
		mmr_consumer_close(&c);
		return 0;
	}
	if (!strcmp(mode, "send-nowake")) {
#ifdef HAVE_SECCOMP
		if (deny_futex_wake()) { printf("err seccomp: %s\n", strerror(errno)); return 0; }
		mode = "send";
#else
		printf("err seccomp: no <linux/seccomp.h>\n");
		return 0;
#endif
	}
	if (!strcmp(mode, "send")) {
		mmr_producer p;
		if ((rc = mmr_producer_open(&p, r))) { printf("%s\n", status(rc)); return 0; }
		const char *st = "done";
		for (int i = 5; i < argc; i++) {
			uint64_t failed = r->wake_failures;
			if ((rc = mmr_send(&p, argv[i], strlen(argv[i]), left_ns(deadline)))) { st = status(rc); break; }
			/* The header counts failed wake-ups (the message is published). */
			printf(r->wake_failures != failed && r->wake_errno == ENOSYS ? "wakefailed\n" : "sent\n");
		}
		if (!strcmp(argv[4], "hold")) { printf("%s\n", st); for (;;) pause(); }
		if (!strcmp(argv[4], "close")) mmr_producer_close(&p);
		else mmr_producer_detach(&p);
		printf("%s\n", st);
		return 0;
	}
	if (!strcmp(mode, "attach")) {
		int producer = !strcmp(argv[3], "producer");
		int ch;
		while ((ch = getchar()) != EOF && ch != '\n') {} /* the start barrier */
		mmr_producer p;
		mmr_consumer c;
		rc = producer ? mmr_producer_open(&p, r) : mmr_consumer_open(&c, r);
		if (rc) { printf("%s\n", status(rc)); return 0; }
		printf("won\n");
		while (getchar() != EOF) {}
		if (producer) mmr_producer_detach(&p);
		else mmr_consumer_close(&c);
		return 0;
	}
#ifdef MMR_HAVE_RESERVE
	if (!strcmp(mode, "hold-reserve")) {
		mmr_producer p;
		if ((rc = mmr_producer_open(&p, r))) { printf("%s\n", status(rc)); return 1; }
		void *b = NULL;
		if ((rc = mmr_try_reserve(&p, 5, &b))) { printf("%s\n", status(rc)); return 1; }
		memcpy(b, "never", 5);
		printf("held\n");
		for (;;) pause();
	}
	if (!strcmp(mode, "reserve-abort")) {
		mmr_producer p;
		if ((rc = mmr_producer_open(&p, r))) { printf("%s\n", status(rc)); return 0; }
		void *b = NULL;
		const char *st = "done";
		rc = mmr_reserve(&p, strtoull(argv[4], NULL, 10), &b, left_ns(deadline));
		if (rc || (rc = mmr_abort(&p))) st = status(rc);
		mmr_producer_close(&p);
		printf("%s\n", st);
		return 0;
	}
	if (!strcmp(mode, "hold-peek")) {
		mmr_consumer c;
		if ((rc = mmr_consumer_open(&c, r))) { printf("%s\n", status(rc)); return 1; }
		const void *m = NULL;
		long n = mmr_peek(&c, &m, -1);
		if (n < 0) { printf("%s\n", status(n)); return 1; }
		printf("msg %.*s\n", (int)n, (const char *)m);
		for (;;) pause();
	}
#endif
	fprintf(stderr, "unknown mode %s\n", mode);
	return 2;
}

int main(int argc, char **argv) {
	if (argc < 3) { fprintf(stderr, "usage\n"); return 2; }
	crc_init();
	const char *nb = getenv("IPCKIT_TEST_NO_MEMBARRIER");
	int deny_barrier = nb && !strcmp(nb, "1");
	if (deny_barrier) {
#ifdef HAVE_SECCOMP
		if (deny_membarrier()) { printf("err seccomp: %s\n", strerror(errno)); return 0; }
#else
		printf("err seccomp: no <linux/seccomp.h>\n");
		return 0;
#endif
	}
	int fd = atoi(argv[2]);
	long long len = mmr_map_size(fd);
	void *m = len > 0 ? mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	mmr_ring r;
	int rc = m == MAP_FAILED ? MMR_ECORRUPT : mmr_attach(&r, m, (size_t)len);
	if (!rc && deny_barrier) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		printf("%s\n", atomic_load(&mmr__order) == 2 ? "nobarrier" : "barrier");
	}
	if (strcmp(argv[1], "produce") && strcmp(argv[1], "consume") && strcmp(argv[1], "drain"))
		return harness(argv[1], &r, rc, argc, argv);
	if (rc) { fprintf(stderr, "attach: %d\n", rc); return 1; }
	if (!strcmp(argv[1], "drain")) {
		int marker = argc > 3 && !strcmp(argv[3], "marker");
		mmr_consumer c;
		if ((rc = mmr_consumer_open(&c, &r))) { fprintf(stderr, "consumer: %d\n", rc); return 1; }
		for (;;) {
			const void *msg = NULL;
			long n = mmr_peek(&c, &msg, -1);
			if (n == MMR_EOF) return 0;
			if (n == MMR_EPEERDEAD) { /* producers come and go: wait for the next */
				if (marker) put_le64(~0ull);
				continue;
			}
			if (n < 0) { fprintf(stderr, "peek: %s\n", status(n)); return 1; }
			uint64_t seq;
			if (!check(msg, (size_t)n, &seq)) {
				if (!marker) { fprintf(stderr, "corrupt message\n"); return 1; }
				seq = ~1ull; /* torn: reported, skipped */
			}
			put_le64(seq);
			mmr_release(&c);
		}
	}
	if (argc < 4) { fprintf(stderr, "usage\n"); return 2; }
	uint64_t count = strtoull(argv[3], NULL, 10);
	unsigned char *buf = malloc(r.max_msg + 16);
	if (!strcmp(argv[1], "produce")) {
		uint64_t max = strtoull(argv[4], NULL, 10);
		rng_state = strtoull(argv[5], NULL, 10) | 1;
		uint64_t id = argc > 6 ? strtoull(argv[6], NULL, 10) : 0;
		if (max > r.max_msg) max = r.max_msg;
		mmr_producer p;
		if ((rc = mmr_producer_open(&p, &r))) { fprintf(stderr, "producer: %d\n", rc); return 1; }
		for (uint64_t i = 0; count == 0 || i < count; i++) {
			size_t n = 12 + rnd() % (max - 11);
			fill(buf, n, id << 32 | i);
			if ((rc = mmr_send(&p, buf, n, -1))) { fprintf(stderr, "send %llu: %s\n", (unsigned long long)i, status(rc)); return 1; }
			if (count == 0) put_le64(i); /* reported once committed */
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
