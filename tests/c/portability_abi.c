/* C peer for tests/portability: exercises glibc's view of the SysV and
 * sem_t ABIs on whatever architecture it was compiled for (natively, by
 * i686-linux-gnu-gcc for the 386 leg, or by a cross gcc under qemu-user).
 * Each subcommand does one thing and prints its result on stdout. */
#define _GNU_SOURCE
#include <errno.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>

union semun { /* the caller defines it (SUSv3) */
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static int die(const char *what) {
	fprintf(stderr, "portability_abi: %s: %s\n", what, strerror(errno));
	return 1;
}

static void *attach(const char *id) {
	void *p = shmat(atoi(id), NULL, 0);
	return p == (void *)-1 ? NULL : p;
}

int main(int argc, char **argv) {
	if (argc < 2)
		return 2;
	const char *cmd = argv[1];
	if (!strcmp(cmd, "sizes")) {
		printf("sem_t=%zu long=%zu ptr=%zu ipc_perm=%zu semid_ds=%zu msqid_ds=%zu shmid_ds=%zu sembuf=%zu\n",
		       sizeof(sem_t), sizeof(long), sizeof(void *), sizeof(struct ipc_perm),
		       sizeof(struct semid_ds), sizeof(struct msqid_ds), sizeof(struct shmid_ds),
		       sizeof(struct sembuf));
		return 0;
	}
	if (!strcmp(cmd, "setval") && argc == 5) { /* setval ID NUM VAL */
		union semun arg = {.val = atoi(argv[4])};
		if (semctl(atoi(argv[2]), atoi(argv[3]), SETVAL, arg) < 0)
			return die("semctl(SETVAL)");
		return 0;
	}
	if (!strcmp(cmd, "getval") && argc == 4) { /* getval ID NUM */
		int v = semctl(atoi(argv[2]), atoi(argv[3]), GETVAL);
		if (v < 0)
			return die("semctl(GETVAL)");
		printf("%d\n", v);
		return 0;
	}
	if (!strcmp(cmd, "msgsnd") && argc == 5) { /* msgsnd ID TYPE TEXT */
		struct { long mtype; char mtext[256]; } m;
		m.mtype = atol(argv[3]);
		size_t n = strlen(argv[4]);
		if (n > sizeof m.mtext)
			return 2;
		memcpy(m.mtext, argv[4], n);
		if (msgsnd(atoi(argv[2]), &m, n, IPC_NOWAIT) < 0)
			return die("msgsnd");
		return 0;
	}
	if (!strcmp(cmd, "msgrcv") && argc == 4) { /* msgrcv ID MSGTYP */
		struct { long mtype; char mtext[256]; } m;
		ssize_t n = msgrcv(atoi(argv[2]), &m, sizeof m.mtext, atol(argv[3]), IPC_NOWAIT);
		if (n < 0)
			return die("msgrcv");
		printf("%ld %.*s\n", m.mtype, (int)n, m.mtext);
		return 0;
	}
	if (!strcmp(cmd, "shmstat") && argc == 3) { /* shmstat ID */
		struct shmid_ds ds;
		if (shmctl(atoi(argv[2]), IPC_STAT, &ds) < 0)
			return die("shmctl(IPC_STAT)");
		printf("segsz=%zu cpid=%d nattch=%lu mode=%o uid=%u\n", (size_t)ds.shm_segsz,
		       (int)ds.shm_cpid, (unsigned long)ds.shm_nattch,
		       (unsigned)ds.shm_perm.mode & 0777, (unsigned)ds.shm_perm.uid);
		return 0;
	}
	if (!strcmp(cmd, "seminit") && argc == 4) { /* seminit SHMID VALUE: sem_t at offset 0 */
		sem_t *s = attach(argv[2]);
		if (!s)
			return die("shmat");
		if (sem_init(s, 1, atoi(argv[3])) < 0)
			return die("sem_init");
		return 0;
	}
	if (!strcmp(cmd, "semgetvalue") && argc == 3) {
		sem_t *s = attach(argv[2]);
		int v;
		if (!s)
			return die("shmat");
		if (sem_getvalue(s, &v) < 0)
			return die("sem_getvalue");
		printf("%d\n", v);
		return 0;
	}
	if (!strcmp(cmd, "semwait") && argc == 4) { /* semwait SHMID TIMEOUT_MS */
		sem_t *s = attach(argv[2]);
		if (!s)
			return die("shmat");
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		long ms = atol(argv[3]);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		printf("waiting\n");
		fflush(stdout);
		while (sem_timedwait(s, &ts) < 0) {
			if (errno == EINTR)
				continue;
			return die("sem_timedwait");
		}
		printf("woken\n");
		return 0;
	}
	if (!strcmp(cmd, "sempost") && argc == 3) {
		sem_t *s = attach(argv[2]);
		if (!s)
			return die("shmat");
		if (sem_post(s) < 0)
			return die("sem_post");
		return 0;
	}
	fprintf(stderr, "portability_abi: bad command line\n");
	return 2;
}
