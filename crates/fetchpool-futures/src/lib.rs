//! Python's `concurrent.futures` in Rust: the thread pool, and (feature `process`) the
//! process pool.
//!
//! | Python | here |
//! |---|---|
//! | `ThreadPoolExecutor(max_workers, thread_name_prefix, initializer)` | [`ThreadPoolExecutor::new`], [`ThreadPoolExecutor::builder`] |
//! | `executor.submit(fn)` | [`ThreadPoolExecutor::submit`] |
//! | `executor.map(fn, it, timeout, buffersize)` | [`ThreadPoolExecutor::map`] (bounded window by default) |
//! | `executor.map(fn, it, timeout, chunksize)` | `ProcessPoolExecutor::map_chunked` (items sent in chunks), [`ThreadPoolExecutor::map_chunked`] (ignored, as in CPython) |
//! | `executor.shutdown(wait, cancel_futures)`, `with` | [`ThreadPoolExecutor::shutdown`], `Drop` |
//! | `Future` | [`PoolFuture`] |
//! | `wait(fs, timeout, return_when)` | [`wait()`] with [`ReturnWhen`] |
//! | `as_completed(fs, timeout)` | [`as_completed`] |
//! | `asyncio.wrap_future(f)`, `await` | `f.await` ([`Completion`]), [`as_completed_async`], [`wait_async`] |
//! | `CancelledError`, `TimeoutError` | [`WaitError`], [`FutureError`], [`MapError`] |
//! | `BrokenThreadPool` | [`TaskError::Broken`], [`SubmitError::Broken`] |
//! | the `concurrent.futures` logger | [`set_report_hook`] (the library never prints) |
//! | `ProcessPoolExecutor` (feature `process`) | `ProcessPoolExecutor`, `ProcessPoolBuilder` |
//! | `if __name__ == '__main__':` | `process::guard(Registry)` first in `main` |
//! | a module-level function sent to a worker | `Task<A, T, E>`, registered by name |
//! | the `Executor` base class | the `Executor` trait, for both pools |
//!
//! The process pool runs registered, serialised tasks in copies of the program; a worker
//! that dies fails only its own task (`TaskError::WorkerDied`) where Python breaks the
//! whole pool, and an optional time limit kills a hung one (`TaskError::TimedOut`). Its
//! design is in the `process` module's documentation.
//!
//! Where this differs from Python, and why:
//! - A future cancelled while queued is complete at once, for `wait` and `as_completed`
//!   too (CPython gh-87893, gh-92001, gh-109934 hang on it).
//! - `map` is lazy with a window of `2 * max_workers` by default (Python submits the whole
//!   input up front unless `buffersize` is given), so endless inputs work.
//! - `as_completed`'s deadline starts when it is called, not at the first `next()`.
//! - A task's error type is its own, so an error the task raises can never be confused
//!   with the timeout of `map` or `result` (gh-155852).
//! - A panicking task or callback never kills a worker (Python loses the thread on a
//!   `BaseException` in a callback).
//! - `submit` can block on a bounded queue when asked to (gh-73781).
//!
//! ```
//! use fetchpool_futures::{ThreadPoolExecutor, ReturnWhen, wait};
//!
//! let executor = ThreadPoolExecutor::new(4)?;
//! let squares: Vec<_> = (0..8u64)
//!     .map(|i| executor.submit(move || Ok::<_, String>(i * i)))
//!     .collect::<Result<_, _>>()?;
//! let split = wait(&squares, None, ReturnWhen::AllCompleted);
//! assert_eq!(split.done.len(), 8);
//! let total: u64 = squares.iter().map(|f| f.result(None).unwrap()).sum();
//! assert_eq!(total, 140);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(all(feature = "process", not(target_os = "linux")))]
compile_error!(
    "the `process` feature needs Linux (PR_SET_PDEATHSIG, /proc/self/exe); build without it"
);

mod awaitable;
mod crew;
mod error;
mod executor;
mod future;
mod hook;
mod map;
#[cfg(feature = "process")]
pub mod process;
mod sync;
#[cfg(feature = "process")]
mod task;
mod wait;
#[cfg(feature = "process")]
mod wire;

pub use awaitable::{AsCompletedAsync, Completion, as_completed_async, wait_async};
pub use error::{BuildError, ChunksizeError, SubmitError};
pub use executor::{ThreadPoolBuilder, ThreadPoolExecutor};
#[cfg(fetchpool_loom)]
#[doc(hidden)]
pub use future::model;
pub use future::{FutureError, PoolFuture, TaskError, WaitError};
pub use hook::{Report, set_report_hook};
#[cfg(feature = "process")]
pub use map::ChunkedMap;
pub use map::{MapError, MapIter};
#[cfg(feature = "process")]
pub use process::{ProcessPoolBuilder, ProcessPoolExecutor};
#[cfg(feature = "process")]
pub use task::{Executor, Registry, Task, Wire};
pub use wait::{AsCompleted, AsCompletedTimeout, DoneAndNotDone, ReturnWhen, as_completed, wait};
