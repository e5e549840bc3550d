//! Futures you can `.await`: the bridge Python builds with `asyncio.wrap_future`, for a
//! program that is `async` at its edges and hands blocking or CPU-bound work to a pool.
//!
//! No runtime is assumed (tokio, async-std, smol or a hand-written executor): awaiting a
//! [`PoolFuture`] leaves the task's waker on the future, under the future's lock, and the
//! thread that completes (or cancels) the future wakes it once, after releasing the lock.
//! Nothing blocks a thread and no wake-up is lost: the check for a terminal state and the
//! registration happen under one lock acquisition, as for `wait` and `as_completed`.
//!
//! Dropping the awaiting side (a `select!` that took another branch, a timeout) leaves the
//! task alone: it runs on and its future completes as usual; the waker it left is removed.
//! `asyncio.wrap_future` does the opposite (cancelling the asyncio future cancels the
//! concurrent one); here dropping an `async` value is routine in Rust and must not reach
//! into the pool, so call [`PoolFuture::cancel`] to cancel.
//!
//! Timeouts belong to the runtime (`tokio::time::timeout(d, future)`): this crate has no
//! timer. [`as_completed_async`] and [`wait_async`] are the `async` forms of
//! [`as_completed`](crate::as_completed) and [`wait`](crate::wait), without their timeout
//! for that reason.

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use crate::future::{FutureError, PoolFuture, WakeSlot};
use crate::sync::Recover as _;
use crate::wait::{DoneAndNotDone, Registration, ReturnWhen, unique};

/// Gives each [`Completion`] its own id, under which it leaves its waker.
static NEXT_COMPLETION_ID: AtomicU64 = AtomicU64::new(0);

/// A [`PoolFuture`] being awaited: resolves to what [`PoolFuture::result`] returns.
///
/// Made by `.await` on a future (or on a reference to one), through [`IntoFuture`].
///
/// ```
/// use fetchpool_futures::ThreadPoolExecutor;
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let waker = std::task::Waker::noop();
/// #     let mut cx = std::task::Context::from_waker(waker);
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #         std::thread::yield_now();
/// #     }
/// # }
/// let executor = ThreadPoolExecutor::new(2)?;
/// let future = executor.submit(|| Ok::<_, String>(6 * 7))?;
/// // In an async fn, on any runtime:
/// let answer = block_on(async { future.await });
/// assert_eq!(answer, Ok(42));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a Completion does nothing unless awaited"]
pub struct Completion<T, E> {
    future: PoolFuture<T, E>,
    id: u64,
    /// Whether a waker may be left on the future (to remove when dropped early).
    waiting: bool,
}

impl<T, E> fmt::Debug for Completion<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("future", &self.future)
            .finish()
    }
}

impl<T: Clone, E: Clone> Future for Completion<T, E> {
    type Output = Result<T, FutureError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let poll = this.future.poll_outcome(this.id, cx);
        this.waiting = poll.is_pending();
        poll
    }
}

impl<T, E> Drop for Completion<T, E> {
    fn drop(&mut self) {
        if self.waiting {
            self.future.forget_waker(self.id);
        }
    }
}

impl<T: Clone, E: Clone> IntoFuture for PoolFuture<T, E> {
    type Output = Result<T, FutureError<E>>;
    type IntoFuture = Completion<T, E>;

    fn into_future(self) -> Completion<T, E> {
        Completion {
            future: self,
            id: NEXT_COMPLETION_ID.fetch_add(1, Ordering::Relaxed),
            waiting: false,
        }
    }
}

impl<T: Clone, E: Clone> IntoFuture for &PoolFuture<T, E> {
    type Output = Result<T, FutureError<E>>;
    type IntoFuture = Completion<T, E>;

    fn into_future(self) -> Completion<T, E> {
        self.clone().into_future()
    }
}

/// Yields futures as they complete, to `async` code: the `async` form of
/// [`as_completed`](crate::as_completed) (without a timeout: use the runtime's).
///
/// ```
/// use fetchpool_futures::{ThreadPoolExecutor, as_completed_async};
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #         std::thread::yield_now();
/// #     }
/// # }
/// let executor = ThreadPoolExecutor::new(2)?;
/// let futures: Vec<_> = (1..=3u64)
///     .map(|n| executor.submit(move || Ok::<_, String>(n * n)))
///     .collect::<Result<_, _>>()?;
/// let total = block_on(async {
///     let mut completed = as_completed_async(&futures);
///     let mut total = 0;
///     while let Some(future) = completed.next().await {
///         total += future.await.unwrap();
///     }
///     total
/// });
/// assert_eq!(total, 14);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn as_completed_async<T, E, I>(fs: I) -> AsCompletedAsync<T, E>
where
    I: IntoIterator,
    I::Item: Borrow<PoolFuture<T, E>>,
{
    let fs = unique(fs);
    let wake = Arc::new(WakeSlot::new(None));
    let (registration, already_done) = Registration::new(&fs, Some(&wake));
    let remaining = fs.len();
    AsCompletedAsync {
        slots: fs.into_iter().map(Some).collect(),
        ready: already_done.into_iter().collect(),
        remaining,
        registration: (remaining > 0).then_some(registration),
        wake,
    }
}

/// What [`as_completed_async`] returns: call [`next`](Self::next) until it gives `None`.
///
/// ```
/// use fetchpool_futures::{ThreadPoolExecutor, as_completed_async};
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #         std::thread::yield_now();
/// #     }
/// # }
/// let pool = ThreadPoolExecutor::new(2)?;
/// let futures = [pool.submit(|| Ok::<_, String>(1))?, pool.submit(|| Ok::<_, String>(2))?];
/// let mut completed = as_completed_async(&futures);
/// let count = block_on(async {
///     let mut count = 0;
///     while completed.next().await.is_some() {
///         count += 1;
///     }
///     count
/// });
/// assert_eq!(count, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AsCompletedAsync<T, E> {
    /// Each distinct future by index, taken when yielded.
    slots: Vec<Option<PoolFuture<T, E>>>,
    /// Indices found done at the start, yielded first.
    ready: VecDeque<usize>,
    /// Futures not yet yielded.
    remaining: usize,
    /// Live until every future is yielded; dropping it unregisters from them all.
    registration: Option<Registration<T, E>>,
    /// Where a completing future finds this task's waker.
    wake: Arc<WakeSlot>,
}

impl<T, E> fmt::Debug for AsCompletedAsync<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedAsync")
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl<T, E> AsCompletedAsync<T, E> {
    /// Takes the future at `key` if it has not been yielded yet.
    fn take(&mut self, key: usize) -> Option<PoolFuture<T, E>> {
        let f = self.slots.get_mut(key)?.take()?;
        self.remaining -= 1;
        if self.remaining == 0 {
            self.registration = None;
        } else if let Some(registration) = &mut self.registration {
            registration.forget(key);
        }
        Some(f)
    }

    /// The next future to complete, or `None` once every one has been yielded: the
    /// polling form of [`next`](Self::next), for a `Stream` implementation.
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use fetchpool_futures::{ThreadPoolExecutor, as_completed_async};
    ///
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let future = pool.submit(|| Ok::<_, String>(()))?;
    /// future.wait(None);
    /// let mut completed = as_completed_async([&future]);
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(matches!(completed.poll_next(&mut cx), Poll::Ready(Some(_))));
    /// assert!(matches!(completed.poll_next(&mut cx), Poll::Ready(None)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<PoolFuture<T, E>>> {
        while let Some(key) = self.ready.pop_front() {
            if let Some(f) = self.take(key) {
                return Poll::Ready(Some(f));
            }
        }
        loop {
            let Some(registration) = &self.registration else {
                return Poll::Ready(None);
            };
            if let Ok(key) = registration.rx.try_recv() {
                if let Some(f) = self.take(key) {
                    return Poll::Ready(Some(f));
                }
                continue;
            }
            // Leave the waker, then look again: a completion between the two is seen
            // now, one after finds the waker.
            *self.wake.lock().recover() = Some(cx.waker().clone());
            match registration.rx.try_recv() {
                Ok(key) => {
                    if let Some(f) = self.take(key) {
                        return Poll::Ready(Some(f));
                    }
                }
                Err(_) => return Poll::Pending,
            }
        }
    }

    /// The next future to complete (each once, those already done first), or `None` once
    /// every one has been yielded.
    ///
    /// ```
    /// use fetchpool_futures::{ThreadPoolExecutor, as_completed_async};
    ///
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #         std::thread::yield_now();
    /// #     }
    /// # }
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let future = pool.submit(|| Ok::<_, String>(3))?;
    /// let mut completed = as_completed_async([&future]);
    /// let first = block_on(completed.next()).expect("one future");
    /// assert_eq!(first.result(None)?, 3);
    /// assert!(block_on(completed.next()).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn next(&mut self) -> Option<PoolFuture<T, E>> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }
}

/// Waits until `return_when` holds: the `async` form of [`wait`](crate::wait) (without a
/// timeout: wrap it in the runtime's).
///
/// ```
/// use fetchpool_futures::{ReturnWhen, ThreadPoolExecutor, wait_async};
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
/// #         std::thread::yield_now();
/// #     }
/// # }
/// let executor = ThreadPoolExecutor::new(2)?;
/// let futures: Vec<_> = (0..4)
///     .map(|n| executor.submit(move || Ok::<_, String>(n)))
///     .collect::<Result<_, _>>()?;
/// let split = block_on(wait_async(&futures, ReturnWhen::AllCompleted));
/// assert_eq!(split.done.len(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn wait_async<T, E, I>(fs: I, return_when: ReturnWhen) -> DoneAndNotDone<T, E>
where
    I: IntoIterator,
    I::Item: Borrow<PoolFuture<T, E>>,
{
    let fs = unique(fs);
    let mut completed = as_completed_async(&fs);
    while let Some(future) = completed.next().await {
        let enough = match return_when {
            ReturnWhen::FirstCompleted => true,
            ReturnWhen::FirstException => future.raised(),
            ReturnWhen::AllCompleted => false,
        };
        if enough {
            break;
        }
    }
    drop(completed);
    let (done, not_done) = fs.into_iter().partition(PoolFuture::done);
    DoneAndNotDone { done, not_done }
}
