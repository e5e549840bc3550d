//! Per-task overhead of the executor on no-op tasks, with `rayon` and `threadpool` as
//! baselines. Run with `cargo bench -p fetchpool-futures`; figures go in BENCHMARKS.md.
//!
//! Every benchmark pushes `TASKS` no-op tasks through a pool of `WORKERS` threads and
//! collects every result, so the "items/s" divan prints is tasks per second.

use std::hint::black_box;

use divan::Bencher;
use divan::counter::ItemsCount;
use fetchpool_futures::{ThreadPoolExecutor, as_completed};

const TASKS: usize = 10_000;

fn main() {
    divan::main();
}

fn pool(workers: usize) -> ThreadPoolExecutor {
    let pool = ThreadPoolExecutor::new(workers).unwrap();
    // Start every worker before measuring.
    let warm: Vec<_> = (0..workers * 4)
        .map(|i| pool.submit(move || Ok::<_, ()>(i)).unwrap())
        .collect();
    for f in warm {
        f.result(None).unwrap();
    }
    pool
}

/// Submit all tasks, then `result()` each: the document's pattern.
#[divan::bench(args = [1, 2, 4, 8], sample_count = 30)]
fn fetchpool_submit_then_result(bencher: Bencher, workers: usize) {
    let pool = pool(workers);
    bencher.counter(ItemsCount::new(TASKS)).bench(|| {
        let futures: Vec<_> = (0..TASKS)
            .map(|i| pool.submit(move || Ok::<_, ()>(black_box(i))).unwrap())
            .collect();
        for f in &futures {
            black_box(f.result(None).unwrap());
        }
    });
}

/// One task at a time: submit, then wait for it (latency of a round trip).
#[divan::bench(args = [1, 4], sample_count = 30)]
fn fetchpool_submit_result_ping_pong(bencher: Bencher, workers: usize) {
    let pool = pool(workers);
    bencher.counter(ItemsCount::new(1000usize)).bench(|| {
        for i in 0..1000usize {
            let f = pool.submit(move || Ok::<_, ()>(black_box(i))).unwrap();
            black_box(f.result(None).unwrap());
        }
    });
}

/// Submit all, then iterate `as_completed`.
#[divan::bench(args = [2, 4], sample_count = 30)]
fn fetchpool_as_completed(bencher: Bencher, workers: usize) {
    let pool = pool(workers);
    bencher.counter(ItemsCount::new(TASKS)).bench(|| {
        let futures: Vec<_> = (0..TASKS)
            .map(|i| pool.submit(move || Ok::<_, ()>(black_box(i))).unwrap())
            .collect();
        for f in as_completed(&futures, None) {
            black_box(f.unwrap());
        }
    });
}

/// `map` with its default window (2 x workers) and with a wide one.
#[divan::bench(args = [(2, 4), (4, 8), (4, 256)], sample_count = 30)]
fn fetchpool_map(bencher: Bencher, (workers, window): (usize, usize)) {
    let pool = pool(workers);
    bencher.counter(ItemsCount::new(TASKS)).bench(|| {
        for r in pool.map_window(|i: usize| Ok::<_, ()>(black_box(i)), 0..TASKS, None, window) {
            black_box(r.unwrap());
        }
    });
}

/// Baseline: rayon's `spawn`, results back over a channel.
#[divan::bench(args = [1, 2, 4, 8], sample_count = 30)]
fn rayon_spawn_channel(bencher: Bencher, workers: usize) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .unwrap();
    bencher.counter(ItemsCount::new(TASKS)).bench(|| {
        let (tx, rx) = crossbeam_channel::unbounded();
        for i in 0..TASKS {
            let tx = tx.clone();
            pool.spawn(move || tx.send(black_box(i)).unwrap());
        }
        drop(tx);
        for r in rx.iter() {
            black_box(r);
        }
    });
}

/// Baseline: the `threadpool` crate's `execute`, results back over a channel.
#[divan::bench(args = [1, 2, 4, 8], sample_count = 30)]
fn threadpool_execute_channel(bencher: Bencher, workers: usize) {
    let pool = threadpool::ThreadPool::new(workers);
    bencher.counter(ItemsCount::new(TASKS)).bench(|| {
        let (tx, rx) = crossbeam_channel::unbounded();
        for i in 0..TASKS {
            let tx = tx.clone();
            pool.execute(move || tx.send(black_box(i)).unwrap());
        }
        drop(tx);
        for r in rx.iter() {
            black_box(r);
        }
    });
}
