# The Python side of shmheap's heapbench: multiprocessing.Manager's list
# append and Namespace set from several processes at once, each for about
# the same time, reported as one JSON line {"ops": N, "elapsed": seconds}.
#
#   python3 manager.py list-append|namespace-set PROCS SECONDS
import json
import sys
import time
from multiprocessing import Event, Manager, Process, Queue


def worker(op, obj, dur, q, go, i):
    go.wait()
    n = 0
    t0 = time.perf_counter()
    end = t0 + dur
    attr = "w%d" % i
    while True:
        if op == "list-append":
            for _ in range(50):
                obj.append(n)
                n += 1
        else:
            for _ in range(50):
                setattr(obj, attr, n)
                n += 1
        if time.perf_counter() >= end:
            break
    q.put((n, time.perf_counter() - t0))


if __name__ == "__main__":
    op, procs, dur = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if op not in ("list-append", "namespace-set"):
        sys.exit("unknown op " + op)
    with Manager() as m:
        obj = m.list() if op == "list-append" else m.Namespace()
        q, go = Queue(), Event()
        ps = [Process(target=worker, args=(op, obj, dur, q, go, i)) for i in range(procs)]
        for p in ps:
            p.start()
        time.sleep(0.1)
        go.set()
        res = [q.get() for _ in ps]
        for p in ps:
            p.join()
    print(json.dumps({"ops": sum(r[0] for r in res), "elapsed": max(r[1] for r in res)}))
