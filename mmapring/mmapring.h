/*
 * mmapring.h — the ipckit mmapring shared-memory ring protocol for C peers.
 *
 * Single-file, header-only, C11 atomics, Linux. It implements layout
 * version 1 exactly as the Go package github.com/ipckit/ipckit/mmapring
 * does (LAYOUT.md is the specification): a C process attached to the same
 * mapping is a full peer of Go processes, as producer or consumer of an
 * SPSC byte ring or an MPMC cell ring.
 *
 *   #define MMR_IMPLEMENTATION is not needed: every function is static inline.
 *
 * Usage (consumer of a ring created by Go in a memfd passed as fd 3):
 *   size_t len = mmr_map_size(3);                      // fstat
 *   void *m = mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED, 3, 0);
 *   mmr_ring r; if (mmr_attach(&r, m, len) != 0) ...  // validates header
 *   mmr_consumer c; mmr_consumer_open(&c, &r);
 *   char buf[4096]; long n = mmr_recv(&c, buf, sizeof buf, -1);
 *   // n >= 0: length; MMR_EOF: closed and drained; MMR_EPEERDEAD ...
 *
 * Memory order: every store that publishes (positions, cell states) and
 * every load of a waiter count or re-check in the eventcount is seq_cst,
 * as Go's sync/atomic is; other loads of the peer's position are acquire.
 * Values read from shared memory are bounds-checked before use.
 */
#ifndef IPCKIT_MMAPRING_H
#define IPCKIT_MMAPRING_H

#include <errno.h>
#include <limits.h>
#if defined(__has_include)
#if __has_include(<linux/futex.h>)
#include <linux/futex.h>
#endif
#endif
#ifndef FUTEX_WAIT /* musl-gcc without kernel headers */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#endif
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
#include <signal.h>

/* ---- layout version 1 (byte offsets in the shared header) ---- */
#define MMR_MAGIC 0x474e49524b435049ull /* "IPCKRING" little-endian */
#define MMR_VERSION 1u
#define MMR_KIND_SPSC 1u
#define MMR_KIND_MPMC 2u
#define MMR_HEADER_SIZE 4096u

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
	uint32_t flags;            /*  52 = 0 */
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
	_Atomic uint32_t orphans; /* 644 */
	uint8_t pad5[120];
	_Atomic uint64_t unfinished; /* 768 Queue tasks not done */
	uint8_t pad6[120];
	_Atomic uint32_t join_epoch;  /* 896 futex word */
	_Atomic uint32_t join_waiters;/* 900 */
	_Atomic uint32_t join_need;   /* 904 */
	uint8_t pad7[116];
	struct mmr_peer {             /* 1024: 64 slots of 16 bytes */
		_Atomic uint64_t ident;   /* pid<<32 | start time & 0xffffffff (0: unknown) */
		_Atomic uint32_t role;    /* 1 producer, 2 consumer */
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
_Static_assert(offsetof(struct mmr_header, space_need) == 520, "space_need");
_Static_assert(offsetof(struct mmr_header, join_need) == 904, "join_need");
_Static_assert(offsetof(struct mmr_header, space_waiters) == 516, "space_waiters");
_Static_assert(offsetof(struct mmr_header, closed) == 640, "closed");
_Static_assert(offsetof(struct mmr_header, orphans) == 644, "orphans");
_Static_assert(offsetof(struct mmr_header, unfinished) == 768, "unfinished");
_Static_assert(offsetof(struct mmr_header, join_epoch) == 896, "join_epoch");
_Static_assert(offsetof(struct mmr_header, join_waiters) == 900, "join_waiters");
_Static_assert(offsetof(struct mmr_header, peers) == 1024, "peers");
_Static_assert(sizeof(struct mmr_peer) == 16, "peer size");
_Static_assert(sizeof(struct mmr_header) == MMR_HEADER_SIZE, "header size");
_Static_assert(sizeof(_Atomic uint64_t) == 8 && sizeof(_Atomic uint32_t) == 4, "atomic sizes");

/* SPSC record: u32 length, u32 type, payload, padded to 8 bytes. */
#define MMR_REC_HEADER 8u
#define MMR_REC_MESSAGE 0u
#define MMR_REC_PADDING 1u
/* MPMC cell: u64 state (position<<8 | code), u32 length, u32 reserved, payload. */
#define MMR_CELL_HEADER 16u
#define MMR_ST_EMPTY 0x00u
#define MMR_ST_FULL 0x01u
#define MMR_ST_SKIPPED 0x02u
#define MMR_ST_ORPHAN 0x03u
#define MMR_ST_WRITING 0x40u /* | slot */
#define MMR_ST_READING 0x80u /* | slot */
#define MMR_POS_MASK ((1ull << 56) - 1)

/* Results (negative): */
#define MMR_EFULL (-1)      /* no room (non-blocking) */
#define MMR_EEMPTY (-2)     /* nothing ready (non-blocking) */
#define MMR_EOF (-3)        /* closed and drained */
#define MMR_ECLOSED (-4)    /* send on a closed ring */
#define MMR_EPEERDEAD (-5)  /* every peer on the other side died */
#define MMR_ETOOBIG (-6)    /* message larger than max_msg / buffer */
#define MMR_ECORRUPT (-7)   /* impossible value in shared memory */
#define MMR_EBUSY (-8)      /* role taken / no peer slot */
#define MMR_ETIMEDOUT (-9)

#define MMR_SPIN_NS 50000   /* spin before sleeping, as Go's DefaultSpin */
#define MMR_LIVENESS_NS 200000000 /* futex sleeps are bounded by this */

typedef struct mmr_ring {
	struct mmr_header *h;
	unsigned char *base;
	uint32_t kind;
	uint64_t cap, mask, cell_size, limit, max_msg, total;
	uint64_t futex_waits, futex_wakes;
} mmr_ring;

static inline uint64_t mmr_align8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

static inline uint64_t mmr_now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Start time (field 22 of /proc/PID/stat); *alive = 0 when gone/zombie. */
static inline uint64_t mmr_proc_start(int pid, int *alive) {
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
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

static inline uint64_t mmr_self_ident(void) {
	static uint64_t id;
	if (!id) {
		int alive;
		int pid = getpid();
		id = (uint64_t)(uint32_t)pid << 32 | (mmr_proc_start(pid, &alive) & 0xffffffffull);
	}
	return id;
}

static inline int mmr_ident_alive(uint64_t id) {
	int pid = (int)(id >> 32), alive;
	if (pid <= 0) return 0;
	if (id == mmr_self_ident()) return 1;
	uint64_t st = mmr_proc_start(pid, &alive);
	if (!alive) return 0;
	/* Same process if the start times are within 100 ticks: qemu-user
	 * reports a guest's own start time a few ticks late. */
	uint32_t want = (uint32_t)id;
	int32_t d = (int32_t)((uint32_t)st - want);
	if (want && st && (d < -100 || d > 100)) return 0;
	return 1;
}

static inline long mmr_futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts) {
	return syscall(SYS_futex, (uint32_t *)w, op, val, ts, NULL, 0);
}

/* Eventcount signal side: epoch, waiters and need are consecutive words. */
static inline void mmr_notify(mmr_ring *r, _Atomic uint32_t *epoch, _Atomic uint32_t *waiters) {
	if (atomic_load_explicit(waiters, memory_order_seq_cst) != 0 &&
	    atomic_load_explicit(waiters + 1, memory_order_seq_cst) != 0 &&
	    atomic_exchange_explicit(waiters + 1, 0, memory_order_seq_cst) != 0) {
		atomic_fetch_add_explicit(epoch, 1, memory_order_seq_cst);
		r->futex_wakes++;
		mmr_futex(epoch, FUTEX_WAKE, INT_MAX, NULL);
	}
}

/* Size of the object behind fd, for mmap. */
static inline long long mmr_map_size(int fd) {
	struct stat st;
	if (fstat(fd, &st) != 0) return -1;
	return (long long)st.st_size;
}

/* Validate the header of a mapping of len bytes; fill r from it. */
static inline int mmr_attach(mmr_ring *r, void *base, size_t len) {
	memset(r, 0, sizeof *r);
	if (len < MMR_HEADER_SIZE) return MMR_ECORRUPT;
	struct mmr_header *h = (struct mmr_header *)base;
	if (h->magic != MMR_MAGIC) return MMR_ECORRUPT;
	if (atomic_load(&h->version) != MMR_VERSION) return MMR_ECORRUPT;
	if (h->header_size != MMR_HEADER_SIZE || h->flags != 0) return MMR_ECORRUPT;
	uint64_t cap = h->capacity, cell = h->cell_size, limit = h->limit, max = h->max_msg, total = h->total_size;
	if (cap == 0 || (cap & (cap - 1))) return MMR_ECORRUPT;
	if (h->kind == MMR_KIND_SPSC) {
		if (cap < 256 || cap > (1ull << 40) || cell != 8 || limit != 0) return MMR_ECORRUPT;
		uint64_t m = cap / 2 - MMR_REC_HEADER;
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
	r->cap = cap; r->mask = cap - 1; r->cell_size = cell; r->limit = limit; r->max_msg = max; r->total = total;
	return 0;
}

/* Initialise a new ring in a zero-filled mapping of at least the returned size
 * (mmr_ring_size). payload is the MPMC message size (rounded up to 8). */
static inline uint64_t mmr_ring_size(uint32_t kind, uint64_t cap, uint64_t payload) {
	if (kind == MMR_KIND_SPSC) return MMR_HEADER_SIZE + cap;
	return MMR_HEADER_SIZE + cap * (MMR_CELL_HEADER + mmr_align8(payload));
}

static inline int mmr_init(void *base, size_t len, uint32_t kind, uint64_t cap, uint64_t payload, uint64_t limit) {
	struct mmr_header *h = (struct mmr_header *)base;
	uint64_t total = mmr_ring_size(kind, cap, payload);
	if (cap == 0 || (cap & (cap - 1)) || total > len) return MMR_ECORRUPT;
	h->magic = MMR_MAGIC;
	h->kind = kind;
	h->header_size = MMR_HEADER_SIZE;
	h->capacity = cap;
	h->total_size = total;
	h->creator_pid = (uint32_t)getpid();
	if (kind == MMR_KIND_SPSC) {
		if (cap < 256) return MMR_ECORRUPT;
		h->cell_size = 8;
		uint64_t m = cap / 2 - MMR_REC_HEADER;
		h->max_msg = (uint32_t)(m > (1ull << 31) ? (1ull << 31) : m);
	} else {
		h->cell_size = (uint32_t)(MMR_CELL_HEADER + mmr_align8(payload));
		h->max_msg = (uint32_t)mmr_align8(payload);
		h->limit = limit ? limit : cap;
		for (uint64_t i = 0; i < cap; i++)
			atomic_store((_Atomic uint64_t *)((unsigned char *)base + MMR_HEADER_SIZE + i * h->cell_size), i << 8);
	}
	atomic_store(&h->version, MMR_VERSION);
	return 0;
}

/* ---- peers ---- */
static inline int mmr_register(mmr_ring *r, uint32_t role) {
	uint64_t me = mmr_self_ident();
	if (r->kind == MMR_KIND_SPSC)
		for (int s = 0; s < 64; s++) {
			uint64_t id = atomic_load(&r->h->peers[s].ident);
			if (id && (atomic_load(&r->h->peers[s].role) & role) && mmr_ident_alive(id)) return MMR_EBUSY;
		}
	for (int s = 0; s < 64; s++) {
		uint64_t zero = 0;
		if (atomic_compare_exchange_strong(&r->h->peers[s].ident, &zero, me)) {
			atomic_store(&r->h->peers[s].role, role);
			return s;
		}
	}
	/* Reusing a dead process's slot needs the MPMC repair first; C peers
	 * leave that to the Go side and report busy. */
	return MMR_EBUSY;
}

static inline void mmr_unregister(mmr_ring *r, int slot) {
	if (slot < 0) return;
	atomic_store(&r->h->peers[slot].role, 0);
	atomic_store(&r->h->peers[slot].ident, 0);
}

static inline int mmr_peers_dead(mmr_ring *r, uint32_t role) {
	int seen = 0;
	for (int s = 0; s < 64; s++) {
		uint64_t id = atomic_load(&r->h->peers[s].ident);
		if (!id || !(atomic_load(&r->h->peers[s].role) & role)) continue;
		seen = 1;
		if (mmr_ident_alive(id)) return 0;
	}
	return seen;
}

static inline _Atomic uint64_t *mmr_cell(mmr_ring *r, uint64_t pos) {
	return (_Atomic uint64_t *)(r->base + MMR_HEADER_SIZE + (pos & r->mask) * r->cell_size);
}

/* MPMC repair of cells whose claimant is proven dead (see LAYOUT.md). */
static inline int mmr_repair_dead(mmr_ring *r) {
	if (r->kind != MMR_KIND_MPMC) return 0;
	signed char alive[64] = {0};
	int changed = 0;
	for (uint64_t i = 0; i < r->cap; i++) {
		_Atomic uint64_t *c = mmr_cell(r, i);
		uint64_t st = atomic_load(c), code = st & 0xff;
		int w = (code & 0xc0) == MMR_ST_WRITING, rd = (code & 0xc0) == MMR_ST_READING;
		if (!w && !rd) continue;
		int s = (int)(code & 0x3f);
		if (!alive[s]) {
			uint64_t id = atomic_load(&r->h->peers[s].ident);
			alive[s] = (id && mmr_ident_alive(id)) ? 1 : -1;
		}
		if (alive[s] > 0) continue;
		uint64_t pos = st >> 8;
		if (w) {
			if (atomic_compare_exchange_strong(c, &st, pos << 8 | MMR_ST_SKIPPED)) changed = 1;
		} else if (atomic_compare_exchange_strong(c, &st, pos << 8 | MMR_ST_ORPHAN)) {
			atomic_fetch_add(&r->h->orphans, 1);
			changed = 1;
		}
	}
	if (changed) {
		atomic_fetch_add(&r->h->data_epoch, 1);
		mmr_futex(&r->h->data_epoch, FUTEX_WAKE, INT_MAX, NULL);
		atomic_fetch_add(&r->h->space_epoch, 1);
		mmr_futex(&r->h->space_epoch, FUTEX_WAKE, INT_MAX, NULL);
	}
	return changed;
}

/* Eventcount wait: spin, then register, re-check, sleep on epoch. ready()
 * is re-evaluated; timeout_ns < 0 waits forever. */
typedef int (*mmr_ready_fn)(void *);
static inline int mmr_block(mmr_ring *r, _Atomic uint32_t *epoch, _Atomic uint32_t *waiters, uint32_t peer_role,
                            mmr_ready_fn ready, void *arg, long long spin_ns, long long timeout_ns) {
	uint64_t start = mmr_now_ns();
	for (unsigned i = 0;; i++) {
		if (ready(arg)) return 0;
		if ((i & 63) == 63 && (long long)(mmr_now_ns() - start) > spin_ns) break;
	}
	for (;;) {
		uint32_t ep = atomic_load(epoch);
		atomic_fetch_add(waiters, 1);
		atomic_store(waiters + 1, 1); /* need */
		if (ready(arg)) { atomic_fetch_sub(waiters, 1); return 0; }
		long long wait = MMR_LIVENESS_NS;
		if (timeout_ns >= 0) {
			long long left = timeout_ns - (long long)(mmr_now_ns() - start);
			if (left <= 0) { atomic_fetch_sub(waiters, 1); return MMR_ETIMEDOUT; }
			if (left < wait) wait = left;
		}
		struct timespec ts = {wait / 1000000000, wait % 1000000000};
		r->futex_waits++;
		long rc = mmr_futex(epoch, FUTEX_WAIT, ep, &ts);
		int timed = rc != 0 && errno == ETIMEDOUT;
		atomic_fetch_sub(waiters, 1);
		if (ready(arg)) return 0;
		if (timed) {
			if (r->kind == MMR_KIND_MPMC && mmr_repair_dead(r)) continue;
			if (mmr_peers_dead(r, peer_role)) return ready(arg) ? 0 : MMR_EPEERDEAD;
		}
	}
}

/* ---- producer ---- */
typedef struct mmr_producer {
	mmr_ring *r;
	int slot;
	uint64_t tail, head_cache;
	uint64_t need; /* for the ready callback */
	long long spin_ns;
} mmr_producer;

static inline int mmr_producer_open(mmr_producer *p, mmr_ring *r) {
	memset(p, 0, sizeof *p);
	int s = mmr_register(r, 1);
	if (s < 0) return s;
	p->r = r; p->slot = s; p->spin_ns = MMR_SPIN_NS;
	if (r->kind == MMR_KIND_SPSC) {
		p->tail = atomic_load(&r->h->prod_pos);
		p->head_cache = atomic_load(&r->h->cons_pos);
		if ((p->tail & 7) || p->head_cache > p->tail || p->tail - p->head_cache > r->cap) {
			mmr_unregister(r, s);
			return MMR_ECORRUPT;
		}
	}
	return 0;
}

static inline uint32_t *mmr_u32(mmr_ring *r, uint64_t off) { return (uint32_t *)(r->base + off); }

/* SPSC: make room for an n-byte payload (padding at the wrap); offset of the record or <0. */
static inline long long mmr_spsc_room(mmr_producer *p, uint64_t n) {
	mmr_ring *r = p->r;
	uint64_t need = MMR_REC_HEADER + mmr_align8(n), idx = p->tail & r->mask, total = need;
	if (r->cap - idx < need) total = r->cap - idx + need;
	if (p->tail + total - p->head_cache > r->cap) {
		uint64_t h = atomic_load_explicit(&r->h->cons_pos, memory_order_acquire);
		if (h > p->tail || p->tail - h > r->cap) return MMR_ECORRUPT;
		p->head_cache = h;
		if (p->tail + total - h > r->cap) return MMR_EFULL;
	}
	if (total != need) {
		uint64_t off = MMR_HEADER_SIZE + idx;
		*mmr_u32(r, off) = (uint32_t)(r->cap - idx - MMR_REC_HEADER);
		*mmr_u32(r, off + 4) = MMR_REC_PADDING;
		p->tail += r->cap - idx;
		idx = 0;
	}
	return (long long)(MMR_HEADER_SIZE + idx);
}

static inline void mmr_spsc_publish(mmr_producer *p) {
	atomic_store_explicit(&p->r->h->prod_pos, p->tail, memory_order_seq_cst);
	mmr_notify(p->r, &p->r->h->data_epoch, &p->r->h->data_waiters);
}

/* MPMC: claim a cell (EMPTY -> WRITING|slot), returns 0 and *pos, or MMR_EFULL. */
static inline int mmr_mpmc_claim(mmr_producer *p, uint64_t *out) {
	mmr_ring *r = p->r;
	for (;;) {
		uint64_t pos = atomic_load(&r->h->prod_pos);
		if (pos > MMR_POS_MASK) return MMR_ECORRUPT;
		if (r->limit < r->cap) {
			uint64_t deq = atomic_load(&r->h->cons_pos);
			if (deq > pos) continue;
			if (pos - deq >= r->limit) {
				if (atomic_load(&r->h->prod_pos) == pos) return MMR_EFULL;
				continue;
			}
		}
		_Atomic uint64_t *c = mmr_cell(r, pos);
		uint64_t st = atomic_load(c);
		int64_t d = (int64_t)((st >> 8) - pos);
		if (d == 0 && (st & 0xff) == MMR_ST_EMPTY) {
			if (atomic_compare_exchange_strong(c, &st, pos << 8 | MMR_ST_WRITING | (uint64_t)p->slot)) {
				uint64_t e = pos;
				atomic_compare_exchange_strong(&r->h->prod_pos, &e, pos + 1);
				*out = pos;
				return 0;
			}
		} else if (d == 0) {
			uint64_t e = pos;
			atomic_compare_exchange_strong(&r->h->prod_pos, &e, pos + 1);
		} else if (d < 0) {
			if (atomic_load(&r->h->prod_pos) == pos) return MMR_EFULL;
		}
	}
}

static inline int mmr_try_send(mmr_producer *p, const void *msg, uint64_t n) {
	mmr_ring *r = p->r;
	if (n > r->max_msg) return MMR_ETOOBIG;
	if (r->kind == MMR_KIND_SPSC) {
		long long off = mmr_spsc_room(p, n);
		if (off < 0) return (int)off;
		*mmr_u32(r, (uint64_t)off) = (uint32_t)n;
		*mmr_u32(r, (uint64_t)off + 4) = MMR_REC_MESSAGE;
		memcpy(r->base + off + MMR_REC_HEADER, msg, n);
		p->tail += MMR_REC_HEADER + mmr_align8(n);
		mmr_spsc_publish(p);
		return 0;
	}
	if (atomic_load(&r->h->closed)) return MMR_ECLOSED;
	uint64_t pos;
	int rc = mmr_mpmc_claim(p, &pos);
	if (rc) return rc;
	unsigned char *cell = r->base + MMR_HEADER_SIZE + (pos & r->mask) * r->cell_size;
	*(uint32_t *)(cell + 8) = (uint32_t)n;
	memcpy(cell + MMR_CELL_HEADER, msg, n);
	atomic_store_explicit((_Atomic uint64_t *)cell, (pos & MMR_POS_MASK) << 8 | MMR_ST_FULL, memory_order_seq_cst);
	mmr_notify(r, &r->h->data_epoch, &r->h->data_waiters);
	return 0;
}

static inline int mmr__room_ready(void *arg) {
	mmr_producer *p = (mmr_producer *)arg;
	mmr_ring *r = p->r;
	if (atomic_load(&r->h->closed)) return 1;
	if (r->kind == MMR_KIND_SPSC) {
		uint64_t idx = p->tail & r->mask, total = p->need;
		if (r->cap - idx < p->need) total = r->cap - idx + p->need;
		uint64_t h = atomic_load(&r->h->cons_pos);
		return h > p->tail || p->tail + total - h <= r->cap;
	}
	uint64_t pos = atomic_load(&r->h->prod_pos);
	if (r->limit < r->cap) {
		uint64_t deq = atomic_load(&r->h->cons_pos);
		if (deq <= pos && pos - deq >= r->limit) return 0;
	}
	uint64_t st = atomic_load(mmr_cell(r, pos));
	return (int64_t)((st >> 8) - pos) >= 0;
}

/* Blocking send; timeout_ns < 0 waits forever. */
static inline int mmr_send(mmr_producer *p, const void *msg, uint64_t n, long long timeout_ns) {
	for (;;) {
		int rc = mmr_try_send(p, msg, n);
		if (rc != MMR_EFULL) return rc;
		p->need = MMR_REC_HEADER + mmr_align8(n);
		rc = mmr_block(p->r, &p->r->h->space_epoch, &p->r->h->space_waiters, 2, mmr__room_ready, p, p->spin_ns, timeout_ns);
		if (rc) return rc;
	}
}

/* Close the ring for sending: consumers drain, then get MMR_EOF. */
static inline void mmr_producer_close(mmr_producer *p) {
	mmr_ring *r = p->r;
	atomic_store(&r->h->closed, 1);
	atomic_fetch_add(&r->h->data_epoch, 1);
	mmr_futex(&r->h->data_epoch, FUTEX_WAKE, INT_MAX, NULL);
	atomic_fetch_add(&r->h->space_epoch, 1);
	mmr_futex(&r->h->space_epoch, FUTEX_WAKE, INT_MAX, NULL);
	mmr_unregister(r, p->slot);
	p->slot = -1;
}

/* Release the producer slot without closing the ring. */
static inline void mmr_producer_detach(mmr_producer *p) {
	mmr_unregister(p->r, p->slot);
	p->slot = -1;
}

/* ---- consumer ---- */
typedef struct mmr_consumer {
	mmr_ring *r;
	int slot;
	uint64_t head, head_pub, tail_cache;
	long long spin_ns;
} mmr_consumer;

static inline int mmr_consumer_open(mmr_consumer *c, mmr_ring *r) {
	memset(c, 0, sizeof *c);
	int s = mmr_register(r, 2);
	if (s < 0) return s;
	c->r = r; c->slot = s; c->spin_ns = MMR_SPIN_NS;
	if (r->kind == MMR_KIND_SPSC) {
		c->head = atomic_load(&r->h->cons_pos);
		c->tail_cache = atomic_load(&r->h->prod_pos);
		if ((c->head & 7) || c->head > c->tail_cache || c->tail_cache - c->head > r->cap) {
			mmr_unregister(r, s);
			return MMR_ECORRUPT;
		}
		c->head_pub = c->head;
	}
	return 0;
}

static inline void mmr_spsc_publish_head(mmr_consumer *c) {
	if (c->head == c->head_pub) return;
	atomic_store_explicit(&c->r->h->cons_pos, c->head, memory_order_seq_cst);
	c->head_pub = c->head;
	mmr_notify(c->r, &c->r->h->space_epoch, &c->r->h->space_waiters);
}

static inline long mmr_try_recv(mmr_consumer *c, void *buf, uint64_t bufcap) {
	mmr_ring *r = c->r;
	if (r->kind == MMR_KIND_SPSC) {
		for (;;) {
			if (c->head == c->tail_cache) {
				uint64_t t = atomic_load_explicit(&r->h->prod_pos, memory_order_acquire);
				if (t < c->head || t - c->head > r->cap || (t & 7)) return MMR_ECORRUPT;
				c->tail_cache = t;
				if (t == c->head) {
					if (atomic_load(&r->h->closed)) {
						t = atomic_load(&r->h->prod_pos);
						if (t == c->head) { mmr_spsc_publish_head(c); return MMR_EOF; }
						if (t < c->head || t - c->head > r->cap || (t & 7)) return MMR_ECORRUPT;
						c->tail_cache = t;
						continue;
					}
					return MMR_EEMPTY;
				}
			}
			uint64_t idx = c->head & r->mask, off = MMR_HEADER_SIZE + idx;
			uint64_t l = *mmr_u32(r, off), typ = *mmr_u32(r, off + 4), avail = c->tail_cache - c->head;
			if (typ == MMR_REC_PADDING) {
				uint64_t skip = r->cap - idx;
				if (skip > avail || l != skip - MMR_REC_HEADER) return MMR_ECORRUPT;
				c->head += skip;
				continue;
			}
			if (typ != MMR_REC_MESSAGE || l > r->max_msg) return MMR_ECORRUPT;
			uint64_t size = MMR_REC_HEADER + mmr_align8(l);
			if (size > avail || idx + size > r->cap) return MMR_ECORRUPT;
			if (l > bufcap) return MMR_ETOOBIG;
			memcpy(buf, r->base + off + MMR_REC_HEADER, l);
			c->head += size;
			if (c->head == c->tail_cache || c->head - c->head_pub >= r->cap / 4 ||
			    atomic_load(&r->h->space_waiters) != 0)
				mmr_spsc_publish_head(c);
			return (long)l;
		}
	}
	for (;;) {
		uint64_t pos = atomic_load(&r->h->cons_pos);
		if (pos > MMR_POS_MASK) return MMR_ECORRUPT;
		_Atomic uint64_t *cell = mmr_cell(r, pos);
		uint64_t st = atomic_load(cell), code = st & 0xff;
		int64_t d = (int64_t)((st >> 8) - pos);
		int claimed = 0;
		if (d > 0) continue;
		if (d == 0 && code == MMR_ST_FULL) {
			if (atomic_compare_exchange_strong(cell, &st, pos << 8 | MMR_ST_READING | (uint64_t)c->slot)) {
				uint64_t e = pos;
				atomic_compare_exchange_strong(&r->h->cons_pos, &e, pos + 1);
				claimed = 1;
			}
		} else if (d == 0 && code == MMR_ST_SKIPPED) {
			if (atomic_compare_exchange_strong(cell, &st, ((pos + r->cap) & MMR_POS_MASK) << 8 | MMR_ST_EMPTY)) {
				uint64_t e = pos;
				atomic_compare_exchange_strong(&r->h->cons_pos, &e, pos + 1);
				mmr_notify(r, &r->h->space_epoch, &r->h->space_waiters);
			}
			continue;
		} else if (d == 0 && (code & 0xc0) == MMR_ST_READING) {
			uint64_t e = pos;
			atomic_compare_exchange_strong(&r->h->cons_pos, &e, pos + 1);
			continue;
		} else if (d == 0 && code == MMR_ST_ORPHAN) {
			uint64_t e = pos;
			atomic_compare_exchange_strong(&r->h->cons_pos, &e, pos + 1);
			continue;
		} else if (d == 0 && atomic_load(&r->h->cons_pos) != pos) {
			continue;
		}
		if (!claimed) {
			/* empty here: look for orphans, then for EOF */
			if (atomic_load(&r->h->orphans)) {
				for (uint64_t i = 0; i < r->cap; i++) {
					_Atomic uint64_t *oc = mmr_cell(r, i);
					uint64_t os = atomic_load(oc);
					if ((os & 0xff) != MMR_ST_ORPHAN || ((os >> 8) & r->mask) != i) continue;
					uint64_t opos = os >> 8;
					if (atomic_compare_exchange_strong(oc, &os, opos << 8 | MMR_ST_READING | (uint64_t)c->slot)) {
						atomic_fetch_sub(&r->h->orphans, 1);
						pos = opos; cell = oc; claimed = 1;
						break;
					}
				}
			}
			if (!claimed) {
				if (atomic_load(&r->h->closed) && atomic_load(&r->h->prod_pos) == atomic_load(&r->h->cons_pos) &&
				    atomic_load(&r->h->orphans) == 0) {
					/* no EOF while a dead consumer still holds a committed message */
					if (!mmr_repair_dead(r) && atomic_load(&r->h->orphans) == 0) return MMR_EOF;
					continue;
				}
				return MMR_EEMPTY;
			}
		}
		unsigned char *cb = (unsigned char *)cell;
		uint64_t l = *(uint32_t *)(cb + 8);
		long rc;
		if (l > r->max_msg) rc = MMR_ECORRUPT;
		else if (l > bufcap) {
			/* hand it back for someone with a bigger buffer */
			atomic_store(cell, (pos & MMR_POS_MASK) << 8 | MMR_ST_ORPHAN);
			atomic_fetch_add(&r->h->orphans, 1);
			return MMR_ETOOBIG;
		} else {
			memcpy(buf, cb + MMR_CELL_HEADER, l);
			rc = (long)l;
		}
		atomic_store_explicit(cell, ((pos + r->cap) & MMR_POS_MASK) << 8 | MMR_ST_EMPTY, memory_order_seq_cst);
		mmr_notify(r, &r->h->space_epoch, &r->h->space_waiters);
		return rc;
	}
}

static inline int mmr__data_ready(void *arg) {
	mmr_consumer *c = (mmr_consumer *)arg;
	mmr_ring *r = c->r;
	if (atomic_load(&r->h->closed)) return 1;
	if (r->kind == MMR_KIND_SPSC) return atomic_load(&r->h->prod_pos) != c->head;
	if (atomic_load(&r->h->orphans)) return 1;
	uint64_t pos = atomic_load(&r->h->cons_pos);
	uint64_t st = atomic_load(mmr_cell(r, pos)), code = st & 0xff;
	int64_t d = (int64_t)((st >> 8) - pos);
	if (d != 0) return d > 0;
	return code != MMR_ST_EMPTY && (code & 0xc0) != MMR_ST_WRITING;
}

/* Blocking receive: length, or MMR_EOF / MMR_EPEERDEAD / MMR_ETIMEDOUT / errors. */
static inline long mmr_recv(mmr_consumer *c, void *buf, uint64_t bufcap, long long timeout_ns) {
	for (;;) {
		long n = mmr_try_recv(c, buf, bufcap);
		if (n != MMR_EEMPTY) return n;
		if (c->r->kind == MMR_KIND_SPSC) mmr_spsc_publish_head(c);
		int rc = mmr_block(c->r, &c->r->h->data_epoch, &c->r->h->data_waiters, 1, mmr__data_ready, c, c->spin_ns, timeout_ns);
		if (rc) return rc;
	}
}

static inline void mmr_consumer_close(mmr_consumer *c) {
	if (c->r->kind == MMR_KIND_SPSC) mmr_spsc_publish_head(c);
	mmr_unregister(c->r, c->slot);
	c->slot = -1;
}

#endif /* IPCKIT_MMAPRING_H */
