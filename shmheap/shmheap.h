/*
 * shmheap.h — a C peer for ipckit's shmheap (layout version 1, LAYOUT.md):
 * open a heap mapped MAP_SHARED, take a process slot, find a named Value or
 * Array, and read or update it under its lock, with the same crash-safety
 * protocol as the Go package (undo-log rollback of the heap, redo of a
 * half-done write). Single header, C11, Linux, no dependency but libc (and
 * pthreads for heaps whose lock_kind is 1, glibc's robust mutex, on 64-bit).
 *
 *     shh_heap h;                      // base: mmap(MAP_SHARED) of the file
 *     if (shh_open(&h, base, len) != 0) ...
 *     shh_attach(&h);                  // a process slot: Go will not reclaim
 *     shh_object v;                    // what this process has open
 *     if (shh_find(&h, "counter", SHH_VALUE, 8, &v) != 0) ...
 *     shh_lock(&v);                    // repairs a dead owner's half-write
 *     int64_t x; memcpy(&x, shh_data(&v, 0), 8); x++;
 *     shh_store(&v, 0, &x);            // crash-atomic, as Go's Store
 *     shh_unlock(&v);
 *     shh_release(&h, &v); shh_detach(&h);
 *
 * Functions return 0 or a negative errno (-EINVAL for a corrupt heap,
 * -ENOENT, -ENOTSUP, -EUSERS ...). Everything read from the heap is
 * bounds-checked. The pid lock belongs to the process: hold it from one
 * thread at a time.
 */
#ifndef SHMHEAP_H
#define SHMHEAP_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef FUTEX_WAIT
#define FUTEX_WAIT 0 /* <linux/futex.h>; shared (no FUTEX_PRIVATE_FLAG) */
#define FUTEX_WAKE 1
#endif

#define SHH_MAGIC 0x504145484b435049ULL
#define SHH_VERSION 1
#define SHH_VALUE 1
#define SHH_ARRAY 2
#define SHH_VECTOR 3
#define SHH_MAP 4
#define SHH_NAMESPACE 5

enum {
	SHH_H_MAGIC = 0, SHH_H_VERSION = 8, SHH_H_HEADER_SIZE = 12, SHH_H_SIZE = 16,
	SHH_H_LOCK_KIND = 24, SHH_H_FLAGS = 28, SHH_H_MAX_PROCS = 32, SHH_H_LOG_CAP = 36,
	SHH_H_ARENA_OFF = 40, SHH_H_ARENA_END = 48, SHH_H_DIR = 64, SHH_H_LOCK = 1024,
	SHH_H_LOG = 1088, SHH_LOG_CAP = 7072, SHH_H_PROCS = 8192,
	SHH_O_MAGIC = 0, SHH_O_KIND = 4, SHH_O_FP = 16, SHH_O_ELEM = 24, SHH_O_ELEM2 = 32,
	SHH_O_BODY = 40, SHH_O_BODY_LEN = 48, SHH_O_NAME_LEN = 56, SHH_O_FLAGS = 60,
	SHH_O_OPENERS = 88, SHH_OBJ_MAGIC = 0x4a424f48,
	SHH_V_REDO = 64, SHH_V_INDEX = 72, SHH_V_DATA = 128,
	SHH_LOCK_ROBUST = 1, SHH_LOCK_PID = 2,
};

#define SHH_WAITERS 0x80000000u
#define SHH_PIDMASK 0x3fffffffu

typedef struct {
	unsigned char *base;
	uint64_t size, arena_off, arena_end, max_procs;
	uint32_t lock_kind;
	int slot; /* process-table slot, -1 if none */
} shh_heap;

typedef struct {
	shh_heap *h;
	uint64_t obj;  /* object header offset */
	uint64_t body; /* body offset: the pid lock is at body + 0 */
	uint32_t kind;
	uint64_t elem; /* element size */
	uint64_t n;    /* elements (Value: 1) */
} shh_object;

/* ---- raw access ---- */

static inline uint64_t shh__get64(const shh_heap *h, uint64_t off) {
	uint64_t v;
	memcpy(&v, h->base + off, 8);
	return v;
}
static inline void shh__put64(shh_heap *h, uint64_t off, uint64_t v) { memcpy(h->base + off, &v, 8); }
static inline uint32_t shh__get32(const shh_heap *h, uint64_t off) {
	uint32_t v;
	memcpy(&v, h->base + off, 4);
	return v;
}
static inline uint32_t *shh__u32(shh_heap *h, uint64_t off) { return (uint32_t *)(void *)(h->base + off); }
static inline uint64_t *shh__u64(shh_heap *h, uint64_t off) { return (uint64_t *)(void *)(h->base + off); }
static inline int shh__in(const shh_heap *h, uint64_t off, uint64_t n) { return off <= h->size && n <= h->size - off; }
static inline uint64_t shh__align(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }

/* hash64 of LAYOUT.md. */
static inline uint64_t shh_hash64(const void *p, size_t n) {
	const unsigned char *b = (const unsigned char *)p;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
	while (n > 0) {
		uint64_t w = 0;
		size_t k = n < 8 ? n : 8;
		for (size_t i = 0; i < k; i++)
			w |= (uint64_t)b[i] << (8 * i);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
		b += k;
		n -= k;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* The fingerprint of a scalar type (kind code per LAYOUT.md, e.g. 6 for
 * int64_t, 5 for int32_t, 14 for double): the type at offset 0. */
static inline uint64_t shh_scalar_fingerprint(uint8_t kind, uint64_t size) {
	unsigned char enc[17] = {0};
	enc[8] = kind;
	for (int i = 0; i < 8; i++)
		enc[9 + i] = (unsigned char)(size >> (8 * i));
	return shh_hash64(enc, sizeof enc);
}

/* ---- liveness ---- */

/* Field 22 of /proc/PID/stat; *running = 0 when gone or a zombie. Returns
 * 0 with *ok = 0 when it cannot tell. */
static inline uint64_t shh__proc_start(uint32_t pid, int *running, int *ok) {
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%u/stat", pid);
	*running = 1;
	*ok = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ESRCH) {
			*running = 0;
			*ok = 1;
		} else if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
			*running = 0;
		}
		return 0;
	}
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return 0;
	p += 2;
	char state = *p;
	if (state == 'Z' || state == 'X' || state == 'x') {
		*running = 0;
		*ok = 1;
		return 0;
	}
	for (int field = 3; field < 22 && *p; p++)
		if (*p == ' ')
			field++;
	*ok = 1;
	return strtoull(p, NULL, 10);
}

static inline uint32_t shh__self_start(void) {
	static uint32_t start;
	static int done;
	if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
		int running, ok;
		start = (uint32_t)shh__proc_start((uint32_t)getpid(), &running, &ok);
		__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	}
	return start;
}

/* Whether (pid, start) is alive; only proven death returns 0. */
static inline int shh_alive(uint32_t pid, uint32_t start) {
	if (pid == 0 || pid > SHH_PIDMASK)
		return 0;
	if (pid == (uint32_t)getpid())
		return 1;
	int running, ok;
	uint64_t st = shh__proc_start(pid, &running, &ok);
	if (!running)
		return 0;
	if (ok && start && st) {
		int32_t d = (int32_t)((uint32_t)st - start);
		if (d < -100 || d > 100)
			return 0;
	}
	return 1;
}

/* ---- the pid lock ---- */

static inline long shh__futex(uint32_t *addr, int op, uint32_t val, const struct timespec *ts) {
	return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

/* The 64-bit value whose bytes are the lock word, then the start time. */
static inline uint64_t shh__pack(uint32_t word, uint32_t start) {
	uint64_t v;
	uint32_t w[2] = {word, start};
	memcpy(&v, w, 8);
	return v;
}

/* Takes the lock at lk if its owner is proven dead (one 64-bit CAS over
 * word and start time, as LAYOUT.md requires). */
static inline int shh__take_over(uint32_t *lk, uint32_t me) {
	uint64_t *p = (uint64_t *)(void *)lk, v = __atomic_load_n(p, __ATOMIC_SEQ_CST);
	uint32_t w[2];
	memcpy(w, &v, 8);
	uint32_t owner = w[0] & SHH_PIDMASK;
	if (w[0] == 0 || owner == me || shh_alive(owner, w[1]))
		return 0;
	return __atomic_compare_exchange_n(p, &v, shh__pack(me | SHH_WAITERS, shh__self_start()), 0,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* Locks the pid lock at lk; returns 1 if the previous owner died holding
 * it (the caller must repair what it guards), 0 otherwise. */
static inline int shh_pid_lock(uint32_t *lk) {
	uint32_t me = (uint32_t)getpid(), zero = 0, waited = 0;
	if (__atomic_compare_exchange_n(&lk[0], &zero, me, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&lk[1], shh__self_start(), __ATOMIC_SEQ_CST);
		return 0;
	}
	long timeout_ns = 2000000;
	for (int spin = 0;;) {
		uint32_t old = __atomic_load_n(&lk[0], __ATOMIC_SEQ_CST);
		if (old == 0) {
			uint32_t z = 0;
			if (__atomic_compare_exchange_n(&lk[0], &z, me | waited, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
				__atomic_store_n(&lk[1], shh__self_start(), __ATOMIC_SEQ_CST);
				return 0;
			}
			continue;
		}
		if (spin < 64) {
			spin++;
			continue;
		}
		if (spin < 64 + 16) { /* let the holder run before sleeping */
			spin++;
			sched_yield();
			continue;
		}
		if (!(old & SHH_WAITERS)) {
			if (!__atomic_compare_exchange_n(&lk[0], &old, old | SHH_WAITERS, 0, __ATOMIC_SEQ_CST,
							 __ATOMIC_SEQ_CST))
				continue;
			old |= SHH_WAITERS;
		}
		waited = SHH_WAITERS;
		struct timespec ts = {timeout_ns / 1000000000L, timeout_ns % 1000000000L};
		if (shh__futex(&lk[0], FUTEX_WAIT, old, &ts) == 0 || errno != ETIMEDOUT)
			continue;
		if (timeout_ns < 100000000L)
			timeout_ns *= 2;
		if (shh__take_over(lk, me))
			return 1;
	}
}

static inline void shh_pid_unlock(uint32_t *lk) {
	__atomic_store_n(&lk[1], 0, __ATOMIC_SEQ_CST);
	if (__atomic_exchange_n(&lk[0], 0, __ATOMIC_SEQ_CST) & SHH_WAITERS)
		shh__futex(&lk[0], FUTEX_WAKE, 1, NULL);
}

/* ---- the heap ---- */

/* Validates the header of the heap mapped at base (len bytes). */
static inline int shh_open(shh_heap *h, void *base, size_t len) {
	memset(h, 0, sizeof *h);
	h->base = (unsigned char *)base;
	h->size = len;
	h->slot = -1;
	if (len < SHH_H_PROCS + 64 || shh__get64(h, SHH_H_MAGIC) != SHH_MAGIC ||
	    __atomic_load_n(shh__u32(h, SHH_H_VERSION), __ATOMIC_SEQ_CST) != SHH_VERSION ||
	    shh__get64(h, SHH_H_SIZE) != len || shh__get32(h, SHH_H_FLAGS) != 0 ||
	    shh__get32(h, SHH_H_LOG_CAP) != SHH_LOG_CAP)
		return -EINVAL;
	h->max_procs = shh__get32(h, SHH_H_MAX_PROCS);
	if (h->max_procs < 64 || h->max_procs > 4096 || h->max_procs % 64)
		return -EINVAL;
	h->arena_off = shh__align(SHH_H_PROCS + 8 * h->max_procs, 64);
	h->arena_end = h->arena_off + ((len - h->arena_off) & ~(uint64_t)15);
	if (shh__get64(h, SHH_H_ARENA_OFF) != h->arena_off || shh__get64(h, SHH_H_ARENA_END) != h->arena_end ||
	    h->arena_end - h->arena_off < 4096)
		return -EINVAL;
	h->lock_kind = shh__get32(h, SHH_H_LOCK_KIND);
	if (h->lock_kind == SHH_LOCK_ROBUST) {
#if !defined(__GLIBC__)
		return -ENOTSUP; /* glibc's pthread_mutex_t only (musl's differs) */
#endif
		if (sizeof(void *) != 8)
			return -ENOTSUP; /* glibc's 64-bit pthread_mutex_t only */
	} else if (h->lock_kind != SHH_LOCK_PID) {
		return -EINVAL;
	}
	return 0;
}

/* Rolls back the undo log at off (LAYOUT.md), entries targeting
 * [lo, size) and never the log, nor [1024, arena_off) for the heap log. */
static inline int shh__rollback(shh_heap *h, uint64_t off, uint64_t cap, uint64_t lo, int heap) {
	uint64_t used = __atomic_load_n(shh__u32(h, off + 4), __ATOMIC_SEQ_CST);
	if (used == 0)
		return 0;
	if (used > cap)
		return -EINVAL;
	uint64_t ents[512];
	size_t ne = 0;
	for (uint64_t p = 0; p < used;) {
		if (used - p < 16 || ne == sizeof ents / sizeof ents[0])
			return -EINVAL;
		uint64_t e = off + 32 + p, at = shh__get64(h, e);
		uint32_t n = shh__get32(h, e + 8);
		if (shh__get32(h, e + 12) != ~n)
			return -EINVAL;
		uint64_t sz = 16 + shh__align(n, 8);
		if (sz > used - p || at < lo || !shh__in(h, at, n) || (at < off + 32 + cap && at + n > off) ||
		    (heap && at < h->arena_off && at + n > SHH_H_LOCK))
			return -EINVAL;
		ents[ne++] = e;
		p += sz;
	}
	while (ne > 0) {
		uint64_t e = ents[--ne];
		memcpy(h->base + shh__get64(h, e), h->base + e + 16, shh__get32(h, e + 8));
	}
	__atomic_store_n(shh__u32(h, off + 4), 0, __ATOMIC_SEQ_CST);
	return 0;
}

static inline int shh_lock_heap(shh_heap *h) {
	int dead;
	if (h->lock_kind == SHH_LOCK_ROBUST) {
		pthread_mutex_t *mu = (pthread_mutex_t *)(void *)(h->base + SHH_H_LOCK);
		int rc = pthread_mutex_lock(mu);
		if (rc != 0 && rc != EOWNERDEAD)
			return -rc;
		dead = rc == EOWNERDEAD;
		if (dead)
			pthread_mutex_consistent(mu);
	} else {
		dead = shh_pid_lock(shh__u32(h, SHH_H_LOCK));
	}
	if (dead || __atomic_load_n(shh__u32(h, SHH_H_LOG + 4), __ATOMIC_SEQ_CST) != 0) {
		int rc = shh__rollback(h, SHH_H_LOG, SHH_LOG_CAP, 64, 1);
		if (rc != 0) {
			if (h->lock_kind == SHH_LOCK_ROBUST)
				pthread_mutex_unlock((pthread_mutex_t *)(void *)(h->base + SHH_H_LOCK));
			else
				shh_pid_unlock(shh__u32(h, SHH_H_LOCK));
			return rc;
		}
	}
	return 0;
}

static inline void shh_unlock_heap(shh_heap *h) {
	if (h->lock_kind == SHH_LOCK_ROBUST)
		pthread_mutex_unlock((pthread_mutex_t *)(void *)(h->base + SHH_H_LOCK));
	else
		shh_pid_unlock(shh__u32(h, SHH_H_LOCK));
}

/* Writes the 64-bit word at off in a heap transaction of one entry
 * (heap locked): log the old value, then write, then commit. */
static inline void shh__heap_set64(shh_heap *h, uint64_t off, uint64_t v) {
	uint64_t e = SHH_H_LOG + 32;
	shh__put64(h, e, off);
	*shh__u32(h, e + 8) = 8;
	*shh__u32(h, e + 12) = ~(uint32_t)8;
	memcpy(h->base + e + 16, h->base + off, 8);
	__atomic_store_n(shh__u32(h, SHH_H_LOG + 4), 24, __ATOMIC_SEQ_CST);
	shh__put64(h, off, v);
	__atomic_store_n(shh__u32(h, SHH_H_LOG + 4), 0, __ATOMIC_SEQ_CST);
}

/* Claims a process-table slot, so that Go processes will not reclaim an
 * object this process has open (shh_find marks it). */
static inline int shh_attach(shh_heap *h) {
	uint32_t me = (uint32_t)getpid();
	for (int pass = 0; pass < 2; pass++)
		for (uint64_t i = 0; i < h->max_procs; i++) {
			uint32_t *w = shh__u32(h, SHH_H_PROCS + 8 * i);
			uint32_t old = __atomic_load_n(w, __ATOMIC_SEQ_CST);
			if (pass == 0 ? old != 0 : (old == 0 || shh_alive(old, __atomic_load_n(w + 1, __ATOMIC_SEQ_CST))))
				continue;
			if (__atomic_compare_exchange_n(w, &old, me, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
				__atomic_store_n(w + 1, shh__self_start(), __ATOMIC_SEQ_CST);
				h->slot = (int)i;
				return 0;
			}
		}
	return -EUSERS;
}

static inline void shh_detach(shh_heap *h) {
	if (h->slot < 0)
		return;
	uint32_t *w = shh__u32(h, SHH_H_PROCS + 8 * (uint64_t)h->slot), me = (uint32_t)getpid();
	__atomic_store_n(w + 1, 0, __ATOMIC_SEQ_CST);
	__atomic_compare_exchange_n(w, &me, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	h->slot = -1;
}

/* Validates an allocated block's payload at p; returns its usable length
 * or 0. */
static inline uint64_t shh__payload(const shh_heap *h, uint64_t p) {
	if (p < h->arena_off + 16 || p > h->arena_end || (p & 15))
		return 0;
	uint64_t b = p - 16, w = shh__get64(h, b), s = w & ~(uint64_t)15;
	if (shh__get64(h, b + 8) != ~w || !(w & 1) || s < 48 || s > h->arena_end - b || shh__get64(h, b + s - 8) != w)
		return 0;
	return s - 24;
}

/* Finds the object name of the given kind whose elements are elem bytes
 * (0: any) and fills *o; with the heap lock held, so that the directory is
 * consistent, and marks it open by this process when attached. */
static inline int shh_find(shh_heap *h, const char *name, uint32_t kind, uint64_t elem, shh_object *o) {
	size_t nl = strlen(name);
	if (nl == 0 || nl > 255)
		return -EINVAL;
	int rc = shh_lock_heap(h);
	if (rc != 0)
		return rc;
	rc = -ENOENT;
	uint64_t tab = shh__get64(h, SHH_H_DIR), cap = shh__get64(h, SHH_H_DIR + 8);
	uint64_t hash = shh_hash64(name, nl), tag = hash | (1ULL << 63);
	if (cap < 8 || (cap & (cap - 1)) || shh__payload(h, tab) < cap * 16) {
		rc = -EINVAL;
		goto out;
	}
	for (uint64_t i = hash & (cap - 1), k = 0; k < cap; k++, i = (i + 1) & (cap - 1)) {
		uint64_t s = tab + 16 * i, t = shh__get64(h, s);
		if (t == 0)
			break;
		if (t != tag)
			continue;
		uint64_t p = shh__get64(h, s + 8), n = shh__payload(h, p), no = 88 + h->max_procs / 8;
		uint64_t ln = shh__get32(h, p + SHH_O_NAME_LEN);
		if (n < no || shh__get32(h, p + SHH_O_MAGIC) != SHH_OBJ_MAGIC || ln == 0 || ln > n - no) {
			rc = -EINVAL;
			goto out;
		}
		if (ln != nl || memcmp(h->base + p + no, name, nl) != 0)
			continue;
		o->h = h;
		o->obj = p;
		o->kind = shh__get32(h, p + SHH_O_KIND);
		o->elem = shh__get64(h, p + SHH_O_ELEM);
		o->n = o->kind == SHH_VALUE ? 1 : shh__get64(h, p + SHH_O_ELEM2);
		o->body = shh__get64(h, p + SHH_O_BODY);
		uint64_t bl = shh__get64(h, p + SHH_O_BODY_LEN);
		if (o->kind != kind || (elem && o->elem != elem)) {
			rc = -EPROTOTYPE; /* another kind or element type */
			goto out;
		}
		if (o->body % 64 || o->body < p + no + ln || o->body > p + n || bl > p + n - o->body ||
		    o->elem == 0 || o->n == 0 || o->n > (1ULL << 46) / o->elem ||
		    bl != SHH_V_DATA + shh__align(o->n * o->elem, 64) + shh__align(o->elem, 64)) {
			rc = -EINVAL;
			goto out;
		}
		if (h->slot >= 0) {
			uint64_t w = p + SHH_O_OPENERS + 8 * (uint64_t)(h->slot / 64);
			shh__heap_set64(h, w, shh__get64(h, w) | 1ULL << (h->slot % 64));
		}
		rc = 0;
		break;
	}
out:
	shh_unlock_heap(h);
	return rc;
}

/* Drops this process's open mark on o (shh_find set it). */
static inline void shh_release(shh_heap *h, shh_object *o) {
	if (h->slot < 0 || shh_lock_heap(h) != 0)
		return;
	uint64_t w = o->obj + SHH_O_OPENERS + 8 * (uint64_t)(h->slot / 64);
	if (shh__payload(h, o->obj))
		shh__heap_set64(h, w, shh__get64(h, w) & ~(1ULL << (h->slot % 64)));
	shh_unlock_heap(h);
}

/* ---- Value and Array ---- */

static inline void *shh_data(shh_object *o, uint64_t i) {
	return i < o->n ? o->h->base + o->body + SHH_V_DATA + i * o->elem : NULL;
}

static inline unsigned char *shh__scratch(shh_object *o) {
	return o->h->base + o->body + SHH_V_DATA + shh__align(o->n * o->elem, 64);
}

/* Locks the object and replays a write its dead owner left half-done.
 * Returns 0, or 1 if the previous owner died (already repaired). */
static inline int shh_lock(shh_object *o) {
	shh_heap *h = o->h;
	int dead = shh_pid_lock(shh__u32(h, o->body));
	uint32_t *redo = shh__u32(h, o->body + SHH_V_REDO);
	if (__atomic_load_n(redo, __ATOMIC_SEQ_CST) == 1) {
		uint64_t i = shh__get64(h, o->body + SHH_V_INDEX);
		if (i < o->n)
			memcpy(shh_data(o, i), shh__scratch(o), o->elem);
		__atomic_store_n(redo, 0, __ATOMIC_SEQ_CST);
	}
	return dead;
}

static inline void shh_unlock(shh_object *o) { shh_pid_unlock(shh__u32(o->h, o->body)); }

/* Stores element i from src through the scratch copy (lock held): a
 * process killed during it leaves the old or the new element. */
static inline int shh_store(shh_object *o, uint64_t i, const void *src) {
	if (i >= o->n)
		return -ERANGE;
	shh_heap *h = o->h;
	memcpy(shh__scratch(o), src, o->elem);
	shh__put64(h, o->body + SHH_V_INDEX, i);
	__atomic_store_n(shh__u32(h, o->body + SHH_V_REDO), 1, __ATOMIC_SEQ_CST);
	memcpy(shh_data(o, i), src, o->elem);
	__atomic_store_n(shh__u32(h, o->body + SHH_V_REDO), 0, __ATOMIC_SEQ_CST);
	return 0;
}

#endif /* SHMHEAP_H */
