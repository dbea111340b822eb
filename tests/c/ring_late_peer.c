/* ring_late_peer: a C peer for mmapring's TestPeerOnLateThread.
 *
 *   ring_late_peer FD producer|consumer
 *
 * Waits longer than the slack allowed between start times (100 ticks),
 * then, on a thread made only then, takes the role on the ring in FD, so
 * that the header looks up this process's identity there for the first
 * time (qemu-user answers /proc/self/stat with the calling thread's start
 * time). Prints "won" (or "err RC"), then holds the role until stdin
 * reaches EOF.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include "mmapring.h"

static mmr_ring ring;
static mmr_producer prod;
static mmr_consumer cons;
static int producer;

static void *take_role(void *arg) {
	(void)arg;
	int rc = producer ? mmr_producer_open(&prod, &ring) : mmr_consumer_open(&cons, &ring);
	if (rc) printf("err %d\n", rc);
	else printf("won\n");
	return (void *)(intptr_t)rc;
}

int main(int argc, char **argv) {
	if (argc < 3) { fprintf(stderr, "usage: ring_late_peer FD producer|consumer\n"); return 2; }
	setvbuf(stdout, NULL, _IOLBF, 0);
	int fd = atoi(argv[1]);
	producer = !strcmp(argv[2], "producer");
	long long len = mmr_map_size(fd);
	void *m = len > 0 ? mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (m == MAP_FAILED || mmr_attach(&ring, m, (size_t)len)) { printf("err attach\n"); return 1; }
	struct timespec ts = {1, 500000000};
	while (nanosleep(&ts, &ts)) {}
	pthread_t t;
	void *ret;
	if (pthread_create(&t, NULL, take_role, NULL) || pthread_join(t, &ret)) { printf("err thread\n"); return 1; }
	if (ret) return 1;
	while (getchar() != EOF) {}
	if (producer) mmr_producer_detach(&prod);
	else mmr_consumer_close(&cons);
	return 0;
}
