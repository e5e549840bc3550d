//! The worker side: the guard at the top of `main`, and the loop a worker process runs.
//!
//! A worker is the program itself, started again by the pool with the first argument
//! [`ARG`] and the variable [`ENV`] set to the parent's pid. The guard serves tasks when
//! both are present. A program that a task starts inherits the variable (edition 2024
//! makes `remove_var` unsafe, so it cannot be cleared) but not the argument, so it runs as
//! an ordinary program. A worker whose parent pid no longer matches `getppid()` was
//! orphaned before it got going, and exits at once: running the program's own `main`
//! there would start a second copy of the parent's work.
//! A program whose `main` lacks the guard receives an argument its command line refuses
//! and exits before the pool's hello deadline, so a missing guard fails fast instead of
//! running the whole program again.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::parent_id;
use std::sync::OnceLock;

use crate::task::Registry;
use crate::wire::{self, Frame, Kind};

/// The variable that marks a worker; its value is the parent's pid.
pub(crate) const ENV: &str = "FETCHPOOL_FUTURES_WORKER";

/// The first argument of a worker.
pub(crate) const ARG: &str = "--fetchpool-futures-worker";

/// The process name a worker shows in `ps` and `top` (at most 15 bytes).
const NAME: &std::ffi::CStr = c"fetchpool-wkr";

/// The registry the parent's guard recorded, for the pools it builds.
static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// The registry given to [`guard`], if it was called.
pub(crate) fn registry() -> Option<&'static Registry> {
    REGISTRY.get()
}

/// The guard at the top of `main`: the Rust form of Python's
/// `if __name__ == '__main__':`.
///
/// A [`ProcessPoolExecutor`](crate::ProcessPoolExecutor) starts its workers by running
/// this program again. In such a worker, `guard` never returns: it serves the tasks of
/// `registry` for its pool and exits when the pool closes it (or when the parent dies).
/// In the program itself it records `registry` for the pools it will build and returns at
/// once. Call it first in `main`, before anything with side effects (parsing arguments,
/// opening files, printing): everything before it runs again in every worker.
///
/// ```no_run
/// use fetchpool_futures::{ProcessPoolExecutor, Registry, Task, process};
///
/// fn square(x: u64) -> Result<u64, String> {
///     Ok(x * x)
/// }
/// static SQUARE: Task<u64, u64, String> = Task::new("square", square);
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     process::guard(Registry::new().register(&SQUARE));
///
///     let pool = ProcessPoolExecutor::new(4)?;
///     let future = pool.submit(&SQUARE, 12)?;
///     assert_eq!(future.result(None)?, 144);
///     Ok(())
/// }
/// ```
///
/// Only the first call's registry counts; later calls are ignored.
pub fn guard(registry: Registry) {
    if let Some(parent) = worker_parent() {
        serve(&registry, parent);
    }
    let _ = REGISTRY.set(registry);
}

/// The parent's pid if this process was started as a worker.
fn worker_parent() -> Option<u32> {
    if std::env::args_os().nth(1).is_none_or(|a| a != ARG) {
        return None;
    }
    std::env::var(ENV).ok()?.parse().ok()
}

/// A worker's whole life; never returns.
fn serve(registry: &Registry, parent: u32) -> ! {
    // Die with the parent even if it is killed while a task runs: an idle worker would
    // see the socket close, a busy one would not. The signal is tied to the thread that
    // started this process, which the pool keeps alive until it has reaped it.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if parent_id() != parent {
        // The parent died before the line above took effect.
        std::process::exit(0);
    }
    let _ = rustix::thread::set_name(NAME);
    let stream = match io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => UnixStream::from(fd),
        Err(_) => std::process::exit(3),
    };
    // A task that reads standard input must not eat the protocol.
    if let Ok(null) = File::open("/dev/null") {
        let _ = rustix::stdio::dup2_stdin(&null);
    }
    let code = match serve_on(registry, &stream) {
        Ok(()) => 0,
        Err(_) => 3,
    };
    std::process::exit(code)
}

/// Says hello, then answers each call until the pool closes the socket.
fn serve_on(registry: &Registry, stream: &UnixStream) -> io::Result<()> {
    let mut hello = Frame::new(Kind::Hello, 8);
    hello.push(&wire::VERSION.to_le_bytes());
    hello.push(&std::process::id().to_le_bytes());
    wire::write_frame(&mut &*stream, &hello.finish()?)?;
    let mut body = Vec::new();
    while let Some(kind) = wire::read_frame(&mut &*stream, &mut body)? {
        let reply = match kind {
            Kind::Call | Kind::Init => match wire::split_call(&body) {
                Ok((name, arg)) => registry.run(name, arg),
                Err(e) => wire::text_frame(Kind::Codec, &e),
            },
            Kind::Chunk => match wire::split_call(&body) {
                Ok((name, arg)) => registry.run_chunk(name, arg),
                Err(e) => wire::text_frame(Kind::Codec, &e),
            },
            other => return Err(wire::invalid(format!("unexpected {other:?} frame"))),
        };
        wire::trim(&mut body);
        wire::write_frame(&mut &*stream, &reply)?;
    }
    Ok(())
}
