/* C peer for posix/mode_test.go: an eventfd shared between C and Go, used
 * the way eventfd(2) describes it, with blocking read(2) and write(2).
 *
 * usage: eventfd_peer inherit   fd 3 is an eventfd the Go test created
 *   C -> Go  MODE blocking|nonblocking   (fcntl(3, F_GETFL) & O_NONBLOCK)
 *   C -> Go  READY                       then a blocking read(2)
 *   C -> Go  READ n                      the count the Go side added
 *   C adds 3 with write(2), then
 *   C -> Go  DONE
 *
 * usage: eventfd_peer send      fd 3 is a Unix stream socket to the Go test
 *   C creates a blocking eventfd (initial count 0) and sends it with
 *   SCM_RIGHTS (one byte 'e'), then waits for a line "ADOPTED" on stdin,
 *   sent once the Go side has adopted it with EventFDFromFile:
 *   C -> Go  MODE blocking|nonblocking   the mode of C's OWN descriptor
 *   C -> Go  READY                       then a blocking read(2)
 *   C -> Go  READ n
 *   C adds 3 with write(2), then
 *   C -> Go  DONE
 *
 * A read(2) that fails (EAGAIN on a non-blocking descriptor) prints
 * "ERROR read: ..." and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what) {
	printf("ERROR %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void say(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void send_fd(int sock, int fd) {
	char byte = 'e';
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof u);
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &msg, 0) != 1)
		die("sendmsg");
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: eventfd_peer inherit|send\n");
		return 2;
	}
	int efd;
	if (strcmp(argv[1], "inherit") == 0) {
		efd = 3;
	} else if (strcmp(argv[1], "send") == 0) {
		efd = eventfd(0, EFD_CLOEXEC);
		if (efd < 0)
			die("eventfd");
		send_fd(3, efd);
		char line[64];
		if (!fgets(line, sizeof line, stdin) || strncmp(line, "ADOPTED", 7) != 0) {
			say("ERROR no ADOPTED line");
			return 1;
		}
	} else {
		return 2;
	}
	int fl = fcntl(efd, F_GETFL);
	if (fl < 0)
		die("fcntl");
	say("MODE %s", (fl & O_NONBLOCK) ? "nonblocking" : "blocking");
	say("READY");
	uint64_t v;
	if (read(efd, &v, sizeof v) != (ssize_t)sizeof v)
		die("read");
	say("READ %" PRIu64, v);
	v = 3;
	if (write(efd, &v, sizeof v) != (ssize_t)sizeof v)
		die("write");
	say("DONE");
	return 0;
}
