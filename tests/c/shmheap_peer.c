/*
 * shmheap_peer: a C peer of ipckit's shmheap, written from shmheap/LAYOUT.md
 * with shmheap/shmheap.h. Run by shmheap's cpeer_test.go.
 *
 *   shmheap_peer inc  SHM VALUE N   add 1 to the int64 Value N times, each
 *                                   under the object's lock (crash-atomic
 *                                   store); prints "ok"
 *   shmheap_peer read SHM ARRAY     print the int32 Array's elements
 *   shmheap_peer hold SHM VALUE X   lock the Value, start a crash-atomic
 *                                   store of X and stop half-way (redo set,
 *                                   data not written), print "held", sleep
 *                                   until killed
 *   shmheap_peer fp                 print the fingerprints of int64, int32
 *   shmheap_peer wrong SHM VALUE    look the int64 Value up as a 4-byte
 *                                   element: prints the error
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "shmheap.h"

static void die(const char *what, int rc) {
	fprintf(stderr, "shmheap_peer: %s: %s\n", what, strerror(-rc));
	exit(1);
}

static shh_heap heap;

static void open_heap(const char *name) {
	char path[512];
	snprintf(path, sizeof path, "/dev/shm/%s", name[0] == '/' ? name + 1 : name);
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	struct stat st;
	fstat(fd, &st);
	void *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	close(fd);
	int rc = shh_open(&heap, base, (size_t)st.st_size);
	if (rc)
		die("shh_open", rc);
	if ((rc = shh_attach(&heap)))
		die("shh_attach", rc);
}

int main(int argc, char **argv) {
	if (argc >= 2 && !strcmp(argv[1], "fp")) {
		printf("%llu %llu\n", (unsigned long long)shh_scalar_fingerprint(6, 8),
		       (unsigned long long)shh_scalar_fingerprint(5, 4));
		return 0;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: shmheap_peer inc|read|hold|wrong SHM NAME [N]\n");
		return 2;
	}
	open_heap(argv[2]);
	shh_object o;
	int rc;
	if (!strcmp(argv[1], "inc") && argc == 5) {
		if ((rc = shh_find(&heap, argv[3], SHH_VALUE, 8, &o)))
			die("shh_find", rc);
		long n = atol(argv[4]);
		for (long i = 0; i < n; i++) {
			shh_lock(&o);
			int64_t x;
			memcpy(&x, shh_data(&o, 0), 8);
			x++;
			shh_store(&o, 0, &x);
			shh_unlock(&o);
		}
		shh_release(&heap, &o);
		shh_detach(&heap);
		printf("ok\n");
		return 0;
	}
	if (!strcmp(argv[1], "read")) {
		if ((rc = shh_find(&heap, argv[3], SHH_ARRAY, 4, &o)))
			die("shh_find", rc);
		shh_lock(&o);
		for (uint64_t i = 0; i < o.n; i++) {
			int32_t x;
			memcpy(&x, shh_data(&o, i), 4);
			printf("%s%d", i ? " " : "", x);
		}
		printf("\n");
		shh_unlock(&o);
		shh_release(&heap, &o);
		shh_detach(&heap);
		return 0;
	}
	if (!strcmp(argv[1], "hold") && argc == 5) {
		if ((rc = shh_find(&heap, argv[3], SHH_VALUE, 8, &o)))
			die("shh_find", rc);
		shh_lock(&o);
		int64_t x = atoll(argv[4]);
		/* shh_store's first half: scratch, index, redo = 1; then stop. */
		memcpy(heap.base + o.body + SHH_V_DATA + 64, &x, 8);
		memcpy(heap.base + o.body + SHH_V_INDEX, &(uint64_t){0}, 8);
		__atomic_store_n((uint32_t *)(void *)(heap.base + o.body + SHH_V_REDO), 1, __ATOMIC_SEQ_CST);
		memset(shh_data(&o, 0), 0xee, 4); /* a torn write */
		printf("held\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	if (!strcmp(argv[1], "wrong")) {
		rc = shh_find(&heap, argv[3], SHH_VALUE, 4, &o);
		printf("%s\n", rc == -EPROTOTYPE ? "EPROTOTYPE" : strerror(-rc));
		return 0;
	}
	fprintf(stderr, "shmheap_peer: bad arguments\n");
	return 2;
}
