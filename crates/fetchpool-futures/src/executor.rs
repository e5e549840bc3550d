//! The thread pool: Python's `ThreadPoolExecutor` (`submit`, `shutdown`, lazy workers).
//!
//! # Design
//!
//! Work items travel over one crossbeam channel (unbounded, or bounded when the builder
//! asks for backpressure) to worker threads that are started lazily, counted idle and
//! waited for by the shared [`Crew`] (see `crate::crew`): three sequential
//! `submit(..).result()` calls use one thread, deterministically, because a worker marks
//! itself idle *before* it publishes its task's outcome.
//!
//! Shutdown drops the pool's `Sender`. Workers keep receiving until the channel is empty
//! *and* disconnected, so queued work still runs (Python's behaviour) unless
//! `cancel_futures` drained and cancelled it first.

use crate::sync::thread;
use std::fmt;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::crew::Crew;

use super::error::{BuildError, ChunksizeError, SubmitError};
use super::future::{Inner, PoolFuture, Slot, TaskError, panic_message, report_panic};
use super::map::MapIter;
use crate::sync::Recover;

/// A job erased of its types, as it travels to a worker.
trait Job: Send + Sync {
    /// PENDING → RUNNING; `false` if it was cancelled (then the worker skips it).
    fn start(&self) -> bool;
    /// Runs the task and publishes its outcome; calls `free` once the worker can take the
    /// next task (see `PoolFuture::complete_then`).
    fn run(self: Arc<Self>, free: &dyn Fn());
    /// Cancels it (shutdown with `cancel_futures`), then drops the task.
    fn cancel(self: Arc<Self>);
    /// Drops the task of a job that was cancelled while queued.
    fn discard(&self);
    /// Fails it with the pool's broken message.
    fn fail_broken(self: Arc<Self>, message: &str);
}

/// One submitted task and its future, in a single allocation: the channel carries it as
/// an `Arc<dyn Job>`, every `PoolFuture` handle as an `Arc<dyn Slot>`.
struct TaskCell<T, E, F> {
    /// The future's state.
    inner: Inner<T, E>,
    /// The user's closure, taken when it runs (or dropped when it is cancelled), so the
    /// cell keeps nothing the task captured once it is done (Python's
    /// test_no_stale_references).
    task: Mutex<Option<F>>,
}

impl<T, E, F> TaskCell<T, E, F> {
    fn take_task(&self) -> Option<F> {
        self.task.lock().recover().take()
    }
}

impl<T, E, F> Slot<T, E> for TaskCell<T, E, F>
where
    T: Send,
    E: Send,
    F: Send,
{
    fn inner(&self) -> &Inner<T, E> {
        &self.inner
    }
}

impl<T, E, F> Job for TaskCell<T, E, F>
where
    T: Send + 'static,
    E: Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    fn start(&self) -> bool {
        self.inner.start()
    }

    fn run(self: Arc<Self>, free: &dyn Fn()) {
        let Some(task) = self.take_task() else {
            debug_assert!(false, "a task runs at most once");
            return;
        };
        // The closure is consumed inside the guard, so a panic while dropping what it
        // captured is caught like a panic in its body.
        let outcome = match catch_unwind(AssertUnwindSafe(task)) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(TaskError::Raised(e)),
            Err(payload) => Err(TaskError::Panicked(panic_message(payload.as_ref()))),
        };
        PoolFuture::from_slot(self).complete_then(outcome, free);
    }

    fn cancel(self: Arc<Self>) {
        // Cancel first: a task whose captured data panics on drop is still cancelled, and
        // its waiters still wake.
        PoolFuture::from_slot(Arc::clone(&self) as Arc<dyn Slot<T, E>>).cancel();
        self.discard();
    }

    fn discard(&self) {
        let task = self.take_task();
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(task))) {
            report_panic("dropping a cancelled task", payload.as_ref());
        }
    }

    fn fail_broken(self: Arc<Self>, message: &str) {
        self.discard();
        PoolFuture::from_slot(self).complete(Err(TaskError::Broken(message.to_string())));
    }
}

/// The initializer, shareable by all workers.
type Initializer = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What the executor handle and every worker share.
struct Shared {
    /// The worker threads, their queue and bookkeeping (see `crate::crew`).
    crew: Crew<Arc<dyn Job>, ()>,
    /// Threads are named `{prefix}_{i}`.
    prefix: String,
    /// Runs once in each worker before its first task.
    initializer: Option<Initializer>,
}

/// Counts executors built without a name prefix, for Python's `ThreadPoolExecutor-{k}`.
static POOL_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Configures a [`ThreadPoolExecutor`]: the keyword arguments of Python's constructor, plus
/// an optional bound on the submission queue.
///
/// ```
/// use fetchpool_futures::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::builder()
///     .max_workers(4)
///     .thread_name_prefix("fetch")
///     .initializer(|| Ok::<(), String>(()))
///     .queue_capacity(100)
///     .build()?;
/// assert_eq!(pool.max_workers(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ThreadPoolBuilder {
    max_workers: Option<usize>,
    thread_name_prefix: Option<String>,
    initializer: Option<Initializer>,
    queue_capacity: Option<usize>,
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.thread_name_prefix)
            .field("initializer", &self.initializer.is_some())
            .field("queue_capacity", &self.queue_capacity)
            .finish()
    }
}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ThreadPoolBuilder {
    /// A builder with Python's defaults.
    ///
    /// ```
    /// use fetchpool_futures::ThreadPoolBuilder;
    ///
    /// let pool = ThreadPoolBuilder::new().build()?; // min(32, cpus + 4) workers
    /// assert!(pool.max_workers() >= 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Self {
        ThreadPoolBuilder {
            max_workers: None,
            thread_name_prefix: None,
            initializer: None,
            queue_capacity: None,
        }
    }

    /// At most this many worker threads: Python's `max_workers`. Default
    /// `min(32, cpus + 4)`, as in Python 3.13. Zero makes [`build`](Self::build) fail.
    ///
    /// ```
    /// use fetchpool_futures::{BuildError, ThreadPoolExecutor};
    ///
    /// assert_eq!(ThreadPoolExecutor::builder().max_workers(3).build()?.max_workers(), 3);
    /// assert_eq!(
    ///     ThreadPoolExecutor::builder().max_workers(0).build().unwrap_err(),
    ///     BuildError::ZeroWorkers
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Names threads `{prefix}_{i}`: Python's `thread_name_prefix`. Default (also for an
    /// empty prefix, as in Python) `ThreadPoolExecutor-{k}` with a process-wide counter `k`.
    ///
    /// ```
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::builder().thread_name_prefix("fetch").build()?;
    /// let name = pool
    ///     .submit(|| Ok::<_, String>(std::thread::current().name().map(str::to_string)))?
    ///     .result(None)?;
    /// assert_eq!(name.as_deref(), Some("fetch_0"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name_prefix = Some(prefix.into());
        self
    }

    /// Runs `f` once in each worker before its first task: Python's `initializer` (capture
    /// what Python passes as `initargs`). If it returns `Err` or panics, the pool is broken:
    /// queued futures fail with [`TaskError::Broken`] and later submits are refused.
    ///
    /// ```
    /// use fetchpool_futures::{SubmitError, TaskError, ThreadPoolExecutor};
    ///
    /// let broken = ThreadPoolExecutor::builder()
    ///     .initializer(|| Err::<(), _>("no database"))
    ///     .build()?;
    /// let first = broken.submit(|| Ok::<_, String>(1))?;
    /// assert!(matches!(first.exception(None), Ok(Some(TaskError::Broken(_)))));
    /// assert!(matches!(broken.submit(|| Ok::<_, String>(2)), Err(SubmitError::Broken(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn initializer<F, E>(mut self, f: F) -> Self
    where
        F: Fn() -> Result<(), E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        self.initializer = Some(Arc::new(move || f().map_err(|e| e.to_string())));
        self
    }

    /// Bounds the submission queue: once `n` tasks wait for a worker, `submit` blocks until
    /// one is taken. Python has no such option (gh-73781); the default is unbounded, as there.
    ///
    /// ```
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// // At most 2 tasks wait for the one worker: a third submit waits for room.
    /// let pool = ThreadPoolExecutor::builder().max_workers(1).queue_capacity(2).build()?;
    /// let futures: Vec<_> = (0..5)
    ///     .map(|i| pool.submit(move || Ok::<_, String>(i)))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(futures[4].result(None)?, 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = Some(n);
        self
    }

    /// Builds the pool. No thread starts until the first `submit`.
    ///
    /// # Errors
    /// [`BuildError::ZeroWorkers`] if `max_workers` is 0; [`BuildError::ZeroQueue`] if
    /// `queue_capacity` is 0.
    ///
    /// ```
    /// use fetchpool_futures::{BuildError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::builder().max_workers(2).build()?;
    /// assert_eq!(pool.threads_started(), 0, "threads start at the first submit");
    /// let refused = ThreadPoolExecutor::builder().queue_capacity(0).build();
    /// assert_eq!(refused.unwrap_err(), BuildError::ZeroQueue);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<ThreadPoolExecutor, BuildError> {
        let max_workers = match self.max_workers {
            Some(0) => return Err(BuildError::ZeroWorkers),
            Some(n) => n,
            None => default_max_workers(),
        };
        if self.queue_capacity == Some(0) {
            return Err(BuildError::ZeroQueue);
        }
        // An empty prefix means the default, as Python's `thread_name_prefix or ...`.
        let prefix = self
            .thread_name_prefix
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| {
                format!(
                    "ThreadPoolExecutor-{}",
                    POOL_COUNTER.fetch_add(1, Ordering::Relaxed)
                )
            });
        Ok(ThreadPoolExecutor {
            shared: Arc::new(Shared {
                crew: Crew::new(max_workers, self.queue_capacity, ()),
                prefix,
                initializer: self.initializer,
            }),
        })
    }
}

/// Python 3.13's default: `min(32, cpus + 4)`.
fn default_max_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    (cpus + 4).min(32)
}

/// A pool of worker threads that run submitted closures: Python's
/// `concurrent.futures.ThreadPoolExecutor`.
///
/// Dropping the executor is `shutdown(wait = true)`, like leaving Python's `with` block:
/// queued work still runs and the drop returns when every worker has exited (unless the drop
/// happens on one of the pool's own workers, which cannot wait for itself).
///
/// The executor is `Send + Sync`; share it by reference or in an `Arc`.
///
/// ```
/// use fetchpool_futures::{ThreadPoolExecutor, as_completed};
///
/// let pool = ThreadPoolExecutor::new(5)?;
/// let futures: Vec<_> = ["a", "bb", "ccc"]
///     .into_iter()
///     .map(|s| pool.submit(move || Ok::<_, String>(s.len())))
///     .collect::<Result<_, _>>()?;
/// let mut total = 0;
/// for future in as_completed(&futures, None) {
///     total += future?.result(None)?;
/// }
/// assert_eq!(total, 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ThreadPoolExecutor {
    shared: Arc<Shared>,
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.crew.lock();
        f.debug_struct("ThreadPoolExecutor")
            .field("prefix", &self.shared.prefix)
            .field("max_workers", &self.shared.crew.max_workers)
            .field("threads", &state.started)
            .field("shutdown", &state.sender.is_none())
            .field("broken", &state.broken)
            .finish()
    }
}

impl ThreadPoolExecutor {
    /// A pool of at most `max_workers` threads: `ThreadPoolExecutor(max_workers=n)`.
    ///
    /// # Errors
    /// [`BuildError::ZeroWorkers`] if `max_workers` is 0.
    ///
    /// ```
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(2)?;
    /// assert_eq!(pool.submit(|| Ok::<_, String>(21 * 2))?.result(None)?, 42);
    /// assert!(ThreadPoolExecutor::new(0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(max_workers: usize) -> Result<Self, BuildError> {
        ThreadPoolBuilder::new().max_workers(max_workers).build()
    }

    /// A builder for the other options.
    ///
    /// ```
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::builder().max_workers(8).build()?;
    /// assert_eq!(pool.max_workers(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
    }

    /// The most threads this pool will run.
    ///
    /// ```
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// assert_eq!(ThreadPoolExecutor::new(3)?.max_workers(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.crew.max_workers
    }

    /// How many worker threads have been started so far (Python: `len(executor._threads)`).
    ///
    /// ```
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(4)?;
    /// assert_eq!(pool.threads_started(), 0);
    /// pool.submit(|| Ok::<_, String>(()))?.result(None)?;
    /// assert_eq!(pool.threads_started(), 1, "an idle worker is reused");
    /// pool.submit(|| Ok::<_, String>(()))?.result(None)?;
    /// assert_eq!(pool.threads_started(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn threads_started(&self) -> usize {
        self.shared.crew.lock().started
    }

    /// Schedules `task` and returns its future at once: Python's `Executor.submit(fn)`.
    ///
    /// The task's `Err` becomes the future's exception ([`TaskError::Raised`]); a panic is
    /// caught and becomes [`TaskError::Panicked`], and the worker lives on. Starts a worker
    /// only if none is idle and fewer than `max_workers` exist. Blocks only if the builder
    /// set a `queue_capacity` and that many tasks are waiting.
    ///
    /// # Errors
    /// [`SubmitError::Broken`] if an initializer failed (checked first, as in Python), then
    /// [`SubmitError::Shutdown`] after `shutdown`.
    ///
    /// ```
    /// use fetchpool_futures::{FutureError, TaskError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(2)?;
    /// let ok = pool.submit(|| Ok::<u32, String>(7))?;
    /// let raised = pool.submit(|| Err::<u32, _>("bad input".to_string()))?;
    /// assert_eq!(ok.result(None), Ok(7));
    /// assert_eq!(
    ///     raised.result(None),
    ///     Err(FutureError::Task(TaskError::Raised("bad input".to_string())))
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit<T, E, F>(&self, task: F) -> Result<PoolFuture<T, E>, SubmitError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce() -> Result<T, E> + Send + 'static,
    {
        let cell = Arc::new(TaskCell {
            inner: Inner::new(),
            task: Mutex::new(Some(task)),
        });
        let future = PoolFuture::from_slot(cell.clone());
        let job: Arc<dyn Job> = cell;
        let sender = self.shared.crew.admit(|index, ()| {
            let shared = Arc::clone(&self.shared);
            thread::Builder::new()
                .name(format!("{}_{index}", self.shared.prefix))
                .spawn(move || worker_main(&shared))
        })?;
        // Outside the lock: with a bounded queue this may block until a worker takes an
        // item, and workers need the lock to report themselves idle. A shutdown that slips
        // in here is harmless: this clone keeps the channel open until the item is queued,
        // and workers drain the queue before exiting, so the item still runs.
        if let Err(crate::sync::channel::SendError(job)) = sender.send(job) {
            // Unreachable while `sender` lives (the pool's receiver lives as long); keep
            // the future honest anyway.
            job.cancel();
        }
        Ok(future)
    }

    /// Maps `f` over `items` on the pool and yields the results in input order: Python's
    /// `Executor.map(fn, iterable, timeout=timeout, buffersize=2 * max_workers)`.
    ///
    /// Lazy with a bounded window, unlike Python's default: at most `2 * max_workers`
    /// tasks are submitted ahead of the one being waited for, so an input of ten million
    /// items (or an endless one) runs in constant memory. Use [`map_window`](Self::map_window)
    /// to choose the window. See [`MapIter`] for timeouts, errors and cancellation.
    ///
    /// ```
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(4)?;
    /// let lengths: Vec<usize> = pool
    ///     .map(|s: &str| Ok::<_, String>(s.len()), ["a", "bb", "ccc"], None)
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(lengths, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map<I, F, T, E>(
        &self,
        f: F,
        items: I,
        timeout: Option<Duration>,
    ) -> MapIter<'_, I::IntoIter, T, E>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.map_window(
            f,
            items,
            timeout,
            self.shared.crew.max_workers.saturating_mul(2),
        )
    }

    /// [`map`](Self::map) taking Python's `chunksize`, which a thread pool ignores, as
    /// CPython's does (threads share memory: there is no round trip to save). It is still
    /// checked, so code written for either pool fails the same way.
    ///
    /// # Errors
    /// [`ChunksizeError`] if `chunksize` is 0 (Python's `ValueError`).
    ///
    /// ```
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(2)?;
    /// let doubled: Vec<u32> = pool
    ///     .map_chunked(|x: u32| Ok::<_, String>(2 * x), 1..=3, None, 64)?
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(doubled, [2, 4, 6]);
    /// assert!(pool.map_chunked(|x: u32| Ok::<_, String>(x), [1], None, 0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_chunked<I, F, T, E>(
        &self,
        f: F,
        items: I,
        timeout: Option<Duration>,
        chunksize: usize,
    ) -> Result<MapIter<'_, I::IntoIter, T, E>, ChunksizeError>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        if chunksize == 0 {
            return Err(ChunksizeError);
        }
        Ok(self.map(f, items, timeout))
    }

    /// [`map`](Self::map) with an explicit window (Python's `buffersize`; at least 1).
    /// `usize::MAX` means unbounded, like `buffersize=None`: the whole input is submitted
    /// by this call, and nothing is allocated for the window up front.
    ///
    /// ```
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(2)?;
    /// // An endless input: a window of 16 tasks ahead, the first 100 results taken.
    /// let squares: Vec<u64> = pool
    ///     .map_window(|x: u64| Ok::<_, String>(x * x), 0.., None, 16)
    ///     .take(100)
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(squares[99], 99 * 99);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_window<I, F, T, E>(
        &self,
        f: F,
        items: I,
        timeout: Option<Duration>,
        window: usize,
    ) -> MapIter<'_, I::IntoIter, T, E>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let f = Arc::new(f);
        let submit = Box::new(move |item| {
            let f = Arc::clone(&f);
            self.submit(move || f(item))
        });
        MapIter::new(submit, items.into_iter(), timeout, window.max(1))
    }

    /// Stops accepting work: Python's `Executor.shutdown(wait, cancel_futures)`.
    ///
    /// Idempotent. Later `submit`s fail with [`SubmitError::Shutdown`]. Queued tasks still
    /// run unless `cancel_futures`, which cancels every task not yet started (their futures
    /// are done and cancelled when this returns, callbacks run). With `wait`, returns once
    /// every worker has exited, that is, once all remaining work is finished; called from
    /// one of the pool's own workers, it does not wait (Python raises "cannot join current
    /// thread"; waiting would deadlock).
    ///
    /// ```
    /// use fetchpool_futures::{SubmitError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let queued: Vec<_> = (0..3)
    ///     .map(|i| pool.submit(move || Ok::<_, String>(i)))
    ///     .collect::<Result<_, _>>()?;
    /// pool.shutdown(true, false); // the queued tasks still run
    /// assert!(queued.iter().all(|f| f.done() && !f.cancelled()));
    /// assert!(matches!(pool.submit(|| Ok::<_, String>(4)), Err(SubmitError::Shutdown)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let cancel = |job: Arc<dyn Job>| job.cancel();
        self.shared
            .crew
            .shutdown(wait, cancel_futures.then_some(&cancel as &dyn Fn(_)));
    }
}

impl Drop for ThreadPoolExecutor {
    /// `shutdown(wait = true)`: Python's `with` block exit.
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

/// A worker thread's whole life.
fn worker_main(shared: &Shared) {
    let _enlisted = shared.crew.enlist();
    let initialized = match &shared.initializer {
        None => Ok(()),
        Some(init) => match catch_unwind(AssertUnwindSafe(|| init())) {
            Ok(result) => result,
            Err(payload) => Err(format!("panicked: {}", panic_message(payload.as_ref()))),
        },
    };
    match initialized {
        Ok(()) => run_tasks(shared),
        Err(reason) => fail_queue(shared, &reason),
    }
}

/// Takes tasks until the queue is empty and shut down.
fn run_tasks(shared: &Shared) {
    for job in shared.crew.jobs().iter() {
        // Counted idle exactly once per task, whether it ran, was skipped, or something
        // dropped on the way (the task's data, an unobserved result) panicked.
        let freed = shared.crew.freed();
        let handled = catch_unwind(AssertUnwindSafe(|| {
            if job.start() {
                job.run(&|| freed.free());
            } else {
                // Cancelled while queued: the cancel already notified everyone.
                job.discard();
                drop(job);
            }
        }));
        if let Err(payload) = handled {
            report_panic("in a worker", payload.as_ref());
        }
    }
}

/// An initializer failed: break the pool, then fail everything queued now or later, until
/// the queue is shut down. Python's `_initializer_failed`; serving as the rejecter until
/// shutdown means a task that raced past the broken check is never stranded.
fn fail_queue(shared: &Shared, reason: &str) {
    let message =
        format!("a thread initializer failed, the thread pool is not usable anymore: {reason}");
    crate::hook::report("in initializer", reason.to_string());
    shared
        .crew
        .lock()
        .broken
        .get_or_insert_with(|| message.clone());
    for job in shared.crew.jobs().iter() {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| job.fail_broken(&message))) {
            report_panic("in a worker", payload.as_ref());
        }
    }
}
