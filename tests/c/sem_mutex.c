/* sem_mutex: a glibc C peer for ipckit's robust-mutex tests. It maps the
 * file PATH (MAP_SHARED) and operates on the pthread_mutex_t at OFF; a
 * plain int counter lives at OFF+64.
 *
 *   sem_mutex PATH OFF CMD...
 *     init          pthread_mutex_init with ROBUST and PROCESS_SHARED
 *     lock          pthread_mutex_lock; prints "lock 0" or "lock EOWNERDEAD"...
 *     timedlock MS  pthread_mutex_timedlock with an MS deadline
 *     consistent    pthread_mutex_consistent
 *     unlock        pthread_mutex_unlock; prints "unlock <errno name>"
 *     count N       N x { lock; counter++ (non-atomically); unlock }
 *     hold          lock, print "held", sleep until killed
 *     sleep MS      sleep MS milliseconds
 *     bench N       N x { lock; unlock }, prints ns per pair
 *     eventset EOFF      set the ipckit Event at EOFF (protocol in semaphore/event.go)
 *     eventwait EOFF MS  wait up to MS ms for the Event at EOFF; "eventwait 0" or "eventwait ETIMEDOUT"
 *     exit          exit now (holding whatever is held)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static long futex(uint32_t *w, int op, uint32_t val, const struct timespec *ts) {
	return syscall(SYS_futex, w, op, val, ts, NULL, 0);
}

static const char *ename(int e) {
	switch (e) {
	case 0: return "0";
	case EOWNERDEAD: return "EOWNERDEAD";
	case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EPERM: return "EPERM";
	case EBUSY: return "EBUSY";
	case EDEADLK: return "EDEADLK";
	case EINVAL: return "EINVAL";
	}
	return strerror(e);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		return 2;
	int fd = open(argv[1], O_RDWR | O_CLOEXEC);
	long off = strtol(argv[2], NULL, 0);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	char *base = mmap(NULL, off + 128, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	pthread_mutex_t *m = (pthread_mutex_t *)(base + off);
	volatile int *counter = (volatile int *)(base + off + 64);
	printf("ready %d\n", (int)gettid());
	for (int i = 3; i < argc; i++) {
		const char *cmd = argv[i];
		int r;
		if (!strcmp(cmd, "init")) {
			pthread_mutexattr_t a;
			pthread_mutexattr_init(&a);
			pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
			pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
			r = pthread_mutex_init(m, &a);
			printf("init %s\n", ename(r));
		} else if (!strcmp(cmd, "lock")) {
			printf("lock %s\n", ename(pthread_mutex_lock(m)));
		} else if (!strcmp(cmd, "timedlock")) {
			long ms = atol(argv[++i]);
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += ms / 1000;
			ts.tv_nsec += (ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			printf("timedlock %s\n", ename(pthread_mutex_timedlock(m, &ts)));
		} else if (!strcmp(cmd, "consistent")) {
			printf("consistent %s\n", ename(pthread_mutex_consistent(m)));
		} else if (!strcmp(cmd, "unlock")) {
			printf("unlock %s\n", ename(pthread_mutex_unlock(m)));
		} else if (!strcmp(cmd, "count")) {
			long n = atol(argv[++i]);
			for (long k = 0; k < n; k++) {
				r = pthread_mutex_lock(m);
				if (r == EOWNERDEAD) {
					pthread_mutex_consistent(m);
				} else if (r != 0) {
					printf("count lock %s\n", ename(r));
					return 1;
				}
				int c = *counter;
				if ((k & 15) == 0)
					sched_yield();
				*counter = c + 1;
				pthread_mutex_unlock(m);
			}
			printf("counted %ld\n", n);
		} else if (!strcmp(cmd, "hold")) {
			r = pthread_mutex_lock(m);
			printf("held %s\n", ename(r));
			for (;;)
				pause();
		} else if (!strcmp(cmd, "bench")) {
			long n = atol(argv[++i]);
			struct timespec t0, t1;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			for (long k = 0; k < n; k++) {
				pthread_mutex_lock(m);
				pthread_mutex_unlock(m);
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			printf("bench %ld %.2f ns/op\n", n, ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n);
		} else if (!strcmp(cmd, "eventset")) {
			uint32_t *w = (uint32_t *)(base + atol(argv[++i]));
			if (__atomic_exchange_n(w, 1, __ATOMIC_SEQ_CST) & 2)
				futex(w, FUTEX_WAKE, INT32_MAX, NULL);
			printf("eventset\n");
		} else if (!strcmp(cmd, "eventwait")) {
			uint32_t *w = (uint32_t *)(base + atol(argv[++i]));
			long ms = atol(argv[++i]);
			struct timespec end, now, rel;
			clock_gettime(CLOCK_MONOTONIC, &end);
			end.tv_sec += ms / 1000;
			end.tv_nsec += (ms % 1000) * 1000000L;
			if (end.tv_nsec >= 1000000000L) {
				end.tv_sec++;
				end.tv_nsec -= 1000000000L;
			}
			const char *res = "0";
			for (;;) {
				uint32_t v = __atomic_load_n(w, __ATOMIC_SEQ_CST);
				if (v & 1)
					break;
				if (!(v & 2) && !__atomic_compare_exchange_n(w, &v, v | 2, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
					continue;
				clock_gettime(CLOCK_MONOTONIC, &now);
				rel.tv_sec = end.tv_sec - now.tv_sec;
				rel.tv_nsec = end.tv_nsec - now.tv_nsec;
				if (rel.tv_nsec < 0) {
					rel.tv_sec--;
					rel.tv_nsec += 1000000000L;
				}
				if (rel.tv_sec < 0) {
					res = "ETIMEDOUT";
					break;
				}
				futex(w, FUTEX_WAIT, v | 2, &rel);
			}
			printf("eventwait %s\n", res);
		} else if (!strcmp(cmd, "sleep")) {
			usleep(atol(argv[++i]) * 1000);
			printf("slept\n");
		} else if (!strcmp(cmd, "exit")) {
			printf("exiting\n");
			_exit(0);
		} else {
			fprintf(stderr, "unknown command %s\n", cmd);
			return 2;
		}
	}
	return 0;
}
