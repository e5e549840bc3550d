//! Tasks per second through the process pool, measured the same way as
//! `comparisons/python_process_pool.py` measures Python's `ProcessPoolExecutor`:
//!
//! - `noop seq`: `submit(noop).result()` one at a time;
//! - `noop batch`: N submits, then every `result()`;
//! - `1 MiB -> len`: a 1 MiB byte string as the argument, its length back, one at a time;
//! - `1 MiB echo`: the same bytes sent and returned;
//! - `map chunksize C`: `map` of a no-op over `--map-items` integers (100,000), `C` items
//!   a task (1, 64, 1,024), 2 workers.
//!
//! Usage: `process-pool [--tasks N] [--repeat R] [--map-items M]`. Each case runs R times on a fresh, warmed
//! pool; the median is printed, in microseconds per task and tasks per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fetchpool::futures::{ProcessPoolExecutor, Registry, Task, process};
use serde_bytes::ByteBuf;

fn noop(_: ()) -> Result<(), String> {
    Ok(())
}
static NOOP: Task<(), (), String> = Task::new("noop", noop);

fn same(x: u64) -> Result<u64, String> {
    Ok(x)
}
static SAME: Task<u64, u64, String> = Task::new("same", same);

// The argument is shared (`Arc`, serde's `rc` feature), so the benchmark does not copy it
// before each submit: Python passes the same object too.
fn len(bytes: Arc<ByteBuf>) -> Result<usize, String> {
    Ok(bytes.len())
}
static LEN: Task<Arc<ByteBuf>, usize, String> = Task::new("len", len);

fn echo(bytes: Arc<ByteBuf>) -> Result<Arc<ByteBuf>, String> {
    Ok(bytes)
}
static ECHO: Task<Arc<ByteBuf>, Arc<ByteBuf>, String> = Task::new("echo", echo);

fn pool(workers: usize) -> ProcessPoolExecutor {
    let pool = ProcessPoolExecutor::new(workers).expect("a pool");
    // Warm up: start every worker, as the Python script does with a map of 2 * workers.
    let warm: Vec<_> = (0..2 * workers)
        .map(|_| pool.submit(&NOOP, ()).expect("submitted"))
        .collect();
    for f in warm {
        f.result(None).expect("a warm-up task");
    }
    pool
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn case(
    name: &str,
    workers: usize,
    tasks: usize,
    repeat: usize,
    body: impl Fn(&ProcessPoolExecutor),
) {
    if std::env::var("ONLY_CASE").is_ok_and(|c| !name.starts_with(&c)) {
        return;
    }
    let runs: Vec<Duration> = (0..repeat)
        .map(|_| {
            let pool = pool(workers);
            let start = Instant::now();
            body(&pool);
            start.elapsed()
        })
        .collect();
    let per_task = median(runs) / tasks as u32;
    println!(
        "{name:<24} {workers} worker(s)  {:>9.1} µs/task  {:>9.0} tasks/s",
        per_task.as_secs_f64() * 1e6,
        1.0 / per_task.as_secs_f64()
    );
}

fn main() {
    process::guard(
        Registry::new()
            .register(&NOOP)
            .register(&SAME)
            .register(&LEN)
            .register(&ECHO),
    );
    let mut args = std::env::args().skip(1);
    let (mut tasks, mut repeat, mut map_items) = (2000usize, 3usize, 100_000usize);
    while let Some(a) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (a.as_str(), value) {
            ("--tasks", Some(v)) => tasks = v,
            ("--repeat", Some(v)) => repeat = v,
            ("--map-items", Some(v)) => map_items = v,
            _ => {
                eprintln!("usage: process-pool [--tasks N] [--repeat R] [--map-items M]");
                std::process::exit(2);
            }
        }
    }
    let big_tasks = (tasks / 10).max(1);
    let mib = Arc::new(ByteBuf::from(vec![7u8; 1 << 20]));
    let only: Option<usize> = std::env::var("ONLY_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok());
    for workers in [1, 2].into_iter().filter(|w| only.is_none_or(|o| o == *w)) {
        case("noop seq", workers, tasks, repeat, |p| {
            for _ in 0..tasks {
                p.submit(&NOOP, ()).unwrap().result(None).unwrap();
            }
        });
        case("noop batch", workers, tasks, repeat, |p| {
            let fs: Vec<_> = (0..tasks).map(|_| p.submit(&NOOP, ()).unwrap()).collect();
            for f in fs {
                f.result(None).unwrap();
            }
        });
        case("1 MiB -> len seq", workers, big_tasks, repeat, |p| {
            for _ in 0..big_tasks {
                p.submit(&LEN, mib.clone()).unwrap().result(None).unwrap();
            }
        });
        case("1 MiB echo seq", workers, big_tasks, repeat, |p| {
            for _ in 0..big_tasks {
                p.submit(&ECHO, mib.clone()).unwrap().result(None).unwrap();
            }
        });
    }
    for chunksize in [1, 64, 1024] {
        let name = format!("map chunksize {chunksize}");
        case(&name, 2, map_items, repeat, |p| {
            let n = p
                .map_chunked(&SAME, 0..map_items as u64, None, chunksize)
                .unwrap()
                .map(Result::unwrap)
                .count();
            assert_eq!(n, map_items);
        });
    }
    let start = Instant::now();
    drop(pool(2));
    println!(
        "pool start + warm-up + shutdown, 2 workers: {:.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
}
