#!/usr/bin/env python3
"""Tasks per second through Python's ProcessPoolExecutor, measured the same way as
comparisons/src/process_pool.rs measures fetchpool's (see there for the cases).

Usage: python3 comparisons/python_process_pool.py [--tasks N] [--repeat R] [--map-items M] [--context spawn|fork|forkserver]
Each case runs R times on a fresh, warmed pool; the median is printed.
"""
import argparse
import multiprocessing as mp
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, wait


def noop(_):
    return None


def length(b):
    return len(b)


def echo(b):
    return b


def make_pool(workers, ctx):
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context(ctx))
    list(pool.map(noop, range(2 * workers)))
    return pool


def case(name, workers, tasks, repeat, ctx, body):
    runs = []
    for _ in range(repeat):
        pool = make_pool(workers, ctx)
        start = time.perf_counter()
        body(pool)
        runs.append(time.perf_counter() - start)
        pool.shutdown()
    per_task = statistics.median(runs) / tasks
    print(f"{name:<24} {workers} worker(s)  {per_task * 1e6:>9.1f} µs/task  {1 / per_task:>9.0f} tasks/s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--map-items", type=int, default=100_000)
    parser.add_argument("--context", default="spawn")
    a = parser.parse_args()
    tasks, big = a.tasks, max(1, a.tasks // 10)
    mib = bytes([7]) * (1 << 20)
    for workers in (1, 2):
        case("noop seq", workers, tasks, a.repeat, a.context,
             lambda p: [p.submit(noop, None).result() for _ in range(tasks)])

        def batch(p):
            fs = [p.submit(noop, None) for _ in range(tasks)]
            wait(fs)
            for f in fs:
                f.result()
        case("noop batch", workers, tasks, a.repeat, a.context, batch)
        case("1 MiB -> len seq", workers, big, a.repeat, a.context,
             lambda p: [p.submit(length, mib).result() for _ in range(big)])
        case("1 MiB echo seq", workers, big, a.repeat, a.context,
             lambda p: [p.submit(echo, mib).result() for _ in range(big)])
    for chunksize in (1, 64, 1024):
        case(f"map chunksize {chunksize}", 2, a.map_items, a.repeat, a.context,
             lambda p: sum(1 for _ in p.map(noop, range(a.map_items), chunksize=chunksize)))
    start = time.perf_counter()
    make_pool(2, a.context).shutdown()
    print(f"pool start + warm-up + shutdown, 2 workers: {(time.perf_counter() - start) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
