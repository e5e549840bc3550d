//! Tasks a process can run by name, and the [`Executor`] trait both pools implement.
//!
//! A closure cannot cross a process boundary: what it captured lives in the parent's
//! memory. So the process pool runs [`Task`]s: a name and a plain function pointer
//! (`fn(A) -> Result<T, E>`), whose argument, value and error are serialised. A closure
//! that captures anything does not coerce to a function pointer, so passing one is a
//! compile-time error, not a runtime surprise; the name is what travels, and the worker
//! looks it up in the [`Registry`] its `main` handed to [`guard`](crate::process::guard).

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ChunksizeError, SubmitError};
use crate::executor::ThreadPoolExecutor;
use crate::future::{PoolFuture, panic_message};
use crate::map::{MapError, MapIter};
use crate::wire::{self, Frame, Kind};

/// What can cross a process boundary: a task's argument, value or error. Implemented for
/// every `Serialize + DeserializeOwned + Send + 'static` type. Wrap byte buffers in
/// `serde_bytes::ByteBuf`: a `Vec<u8>` is encoded element by element, ten times slower.
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
/// // Any serde type crosses the process boundary.
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Job { url: String, tries: u32 }
/// fn describe(job: Job) -> Result<String, String> { Ok(format!("{} x{}", job.url, job.tries)) }
/// static DESCRIBE: Task<Job, String, String> = Task::new("describe", describe);
/// assert_eq!(DESCRIBE.call(Job { url: "a".into(), tries: 2 })?, "a x2");
/// # Ok(())
/// # }
/// ```
pub trait Wire: Serialize + DeserializeOwned + Send + 'static {}

impl<X: Serialize + DeserializeOwned + Send + 'static> Wire for X {}

/// A function a worker process can run, known by a name: what Python pickles by its
/// qualified name when it sends `fn` to a `ProcessPoolExecutor`.
///
/// Declare tasks as constants or statics, register them in `main` with
/// [`guard`](crate::process::guard), and submit them to either pool:
///
/// ```
/// use fetchpool_futures::Task;
///
/// fn square(x: u64) -> Result<u64, String> {
///     Ok(x * x)
/// }
/// static SQUARE: Task<u64, u64, String> = Task::new("square", square);
///
/// assert_eq!(SQUARE.call(7), Ok(49)); // runs here, in this thread
/// ```
///
/// A closure that captures nothing coerces to a function pointer and is fine; one that
/// captures does not compile:
///
/// ```compile_fail
/// use fetchpool_futures::Task;
/// let offset = 3u64;
/// let add: Task<u64, u64, String> = Task::new("add", move |x| Ok(x + offset));
/// ```
pub struct Task<A, T, E> {
    name: &'static str,
    f: fn(A) -> Result<T, E>,
}

impl<A, T, E> Clone for Task<A, T, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, T, E> Copy for Task<A, T, E> {}

impl<A, T, E> fmt::Debug for Task<A, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Task({:?})", self.name)
    }
}

impl<A, T, E> Task<A, T, E> {
    /// A task named `name` that runs `f`. Names must be unique within a program.
    pub const fn new(name: &'static str, f: fn(A) -> Result<T, E>) -> Self {
        Task { name, f }
    }

    /// The name the worker looks the task up by.
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
    /// assert_eq!(SQUARE.name(), "square");
    /// # Ok(())
    /// # }
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the task here, on this thread.
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
    /// // Runs here, in this process: what a worker does with a task it was sent.
    /// assert_eq!(SQUARE.call(5)?, 25);
    /// # Ok(())
    /// # }
    /// ```
    pub fn call(&self, arg: A) -> Result<T, E> {
        (self.f)(arg)
    }
}

/// Runs a task from its encoded argument and answers with the reply frame.
type Runner = Box<dyn Fn(&[u8]) -> Frame + Send + Sync>;

/// One registered task.
struct Registered {
    /// The task's `fn(A) -> Result<T, E>` type, so a task of another signature sent under
    /// this name is refused rather than decoded as garbage.
    signature: TypeId,
    /// Decodes, runs and encodes.
    run: Runner,
    /// The same for a chunk: a list of arguments, a list of outcomes.
    run_chunk: Runner,
}

/// One item's outcome in a chunk, as it crosses the process boundary: the task's own
/// result, or the message of its panic.
pub(crate) type ChunkItem<T, E> = Result<Result<T, E>, String>;

/// The tasks a program's worker processes can run, by name: what `main` hands to
/// [`guard`](crate::process::guard).
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
/// // In `main`, before anything else: the tasks this program's workers can run.
/// let registry = Registry::new().register(&SQUARE);
/// assert!(format!("{registry:?}").contains("square"));
/// # Ok(())
/// # }
/// ```
#[derive(Default)]
pub struct Registry {
    tasks: HashMap<&'static str, Registered>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<_> = self.tasks.keys().collect();
        names.sort();
        f.debug_struct("Registry").field("tasks", &names).finish()
    }
}

impl Registry {
    /// No tasks yet.
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
    /// let registry = Registry::new();
    /// assert_eq!(format!("{registry:?}"), "Registry { tasks: [] }");
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds `task`.
    ///
    /// # Panics
    /// If another task of the same name was registered: names must be unique, and this
    /// runs at the top of `main`, where a panic is the clearest report of the mistake.
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
    /// let registry = Registry::new().register(&SQUARE).register(&NAP);
    /// assert!(format!("{registry:?}").contains("nap"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn register<A: Wire, T: Wire, E: Wire>(mut self, task: &Task<A, T, E>) -> Self {
        let task = *task;
        let name = task.name;
        let run: Runner = Box::new(move |arg: &[u8]| run_encoded(&task, arg));
        let run_chunk: Runner = Box::new(move |arg: &[u8]| run_chunk_encoded(&task, arg));
        let previous = self.tasks.insert(
            name,
            Registered {
                signature: TypeId::of::<fn(A) -> Result<T, E>>(),
                run,
                run_chunk,
            },
        );
        assert!(previous.is_none(), "two tasks are registered as '{name}'");
        self
    }

    /// Whether `task` is registered under its name with its own types.
    pub(crate) fn check<A: Wire, T: Wire, E: Wire>(
        &self,
        task: &Task<A, T, E>,
    ) -> Result<(), SubmitError> {
        match self.tasks.get(task.name) {
            Some(r) if r.signature == TypeId::of::<fn(A) -> Result<T, E>>() => Ok(()),
            Some(_) => Err(SubmitError::UnknownTask(format!(
                "task '{}' is registered with other argument or result types",
                task.name
            ))),
            None => Err(SubmitError::UnknownTask(format!(
                "task '{}' is not registered: add it to the Registry given to \
                 fetchpool_futures::process::guard",
                task.name
            ))),
        }
    }

    /// Runs the task named `name` on an encoded argument; the reply frame.
    pub(crate) fn run(&self, name: &str, arg: &[u8]) -> Frame {
        match self.tasks.get(name) {
            Some(task) => (task.run)(arg),
            None => wire::text_frame(
                Kind::Codec,
                &format!("task '{name}' is not registered in the worker process"),
            ),
        }
    }
}

impl Registry {
    /// Runs the task named `name` on each item of an encoded chunk; the reply frame.
    pub(crate) fn run_chunk(&self, name: &str, arg: &[u8]) -> Frame {
        match self.tasks.get(name) {
            Some(task) => (task.run_chunk)(arg),
            None => wire::text_frame(
                Kind::Codec,
                &format!("task '{name}' is not registered in the worker process"),
            ),
        }
    }
}

/// Decodes a chunk of arguments, runs the task on each under `catch_unwind` (a panic
/// fails only its own item), encodes the outcomes in order.
fn run_chunk_encoded<A: Wire, T: Wire, E: Wire>(task: &Task<A, T, E>, arg: &[u8]) -> Frame {
    let name = task.name;
    let args: Vec<A> = match wire::decode(arg) {
        Ok(a) => a,
        Err(e) => {
            let message = format!("cannot deserialise the arguments of task '{name}': {e}");
            return wire::text_frame(Kind::Codec, &message);
        }
    };
    let outcomes: Vec<ChunkItem<T, E>> = args
        .into_iter()
        .map(|arg| {
            catch_unwind(AssertUnwindSafe(|| task.call(arg)))
                .map_err(|payload| panic_message(payload.as_ref()))
        })
        .collect();
    encode_reply(Kind::Ok, &outcomes).unwrap_or_else(|e| {
        wire::text_frame(
            Kind::Codec,
            &format!("cannot serialise the results of task '{name}': {e}"),
        )
    })
}

/// Decodes the argument, runs the task under `catch_unwind`, encodes what it returned.
fn run_encoded<A: Wire, T: Wire, E: Wire>(task: &Task<A, T, E>, arg: &[u8]) -> Frame {
    let name = task.name;
    let arg: A = match wire::decode(arg) {
        Ok(a) => a,
        Err(e) => {
            let message = format!("cannot deserialise the argument of task '{name}': {e}");
            return wire::text_frame(Kind::Codec, &message);
        }
    };
    let (kind, encoded) = match catch_unwind(AssertUnwindSafe(|| task.call(arg))) {
        Ok(Ok(value)) => (Kind::Ok, encode_reply(Kind::Ok, &value)),
        Ok(Err(error)) => (Kind::Raised, encode_reply(Kind::Raised, &error)),
        Err(payload) => {
            return wire::text_frame(Kind::Panicked, &panic_message(payload.as_ref()));
        }
    };
    encoded.unwrap_or_else(|e| {
        let what = if kind == Kind::Ok { "result" } else { "error" };
        wire::text_frame(
            Kind::Codec,
            &format!("cannot serialise the {what} of task '{name}': {e}"),
        )
    })
}

/// A reply frame holding `value`.
fn encode_reply<V: Serialize>(kind: Kind, value: &V) -> Result<Frame, String> {
    let mut frame = Frame::new(kind, 64);
    frame.encode(value)?;
    frame.finish().map_err(|e| e.to_string())
}

/// What both pools do, so code written against it runs on threads or on processes:
/// Python's `concurrent.futures.Executor`, the base class of both of its pools.
///
/// ```
/// use fetchpool_futures::{Executor, Task, ThreadPoolExecutor};
///
/// fn double(x: i32) -> Result<i32, String> {
///     Ok(2 * x)
/// }
/// static DOUBLE: Task<i32, i32, String> = Task::new("double", double);
///
/// fn total(executor: &impl Executor) -> i32 {
///     executor.map(&DOUBLE, 1..=3, None).map(Result::unwrap).sum()
/// }
///
/// assert_eq!(total(&ThreadPoolExecutor::new(2)?), 12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Executor {
    /// Schedules `task(arg)` and returns its future: Python's `Executor.submit(fn, arg)`.
    ///
    /// # Errors
    /// The pool is shut down or broken, or (process pool) the task is not registered.
    fn submit<A: Wire, T: Wire, E: Wire>(
        &self,
        task: &Task<A, T, E>,
        arg: A,
    ) -> Result<PoolFuture<T, E>, SubmitError>;

    /// Maps `task` over `items`, results in input order, with a window of
    /// `2 * max_workers` tasks: Python's `Executor.map(fn, iterable, timeout)`. See
    /// [`MapIter`].
    fn map<'a, I, A, T, E>(
        &'a self,
        task: &Task<A, T, E>,
        items: I,
        timeout: Option<Duration>,
    ) -> MapIter<'a, I::IntoIter, T, E>
    where
        I: IntoIterator<Item = A>,
        A: Wire,
        T: Wire,
        E: Wire,
        Self: Sized,
    {
        let task = *task;
        let window = self.max_workers().saturating_mul(2);
        let submit = Box::new(move |arg| self.submit(&task, arg));
        MapIter::new(submit, items.into_iter(), timeout, window)
    }

    /// [`map`](Self::map) with Python's `chunksize`: the process pool sends the items to
    /// its workers `chunksize` at a time (see
    /// [`ProcessPoolExecutor::map_chunked`](crate::ProcessPoolExecutor::map_chunked)); the
    /// thread pool ignores it, as CPython's does.
    ///
    /// # Errors
    /// [`ChunksizeError`] if `chunksize` is 0 (Python's `ValueError`).
    #[allow(clippy::type_complexity)]
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
        Self: Sized,
    {
        if chunksize == 0 {
            return Err(ChunksizeError);
        }
        Ok(Box::new(self.map(task, items, timeout)))
    }

    /// Stops accepting work: Python's `Executor.shutdown(wait, cancel_futures)`.
    fn shutdown(&self, wait: bool, cancel_futures: bool);

    /// The most workers (threads or processes) the pool runs at once.
    fn max_workers(&self) -> usize;
}

impl Executor for ThreadPoolExecutor {
    /// Runs `task` on a thread: no serialisation, no registration needed.
    fn submit<A: Wire, T: Wire, E: Wire>(
        &self,
        task: &Task<A, T, E>,
        arg: A,
    ) -> Result<PoolFuture<T, E>, SubmitError> {
        let task = *task;
        ThreadPoolExecutor::submit(self, move || task.call(arg))
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        ThreadPoolExecutor::shutdown(self, wait, cancel_futures);
    }

    fn max_workers(&self) -> usize {
        ThreadPoolExecutor::max_workers(self)
    }
}
