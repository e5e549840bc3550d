//! Ported from CPython `Lib/test/test_concurrent_futures/test_future.py` (FutureTests).
//!
//! What changed: Python builds bare `Future()` objects and drives them with
//! `set_result`/`set_exception`; here only the executor completes futures, so each state is
//! reached through a pool whose tasks wait on a [`Gate`]. Python's "same exception object"
//! becomes "the same value for every caller" (outcomes are cloned). Tests of CPython-only
//! details (`InvalidStateError` from `set_result`, `_get_snapshot`) have no counterpart.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Gate, PATIENCE, eventually};
use fetchpool_futures::{FutureError, PoolFuture, TaskError, ThreadPoolExecutor, WaitError};

/// A one-worker pool whose worker is held by a gated task, so later submits stay pending.
fn held_pool() -> (ThreadPoolExecutor, Gate, PoolFuture<u32, String>) {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let g = gate.clone();
    let running = pool.submit(move || g.wait().map(|()| 1)).unwrap();
    eventually("the first task runs", || running.running());
    (pool, gate, running)
}

#[test]
fn a_queued_future_is_neither_running_nor_done_nor_cancelled() {
    let (pool, gate, _running) = held_pool();
    let f = pool.submit(|| Ok::<u32, String>(2)).unwrap();
    assert!(!f.running());
    assert!(!f.done());
    assert!(!f.cancelled());
    gate.open();
}

#[test]
fn a_future_being_run_reports_running_and_not_done() {
    let (_pool, gate, running) = held_pool();
    assert!(running.running());
    assert!(!running.done());
    assert!(!running.cancelled());
    gate.open();
}

#[test]
fn cancelling_a_queued_future_succeeds_and_makes_it_cancelled_and_done() {
    let (pool, gate, _running) = held_pool();
    let f = pool.submit(|| Ok::<u32, String>(2)).unwrap();
    assert!(f.cancel());
    assert!(f.cancelled());
    assert!(f.done());
    assert!(!f.running());
    gate.open();
}

#[test]
fn cancelling_a_running_future_fails_and_the_task_still_completes() {
    let (_pool, gate, running) = held_pool();
    assert!(!running.cancel());
    assert!(!running.cancelled());
    gate.open();
    assert_eq!(running.result(Some(PATIENCE)), Ok(1));
}

#[test]
fn cancelling_a_finished_future_fails_and_keeps_its_result() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let f = pool.submit(|| Ok::<u32, String>(7)).unwrap();
    assert_eq!(f.result(Some(PATIENCE)), Ok(7));
    assert!(!f.cancel());
    assert_eq!(f.result(None), Ok(7));
}

#[test]
fn cancelling_twice_returns_true_and_runs_the_callbacks_once() {
    let (pool, gate, _running) = held_pool();
    let f = pool.submit(|| Ok::<u32, String>(2)).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    f.add_done_callback(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    assert!(f.cancel());
    assert!(f.cancel());
    gate.open();
    drop(pool);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn result_returns_the_value_to_every_caller_and_thread() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let f = pool.submit(|| Ok::<_, String>(vec![1, 2, 3])).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let f = f.clone();
            thread::spawn(move || f.result(Some(PATIENCE)))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Ok(vec![1, 2, 3]));
    }
    assert_eq!(f.result(None), Ok(vec![1, 2, 3]));
}

#[test]
fn result_with_a_timeout_on_a_pending_future_times_out_and_leaves_it_unchanged() {
    let (pool, gate, running) = held_pool();
    let queued = pool.submit(|| Ok::<u32, String>(2)).unwrap();
    assert_eq!(
        running.result(Some(Duration::from_millis(20))),
        Err(FutureError::Timeout)
    );
    assert_eq!(
        queued.result(Some(Duration::ZERO)),
        Err(FutureError::Timeout)
    );
    assert!(running.running());
    assert!(!queued.done());
    gate.open();
    assert_eq!(queued.result(Some(PATIENCE)), Ok(2));
}

#[test]
fn a_zero_timeout_polls_a_done_future_without_blocking() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let f = pool.submit(|| Ok::<u32, String>(3)).unwrap();
    assert!(f.wait(Some(PATIENCE)));
    assert_eq!(f.result(Some(Duration::ZERO)), Ok(3));
    assert_eq!(f.exception(Some(Duration::ZERO)), Ok(None));
}

#[test]
fn result_of_a_failed_task_is_its_error_every_time() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let f = pool.submit(|| Err::<u32, _>("boom".to_string())).unwrap();
    let expected = Err(FutureError::Task(TaskError::Raised("boom".to_string())));
    assert_eq!(f.result(Some(PATIENCE)), expected);
    assert_eq!(f.result(Some(PATIENCE)), expected);
    assert_eq!(
        f.exception(None),
        Ok(Some(TaskError::Raised("boom".to_string())))
    );
}

#[test]
fn exception_is_none_when_the_task_returned_a_value() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let f = pool.submit(|| Ok::<u32, String>(1)).unwrap();
    assert_eq!(f.exception(Some(PATIENCE)), Ok(None));
}

#[test]
fn result_and_exception_of_a_cancelled_future_say_cancelled() {
    let (pool, gate, _running) = held_pool();
    let f = pool.submit(|| Ok::<u32, String>(2)).unwrap();
    f.cancel();
    assert_eq!(f.result(None), Err(FutureError::Cancelled));
    assert_eq!(f.exception(None), Err(WaitError::Cancelled));
    gate.open();
}

#[test]
fn a_thread_blocked_in_result_wakes_when_the_future_is_cancelled() {
    let (pool, gate, _running) = held_pool();
    let f = pool.submit(|| Ok::<u32, String>(2)).unwrap();
    let waiter = {
        let f = f.clone();
        thread::spawn(move || f.result(Some(PATIENCE)))
    };
    thread::sleep(Duration::from_millis(20));
    assert!(f.cancel());
    assert_eq!(waiter.join().unwrap(), Err(FutureError::Cancelled));
    gate.open();
}

#[test]
fn a_thread_blocked_in_result_wakes_when_the_task_finishes() {
    let (_pool, gate, running) = held_pool();
    let waiter = {
        let f = running.clone();
        thread::spawn(move || f.result(Some(PATIENCE)))
    };
    thread::sleep(Duration::from_millis(20));
    gate.open();
    assert_eq!(waiter.join().unwrap(), Ok(1));
}

#[test]
fn callbacks_run_once_each_in_the_order_added_with_the_future() {
    let (pool, gate, _running) = held_pool();
    let f = pool.submit(|| Ok::<u32, String>(5)).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for i in 0..3 {
        let seen = seen.clone();
        f.add_done_callback(move |fut| {
            seen.lock()
                .unwrap()
                .push((i, fut.result(Some(Duration::ZERO))));
        });
    }
    gate.open();
    drop(pool);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(0, Ok(5)), (1, Ok(5)), (2, Ok(5))]
    );
}

#[test]
fn callbacks_run_on_the_worker_that_completes_the_future() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("cbpool")
        .build()
        .unwrap();
    let gate = Gate::new();
    let g = gate.clone();
    let f = pool.submit(move || g.wait()).unwrap();
    let name = Arc::new(Mutex::new(None));
    let n = name.clone();
    f.add_done_callback(move |_| {
        *n.lock().unwrap() = thread::current().name().map(str::to_string);
    });
    gate.open();
    drop(pool);
    assert_eq!(name.lock().unwrap().as_deref(), Some("cbpool_0"));
}

#[test]
fn a_callback_added_to_a_done_future_runs_at_once_on_the_caller() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let f = pool.submit(|| Ok::<u32, String>(5)).unwrap();
    f.wait(Some(PATIENCE));
    let caller = thread::current().id();
    let ran_on = Arc::new(Mutex::new(None));
    let r = ran_on.clone();
    f.add_done_callback(move |_| *r.lock().unwrap() = Some(thread::current().id()));
    assert_eq!(*ran_on.lock().unwrap(), Some(caller));
}

#[test]
fn cancelling_runs_the_callbacks_on_the_cancelling_thread() {
    let (pool, gate, _running) = held_pool();
    let f = pool.submit(|| Ok::<u32, String>(2)).unwrap();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    f.add_done_callback(move |fut| {
        *s.lock().unwrap() = Some((thread::current().id(), fut.cancelled()));
    });
    f.cancel();
    assert_eq!(*seen.lock().unwrap(), Some((thread::current().id(), true)));
    gate.open();
}

#[test]
fn a_panicking_callback_does_not_stop_the_others_or_the_worker() {
    let (pool, gate, running) = held_pool();
    let calls = Arc::new(AtomicUsize::new(0));
    let c1 = calls.clone();
    let c2 = calls.clone();
    running.add_done_callback(move |_| {
        c1.fetch_add(1, Ordering::SeqCst);
    });
    running.add_done_callback(|_| panic!("callback failure (expected by the test)"));
    running.add_done_callback(move |_| {
        c2.fetch_add(1, Ordering::SeqCst);
    });
    gate.open();
    assert_eq!(running.result(Some(PATIENCE)), Ok(1));
    eventually("both healthy callbacks ran", || {
        calls.load(Ordering::SeqCst) == 2
    });
    let after = pool.submit(|| Ok::<u32, String>(9)).unwrap();
    assert_eq!(after.result(Some(PATIENCE)), Ok(9));
}

#[test]
fn debug_output_names_the_state_like_python_repr() {
    let (pool, gate, running) = held_pool();
    let queued = pool.submit(|| Ok::<u32, String>(2)).unwrap();
    let cancelled = pool.submit(|| Ok::<u32, String>(3)).unwrap();
    cancelled.cancel();
    assert!(format!("{running:?}").contains("state=running"));
    assert!(format!("{queued:?}").contains("state=pending"));
    assert!(format!("{cancelled:?}").contains("state=cancelled"));
    gate.open();
    queued.wait(Some(PATIENCE));
    assert!(format!("{queued:?}").contains("state=finished returned"));
    assert!(
        format!("{queued:?}").ends_with(&format!("returned {}>", std::any::type_name::<u32>())),
        "{queued:?}"
    );
    let failed = pool.submit(|| Err::<u32, _>("x".to_string())).unwrap();
    failed.wait(Some(PATIENCE));
    assert!(
        format!("{failed:?}").ends_with("state=finished raised String>"),
        "{failed:?}"
    );
    let vec = pool.submit(|| Ok::<_, String>(vec![1u8])).unwrap();
    vec.wait(Some(PATIENCE));
    assert!(format!("{vec:?}").ends_with("returned Vec<u8>>"), "{vec:?}");
}

#[test]
fn clones_of_a_future_are_equal_and_distinct_futures_are_not() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let a = pool.submit(|| Ok::<u32, String>(1)).unwrap();
    let b = pool.submit(|| Ok::<u32, String>(1)).unwrap();
    assert_eq!(a, a.clone());
    assert_ne!(a, b);
}

#[test]
fn wait_with_a_timeout_returns_false_for_a_pending_future_within_bounds() {
    let (_pool, gate, running) = held_pool();
    let start = Instant::now();
    assert!(!running.wait(Some(Duration::from_millis(50))));
    assert!(start.elapsed() >= Duration::from_millis(50));
    gate.open();
    assert!(running.wait(Some(PATIENCE)));
}

#[test]
fn futures_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PoolFuture<Vec<u8>, String>>();
    assert_send_sync::<ThreadPoolExecutor>();
}

#[test]
fn a_panicking_callback_is_reported_to_the_hook_and_the_others_still_run() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let tx = Mutex::new(tx);
    fetchpool_futures::set_report_hook(move |report| {
        let _ = tx.lock().unwrap().send(report.clone());
    });
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let g = gate.clone();
    let f = pool.submit(move || g.wait()).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    f.add_done_callback(|_| panic!("callback failure 7f3a (expected by the test)"));
    let r = ran.clone();
    f.add_done_callback(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
    });
    gate.open();
    f.result(Some(PATIENCE)).unwrap();
    let report = loop {
        let report = rx.recv_timeout(PATIENCE).expect("the hook was called");
        if report.message.contains("7f3a") {
            break report;
        }
    };
    assert!(
        report.context.starts_with("calling callback for"),
        "{report}"
    );
    assert!(report.to_string().starts_with("exception calling callback"));
    eventually("the second callback runs", || {
        ran.load(Ordering::SeqCst) == 1
    });
}
