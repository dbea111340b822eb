"""Python peer for posix/interop_test.go: multiprocessing.shared_memory
against segments made by Go, and a segment made by Python for Go.

usage:
  posix_shm.py attach NAME MODE   MODE: plain | unregister | track-false
      attach to Go's segment, check "hello from Go" at 0, write
      "hello from Python" at 100, close and exit. "plain" shows the
      resource-tracker hazard (before 3.13, and with 3.13's default
      track=True, the tracker unlinks the segment at exit); "unregister"
      is the workaround before 3.13; "track-false" is 3.13's fix.
  posix_shm.py create NAME
      create a segment, write "from python" at 0, print READY, wait for a
      line on stdin, check "from go" at 200, print OK, unlink.
"""
import sys
from multiprocessing import resource_tracker, shared_memory


def attach(name, mode):
    if mode == "track-false":
        shm = shared_memory.SharedMemory(name=name, track=False)
    else:
        shm = shared_memory.SharedMemory(name=name)
        if mode == "unregister":
            # Workaround for gh-82300 before Python 3.13: this process only
            # attached, so its resource tracker must not unlink the segment.
            resource_tracker.unregister(shm._name, "shared_memory")
    got = bytes(shm.buf[:13])
    if got != b"hello from Go":
        print("BAD", got, shm.size, flush=True)
        return 1
    shm.buf[100:117] = b"hello from Python"
    print("SIZE", shm.size, flush=True)
    shm.close()
    return 0


def create(name):
    shm = shared_memory.SharedMemory(name=name, create=True, size=4096)
    shm.buf[:11] = b"from python"
    print("READY", flush=True)
    sys.stdin.readline()
    got = bytes(shm.buf[200:207])
    print("OK" if got == b"from go" else "BAD %r" % got, flush=True)
    shm.close()
    shm.unlink()
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "attach":
        sys.exit(attach(sys.argv[2], sys.argv[3]))
    sys.exit(create(sys.argv[2]))
