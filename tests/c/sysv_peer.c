// sysv_peer: a C peer for ipckit's SysV tests.
//   sysv_peer ftok PATH PROJ          print ftok(PATH, PROJ) in decimal
//   sysv_peer echo MSQID N            receive N messages (any type), send each
//                                     back with type+1000 and the text reversed
//   sysv_peer sem SEMID ROUNDS        ROUNDS times: wait on sem 0, post sem 1
//   sysv_peer shm SHMID               attach, check "go:" prefix, write "c:ok"
//   sysv_peer semval SEMID NUM VAL    SETVAL through union semun by value (as C
//                                     passes it), print GETVAL
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/types.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

union semun { int val; struct semid_ds *buf; unsigned short *array; };

struct msg { long mtype; char mtext[8192]; };

static int die(const char *what) { perror(what); return 1; }

int main(int argc, char **argv) {
	if (argc < 3) { fprintf(stderr, "usage\n"); return 2; }
	if (!strcmp(argv[1], "ftok")) {
		key_t k = ftok(argv[2], atoi(argv[3]));
		if (k == -1) return die("ftok");
		printf("%d\n", (int)k);
		return 0;
	}
	if (!strcmp(argv[1], "echo")) {
		int id = atoi(argv[2]), n = atoi(argv[3]);
		static struct msg m;
		for (int i = 0; i < n; i++) {
			ssize_t len = msgrcv(id, &m, sizeof m.mtext, -999, 0);
			if (len < 0) return die("msgrcv");
			for (ssize_t a = 0, b = len - 1; a < b; a++, b--) { char t = m.mtext[a]; m.mtext[a] = m.mtext[b]; m.mtext[b] = t; }
			m.mtype += 1000;
			if (msgsnd(id, &m, len, 0) < 0) return die("msgsnd");
		}
		return 0;
	}
	if (!strcmp(argv[1], "sem")) {
		int id = atoi(argv[2]), rounds = atoi(argv[3]);
		for (int i = 0; i < rounds; i++) {
			struct sembuf w = {0, -1, 0}, p = {1, 1, 0};
			if (semop(id, &w, 1) < 0) return die("semop wait");
			if (semop(id, &p, 1) < 0) return die("semop post");
		}
		return 0;
	}
	if (!strcmp(argv[1], "shm")) {
		char *p = shmat(atoi(argv[2]), NULL, 0);
		if (p == (void *)-1) return die("shmat");
		if (strncmp(p, "go:", 3) != 0) { fprintf(stderr, "shm: got %.8s\n", p); return 1; }
		strcpy(p + 64, "c:ok");
		return shmdt(p) < 0 ? die("shmdt") : 0;
	}
	if (!strcmp(argv[1], "semval")) {
		int id = atoi(argv[2]), num = atoi(argv[3]);
		union semun u; u.val = atoi(argv[4]);
		if (semctl(id, num, SETVAL, u) < 0) return die("semctl SETVAL");
		int v = semctl(id, num, GETVAL);
		if (v < 0) return die("semctl GETVAL");
		printf("%d\n", v);
		return 0;
	}
	fprintf(stderr, "unknown mode %s\n", argv[1]);
	return 2;
}
