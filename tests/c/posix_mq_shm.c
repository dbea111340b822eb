/* C peer for posix/interop_test.go: glibc shm_open + mq_* against Go.
 *
 * usage: posix_mq_shm SHMNAME C2GQUEUE G2CQUEUE   (names with a leading '/')
 *
 * Creates the shared-memory object and both queues (exclusively, 0600),
 * then talks a line protocol on stdin/stdout with the Go test:
 *   C -> Go  READY          shm holds "hello from C"; 3 messages queued on C2G
 *   Go -> C  GO             Go wrote "hello from Go" at shm+1024 and queued 3 on G2C
 *   C -> Go  RECV msg prio  (x3, in priority order)
 *   C -> Go  SHM-OK
 *   C -> Go  TIMEOUT-OK ms  mq_timedreceive on an empty queue timed out
 *   C -> Go  WAITING        C blocks in mq_timedreceive (10 s) until Go sends
 *   C -> Go  LATE msg prio
 *   (C sleeps 200 ms, then sends "late-c" prio 3 while Go waits in Receive)
 *   C -> Go  DONE
 * The Go side unlinks everything (by the same names).
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
	printf("ERROR %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static struct timespec after_ms(long ms) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static long ms_since(const struct timespec *t0) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: %s SHM C2G G2C\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	int fd = shm_open(argv[1], O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0) die("shm_open");
	if (ftruncate(fd, 4096) < 0) die("ftruncate");
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) die("mmap");
	close(fd);
	strcpy(p, "hello from C");

	struct mq_attr attr = {.mq_maxmsg = 8, .mq_msgsize = 128};
	mqd_t c2g = mq_open(argv[2], O_WRONLY | O_CREAT | O_EXCL, 0600, &attr);
	if (c2g == (mqd_t)-1) die("mq_open c2g");
	mqd_t g2c = mq_open(argv[3], O_RDONLY | O_CREAT | O_EXCL, 0600, &attr);
	if (g2c == (mqd_t)-1) die("mq_open g2c");

	if (mq_send(c2g, "c-low", 5, 1) < 0) die("mq_send");
	if (mq_send(c2g, "c-high", 6, 20) < 0) die("mq_send");
	if (mq_send(c2g, "c-mid", 5, 5) < 0) die("mq_send");
	printf("READY\n");

	char line[64];
	if (!fgets(line, sizeof line, stdin) || strcmp(line, "GO\n") != 0) die("expected GO");

	char buf[128];
	unsigned prio;
	for (int i = 0; i < 3; i++) {
		struct timespec ts = after_ms(5000);
		ssize_t n = mq_timedreceive(g2c, buf, sizeof buf, &prio, &ts);
		if (n < 0) die("mq_timedreceive");
		printf("RECV %.*s %u\n", (int)n, buf, prio);
	}
	if (strcmp(p + 1024, "hello from Go") != 0) {
		printf("ERROR shm+1024 holds %.20s\n", p + 1024);
		return 1;
	}
	printf("SHM-OK\n");

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct timespec ts = after_ms(150);
	if (mq_timedreceive(g2c, buf, sizeof buf, &prio, &ts) >= 0 || errno != ETIMEDOUT) die("expected ETIMEDOUT");
	printf("TIMEOUT-OK %ld\n", ms_since(&t0));

	printf("WAITING\n");
	ts = after_ms(10000);
	ssize_t n = mq_timedreceive(g2c, buf, sizeof buf, &prio, &ts);
	if (n < 0) die("mq_timedreceive late");
	printf("LATE %.*s %u\n", (int)n, buf, prio);

	usleep(200 * 1000);
	if (mq_send(c2g, "late-c", 6, 3) < 0) die("mq_send late");
	printf("DONE\n");
	mq_close(c2g);
	mq_close(g2c);
	munmap(p, 4096);
	return 0;
}
