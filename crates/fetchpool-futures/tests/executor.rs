//! Ported from CPython `Lib/test/test_concurrent_futures/test_shutdown.py`,
//! `test_thread_pool.py`, `test_init.py` and the `map`/`submit` cases of `executor.py`
//! (ExecutorTest).
//!
//! What changed: Python's `with` block is `Drop`; `len(executor._threads)` is
//! `threads_started()`; the initializer returns `Result` instead of raising; `map` is lazy
//! with a window by default, so the "every task is submitted during the call" test becomes
//! "exactly `window` inputs are consumed by the call". Added: panics, a task shutting down
//! its own pool, the bounded queue.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{Gate, PATIENCE, eventually};
use fetchpool_futures::{
    BuildError, FutureError, MapError, PoolFuture, SubmitError, TaskError, ThreadPoolExecutor,
};

// ---- submit ----

#[test]
fn submit_runs_the_task_and_returns_its_value() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let f = pool.submit(|| Ok::<_, String>(323u64.pow(3))).unwrap();
    assert_eq!(f.result(Some(PATIENCE)), Ok(33_698_267));
}

#[test]
fn a_panicking_task_becomes_the_futures_exception_and_the_pool_keeps_serving() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let f = pool
        .submit(|| -> Result<u32, String> { panic!("task failure (expected by the test)") })
        .unwrap();
    assert_eq!(
        f.result(Some(PATIENCE)),
        Err(FutureError::Task(TaskError::Panicked(
            "task failure (expected by the test)".to_string()
        )))
    );
    let g = pool.submit(|| Ok::<u32, String>(2)).unwrap();
    assert_eq!(g.result(Some(PATIENCE)), Ok(2));
    assert_eq!(pool.threads_started(), 1, "the worker survived the panic");
}

#[test]
fn waiters_blocked_on_a_panicking_task_are_released() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let g = gate.clone();
    let f = pool
        .submit(move || -> Result<u32, String> {
            g.wait()?;
            panic!("task failure (expected by the test)")
        })
        .unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let f = f.clone();
            thread::spawn(move || f.result(Some(PATIENCE)))
        })
        .collect();
    gate.open();
    for w in waiters {
        assert!(matches!(
            w.join().unwrap(),
            Err(FutureError::Task(TaskError::Panicked(_)))
        ));
    }
}

// ---- test_thread_pool ----

#[test]
fn default_max_workers_is_cpus_plus_four_capped_at_32() {
    let cpus = thread::available_parallelism().unwrap().get();
    let pool = ThreadPoolExecutor::builder().build().unwrap();
    assert_eq!(pool.max_workers(), (cpus + 4).min(32));
}

#[test]
fn zero_max_workers_is_an_error() {
    assert_eq!(
        ThreadPoolExecutor::new(0).unwrap_err(),
        BuildError::ZeroWorkers
    );
    assert_eq!(
        ThreadPoolExecutor::new(0).unwrap_err().to_string(),
        "max_workers must be greater than 0"
    );
}

#[test]
fn threads_are_named_with_the_prefix_and_their_index() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(5)
        .thread_name_prefix("SpecialPool")
        .build()
        .unwrap();
    let names = names_of_all_workers(&pool, 5);
    for name in &names {
        let i: usize = name.strip_prefix("SpecialPool_").unwrap().parse().unwrap();
        assert!(i < 5, "{name}");
    }
}

#[test]
fn threads_without_a_prefix_are_named_thread_pool_executor_k_i() {
    let pool = ThreadPoolExecutor::new(5).unwrap();
    for name in names_of_all_workers(&pool, 5) {
        let rest = name.strip_prefix("ThreadPoolExecutor-").unwrap();
        let (k, i) = rest.split_once('_').unwrap();
        assert!(
            k.parse::<usize>().is_ok() && i.parse::<usize>().unwrap() < 5,
            "{name}"
        );
    }
}

/// Occupies all `n` workers at once and returns their thread names.
fn names_of_all_workers(pool: &ThreadPoolExecutor, n: usize) -> Vec<String> {
    let gate = Gate::new();
    let started = Arc::new(AtomicUsize::new(0));
    let fs: Vec<_> = (0..n)
        .map(|_| {
            let (g, s) = (gate.clone(), started.clone());
            pool.submit(move || {
                s.fetch_add(1, Ordering::SeqCst);
                g.wait()?;
                Ok::<_, String>(thread::current().name().unwrap().to_string())
            })
            .unwrap()
        })
        .collect();
    eventually("all workers busy", || started.load(Ordering::SeqCst) == n);
    gate.open();
    let mut names: Vec<String> = fs
        .iter()
        .map(|f| f.result(Some(PATIENCE)).unwrap())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n);
    names
}

#[test]
fn sequential_submit_and_result_reuse_one_idle_thread() {
    let pool = ThreadPoolExecutor::new(8).unwrap();
    for i in 0..3u32 {
        let f = pool.submit(move || Ok::<_, String>(i * 2)).unwrap();
        assert_eq!(f.result(Some(PATIENCE)), Ok(i * 2));
    }
    assert_eq!(pool.threads_started(), 1);
}

#[test]
fn sixty_blocked_tasks_start_exactly_max_workers_threads() {
    let pool = ThreadPoolExecutor::new(4).unwrap();
    let gate = Gate::new();
    let fs: Vec<_> = (0..60)
        .map(|_| {
            let g = gate.clone();
            pool.submit(move || g.wait()).unwrap()
        })
        .collect();
    assert_eq!(pool.threads_started(), 4);
    gate.open();
    for f in &fs {
        assert_eq!(f.result(Some(PATIENCE)), Ok(()));
    }
    assert_eq!(pool.threads_started(), 4);
}

// ---- test_init ----

#[test]
fn the_initializer_runs_once_in_each_worker_before_its_first_task() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("init")
        .initializer(move || {
            l.lock()
                .unwrap()
                .push(format!("init {}", thread::current().name().unwrap()));
            Ok::<(), String>(())
        })
        .build()
        .unwrap();
    // Hold both workers busy at once, so each has started (and initialized).
    let gate = Gate::new();
    let fs: Vec<_> = (0..2)
        .map(|_| {
            let (g, l) = (gate.clone(), log.clone());
            pool.submit(move || {
                let name = thread::current().name().unwrap().to_string();
                l.lock().unwrap().push(format!("task {name}"));
                g.wait()
            })
            .unwrap()
        })
        .collect();
    eventually("both tasks run", || log.lock().unwrap().len() == 4);
    gate.open();
    for f in &fs {
        f.result(Some(PATIENCE)).unwrap();
    }
    let more = pool.submit(|| Ok::<_, String>(1)).unwrap();
    more.result(Some(PATIENCE)).unwrap();
    let log = log.lock().unwrap().clone();
    for worker in ["init_0", "init_1"] {
        let init = log.iter().position(|e| *e == format!("init {worker}"));
        let task = log.iter().position(|e| *e == format!("task {worker}"));
        assert!(init.is_some() && init < task, "{worker}: {log:?}");
    }
    assert_eq!(
        log.len(),
        4,
        "one initializer run per worker, no more: {log:?}"
    );
}

#[test]
fn a_failing_initializer_breaks_the_pool_for_queued_and_later_tasks() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .initializer(|| Err::<(), _>("no database"))
        .build()
        .unwrap();
    // The first task starts the worker, whose initializer fails: the pool may be broken
    // before the later submits, which are then refused (CPython raises BrokenThreadPool).
    let mut fs: Vec<PoolFuture<u32, String>> = Vec::new();
    for _ in 0..5 {
        match pool.submit(|| Ok(1)) {
            Ok(f) => fs.push(f),
            Err(SubmitError::Broken(msg)) => assert!(msg.contains("no database"), "{msg}"),
            Err(other) => panic!("expected a broken-pool refusal, got {other:?}"),
        }
    }
    assert!(!fs.is_empty(), "the first submit is accepted");
    for f in &fs {
        match f.result(Some(PATIENCE)) {
            Err(FutureError::Task(TaskError::Broken(msg))) => {
                assert!(
                    msg.contains("initializer failed") && msg.contains("no database"),
                    "{msg}"
                );
            }
            other => panic!("expected a broken-pool error, got {other:?}"),
        }
    }
    eventually("the pool refuses new work", || {
        matches!(
            pool.submit(|| Ok::<u32, String>(1)),
            Err(SubmitError::Broken(_))
        )
    });
}

#[test]
fn a_panicking_initializer_also_breaks_the_pool() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| -> Result<(), String> {
            panic!("initializer failure (expected by the test)")
        })
        .build()
        .unwrap();
    let f = pool.submit(|| Ok::<u32, String>(1)).unwrap();
    assert!(matches!(
        f.result(Some(PATIENCE)),
        Err(FutureError::Task(TaskError::Broken(_)))
    ));
}

// ---- test_shutdown ----

#[test]
fn submit_after_shutdown_fails_with_an_error_saying_so() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    pool.shutdown(true, false);
    let err = pool.submit(|| Ok::<u32, String>(1)).unwrap_err();
    assert_eq!(err, SubmitError::Shutdown);
    assert_eq!(
        err.to_string(),
        "cannot schedule new futures after shutdown"
    );
}

#[test]
fn shutdown_is_idempotent() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let f = pool.submit(|| Ok::<u32, String>(1)).unwrap();
    pool.shutdown(true, false);
    pool.shutdown(true, false);
    pool.shutdown(false, true);
    assert_eq!(f.result(None), Ok(1));
}

#[test]
fn work_queued_before_shutdown_still_runs() {
    // test_hang_issue12364: 50 sleeping tasks, then shutdown(); all results available.
    let pool = ThreadPoolExecutor::new(5).unwrap();
    let fs: Vec<_> = (0..50u32)
        .map(|i| {
            pool.submit(move || {
                thread::sleep(Duration::from_millis(2));
                Ok::<_, String>(i)
            })
            .unwrap()
        })
        .collect();
    pool.shutdown(true, false);
    for (i, f) in fs.iter().enumerate() {
        assert_eq!(f.result(Some(Duration::ZERO)), Ok(i as u32));
    }
}

#[test]
fn shutdown_with_cancel_futures_cancels_queued_work_and_lets_running_work_finish() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let g = gate.clone();
    let running = pool.submit(move || g.wait().map(|()| 1u32)).unwrap();
    eventually("running", || running.running());
    let queued: Vec<_> = (0..10)
        .map(|i| pool.submit(move || Ok::<u32, String>(i)).unwrap())
        .collect();
    pool.shutdown(false, true);
    assert!(queued.iter().all(|f| f.cancelled() && f.done()));
    gate.open();
    pool.shutdown(true, false);
    assert_eq!(running.result(None), Ok(1));
}

#[test]
fn shutdown_without_wait_returns_while_work_still_finishes() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let g = gate.clone();
    let f = pool.submit(move || g.wait().map(|()| "apple")).unwrap();
    pool.shutdown(false, false);
    assert!(!f.done());
    gate.open();
    assert_eq!(f.result(Some(PATIENCE)), Ok("apple"));
}

#[test]
fn dropping_the_executor_waits_for_queued_work() {
    let done = Arc::new(AtomicUsize::new(0));
    {
        let pool = ThreadPoolExecutor::new(2).unwrap();
        for _ in 0..10 {
            let d = done.clone();
            pool.submit(move || {
                thread::sleep(Duration::from_millis(2));
                d.fetch_add(1, Ordering::SeqCst);
                Ok::<(), String>(())
            })
            .unwrap();
        }
    }
    assert_eq!(done.load(Ordering::SeqCst), 10);
}

#[test]
fn a_task_that_shuts_down_its_own_pool_does_not_deadlock() {
    let pool = Arc::new(ThreadPoolExecutor::new(2).unwrap());
    let p = pool.clone();
    let f = pool
        .submit(move || {
            p.shutdown(true, false);
            Ok::<_, String>("shut down from inside")
        })
        .unwrap();
    assert_eq!(f.result(Some(PATIENCE)), Ok("shut down from inside"));
    assert_eq!(
        pool.submit(|| Ok::<u32, String>(1)).unwrap_err(),
        SubmitError::Shutdown
    );
}

#[test]
fn dropping_the_last_handle_inside_a_task_does_not_deadlock() {
    let pool = Arc::new(ThreadPoolExecutor::new(1).unwrap());
    let gate = Gate::new();
    let (p, g) = (pool.clone(), gate.clone());
    let f = pool
        .submit(move || {
            g.wait()?;
            drop(p); // the last handle once the test drops its own
            Ok::<_, String>(5)
        })
        .unwrap();
    drop(pool);
    gate.open();
    assert_eq!(f.result(Some(PATIENCE)), Ok(5));
}

#[test]
fn concurrent_shutdowns_with_wait_all_return_after_the_work() {
    let pool = Arc::new(ThreadPoolExecutor::new(2).unwrap());
    let finished = Arc::new(AtomicUsize::new(0));
    for _ in 0..4 {
        let f = finished.clone();
        pool.submit(move || {
            thread::sleep(Duration::from_millis(20));
            f.fetch_add(1, Ordering::SeqCst);
            Ok::<(), String>(())
        })
        .unwrap();
    }
    let joiners: Vec<_> = (0..3)
        .map(|_| {
            let (p, f) = (pool.clone(), finished.clone());
            thread::spawn(move || {
                p.shutdown(true, false);
                f.load(Ordering::SeqCst)
            })
        })
        .collect();
    for j in joiners {
        assert_eq!(j.join().unwrap(), 4);
    }
}

// ---- the bounded queue (no Python counterpart: gh-73781) ----

#[test]
fn submit_blocks_when_the_bounded_queue_is_full_until_a_worker_takes_a_task() {
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .queue_capacity(2)
            .build()
            .unwrap(),
    );
    let gate = Gate::new();
    let g = gate.clone();
    let running = pool.submit(move || g.wait()).unwrap();
    eventually("running", || running.running());
    pool.submit(|| Ok::<(), String>(())).unwrap();
    pool.submit(|| Ok::<(), String>(())).unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let p = pool.clone();
    let submitter = thread::spawn(move || {
        let f = p.submit(|| Ok::<(), String>(())).unwrap();
        tx.send(()).unwrap();
        f
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "submit returned although the queue was full"
    );
    gate.open();
    rx.recv_timeout(PATIENCE)
        .expect("submit returned once there was room");
    let f = submitter.join().unwrap();
    assert_eq!(f.result(Some(PATIENCE)), Ok(()));
}

#[test]
fn a_zero_queue_capacity_is_an_error() {
    let err = ThreadPoolExecutor::builder()
        .queue_capacity(0)
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::ZeroQueue);
}

// ---- map (executor.py ExecutorTest) ----

#[test]
fn map_yields_results_in_input_order() {
    let pool = ThreadPoolExecutor::new(4).unwrap();
    let got: Vec<_> = pool
        .map(
            |i: u64| {
                thread::sleep(Duration::from_millis((10 - i) % 4));
                Ok::<_, String>(i * i)
            },
            0..10u64,
            None,
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, (0..10).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn map_continues_after_an_error_at_one_position() {
    // gh-108518: divmod over [5,5,5,5] / [2,3,0,5].
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let got: Vec<_> = pool
        .map(
            |(a, b): (u32, u32)| match (a.checked_div(b), a.checked_rem(b)) {
                (Some(q), Some(r)) => Ok((q, r)),
                _ => Err("division by zero".to_string()),
            },
            [(5, 2), (5, 3), (5, 0), (5, 5)],
            None,
        )
        .collect();
    assert_eq!(
        got,
        vec![
            Ok((2, 1)),
            Ok((1, 2)),
            Err(MapError::Task(TaskError::Raised(
                "division by zero".to_string()
            ))),
            Ok((1, 0)),
        ]
    );
}

#[test]
fn map_timeout_returns_finished_results_then_times_out_and_cancels_the_rest() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let g = gate.clone();
    let mut it = pool.map_window(
        move |i: u32| {
            if i == 1 {
                g.wait()?;
            }
            Ok::<_, String>(i)
        },
        0..100u32,
        Some(Duration::from_millis(100)),
        4,
    );
    assert_eq!(it.next(), Some(Ok(0)));
    assert_eq!(it.next(), Some(Err(MapError::Timeout)));
    assert_eq!(it.next(), None);
    drop(it);
    gate.open();
}

#[test]
fn map_returns_a_finished_result_even_after_the_deadline() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let mut it = pool.map(Ok::<u32, String>, [1, 2], Some(Duration::from_millis(30)));
    thread::sleep(Duration::from_millis(60));
    assert_eq!(it.next(), Some(Ok(1)));
    assert_eq!(it.next(), Some(Ok(2)));
    assert_eq!(it.next(), None);
}

#[test]
fn a_task_error_that_looks_like_a_timeout_does_not_end_map() {
    // gh-155852: a TimeoutError raised by fn was mistaken for the map timeout.
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let got: Vec<_> = pool
        .map(
            |i: u32| if i == 1 { Err("timed out") } else { Ok(i) },
            0..4u32,
            Some(PATIENCE),
        )
        .collect();
    assert_eq!(
        got,
        vec![
            Ok(0),
            Err(MapError::Task(TaskError::Raised("timed out"))),
            Ok(2),
            Ok(3)
        ]
    );
}

#[test]
fn map_consumes_only_its_window_of_input_before_iteration() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let consumed = Arc::new(AtomicUsize::new(0));
    let c = consumed.clone();
    let input = (0..1_000_000u32).inspect(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    let it = pool.map_window(Ok::<u32, String>, input, None, 3);
    assert_eq!(consumed.load(Ordering::SeqCst), 3);
    drop(it);
}

#[test]
fn map_works_on_an_endless_input() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let got: Vec<String> = pool
        .map(|i: u64| Ok::<_, String>(i.to_string()), 0.., None)
        .take(5)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, ["0", "1", "2", "3", "4"]);
}

#[test]
fn dropping_the_map_iterator_cancels_tasks_not_yet_started() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let (g, r, s) = (gate.clone(), ran.clone(), started.clone());
    let it = pool.map_window(
        move |i: u32| {
            if i == 0 {
                s.fetch_add(1, Ordering::SeqCst);
                g.wait()?;
            }
            r.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(i)
        },
        0..10u32,
        None,
        5,
    );
    eventually("the first task runs", || {
        started.load(Ordering::SeqCst) == 1
    });
    drop(it);
    gate.open();
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 1, "only the running task ran");
}

#[test]
fn map_on_a_shut_down_executor_reports_the_rejection() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    pool.shutdown(true, false);
    let got: Vec<_> = pool.map(Ok::<u32, String>, [1, 2], None).collect();
    assert_eq!(got, vec![Err(MapError::Rejected(SubmitError::Shutdown))]);
}

#[test]
fn map_over_nothing_is_empty() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    assert_eq!(pool.map(Ok::<u32, String>, Vec::new(), None).count(), 0);
}

// ---- found by an independent review (issue 8) ----

/// Panics when dropped: data a task captured, or a result nobody looks at.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("drop failure (expected by the test)");
    }
}

/// Runs `f` on another thread; fails the test if it panics or has not returned within
/// twice `PATIENCE` (a hang then fails the test instead of hanging the suite).
fn returns_in_time(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = crossbeam_channel::bounded(1);
    thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(2 * PATIENCE).is_ok(),
        "failed or hung: {what}"
    );
}

#[test]
fn a_cancelled_task_whose_data_panics_on_drop_kills_no_worker_and_shutdown_returns() {
    returns_in_time("the test", || {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        let gate = Gate::new();
        let g = gate.clone();
        let blocker = pool.submit(move || g.wait()).unwrap();
        let bomb = PanicsOnDrop;
        let doomed = pool
            .submit(move || {
                let _keep = &bomb;
                Ok::<_, String>(())
            })
            .unwrap();
        assert!(doomed.cancel());
        gate.open();
        blocker.result(Some(PATIENCE)).unwrap();
        let after = pool.submit(|| Ok::<_, String>(7)).unwrap();
        assert_eq!(
            after.result(Some(PATIENCE)),
            Ok(7),
            "the worker still serves"
        );
        assert_eq!(pool.threads_started(), 1);
        pool.shutdown(true, false);
    });
}

#[test]
fn an_unobserved_result_that_panics_on_drop_kills_no_worker_and_drop_returns() {
    returns_in_time("the test", || {
        let pool = ThreadPoolExecutor::new(1).unwrap();
        drop(pool.submit(|| Ok::<_, String>(PanicsOnDrop)).unwrap());
        let after = pool.submit(|| Ok::<_, String>(7)).unwrap();
        assert_eq!(
            after.result(Some(PATIENCE)),
            Ok(7),
            "the worker still serves"
        );
        assert_eq!(pool.threads_started(), 1);
        drop(pool);
    });
}

#[test]
fn shutdown_cancelling_a_task_whose_data_panics_on_drop_cancels_it_and_returns() {
    let pool = Arc::new(ThreadPoolExecutor::new(1).unwrap());
    let gate = Gate::new();
    let g = gate.clone();
    let blocker = pool.submit(move || g.wait()).unwrap();
    let bomb = PanicsOnDrop;
    let queued = pool
        .submit(move || {
            let _keep = &bomb;
            Ok::<_, String>(())
        })
        .unwrap();
    // The blocker must be running, or the shutdown would cancel it too.
    eventually("the blocker runs", || blocker.running());
    let p = Arc::clone(&pool);
    returns_in_time("shutdown(cancel_futures)", move || p.shutdown(false, true));
    assert!(queued.cancelled());
    gate.open();
    blocker.result(Some(PATIENCE)).unwrap();
    returns_in_time("shutdown(wait)", move || pool.shutdown(true, false));
}

#[test]
fn a_worker_running_a_slow_callback_is_not_idle_so_the_next_task_gets_a_new_thread() {
    let pool = ThreadPoolExecutor::new(4).unwrap();
    let (task_gate, callback_gate) = (Gate::new(), Gate::new());
    let in_callback = Arc::new(AtomicUsize::new(0));
    let g = task_gate.clone();
    let slow = pool.submit(move || g.wait()).unwrap();
    let (cg, seen) = (callback_gate.clone(), in_callback.clone());
    slow.add_done_callback(move |_| {
        seen.store(1, Ordering::SeqCst);
        let _ = cg.wait();
    });
    task_gate.open();
    eventually("the callback runs", || {
        in_callback.load(Ordering::SeqCst) == 1
    });
    let next = pool.submit(|| Ok::<_, String>(1)).unwrap();
    // Behind the callback it would wait for the gate; a new thread answers at once.
    assert_eq!(next.result(Some(Duration::from_secs(5))), Ok(1));
    assert_eq!(pool.threads_started(), 2);
    callback_gate.open();
}

#[test]
fn map_with_a_window_of_one_runs_two_tasks_at_once_as_cpython_buffersize_does() {
    let pool = ThreadPoolExecutor::new(4).unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (r, m) = (running.clone(), most.clone());
    let got: Vec<_> = pool
        .map_window(
            move |i: u32| {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                // Wait (bounded) for a second task to overlap this one.
                let start = std::time::Instant::now();
                while r.load(Ordering::SeqCst) < 2 && start.elapsed() < Duration::from_secs(5) {
                    thread::sleep(Duration::from_millis(1));
                }
                r.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, String>(i)
            },
            0..4u32,
            None,
            1,
        )
        .collect();
    assert_eq!(got, vec![Ok(0), Ok(1), Ok(2), Ok(3)]);
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "window + 1 tasks outstanding"
    );
}

#[test]
fn an_unbounded_map_window_neither_preallocates_nor_panics() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let got: Vec<_> = pool
        .map_window(Ok::<u32, String>, 0..10, None, usize::MAX)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    let huge = ThreadPoolExecutor::new(usize::MAX).unwrap();
    assert_eq!(huge.map(Ok::<u32, String>, 0..3, None).count(), 3);
}

#[test]
fn an_empty_thread_name_prefix_means_the_default_prefix() {
    let pool = ThreadPoolExecutor::builder()
        .thread_name_prefix("")
        .max_workers(1)
        .build()
        .unwrap();
    let name = pool
        .submit(|| Ok::<_, String>(thread::current().name().map(str::to_string)))
        .unwrap()
        .result(Some(PATIENCE))
        .unwrap()
        .unwrap();
    assert!(name.starts_with("ThreadPoolExecutor-"), "{name}");
    assert!(name.ends_with("_0"), "{name}");
}
