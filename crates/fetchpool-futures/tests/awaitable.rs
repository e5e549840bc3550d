//! `.await` on a `PoolFuture`, `as_completed_async` and `wait_async`, on tokio's
//! current-thread and multi-thread runtimes and under a waker that counts its wake-ups:
//! each awaiting task is woken exactly once, no wake-up is lost, and dropping the awaiting
//! side leaves the task alone.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use common::{Gate, PATIENCE, eventually};
use fetchpool_futures::{
    FutureError, PoolFuture, ReturnWhen, TaskError, ThreadPoolExecutor, as_completed_async,
    wait_async,
};

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

/// A task that returns `value` once `gate` opens.
fn behind<T: Send + 'static>(
    pool: &ThreadPoolExecutor,
    gate: &Gate,
    value: T,
) -> PoolFuture<T, String> {
    let gate = gate.clone();
    pool.submit(move || {
        gate.wait()?;
        Ok(value)
    })
    .unwrap()
}

/// A waker that counts how often it is woken.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_future_awaited_on_either_runtime_resolves_to_its_result_or_error() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    for rt in [current_thread(), multi_thread()] {
        let slow = pool
            .submit(|| {
                std::thread::sleep(Duration::from_millis(30));
                Ok::<_, String>(7)
            })
            .unwrap();
        let failing = pool.submit(|| Err::<u32, _>("no".to_string())).unwrap();
        rt.block_on(async {
            assert_eq!(tokio::time::timeout(PATIENCE, slow).await.unwrap(), Ok(7));
            assert_eq!(
                tokio::time::timeout(PATIENCE, failing).await.unwrap(),
                Err(FutureError::Task(TaskError::Raised("no".to_string())))
            );
        });
    }
}

#[test]
fn many_tasks_awaiting_many_futures_on_a_multi_thread_runtime_each_get_theirs() {
    let pool = ThreadPoolExecutor::new(3).unwrap();
    let rt = multi_thread();
    let futures: Vec<_> = (0..2_000u64)
        .map(|i| pool.submit(move || Ok::<_, String>(i * 2)).unwrap())
        .collect();
    let sum = rt.block_on(async {
        let handles: Vec<_> = futures
            .into_iter()
            .map(|f| tokio::spawn(async move { f.await.unwrap() }))
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += tokio::time::timeout(PATIENCE, h).await.unwrap().unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..2_000u64).map(|i| i * 2).sum::<u64>());
}

#[test]
fn an_awaiting_task_is_woken_exactly_once_when_the_future_completes() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let future = behind(&pool, &gate, 5);
    let counter = Arc::new(Counting::default());
    let waker = Waker::from(Arc::clone(&counter));
    let mut cx = Context::from_waker(&waker);
    let mut awaiting = std::pin::pin!(future.clone().into_future());
    // Polled twice while pending (the second leaves the same waker again).
    assert!(awaiting.as_mut().poll(&mut cx).is_pending());
    assert!(awaiting.as_mut().poll(&mut cx).is_pending());
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    gate.open();
    eventually("the future is woken", || {
        counter.0.load(Ordering::SeqCst) > 0
    });
    assert_eq!(awaiting.as_mut().poll(&mut cx), Poll::Ready(Ok(5)));
    // Never woken again, whatever happens after.
    assert!(future.wait(Some(PATIENCE)));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
}

#[test]
fn cancelling_a_queued_future_wakes_its_awaiting_task_with_cancelled() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let blocker = behind(&pool, &gate, ());
    let queued = pool.submit(|| Ok::<_, String>(1)).unwrap();
    let rt = multi_thread();
    let awaited = rt.spawn(queued.clone().into_future());
    std::thread::sleep(Duration::from_millis(20));
    assert!(queued.cancel());
    let outcome = rt.block_on(async { tokio::time::timeout(PATIENCE, awaited).await });
    assert_eq!(outcome.unwrap().unwrap(), Err(FutureError::Cancelled));
    gate.open();
    assert_eq!(blocker.result(Some(PATIENCE)), Ok(()));
}

#[test]
fn dropping_the_awaiting_side_leaves_the_task_running_to_its_end() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let gate = Gate::new();
    let future = behind(&pool, &gate, "done");
    let rt = current_thread();
    let timed_out = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(20), &future)
            .await
            .is_err()
    });
    assert!(timed_out, "the await was dropped at its timeout");
    assert!(!future.cancelled());
    gate.open();
    assert_eq!(future.result(Some(PATIENCE)), Ok("done"));
}

#[test]
fn as_completed_async_yields_each_future_once_those_done_first() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let gate = Gate::new();
    let done = pool.submit(|| Ok::<_, String>(0)).unwrap();
    assert!(done.wait(Some(PATIENCE)));
    let later: Vec<_> = (1..=5).map(|i| behind(&pool, &gate, i)).collect();
    let mut all = vec![done.clone()];
    all.extend(later.iter().cloned());
    all.push(done.clone()); // a duplicate collapses
    for rt in [current_thread(), multi_thread()] {
        let gate = gate.clone();
        let all = all.clone();
        let values = rt.block_on(async move {
            let mut completed = as_completed_async(&all);
            let first = completed.next().await.unwrap();
            gate.open();
            let mut values = vec![first.await.unwrap()];
            while let Some(f) = tokio::time::timeout(PATIENCE, completed.next())
                .await
                .unwrap()
            {
                values.push(f.await.unwrap());
            }
            values
        });
        assert_eq!(values[0], 0, "the future already done comes first");
        let mut sorted = values.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3, 4, 5], "each once");
    }
}

#[test]
fn wait_async_returns_at_the_first_completion_or_exception() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    let gate = Gate::new();
    let blocked = behind(&pool, &gate, 1);
    let quick = pool.submit(|| Err::<i32, _>("boom".to_string())).unwrap();
    let rt = current_thread();
    let futures = [blocked.clone(), quick.clone()];
    let first = rt.block_on(async {
        tokio::time::timeout(PATIENCE, wait_async(&futures, ReturnWhen::FirstException))
            .await
            .unwrap()
    });
    assert_eq!(first.done, std::slice::from_ref(&quick));
    assert_eq!(first.not_done, std::slice::from_ref(&blocked));
    gate.open();
    let all = rt.block_on(async {
        tokio::time::timeout(PATIENCE, wait_async(&futures, ReturnWhen::AllCompleted))
            .await
            .unwrap()
    });
    assert_eq!(all.done.len(), 2);
    assert!(all.not_done.is_empty());
}
