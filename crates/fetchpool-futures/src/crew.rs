//! The worker threads both pools share the logic of: started lazily, at most
//! `max_workers`, taking jobs from one channel, counted idle so a `submit` reuses one
//! rather than starting another, and waited for by `shutdown`.
//!
//! # Protocol
//!
//! - `admit` (a `submit`, under the lock): refuse if broken or shut down; else claim an
//!   idle worker (decrement `idle`), or start one if fewer than `max_workers` exist.
//! - A worker counts itself idle (through its [`Freed`] guard) at the moment it can take
//!   the next job; the pools call it *before* publishing a result when no callback is
//!   attached, so a caller who saw `result()` return and submits again finds it idle.
//! - Once `max_workers` threads exist no more will ever start, so the idle count no longer
//!   matters: workers stop maintaining it (`saturated`), keeping the lock off their path.
//! - `shutdown` drops the sender; workers drain the queue and exit once it is empty and
//!   disconnected. `live` and a `Condvar` let any number of threads wait for that, and a
//!   worker calling `shutdown(wait)` (from a task or a callback) does not wait for itself.

use std::cell::Cell;
use std::io;
use std::sync::atomic::Ordering;

use crate::error::SubmitError;
use crate::sync::channel::{self, Receiver, Sender};
use crate::sync::thread::{self, JoinHandle, ThreadId};
use crate::sync::{AtomicBool, Condvar, Mutex, MutexGuard, Recover};

/// The crew's bookkeeping, plus the pool's own (`extra`), behind one lock.
pub(crate) struct CrewState<J, X> {
    /// The submission side of the queue; `None` once shut down.
    pub(crate) sender: Option<Sender<J>>,
    /// Why the pool is broken, once it is; `admit` refuses first on it, as Python does.
    pub(crate) broken: Option<String>,
    /// Workers started so far (never shrinks).
    pub(crate) started: usize,
    /// Workers that can take a job and were not claimed by a `submit` since.
    idle: usize,
    /// Workers that have not exited.
    live: usize,
    /// Join handles not yet reaped by `shutdown(wait = true)`.
    handles: Vec<JoinHandle<()>>,
    /// The workers' thread ids.
    ids: Vec<ThreadId>,
    /// What the pool keeps under the same lock.
    pub(crate) extra: X,
}

/// A pool's worker threads and their queue.
pub(crate) struct Crew<J, X> {
    state: Mutex<CrewState<J, X>>,
    /// Notified when a worker exits.
    exited: Condvar,
    /// The receiving side: every worker's, and `shutdown(cancel_futures)`'s.
    receiver: Receiver<J>,
    /// The most workers.
    pub(crate) max_workers: usize,
    /// `true` once `started == max_workers`. Only a hint read outside the lock: written
    /// once under it, and a stale `false` costs a worker one extra lock.
    saturated: AtomicBool,
}

impl<J, X> Crew<J, X> {
    /// A crew of at most `max_workers`, none started; the queue holds at most `capacity`
    /// jobs (`None`: unbounded).
    pub(crate) fn new(max_workers: usize, capacity: Option<usize>, extra: X) -> Self {
        let (sender, receiver) = match capacity {
            Some(n) => channel::bounded(n),
            None => channel::unbounded(),
        };
        Crew {
            state: Mutex::new(CrewState {
                sender: Some(sender),
                broken: None,
                started: 0,
                idle: 0,
                live: 0,
                handles: Vec::new(),
                ids: Vec::new(),
                extra,
            }),
            exited: Condvar::new(),
            receiver,
            max_workers,
            saturated: AtomicBool::new(false),
        }
    }

    /// Locks the state. Nothing panics while holding it; recover rather than propagate
    /// poison.
    pub(crate) fn lock(&self) -> MutexGuard<'_, CrewState<J, X>> {
        self.state.lock().recover()
    }

    /// The queue, for workers (which end when it is empty and shut down) and for draining.
    pub(crate) fn jobs(&self) -> &Receiver<J> {
        &self.receiver
    }

    /// Makes room for one job: refuses if broken or shut down, else claims an idle worker
    /// or starts worker number `started` with `spawn` (under the lock, with the pool's
    /// state). Returns the queue's sender, to send on outside the lock (a bounded queue may
    /// block, and workers need the lock to report themselves idle).
    ///
    /// # Errors
    /// [`SubmitError::Broken`], then [`SubmitError::Shutdown`]; [`SubmitError::Spawn`] if
    /// no worker exists and none could be started.
    pub(crate) fn admit(
        &self,
        spawn: impl FnOnce(usize, &mut X) -> io::Result<JoinHandle<()>>,
    ) -> Result<Sender<J>, SubmitError> {
        let mut state = self.lock();
        if let Some(message) = &state.broken {
            return Err(SubmitError::Broken(message.clone()));
        }
        let Some(sender) = state.sender.clone() else {
            return Err(SubmitError::Shutdown);
        };
        if state.idle > 0 {
            state.idle -= 1;
        } else if state.started < self.max_workers {
            let index = state.started;
            match spawn(index, &mut state.extra) {
                Ok(handle) => {
                    state.ids.push(handle.thread().id());
                    state.handles.push(handle);
                    state.started += 1;
                    state.live += 1;
                    if state.started == self.max_workers {
                        self.saturated.store(true, Ordering::Relaxed);
                    }
                }
                Err(e) if state.live == 0 => return Err(SubmitError::Spawn(e.to_string())),
                Err(_) => {}
            }
        }
        Ok(sender)
    }

    /// Stops accepting jobs; with `cancel`, hands it every queued job; with `wait`,
    /// returns once every worker has exited (at once when called from a worker).
    pub(crate) fn shutdown(&self, wait: bool, cancel: Option<&dyn Fn(J)>) {
        self.lock().sender = None;
        if let Some(cancel) = cancel {
            for job in self.receiver.try_iter() {
                cancel(job);
            }
        }
        if !wait {
            return;
        }
        let mut state = self.lock();
        if state.ids.contains(&thread::current().id()) {
            return;
        }
        while state.live > 0 {
            state = self.exited.wait(state).recover();
        }
        let handles = std::mem::take(&mut state.handles);
        drop(state);
        for handle in handles {
            // Workers catch what their jobs throw, so a join error cannot happen.
            let _ = handle.join();
        }
    }

    /// A worker's guard: counts it out of `live` however its thread ends.
    pub(crate) fn enlist(&self) -> Enlisted<'_, J, X> {
        Enlisted(self)
    }

    /// A guard for one job that counts its worker idle once, at the first `free()` (or
    /// when dropped).
    pub(crate) fn freed(&self) -> Freed<'_, J, X> {
        Freed {
            crew: self,
            done: Cell::new(false),
        }
    }
}

/// Counts a worker out of `live` when its thread ends, so `shutdown(wait)` can never wait
/// for a worker that is gone.
pub(crate) struct Enlisted<'a, J, X>(&'a Crew<J, X>);

impl<J, X> Drop for Enlisted<'_, J, X> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.live -= 1;
        self.0.exited.notify_all();
    }
}

/// Counts a worker idle exactly once per job, whether the job ran, was skipped, or
/// something on the way panicked.
pub(crate) struct Freed<'a, J, X> {
    crew: &'a Crew<J, X>,
    done: Cell<bool>,
}

impl<J, X> Freed<'_, J, X> {
    /// The worker can take the next job now.
    pub(crate) fn free(&self) {
        if !self.done.replace(true) && !self.crew.saturated.load(Ordering::Relaxed) {
            self.crew.lock().idle += 1;
        }
    }
}

impl<J, X> Drop for Freed<'_, J, X> {
    fn drop(&mut self) {
        self.free();
    }
}
