/* ring_killpoint: the C side of mmapring's kill-point campaign
 * (mmapring/killpoint_test.go), built with -DMMR_KILLPOINTS so that every
 * store mmapring.h makes to the ring is numbered and the process exits at
 * store MMAPRING_KILLPOINT (see the header).
 *
 *   ring_killpoint victim FD OP...          run a scenario on the ring at FD
 *   ring_killpoint recover FD POSTID MS     the documented recovery, as a fresh process
 *
 * Scenario operations (the same language as the Go victim's):
 *   P<i> / C<i>      attach producer / consumer i (0 or 1)
 *   s<i>:<id>        send message id (blocking, 2 s); t<i>:<id> try-send;
 *   S<i>:<id>        send with a 50 ms deadline (may wait for room)
 *   v<i>:<id>        reserve room for message id and fill it; m<i> commit; a<i> abort
 *   r<i>             try-receive; R<i> receive with a 50 ms deadline; W<i> with
 *                    1.5 liveness intervals (300 ms: one liveness check runs)
 *   k<i> / K<i>      try-peek / peek with a 50 ms deadline; l<i> release
 *   x<i> / d<i>      close / detach producer i; X<i> close consumer i
 *   exit             stop here without closing anything
 * Output, one line per event: "sent ID", "got ID", "peek ID", "rel ID",
 * "fail OP STATUS", "torn TEXT", and "done N" once operation N (from 0)
 * has returned; at the end "stores N" (the stores made).
 *
 * recover: attach a producer and a consumer; send message POSTID (making
 * room by receiving while the ring is full), close the ring, and receive
 * until the end, each call bounded by MS milliseconds. Output: "got ID" or
 * "torn TEXT" per message, "sent ID" or "fail send STATUS", then
 * "end STATUS".
 *
 * Message ID is "m<ID>:" and filler letters, 9 + (ID*13) % 40 bytes in
 * all, as kpMsg in killpoint_test.go builds it. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "mmapring.h"

static size_t msg_len(unsigned long id) { return 9 + (id * 13) % 40; }

static size_t make_msg(unsigned long id, char *b) {
	size_t n = msg_len(id);
	char head[32];
	int p = snprintf(head, sizeof head, "m%lu:", id);
	memcpy(b, head, (size_t)p < n ? (size_t)p : n);
	for (size_t i = (size_t)p; i < n; i++) b[i] = (char)('a' + (id + i) % 26);
	return n;
}

/* The id of message m (n bytes), or -1 if it is not one of ours, intact. */
static long parse_msg(const void *m, long n) {
	char want[64];
	const char *s = (const char *)m;
	if (n < 3 || n > 60 || s[0] != 'm') return -1;
	unsigned long id = strtoul(s + 1, NULL, 10);
	if (id > 100000 || (long)make_msg(id, want) != n || memcmp(want, s, (size_t)n) != 0) return -1;
	return (long)id;
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
	case MMR_ENOTREADY: return "notready";
	case MMR_EPENDING: return "pending";
	case MMR_ENOMSG: return "nomsg";
	}
	snprintf(other, sizeof other, "err %ld", rc);
	return other;
}

/* Every line goes out at once (unbuffered): a kill at the next store must
 * find it written. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
	line[n++] = '\n';
	if (write(1, line, (size_t)n) != n) _exit(3);
}

/* Report a message delivered as what ("got", "peek"), or torn. */
static long report(const char *what, const void *m, long n) {
	long id = parse_msg(m, n);
	if (id < 0) {
		char hex[2 * 60 + 1];
		int k = 0;
		for (long i = 0; i < n && i < 60; i++) k += snprintf(hex + k, sizeof hex - (size_t)k, "%02x", ((const unsigned char *)m)[i]);
		hex[k] = 0;
		say("torn %s", hex);
	} else {
		say("%s %ld", what, id);
	}
	return id;
}

static mmr_ring ring;

static int attach(int fd) {
	long long len = mmr_map_size(fd);
	void *m = len > 0 ? mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (m == MAP_FAILED) return MMR_ECORRUPT;
	return mmr_attach(&ring, m, (size_t)len);
}

static const long long ms = 1000000;

static int victim(int argc, char **argv) {
	mmr_producer p[2];
	mmr_consumer c[2];
	long resv[2] = {-1, -1}, peek[2] = {-1, -1};
	char buf[4096];
	memset(p, 0, sizeof p);
	memset(c, 0, sizeof c);
	for (int i = 3; i < argc; i++) {
		const char *op = argv[i];
		if (!strcmp(op, "exit")) break;
		int k = op[1] - '0';
		unsigned long id = op[1] && op[2] == ':' ? strtoul(op + 3, NULL, 10) : 0;
		if (k < 0 || k > 1) { fprintf(stderr, "ring_killpoint: bad op %s\n", op); return 2; }
		long rc = 0;
		size_t n;
		const void *m = NULL;
		void *w = NULL;
		switch (op[0]) {
		case 'P': rc = mmr_producer_open(&p[k], &ring); break;
		case 'C': rc = mmr_consumer_open(&c[k], &ring); break;
		case 's': case 't': case 'S':
			n = make_msg(id, buf);
			rc = op[0] == 't' ? mmr_try_send(&p[k], buf, n) : mmr_send(&p[k], buf, n, op[0] == 's' ? 2000 * ms : 50 * ms);
			if (rc == 0) say("sent %lu", id);
			break;
		case 'v':
			n = make_msg(id, buf);
			rc = mmr_reserve(&p[k], n, &w, 2000 * ms);
			if (rc == 0) { memcpy(w, buf, n); resv[k] = (long)id; }
			break;
		case 'm':
			rc = mmr_commit(&p[k], msg_len((unsigned long)resv[k]));
			if (rc == 0) say("sent %ld", resv[k]);
			break;
		case 'a': rc = mmr_abort(&p[k]); break;
		case 'r': case 'R': case 'W': /* W: long enough for one liveness check */
			rc = op[0] == 'r' ? mmr_try_recv(&c[k], buf, sizeof buf)
			                  : mmr_recv(&c[k], buf, sizeof buf, op[0] == 'R' ? 50 * ms : 3 * MMR_LIVENESS_NS / 2);
			if (rc >= 0) { report("got", buf, rc); rc = 0; }
			break;
		case 'k': case 'K':
			rc = op[0] == 'k' ? mmr_try_peek(&c[k], &m) : mmr_peek(&c[k], &m, 50 * ms);
			if (rc >= 0) { peek[k] = report("peek", m, rc); rc = 0; }
			break;
		case 'l':
			rc = mmr_release(&c[k]);
			if (rc == 0) say("rel %ld", peek[k]);
			break;
		case 'x': mmr_producer_close(&p[k]); break;
		case 'd': mmr_producer_detach(&p[k]); break;
		case 'X': mmr_consumer_close(&c[k]); break;
		default: fprintf(stderr, "ring_killpoint: bad op %s\n", op); return 2;
		}
		if (rc) say("fail %s %s", op, status(rc));
		say("done %d", i - 3);
	}
	say("stores %llu", mmr_killpoint_stores());
	return 0;
}

static int recover(char **argv) {
	unsigned long post = strtoul(argv[3], NULL, 10);
	long long to = strtoll(argv[4], NULL, 10) * ms;
	mmr_producer p;
	mmr_consumer c;
	char buf[4096], msg[64];
	long rc;
	if ((rc = mmr_producer_open(&p, &ring))) { say("end producer %s", status(rc)); return 0; }
	if ((rc = mmr_consumer_open(&c, &ring))) { say("end consumer %s", status(rc)); return 0; }
	size_t n = make_msg(post, msg);
	for (;;) {
		rc = mmr_try_send(&p, msg, n);
		if (rc != MMR_EFULL) break;
		long got = mmr_recv(&c, buf, sizeof buf, to); /* make room */
		if (got < 0) { rc = got; break; }
		report("got", buf, got);
	}
	if (rc == 0) say("sent %lu", post);
	else say("fail send %s", status(rc));
	mmr_producer_close(&p);
	for (;;) {
		long got = mmr_recv(&c, buf, sizeof buf, to);
		if (got < 0) { say("end %s", status(got)); break; }
		report("got", buf, got);
	}
	mmr_consumer_close(&c);
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3) { fprintf(stderr, "usage: ring_killpoint victim|recover FD ...\n"); return 2; }
	int rc = attach(atoi(argv[2]));
	if (rc) { say("end attach %s", status(rc)); return 0; }
	if (!strcmp(argv[1], "victim")) return victim(argc, argv);
	if (!strcmp(argv[1], "recover") && argc == 5) return recover(argv);
	fprintf(stderr, "usage: ring_killpoint victim|recover FD ...\n");
	return 2;
}
