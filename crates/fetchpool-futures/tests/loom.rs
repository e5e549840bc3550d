//! The future's state machine and the thread pool's crew, model-checked with loom: every
//! interleaving (up to the preemption bound, `LOOM_MAX_PREEMPTIONS`, 3 by default here, 2
//! for the whole pool) of `cancel`, a worker's `start` and `complete`,
//! `add_done_callback`, `result` with and without a timeout, `wait` and an `.await`'s poll;
//! and of the pool's admission (an idle worker claimed, or one started, never more than
//! `max_workers`), idle accounting and shutdown. Loom fails a model that deadlocks (a lost wake-up) or breaks an
//! assertion. Built only with `--cfg fetchpool_loom`:
//!
//! ```text
//! RUSTFLAGS="--cfg fetchpool_loom" cargo test -p fetchpool-futures --test loom --release
//! ```
#![cfg(fetchpool_loom)]

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use fetchpool_futures::{FutureError, PoolFuture, ThreadPoolExecutor, model};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

type F = PoolFuture<u32, String>;

/// Runs `f` under loom, with a preemption bound that keeps it to seconds.
fn check(f: impl Fn() + Sync + Send + 'static) {
    check_bounded(3, f);
}

/// Runs `f` under loom with at most `bound` preemptions (unless `LOOM_MAX_PREEMPTIONS`).
fn check_bounded(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(bound);
    }
    builder.check(f);
}

/// A worker: runs the task unless it was cancelled first.
fn worker(future: F) -> thread::JoinHandle<bool> {
    thread::spawn(move || {
        if model::start(&future) {
            model::complete(future, Ok(7));
            true
        } else {
            false
        }
    })
}

#[test]
fn cancel_and_a_worker_race_and_exactly_one_wins() {
    check(|| {
        let future: F = model::pending();
        let ran = worker(future.clone());
        let cancelled = future.cancel();
        let ran = ran.join().unwrap();
        assert!(cancelled != ran, "exactly one of cancel and run");
        assert!(future.done());
        let expected = if ran {
            Ok(7)
        } else {
            Err(FutureError::Cancelled)
        };
        assert_eq!(future.result(None), expected);
        assert_eq!(future.cancelled(), cancelled);
    });
}

#[test]
fn a_callback_added_while_the_future_completes_runs_exactly_once() {
    check(|| {
        let future: F = model::pending();
        let calls = Arc::new(AtomicUsize::new(0));
        let ran = worker(future.clone());
        let c = Arc::clone(&calls);
        future.add_done_callback(move |f| {
            assert!(f.done(), "a callback sees a done future");
            c.fetch_add(1, Ordering::SeqCst);
        });
        assert!(ran.join().unwrap());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn a_blocked_result_is_always_woken_by_completion_or_cancel() {
    check(|| {
        let future: F = model::pending();
        let waiter = {
            let f = future.clone();
            thread::spawn(move || f.result(None))
        };
        let ran = worker(future.clone());
        let cancelled = future.cancel();
        let outcome = waiter.join().unwrap();
        let ran = ran.join().unwrap();
        assert!(cancelled != ran);
        assert_eq!(
            outcome,
            if ran {
                Ok(7)
            } else {
                Err(FutureError::Cancelled)
            }
        );
    });
}

#[test]
fn result_with_a_timeout_gives_the_value_or_times_out_and_leaves_the_future_alone() {
    check(|| {
        let future: F = model::pending();
        let waiter = {
            let f = future.clone();
            thread::spawn(move || (f.result(Some(Duration::from_millis(1))), f.wait(None)))
        };
        assert!(worker(future.clone()).join().unwrap());
        let (outcome, done) = waiter.join().unwrap();
        assert!(
            matches!(outcome, Ok(7) | Err(FutureError::Timeout)),
            "{outcome:?}"
        );
        assert!(done, "wait(None) returns once it is done");
        assert_eq!(future.result(None), Ok(7));
    });
}

/// A waker that counts its wake-ups (loom's atomics, so the model sees them).
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn an_awaiting_task_that_saw_pending_is_woken_exactly_once() {
    check(|| {
        let future: F = model::pending();
        let counter = Arc::new(Counting(AtomicUsize::new(0)));
        let ran = worker(future.clone());
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        let mut awaiting = std::pin::pin!(future.clone().into_future());
        let first = awaiting.as_mut().poll(&mut cx);
        assert!(ran.join().unwrap());
        match first {
            Poll::Ready(outcome) => assert_eq!(outcome, Ok(7)),
            Poll::Pending => {
                // Left its waker before the completion: woken once, then ready.
                assert_eq!(counter.0.load(Ordering::SeqCst), 1);
                assert_eq!(awaiting.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));
            }
        }
        assert!(counter.0.load(Ordering::SeqCst) <= 1);
    });
}

#[test]
fn cancel_wakes_an_awaiting_task_and_a_blocked_wait() {
    check(|| {
        let future: F = model::pending();
        let counter = Arc::new(Counting(AtomicUsize::new(0)));
        let waiter = {
            let f = future.clone();
            thread::spawn(move || f.wait(None))
        };
        let waker = Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);
        let mut awaiting = std::pin::pin!(future.clone().into_future());
        let first = awaiting.as_mut().poll(&mut cx);
        assert!(future.cancel());
        assert!(waiter.join().unwrap());
        if first.is_pending() {
            assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        }
        assert_eq!(
            awaiting.as_mut().poll(&mut cx),
            Poll::Ready(Err(FutureError::Cancelled))
        );
    });
}

#[test]
fn a_submit_after_a_result_finds_that_worker_idle() {
    check_bounded(2, || {
        let pool = ThreadPoolExecutor::new(2).unwrap();
        let first = pool.submit(|| Ok::<_, String>(1)).unwrap();
        assert_eq!(first.result(None), Ok(1));
        let second = pool.submit(|| Ok::<_, String>(2)).unwrap();
        assert_eq!(second.result(None), Ok(2));
        assert_eq!(pool.threads_started(), 1, "the idle worker took it");
    });
}

#[test]
fn submits_from_two_threads_start_at_most_max_workers_and_all_run() {
    check_bounded(2, || {
        let pool = Arc::new(ThreadPoolExecutor::new(1).unwrap());
        let other = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.submit(|| Ok::<_, String>(1)).unwrap().result(None))
        };
        let mine = pool.submit(|| Ok::<_, String>(2)).unwrap().result(None);
        assert_eq!(other.join().unwrap(), Ok(1));
        assert_eq!(mine, Ok(2));
        assert_eq!(pool.threads_started(), 1);
    });
}

#[test]
fn shutdown_runs_what_is_queued_or_cancels_it_and_never_hangs() {
    check_bounded(2, || {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let future = pool.submit(|| Ok::<_, String>(3)).unwrap();
        let c = Arc::clone(&calls);
        future.add_done_callback(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        pool.shutdown(true, true);
        // Cancelled while queued, or run first: done either way, its callback once.
        assert!(future.done());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        match future.result(None) {
            Ok(v) => assert_eq!(v, 3),
            Err(e) => assert_eq!(e, FutureError::Cancelled),
        }
    });
}
