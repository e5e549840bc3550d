//! `Executor.map`: results in input order, from a bounded window of submitted tasks.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use super::error::SubmitError;
use super::future::{FutureError, PoolFuture, TaskError, deadline_after};

/// What one position of [`ThreadPoolExecutor::map`](crate::ThreadPoolExecutor::map) can yield instead of a value.
///
/// ```
/// use fetchpool_futures::{MapError, TaskError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(2)?;
/// let results: Vec<_> = pool
///     .map(|x: i32| if x < 0 { Err("negative") } else { Ok(x) }, [1, -1, 2], None)
///     .collect();
/// assert_eq!(results[1], Err(MapError::Task(TaskError::Raised("negative"))));
/// assert_eq!(results[2], Ok(2), "an error does not end the map");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError<E> {
    /// The task failed: the exception Python's `map` re-raises at that position.
    #[error(transparent)]
    Task(TaskError<E>),
    /// The map's deadline passed before this result was ready: Python's `TimeoutError`.
    /// The remaining tasks were cancelled and the iterator ends.
    #[error("timed out waiting for the map's results")]
    Timeout,
    /// The task was cancelled from outside (a `shutdown(cancel_futures = true)`):
    /// Python's `CancelledError`.
    #[error("task was cancelled")]
    Cancelled,
    /// The executor refused to schedule this item because it was shut down or broken
    /// (Python raises `RuntimeError` from `next()`); the iterator ends.
    #[error("{0}")]
    Rejected(SubmitError),
}

impl<E> From<FutureError<E>> for MapError<E> {
    fn from(e: FutureError<E>) -> Self {
        match e {
            FutureError::Task(t) => MapError::Task(t),
            FutureError::Timeout => MapError::Timeout,
            FutureError::Cancelled => MapError::Cancelled,
        }
    }
}

/// Submits one input item to the pool behind a [`MapIter`].
pub(crate) type Submit<'a, A, T, E> =
    Box<dyn FnMut(A) -> Result<PoolFuture<T, E>, SubmitError> + 'a>;

/// The iterator returned by [`ThreadPoolExecutor::map`](crate::ThreadPoolExecutor::map)
/// (and by the process pool's `map`): Python's `Executor.map` result.
///
/// - Yields `Ok(value)` or `Err(error)` for each input, in input order. An error at one
///   position does not end the iteration (CPython's newest behaviour, gh-108518), and an
///   error the task itself raises is never mistaken for the map's timeout (gh-155852).
/// - The deadline is `timeout` after the `map` call. A result already finished is
///   returned even after the deadline; the first one that is not yields
///   `Err(MapError::Timeout)`, that task and every queued one are cancelled, no more
///   input is read, and the iterator ends.
/// - Dropping the iterator cancels every submitted task that has not started.
/// - Lazy: `window` tasks are submitted by the `map` call (Python 3.14's `buffersize`, but
///   on by default), and each `next()` submits one more before it waits for the oldest, so
///   `window + 1` tasks are outstanding while the caller waits, as in CPython.
/// - If the executor shuts down mid-way, the tasks already submitted still yield their
///   results, then one `Err(MapError::Rejected(..))` stands for the first input that could
///   not be submitted, and the iterator ends (Python raises `RuntimeError` from `next()`).
///
/// ```
/// use fetchpool_futures::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(2)?;
/// let mut results = pool.map(|x: u32| Ok::<_, String>(x + 1), [1, 2, 3], None);
/// assert_eq!(results.next(), Some(Ok(2)));
/// drop(results); // tasks not started yet are cancelled
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MapIter<'a, I: Iterator, T, E> {
    /// Submits one item to the pool (the mapped function is inside).
    submit: Submit<'a, I::Item, T, E>,
    /// The rest of the input; `None` once exhausted, timed out or rejected.
    items: Option<I>,
    /// Submitted tasks, oldest (next to yield) first; at most `window + 1` long.
    pending: VecDeque<PoolFuture<T, E>>,
    /// `timeout` after the `map` call.
    deadline: Option<Instant>,
    /// How many tasks may be submitted ahead.
    window: usize,
    /// Set when a submit was refused; yielded once the pending tasks are drained.
    rejected: Option<SubmitError>,
    /// Set after a timeout: the iterator is finished.
    finished: bool,
}

impl<I: Iterator, T, E> fmt::Debug for MapIter<'_, I, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapIter")
            .field("pending", &self.pending.len())
            .field("window", &self.window)
            .field("deadline", &self.deadline)
            .field("finished", &self.finished)
            .finish()
    }
}

impl<'a, I: Iterator, T, E> MapIter<'a, I, T, E> {
    /// Computes the deadline, then submits the first `window` tasks (as Python does in the
    /// `map` call itself).
    pub(crate) fn new(
        submit: Submit<'a, I::Item, T, E>,
        items: I,
        timeout: Option<Duration>,
        window: usize,
    ) -> Self {
        let mut it = MapIter {
            submit,
            items: Some(items),
            // Grows as tasks are submitted: `window` may be `usize::MAX` ("unbounded").
            pending: VecDeque::new(),
            deadline: deadline_after(timeout),
            window,
            rejected: None,
            finished: false,
        };
        it.fill(window);
        it
    }

    /// Submits tasks until `target` are pending or the input ends.
    fn fill(&mut self, target: usize) {
        while self.pending.len() < target {
            let Some(item) = self.items.as_mut().and_then(Iterator::next) else {
                self.items = None;
                return;
            };
            match (self.submit)(item) {
                Ok(future) => self.pending.push_back(future),
                Err(e) => {
                    self.rejected = Some(e);
                    self.items = None;
                    return;
                }
            }
        }
    }
}

impl<I, T, E> Iterator for MapIter<'_, I, T, E>
where
    I: Iterator,
    T: Clone,
    E: Clone,
{
    type Item = Result<T, MapError<E>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        // Top up first, like Python's buffersize: one more task runs while we wait.
        self.fill(self.window.saturating_add(1));
        let Some(future) = self.pending.pop_front() else {
            self.finished = true;
            return self.rejected.take().map(|e| Err(MapError::Rejected(e)));
        };
        let timeout = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        match future.result(timeout) {
            Err(FutureError::Timeout) if future.done() => {
                // Finished in the instant between the timeout and this check.
                Some(future.result(Some(Duration::ZERO)).map_err(MapError::from))
            }
            Err(FutureError::Timeout) => {
                future.cancel();
                self.cancel_rest();
                self.finished = true;
                Some(Err(MapError::Timeout))
            }
            outcome => Some(outcome.map_err(MapError::from)),
        }
    }
}

impl<I: Iterator, T, E> MapIter<'_, I, T, E> {
    /// Cancels every task not yet started and stops reading input.
    fn cancel_rest(&mut self) {
        for future in self.pending.drain(..) {
            future.cancel();
        }
        self.items = None;
    }
}

impl<I: Iterator, T, E> Drop for MapIter<'_, I, T, E> {
    /// Python's `close()`: cancels what has not started.
    fn drop(&mut self) {
        self.cancel_rest();
    }
}

/// The input read `chunksize` items at a time, each chunk's length noted for
/// [`ChunkedMap`] (which yields one outcome per item).
#[cfg(feature = "process")]
pub(crate) struct Chunks<I> {
    items: I,
    chunksize: usize,
    sizes: std::rc::Rc<std::cell::RefCell<VecDeque<usize>>>,
}

#[cfg(feature = "process")]
impl<I: Iterator> Iterator for Chunks<I> {
    type Item = Vec<I::Item>;

    fn next(&mut self) -> Option<Vec<I::Item>> {
        let chunk: Vec<I::Item> = self.items.by_ref().take(self.chunksize).collect();
        if chunk.is_empty() {
            return None;
        }
        self.sizes.borrow_mut().push_back(chunk.len());
        Some(chunk)
    }
}

/// The iterator returned by the process pool's
/// [`map_chunked`](crate::ProcessPoolExecutor::map_chunked): one outcome per input item,
/// in input order, from tasks of `chunksize` items each. Timeouts, cancellation and a
/// shut-down pool work as for [`MapIter`], whose window here counts chunks.
///
/// ```standalone_crate
/// # use std::time::Duration;
/// # use fetchpool_futures::*;
/// # fn square(x: u64) -> Result<u64, String> { Ok(x * x) }
/// # static SQUARE: Task<u64, u64, String> = Task::new("square", square);
/// # fn nap(ms: u64) -> Result<u64, String> { std::thread::sleep(Duration::from_millis(ms)); Ok(ms) }
/// # static NAP: Task<u64, u64, String> = Task::new("nap", nap);
/// # fn set_up(_: ()) -> Result<(), String> { Ok(()) }
/// # static SET_UP: Task<(), (), String> = Task::new("set_up", set_up);
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # process::guard(Registry::new().register(&SQUARE).register(&NAP).register(&SET_UP));
/// let pool = ProcessPoolExecutor::new(2)?;
/// let mut squares = pool.map_chunked(&SQUARE, 1..=100, None, 10)?;
/// assert_eq!(squares.next(), Some(Ok(1)));
/// assert_eq!(squares.count(), 99);
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "process")]
pub struct ChunkedMap<'a, I: Iterator, T, E> {
    /// The chunks' tasks, in order.
    chunks: MapIter<'a, Chunks<I>, Vec<crate::task::ChunkItem<T, E>>, E>,
    /// The length of each chunk submitted and not yet yielded.
    sizes: std::rc::Rc<std::cell::RefCell<VecDeque<usize>>>,
    /// The outcomes of the chunk being yielded.
    current: std::vec::IntoIter<crate::task::ChunkItem<T, E>>,
    /// A failure of a whole chunk, and how many more of its items still yield it.
    repeat: Option<(MapError<E>, usize)>,
}

#[cfg(feature = "process")]
impl<I: Iterator, T, E> fmt::Debug for ChunkedMap<'_, I, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkedMap")
            .field("chunks", &self.chunks)
            .finish()
    }
}

#[cfg(feature = "process")]
impl<'a, I: Iterator, T, E> ChunkedMap<'a, I, T, E> {
    /// Submits the first `window` chunks of `chunksize` items (at least 1).
    pub(crate) fn new(
        submit: Submit<'a, Vec<I::Item>, Vec<crate::task::ChunkItem<T, E>>, E>,
        items: I,
        timeout: Option<Duration>,
        window: usize,
        chunksize: usize,
    ) -> Self {
        let sizes = std::rc::Rc::default();
        let chunks = Chunks {
            items,
            chunksize: chunksize.max(1),
            sizes: std::rc::Rc::clone(&sizes),
        };
        ChunkedMap {
            chunks: MapIter::new(submit, chunks, timeout, window),
            sizes,
            current: Vec::new().into_iter(),
            repeat: None,
        }
    }
}

#[cfg(feature = "process")]
impl<I, T, E> Iterator for ChunkedMap<'_, I, T, E>
where
    I: Iterator,
    T: Clone,
    E: Clone,
{
    type Item = Result<T, MapError<E>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(outcome) = self.current.next() {
                return Some(match outcome {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(error)) => Err(MapError::Task(TaskError::Raised(error))),
                    Err(panic) => Err(MapError::Task(TaskError::Panicked(panic))),
                });
            }
            if let Some((error, left)) = &mut self.repeat
                && *left > 0
            {
                *left -= 1;
                return Some(Err(error.clone()));
            }
            self.repeat = None;
            let outcome = self.chunks.next()?;
            let size = self.sizes.borrow_mut().pop_front().unwrap_or(1);
            match outcome {
                Ok(items) if items.len() == size => self.current = items.into_iter(),
                Ok(items) => {
                    let error = MapError::Task(TaskError::Codec(format!(
                        "a worker answered a chunk of {size} items with {} results",
                        items.len()
                    )));
                    self.repeat = Some((error, size));
                }
                // The map ends: one error stands for the rest, as in `MapIter`.
                Err(error @ (MapError::Timeout | MapError::Rejected(_))) => {
                    return Some(Err(error));
                }
                Err(error) => self.repeat = Some((error, size)),
            }
        }
    }
}
