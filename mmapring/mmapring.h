/*
 * mmapring.h — the ipckit mmapring shared-memory ring protocol for C peers.
 *
 * Single-file, header-only, C11 atomics, Linux. It implements layout
 * version 3 exactly as the Go package github.com/ipckit/ipckit/mmapring
 * does (LAYOUT.md is the specification, with the protocol invariants): a
 * C process attached to the same mapping is a full peer of Go processes,
 * as producer or consumer of an SPSC byte ring or an MPMC cell ring. It
 * repairs what dead peers leave behind, bounds every retry loop, honours
 * every timeout, and reports corrupt shared values as MMR_ECORRUPT.
 *
 * Every function is static inline; no MMR_IMPLEMENTATION is needed. The
 * header compiles with -std=c11 / c17 / gnu11 -Wall -Wextra -Werror under
 * gcc, clang and musl-gcc. When it is the first include it selects the
 * POSIX/BSD interfaces it needs itself (_DEFAULT_SOURCE); a program that
 * includes system headers before it under a strict -std must define
 * _DEFAULT_SOURCE (or _GNU_SOURCE) itself.
 *
 * Usage (consumer of a ring created by Go in a memfd passed as fd 3):
 *   long long len = mmr_map_size(3);                   // fstat
 *   void *m = mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED, 3, 0);
 *   mmr_ring r; if (mmr_attach(&r, m, len) != 0) ...  // validates header
 *   mmr_consumer c; mmr_consumer_open(&c, &r);
 *   char buf[4096]; long n = mmr_recv(&c, buf, sizeof buf, -1);
 *   // n >= 0: length; MMR_EOF: closed and drained; MMR_EPEERDEAD ...
 *
 * Truncation: a ring in a memfd sealed with F_SEAL_SHRINK (Go's New
 * does it; mmr_seal does it for a memfd made with MFD_ALLOW_SEALING)
 * cannot be shrunk under the peers. A ring in a POSIX shm object or a
 * plain file can: a process that truncates it makes every C peer's next
 * access raise SIGBUS (the Go package contains the fault and reports
 * ErrCorrupt). mmr_sealed tells which case a descriptor is in; a C peer
 * that must survive hostile truncation uses a sealed memfd or handles
 * SIGBUS itself.
 *
 * Wake errors: a failed FUTEX_WAKE after a publication is counted in
 * mmr_ring.wake_failures (errno in wake_errno); the publication stands and
 * the call still reports success (a sleeper notices within its liveness
 * interval). The Go package returns ErrWakeFailed instead.
 *
 * Memory order: publication (record headers, positions) is a release store
 * and is read with acquire loads; the eventcount's waiter issues
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) between registering and
 * re-checking, and every peer process registers for it when it attaches
 * (LAYOUT.md, "Memory order"; a process without membarrier publishes
 * seq_cst). A program that maps a ring must therefore not block
 * membarrier(2) in a seccomp filter it installs after attaching. Every
 * store to shared memory goes through the mmr__st*, mmr__cas*, mmr__add*,
 * mmr__swap32, mmr__put32, mmr__put_hdr and mmr__copy helpers (one per
 * kind of store), as in the Go package's store.go.
 */
#ifndef IPCKIT_MMAPRING_H
#define IPCKIT_MMAPRING_H

#if !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE) && !defined(_BSD_SOURCE) && \
    !defined(_POSIX_C_SOURCE) && !defined(_XOPEN_SOURCE)
#define _DEFAULT_SOURCE 1 /* clock_gettime, syscall, kill, fstat under a strict -std */
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<linux/futex.h>)
#include <linux/futex.h>
#endif
#endif
#ifndef FUTEX_WAIT /* musl-gcc without kernel headers */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#endif
#ifndef F_ADD_SEALS /* <fcntl.h> declares these only for _GNU_SOURCE */
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#endif
#ifndef F_SEAL_SEAL
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#endif
#if defined(__SSE4_2__) && (defined(__x86_64__) || defined(__i386__))
#include <nmmintrin.h>
#endif

/* ---- layout version 3 (byte offsets in the shared header) ---- */
#define MMR_MAGIC 0x474e49524b435049ull /* "IPCKRING" little-endian */
#define MMR_VERSION 3u
#define MMR_KIND_SPSC 1u
#define MMR_KIND_MPMC 2u
#define MMR_HEADER_SIZE 4096u
#define MMR_FLAG_CHECKSUM 1u /* every message carries the CRC32C of its payload */
#define MMR_KNOWN_FLAGS MMR_FLAG_CHECKSUM

struct mmr_header {
	uint64_t magic;            /*   0 */
	_Atomic uint32_t version;  /*   8 stored last by the creator */
	uint32_t kind;             /*  12 */
	uint32_t header_size;      /*  16 = 4096 */
	uint32_t cell_size;        /*  20 MPMC cell bytes; SPSC 8 */
	uint64_t capacity;         /*  24 SPSC data bytes / MPMC cells, power of two */
	uint64_t total_size;       /*  32 header + data */
	uint64_t limit;            /*  40 MPMC max queued */
	uint32_t max_msg;          /*  48 */
	uint32_t flags;            /*  52 MMR_FLAG_CHECKSUM or 0 */
	uint32_t creator_pid;      /*  56 */
	uint8_t pad0[128 - 60];
	_Atomic uint64_t prod_pos; /* 128 SPSC tail / MPMC enqueue position */
	uint8_t pad1[120];
	_Atomic uint64_t cons_pos; /* 256 SPSC head / MPMC dequeue position */
	uint8_t pad2[120];
	_Atomic uint32_t data_epoch;   /* 384 futex word */
	_Atomic uint32_t data_waiters; /* 388 */
	_Atomic uint32_t data_need;    /* 392 a sleeper awaits a wake; the first waker swaps it to 0 */
	uint8_t pad3[116];
	_Atomic uint32_t space_epoch;   /* 512 futex word */
	_Atomic uint32_t space_waiters; /* 516 */
	_Atomic uint32_t space_need;    /* 520 */
	uint8_t pad4[116];
	_Atomic uint32_t closed;  /* 640 */
	_Atomic uint32_t orphans; /* 644 MPMC: a hint, see LAYOUT.md */
	uint8_t pad5[120];
	_Atomic uint64_t unfinished; /* 768 Queue tasks not done */
	uint8_t pad6[120];
	_Atomic uint32_t join_epoch;  /* 896 futex word */
	_Atomic uint32_t join_waiters;/* 900 */
	_Atomic uint32_t join_need;   /* 904 */
	uint8_t pad7[116];
	struct mmr_peer {             /* 1024: 64 slots of 16 bytes */
		_Atomic uint64_t ident;   /* pid<<32 | start time & 0xffffffff (0: unknown) */
		_Atomic uint32_t role;    /* 1 producer, 2 consumer; | MMR_ROLE_PENDING while claiming */
		uint32_t reserved;
	} peers[64];
	uint8_t pad8[4096 - 2048];
};

_Static_assert(offsetof(struct mmr_header, magic) == 0, "magic");
_Static_assert(offsetof(struct mmr_header, version) == 8, "version");
_Static_assert(offsetof(struct mmr_header, kind) == 12, "kind");
_Static_assert(offsetof(struct mmr_header, header_size) == 16, "header_size");
_Static_assert(offsetof(struct mmr_header, cell_size) == 20, "cell_size");
_Static_assert(offsetof(struct mmr_header, capacity) == 24, "capacity");
_Static_assert(offsetof(struct mmr_header, total_size) == 32, "total_size");
_Static_assert(offsetof(struct mmr_header, limit) == 40, "limit");
_Static_assert(offsetof(struct mmr_header, max_msg) == 48, "max_msg");
_Static_assert(offsetof(struct mmr_header, flags) == 52, "flags");
_Static_assert(offsetof(struct mmr_header, creator_pid) == 56, "creator_pid");
_Static_assert(offsetof(struct mmr_header, prod_pos) == 128, "prod_pos");
_Static_assert(offsetof(struct mmr_header, cons_pos) == 256, "cons_pos");
_Static_assert(offsetof(struct mmr_header, data_epoch) == 384, "data_epoch");
_Static_assert(offsetof(struct mmr_header, data_waiters) == 388, "data_waiters");
_Static_assert(offsetof(struct mmr_header, data_need) == 392, "data_need");
_Static_assert(offsetof(struct mmr_header, space_epoch) == 512, "space_epoch");
_Static_assert(offsetof(struct mmr_header, space_waiters) == 516, "space_waiters");
_Static_assert(offsetof(struct mmr_header, space_need) == 520, "space_need");
_Static_assert(offsetof(struct mmr_header, closed) == 640, "closed");
_Static_assert(offsetof(struct mmr_header, orphans) == 644, "orphans");
_Static_assert(offsetof(struct mmr_header, unfinished) == 768, "unfinished");
_Static_assert(offsetof(struct mmr_header, join_epoch) == 896, "join_epoch");
_Static_assert(offsetof(struct mmr_header, join_waiters) == 900, "join_waiters");
_Static_assert(offsetof(struct mmr_header, join_need) == 904, "join_need");
_Static_assert(offsetof(struct mmr_header, peers) == 1024, "peers");
_Static_assert(sizeof(struct mmr_peer) == 16, "peer size");
_Static_assert(sizeof(struct mmr_header) == MMR_HEADER_SIZE, "header size");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(_Atomic uint32_t) == 4, "atomic sizes");

#define MMR_ROLE_PRODUCER 1u
#define MMR_ROLE_CONSUMER 2u
#define MMR_ROLE_PENDING 0x80000000u
/* SPSC record: u32 length, u32 type, [u32 crc32c, u32 0 with MMR_FLAG_CHECKSUM], payload, padded to 8.
 * The first 8 bytes are one header word, published with a release store; a
 * word of 0 (MMR_REC_NONE) is where nothing is published yet: the producer
 * writes one after every record before publishing it (LAYOUT.md). */
#define MMR_REC_HEADER 8u
#define MMR_REC_HEADER_SUM 16u
#define MMR_REC_NONE 0u
#define MMR_REC_PADDING 1u
#define MMR_REC_MESSAGE 2u
/* MPMC cell: u64 state (position<<8 | code), u32 length, u32 crc32c (or 0), payload. */
#define MMR_CELL_HEADER 16u
#define MMR_ST_EMPTY 0x00u
#define MMR_ST_FULL 0x01u
#define MMR_ST_SKIPPED 0x02u
#define MMR_ST_ORPHAN 0x03u
#define MMR_ST_WRITING 0x40u /* | slot */
#define MMR_ST_READING 0x80u /* | slot */
#define MMR_POS_MASK ((1ull << 56) - 1)
#define MMR_MAX_RETRIES (1 << 20) /* contention never needs this many CAS rounds: corruption does */
#define MMR_STALL_LIMIT 64        /* fruitless "ready" rounds before a blocked call sleeps anyway */

/* Results (negative): */
#define MMR_EFULL (-1)      /* no room (non-blocking) */
#define MMR_EEMPTY (-2)     /* nothing ready (non-blocking) */
#define MMR_EOF (-3)        /* closed and drained */
#define MMR_ECLOSED (-4)    /* send on a closed ring */
#define MMR_EPEERDEAD (-5)  /* every peer on the other side died */
#define MMR_ETOOBIG (-6)    /* message larger than max_msg / buffer */
#define MMR_ECORRUPT (-7)   /* impossible value in shared memory, or checksum mismatch */
#define MMR_EBUSY (-8)      /* role taken / no peer slot */
#define MMR_ETIMEDOUT (-9)
#define MMR_ENOTREADY (-10) /* the creator has not finished the header (version 0) */
#define MMR_EPENDING (-11)  /* a reservation is pending: commit or abort it first */
#define MMR_ENOMSG (-12)    /* commit/abort/release without reserve/peek */
#define MMR_HAVE_RESERVE 1  /* mmr_try_reserve/mmr_commit/mmr_abort, mmr_peek/mmr_release */

#define MMR_SPIN_NS 50000   /* spin before sleeping, as Go's DefaultSpin */
#define MMR_LIVENESS_NS 200000000 /* futex sleeps are bounded by this */

typedef struct mmr_ring {
	struct mmr_header *h;
	unsigned char *base;
	uint32_t kind, flags;
	uint64_t cap, mask, cell_size, limit, max_msg, total, rec_hdr;
	uint64_t futex_waits, futex_wakes;
	uint64_t wake_failures; /* FUTEX_WAKE calls that failed after a publication */
	int wake_errno;         /* errno of the last one */
} mmr_ring;

/* ---- memory order (LAYOUT.md, "Memory order") ----
 * Publication (record headers, positions, peer idents) is a release store,
 * read with acquire loads. The eventcount's Dekker pair (publish, then
 * look at the waiter count; register as a waiter, then look again) is made
 * whole by the waiter: between registering and looking again it calls
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which runs a full barrier in
 * every thread of every process registered with
 * MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED; each peer process registers
 * (mmr__order_setup, from mmr_attach and mmr_init*) before it publishes.
 * A process that cannot register publishes with seq_cst stores instead,
 * and its waiters bound their first sleep after registering by
 * MMR__SHORT_SLEEP_NS. */
#define MMR__MEMBARRIER_QUERY 0
#define MMR__MEMBARRIER_GLOBAL_EXPEDITED (1 << 1)
#define MMR__MEMBARRIER_REGISTER_GLOBAL_EXPEDITED (1 << 2)
#define MMR__SHORT_SLEEP_NS 1000000
/* 0: not set up yet; 1: registered (release publication, waiters use the
 * barrier); 2: not available (seq_cst publication, short first sleeps). */
static _Atomic int mmr__order;

static inline long mmr__membarrier(int cmd) {
#ifdef SYS_membarrier
	return syscall(SYS_membarrier, cmd, 0, 0);
#else
	(void)cmd;
	errno = ENOSYS;
	return -1;
#endif
}

static inline void mmr__order_setup(void) {
	if (atomic_load_explicit(&mmr__order, memory_order_acquire)) return;
	const long need = MMR__MEMBARRIER_GLOBAL_EXPEDITED | MMR__MEMBARRIER_REGISTER_GLOBAL_EXPEDITED;
	long q = mmr__membarrier(MMR__MEMBARRIER_QUERY);
	int ok = q >= 0 && (q & need) == need && mmr__membarrier(MMR__MEMBARRIER_REGISTER_GLOBAL_EXPEDITED) == 0;
	atomic_store_explicit(&mmr__order, ok ? 1 : 2, memory_order_release);
}

/* The waiter's barrier; 0 when it ran. */
static inline int mmr__barrier(void) {
	if (atomic_load_explicit(&mmr__order, memory_order_relaxed) != 1) return -1;
	return mmr__membarrier(MMR__MEMBARRIER_GLOBAL_EXPEDITED) == 0 ? 0 : -1;
}

/* ---- stores to shared memory: one helper per kind ---- */
/* Publication: release (seq_cst in a process without the barrier). */
static inline void mmr__st64(_Atomic uint64_t *p, uint64_t v) {
	if (atomic_load_explicit(&mmr__order, memory_order_relaxed) == 1)
		atomic_store_explicit(p, v, memory_order_release);
	else
		atomic_store_explicit(p, v, memory_order_seq_cst);
}
static inline void mmr__st32(_Atomic uint32_t *p, uint32_t v) { atomic_store_explicit(p, v, memory_order_seq_cst); }
static inline int mmr__cas64(_Atomic uint64_t *p, uint64_t old, uint64_t v) {
	return atomic_compare_exchange_strong_explicit(p, &old, v, memory_order_seq_cst, memory_order_seq_cst);
}
static inline int mmr__cas32(_Atomic uint32_t *p, uint32_t old, uint32_t v) {
	return atomic_compare_exchange_strong_explicit(p, &old, v, memory_order_seq_cst, memory_order_seq_cst);
}
static inline uint32_t mmr__add32(_Atomic uint32_t *p, uint32_t d) { return atomic_fetch_add_explicit(p, d, memory_order_seq_cst) + d; }
static inline uint32_t mmr__swap32(_Atomic uint32_t *p, uint32_t v) { return atomic_exchange_explicit(p, v, memory_order_seq_cst); }
static inline uint64_t mmr__add64(_Atomic uint64_t *p, uint64_t d) { return atomic_fetch_add_explicit(p, d, memory_order_seq_cst) + d; }
static inline void mmr__put32(void *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void mmr__copy(void *dst, const void *src, size_t n) { memcpy(dst, src, n); }
static inline uint64_t mmr__ld64(_Atomic uint64_t *p) { return atomic_load_explicit(p, memory_order_seq_cst); }
static inline uint32_t mmr__ld32(_Atomic uint32_t *p) { return atomic_load_explicit(p, memory_order_seq_cst); }
/* Acquire load of a published word (a record header, a position). */
static inline uint64_t mmr__acq64(_Atomic uint64_t *p) { return atomic_load_explicit(p, memory_order_acquire); }
/* The SPSC header word at data offset idx, and its two fields (memory order on either byte order). */
static inline _Atomic uint64_t *mmr__hdr_at(mmr_ring *r, uint64_t idx) { return (_Atomic uint64_t *)(r->base + MMR_HEADER_SIZE + idx); }
static inline uint64_t mmr__hdr_word(uint32_t n, uint32_t typ) {
	uint32_t h[2] = {n, typ};
	uint64_t w;
	memcpy(&w, h, 8);
	return w;
}
static inline void mmr__hdr_fields(uint64_t w, uint32_t *n, uint32_t *typ) {
	uint32_t h[2];
	memcpy(h, &w, 8);
	*n = h[0];
	*typ = h[1];
}
/* A header written with plain stores (published by a later mmr__st64), or a terminator (0, 0). */
static inline void mmr__put_hdr(mmr_ring *r, uint64_t idx, uint32_t n, uint32_t typ) {
	unsigned char *rec = r->base + MMR_HEADER_SIZE + idx;
	mmr__put32(rec, n);
	mmr__put32(rec + 4, typ);
}
static inline uint32_t mmr__get32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* ---- kill points: crash-consistency testing (only with -DMMR_KILLPOINTS) ----
 * Compiled with -DMMR_KILLPOINTS, every call of a store helper above is
 * numbered from 1 in program order, and when the number reaches the value
 * of the environment variable MMAPRING_KILLPOINT the process exits at once
 * with status MMR_KILLPOINT_STATUS, before that store, as if SIGKILL had
 * struck it there (_exit: no atexit handler, no stdio flush). It first
 * writes one line to stderr naming the store, the function that made it
 * and, for a store made while waking sleepers, the function that woke
 * them:
 *   mmapring killpoint 17: add32 in mmr_notify < mmr_release
 * mmr_killpoint_stores() returns how many stores the process has made. The
 * Go package built with the mmapring_killpoints tag does the same; its
 * tests (killpoint_test.go) drive both through tests/c/ring_killpoint.c.
 * Without MMR_KILLPOINTS none of this exists and the helpers are bare. */
#ifdef MMR_KILLPOINTS
#define MMR_KILLPOINT_STATUS 86
static unsigned long long mmr__kp_count, mmr__kp_at;
static int mmr__kp_ready;
static const char *mmr__kp_via; /* who called mmr_notify / mmr__bump */
static inline unsigned long long mmr_killpoint_stores(void) { return mmr__kp_count; }
static inline void mmr__killpoint(const char *helper, const char *caller) {
	if (!mmr__kp_ready) {
		const char *k = getenv("MMAPRING_KILLPOINT");
		mmr__kp_at = k ? strtoull(k, NULL, 10) : 0;
		mmr__kp_ready = 1;
	}
	if (++mmr__kp_count != mmr__kp_at) return;
	char line[256];
	int n = snprintf(line, sizeof line, "mmapring killpoint %llu: %s in %s%s%s\n", mmr__kp_count, helper, caller,
	                 mmr__kp_via ? " < " : "", mmr__kp_via ? mmr__kp_via : "");
	if (n > 0 && write(2, line, (size_t)n) < 0) n = 0;
	_exit(MMR_KILLPOINT_STATUS);
}
/* Each helper's name now expands to a call of the hook with the caller's
 * name, then the helper itself (a macro does not expand inside itself). */
#define mmr__st64(p, v) (mmr__killpoint("st64", __func__), mmr__st64(p, v))
#define mmr__st32(p, v) (mmr__killpoint("st32", __func__), mmr__st32(p, v))
#define mmr__cas64(p, o, v) (mmr__killpoint("cas64", __func__), mmr__cas64(p, o, v))
#define mmr__cas32(p, o, v) (mmr__killpoint("cas32", __func__), mmr__cas32(p, o, v))
#define mmr__add32(p, d) (mmr__killpoint("add32", __func__), mmr__add32(p, d))
#define mmr__swap32(p, v) (mmr__killpoint("swap32", __func__), mmr__swap32(p, v))
#define mmr__add64(p, d) (mmr__killpoint("add64", __func__), mmr__add64(p, d))
#define mmr__put32(p, v) (mmr__killpoint("put32", __func__), mmr__put32(p, v))
#define mmr__copy(d, s, n) (mmr__killpoint("copy", __func__), mmr__copy(d, s, n))
#endif

/* ---- CRC32C (Castagnoli, reflected, init and final xor ~0), as Go's hash/crc32 ---- */
static const uint32_t mmr__crc32c_table[256] = {
	0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu,
	0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
	0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu,
	0xf165b798u, 0x030e349bu, 0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
	0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
	0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
	0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
	0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
	0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu,
	0x1642ae59u, 0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
	0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu,
	0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
	0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu,
	0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
	0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
	0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
	0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu,
	0x4767748au, 0xb50cf789u, 0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
	0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu,
	0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
	0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
	0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
	0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u,
	0xe9141340u, 0x1b7f9043u, 0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
	0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
	0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
	0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u, 0x502036a5u,
	0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
	0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u,
	0x0e330a81u, 0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
	0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u,
	0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
	0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u,
	0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
	0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
	0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
	0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u,
	0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
	0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u,
	0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
	0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au, 0xc69f7b69u,
	0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
	0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u
};

static inline uint32_t mmr_crc32c(const void *data, size_t n) {
	const unsigned char *p = (const unsigned char *)data;
	uint32_t c = 0xffffffffu;
#if defined(__SSE4_2__) && defined(__x86_64__)
	while (n >= 8) { uint64_t v; memcpy(&v, p, 8); c = (uint32_t)_mm_crc32_u64(c, v); p += 8; n -= 8; }
	while (n--) c = _mm_crc32_u8(c, *p++);
#else
	while (n--) c = mmr__crc32c_table[(c ^ *p++) & 0xff] ^ (c >> 8);
#endif
	return c ^ 0xffffffffu;
}

static inline uint64_t mmr_align8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

static inline uint64_t mmr_now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Start time (field 22 of the stat file at path); *alive = 0 when gone/zombie. */
static inline uint64_t mmr__stat_start(const char *path, int pid, int *alive) {
	char buf[1024];
	FILE *f = fopen(path, "re");
	if (!f) {
		*alive = (errno == ENOENT) ? 0 : (kill(pid, 0) == 0 || errno == EPERM);
		return 0;
	}
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	*alive = 1;
	if (!p || p[1] == 0) return 0;
	p += 2;
	if (*p == 'Z' || *p == 'X' || *p == 'x') { *alive = 0; return 0; }
	unsigned long long v = 0;
	int field = 3;
	while (*p && field < 22) { if (*p == ' ') field++; p++; }
	if (field == 22) v = strtoull(p, NULL, 10);
	return v;
}

/* Start time (field 22 of /proc/PID/stat); *alive = 0 when gone/zombie. */
static inline uint64_t mmr_proc_start(int pid, int *alive) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	return mmr__stat_start(path, pid, alive);
}

/* This process's ident as other processes see it. The start time comes
 * from /proc/PID/task/PID/stat (the main thread's, which is the
 * process's): qemu-user answers /proc/self/stat and /proc/PID/stat itself
 * when a guest reads its own, with the calling thread's start time. */
static inline uint64_t mmr_self_ident(void) {
	static _Atomic uint64_t id;
	uint64_t v = atomic_load(&id);
	if (!v) {
		int alive;
		int pid = getpid();
		char path[96];
		snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, pid);
		uint64_t st = mmr__stat_start(path, pid, &alive);
		if (!st) st = mmr_proc_start(pid, &alive);
		v = (uint64_t)(uint32_t)pid << 32 | (st & 0xffffffffull);
		atomic_store(&id, v);
	}
	return v;
}

/* A process is proven dead when it is gone, a zombie, or its pid now
 * names a process started more than 100 ticks away (pid reuse; the slack
 * absorbs qemu-user, which reports a guest's own start time late). Errs on
 * the side of "alive". */
static inline int mmr_ident_alive(uint64_t id) {
	int pid = (int)(id >> 32), alive;
	if (pid <= 0) return 0;
	if (id == mmr_self_ident()) return 1;
	uint64_t st = mmr_proc_start(pid, &alive);
	if (!alive) return 0;
	uint32_t want = (uint32_t)id;
	int32_t d = (int32_t)((uint32_t)st - want);
	if (want && st && (d < -100 || d > 100)) return 0;
	return 1;
}

static inline long mmr_futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts) {
	return syscall(SYS_futex, (uint32_t *)w, op, val, ts, NULL, 0);
}

static inline void mmr__wake(mmr_ring *r, _Atomic uint32_t *epoch) {
	r->futex_wakes++;
	if (mmr_futex(epoch, FUTEX_WAKE, INT_MAX, NULL) < 0) {
		r->wake_failures++;
		r->wake_errno = errno;
	}
}

/* Eventcount signal side: epoch, waiters and need are consecutive words. */
static inline void mmr_notify(mmr_ring *r, _Atomic uint32_t *epoch) {
	_Atomic uint32_t *waiters = epoch + 1, *need = epoch + 2;
	if (mmr__ld32(waiters) != 0 && mmr__ld32(need) != 0 && mmr__swap32(need, 0) != 0) {
		mmr__add32(epoch, 1);
		mmr__wake(r, epoch);
	}
}

/* Advance an epoch and wake every sleeper (close, repair, a release on a closed ring). */
static inline void mmr__bump(mmr_ring *r, _Atomic uint32_t *epoch) {
	mmr__add32(epoch, 1);
	mmr__wake(r, epoch);
}
#ifdef MMR_KILLPOINTS
#define mmr_notify(r, e) (mmr__kp_via = __func__, mmr_notify(r, e), mmr__kp_via = NULL)
#define mmr__bump(r, e) (mmr__kp_via = __func__, mmr__bump(r, e), mmr__kp_via = NULL)
#endif

/* Size of the object behind fd, for mmap. */
static inline long long mmr_map_size(int fd) {
	struct stat st;
	if (fstat(fd, &st) != 0) return -1;
	return (long long)st.st_size;
}

/* Seal a memfd (made with MFD_ALLOW_SEALING) against shrinking and growing.
 * 0 or -1 with errno. */
static inline int mmr_seal(int fd) { return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0 ? -1 : 0; }

/* 1 if no process can shrink the file behind fd (F_SEAL_SHRINK), else 0. */
static inline int mmr_sealed(int fd) {
	int s = fcntl(fd, F_GET_SEALS);
	return s >= 0 && (s & F_SEAL_SHRINK);
}

/* Validate the header of a mapping of len bytes; fill r from it. Every
 * derived field must agree with the primary ones; afterwards only r's
 * local copies of the geometry are used. */
static inline int mmr_attach(mmr_ring *r, void *base, size_t len) {
	memset(r, 0, sizeof *r);
	mmr__order_setup(); /* before this process publishes anything */
	if (len < MMR_HEADER_SIZE) return MMR_ECORRUPT;
	struct mmr_header *h = (struct mmr_header *)base;
	if (h->magic != MMR_MAGIC) return h->magic == 0 ? MMR_ENOTREADY : MMR_ECORRUPT;
	uint32_t v = atomic_load(&h->version);
	if (v == 0) return MMR_ENOTREADY;
	if (v != MMR_VERSION) return MMR_ECORRUPT;
	if (h->header_size != MMR_HEADER_SIZE || (h->flags & ~MMR_KNOWN_FLAGS)) return MMR_ECORRUPT;
	uint64_t cap = h->capacity, cell = h->cell_size, limit = h->limit, max = h->max_msg, total = h->total_size;
	uint64_t rec_hdr = (h->flags & MMR_FLAG_CHECKSUM) ? MMR_REC_HEADER_SUM : MMR_REC_HEADER;
	if (cap == 0 || (cap & (cap - 1))) return MMR_ECORRUPT;
	if (h->kind == MMR_KIND_SPSC) {
		if (cap < 256 || cap > (1ull << 40) || cell != 8 || limit != 0) return MMR_ECORRUPT;
		uint64_t m = cap / 2 - rec_hdr;
		if (m > (1ull << 31)) m = 1ull << 31;
		if (max != m || total != MMR_HEADER_SIZE + cap) return MMR_ECORRUPT;
	} else if (h->kind == MMR_KIND_MPMC) {
		if (cap < 2 || cap > (1ull << 32)) return MMR_ECORRUPT;
		if (cell < MMR_CELL_HEADER + 8 || cell > (1u << 30) || cell % 8) return MMR_ECORRUPT;
		if (limit == 0 || limit > cap || max != cell - MMR_CELL_HEADER) return MMR_ECORRUPT;
		if (cap > (1ull << 46) / cell || total != MMR_HEADER_SIZE + cap * cell) return MMR_ECORRUPT;
	} else {
		return MMR_ECORRUPT;
	}
	if (total > len) return MMR_ECORRUPT;
	r->h = h;
	r->base = (unsigned char *)base;
	r->kind = h->kind;
	r->flags = h->flags;
	r->cap = cap; r->mask = cap - 1; r->cell_size = cell; r->limit = limit; r->max_msg = max; r->total = total;
	r->rec_hdr = rec_hdr;
	return 0;
}

/* Initialise a new ring in a zero-filled mapping of at least the returned size
 * (mmr_ring_size). payload is the MPMC message size (rounded up to 8). */
static inline uint64_t mmr_ring_size(uint32_t kind, uint64_t cap, uint64_t payload) {
	if (kind == MMR_KIND_SPSC) return MMR_HEADER_SIZE + cap;
	return MMR_HEADER_SIZE + cap * (MMR_CELL_HEADER + mmr_align8(payload));
}

static inline int mmr_init_flags(void *base, size_t len, uint32_t kind, uint64_t cap, uint64_t payload, uint64_t limit, uint32_t flags) {
	struct mmr_header *h = (struct mmr_header *)base;
	uint64_t total = mmr_ring_size(kind, cap, payload);
	mmr__order_setup();
	if (cap == 0 || (cap & (cap - 1)) || total > len || (flags & ~MMR_KNOWN_FLAGS)) return MMR_ECORRUPT;
	if (kind == MMR_KIND_SPSC ? (cap < 256 || cap > (1ull << 40)) : (kind != MMR_KIND_MPMC || cap < 2 || cap > (1ull << 32) || limit > cap))
		return MMR_ECORRUPT;
	h->magic = MMR_MAGIC;
	h->kind = kind;
	h->header_size = MMR_HEADER_SIZE;
	h->capacity = cap;
	h->total_size = total;
	h->flags = flags;
	h->creator_pid = (uint32_t)getpid();
	if (kind == MMR_KIND_SPSC) {
		h->cell_size = 8;
		uint64_t m = cap / 2 - ((flags & MMR_FLAG_CHECKSUM) ? MMR_REC_HEADER_SUM : MMR_REC_HEADER);
		h->max_msg = (uint32_t)(m > (1ull << 31) ? (1ull << 31) : m);
	} else {
		h->cell_size = (uint32_t)(MMR_CELL_HEADER + mmr_align8(payload));
		h->max_msg = (uint32_t)mmr_align8(payload);
		h->limit = limit ? limit : cap;
		for (uint64_t i = 0; i < cap; i++)
			mmr__st64((_Atomic uint64_t *)((unsigned char *)base + MMR_HEADER_SIZE + i * h->cell_size), i << 8);
	}
	mmr__st32(&h->version, MMR_VERSION); /* last: the header is complete */
	return 0;
}

static inline int mmr_init(void *base, size_t len, uint32_t kind, uint64_t cap, uint64_t payload, uint64_t limit) {
	return mmr_init_flags(base, len, kind, cap, payload, limit, 0);
}

static inline _Atomic uint64_t *mmr_cell(mmr_ring *r, uint64_t pos) {
	return (_Atomic uint64_t *)(r->base + MMR_HEADER_SIZE + (pos & r->mask) * r->cell_size);
}

/* ---- repair (MPMC; see LAYOUT.md, "Repair") ---- */

static inline int mmr__claimed(uint64_t st) {
	uint64_t c = st & 0xc0;
	return c == MMR_ST_WRITING || c == MMR_ST_READING;
}

static inline void mmr__wake_everyone(mmr_ring *r) {
	mmr__bump(r, &r->h->data_epoch);
	mmr__bump(r, &r->h->space_epoch);
}

/* Lower the orphans hint by one, never below 0. */
static inline void mmr__lower_orphans(mmr_ring *r) {
	for (int i = 0; i < MMR_MAX_RETRIES; i++) {
		uint32_t n = mmr__ld32(&r->h->orphans);
		if (n == 0 || mmr__cas32(&r->h->orphans, n, n - 1)) return;
	}
}

/* READING cell -> ORPHAN, raising the hint first (never too low). */
static inline int mmr__orphan(mmr_ring *r, _Atomic uint64_t *cell, uint64_t st) {
	mmr__add32(&r->h->orphans, 1);
	if (mmr__cas64(cell, st, (st >> 8) << 8 | MMR_ST_ORPHAN)) return 1;
	mmr__lower_orphans(r);
	return 0;
}

static inline int mmr__repair_cell(mmr_ring *r, _Atomic uint64_t *cell, uint64_t st) {
	if ((st & 0xc0) == MMR_ST_WRITING) return mmr__cas64(cell, st, (st >> 8) << 8 | MMR_ST_SKIPPED);
	return mmr__orphan(r, cell, st);
}

/* Repair every cell whose claimant is proven dead; 1 if anything changed. */
static inline int mmr_repair_dead(mmr_ring *r) {
	if (r->kind != MMR_KIND_MPMC) return 0;
	signed char alive[64] = {0};
	uint64_t ids[64] = {0};
	int changed = 0;
	for (uint64_t i = 0; i < r->cap; i++) {
		_Atomic uint64_t *c = mmr_cell(r, i);
		uint64_t st = mmr__ld64(c);
		if (!mmr__claimed(st)) continue;
		int s = (int)(st & 0x3f);
		if (!alive[s]) {
			ids[s] = mmr__ld64(&r->h->peers[s].ident);
			alive[s] = (ids[s] && mmr_ident_alive(ids[s])) ? 1 : -1;
		}
		if (alive[s] > 0) continue;
		if (mmr__ld64(&r->h->peers[s].ident) != ids[s]) continue; /* slot reclaimed meanwhile */
		if (mmr__repair_cell(r, c, st)) changed = 1;
	}
	if (changed) mmr__wake_everyone(r);
	return changed;
}

/* Repair every cell claimed by slot s (whose holder is dead) before reusing it. */
static inline void mmr__repair_slot(mmr_ring *r, int s) {
	if (r->kind != MMR_KIND_MPMC) return;
	int changed = 0;
	for (uint64_t i = 0; i < r->cap; i++) {
		_Atomic uint64_t *c = mmr_cell(r, i);
		uint64_t st = mmr__ld64(c), code = st & 0xff;
		if (code != (MMR_ST_WRITING | (uint64_t)s) && code != (MMR_ST_READING | (uint64_t)s)) continue;
		if (mmr__repair_cell(r, c, st)) changed = 1;
	}
	if (changed) mmr__wake_everyone(r);
}

/* Claim an ORPHAN cell (-> READING|slot); 1 and *pos on success. */
static inline int mmr__take_orphan(mmr_ring *r, int slot, uint64_t *pos) {
	for (uint64_t i = 0; i < r->cap; i++) {
		_Atomic uint64_t *c = mmr_cell(r, i);
		uint64_t st = mmr__ld64(c);
		if ((st & 0xff) != MMR_ST_ORPHAN || ((st >> 8) & r->mask) != i) continue;
		if (mmr__cas64(c, st, (st >> 8) << 8 | MMR_ST_READING | (uint64_t)slot)) {
			mmr__lower_orphans(r);
			*pos = st >> 8;
			return 1;
		}
	}
	return 0;
}

#define MMR__DRAIN_EOF 0
#define MMR__DRAIN_ORPHAN 1
#define MMR__DRAIN_BUSY 2
#define MMR__DRAIN_CHANGED 3

/* What holds EOF up on a closed ring whose positions are equal. */
static inline int mmr__drain_scan(mmr_ring *r) {
	uint32_t orphans = mmr__ld32(&r->h->orphans);
	uint64_t enq = mmr__ld64(&r->h->prod_pos);
	if (mmr__ld64(&r->h->cons_pos) != enq) return MMR__DRAIN_CHANGED;
	int busy = 0;
	for (uint64_t i = 0; i < r->cap; i++) {
		_Atomic uint64_t *c = mmr_cell(r, i);
		uint64_t st = mmr__ld64(c);
		if ((st & 0xff) == MMR_ST_ORPHAN && ((st >> 8) & r->mask) == i) return MMR__DRAIN_ORPHAN;
		if (!mmr__claimed(st)) continue;
		uint64_t id = mmr__ld64(&r->h->peers[st & 0x3f].ident);
		if (id && mmr_ident_alive(id)) { busy = 1; continue; }
		if (mmr__repair_cell(r, c, st)) mmr__wake_everyone(r);
		return MMR__DRAIN_CHANGED;
	}
	if (mmr__ld64(&r->h->prod_pos) != enq) return MMR__DRAIN_CHANGED;
	if (busy) return MMR__DRAIN_BUSY;
	if (orphans) mmr__cas32(&r->h->orphans, orphans, 0); /* no ORPHAN cell: the hint was stale */
	return MMR__DRAIN_EOF;
}

/* Any ORPHAN cell? Resets a stale hint when there is none. */
static inline int mmr__find_orphans(mmr_ring *r) {
	uint32_t n = mmr__ld32(&r->h->orphans);
	for (uint64_t i = 0; i < r->cap; i++) {
		uint64_t st = mmr__ld64(mmr_cell(r, i));
		if ((st & 0xff) == MMR_ST_ORPHAN && ((st >> 8) & r->mask) == i) return 1;
	}
	if (n) mmr__cas32(&r->h->orphans, n, 0);
	return 0;
}

/* ---- peers ---- */

static inline void mmr_unregister(mmr_ring *r, int slot) {
	if (slot < 0) return;
	mmr__st32(&r->h->peers[slot].role, 0);
	mmr__st64(&r->h->peers[slot].ident, 0);
}

#define MMR__NO_RIVAL 0
#define MMR__HIGHER_PENDING 1
#define MMR__WINNING_RIVAL 2

/* A live process other than slot mine holding role? */
static inline int mmr__rival(mmr_ring *r, int mine, uint32_t role) {
	int found = MMR__NO_RIVAL;
	for (int s = 0; s < 64; s++) {
		if (s == mine) continue;
		uint64_t id = mmr__ld64(&r->h->peers[s].ident);
		uint32_t rl = mmr__ld32(&r->h->peers[s].role);
		if (!id || !(rl & role) || !mmr_ident_alive(id)) continue;
		if (!(rl & MMR_ROLE_PENDING) || mine < 0 || s < mine) return MMR__WINNING_RIVAL;
		found = MMR__HIGHER_PENDING;
	}
	return found;
}

/* Take a free slot, or a dead process's slot after repairing its cells. */
static inline int mmr__claim_slot(mmr_ring *r, uint64_t me, uint32_t role) {
	for (int pass = 0; pass < 2; pass++)
		for (int s = 0; s < 64; s++) {
			uint64_t id = mmr__ld64(&r->h->peers[s].ident);
			if (pass == 0 && id == 0) {
				if (mmr__cas64(&r->h->peers[s].ident, 0, me)) { mmr__st32(&r->h->peers[s].role, role); return s; }
				continue;
			}
			if (pass == 1 && id != 0 && !mmr_ident_alive(id)) {
				mmr__repair_slot(r, s);
				if (mmr__cas64(&r->h->peers[s].ident, id, me)) { mmr__st32(&r->h->peers[s].role, role); return s; }
			}
		}
	return -1;
}

/* Register for role (1 producer, 2 consumer); the slot or MMR_EBUSY. On an
 * SPSC ring the role is exclusive: claim with MMR_ROLE_PENDING, re-scan,
 * back off before a settled or lower rival, wait for a higher pending one
 * (the same algorithm as the Go package, so of any racing claimants in any
 * processes exactly one wins). */
static inline int mmr_register(mmr_ring *r, uint32_t role) {
	int spsc = r->kind == MMR_KIND_SPSC;
	if (spsc && mmr__rival(r, -1, role) != MMR__NO_RIVAL) return MMR_EBUSY;
	int slot = mmr__claim_slot(r, mmr_self_ident(), spsc ? role | MMR_ROLE_PENDING : role);
	if (slot < 0) return MMR_EBUSY;
	if (!spsc) return slot;
	for (int tries = 0;; tries++) {
		int rv = mmr__rival(r, slot, role);
		if (rv == MMR__NO_RIVAL) { mmr__st32(&r->h->peers[slot].role, role); return slot; }
		if (rv == MMR__HIGHER_PENDING && tries < 1000) {
			struct timespec ts = {0, (long)(tries + 1) * 10000};
			nanosleep(&ts, NULL);
			continue;
		}
		mmr_unregister(r, slot);
		return MMR_EBUSY;
	}
}

/* Tests define MMR_TEST_PEER_LOADED(r, slot) to run code in mmr_peers_dead
 * between reading a peer's ident and testing its process. */
#ifndef MMR_TEST_PEER_LOADED
#define MMR_TEST_PEER_LOADED(r, slot) ((void)0)
#endif

/* 1 when at least one peer with role attached and every such peer is proven dead. */
static inline int mmr_peers_dead(mmr_ring *r, uint32_t role) {
	int seen = 0;
	for (int s = 0; s < 64; s++) {
		uint64_t id = mmr__ld64(&r->h->peers[s].ident);
		if (!id || !(mmr__ld32(&r->h->peers[s].role) & role)) continue;
		seen = 1;
		MMR_TEST_PEER_LOADED(r, s);
		if (mmr_ident_alive(id)) return 0;
		/* A peer that left (close, detach) and then exited after the load
		 * above did not die holding the role: only a slot that still names
		 * the dead process proves a death (it may hold a new peer by now). */
		if (mmr__ld64(&r->h->peers[s].ident) != id) return 0;
	}
	return seen;
}

/* ---- blocking: the eventcount's waiting side ---- */
typedef int (*mmr_ready_fn)(void *);
typedef int (*mmr_tick_fn)(void *); /* >0 progress, 0 nothing, <0 error to return */

/* 0 when the clock passed deadline_ns (0 = none), else the nanoseconds left (capped). */
static inline long long mmr__left(uint64_t deadline_ns, long long cap_ns) {
	if (!deadline_ns) return cap_ns;
	uint64_t now = mmr_now_ns();
	if (now >= deadline_ns) return 0;
	return (long long)(deadline_ns - now) < cap_ns ? (long long)(deadline_ns - now) : cap_ns;
}

static inline int mmr__sleep(mmr_ring *r, _Atomic uint32_t *epoch, uint32_t ep, long long ns, int *timed) {
	struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
	r->futex_waits++;
	long rc = mmr_futex(epoch, FUTEX_WAIT, ep, &ts);
	*timed = rc != 0 && errno == ETIMEDOUT;
	return 0;
}

/* Spin, then register, re-check, sleep on epoch; tick every liveness
 * interval. 0 when ready (re-try: ready is a hint), MMR_ETIMEDOUT at the
 * deadline (0: none), or tick's error. stall > MMR_STALL_LIMIT makes it sleep
 * before looking at ready() (see the Go package's block). */
static inline int mmr_block(mmr_ring *r, _Atomic uint32_t *epoch, mmr_ready_fn ready, mmr_tick_fn tick, void *arg,
                            long long spin_ns, uint64_t deadline_ns, int early, int stall) {
	_Atomic uint32_t *waiters = epoch + 1, *need = epoch + 2;
	int timed;
	if (deadline_ns && mmr__left(deadline_ns, 1) == 0) return MMR_ETIMEDOUT;
	if (stall >= MMR_STALL_LIMIT) {
		long long d = 1000000ll << (stall - MMR_STALL_LIMIT < 8 ? stall - MMR_STALL_LIMIT : 8);
		if (d > MMR_LIVENESS_NS) d = MMR_LIVENESS_NS;
		d = mmr__left(deadline_ns, d);
		if (d == 0) return MMR_ETIMEDOUT;
		uint32_t ep = mmr__ld32(epoch);
		mmr__add32(waiters, 1);
		mmr__st32(need, 1);
		mmr__sleep(r, epoch, ep, d, &timed);
		mmr__add32(waiters, (uint32_t)-1);
		if (timed && d == MMR_LIVENESS_NS) {
			int t = tick(arg);
			if (t < 0) return t;
		}
		return 0;
	}
	if (early) mmr__add32(waiters, 1);
	int rc = 1;
	uint64_t start = mmr_now_ns();
	for (unsigned i = 0;; i++) {
		if (ready(arg)) { rc = 0; break; }
		if ((i & 63) == 63 && (long long)(mmr_now_ns() - start) > spin_ns) break;
	}
	if (early) mmr__add32(waiters, (uint32_t)-1);
	if (rc == 0) return 0;
	for (;;) {
		uint32_t ep = mmr__ld32(epoch);
		mmr__add32(waiters, 1);
		mmr__st32(need, 1);
		/* The waiter's half of the Dekker pair (see "memory order" above). */
		int barrier = mmr__barrier() == 0;
		if (ready(arg)) { mmr__add32(waiters, (uint32_t)-1); return 0; }
		long long wait = mmr__left(deadline_ns, MMR_LIVENESS_NS);
		if (wait == 0) { mmr__add32(waiters, (uint32_t)-1); return MMR_ETIMEDOUT; }
		if (!barrier && wait > MMR__SHORT_SLEEP_NS) {
			/* No barrier: a publisher's release store may have been on its
			 * way; look again after a short sleep, then sleep on (still
			 * registered). */
			mmr__sleep(r, epoch, ep, MMR__SHORT_SLEEP_NS, &timed);
			if (timed && !ready(arg)) mmr__sleep(r, epoch, ep, wait - MMR__SHORT_SLEEP_NS, &timed);
		} else {
			mmr__sleep(r, epoch, ep, wait, &timed);
		}
		mmr__add32(waiters, (uint32_t)-1);
		if (ready(arg)) return 0;
		if (timed && wait == MMR_LIVENESS_NS) {
			int t = tick(arg);
			if (t < 0) return t;
			if (t > 0) return 0;
		}
	}
}

static inline uint64_t mmr__deadline(long long timeout_ns) {
	return timeout_ns < 0 ? 0 : mmr_now_ns() + (uint64_t)timeout_ns + (timeout_ns == 0);
}

/* ---- producer ---- */
typedef struct mmr_producer {
	mmr_ring *r;
	int slot;
	uint64_t tail, head_cache;
	/* SPSC: the first record header of the publication in progress, held
	 * back and stored last (release) by mmr__spsc_publish. */
	int pend;
	uint64_t pend_idx, pend_hdr;
	uint64_t need; /* for the ready callback */
	long long spin_ns;
	int resv;
	uint64_t resv_pos, resv_max;
	int shut; /* the ring was closed when this producer attached (it stays closed) */
} mmr_producer;

/* SPSC: where the previous producer stopped: the stored position, then past
 * every record published after it (a producer killed between publishing a
 * record and storing its position leaves the position behind), up to the
 * empty header every publication leaves after itself. Bounds-checked and
 * bounded by the ring's size; 0 or MMR_ECORRUPT. */
static inline int mmr__recover_tail(mmr_producer *p) {
	mmr_ring *r = p->r;
	uint64_t t = mmr__acq64(&r->h->prod_pos), h = mmr__acq64(&r->h->cons_pos);
	if ((t & 7) || (h & 7)) return MMR_ECORRUPT;
	for (;;) {
		if ((t >= h && t - h > r->cap - MMR_REC_HEADER) || (t < h && h - t > r->cap)) return MMR_ECORRUPT;
		uint64_t idx = t & r->mask;
		uint32_t n, typ;
		mmr__hdr_fields(mmr__acq64(mmr__hdr_at(r, idx)), &n, &typ);
		if (typ == MMR_REC_NONE && n == 0) {
			if (t < h) return MMR_ECORRUPT; /* the consumer is past the last record */
			p->tail = t;
			p->head_cache = h;
			return 0;
		} else if (typ == MMR_REC_PADDING && n == r->cap - idx - MMR_REC_HEADER) {
			t += r->cap - idx;
		} else if (typ == MMR_REC_MESSAGE && n <= r->max_msg && idx + r->rec_hdr + mmr_align8(n) <= r->cap) {
			t += r->rec_hdr + mmr_align8(n);
		} else {
			return MMR_ECORRUPT;
		}
	}
}

static inline int mmr_producer_open(mmr_producer *p, mmr_ring *r) {
	memset(p, 0, sizeof *p);
	int s = mmr_register(r, MMR_ROLE_PRODUCER);
	if (s < 0) return s;
	p->r = r; p->slot = s; p->spin_ns = MMR_SPIN_NS;
	/* Read after the role is settled: a producer that closed the ring
	 * released the role only after storing the closed word, and nobody
	 * else can close an SPSC ring while we hold the role. */
	p->shut = mmr__ld32(&r->h->closed) != 0;
	if (r->kind == MMR_KIND_SPSC && mmr__recover_tail(p) != 0) {
		mmr_unregister(r, s);
		p->slot = -1;
		return MMR_ECORRUPT;
	}
	return 0;
}

/* SPSC: the header of the record at data offset idx: the first of a
 * publication is held back for mmr__spsc_publish, later ones are plain
 * stores that it publishes. */
static inline void mmr__spsc_set_hdr(mmr_producer *p, uint64_t idx, uint32_t n, uint32_t typ) {
	if (!p->pend) {
		p->pend = 1;
		p->pend_idx = idx;
		p->pend_hdr = mmr__hdr_word(n, typ);
		return;
	}
	mmr__put_hdr(p->r, idx, n, typ);
}

/* SPSC: make room for an n-byte payload and the terminator after it
 * (padding at the wrap); offset of the record or <0. */
static inline long long mmr__spsc_room(mmr_producer *p, uint64_t n) {
	mmr_ring *r = p->r;
	uint64_t need = r->rec_hdr + mmr_align8(n), idx = p->tail & r->mask, total = need;
	if (r->cap - idx < need) total = r->cap - idx + need;
	if (p->tail + total + MMR_REC_HEADER - p->head_cache > r->cap) {
		uint64_t h = mmr__acq64(&r->h->cons_pos);
		if (h > p->tail || p->tail - h > r->cap) return MMR_ECORRUPT;
		p->head_cache = h;
		if (p->tail + total + MMR_REC_HEADER - h > r->cap) return MMR_EFULL;
	}
	if (total != need) {
		/* the next lap's first header holds old bytes: empty it before the
		 * padding that leads there can be published */
		mmr__put_hdr(r, 0, 0, MMR_REC_NONE);
		mmr__spsc_set_hdr(p, idx, (uint32_t)(r->cap - idx - MMR_REC_HEADER), MMR_REC_PADDING);
		p->tail += r->cap - idx;
		idx = 0;
	}
	return (long long)(MMR_HEADER_SIZE + idx);
}

/* SPSC: publish what was written since the last publication (the held-back
 * header last, with a release store), then the position; wake a sleeper. */
static inline void mmr__spsc_publish(mmr_producer *p) {
	mmr_ring *r = p->r;
	if (p->pend) {
		p->pend = 0;
		mmr__st64(mmr__hdr_at(r, p->pend_idx), p->pend_hdr);
	}
	mmr__st64(&r->h->prod_pos, p->tail);
	mmr_notify(r, &r->h->data_epoch);
}

/* SPSC: end the record at off (an m-byte payload already in place): crc,
 * the terminator after it, its header, the tail. */
static inline void mmr__spsc_header(mmr_producer *p, uint64_t off, uint64_t m) {
	mmr_ring *r = p->r;
	unsigned char *rec = r->base + off;
	uint64_t idx = off - MMR_HEADER_SIZE, size = r->rec_hdr + mmr_align8(m);
	if (r->flags & MMR_FLAG_CHECKSUM) {
		mmr__put32(rec + 8, mmr_crc32c(rec + MMR_REC_HEADER_SUM, m));
		mmr__put32(rec + 12, 0);
	}
	mmr__put_hdr(r, (idx + size) & r->mask, 0, MMR_REC_NONE);
	mmr__spsc_set_hdr(p, idx, (uint32_t)m, MMR_REC_MESSAGE);
	p->tail += size;
}

/* MPMC: claim a cell (EMPTY -> WRITING|slot) at the enqueue position; helps
 * a position whose cell is claimed or already recycled. 0 and *out, or <0. */
static inline int mmr__mpmc_claim(mmr_producer *p, uint64_t *out) {
	mmr_ring *r = p->r;
	for (int spins = 0;; spins++) {
		if (spins > MMR_MAX_RETRIES) return MMR_ECORRUPT;
		uint64_t pos = mmr__ld64(&r->h->prod_pos);
		if (pos > MMR_POS_MASK) return MMR_ECORRUPT;
		if (r->limit < r->cap) {
			uint64_t deq = mmr__ld64(&r->h->cons_pos);
			if (deq > pos) {
				if (mmr__ld64(&r->h->prod_pos) == pos) return MMR_ECORRUPT; /* dequeue ahead of enqueue */
				continue;
			}
			if (pos - deq >= r->limit) {
				if (mmr__ld64(&r->h->prod_pos) == pos) return MMR_EFULL;
				continue;
			}
		}
		_Atomic uint64_t *c = mmr_cell(r, pos);
		uint64_t st = mmr__ld64(c);
		int64_t d = (int64_t)((st >> 8) - pos);
		if (d == 0 && (st & 0xff) == MMR_ST_EMPTY) {
			if (mmr__cas64(c, st, pos << 8 | MMR_ST_WRITING | (uint64_t)p->slot)) {
				mmr__cas64(&r->h->prod_pos, pos, pos + 1);
				*out = pos;
				return 0;
			}
		} else if (d == 0 || d == (int64_t)r->cap) {
			mmr__cas64(&r->h->prod_pos, pos, pos + 1); /* claimed, or already recycled: help */
		} else if (d < 0) {
			if (mmr__ld64(&r->h->prod_pos) == pos) return MMR_EFULL;
		} else if (mmr__ld64(&r->h->prod_pos) == pos) {
			return MMR_ECORRUPT; /* a cell ahead of the enqueue position */
		}
	}
}

static inline int mmr__mpmc_abort(mmr_producer *p, uint64_t pos) {
	mmr_ring *r = p->r;
	if (!mmr__cas64(mmr_cell(r, pos), (pos & MMR_POS_MASK) << 8 | MMR_ST_WRITING | (uint64_t)p->slot,
	                (pos & MMR_POS_MASK) << 8 | MMR_ST_SKIPPED))
		return MMR_ECORRUPT; /* our claim was taken over */
	mmr_notify(r, &r->h->data_epoch);
	return 0;
}

/* Claim on an open ring; the closed word is read again after the claim so
 * that no claim escapes a concurrent close (see the Go package). */
static inline int mmr__mpmc_claim_open(mmr_producer *p, uint64_t *pos) {
	if (mmr__ld32(&p->r->h->closed)) return MMR_ECLOSED;
	int rc = mmr__mpmc_claim(p, pos);
	if (rc) return rc;
	if (mmr__ld32(&p->r->h->closed)) { mmr__mpmc_abort(p, *pos); return MMR_ECLOSED; }
	return 0;
}

static inline int mmr__mpmc_commit(mmr_producer *p, uint64_t pos) {
	mmr_ring *r = p->r;
	if (!mmr__cas64(mmr_cell(r, pos), (pos & MMR_POS_MASK) << 8 | MMR_ST_WRITING | (uint64_t)p->slot,
	                (pos & MMR_POS_MASK) << 8 | MMR_ST_FULL))
		return MMR_ECORRUPT;
	mmr_notify(r, &r->h->data_epoch);
	return 0;
}

static inline int mmr__producer_check(mmr_producer *p, uint64_t n) {
	if (p->slot < 0 || p->shut) return MMR_ECLOSED;
	if (n > p->r->max_msg) return MMR_ETOOBIG;
	if (p->resv) return MMR_EPENDING;
	return 0;
}

static inline int mmr_try_send(mmr_producer *p, const void *msg, uint64_t n) {
	mmr_ring *r = p->r;
	int rc = mmr__producer_check(p, n);
	if (rc) return rc;
	if (r->kind == MMR_KIND_SPSC) {
		long long off = mmr__spsc_room(p, n);
		if (off < 0) return (int)off;
		mmr__copy(r->base + off + r->rec_hdr, msg, n);
		mmr__spsc_header(p, (uint64_t)off, n);
		mmr__spsc_publish(p);
		return 0;
	}
	uint64_t pos;
	if ((rc = mmr__mpmc_claim_open(p, &pos))) return rc;
	unsigned char *cell = (unsigned char *)mmr_cell(r, pos);
	mmr__put32(cell + 8, (uint32_t)n);
	if (r->flags & MMR_FLAG_CHECKSUM) mmr__put32(cell + 12, mmr_crc32c(msg, n));
	mmr__copy(cell + MMR_CELL_HEADER, msg, n);
	return mmr__mpmc_commit(p, pos);
}

static inline int mmr__room_ready(void *arg) {
	mmr_producer *p = (mmr_producer *)arg;
	mmr_ring *r = p->r;
	if (mmr__ld32(&r->h->closed)) return 1;
	if (r->kind == MMR_KIND_SPSC) {
		uint64_t idx = p->tail & r->mask, total = p->need;
		if (r->cap - idx < p->need) total = r->cap - idx + p->need;
		uint64_t h = mmr__acq64(&r->h->cons_pos);
		return h > p->tail || p->tail + total + MMR_REC_HEADER - h <= r->cap;
	}
	uint64_t pos = mmr__ld64(&r->h->prod_pos);
	if (r->limit < r->cap) {
		uint64_t deq = mmr__ld64(&r->h->cons_pos);
		if (deq <= pos && pos - deq >= r->limit) return 0;
	}
	uint64_t st = mmr__ld64(mmr_cell(r, pos));
	return (int64_t)((st >> 8) - pos) >= 0;
}

static inline int mmr__room_tick(void *arg) {
	mmr_producer *p = (mmr_producer *)arg;
	if (p->r->kind == MMR_KIND_MPMC && mmr_repair_dead(p->r)) return 1;
	if (mmr_peers_dead(p->r, MMR_ROLE_CONSUMER) && !mmr__room_ready(p)) return MMR_EPEERDEAD;
	return 0;
}

static inline int mmr__wait_room(mmr_producer *p, uint64_t n, uint64_t deadline, int stall) {
	p->need = p->r->rec_hdr + mmr_align8(n);
	return mmr_block(p->r, &p->r->h->space_epoch, mmr__room_ready, mmr__room_tick, p, p->spin_ns, deadline,
	                 p->r->kind == MMR_KIND_SPSC, stall);
}

/* Blocking send; timeout_ns < 0 waits forever. */
static inline int mmr_send(mmr_producer *p, const void *msg, uint64_t n, long long timeout_ns) {
	uint64_t deadline = mmr__deadline(timeout_ns);
	for (int stall = 0;; stall++) {
		int rc = mmr_try_send(p, msg, n);
		if (rc != MMR_EFULL) return rc;
		if ((rc = mmr__wait_room(p, n, deadline, stall))) return rc;
	}
}

/* Zero-copy send: room for up to n bytes at *buf; fill it, then mmr_commit or mmr_abort. */
static inline int mmr_try_reserve(mmr_producer *p, uint64_t n, void **buf) {
	mmr_ring *r = p->r;
	int rc = mmr__producer_check(p, n);
	if (rc) return rc;
	if (r->kind == MMR_KIND_SPSC) {
		long long off = mmr__spsc_room(p, n);
		if (off < 0) return (int)off;
		p->resv = 1; p->resv_pos = (uint64_t)off; p->resv_max = n;
		*buf = r->base + off + r->rec_hdr;
		return 0;
	}
	uint64_t pos;
	if ((rc = mmr__mpmc_claim_open(p, &pos))) return rc;
	p->resv = 1; p->resv_pos = pos; p->resv_max = n;
	*buf = (unsigned char *)mmr_cell(r, pos) + MMR_CELL_HEADER;
	return 0;
}

static inline int mmr_reserve(mmr_producer *p, uint64_t n, void **buf, long long timeout_ns) {
	uint64_t deadline = mmr__deadline(timeout_ns);
	for (int stall = 0;; stall++) {
		int rc = mmr_try_reserve(p, n, buf);
		if (rc != MMR_EFULL) return rc;
		if ((rc = mmr__wait_room(p, n, deadline, stall))) return rc;
	}
}

/* Publish the first m bytes of the reservation. */
static inline int mmr_commit(mmr_producer *p, uint64_t m) {
	mmr_ring *r = p->r;
	if (!p->resv) return MMR_ENOMSG;
	if (m > p->resv_max) return MMR_ETOOBIG;
	p->resv = 0;
	if (r->kind == MMR_KIND_SPSC) {
		mmr__spsc_header(p, p->resv_pos, m);
		mmr__spsc_publish(p);
		return 0;
	}
	unsigned char *cell = (unsigned char *)mmr_cell(r, p->resv_pos);
	mmr__put32(cell + 8, (uint32_t)m);
	if (r->flags & MMR_FLAG_CHECKSUM) mmr__put32(cell + 12, mmr_crc32c(cell + MMR_CELL_HEADER, m));
	return mmr__mpmc_commit(p, p->resv_pos);
}

static inline int mmr_abort(mmr_producer *p) {
	if (!p->resv) return MMR_ENOMSG;
	p->resv = 0;
	return p->r->kind == MMR_KIND_MPMC ? mmr__mpmc_abort(p, p->resv_pos) : 0;
}

static inline void mmr__producer_finish(mmr_producer *p, int close_ring) {
	mmr_ring *r = p->r;
	if (p->slot < 0) return;
	if (p->resv) mmr_abort(p);
	if (r->kind == MMR_KIND_SPSC) mmr__spsc_publish(p);
	if (close_ring) {
		mmr__st32(&r->h->closed, 1);
		mmr__bump(r, &r->h->data_epoch);
		mmr__bump(r, &r->h->space_epoch);
	}
	mmr_unregister(r, p->slot);
	p->slot = -1;
}

/* Close the ring for sending: consumers drain, then get MMR_EOF. */
static inline void mmr_producer_close(mmr_producer *p) { mmr__producer_finish(p, 1); }

/* Release the producer slot without closing the ring. */
static inline void mmr_producer_detach(mmr_producer *p) { mmr__producer_finish(p, 0); }

/* ---- consumer ---- */
typedef struct mmr_consumer {
	mmr_ring *r;
	int slot;
	uint64_t head, head_pub;
	long long spin_ns;
	int peeked;
	uint64_t peek_size, peek_pos;
	/* MPMC: see the Go package's Consumer. */
	uint32_t stale_orphans, drain_epoch;
	int scan_orphans, drain_busy;
} mmr_consumer;

static inline int mmr_consumer_open(mmr_consumer *c, mmr_ring *r) {
	memset(c, 0, sizeof *c);
	int s = mmr_register(r, MMR_ROLE_CONSUMER);
	if (s < 0) return s;
	c->r = r; c->slot = s; c->spin_ns = MMR_SPIN_NS;
	if (r->kind == MMR_KIND_SPSC) {
		/* the stored producer position may trail the last published record */
		c->head = mmr__acq64(&r->h->cons_pos);
		uint64_t t = mmr__acq64(&r->h->prod_pos);
		if ((c->head & 7) || (t & 7) || (t >= c->head && t - c->head > r->cap) || (t < c->head && c->head - t > r->cap)) {
			mmr_unregister(r, s);
			c->slot = -1;
			return MMR_ECORRUPT;
		}
		c->head_pub = c->head;
	}
	return 0;
}

static inline void mmr__spsc_publish_head(mmr_consumer *c) {
	if (c->head == c->head_pub) return;
	mmr__st64(&c->r->h->cons_pos, c->head);
	c->head_pub = c->head;
	mmr_notify(c->r, &c->r->h->space_epoch);
}

/* SPSC: nothing published at head yet. */
static inline int mmr__spsc_caught_up(mmr_consumer *c) {
	return mmr__acq64(mmr__hdr_at(c->r, c->head & c->r->mask)) == 0;
}

/* SPSC: publish the head once a quarter of the ring is unpublished, when a
 * producer waits for room, or when caught up. */
static inline void mmr__spsc_maybe_publish(mmr_consumer *c) {
	mmr_ring *r = c->r;
	if (c->head - c->head_pub >= r->cap / 4 || mmr__ld32(&r->h->space_waiters) != 0 || mmr__spsc_caught_up(c))
		mmr__spsc_publish_head(c);
}

/* SPSC: the next message record at head (padding skipped): payload offset
 * and length, record size in *size; <0 on error or MMR_EEMPTY. */
static inline long long mmr__spsc_next(mmr_consumer *c, uint64_t *len, uint64_t *size) {
	mmr_ring *r = c->r;
	for (int spins = 0;; spins++) {
		if (spins > 2) return MMR_ECORRUPT;
		uint64_t idx = c->head & r->mask, off = MMR_HEADER_SIZE + idx;
		uint32_t l32, typ;
		mmr__hdr_fields(mmr__acq64(mmr__hdr_at(r, idx)), &l32, &typ);
		uint64_t l = l32;
		if (typ == MMR_REC_NONE) return l ? MMR_ECORRUPT : MMR_EEMPTY;
		if (typ == MMR_REC_PADDING) {
			uint64_t skip = r->cap - idx;
			if (l != skip - MMR_REC_HEADER) return MMR_ECORRUPT;
			c->head += skip;
			continue;
		}
		if (typ != MMR_REC_MESSAGE || l > r->max_msg) return MMR_ECORRUPT;
		uint64_t sz = r->rec_hdr + mmr_align8(l);
		if (idx + sz > r->cap) return MMR_ECORRUPT;
		if ((r->flags & MMR_FLAG_CHECKSUM) &&
		    mmr__get32(r->base + off + 8) != mmr_crc32c(r->base + off + MMR_REC_HEADER_SUM, l)) {
			c->head += sz; /* consume the bad record so the ring moves on */
			mmr__spsc_maybe_publish(c);
			return MMR_ECORRUPT;
		}
		*len = l;
		*size = sz;
		return (long long)(off + r->rec_hdr);
	}
}

/* MPMC: claim the cell at the dequeue position (FULL -> READING|slot);
 * recycles skipped cells and helps the position past taken or recycled
 * ones. 0 and *out, MMR_EEMPTY, or MMR_ECORRUPT. */
static inline int mmr__mpmc_take(mmr_consumer *c, uint64_t *out) {
	mmr_ring *r = c->r;
	for (int spins = 0;; spins++) {
		if (spins > MMR_MAX_RETRIES) return MMR_ECORRUPT;
		uint64_t pos = mmr__ld64(&r->h->cons_pos);
		if (pos > MMR_POS_MASK) return MMR_ECORRUPT;
		_Atomic uint64_t *cell = mmr_cell(r, pos);
		uint64_t st = mmr__ld64(cell), code = st & 0xff;
		int64_t d = (int64_t)((st >> 8) - pos);
		if (d == (int64_t)r->cap) { mmr__cas64(&r->h->cons_pos, pos, pos + 1); continue; }
		if (d < 0) { if (mmr__ld64(&r->h->cons_pos) == pos) return MMR_EEMPTY; continue; }
		if (d > 0) { if (mmr__ld64(&r->h->cons_pos) == pos) return MMR_ECORRUPT; continue; }
		if (code == MMR_ST_FULL) {
			if (mmr__cas64(cell, st, pos << 8 | MMR_ST_READING | (uint64_t)c->slot)) {
				mmr__cas64(&r->h->cons_pos, pos, pos + 1);
				*out = pos;
				return 0;
			}
		} else if (code == MMR_ST_SKIPPED) {
			mmr__cas64(&r->h->prod_pos, pos, pos + 1); /* never pass the enqueue position */
			if (mmr__cas64(cell, st, ((pos + r->cap) & MMR_POS_MASK) << 8 | MMR_ST_EMPTY)) {
				mmr__cas64(&r->h->cons_pos, pos, pos + 1);
				mmr_notify(r, &r->h->space_epoch);
			}
		} else if (code == MMR_ST_EMPTY || (code & 0xc0) == MMR_ST_WRITING) {
			if (mmr__ld64(&r->h->cons_pos) == pos) return MMR_EEMPTY;
		} else if ((code & 0xc0) == MMR_ST_READING || code == MMR_ST_ORPHAN) {
			mmr__cas64(&r->h->cons_pos, pos, pos + 1);
		} else if (mmr__ld64(&r->h->cons_pos) == pos) {
			return MMR_ECORRUPT; /* no such state */
		}
	}
}

/* MPMC: nothing at the dequeue position: orphans, and on a closed ring EOF or wait. */
static inline int mmr__mpmc_slow(mmr_consumer *c, uint64_t *pos) {
	mmr_ring *r = c->r;
	uint32_t o = mmr__ld32(&r->h->orphans);
	if (c->scan_orphans || (o != 0 && o != c->stale_orphans)) {
		c->scan_orphans = 0;
		if (mmr__take_orphan(r, c->slot, pos)) { c->stale_orphans = 0; return 0; }
		c->stale_orphans = o;
	}
	if (!mmr__ld32(&r->h->closed)) return MMR_EEMPTY;
	c->drain_busy = 0;
	for (int i = 0; i < 4; i++) {
		if (mmr__ld64(&r->h->prod_pos) != mmr__ld64(&r->h->cons_pos)) {
			if (!mmr_repair_dead(r)) return MMR_EEMPTY;
		} else {
			uint32_t epoch = mmr__ld32(&r->h->data_epoch);
			switch (mmr__drain_scan(r)) {
			case MMR__DRAIN_EOF: return MMR_EOF;
			case MMR__DRAIN_BUSY: c->drain_busy = 1; c->drain_epoch = epoch; return MMR_EEMPTY;
			case MMR__DRAIN_ORPHAN:
				if (mmr__take_orphan(r, c->slot, pos)) return 0;
				break;
			default: break;
			}
		}
		int rc = mmr__mpmc_take(c, pos);
		if (rc != MMR_EEMPTY) return rc;
	}
	return MMR_EEMPTY;
}

/* The message in cell pos: its length, or MMR_ECORRUPT. */
static inline long long mmr__cell_msg(mmr_consumer *c, uint64_t pos, const void **msg) {
	mmr_ring *r = c->r;
	unsigned char *cb = (unsigned char *)mmr_cell(r, pos);
	uint64_t l = mmr__get32(cb + 8);
	if (l > r->max_msg) return MMR_ECORRUPT;
	if ((r->flags & MMR_FLAG_CHECKSUM) && mmr__get32(cb + 12) != mmr_crc32c(cb + MMR_CELL_HEADER, l)) return MMR_ECORRUPT;
	*msg = cb + MMR_CELL_HEADER;
	return (long long)l;
}

/* Consume the message returned by mmr_try_peek/mmr_peek. */
static inline int mmr_release(mmr_consumer *c) {
	mmr_ring *r = c->r;
	if (!c->peeked) return MMR_ENOMSG;
	c->peeked = 0;
	if (r->kind == MMR_KIND_SPSC) {
		c->head += c->peek_size;
		mmr__spsc_maybe_publish(c);
		return 0;
	}
	uint64_t pos = c->peek_pos;
	if (!mmr__cas64(mmr_cell(r, pos), (pos & MMR_POS_MASK) << 8 | MMR_ST_READING | (uint64_t)c->slot,
	                ((pos + r->cap) & MMR_POS_MASK) << 8 | MMR_ST_EMPTY))
		return MMR_ECORRUPT; /* our claim was taken over */
	mmr_notify(r, &r->h->space_epoch);
	if (mmr__ld32(&r->h->closed)) mmr__bump(r, &r->h->data_epoch); /* EOF may wait for this */
	return 0;
}

/* Zero-copy receive: the next message in place (*msg, valid until
 * mmr_release); its length, MMR_EEMPTY, MMR_EOF, or an error. */
static inline long mmr_try_peek(mmr_consumer *c, const void **msg) {
	mmr_ring *r = c->r;
	if (c->slot < 0) return MMR_ECLOSED;
	if (r->kind == MMR_KIND_SPSC) {
		uint64_t len, size;
		long long off = mmr__spsc_next(c, &len, &size);
		if (off == MMR_EEMPTY && mmr__ld32(&r->h->closed)) {
			off = mmr__spsc_next(c, &len, &size);
			if (off == MMR_EEMPTY) { mmr__spsc_publish_head(c); return MMR_EOF; }
		}
		if (off < 0) return (long)off;
		c->peeked = 1; c->peek_size = size;
		*msg = r->base + off;
		return (long)len;
	}
	if (c->peeked) return (long)mmr__cell_msg(c, c->peek_pos, msg);
	uint64_t pos;
	int rc = mmr__mpmc_take(c, &pos);
	if (rc == MMR_EEMPTY) rc = mmr__mpmc_slow(c, &pos);
	if (rc) return rc;
	c->peeked = 1; c->peek_pos = pos;
	long long n = mmr__cell_msg(c, pos, msg);
	if (n < 0) mmr_release(c); /* a corrupt cell is consumed so the ring moves on */
	return (long)n;
}

static inline long mmr_try_recv(mmr_consumer *c, void *buf, uint64_t bufcap) {
	const void *m = NULL;
	long n = mmr_try_peek(c, &m);
	if (n < 0) return n;
	if ((uint64_t)n > bufcap) return MMR_ETOOBIG; /* stays peeked: the next call returns it again */
	memcpy(buf, m, (size_t)n); /* private memory: not a store to the ring */
	int rc = mmr_release(c);
	return rc ? rc : n;
}

static inline int mmr__data_ready(void *arg) {
	mmr_consumer *c = (mmr_consumer *)arg;
	mmr_ring *r = c->r;
	if (r->kind == MMR_KIND_SPSC) return !mmr__spsc_caught_up(c) || mmr__ld32(&r->h->closed);
	uint64_t pos = mmr__ld64(&r->h->cons_pos);
	uint64_t st = mmr__ld64(mmr_cell(r, pos)), code = st & 0xff;
	int64_t d = (int64_t)((st >> 8) - pos);
	if (d != 0) { if (d > 0) return 1; }
	else if (code != MMR_ST_EMPTY && (code & 0xc0) != MMR_ST_WRITING) return 1;
	uint32_t o = mmr__ld32(&r->h->orphans);
	if (o != 0 && o != c->stale_orphans) return 1;
	/* Closed counts only once every claim is resolved (a dead producer's
	 * claim is repaired by the liveness tick), and a drain held up by a
	 * live claimant waits for the epoch to move. */
	return mmr__ld32(&r->h->closed) && mmr__ld64(&r->h->prod_pos) == mmr__ld64(&r->h->cons_pos) &&
	       (!c->drain_busy || mmr__ld32(&r->h->data_epoch) != c->drain_epoch);
}

static inline int mmr__data_tick(void *arg) {
	mmr_consumer *c = (mmr_consumer *)arg;
	mmr_ring *r = c->r;
	if (r->kind == MMR_KIND_MPMC) {
		if (mmr_repair_dead(r)) return 1;
		if (mmr__find_orphans(r)) { c->scan_orphans = 1; return 1; }
		if (c->drain_busy) return 1;
	}
	if (mmr_peers_dead(r, MMR_ROLE_PRODUCER) && !mmr__data_ready(c)) return MMR_EPEERDEAD;
	return 0;
}

static inline int mmr__wait_data(mmr_consumer *c, uint64_t deadline, int stall) {
	if (c->r->kind == MMR_KIND_SPSC) mmr__spsc_publish_head(c); /* never sleep on space the producer cannot see */
	return mmr_block(c->r, &c->r->h->data_epoch, mmr__data_ready, mmr__data_tick, c, c->spin_ns, deadline, 0, stall);
}

/* Blocking zero-copy receive; timeout_ns < 0 waits forever. */
static inline long mmr_peek(mmr_consumer *c, const void **msg, long long timeout_ns) {
	uint64_t deadline = mmr__deadline(timeout_ns);
	for (int stall = 0;; stall++) {
		long n = mmr_try_peek(c, msg);
		if (n != MMR_EEMPTY) return n;
		int rc = mmr__wait_data(c, deadline, stall);
		if (rc) return rc;
	}
}

/* Blocking receive: length, or MMR_EOF / MMR_EPEERDEAD / MMR_ETIMEDOUT / errors. */
static inline long mmr_recv(mmr_consumer *c, void *buf, uint64_t bufcap, long long timeout_ns) {
	uint64_t deadline = mmr__deadline(timeout_ns);
	for (int stall = 0;; stall++) {
		long n = mmr_try_recv(c, buf, bufcap);
		if (n != MMR_EEMPTY) return n;
		int rc = mmr__wait_data(c, deadline, stall);
		if (rc) return rc;
	}
}

/* Detach the consumer; an unreleased MPMC peek is handed back for redelivery. */
static inline void mmr_consumer_close(mmr_consumer *c) {
	mmr_ring *r = c->r;
	if (c->slot < 0) return;
	if (c->peeked && r->kind == MMR_KIND_MPMC) {
		uint64_t pos = c->peek_pos;
		if (mmr__orphan(r, mmr_cell(r, pos), (pos & MMR_POS_MASK) << 8 | MMR_ST_READING | (uint64_t)c->slot))
			mmr__bump(r, &r->h->data_epoch);
	}
	c->peeked = 0;
	if (r->kind == MMR_KIND_SPSC) mmr__spsc_publish_head(c);
	mmr_unregister(r, c->slot);
	c->slot = -1;
}

#endif /* IPCKIT_MMAPRING_H */
