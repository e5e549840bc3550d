//! The process pool: Python's `ProcessPoolExecutor`, with one dead worker failing one
//! task instead of the whole pool.
//!
//! # Design
//!
//! ```text
//!  submit(&TASK, arg) ── encode ──▶ queue ──▶ slot thread 0 ◀── socketpair ──▶ worker process
//!                                     │       slot thread 1 ◀────────────────▶ worker process
//!                                     └──▶    …  (at most max_workers)
//! ```
//!
//! - **Slots.** Each worker process belongs to one *slot thread* of the parent, which
//!   starts it, sends it one task at a time over its own socketpair, reads the answer,
//!   completes the future, and reaps it. Slots start lazily and are counted idle by the
//!   same crew as the thread pool's workers (`crate::crew`), so three sequential
//!   submit-and-wait calls use one process, and there are never more than `max_workers`
//!   processes: a slot reaps its process before it starts the next.
//! - **One task in flight per worker.** A task waits in the queue (pending and
//!   cancellable) until a slot takes it; then it is running. So a worker that dies is
//!   running exactly one task, and only that future fails
//!   ([`TaskError::WorkerDied`], naming the exit code or
//!   signal). The slot starts a new process for its next task. Python breaks the whole pool
//!   instead (`BrokenProcessPool`), because its shared call queue hides which worker held
//!   what.
//! - **Time limit.** With [`ProcessPoolBuilder::time_limit`], a slot waits that long for
//!   an answer, then kills the worker (and its process group) and fails the future with
//!   [`TaskError::TimedOut`].
//! - **`max_tasks_per_child`.** After its Nth answer the slot closes the worker's socket
//!   and reaps it; the next task starts a fresh one. Nothing counts completions across
//!   slots, so no stale count can starve a replacement (CPython gh-115634), and shutdown
//!   never touches what a slot reads (gh-119592).
//! - **No orphans.** A worker asks the kernel for SIGKILL when the slot thread that started
//!   it ends (`PR_SET_PDEATHSIG`; each slot thread outlives its processes), sees the end of
//!   its socket when idle, and runs in its own process group, which the pool kills on a
//!   time limit and on [`kill_workers`](ProcessPoolExecutor::kill_workers). A worker's pid
//!   is never signalled after it was reaped: the `Child` sits behind a lock its slot reaps
//!   under.
//! - **Broken.** The pool breaks, as Python's does, when a worker's initializer fails, or
//!   when three worker processes in a row fail to start (the guard is missing, the program
//!   cannot be executed): queued futures fail with
//!   [`TaskError::Broken`] and `submit` refuses.
//!
//! Lock order: a future's lock, then the pool's; a slot's `Child` lock is taken alone.

mod worker;

pub use worker::guard;

use std::fmt;
use std::io::{self, Read};
use std::num::NonZeroUsize;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::crew::{Crew, CrewState};
use crate::error::{BuildError, ChunksizeError, SubmitError};
use crate::future::{Inner, PoolFuture, Slot, TaskError, report_panic};
use crate::map::{ChunkedMap, MapError, MapIter};
use crate::sync::Recover;
use crate::task::{Executor, Task, Wire};
use crate::wire::{self, Frame, Kind};

/// How long a new worker has to say hello before it counts as failed to start.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a retiring worker has to exit after its socket closed before it is killed.
const RETIRE_GRACE: Duration = Duration::from_secs(5);

/// Worker processes failing to start in a row that break the pool.
const START_FAILURES_TO_BREAK: u32 = 3;

/// How a task ended without an answer from its worker.
enum Lost {
    /// The pool is broken or was forcefully shut down.
    Broken(String),
    /// The worker died.
    Died(String),
    /// The time limit passed.
    TimedOut(Duration),
    /// The argument could not be encoded, or the answer was not understood.
    Codec(String),
}

impl Lost {
    fn into_task_error<E>(self) -> TaskError<E> {
        match self {
            Lost::Broken(m) => TaskError::Broken(m),
            Lost::Died(m) => TaskError::WorkerDied(m),
            Lost::TimedOut(d) => TaskError::TimedOut(d),
            Lost::Codec(m) => TaskError::Codec(m),
        }
    }
}

/// A queued task erased of its types, as a slot sees it.
trait Job: Send + Sync {
    /// PENDING → RUNNING; `false` if it was cancelled.
    fn start(&self) -> bool;
    /// The encoded call, taken once.
    fn take_frame(&self) -> Option<Frame>;
    /// Decodes the worker's answer and completes the future.
    fn finish(self: Arc<Self>, kind: Kind, body: &[u8], free: &dyn Fn());
    /// Completes the future with a failure.
    fn fail(self: Arc<Self>, lost: Lost, free: &dyn Fn());
    /// Cancels it (shutdown with `cancel_futures`) and drops its frame.
    fn cancel(self: Arc<Self>);
}

/// One submitted task: its future's state and its encoded call.
struct ProcCell<T, E> {
    inner: Inner<T, E>,
    /// The task's name, for error messages.
    name: &'static str,
    /// The CALL frame, until a slot sends it.
    frame: Mutex<Option<Frame>>,
}

impl<T: Send, E: Send> Slot<T, E> for ProcCell<T, E> {
    fn inner(&self) -> &Inner<T, E> {
        &self.inner
    }
}

impl<T: Wire, E: Wire> Job for ProcCell<T, E> {
    fn start(&self) -> bool {
        self.inner.start()
    }

    fn take_frame(&self) -> Option<Frame> {
        self.frame.lock().recover().take()
    }

    fn finish(self: Arc<Self>, kind: Kind, body: &[u8], free: &dyn Fn()) {
        let name = self.name;
        let undecodable = |what: &str, e: String| {
            TaskError::Codec(format!(
                "cannot deserialise the {what} of task '{name}': {e}"
            ))
        };
        let text = || String::from_utf8_lossy(body).into_owned();
        // A `Deserialize` that panics must not leave the future running forever: the
        // panic becomes the future's error, like any decoding failure.
        let decoded = catch_unwind(AssertUnwindSafe(|| match kind {
            Kind::Ok => wire::decode::<T>(body).map_err(|e| undecodable("result", e)),
            Kind::Raised => match wire::decode::<E>(body) {
                Ok(e) => Err(TaskError::Raised(e)),
                Err(e) => Err(undecodable("error", e)),
            },
            Kind::Panicked => Err(TaskError::Panicked(text())),
            Kind::Codec => Err(TaskError::Codec(text())),
            other => Err(TaskError::Codec(format!(
                "the worker answered task '{name}' with a {other:?} frame"
            ))),
        }));
        let outcome = decoded.unwrap_or_else(|payload| {
            let what = crate::future::panic_message(payload.as_ref());
            Err(TaskError::Codec(format!(
                "deserialising the answer of task '{name}' panicked: {what}"
            )))
        });
        PoolFuture::from_slot(self).complete_then(outcome, free);
    }

    fn fail(self: Arc<Self>, lost: Lost, free: &dyn Fn()) {
        drop(self.take_frame());
        PoolFuture::from_slot(self).complete_then(Err(lost.into_task_error()), free);
    }

    fn cancel(self: Arc<Self>) {
        PoolFuture::from_slot(Arc::clone(&self) as Arc<dyn Slot<T, E>>).cancel();
        drop(self.take_frame());
    }
}

/// A slot's worker process, shared with the pool so `terminate_workers` can signal it.
type ChildCell = Arc<Mutex<Option<Child>>>;

/// The process pool's own bookkeeping, under the crew's lock.
struct Procs {
    /// Set by `terminate_workers`/`kill_workers`: no process starts any more.
    forced: Option<&'static str>,
    /// Each slot's worker process, if it has one.
    children: Vec<ChildCell>,
    /// Worker processes started over the pool's life.
    processes_started: u64,
    /// Worker processes that failed to start since the last one that did.
    start_failures: u32,
}

/// The pool's fixed settings.
struct Config {
    max_tasks_per_child: Option<usize>,
    time_limit: Option<Duration>,
    start_timeout: Duration,
    /// The encoded initializer call, sent to every new worker before its first task.
    initializer: Option<Frame>,
    /// The executable started as a worker.
    program: PathBuf,
}

/// What the executor handle and every slot thread share.
struct Shared {
    /// The slot threads, their queue and bookkeeping (see `crate::crew`).
    crew: Crew<Arc<dyn Job>, Procs>,
    config: Config,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, CrewState<Arc<dyn Job>, Procs>> {
        self.crew.lock()
    }

    /// Why a slot must not start a task now: the pool is broken or forcefully shut down.
    fn refusal(&self) -> Option<String> {
        let state = self.lock();
        if let Some(why) = &state.broken {
            return Some(why.clone());
        }
        state.extra.forced.map(|how| {
            format!("the process pool was forcefully shut down ({how}) before the task could run")
        })
    }

    /// Breaks the pool (the first reason wins).
    fn break_pool(&self, reason: String) {
        crate::hook::report("in the process pool", reason.clone());
        self.lock().broken.get_or_insert(reason);
    }
}

/// Configures a [`ProcessPoolExecutor`]: the keyword arguments of Python's constructor,
/// plus a hard time limit per task.
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
/// let pool = ProcessPoolExecutor::builder()
///     .max_workers(2)
///     .max_tasks_per_child(100)
///     .time_limit(Duration::from_secs(60))
///     .initializer(&SET_UP, ())
///     .build()?;
/// assert_eq!(pool.submit(&SQUARE, 3)?.result(None)?, 9);
/// # Ok(())
/// # }
/// ```
pub struct ProcessPoolBuilder {
    max_workers: Option<usize>,
    max_tasks_per_child: Option<usize>,
    time_limit: Option<Duration>,
    start_timeout: Duration,
    initializer: Option<Result<(&'static str, Frame), String>>,
    program: Option<PathBuf>,
}

impl fmt::Debug for ProcessPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("time_limit", &self.time_limit)
            .field("initializer", &self.initializer.is_some())
            .finish()
    }
}

impl Default for ProcessPoolBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessPoolBuilder {
    /// A builder with Python's defaults.
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
    /// let pool = ProcessPoolBuilder::new().build()?; // one worker per CPU
    /// assert!(pool.max_workers() >= 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Self {
        ProcessPoolBuilder {
            max_workers: None,
            max_tasks_per_child: None,
            time_limit: None,
            start_timeout: DEFAULT_START_TIMEOUT,
            initializer: None,
            program: None,
        }
    }

    /// At most this many worker processes: Python's `max_workers`. Default: the number of
    /// CPUs this process may use (`os.process_cpu_count()`). Zero makes `build` fail.
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
    /// let pool = ProcessPoolExecutor::builder().max_workers(3).build()?;
    /// assert_eq!(pool.max_workers(), 3);
    /// let refused = ProcessPoolExecutor::builder().max_workers(0).build();
    /// assert_eq!(refused.unwrap_err(), BuildError::ZeroWorkers);
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// A worker exits after this many tasks and a fresh one takes its place: Python's
    /// `max_tasks_per_child`. Default: workers live as long as the pool. Zero makes
    /// `build` fail.
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
    /// let pool = ProcessPoolExecutor::builder()
    ///     .max_workers(1)
    ///     .max_tasks_per_child(1)
    ///     .build()?;
    /// for i in 0..3 {
    ///     pool.submit(&SQUARE, i)?.result(None)?;
    /// }
    /// assert_eq!(pool.processes_started(), 3, "a fresh worker for each task");
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// A hard limit on each task: once its worker has run it this long, the worker (and
    /// its process group) is killed and the future fails with
    /// [`TaskError::TimedOut`]. Not in Python. Unlike the
    /// timeout of `result()`, which only stops waiting, this ends the task.
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
    /// let pool = ProcessPoolExecutor::builder()
    ///     .max_workers(1)
    ///     .time_limit(Duration::from_millis(200))
    ///     .build()?;
    /// let hung = pool.submit(&NAP, 60_000)?;
    /// assert!(matches!(hung.exception(None)?, Some(TaskError::TimedOut(_))));
    /// assert_eq!(pool.submit(&SQUARE, 4)?.result(None)?, 16, "a new worker goes on");
    /// # Ok(())
    /// # }
    /// ```
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// The executable started as a worker (Python's `set_executable`). Default: this
    /// program, as `/proc/self/exe`, which still works after its file was replaced. It
    /// must call [`guard`] first in `main` with the same tasks.
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
    /// // The default is this program itself; another must call the guard with the same tasks.
    /// let pool = ProcessPoolExecutor::builder()
    ///     .program(std::env::current_exe()?)
    ///     .build()?;
    /// assert_eq!(pool.submit(&SQUARE, 5)?.result(None)?, 25);
    /// # Ok(())
    /// # }
    /// ```
    pub fn program(mut self, path: impl Into<PathBuf>) -> Self {
        self.program = Some(path.into());
        self
    }

    /// How long a new worker process has to become ready (default 30 s).
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
    /// let pool = ProcessPoolExecutor::builder()
    ///     .start_timeout(Duration::from_secs(30))
    ///     .build()?;
    /// assert_eq!(pool.submit(&SQUARE, 6)?.result(None)?, 36);
    /// # Ok(())
    /// # }
    /// ```
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Runs `task(arg)` once in each new worker before its first task: Python's
    /// `initializer` and `initargs`. If it returns `Err` or panics, the pool is broken,
    /// as in Python. The task must be registered like any other.
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
    /// let pool = ProcessPoolExecutor::builder()
    ///     .max_workers(1)
    ///     .initializer(&SET_UP, ()) // runs once in each worker, before its first task
    ///     .build()?;
    /// assert_eq!(pool.submit(&SQUARE, 7)?.result(None)?, 49);
    /// # Ok(())
    /// # }
    /// ```
    pub fn initializer<A: Wire, E: Wire>(mut self, task: &Task<A, (), E>, arg: A) -> Self {
        let frame = Frame::call(Kind::Init, task.name(), &arg);
        let checked = worker::registry()
            .map(|r| r.check(task).map_err(|e| e.to_string()))
            .unwrap_or(Ok(()));
        self.initializer = Some(checked.and(frame.map(|f| (task.name(), f))));
        self
    }

    /// Builds the pool. No process starts until the first `submit`.
    ///
    /// # Errors
    /// [`BuildError::ZeroWorkers`] or [`BuildError::ZeroTasksPerChild`] for a zero;
    /// [`BuildError::NoGuard`] if `main` did not call [`guard`]; [`BuildError::Initializer`]
    /// if the initializer is not registered or its argument cannot be serialised.
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
    /// let pool = ProcessPoolExecutor::builder().max_workers(2).build()?;
    /// assert_eq!(pool.processes_started(), 0, "processes start at the first submit");
    /// # Ok(())
    /// # }
    /// ```
    pub fn build(self) -> Result<ProcessPoolExecutor, BuildError> {
        let max_workers = match self.max_workers {
            Some(0) => return Err(BuildError::ZeroWorkers),
            Some(n) => n,
            None => thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        if self.max_tasks_per_child == Some(0) {
            return Err(BuildError::ZeroTasksPerChild);
        }
        if worker::registry().is_none() {
            return Err(BuildError::NoGuard);
        }
        let initializer = match self.initializer {
            None => None,
            Some(Ok((_, frame))) => Some(frame),
            Some(Err(e)) => return Err(BuildError::Initializer(e)),
        };
        Ok(ProcessPoolExecutor {
            shared: Arc::new(Shared {
                crew: Crew::new(
                    max_workers,
                    None,
                    Procs {
                        forced: None,
                        children: Vec::new(),
                        processes_started: 0,
                        start_failures: 0,
                    },
                ),
                config: Config {
                    max_tasks_per_child: self.max_tasks_per_child,
                    time_limit: self.time_limit,
                    start_timeout: self.start_timeout,
                    initializer,
                    program: self.program.unwrap_or_else(this_program),
                },
            }),
        })
    }
}

/// A pool of worker processes that run registered [`Task`]s: Python's
/// `concurrent.futures.ProcessPoolExecutor`.
///
/// Its futures are the same [`PoolFuture`]s as the thread pool's, so [`wait`](crate::wait())
/// and [`as_completed`](crate::as_completed) take futures of both. `main` must call
/// [`guard`] first (see there). Dropping the pool is `shutdown(wait = true)`.
///
/// Differences from Python: a worker that dies fails only its own task
/// ([`TaskError::WorkerDied`]) and is replaced, where Python
/// breaks the pool; a task is pending (cancellable) until a worker takes it, where Python
/// marks `max_workers + 1` tasks running ahead of time; an optional hard
/// [time limit](ProcessPoolBuilder::time_limit) kills a hung task's worker.
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
/// let futures: Vec<_> = (1..=4)
///     .map(|i| pool.submit(&SQUARE, i))
///     .collect::<Result<_, _>>()?;
/// let total: u64 = futures.iter().map(|f| f.result(None).unwrap()).sum();
/// assert_eq!(total, 30);
/// # Ok(())
/// # }
/// ```
pub struct ProcessPoolExecutor {
    shared: Arc<Shared>,
}

impl fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.shared.crew.max_workers)
            .field("processes_started", &state.extra.processes_started)
            .field("shutdown", &state.sender.is_none())
            .field("broken", &state.broken)
            .finish()
    }
}

impl ProcessPoolExecutor {
    /// A pool of at most `max_workers` processes: `ProcessPoolExecutor(max_workers=n)`.
    ///
    /// # Errors
    /// As [`ProcessPoolBuilder::build`].
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
    /// assert_eq!(pool.max_workers(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(max_workers: usize) -> Result<Self, BuildError> {
        ProcessPoolBuilder::new().max_workers(max_workers).build()
    }

    /// A builder for the other options.
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
    /// let pool = ProcessPoolExecutor::builder().max_workers(1).build()?;
    /// assert_eq!(pool.max_workers(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::new()
    }

    /// The most processes this pool runs at once.
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
    /// assert_eq!(ProcessPoolExecutor::new(4)?.max_workers(), 4);
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_workers(&self) -> usize {
        self.shared.crew.max_workers
    }

    /// Worker processes started so far, replacements included.
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
    /// pool.submit(&SQUARE, 1)?.result(None)?;
    /// pool.submit(&SQUARE, 2)?.result(None)?;
    /// assert_eq!(pool.processes_started(), 1, "an idle worker is reused");
    /// # Ok(())
    /// # }
    /// ```
    pub fn processes_started(&self) -> u64 {
        self.shared.lock().extra.processes_started
    }

    /// The pids of the worker processes alive now (Python: `executor._processes`).
    ///
    /// ```standalone_crate
    /// use fetchpool_futures::{ProcessPoolExecutor, Registry, Task, process};
    ///
    /// fn square(x: u64) -> Result<u64, String> {
    ///     Ok(x * x)
    /// }
    /// static SQUARE: Task<u64, u64, String> = Task::new("square", square);
    ///
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     process::guard(Registry::new().register(&SQUARE)); // first: a worker stops here
    ///     let pool = ProcessPoolExecutor::new(2)?;
    ///     assert_eq!(pool.submit(&SQUARE, 12)?.result(None)?, 144);
    ///     let pids = pool.worker_pids();
    ///     assert_eq!(pids.len(), 1);
    ///     assert_ne!(pids[0], std::process::id());
    ///     Ok(())
    /// }
    /// ```
    pub fn worker_pids(&self) -> Vec<u32> {
        let children = self.shared.lock().extra.children.clone();
        children
            .iter()
            .filter_map(|c| lock_child(c).as_ref().map(Child::id))
            .collect()
    }

    /// Schedules `task(arg)` on a worker process and returns its future at once:
    /// Python's `ProcessPoolExecutor.submit(fn, arg)`.
    ///
    /// The argument is serialised here; if that fails, the future returned is already
    /// failed with [`TaskError::Codec`]. Starts a slot (and, when
    /// it takes the task, a process) only if none is idle and fewer than `max_workers`
    /// exist.
    ///
    /// # Errors
    /// [`SubmitError::UnknownTask`] if `task` was not registered with the guard,
    /// [`SubmitError::Broken`] if the pool broke, [`SubmitError::Shutdown`] after
    /// `shutdown`.
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
    /// let pool = ProcessPoolExecutor::new(1)?;
    /// let future = pool.submit(&SQUARE, 9)?;
    /// assert_eq!(future.result(None)?, 81);
    /// # Ok(())
    /// # }
    /// ```
    pub fn submit<A: Wire, T: Wire, E: Wire>(
        &self,
        task: &Task<A, T, E>,
        arg: A,
    ) -> Result<PoolFuture<T, E>, SubmitError> {
        worker::registry()
            .ok_or_else(|| SubmitError::UnknownTask("the guard was not called".into()))?
            .check(task)?;
        let frame = Frame::call(Kind::Call, task.name(), &arg);
        drop(arg);
        self.submit_frame(task.name(), frame)
    }

    /// Schedules an encoded call (a CALL or CHUNK frame, or why it could not be encoded)
    /// whose answer decodes as `T` or `E`.
    fn submit_frame<T: Wire, E: Wire>(
        &self,
        name: &'static str,
        frame: Result<Frame, String>,
    ) -> Result<PoolFuture<T, E>, SubmitError> {
        let (frame, unencodable) = match frame {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e)),
        };
        let cell = Arc::new(ProcCell {
            inner: Inner::new(),
            name,
            frame: Mutex::new(frame),
        });
        let future = PoolFuture::from_slot(cell.clone() as Arc<dyn Slot<T, E>>);
        if let Some(e) = unencodable {
            // Refused as any submit would be; else failed at once, claiming no worker.
            let state = self.shared.lock();
            if let Some(message) = &state.broken {
                return Err(SubmitError::Broken(message.clone()));
            }
            if state.sender.is_none() {
                return Err(SubmitError::Shutdown);
            }
            drop(state);
            cell.inner.start();
            future.clone().complete(Err(TaskError::Codec(e)));
            return Ok(future);
        }
        let sender = self.shared.crew.admit(|index, procs| {
            let shared = Arc::clone(&self.shared);
            let child: ChildCell = Arc::new(Mutex::new(None));
            let mine = Arc::clone(&child);
            let handle = thread::Builder::new()
                .name(format!("ProcessPoolExecutor-slot_{index}"))
                .spawn(move || slot_main(&shared, &mine))?;
            procs.children.push(child);
            Ok(handle)
        })?;
        if let Err(crossbeam_channel::SendError(job)) = sender.send(cell) {
            job.cancel();
        }
        Ok(future)
    }

    /// Maps `task` over `items` on the pool, results in input order: Python's
    /// `Executor.map(fn, iterable, timeout)`, lazy with a window of `2 * max_workers`
    /// (see [`MapIter`]).
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
    /// let squares: Vec<u64> = pool.map(&SQUARE, 1..=3, None).collect::<Result<_, _>>()?;
    /// assert_eq!(squares, [1, 4, 9]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn map<I, A, T, E>(
        &self,
        task: &Task<A, T, E>,
        items: I,
        timeout: Option<Duration>,
    ) -> MapIter<'_, I::IntoIter, T, E>
    where
        I: IntoIterator<Item = A>,
        A: Wire,
        T: Wire,
        E: Wire,
    {
        Executor::map(self, task, items, timeout)
    }

    /// [`map`](Self::map) with items sent to the workers `chunksize` at a time: Python's
    /// `ProcessPoolExecutor.map(fn, iterable, timeout, chunksize)`.
    ///
    /// Each chunk is one task: one round trip to a worker for `chunksize` items, which is
    /// what makes mapping many small items fast. Results still come one per item, in input
    /// order, an item's error at its own position (a panic fails only its item); a
    /// failure of the whole chunk (its worker died, the time limit, an argument that
    /// cannot be encoded) is yielded at each of its items. The window is counted in chunks
    /// (`2 * max_workers` of them), the input is read a chunk at a time, and the timeout
    /// and cancellation work as for [`MapIter`].
    ///
    /// # Errors
    /// [`ChunksizeError`] if `chunksize` is 0 (Python's `ValueError`).
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
    /// // 10,000 items in tasks of 1,000: ten round trips, not ten thousand.
    /// let total: u64 = pool
    ///     .map_chunked(&SQUARE, 0..10_000, None, 1_000)?
    ///     .map(Result::unwrap)
    ///     .sum();
    /// assert_eq!(total, (0..10_000u64).map(|x| x * x).sum());
    /// # Ok(())
    /// # }
    /// ```
    pub fn map_chunked<I, A, T, E>(
        &self,
        task: &Task<A, T, E>,
        items: I,
        timeout: Option<Duration>,
        chunksize: usize,
    ) -> Result<ChunkedMap<'_, I::IntoIter, T, E>, ChunksizeError>
    where
        I: IntoIterator<Item = A>,
        A: Wire,
        T: Wire + Clone,
        E: Wire + Clone,
    {
        if chunksize == 0 {
            return Err(ChunksizeError);
        }
        let task = *task;
        let submit = Box::new(move |chunk: Vec<A>| {
            worker::registry()
                .ok_or_else(|| SubmitError::UnknownTask("the guard was not called".into()))?
                .check(&task)?;
            let frame = Frame::call(Kind::Chunk, task.name(), &chunk);
            drop(chunk);
            self.submit_frame(task.name(), frame)
        });
        let window = self.max_workers().saturating_mul(2);
        Ok(ChunkedMap::new(
            submit,
            items.into_iter(),
            timeout,
            window,
            chunksize,
        ))
    }

    /// Stops accepting work: Python's `Executor.shutdown(wait, cancel_futures)`.
    ///
    /// Idempotent. Queued tasks still run unless `cancel_futures`. With `wait`, returns
    /// once every slot has finished its work and reaped its worker process; called from a
    /// done-callback that runs on a slot thread, it does not wait for itself.
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
    /// let pool = ProcessPoolExecutor::new(1)?;
    /// let future = pool.submit(&SQUARE, 3)?;
    /// pool.shutdown(true, false); // queued work still runs, then the workers exit
    /// assert_eq!(future.result(None)?, 9);
    /// assert!(matches!(pool.submit(&SQUARE, 4), Err(SubmitError::Shutdown)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let cancel = |job: Arc<dyn Job>| job.cancel();
        self.shared
            .crew
            .shutdown(wait, cancel_futures.then_some(&cancel as &dyn Fn(_)));
    }

    /// Shuts down at once and sends SIGTERM to every worker: Python 3.14's
    /// `terminate_workers()`. Queued tasks are cancelled; running ones fail with
    /// [`TaskError::WorkerDied`] as their workers end; no
    /// process starts again. Does not wait (follow with `shutdown(true, true)` to).
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
    /// let pool = ProcessPoolExecutor::new(1)?;
    /// let long = pool.submit(&NAP, 60_000)?;
    /// while !long.running() {
    ///     std::thread::sleep(Duration::from_millis(5));
    /// }
    /// pool.terminate_workers();
    /// // Its worker was killed (or, if its process had not started yet, the pool was).
    /// let ended = long.exception(None)?;
    /// assert!(matches!(ended, Some(TaskError::WorkerDied(_) | TaskError::Broken(_))));
    /// assert!(matches!(pool.submit(&SQUARE, 1), Err(SubmitError::Shutdown)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn terminate_workers(&self) {
        self.force(Signal::TERM, "terminate_workers");
    }

    /// As [`terminate_workers`](Self::terminate_workers) with SIGKILL (and the workers'
    /// process groups): Python 3.14's `kill_workers()`.
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
    /// let pool = ProcessPoolExecutor::new(1)?;
    /// let long = pool.submit(&NAP, 60_000)?;
    /// while !long.running() {
    ///     std::thread::sleep(Duration::from_millis(5));
    /// }
    /// pool.kill_workers();
    /// // Its worker was killed (or, if its process had not started yet, the pool was).
    /// let ended = long.exception(None)?;
    /// assert!(matches!(ended, Some(TaskError::WorkerDied(_) | TaskError::Broken(_))));
    /// assert!(matches!(pool.submit(&SQUARE, 1), Err(SubmitError::Shutdown)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn kill_workers(&self) {
        self.force(Signal::KILL, "kill_workers");
    }

    fn force(&self, signal: Signal, how: &'static str) {
        let children = {
            let mut state = self.shared.lock();
            state.extra.forced.get_or_insert(how);
            state.extra.children.clone()
        };
        self.shutdown(false, true);
        for child in &children {
            if let Some(c) = lock_child(child).as_ref() {
                send_signal(c, signal);
            }
        }
    }
}

impl Executor for ProcessPoolExecutor {
    fn submit<A: Wire, T: Wire, E: Wire>(
        &self,
        task: &Task<A, T, E>,
        arg: A,
    ) -> Result<PoolFuture<T, E>, SubmitError> {
        ProcessPoolExecutor::submit(self, task, arg)
    }

    fn map_chunked<'a, I, A, T, E>(
        &'a self,
        task: &Task<A, T, E>,
        items: I,
        timeout: Option<Duration>,
        chunksize: usize,
    ) -> Result<Box<dyn Iterator<Item = Result<T, MapError<E>>> + 'a>, ChunksizeError>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
        A: Wire,
        T: Wire + Clone,
        E: Wire + Clone,
    {
        let map = ProcessPoolExecutor::map_chunked(self, task, items, timeout, chunksize)?;
        Ok(Box::new(map))
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        ProcessPoolExecutor::shutdown(self, wait, cancel_futures);
    }

    fn max_workers(&self) -> usize {
        ProcessPoolExecutor::max_workers(self)
    }
}

impl Drop for ProcessPoolExecutor {
    /// `shutdown(wait = true)`: Python's `with` block exit.
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

fn lock_child(child: &ChildCell) -> MutexGuard<'_, Option<Child>> {
    child.lock().recover()
}

/// Signals a worker that has not been reaped (so its pid is still its own), and for
/// SIGKILL its whole process group (what a task started).
fn send_signal(child: &Child, signal: Signal) {
    let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) else {
        return;
    };
    if signal == Signal::KILL {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
    let _ = rustix::process::kill_process(pid, signal);
}

/// A slot thread's whole life: take tasks until the queue is shut down and empty, then
/// retire its worker.
fn slot_main(shared: &Shared, child: &ChildCell) {
    let _enlisted = shared.crew.enlist();
    let mut worker: Option<Worker> = None;
    for job in shared.crew.jobs().iter() {
        let freed = shared.crew.freed();
        let handled = catch_unwind(AssertUnwindSafe(|| {
            if job.start() {
                run_one(shared, child, &mut worker, Arc::clone(&job), &|| {
                    freed.free()
                });
            } else {
                drop(job.take_frame());
            }
        }));
        if let Err(payload) = handled {
            report_panic("in a process pool slot", payload.as_ref());
            // Whatever panicked, the future ends: failing one that is complete already
            // changes nothing.
            let what = crate::future::panic_message(payload.as_ref());
            job.fail(
                Lost::Codec(format!("internal error in the process pool: {what}")),
                &|| freed.free(),
            );
        }
    }
    if let Some(w) = worker {
        w.retire();
    }
}

/// Runs one started task on this slot's worker, starting one if needed.
fn run_one(
    shared: &Shared,
    child: &ChildCell,
    worker: &mut Option<Worker>,
    job: Arc<dyn Job>,
    free: &dyn Fn(),
) {
    if let Some(why) = shared.refusal() {
        return job.fail(Lost::Broken(why), free);
    }
    let Some(frame) = job.take_frame() else {
        return job.fail(Lost::Codec("the task's call was already sent".into()), free);
    };
    let w = match worker {
        Some(w) => w,
        None => match start_worker(shared, child) {
            Ok(w) => worker.insert(w),
            Err(lost) => return job.fail(lost, free),
        },
    };
    let limit = shared.config.time_limit;
    let mut answer = w.call(&frame, limit);
    // A worker that died while idle (killed from outside, say) never saw this call: a
    // replacement takes it. Only the task a worker was running fails with it.
    if let Err(CallError::NotSent(_)) = &answer {
        if let Some(dead) = worker.take() {
            dead.reap();
        }
        match start_worker(shared, child) {
            Ok(fresh) => answer = worker.insert(fresh).call(&frame, limit),
            Err(lost) => return job.fail(lost, free),
        }
    }
    let Some(w) = worker.as_mut() else {
        return job.fail(Lost::Broken("no worker process".into()), free);
    };
    drop(frame);
    match answer {
        Ok(kind) => {
            w.tasks += 1;
            let retire = shared
                .config
                .max_tasks_per_child
                .is_some_and(|n| w.tasks >= n);
            job.finish(kind, &w.body, free);
            wire::trim(&mut w.body);
            if retire && let Some(w) = worker.take() {
                w.retire();
            }
        }
        Err(CallError::TimedOut) => {
            if let Some(w) = worker.take() {
                w.kill();
            }
            job.fail(Lost::TimedOut(limit.unwrap_or_default()), free);
        }
        Err(CallError::Lost(error) | CallError::NotSent(error)) => {
            let Some(w) = worker.take() else { return };
            let pid = w.pid;
            let status = w.reap();
            let how = match status {
                Some(status) => describe(pid, status),
                None => format!("worker process {pid} stopped answering ({error})"),
            };
            job.fail(Lost::Died(format!("{how} while running this task")), free);
        }
    }
}

/// A new worker process for this slot, or why the task cannot have one: the pool breaks
/// when an initializer fails, or when [`START_FAILURES_TO_BREAK`] processes in a row fail
/// to start.
fn start_worker(shared: &Shared, child: &ChildCell) -> Result<Worker, Lost> {
    match Worker::start(shared, child) {
        Ok(w) => Ok(w),
        Err(Failed::Initializer(reason)) => {
            let message = format!(
                "a worker's initializer failed, the process pool is not usable anymore: \
                 {reason}"
            );
            shared.break_pool(message.clone());
            Err(Lost::Broken(message))
        }
        Err(Failed::Start(_)) if shared.refusal().is_some() => {
            Err(Lost::Broken(shared.refusal().unwrap_or_default()))
        }
        Err(Failed::Start(reason)) => {
            let message = format!("could not start a worker process: {reason}");
            let failures = {
                let mut state = shared.lock();
                state.extra.start_failures += 1;
                state.extra.start_failures
            };
            if failures >= START_FAILURES_TO_BREAK {
                shared.break_pool(format!(
                    "{failures} worker processes in a row failed to start, the process \
                     pool is not usable anymore: {reason}"
                ));
            }
            Err(Lost::Broken(message))
        }
    }
}

/// Why a worker gave no answer.
enum CallError {
    /// The worker was dead before the call reached it (it exited, or its socket refused
    /// the call): the task never ran.
    NotSent(io::Error),
    /// The time limit passed.
    TimedOut,
    /// The socket closed or broke: the worker died (or spoke nonsense).
    Lost(io::Error),
}

/// Why a new worker is not usable.
enum Failed {
    /// The process could not be started or did not say hello.
    Start(String),
    /// Its initializer failed.
    Initializer(String),
}

/// A slot's live worker process.
struct Worker {
    /// The process, shared with the pool's table (for `terminate_workers`).
    child: ChildCell,
    pid: u32,
    /// The pool's end of the socketpair.
    stream: UnixStream,
    /// Tasks answered, for `max_tasks_per_child`.
    tasks: usize,
    /// The last answer's body; its allocation is reused.
    body: Vec<u8>,
    /// The socket's read and write timeouts as last set.
    timeouts: Option<Duration>,
}

impl Worker {
    /// Starts this program as a worker, waits for its hello, runs the initializer.
    fn start(shared: &Shared, cell: &ChildCell) -> Result<Worker, Failed> {
        let mut worker = Worker::spawn(shared, cell)?;
        shared.lock().extra.processes_started += 1;
        worker.await_hello(shared)?;
        shared.lock().extra.start_failures = 0;
        if let Some(init) = &shared.config.initializer {
            worker.initialize(init)?;
        }
        Ok(worker)
    }

    /// Starts the process, its stdin the worker's end of a new socketpair, in a process
    /// group of its own; enters it in the pool's table.
    fn spawn(shared: &Shared, cell: &ChildCell) -> Result<Worker, Failed> {
        if shared.lock().extra.forced.is_some() {
            return Err(Failed::Start("the pool was forcefully shut down".into()));
        }
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| Failed::Start(format!("socketpair: {e}")))?;
        let mut command = Command::new(&shared.config.program);
        command
            .arg(worker::ARG)
            .env(worker::ENV, std::process::id().to_string())
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .process_group(0);
        let spawned = command.spawn();
        // The command holds the parent's copy of the worker's end: dropped now, a dead
        // worker reads as end of stream (CPython gh-94777).
        drop(command);
        let child = spawned.map_err(|e| Failed::Start(e.to_string()))?;
        let pid = child.id();
        *lock_child(cell) = Some(child);
        // `terminate_workers`/`kill_workers` may have signalled the table just before this
        // process entered it.
        let forced = shared.lock().extra.forced;
        if let Some(how) = forced {
            if let Some(c) = lock_child(cell).as_ref() {
                send_signal(c, Signal::KILL);
            }
            reap(cell, RETIRE_GRACE);
            return Err(Failed::Start(format!(
                "the pool was forcefully shut down ({how})"
            )));
        }
        Ok(Worker {
            child: Arc::clone(cell),
            pid,
            stream: ours,
            tasks: 0,
            body: Vec::new(),
            timeouts: None,
        })
    }

    /// Waits (at most the start timeout) for the worker's hello, in this protocol's
    /// version; a worker that does not say it is killed.
    fn await_hello(&mut self, shared: &Shared) -> Result<(), Failed> {
        let deadline = Instant::now() + shared.config.start_timeout;
        let hello = wire::read_frame(
            &mut Deadline {
                stream: &self.stream,
                deadline: Some(deadline),
            },
            &mut self.body,
        );
        let ready = match hello {
            Ok(Some(Kind::Hello)) if self.body.get(..4) == Some(&wire::VERSION.to_le_bytes()) => {
                Ok(())
            }
            Ok(Some(Kind::Hello)) => Err("it speaks another protocol version".to_string()),
            Ok(Some(kind)) => Err(format!("it sent a {kind:?} frame first")),
            Ok(None) | Err(_) => Err(String::new()),
        };
        if let Err(why) = ready {
            let timed_out = Instant::now() >= deadline;
            let pid = self.pid;
            let status = self.kill_in_place();
            let why = match (why.is_empty(), status) {
                (false, _) => why,
                (true, _) if timed_out => {
                    format!("it was not ready within {:?}", shared.config.start_timeout)
                }
                (true, Some(status)) => format!(
                    "{} before it was ready; does main call \
                     fetchpool_futures::process::guard first?",
                    describe(pid, status)
                ),
                (true, None) => "it closed its socket before it was ready".to_string(),
            };
            return Err(Failed::Start(why));
        }
        // The hello's deadline left a read timeout on the socket: clear it, or a long task
        // would be taken for a hung one.
        if let Err(e) = self.stream.set_read_timeout(None) {
            self.kill_in_place();
            return Err(Failed::Start(format!("socket: {e}")));
        }
        Ok(())
    }

    /// Runs the pool's initializer in the worker; one that fails kills it.
    fn initialize(&mut self, init: &Frame) -> Result<(), Failed> {
        let failure = match self.call(init, None) {
            Ok(Kind::Ok) => return Ok(()),
            // The error's type is the initializer's; a text error is shown as text.
            Ok(Kind::Raised) => match wire::decode::<String>(&self.body) {
                Ok(text) => text,
                Err(_) => format!("it returned an error of {} bytes", self.body.len()),
            },
            Ok(_) => String::from_utf8_lossy(&self.body).into_owned(),
            Err(CallError::TimedOut) => "timed out".to_string(),
            Err(CallError::Lost(_) | CallError::NotSent(_)) => {
                "the worker died running it".to_string()
            }
        };
        self.kill_in_place();
        Err(Failed::Initializer(failure))
    }

    /// [`kill`](Self::kill) for a worker that is not given up yet (the caller drops it).
    fn kill_in_place(&mut self) -> Option<ExitStatus> {
        if let Some(c) = lock_child(&self.child).as_ref() {
            send_signal(c, Signal::KILL);
        }
        reap(&self.child, RETIRE_GRACE)
    }

    /// Sends one call and reads its answer into `self.body`, within `limit`.
    fn call(&mut self, frame: &Frame, limit: Option<Duration>) -> Result<Kind, CallError> {
        let deadline = limit.and_then(|l| Instant::now().checked_add(l));
        let lost = |e: io::Error| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => CallError::TimedOut,
            _ => CallError::Lost(e),
        };
        // A worker reads its whole call before it runs the task, so a write blocks only
        // while it is alive and reading; a dead one makes it fail (EPIPE).
        if self.timeouts != limit {
            let timeout = limit.filter(|l| !l.is_zero());
            self.stream
                .set_write_timeout(timeout)
                .map_err(CallError::Lost)?;
            self.stream
                .set_read_timeout(timeout)
                .map_err(CallError::Lost)?;
            self.timeouts = limit;
        }
        // Reaped already (a zombie until then): it died while idle.
        if let Some(status) = self.exited() {
            return Err(CallError::NotSent(io::Error::other(describe(
                self.pid, status,
            ))));
        }
        wire::write_frame(&mut &self.stream, frame).map_err(|e| match e.kind() {
            // The worker's end is closed: it died before reading the call.
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => CallError::NotSent(e),
            _ => lost(e),
        })?;
        let mut reader = Deadline {
            stream: &self.stream,
            deadline,
        };
        match wire::read_frame(&mut reader, &mut self.body) {
            Ok(Some(kind)) => Ok(kind),
            Ok(None) => Err(CallError::Lost(io::ErrorKind::UnexpectedEof.into())),
            Err(e) => Err(lost(e)),
        }
    }

    /// How the worker ended, if it has (checked without waiting; the process stays in
    /// the table for [`reap`](Self::reap)).
    fn exited(&self) -> Option<ExitStatus> {
        lock_child(&self.child).as_mut()?.try_wait().ok().flatten()
    }

    /// Closes the socket (the worker exits at its end) and reaps the process, killing it
    /// if it lingers.
    fn retire(self) {
        let Worker { child, stream, .. } = self;
        drop(stream);
        reap(&child, RETIRE_GRACE);
    }

    /// Kills the worker and its process group, and reaps it.
    fn kill(mut self) -> Option<ExitStatus> {
        self.kill_in_place()
    }

    /// Reaps a worker whose socket failed (it is dead or dying).
    fn reap(self) -> Option<ExitStatus> {
        drop(self.stream);
        reap(&self.child, RETIRE_GRACE)
    }
}

/// Waits for the process in `cell` to end (killing it after `grace`), takes it out of the
/// table and returns how it ended. Polls with `try_wait`, holding the lock only briefly,
/// so `terminate_workers` can signal it meanwhile.
fn reap(cell: &ChildCell, grace: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(50);
    let mut killed = false;
    loop {
        {
            let mut guard = lock_child(cell);
            let child = guard.as_mut()?;
            match child.try_wait() {
                Ok(Some(status)) => {
                    *guard = None;
                    return Some(status);
                }
                Ok(None) if !killed && start.elapsed() >= grace => {
                    send_signal(child, Signal::KILL);
                    killed = true;
                }
                Ok(None) => {}
                Err(_) => {
                    *guard = None;
                    return None;
                }
            }
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// How a worker ended, in words: `worker process 123 was killed by signal 9 (SIGKILL)`.
fn describe(pid: u32, status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let name = match signal {
            1 => " (SIGHUP)",
            2 => " (SIGINT)",
            4 => " (SIGILL)",
            6 => " (SIGABRT)",
            7 => " (SIGBUS)",
            8 => " (SIGFPE)",
            9 => " (SIGKILL)",
            11 => " (SIGSEGV)",
            13 => " (SIGPIPE)",
            15 => " (SIGTERM)",
            _ => "",
        };
        format!("worker process {pid} was killed by signal {signal}{name}")
    } else {
        match status.code() {
            Some(code) => format!("worker process {pid} exited with code {code}"),
            None => format!("worker process {pid} ended ({status})"),
        }
    }
}

/// The program to start as a worker: this one. `/proc/self/exe` still works after the
/// file was replaced or deleted (a rebuild, an upgrade), where `current_exe()` fails.
fn this_program() -> PathBuf {
    let proc_self = Path::new("/proc/self/exe");
    if proc_self.exists() {
        proc_self.to_path_buf()
    } else {
        std::env::current_exe().unwrap_or_else(|_| proc_self.to_path_buf())
    }
}

/// Reads from a worker's socket, failing with `TimedOut` once `deadline` has passed.
struct Deadline<'a> {
    stream: &'a UnixStream,
    deadline: Option<Instant>,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(d) = self.deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
        }
        (&mut &*self.stream).read(buf)
    }
}
