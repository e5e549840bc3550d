//! Waiting on many futures: Python's `wait(fs, timeout, return_when)` and
//! `as_completed(fs, timeout)`.
//!
//! Both deduplicate their input, then register one channel sender on every future that is
//! not yet done (under that future's lock, so a completion can never slip between "is it
//! done?" and "tell me when it is"). A completing future sends its index once. The
//! registrations are removed on every way out (return, timeout, dropped iterator) by
//! [`Registration`]'s `Drop`.

use std::borrow::Borrow;
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use std::sync::Arc;

use super::future::{PoolFuture, Waiter, WakeSlot, deadline_after};

/// Gives each `wait`/`as_completed` call its own id. Relaxed is enough: only uniqueness
/// matters, and `fetch_add` is atomic whatever the ordering.
static NEXT_WAITER_ID: AtomicU64 = AtomicU64::new(0);

/// When [`wait`] returns: Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`.
///
/// ```
/// use fetchpool_futures::{ReturnWhen, ThreadPoolExecutor, wait};
///
/// let pool = ThreadPoolExecutor::new(2)?;
/// let futures = [
///     pool.submit(|| Err::<u32, _>("bad".to_string()))?,
///     pool.submit(|| Ok::<_, String>(1))?,
/// ];
/// let split = wait(&futures, None, ReturnWhen::FirstException);
/// assert!(!split.done.is_empty(), "returns once one failed (or all are done)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnWhen {
    /// As soon as any future is done (finished or cancelled).
    FirstCompleted,
    /// As soon as any future finishes with an error (a cancellation is not one); if none
    /// does, when all are done.
    FirstException,
    /// When every future is done. The default, as in Python.
    #[default]
    AllCompleted,
}

/// The two halves [`wait`] returns: Python's `DoneAndNotDoneFutures(done, not_done)`.
///
/// Python returns sets; here they are vectors without duplicates, in the order the futures
/// were first given, so results are reproducible.
///
/// ```
/// use fetchpool_futures::{ReturnWhen, ThreadPoolExecutor, wait};
///
/// let pool = ThreadPoolExecutor::new(2)?;
/// let futures: Vec<_> = (0..3)
///     .map(|i| pool.submit(move || Ok::<_, String>(i)))
///     .collect::<Result<_, _>>()?;
/// let split = wait(&futures, None, ReturnWhen::AllCompleted);
/// assert_eq!((split.done.len(), split.not_done.len()), (3, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DoneAndNotDone<T, E> {
    /// The futures that were done (finished or cancelled) when `wait` returned.
    pub done: Vec<PoolFuture<T, E>>,
    /// The others.
    pub not_done: Vec<PoolFuture<T, E>>,
}

/// Removes duplicates (by identity), keeping the first occurrence.
pub(crate) fn unique<T, E, I>(fs: I) -> Vec<PoolFuture<T, E>>
where
    I: IntoIterator,
    I::Item: Borrow<PoolFuture<T, E>>,
{
    let mut seen = HashSet::new();
    fs.into_iter()
        .map(|f| f.borrow().clone())
        .filter(|f| seen.insert(f.clone()))
        .collect()
}

/// One call's registrations on a set of futures; removes them all when dropped.
pub(crate) struct Registration<T, E> {
    /// This call's id, shared by all its `Waiter`s.
    id: u64,
    /// The futures it registered on, by key (`None` for those already done, and for those
    /// `forget` released), so it can unregister from them.
    registered: Vec<Option<PoolFuture<T, E>>>,
    /// Receives the index of each future as it becomes done.
    pub(crate) rx: Receiver<usize>,
}

impl<T, E> Registration<T, E> {
    /// Registers on every future of `fs` not yet done; returns the registration and the
    /// indices of those already done.
    pub(crate) fn new(fs: &[PoolFuture<T, E>], wake: Option<&Arc<WakeSlot>>) -> (Self, Vec<usize>) {
        let wake = wake.cloned();
        let id = NEXT_WAITER_ID.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut registered = Vec::with_capacity(fs.len());
        let mut already_done = Vec::new();
        for (key, f) in fs.iter().enumerate() {
            let waiter = Waiter {
                id,
                key,
                tx: tx.clone(),
                wake: wake.clone(),
            };
            if f.register(waiter) {
                registered.push(Some(f.clone()));
            } else {
                registered.push(None);
                already_done.push(key);
            }
        }
        (Registration { id, registered, rx }, already_done)
    }

    /// Lets go of the future at `key`. Only for a future that is done: completion already
    /// removed its registration, so there is nothing left to unregister.
    pub(crate) fn forget(&mut self, key: usize) {
        if let Some(slot) = self.registered.get_mut(key) {
            *slot = None;
        }
    }
}

impl<T, E> Drop for Registration<T, E> {
    fn drop(&mut self) {
        for f in self.registered.iter().flatten() {
            f.unregister(self.id);
        }
    }
}

/// Waits until `return_when` holds or `timeout` passes: Python's
/// `concurrent.futures.wait(fs, timeout, return_when)`.
///
/// `fs` may hold duplicates (they collapse) and futures from different executors. On
/// timeout it returns the partial split; it never cancels anything. Unlike Python, a
/// future cancelled while queued counts as done at once (CPython gh-92001 blocks on it).
///
/// ```
/// use std::time::Duration;
/// use fetchpool_futures::{ReturnWhen, ThreadPoolExecutor, wait};
///
/// let pool = ThreadPoolExecutor::new(2)?;
/// let quick = pool.submit(|| Ok::<_, String>(()))?;
/// let slow = pool.submit(|| {
///     std::thread::sleep(Duration::from_millis(300));
///     Ok::<_, String>(())
/// })?;
/// let split = wait([&quick, &slow], None, ReturnWhen::FirstCompleted);
/// assert!(split.done.contains(&quick));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn wait<T, E, I>(
    fs: I,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> DoneAndNotDone<T, E>
where
    I: IntoIterator,
    I::Item: Borrow<PoolFuture<T, E>>,
{
    let fs = unique(fs);
    let deadline = deadline_after(timeout);
    let (registration, already_done) = Registration::new(&fs, None);
    let satisfied = |completed: usize, key: usize| match return_when {
        ReturnWhen::FirstCompleted => completed > 0,
        ReturnWhen::FirstException => completed == fs.len() || fs[key].raised(),
        ReturnWhen::AllCompleted => completed == fs.len(),
    };
    let mut completed = 0;
    let mut finished = fs.is_empty();
    for key in already_done {
        completed += 1;
        finished |= satisfied(completed, key);
    }
    while !finished {
        let key = match deadline {
            None => registration.rx.recv().ok(),
            Some(d) => registration.rx.recv_deadline(d).ok(),
        };
        let Some(key) = key else { break };
        completed += 1;
        finished = satisfied(completed, key);
    }
    drop(registration);
    let (done, not_done) = fs.into_iter().partition(PoolFuture::done);
    DoneAndNotDone { done, not_done }
}

/// `as_completed` gave up: Python's `TimeoutError('N (of M) futures unfinished')`.
///
/// ```
/// use std::time::Duration;
/// use fetchpool_futures::{ThreadPoolExecutor, as_completed};
///
/// let pool = ThreadPoolExecutor::new(1)?;
/// let slow = pool.submit(|| {
///     std::thread::sleep(Duration::from_millis(300));
///     Ok::<_, String>(())
/// })?;
/// let mut completed = as_completed([&slow], Some(Duration::from_millis(10)));
/// let timeout = completed.next().unwrap().unwrap_err();
/// assert_eq!((timeout.unfinished, timeout.total), (1, 1));
/// assert!(completed.next().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{unfinished} (of {total}) futures unfinished")]
pub struct AsCompletedTimeout {
    /// Futures not done at the deadline.
    pub unfinished: usize,
    /// Distinct futures given.
    pub total: usize,
}

/// Yields futures as they complete: Python's `concurrent.futures.as_completed(fs, timeout)`.
///
/// Futures already done come first, then each other one the moment it finishes or is
/// cancelled, each exactly once. The deadline is fixed by this call (Python fixes it at the
/// first `next()`, gh-73919). At the deadline the iterator yields one
/// `Err(AsCompletedTimeout)` and ends; nothing is cancelled. A future cancelled while queued
/// counts as completed (CPython gh-87893 hangs there).
///
/// ```
/// use fetchpool_futures::{ThreadPoolExecutor, as_completed};
///
/// let pool = ThreadPoolExecutor::new(3)?;
/// let futures: Vec<_> = (1..=3u32)
///     .map(|i| pool.submit(move || Ok::<_, String>(i)))
///     .collect::<Result<_, _>>()?;
/// let mut seen: Vec<u32> = as_completed(&futures, None)
///     .map(|f| f.unwrap().result(None).unwrap())
///     .collect();
/// seen.sort_unstable();
/// assert_eq!(seen, [1, 2, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn as_completed<T, E, I>(fs: I, timeout: Option<Duration>) -> AsCompleted<T, E>
where
    I: IntoIterator,
    I::Item: Borrow<PoolFuture<T, E>>,
{
    let deadline = deadline_after(timeout);
    let fs = unique(fs);
    let (registration, already_done) = Registration::new(&fs, None);
    let total = fs.len();
    let ready = already_done.into_iter().collect();
    AsCompleted {
        slots: fs.into_iter().map(Some).collect(),
        ready,
        remaining: total,
        total,
        deadline,
        // Nothing to wait for: the iterator is empty, with or without a timeout.
        registration: (total > 0).then_some(registration),
    }
}

/// The iterator returned by [`as_completed`].
///
/// ```
/// use fetchpool_futures::{ThreadPoolExecutor, as_completed};
///
/// let pool = ThreadPoolExecutor::new(2)?;
/// let futures = [pool.submit(|| Ok::<_, String>(1))?, pool.submit(|| Ok::<_, String>(2))?];
/// let completed = as_completed(&futures, None);
/// assert_eq!(completed.count(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AsCompleted<T, E> {
    /// Each distinct future by index; taken (set to `None`) when yielded, so none is yielded
    /// twice. The registration forgets it at the same moment, so once the caller drops a
    /// yielded future the iterator keeps nothing of it (CPython's
    /// test_free_reference_yielded_future).
    slots: Vec<Option<PoolFuture<T, E>>>,
    /// Indices found done at the start, yielded first.
    ready: VecDeque<usize>,
    /// Futures not yet yielded.
    remaining: usize,
    /// Distinct futures given.
    total: usize,
    /// When to give up.
    deadline: Option<Instant>,
    /// Live until the iterator ends; dropping it unregisters from every future.
    registration: Option<Registration<T, E>>,
}

impl<T, E> fmt::Debug for AsCompleted<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .field("total", &self.total)
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl<T, E> AsCompleted<T, E> {
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
}

impl<T, E> Iterator for AsCompleted<T, E> {
    type Item = Result<PoolFuture<T, E>, AsCompletedTimeout>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(key) = self.ready.pop_front() {
            if let Some(f) = self.take(key) {
                return Some(Ok(f));
            }
        }
        loop {
            let registration = self.registration.as_ref()?;
            let key = match self.deadline {
                None => registration
                    .rx
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
                Some(d) => registration.rx.recv_deadline(d),
            };
            match key {
                Ok(key) => {
                    if let Some(f) = self.take(key) {
                        return Some(Ok(f));
                    }
                }
                Err(_) => {
                    // Timed out. (Disconnection cannot happen: every registered future
                    // holds a sender until it completes, and each completion sends.)
                    self.registration = None;
                    let unfinished = self.remaining;
                    self.slots.clear();
                    self.remaining = 0;
                    return Some(Err(AsCompletedTimeout {
                        unfinished,
                        total: self.total,
                    }));
                }
            }
        }
    }
}
