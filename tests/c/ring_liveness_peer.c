/* ring_liveness_peer: a C peer for mmapring's liveness tests
 * (mmapring/liveness_test.go), built on mmapring/mmapring.h.
 *
 *   ring_liveness_peer late FD producer|consumer
 *       Wait longer than the slack allowed between start times (100
 *       ticks), then, on a thread made only then, take the role on the
 *       ring in FD, so that the header looks up this process's identity
 *       there for the first time (qemu-user answers /proc/self/stat with
 *       the calling thread's start time). Print "won" (or "err RC"), then
 *       hold the role until stdin reaches EOF.
 *
 *   ring_liveness_peer judge FD producer|consumer
 *       Run mmr_peers_dead for the role once; each time it has read a
 *       peer's ident (MMR_TEST_PEER_LOADED), print "loaded" and wait for a
 *       line on stdin before it tests the process. Print "dead" or
 *       "notdead".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static void peer_loaded(void) {
	printf("loaded\n");
	int ch;
	while ((ch = getchar()) != EOF && ch != '\n') {}
}
#define MMR_TEST_PEER_LOADED(r, slot) peer_loaded()
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
	if (argc < 4) { fprintf(stderr, "usage: ring_liveness_peer late|judge FD producer|consumer\n"); return 2; }
	setvbuf(stdout, NULL, _IOLBF, 0);
	int fd = atoi(argv[2]);
	producer = !strcmp(argv[3], "producer");
	long long len = mmr_map_size(fd);
	void *m = len > 0 ? mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (m == MAP_FAILED || mmr_attach(&ring, m, (size_t)len)) { printf("err attach\n"); return 1; }
	if (!strcmp(argv[1], "judge")) {
		printf(mmr_peers_dead(&ring, producer ? MMR_ROLE_PRODUCER : MMR_ROLE_CONSUMER) ? "dead\n" : "notdead\n");
		return 0;
	}
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
