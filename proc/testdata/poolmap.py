# Python's side of BenchmarkPoolMapVsPython: multiprocessing.Pool.map over
# n small tasks (squaring ints), with the pool already started, the best
# of reps runs. Prints the seconds of the best run.
import sys
import time
from multiprocessing import Pool


def square(x):
    return x * x


if __name__ == "__main__":
    n, workers, reps = (int(a) for a in sys.argv[1:4])
    data = list(range(n))
    with Pool(workers) as pool:
        assert pool.map(square, range(100)) == [x * x for x in range(100)]
        best = None
        for _ in range(reps):
            t0 = time.perf_counter()
            out = pool.map(square, data)
            dt = time.perf_counter() - t0
            assert out[-1] == (n - 1) * (n - 1)
            best = dt if best is None else min(best, dt)
    print(best)
