#!/usr/bin/env python3
"""Per-task overhead of Python's ThreadPoolExecutor on no-op tasks, measured the same way
as crates/fetchpool-futures/benches/executor.rs: TASKS no-op tasks through a pool, every result collected.

Usage: python3 comparisons/python_executor_overhead.py [--tasks N] [--repeat R]
Prints one line per case: the best of R runs, in tasks per second.
"""
import argparse
import time
from concurrent.futures import ThreadPoolExecutor, as_completed


def noop(i):
    return i


def submit_then_result(pool, n):
    futures = [pool.submit(noop, i) for i in range(n)]
    for f in futures:
        f.result()


def ping_pong(pool, n):
    for i in range(n):
        pool.submit(noop, i).result()


def completed(pool, n):
    futures = [pool.submit(noop, i) for i in range(n)]
    for f in as_completed(futures):
        f.result()


def mapped(pool, n):
    for _ in pool.map(noop, range(n)):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cases = [
        ("submit_then_result", submit_then_result, [1, 2, 4, 8], args.tasks),
        ("submit_result_ping_pong", ping_pong, [1, 4], 1000),
        ("as_completed", completed, [2, 4], args.tasks),
        ("map", mapped, [2, 4], args.tasks),
    ]
    for name, fn, worker_counts, n in cases:
        for workers in worker_counts:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                fn(pool, workers * 4)  # start the workers
                best = float("inf")
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    fn(pool, n)
                    best = min(best, time.perf_counter() - start)
            print(f"python {name:<26} workers={workers:<2} {n / best:>12,.0f} tasks/s")


if __name__ == "__main__":
    main()
