"""A Python peer for ipckit's semaphore tests.

CPython has no public API for a named POSIX semaphore, but
multiprocessing shares its semaphores between processes by name: the
(private) _multiprocessing.SemLock._rebuild(handle, kind, maxvalue, name)
calls glibc's sem_open(name, 0) and then uses sem_timedwait / sem_post /
sem_getvalue on it, exactly as a C program would. This peer opens the
semaphore NAME that way and runs commands, printing one line per step:

    semaphore_peer.py NAME acquire N TIMEOUT   # N x acquire(True, TIMEOUT)
    semaphore_peer.py NAME release N           # N x release()
    semaphore_peer.py NAME value
"""
import sys

import _multiprocessing

SEMAPHORE = 1  # multiprocessing.synchronize.SEMAPHORE
SEM_VALUE_MAX = _multiprocessing.SemLock.SEM_VALUE_MAX


def main():
    name, args = sys.argv[1], sys.argv[2:]
    sem = _multiprocessing.SemLock._rebuild(0, SEMAPHORE, SEM_VALUE_MAX, name)
    print("ready", flush=True)
    i = 0
    while i < len(args):
        cmd = args[i]
        if cmd == "acquire":
            n, timeout = int(args[i + 1]), float(args[i + 2])
            i += 3
            for _ in range(n):
                if not sem.acquire(True, timeout):
                    print("timeout", flush=True)
                    return 1
            print("acquired", n, flush=True)
        elif cmd == "release":
            n = int(args[i + 1])
            i += 2
            for _ in range(n):
                sem.release()
            print("released", n, flush=True)
        elif cmd == "value":
            i += 1
            print("value", sem._get_value(), flush=True)
        else:
            print("unknown command", cmd, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
