//! Ported from CPython `Lib/test/test_concurrent_futures/test_wait.py` and
//! `test_as_completed.py`.
//!
//! What changed: Python's fixtures (`PENDING_FUTURE`, `CANCELLED_AND_NOTIFIED_FUTURE`, …) are
//! reached through gated tasks; `wait` returns vectors in first-seen order instead of sets.
//! Added: the CPython bugs this port fixes (gh-87893, gh-92001: a future cancelled while
//! queued counts as complete) and a deadline fixed at the call (gh-73919).

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{Gate, PATIENCE, eventually};
use fetchpool_futures::{
    AsCompletedTimeout, PoolFuture, ReturnWhen, ThreadPoolExecutor, as_completed, wait,
};

type F = PoolFuture<u32, String>;

/// A task that returns `v` once `gate` opens.
fn gated(pool: &ThreadPoolExecutor, gate: &Gate, v: u32) -> F {
    let g = gate.clone();
    pool.submit(move || g.wait().map(|()| v)).unwrap()
}

fn finished(pool: &ThreadPoolExecutor, v: u32) -> F {
    let f = pool.submit(move || Ok(v)).unwrap();
    assert!(f.wait(Some(PATIENCE)));
    f
}

fn failed(pool: &ThreadPoolExecutor) -> F {
    let f = pool.submit(|| Err("boom".to_string())).unwrap();
    assert!(f.wait(Some(PATIENCE)));
    f
}

#[test]
fn first_completed_returns_when_one_future_finishes() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let slow_gate = Gate::new();
    let fast_gate = Gate::new();
    let slow = gated(&pool, &slow_gate, 1);
    let fast = gated(&pool, &fast_gate, 2);
    let opener = {
        let g = fast_gate.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            g.open();
        })
    };
    let r = wait([&slow, &fast], Some(PATIENCE), ReturnWhen::FirstCompleted);
    assert_eq!(r.done, vec![fast.clone()]);
    assert_eq!(r.not_done, vec![slow.clone()]);
    opener.join().unwrap();
    slow_gate.open();
}

#[test]
fn first_completed_returns_at_once_when_a_future_is_already_done() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let gate = Gate::new();
    let pending = gated(&pool, &gate, 1);
    let done = finished(&pool, 2);
    let r = wait([&pending, &done], None, ReturnWhen::FirstCompleted);
    assert_eq!(r.done, vec![done]);
    assert_eq!(r.not_done, vec![pending]);
    gate.open();
}

#[test]
fn first_completed_counts_a_cancelled_queued_future_as_completed() {
    // CPython gh-92001: wait() blocked forever on a future cancelled while queued.
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let running = gated(&pool, &gate, 1);
    let queued = gated(&pool, &gate, 2);
    let canceller = {
        let q = queued.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            q.cancel()
        })
    };
    let r = wait(
        [&running, &queued],
        Some(PATIENCE),
        ReturnWhen::FirstCompleted,
    );
    assert!(canceller.join().unwrap());
    assert_eq!(r.done, vec![queued]);
    assert_eq!(r.not_done, vec![running]);
    gate.open();
}

#[test]
fn first_exception_returns_when_a_future_fails() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let gate = Gate::new();
    let pending = gated(&pool, &gate, 1);
    let failing = pool
        .submit(|| {
            thread::sleep(Duration::from_millis(20));
            Err::<u32, _>("boom".to_string())
        })
        .unwrap();
    let r = wait(
        [&pending, &failing],
        Some(PATIENCE),
        ReturnWhen::FirstException,
    );
    assert_eq!(r.done, vec![failing]);
    assert_eq!(r.not_done, vec![pending]);
    gate.open();
}

#[test]
fn first_exception_returns_at_once_when_a_failed_future_is_given() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let gate = Gate::new();
    let pending = gated(&pool, &gate, 1);
    let bad = failed(&pool);
    let ok = finished(&pool, 3);
    let r = wait([&ok, &bad, &pending], None, ReturnWhen::FirstException);
    assert_eq!(r.done, vec![ok, bad]);
    assert_eq!(r.not_done, vec![pending]);
    gate.open();
}

#[test]
fn first_exception_without_any_failure_waits_for_all_and_counts_cancellations() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let running = gated(&pool, &gate, 1);
    let queued = gated(&pool, &gate, 2);
    queued.cancel();
    let opener = {
        let g = gate.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            g.open();
        })
    };
    let r = wait(
        [&running, &queued],
        Some(PATIENCE),
        ReturnWhen::FirstException,
    );
    opener.join().unwrap();
    assert_eq!(r.done, vec![running, queued]);
    assert!(r.not_done.is_empty());
}

#[test]
fn all_completed_waits_for_every_future() {
    let pool = ThreadPoolExecutor::new(4).unwrap();
    let fs: Vec<F> = (0..8)
        .map(|i| {
            pool.submit(move || {
                thread::sleep(Duration::from_millis(u64::from(i % 3)));
                Ok(i)
            })
            .unwrap()
        })
        .collect();
    let r = wait(&fs, Some(PATIENCE), ReturnWhen::AllCompleted);
    assert_eq!(r.done, fs);
    assert!(r.not_done.is_empty());
}

#[test]
fn a_timeout_returns_the_partial_split_and_cancels_nothing() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let gate = Gate::new();
    let pending = gated(&pool, &gate, 1);
    let done = finished(&pool, 2);
    let r = wait(
        [&pending, &done],
        Some(Duration::from_millis(50)),
        ReturnWhen::AllCompleted,
    );
    assert_eq!(r.done, vec![done]);
    assert_eq!(r.not_done, vec![pending.clone()]);
    assert!(!pending.cancelled());
    gate.open();
    assert_eq!(pending.result(Some(PATIENCE)), Ok(1));
}

#[test]
fn duplicate_futures_collapse_into_one() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let f = finished(&pool, 1);
    let r = wait([&f, &f, &f], None, ReturnWhen::AllCompleted);
    assert_eq!(r.done, vec![f]);
}

#[test]
fn waiting_on_no_futures_returns_at_once() {
    let r = wait(Vec::<F>::new(), None, ReturnWhen::AllCompleted);
    assert!(r.done.is_empty() && r.not_done.is_empty());
}

#[test]
fn futures_from_different_executors_can_be_mixed() {
    let a = ThreadPoolExecutor::new(1).unwrap();
    let b = ThreadPoolExecutor::new(1).unwrap();
    let fa = finished(&a, 1);
    let fb = finished(&b, 2);
    let r = wait([&fa, &fb], None, ReturnWhen::AllCompleted);
    assert_eq!(r.done.len(), 2);
}

#[test]
fn as_completed_yields_done_futures_first_then_in_completion_order() {
    let pool = ThreadPoolExecutor::new(3).unwrap();
    let g1 = Gate::new();
    let g2 = Gate::new();
    let first_done = finished(&pool, 0);
    let later = gated(&pool, &g1, 1);
    let latest = gated(&pool, &g2, 2);
    let mut it = as_completed([&latest, &later, &first_done], Some(PATIENCE));
    assert_eq!(it.next().unwrap().unwrap(), first_done);
    g1.open();
    assert_eq!(it.next().unwrap().unwrap(), later);
    g2.open();
    assert_eq!(it.next().unwrap().unwrap(), latest);
    assert!(it.next().is_none());
}

#[test]
fn as_completed_yields_each_duplicate_once() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let f = finished(&pool, 1);
    let got: Vec<_> = as_completed(std::iter::repeat_n(&f, 3), None).collect();
    assert_eq!(got, vec![Ok(f)]);
}

#[test]
fn as_completed_with_zero_timeout_yields_the_done_then_reports_how_many_are_unfinished() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let running = gated(&pool, &gate, 1);
    let pending = gated(&pool, &gate, 2);
    let cancelled = gated(&pool, &gate, 4);
    cancelled.cancel();
    let mut it = as_completed([&cancelled, &pending, &running], Some(Duration::ZERO));
    assert_eq!(it.next().unwrap().unwrap(), cancelled);
    let err = it.next().unwrap().unwrap_err();
    assert_eq!(
        err,
        AsCompletedTimeout {
            unfinished: 2,
            total: 3
        }
    );
    assert_eq!(err.to_string(), "2 (of 3) futures unfinished");
    assert!(it.next().is_none());
    assert!(!pending.cancelled() && !running.cancelled());
    gate.open();
}

#[test]
fn as_completed_timeout_message_counts_unique_futures() {
    // Python: [CANCELLED_AND_NOTIFIED, PENDING, RUNNING, SUCCESSFUL], timeout 0,
    // raises '2 (of 4) futures unfinished'.
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let successful = finished(&pool, 0);
    let running = gated(&pool, &gate, 1);
    eventually("running", || running.running());
    let pending = gated(&pool, &gate, 2);
    let cancelled = gated(&pool, &gate, 3);
    cancelled.cancel();
    let results: Vec<_> = as_completed(
        [&cancelled, &pending, &running, &successful],
        Some(Duration::ZERO),
    )
    .collect();
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[2].as_ref().unwrap_err().to_string(),
        "2 (of 4) futures unfinished"
    );
    gate.open();
}

#[test]
fn as_completed_yields_futures_cancelled_by_shutdown() {
    // CPython gh-87893: as_completed hung forever on futures cancelled by
    // shutdown(cancel_futures=True).
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let running = gated(&pool, &gate, 1);
    eventually("running", || running.running());
    let queued: Vec<F> = (0..5).map(|i| gated(&pool, &gate, i)).collect();
    let shutter = thread::spawn({
        let gate = gate.clone();
        move || {
            thread::sleep(Duration::from_millis(20));
            pool.shutdown(false, true);
            gate.open();
            pool
        }
    });
    let mut all = queued.clone();
    all.push(running.clone());
    let yielded: Vec<F> = as_completed(&all, Some(PATIENCE))
        .map(Result::unwrap)
        .collect();
    assert_eq!(yielded.len(), 6);
    assert!(queued.iter().all(PoolFuture::cancelled));
    drop(shutter.join().unwrap());
}

#[test]
fn as_completed_deadline_starts_at_the_call_not_at_the_first_next() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let pending = gated(&pool, &gate, 1);
    let mut it = as_completed([&pending], Some(Duration::from_millis(1500)));
    thread::sleep(Duration::from_millis(1600));
    // The deadline passed during the sleep, so the first next() must not wait another
    // 1.5 s (which is what a deadline fixed at the first next() would do); a busy machine
    // may delay it a little, never that much.
    let start = Instant::now();
    assert!(it.next().unwrap().is_err());
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "{:?}",
        start.elapsed()
    );
    gate.open();
}

// ---- found by an independent review (issue 8) ----

#[test]
fn as_completed_over_no_futures_yields_nothing_with_or_without_a_timeout() {
    let none: Vec<F> = Vec::new();
    assert_eq!(as_completed(&none, None).count(), 0);
    assert_eq!(as_completed(&none, Some(Duration::ZERO)).count(), 0);
    assert_eq!(as_completed(&none, Some(PATIENCE)).count(), 0);
}

#[test]
fn as_completed_keeps_nothing_of_a_yielded_future_once_the_caller_drops_it() {
    // CPython's test_free_reference_yielded_future: the results are `Arc`s, so a `Weak`
    // tells whether anything (the iterator included) still holds the future.
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let gate = Gate::new();
    let done: Vec<PoolFuture<std::sync::Arc<u32>, String>> = (0..3)
        .map(|i| pool.submit(move || Ok(std::sync::Arc::new(i))).unwrap())
        .collect();
    // `wait` is told of a completion only after the worker let go of its handle.
    assert!(
        wait(&done, Some(PATIENCE), ReturnWhen::AllCompleted)
            .not_done
            .is_empty()
    );
    let g = gate.clone();
    let blocked = pool
        .submit(move || g.wait().map(|()| std::sync::Arc::new(99)))
        .unwrap();
    let mut all = done;
    all.push(blocked);
    let mut it = as_completed(all, Some(PATIENCE));
    for _ in 0..3 {
        let f = it.next().unwrap().unwrap();
        let value = f.result(Some(Duration::ZERO)).unwrap();
        let weak = std::sync::Arc::downgrade(&value);
        drop(value);
        drop(f);
        assert!(
            weak.upgrade().is_none(),
            "the iterator still holds a yielded future"
        );
    }
    gate.open();
    let last = it.next().unwrap().unwrap();
    assert_eq!(*last.result(Some(PATIENCE)).unwrap(), 99);
    assert!(it.next().is_none());
}
