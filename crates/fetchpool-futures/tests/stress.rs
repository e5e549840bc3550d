//! Stress: 100,000 tiny tasks on 8 workers with random cancels and callbacks. Every future
//! ends exactly once (finished or cancelled), every callback runs exactly once, nothing
//! deadlocks. Bounded: a fixed task count and a generous timeout on every wait.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use common::PATIENCE;
use fetchpool_futures::{FutureError, ReturnWhen, ThreadPoolExecutor, as_completed, wait};

const TASKS: usize = 100_000;

#[test]
fn every_future_ends_once_and_every_callback_runs_once_under_random_cancels() {
    let pool = ThreadPoolExecutor::new(8).unwrap();
    let calls: Arc<Vec<AtomicU8>> = Arc::new((0..TASKS).map(|_| AtomicU8::new(0)).collect());
    let ran = Arc::new(AtomicUsize::new(0));
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut futures = Vec::with_capacity(TASKS);
    let mut cancelled_by_us = 0usize;
    for i in 0..TASKS {
        let r = ran.clone();
        let f = pool
            .submit(move || {
                r.fetch_add(1, Ordering::Relaxed);
                if i % 1000 == 999 {
                    Err(format!("task {i} failed"))
                } else {
                    Ok(i)
                }
            })
            .unwrap();
        if rng.f64() < 0.5 {
            let c = calls.clone();
            f.add_done_callback(move |_| {
                c[i].fetch_add(1, Ordering::SeqCst);
            });
        } else {
            calls[i].fetch_add(1, Ordering::SeqCst); // counted as "no callback wanted"
        }
        if rng.f64() < 0.2 && f.cancel() {
            cancelled_by_us += 1;
        }
        futures.push(f);
    }
    let split = wait(&futures, Some(PATIENCE * 4), ReturnWhen::AllCompleted);
    assert!(
        split.not_done.is_empty(),
        "{} futures never finished",
        split.not_done.len()
    );

    let mut finished = 0;
    let mut cancelled = 0;
    let mut failed = 0;
    for (i, f) in futures.iter().enumerate() {
        match f.result(Some(std::time::Duration::ZERO)) {
            Ok(v) => {
                assert_eq!(v, i);
                finished += 1;
            }
            Err(FutureError::Cancelled) => cancelled += 1,
            Err(FutureError::Task(_)) => failed += 1,
            Err(e) => panic!("future {i}: unexpected {e:?}"),
        }
    }
    drop(pool);
    assert_eq!(finished + cancelled + failed, TASKS);
    assert_eq!(cancelled, cancelled_by_us);
    assert_eq!(
        ran.load(Ordering::SeqCst),
        finished + failed,
        "cancelled tasks never ran"
    );
    for (i, c) in calls.iter().enumerate() {
        assert_eq!(c.load(Ordering::SeqCst), 1, "callback of future {i}");
    }
    assert!(cancelled > 0 && finished > 0 && failed > 0);
}

#[test]
fn as_completed_yields_each_of_many_futures_exactly_once() {
    let pool = ThreadPoolExecutor::new(8).unwrap();
    let futures: Vec<_> = (0..20_000usize)
        .map(|i| pool.submit(move || Ok::<_, String>(i)).unwrap())
        .collect();
    for f in futures.iter().step_by(7) {
        f.cancel();
    }
    let index: HashMap<_, usize> = futures.iter().cloned().zip(0..).collect();
    let mut seen = vec![false; futures.len()];
    for f in as_completed(&futures, Some(PATIENCE * 4)) {
        let i = index[&f.expect("no timeout")];
        assert!(!seen[i], "future {i} yielded twice");
        seen[i] = true;
    }
    assert!(seen.iter().all(|&s| s));
}
