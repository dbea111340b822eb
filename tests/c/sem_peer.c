/* sem_peer: a C peer for ipckit's semaphore tests, built with gcc (glibc)
 * and musl-gcc (musl). It operates on a named semaphore or on a sem_t at
 * an offset of a shared file, and reports on stdout, one line per event.
 *
 *   sem_peer open NAME CMD...       sem_open(NAME, 0)
 *   sem_peer create NAME VALUE CMD...  sem_open(NAME, O_CREAT|O_EXCL, 0600, VALUE)
 *   sem_peer shm PATH OFF CMD...    the sem_t at OFF of the MAP_SHARED file PATH
 *   sem_peer shminit PATH OFF VALUE CMD...  same, after sem_init(sem, 1, VALUE)
 *
 * Commands (each prints a line when done; failures exit non-zero):
 *   wait N MS        N x sem_timedwait, each with an MS-millisecond deadline
 *   post N           N x sem_post
 *   trywait          sem_trywait once: prints "ok" or "EAGAIN"
 *   value            prints the value
 *   overflow         posts until EOVERFLOW, prints the value reached
 *   threads T EACH MS  T threads each take EACH units (MS deadline each)
 *   postslow N       N x sem_post with a sched_yield between
 *   pong NAME2 N     N x { wait(sem); post(NAME2) }
 *   ping NAME2 N     N x { post(sem); wait(NAME2) }, prints ns per round trip
 *   bench N          N x { sem_post; sem_trywait }, prints ns per pair
 *   dump             prints the sem_t as 32-bit words
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static sem_t *sem;
static long each_ms;
static long each_n;

static void die(const char *what) {
	printf("error %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int timed_wait(sem_t *s, long ms) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	int r;
	while ((r = sem_timedwait(s, &ts)) != 0 && errno == EINTR)
		;
	return r;
}

static void *waiter(void *arg) {
	(void)arg;
	for (long i = 0; i < each_n; i++)
		if (timed_wait(sem, each_ms) != 0)
			die("thread sem_timedwait");
	return NULL;
}

static sem_t *map_shm(const char *path, long off) {
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open");
	void *p = mmap(NULL, off + sizeof(sem_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	close(fd);
	return (sem_t *)((char *)p + off);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	int i = 1;
	if (argc < 3) {
		fprintf(stderr, "usage: see the comment in sem_peer.c\n");
		return 2;
	}
	if (!strcmp(argv[i], "open")) {
		sem = sem_open(argv[i + 1], 0);
		if (sem == SEM_FAILED)
			die("sem_open");
		i += 2;
	} else if (!strcmp(argv[i], "create")) {
		sem = sem_open(argv[i + 1], O_CREAT | O_EXCL, 0600, (unsigned)strtoul(argv[i + 2], NULL, 0));
		if (sem == SEM_FAILED)
			die("sem_open");
		i += 3;
	} else if (!strcmp(argv[i], "shm") || !strcmp(argv[i], "shminit")) {
		int init = !strcmp(argv[i], "shminit");
		sem = map_shm(argv[i + 1], strtol(argv[i + 2], NULL, 0));
		i += 3;
		if (init) {
			if (sem_init(sem, 1, (unsigned)strtoul(argv[i], NULL, 0)) != 0)
				die("sem_init");
			i++;
		}
	} else {
		fprintf(stderr, "unknown mode %s\n", argv[i]);
		return 2;
	}
	printf("ready\n");
	while (i < argc) {
		const char *cmd = argv[i++];
		if (!strcmp(cmd, "wait")) {
			long n = atol(argv[i++]), ms = atol(argv[i++]);
			for (long k = 0; k < n; k++)
				if (timed_wait(sem, ms) != 0)
					die("sem_timedwait");
			printf("waited %ld\n", n);
		} else if (!strcmp(cmd, "post") || !strcmp(cmd, "postslow")) {
			long n = atol(argv[i++]);
			for (long k = 0; k < n; k++) {
				if (sem_post(sem) != 0)
					die("sem_post");
				if (cmd[4])
					sched_yield();
			}
			printf("posted %ld\n", n);
		} else if (!strcmp(cmd, "trywait")) {
			if (sem_trywait(sem) == 0)
				printf("ok\n");
			else if (errno == EAGAIN)
				printf("EAGAIN\n");
			else
				die("sem_trywait");
		} else if (!strcmp(cmd, "value")) {
			int v;
			if (sem_getvalue(sem, &v) != 0)
				die("sem_getvalue");
			printf("value %d\n", v);
		} else if (!strcmp(cmd, "overflow")) {
			while (sem_post(sem) == 0)
				;
			if (errno != EOVERFLOW)
				die("sem_post");
			int v;
			sem_getvalue(sem, &v);
			printf("overflow at %d\n", v);
		} else if (!strcmp(cmd, "threads")) {
			long t = atol(argv[i++]);
			each_n = atol(argv[i++]);
			each_ms = atol(argv[i++]);
			pthread_t th[64];
			if (t > 64)
				t = 64;
			for (long k = 0; k < t; k++)
				pthread_create(&th[k], NULL, waiter, NULL);
			printf("started %ld\n", t);
			for (long k = 0; k < t; k++)
				pthread_join(th[k], NULL);
			printf("joined %ld\n", t);
		} else if (!strcmp(cmd, "pong") || !strcmp(cmd, "ping")) {
			sem_t *other = sem_open(argv[i++], 0);
			long n = atol(argv[i++]);
			if (other == SEM_FAILED)
				die("sem_open other");
			double t0 = now_ns();
			for (long k = 0; k < n; k++) {
				if (cmd[1] == 'i') {
					sem_post(sem);
					if (timed_wait(other, 30000) != 0)
						die("ping wait");
				} else {
					if (timed_wait(sem, 30000) != 0)
						die("pong wait");
					sem_post(other);
				}
			}
			printf("%s %ld %.1f ns/roundtrip\n", cmd, n, (now_ns() - t0) / n);
		} else if (!strcmp(cmd, "bench")) {
			long n = atol(argv[i++]);
			double t0 = now_ns();
			for (long k = 0; k < n; k++) {
				sem_post(sem);
				sem_trywait(sem);
			}
			printf("bench %ld %.2f ns/op\n", n, (now_ns() - t0) / n);
		} else if (!strcmp(cmd, "dump")) {
			uint32_t *w = (uint32_t *)sem;
			printf("dump");
			for (size_t k = 0; k < sizeof(sem_t) / 4; k++)
				printf(" %08x", w[k]);
			printf("\n");
		} else {
			fprintf(stderr, "unknown command %s\n", cmd);
			return 2;
		}
	}
	return 0;
}
