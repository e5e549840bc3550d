//! The errors of building a pool and submitting to one, shared by both pools (a leaf:
//! `crew`, `map` and the pools use it, it uses none of them).

/// Why `submit` refused a task.
///
/// ```
/// use fetchpool_futures::{SubmitError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(1)?;
/// pool.shutdown(true, false);
/// let refused = pool.submit(|| Ok::<_, String>(()));
/// assert!(matches!(refused, Err(SubmitError::Shutdown)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// `shutdown` was called: Python's
    /// `RuntimeError('cannot schedule new futures after shutdown')`.
    #[error("cannot schedule new futures after shutdown")]
    Shutdown,
    /// A worker's initializer failed: Python's `BrokenThreadPool`.
    #[error("{0}")]
    Broken(String),
    /// The pool had no worker and the OS refused to start one.
    #[error("cannot start a worker thread: {0}")]
    Spawn(String),
    /// The process pool cannot run this task: it is not registered with the guard, or is
    /// registered with other types.
    #[error("{0}")]
    UnknownTask(String),
}

/// Errors from [`ThreadPoolBuilder::build`](crate::ThreadPoolBuilder::build).
///
/// ```
/// use fetchpool_futures::{BuildError, ThreadPoolExecutor};
///
/// assert_eq!(ThreadPoolExecutor::new(0).unwrap_err(), BuildError::ZeroWorkers);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// `max_workers` was 0: Python's `ValueError('max_workers must be greater than 0')`.
    #[error("max_workers must be greater than 0")]
    ZeroWorkers,
    /// `queue_capacity` was 0 (a rendezvous queue would make `submit` wait for a worker).
    #[error("queue_capacity must be greater than 0")]
    ZeroQueue,
    /// `max_tasks_per_child` was 0: Python's `ValueError`.
    #[error("max_tasks_per_child must be >= 1")]
    ZeroTasksPerChild,
    /// A process pool was built in a program whose `main` did not call
    /// `fetchpool_futures::process::guard`.
    #[error(
        "fetchpool_futures::process::guard was not called: call it first in main, \
         with the tasks the pool will run"
    )]
    NoGuard,
    /// The process pool's initializer is not registered or its argument cannot be
    /// serialised.
    #[error("bad initializer: {0}")]
    Initializer(String),
}

/// `map` was given a `chunksize` of 0: Python's `ValueError('chunksize must be >= 1.')`.
///
/// ```
/// use fetchpool_futures::{ChunksizeError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new(1)?;
/// let refused = pool.map_chunked(|x: u8| Ok::<_, String>(x), [1], None, 0);
/// assert_eq!(refused.unwrap_err(), ChunksizeError);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("chunksize must be >= 1")]
pub struct ChunksizeError;
