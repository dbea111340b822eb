"""A Python peer for ipckit's SysV tests, using Debian's python3-sysv-ipc.

usage: sysv_peer.py QUEUE_KEY SEM_KEY SHM_KEY
Attaches to objects a Go process created, receives one message of type 7
and answers with type 8, decrements semaphore 0 (blocking), reads the
segment's "go:" prefix and writes "py:ok" at offset 64.
"""
import sys
import sysv_ipc

qkey, skey, mkey = (int(a, 0) for a in sys.argv[1:4])
q = sysv_ipc.MessageQueue(qkey)
msg, mtype = q.receive(type=7)
q.send(b"py:" + msg, type=8)
sem = sysv_ipc.Semaphore(skey)
sem.acquire(timeout=10)
mem = sysv_ipc.SharedMemory(mkey)
head = mem.read(3)
if head != b"go:":
    sys.exit("segment starts with %r" % head)
mem.write(b"py:ok", offset=64)
mem.detach()
print("python peer done")
