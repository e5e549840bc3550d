//! The future: one task's outcome, shared by every handle, waiter and callback.
//!
//! # State machine
//!
//! ```text
//!             cancel()                      (worker dequeues it: skipped)
//!   PENDING ───────────▶ CANCELLED ─────────────────────────────────────▶ (terminal)
//!      │
//!      │ start()  (a worker dequeued it)
//!      ▼
//!   RUNNING ───────────▶ FINISHED(value | error | panic)                  (terminal)
//!             complete()
//!
//!   PENDING ───────────▶ FINISHED(broken)   the pool broke before the task could run
//! ```
//!
//! Python has a fifth state, `CANCELLED_AND_NOTIFIED`, reached only when a worker later
//! dequeues the cancelled item; until then `wait` and `as_completed` do not count the future
//! as complete, which makes them hang after `shutdown(cancel_futures=True)` (CPython gh-87893,
//! gh-92001, gh-109934). Here a successful `cancel()` *is* the notification: waiters, blocked
//! `result()` calls and callbacks all learn of it at once, so there is no fifth state.
//!
//! # Synchronisation
//!
//! All state sits behind one `Mutex` per future, with a `Condvar` that is notified (with
//! `notify_all`) on each of the two transitions into a terminal state. Nothing else
//! wakes waiters: PENDING → RUNNING is silent, as in Python. Done-callbacks are taken out of
//! the state under the lock and run after it is released, on the completing thread, so a
//! callback may call any method of the future (it is already terminal) without deadlocking.
//! `wait`/`as_completed` register a channel sender on the future under the same lock; a
//! terminal transition takes the registrations out under the lock and sends each
//! registrant's key once after releasing it. A worker completing a future with no callback
//! drops its own handle before those sends, so whoever `wait`/`as_completed` hands the
//! future to can hold the last reference (and free the result by dropping it).
//!
//! An `.await` ([`crate::Completion`]) leaves its task's waker in the same state under the
//! same lock; a terminal transition takes the wakers out and wakes each once after
//! releasing it (`as_completed_async` registers like `as_completed`, plus a waker slot
//! woken after its channel send).
//!
//! Lock order: a future's lock, then the pool's (a worker reports itself idle under the
//! future's lock); nothing takes a future's lock while holding the pool's.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::sync::Recover;
use crossbeam_channel::Sender;

/// What a task raised instead of returning a value: Python's `Future.exception()`.
///
/// Python stores any exception object; here the task's own error type `E` is one variant,
/// and the two ways a task can fail without returning are the others.
///
/// ```
/// use fetchpool_futures::{TaskError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(2)?;
/// let raised = pool.submit(|| Err::<(), _>("no".to_string()))?;
/// let panicked = pool.submit(|| -> Result<(), String> { panic!("oops") })?;
/// assert_eq!(raised.exception(None)?, Some(TaskError::Raised("no".to_string())));
/// assert!(matches!(panicked.exception(None)?, Some(TaskError::Panicked(m)) if m == "oops"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError<E> {
    /// The task returned `Err(E)`.
    #[error("{0}")]
    Raised(E),
    /// The task panicked; the panic message is kept (the worker survives).
    #[error("task panicked: {0}")]
    Panicked(String),
    /// The pool broke (an initializer failed) before this task could run:
    /// Python's `BrokenThreadPool` and `BrokenProcessPool`.
    #[error("{0}")]
    Broken(String),
    /// The worker process running the task died (an exit, an abort, a signal, a kill
    /// from outside); the message names the exit code or signal. Only this task fails:
    /// the process pool starts a replacement for the next one.
    #[error("{0}")]
    WorkerDied(String),
    /// The task ran past the process pool's hard time limit, so its worker was killed.
    #[error("task exceeded its time limit of {0:?}, so its worker process was killed")]
    TimedOut(Duration),
    /// The task's argument or its result could not cross the process boundary: it failed
    /// to serialise or to deserialise, or the task's name is not registered in the worker.
    #[error("{0}")]
    Codec(String),
}

/// Why waiting for a future gave no outcome: Python's `CancelledError` and `TimeoutError`.
///
/// ```
/// use std::time::Duration;
/// use fetchpool_futures::{ThreadPoolExecutor, WaitError};
///
/// let pool = ThreadPoolExecutor::new(1)?;
/// let slow = pool.submit(|| {
///     std::thread::sleep(Duration::from_millis(200));
///     Ok::<_, String>(())
/// })?;
/// assert_eq!(slow.exception(Some(Duration::ZERO)), Err(WaitError::Timeout));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// The future was cancelled before it started.
    #[error("future was cancelled")]
    Cancelled,
    /// The timeout passed before the future was done; the future is unchanged.
    #[error("timed out waiting for the future")]
    Timeout,
}

/// Everything [`PoolFuture::result`] can fail with.
///
/// ```
/// use std::time::Duration;
/// use fetchpool_futures::{FutureError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(1)?;
/// let slow = pool.submit(|| {
///     std::thread::sleep(Duration::from_millis(200));
///     Ok::<_, String>(1)
/// })?;
/// let queued = pool.submit(|| Ok::<_, String>(2))?;
/// assert_eq!(slow.result(Some(Duration::ZERO)), Err(FutureError::Timeout));
/// assert!(queued.cancel());
/// assert_eq!(queued.result(None), Err(FutureError::Cancelled));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FutureError<E> {
    /// The future was cancelled: Python's `CancelledError`.
    #[error("future was cancelled")]
    Cancelled,
    /// The timeout passed first: Python's `TimeoutError`. The future is unchanged.
    #[error("timed out waiting for the future")]
    Timeout,
    /// The task failed: the exception Python's `result()` re-raises.
    #[error(transparent)]
    Task(TaskError<E>),
}

impl<E> From<WaitError> for FutureError<E> {
    fn from(e: WaitError) -> Self {
        match e {
            WaitError::Cancelled => FutureError::Cancelled,
            WaitError::Timeout => FutureError::Timeout,
        }
    }
}

/// A done-callback, boxed. Python: the `fn` of `add_done_callback(fn)`.
type Callback<T, E> = Box<dyn FnOnce(&PoolFuture<T, E>) + Send>;

/// The states of the machine in the module docs.
enum State<T, E> {
    /// Submitted, not yet taken by a worker; the only state `cancel()` can leave.
    Pending,
    /// A worker is running the task; it can no longer be cancelled.
    Running,
    /// Cancelled while pending. Terminal.
    Cancelled,
    /// The task returned or failed, or the pool broke. Terminal.
    Finished(Result<T, TaskError<E>>),
}

/// A registration by `wait`/`as_completed`: where to say "I am done", and as what.
pub(crate) struct Waiter {
    /// Identifies the registering call, so it can remove exactly its own entries.
    pub(crate) id: u64,
    /// The key the registering call gave this future (its index in the call's list).
    pub(crate) key: usize,
    /// The registering call's channel. Unbounded, so sending under the lock never blocks;
    /// a send to a call that has already returned fails harmlessly.
    pub(crate) tx: Sender<usize>,
    /// An `async` registrant's waker, woken after the send ([`crate::as_completed_async`]).
    pub(crate) wake: Option<Arc<WakeSlot>>,
}

/// Where an `async` waiter leaves its waker for whoever completes a future it waits on.
pub(crate) type WakeSlot = Mutex<Option<std::task::Waker>>;

/// Wakes the waker left in `slot`, if any (taken: the waiter leaves a new one each time it
/// finds nothing ready).
pub(crate) fn wake_slot(slot: &WakeSlot) {
    let waker = slot.lock().recover().take();
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Everything behind the future's lock.
struct Core<T, E> {
    /// Where the future is in the state machine.
    state: State<T, E>,
    /// Callbacks added before completion, in order; taken (emptied) on completion.
    callbacks: Vec<Callback<T, E>>,
    /// `wait`/`as_completed` calls blocked on this future; emptied on completion, and each
    /// call removes its own entry on every way out (see `wait::Registration`).
    waiters: Vec<Waiter>,
    /// Threads asleep on `done` in `result()`/`exception()`/`wait()`. Completion notifies
    /// the condvar only if this is non-zero: a notify is a system call even when nobody
    /// sleeps, and most futures are done before anyone asks.
    sleepers: usize,
    /// Tasks awaiting this future (`.await`), by the id of their [`crate::Completion`];
    /// taken on completion and each woken once, after the lock is released.
    wakers: Vec<(u64, std::task::Waker)>,
}

/// What a terminal transition hands out, to be told and run once the lock is released.
struct Notices<T, E> {
    waiters: Vec<Waiter>,
    callbacks: Vec<Callback<T, E>>,
    wakers: Vec<(u64, std::task::Waker)>,
}

/// A future's state and condvar. The executor embeds it in the same allocation as the
/// task (see [`Slot`]), so each submit allocates once.
pub(crate) struct Inner<T, E> {
    /// The state, callbacks and waiters.
    core: Mutex<Core<T, E>>,
    /// Notified (all) when the state becomes terminal; `result()`/`exception()` sleep here.
    done: Condvar,
}

impl<T, E> Inner<T, E> {
    /// A pending future's state.
    pub(crate) fn new() -> Self {
        Inner {
            core: Mutex::new(Core {
                state: State::Pending,
                callbacks: Vec::new(),
                waiters: Vec::new(),
                sleepers: 0,
                wakers: Vec::new(),
            }),
            done: Condvar::new(),
        }
    }

    /// Locks the state. A panic can never happen while the lock is held (callbacks and
    /// tasks run outside it), so poisoning is impossible; recover anyway rather than panic.
    fn lock(&self) -> MutexGuard<'_, Core<T, E>> {
        self.core.lock().recover()
    }

    /// Moves PENDING → RUNNING, or reports that the future was cancelled: Python's
    /// `set_running_or_notify_cancel()`, minus the notification (a cancel already notified).
    pub(crate) fn start(&self) -> bool {
        let mut core = self.lock();
        match core.state {
            State::Pending => {
                core.state = State::Running;
                true
            }
            State::Cancelled => false,
            State::Running | State::Finished(_) => {
                debug_assert!(false, "a future is started at most once");
                false
            }
        }
    }
}

/// Whatever allocation holds a future's [`Inner`]: the executor's task cell.
pub(crate) trait Slot<T, E>: Send + Sync {
    /// The future's state.
    fn inner(&self) -> &Inner<T, E>;
}

/// A handle to one submitted task's eventual outcome: Python's `concurrent.futures.Future`.
///
/// Named `PoolFuture` rather than `Future` because edition 2024 puts
/// `std::future::Future` in the prelude; a type of the same name would shadow that trait
/// in every module that imports this one, and this is not an `async` future: it is
/// blocking, like Python's.
///
/// Cheap to clone (an `Arc`): every clone sees the same state, and any number of threads
/// may wait on it at once. Equality and hashing are by identity, as for Python objects.
///
/// Differences from Python: there is no `set_result`/`set_exception` (only the executor
/// completes futures); the outcome is typed (`Result<T, TaskError<E>>`) and `result()`
/// hands out clones of it (wrap a non-`Clone` value in an `Arc` to share one object, as
/// Python does); a cancellation is complete the moment `cancel()` succeeds (see the module
/// docs for the CPython bugs this avoids).
///
/// ```
/// use fetchpool_futures::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(2)?;
/// let future = pool.submit(|| Ok::<_, String>("done"))?;
/// let same = future.clone(); // the same future: equal, and sees the same outcome
/// assert_eq!(future, same);
/// assert_eq!(same.result(None)?, "done");
/// assert!(future.done() && !future.cancelled() && !future.running());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PoolFuture<T, E> {
    /// The shared allocation (state plus, until it runs, the task).
    slot: Arc<dyn Slot<T, E>>,
}

impl<T, E> Clone for PoolFuture<T, E> {
    fn clone(&self) -> Self {
        PoolFuture {
            slot: Arc::clone(&self.slot),
        }
    }
}

impl<T, E> PartialEq for PoolFuture<T, E> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.slot), Arc::as_ptr(&other.slot))
    }
}

impl<T, E> Eq for PoolFuture<T, E> {}

impl<T, E> std::hash::Hash for PoolFuture<T, E> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.slot) as *const () as usize).hash(state);
    }
}

impl<T, E> fmt::Debug for PoolFuture<T, E> {
    /// Python's repr: `<PoolFuture at 0x… state=pending|running|cancelled>`, and when
    /// finished `state=finished returned u32`, `raised MyError` (the type's own name, as
    /// Python gives the class name), `panicked` or `broken`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.lock().state {
            State::Pending => "pending".to_string(),
            State::Running => "running".to_string(),
            State::Cancelled => "cancelled".to_string(),
            State::Finished(Ok(_)) => format!("finished returned {}", short_type_name::<T>()),
            State::Finished(Err(TaskError::Raised(_))) => {
                format!("finished raised {}", short_type_name::<E>())
            }
            State::Finished(Err(TaskError::Panicked(_))) => "finished panicked".to_string(),
            State::Finished(Err(TaskError::Broken(_))) => "finished broken".to_string(),
            State::Finished(Err(TaskError::WorkerDied(_))) => "finished worker died".to_string(),
            State::Finished(Err(TaskError::TimedOut(_))) => "finished timed out".to_string(),
            State::Finished(Err(TaskError::Codec(_))) => "finished codec error".to_string(),
        };
        write!(
            f,
            "<PoolFuture at {:p} state={state}>",
            Arc::as_ptr(&self.slot) as *const ()
        )
    }
}

/// A type's name without its module path: `String` for `alloc::string::String`,
/// `Vec<u8>` for `alloc::vec::Vec<u8>`.
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            out.push_str(segment.rsplit("::").next().unwrap_or(""));
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(segment.rsplit("::").next().unwrap_or(""));
    out
}

/// Turns an optional timeout into an optional deadline; a timeout too large to add to
/// `Instant::now()` means "no deadline".
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// Tells each registered `wait`/`as_completed` call that its future is done. The
/// registrations were removed under the future's lock, so each is told once; a call that
/// has already returned ignores it.
fn notify_waiters(waiters: Vec<Waiter>) {
    for w in waiters {
        let _ = w.tx.send(w.key);
        if let Some(slot) = &w.wake {
            wake_slot(slot);
        }
    }
}

/// Wakes the tasks awaiting a future, each once.
fn wake_all(wakers: Vec<(u64, std::task::Waker)>) {
    for (_, waker) in wakers {
        waker.wake();
    }
}

/// Reports a panic the pool caught and survived to the report hook (Python logs these
/// through `logging`).
pub(crate) fn report_panic(what: &str, payload: &(dyn std::any::Any + Send)) {
    crate::hook::report(what, panic_message(payload));
}

/// The text of a panic payload (`&str` or `String`; anything else gets a placeholder).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl<T, E> PoolFuture<T, E> {
    /// A handle on a slot the executor made (users get futures from `submit`).
    pub(crate) fn from_slot(slot: Arc<dyn Slot<T, E>>) -> Self {
        PoolFuture { slot }
    }

    /// The future's state.
    fn inner(&self) -> &Inner<T, E> {
        self.slot.inner()
    }

    /// Locks the state.
    fn lock(&self) -> MutexGuard<'_, Core<T, E>> {
        self.inner().lock()
    }

    /// Attempts to cancel: Python's `Future.cancel()`.
    ///
    /// Returns `true` if the future is now cancelled: it was pending (then every waiter
    /// wakes and the callbacks run, on this thread, before `cancel` returns) or it was
    /// already cancelled (then nothing runs again). Returns `false` if the task is running
    /// or finished; a running task is never interrupted.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let (release, gate) = mpsc::channel::<()>();
    /// let running = pool.submit(move || gate.recv().map_err(|e| e.to_string()))?;
    /// let queued = pool.submit(|| Ok::<_, String>(()))?;
    /// assert!(queued.cancel(), "a queued task can be cancelled");
    /// assert!(queued.cancelled() && queued.done());
    /// while !running.running() {
    ///     std::thread::yield_now();
    /// }
    /// assert!(!running.cancel(), "a running one cannot");
    /// release.send(())?;
    /// assert!(running.wait(None));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel(&self) -> bool {
        let mut core = self.lock();
        match core.state {
            State::Pending => {
                core.state = State::Cancelled;
                let notices = self.notify_terminal(&mut core);
                drop(core);
                notify_waiters(notices.waiters);
                wake_all(notices.wakers);
                self.run_callbacks(notices.callbacks);
                true
            }
            State::Cancelled => true,
            State::Running | State::Finished(_) => false,
        }
    }

    /// `true` if the future was cancelled: Python's `Future.cancelled()`.
    ///
    /// ```
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let done = pool.submit(|| Ok::<_, String>(()))?;
    /// done.wait(None);
    /// assert!(!done.cancel() && !done.cancelled(), "too late to cancel");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancelled(&self) -> bool {
        matches!(self.lock().state, State::Cancelled)
    }

    /// `true` while a worker runs the task: Python's `Future.running()`.
    ///
    /// ```
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let future = pool.submit(|| Ok::<_, String>(()))?;
    /// future.wait(None);
    /// assert!(!future.running(), "finished, no longer running");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn running(&self) -> bool {
        matches!(self.lock().state, State::Running)
    }

    /// `true` once cancelled or finished: Python's `Future.done()`.
    ///
    /// ```
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let future = pool.submit(|| Ok::<_, String>(()))?;
    /// future.wait(None);
    /// assert!(future.done());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn done(&self) -> bool {
        matches!(self.lock().state, State::Cancelled | State::Finished(_))
    }

    /// Blocks until the future is done or `timeout` passes (`None` waits forever,
    /// `Some(ZERO)` polls), then applies `f` to the terminal state under the lock.
    fn wait_terminal<R>(
        &self,
        timeout: Option<Duration>,
        f: impl FnOnce(&State<T, E>) -> R,
    ) -> Result<R, WaitError> {
        let deadline = deadline_after(timeout);
        let mut core = self.lock();
        loop {
            match core.state {
                State::Cancelled | State::Finished(_) => return Ok(f(&core.state)),
                State::Pending | State::Running => {}
            }
            let timeout = match deadline {
                None => None,
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(WaitError::Timeout);
                    }
                    Some(deadline - now)
                }
            };
            core.sleepers += 1;
            core = match timeout {
                None => self.inner().done.wait(core).recover(),
                Some(t) => self.inner().done.wait_timeout(core, t).recover().0,
            };
            core.sleepers -= 1;
        }
    }

    /// Waits for the outcome: Python's `Future.result(timeout)`.
    ///
    /// Returns a clone of the task's value. Every call, from any thread, sees the same
    /// outcome.
    ///
    /// # Errors
    /// [`FutureError::Timeout`] if `timeout` passes first (the future is unchanged; `None`
    /// waits forever and `Some(Duration::ZERO)` polls); [`FutureError::Cancelled`] if it was
    /// cancelled, also while this call was blocked; [`FutureError::Task`] with what the
    /// task raised.
    ///
    /// ```
    /// use std::time::Duration;
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let future = pool.submit(|| Ok::<_, String>(vec![1, 2, 3]))?;
    /// assert_eq!(future.result(Some(Duration::from_secs(30)))?, [1, 2, 3]);
    /// assert_eq!(future.result(None)?, [1, 2, 3], "every call sees the same outcome");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn result(&self, timeout: Option<Duration>) -> Result<T, FutureError<E>>
    where
        T: Clone,
        E: Clone,
    {
        self.wait_terminal(timeout, |state| match state {
            State::Finished(Ok(v)) => Ok(v.clone()),
            State::Finished(Err(e)) => Err(FutureError::Task(e.clone())),
            State::Cancelled => Err(FutureError::Cancelled),
            State::Pending | State::Running => unreachable!("wait_terminal returns only when done"),
        })?
    }

    /// Waits for the outcome and returns what the task raised, or `None` if it returned a
    /// value: Python's `Future.exception(timeout)`. Never returns the value itself.
    ///
    /// # Errors
    /// [`WaitError::Timeout`] if `timeout` passes first; [`WaitError::Cancelled`] if the
    /// future was cancelled.
    ///
    /// ```
    /// use fetchpool_futures::{TaskError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let fine = pool.submit(|| Ok::<_, String>(1))?;
    /// let failed = pool.submit(|| Err::<u32, _>("boom".to_string()))?;
    /// assert_eq!(fine.exception(None)?, None);
    /// assert_eq!(failed.exception(None)?, Some(TaskError::Raised("boom".to_string())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exception(&self, timeout: Option<Duration>) -> Result<Option<TaskError<E>>, WaitError>
    where
        E: Clone,
    {
        self.wait_terminal(timeout, |state| match state {
            State::Finished(Ok(_)) => Ok(None),
            State::Finished(Err(e)) => Ok(Some(e.clone())),
            State::Cancelled => Err(WaitError::Cancelled),
            State::Pending | State::Running => unreachable!("wait_terminal returns only when done"),
        })?
    }

    /// Waits until the future is done, without looking at the outcome; `true` if it is done.
    /// Needs neither `T: Clone` nor `E: Clone`. (No Python equivalent: `wait([f], timeout)`.)
    ///
    /// ```
    /// use std::time::Duration;
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// struct NotClone; // result() would need Clone; wait() does not
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let future = pool.submit(|| Ok::<_, String>(NotClone))?;
    /// assert!(future.wait(Some(Duration::from_secs(30))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        self.wait_terminal(timeout, |_| ()).is_ok()
    }

    /// Attaches a callback that runs once the future is done: Python's
    /// `Future.add_done_callback(fn)`.
    ///
    /// Callbacks run once each, in the order they were added, on the thread that completes
    /// the future (a worker, or the thread calling `cancel()`), after blocked waiters have
    /// been woken. If the future is already done, `f` runs now on this thread, before this
    /// method returns. A panicking callback is reported to the hook of
    /// [`set_report_hook`](crate::set_report_hook) (Python logs
    /// `exception calling callback for <future>`) and the others still run; it never kills
    /// a worker.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use fetchpool_futures::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(2)?;
    /// let (tx, rx) = mpsc::channel();
    /// let future = pool.submit(|| Ok::<_, String>(5))?;
    /// future.add_done_callback(move |f| {
    ///     let _ = tx.send(f.result(None));
    /// });
    /// assert_eq!(rx.recv()?, Ok(5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_done_callback<F>(&self, f: F)
    where
        F: FnOnce(&PoolFuture<T, E>) + Send + 'static,
    {
        let mut core = self.lock();
        match core.state {
            State::Pending | State::Running => core.callbacks.push(Box::new(f)),
            State::Cancelled | State::Finished(_) => {
                drop(core);
                self.run_callbacks(vec![Box::new(f)]);
            }
        }
    }

    /// Stores the outcome (from RUNNING, or from PENDING when the pool broke), wakes every
    /// waiter and runs the callbacks on this thread. Ignored if already terminal.
    pub(crate) fn complete(self, outcome: Result<T, TaskError<E>>) {
        self.complete_then(outcome, &|| {});
    }

    /// [`complete`](Self::complete) for a worker: `free` tells the pool that this worker
    /// can take the next task, at the moment it can. With no callback attached that is
    /// before anyone learns of the outcome (so a caller who saw `result()` return and
    /// submits again finds the worker idle); with callbacks, only after they have run, as
    /// CPython releases its idle count after `_invoke_callbacks` (a slow callback must not
    /// hold up the next task while the pool could start a thread).
    ///
    /// Lock order: `free` runs under this future's lock and may take the pool's lock; the
    /// pool never takes a future's lock while holding its own.
    ///
    /// With no callback, this handle is dropped before `wait`/`as_completed` are told, so
    /// a caller that drops the futures it was handed holds the last reference.
    pub(crate) fn complete_then(self, outcome: Result<T, TaskError<E>>, free: &dyn Fn()) {
        let mut core = self.lock();
        match core.state {
            State::Pending | State::Running => {}
            State::Cancelled | State::Finished(_) => return,
        }
        core.state = State::Finished(outcome);
        let Notices {
            waiters,
            callbacks,
            wakers,
        } = self.notify_terminal(&mut core);
        if callbacks.is_empty() {
            free();
            drop(core);
            // The last handle may be this one (a fire-and-forget task): its result is
            // dropped here, and a panicking `Drop` must not stop the notifications.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(self))) {
                report_panic("dropping a task's result", payload.as_ref());
            }
            notify_waiters(waiters);
            wake_all(wakers);
        } else {
            drop(core);
            notify_waiters(waiters);
            wake_all(wakers);
            self.run_callbacks(callbacks);
            free();
        }
    }

    /// Under the lock, just after the state became terminal: wakes `result()` callers and
    /// hands back the registered `wait`/`as_completed` calls and the callbacks, to be told
    /// and run once the lock is released.
    fn notify_terminal(&self, core: &mut Core<T, E>) -> Notices<T, E> {
        if core.sleepers > 0 {
            self.inner().done.notify_all();
        }
        Notices {
            waiters: std::mem::take(&mut core.waiters),
            callbacks: std::mem::take(&mut core.callbacks),
            wakers: std::mem::take(&mut core.wakers),
        }
    }

    /// For `.await` ([`crate::Completion`] `id`): the outcome if the future is done, else
    /// `Pending` with `cx`'s waker kept (replacing the one `id` left before) to be woken
    /// once on completion. Under the future's lock, so a completion cannot slip between
    /// the check and the registration.
    pub(crate) fn poll_outcome(
        &self,
        id: u64,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<T, FutureError<E>>>
    where
        T: Clone,
        E: Clone,
    {
        let mut core = self.lock();
        let outcome = match &core.state {
            State::Finished(Ok(v)) => Ok(v.clone()),
            State::Finished(Err(e)) => Err(FutureError::Task(e.clone())),
            State::Cancelled => Err(FutureError::Cancelled),
            State::Pending | State::Running => {
                match core.wakers.iter_mut().find(|(owner, _)| *owner == id) {
                    Some((_, waker)) => waker.clone_from(cx.waker()),
                    None => core.wakers.push((id, cx.waker().clone())),
                }
                return std::task::Poll::Pending;
            }
        };
        std::task::Poll::Ready(outcome)
    }

    /// Removes the waker [`crate::Completion`] `id` left (it was dropped before the end).
    pub(crate) fn forget_waker(&self, id: u64) {
        self.lock().wakers.retain(|(owner, _)| *owner != id);
    }

    /// Runs callbacks outside the lock, isolating panics.
    fn run_callbacks(&self, callbacks: Vec<Callback<T, E>>) {
        for cb in callbacks {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| cb(self))) {
                report_panic(&format!("calling callback for {self:?}"), payload.as_ref());
            }
        }
    }

    /// Registers a `wait`/`as_completed` call, unless the future is already done;
    /// returns whether it registered.
    pub(crate) fn register(&self, waiter: Waiter) -> bool {
        let mut core = self.lock();
        match core.state {
            State::Pending | State::Running => {
                core.waiters.push(waiter);
                true
            }
            State::Cancelled | State::Finished(_) => false,
        }
    }

    /// Removes every registration of call `id` (a no-op if completion already removed it).
    pub(crate) fn unregister(&self, id: u64) {
        let mut core = self.lock();
        core.waiters.retain(|w| w.id != id);
        debug_assert!(core.waiters.iter().all(|w| w.id != id));
    }

    /// `true` if done and what it holds is an error, not a cancellation: what
    /// `wait(FirstException)` looks for.
    pub(crate) fn raised(&self) -> bool {
        matches!(self.lock().state, State::Finished(Err(_)))
    }
}

/// Futures without an executor, for the model-checked tests (`tests/loom.rs`, built with
/// `--cfg fetchpool_loom`): a pending future, and the two steps a worker takes on it.
#[cfg(fetchpool_loom)]
#[doc(hidden)]
pub mod model {
    use super::{Inner, PoolFuture, Slot, TaskError};
    use std::sync::Arc;

    struct Bare<T, E> {
        inner: Inner<T, E>,
    }

    impl<T: Send, E: Send> Slot<T, E> for Bare<T, E> {
        fn inner(&self) -> &Inner<T, E> {
            &self.inner
        }
    }

    /// A pending future no executor holds.
    pub fn pending<T: Send + 'static, E: Send + 'static>() -> PoolFuture<T, E> {
        PoolFuture::from_slot(Arc::new(Bare {
            inner: Inner::new(),
        }))
    }

    /// What a worker does first: PENDING to RUNNING, `false` if it was cancelled.
    pub fn start<T, E>(future: &PoolFuture<T, E>) -> bool {
        future.inner().start()
    }

    /// What a worker does last: the outcome, the waiters woken, the callbacks run.
    pub fn complete<T, E>(future: PoolFuture<T, E>, outcome: Result<T, TaskError<E>>) {
        future.complete(outcome);
    }
}
