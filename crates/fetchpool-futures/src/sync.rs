//! One way out of lock poisoning: [`Recover`]; and the future's locks, which are loom's
//! in the model-checked build (`--cfg fetchpool_loom`, `tests/loom.rs`).

use std::sync::{LockResult, PoisonError};

#[cfg(fetchpool_loom)]
pub(crate) use loom::sync::atomic::AtomicBool;
#[cfg(fetchpool_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(fetchpool_loom)]
pub(crate) use loom::thread;
#[cfg(not(fetchpool_loom))]
pub(crate) use std::sync::atomic::AtomicBool;
#[cfg(not(fetchpool_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(fetchpool_loom))]
pub(crate) use std::thread;

/// The crew's job queue: crossbeam's channel, or in the model-checked build a plain one
/// on loom's lock (loom cannot see into crossbeam's).
#[cfg(not(fetchpool_loom))]
pub(crate) mod channel {
    pub(crate) use crossbeam_channel::{Receiver, SendError, Sender, bounded, unbounded};
}

/// The crew's job queue in the model-checked build: a queue under loom's lock, with the
/// few operations the crew and the thread pool use.
#[cfg(fetchpool_loom)]
pub(crate) mod channel {
    use std::collections::VecDeque;
    use std::sync::Arc;

    use super::Recover as _;
    use loom::sync::{Condvar, Mutex};

    /// The receiver is gone: the value comes back.
    #[derive(Debug)]
    pub(crate) struct SendError<T>(pub T);

    struct Chan<T> {
        state: Mutex<State<T>>,
        changed: Condvar,
        capacity: Option<usize>,
    }

    struct State<T> {
        queue: VecDeque<T>,
        senders: usize,
        receivers: usize,
    }

    pub(crate) struct Sender<T>(Arc<Chan<T>>);
    pub(crate) struct Receiver<T>(Arc<Chan<T>>);

    fn with<T>(capacity: Option<usize>) -> (Sender<T>, Receiver<T>) {
        let chan = Arc::new(Chan {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                senders: 1,
                receivers: 1,
            }),
            changed: Condvar::new(),
            capacity,
        });
        (Sender(Arc::clone(&chan)), Receiver(chan))
    }

    pub(crate) fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
        with(None)
    }

    pub(crate) fn bounded<T>(n: usize) -> (Sender<T>, Receiver<T>) {
        with(Some(n))
    }

    impl<T> Sender<T> {
        pub(crate) fn send(&self, value: T) -> Result<(), SendError<T>> {
            let mut state = self.0.state.lock().recover();
            loop {
                if state.receivers == 0 {
                    return Err(SendError(value));
                }
                if self.0.capacity.is_none_or(|c| state.queue.len() < c) {
                    break;
                }
                state = self.0.changed.wait(state).recover();
            }
            state.queue.push_back(value);
            self.0.changed.notify_all();
            Ok(())
        }
    }

    impl<T> Clone for Sender<T> {
        fn clone(&self) -> Self {
            self.0.state.lock().recover().senders += 1;
            Sender(Arc::clone(&self.0))
        }
    }

    impl<T> Drop for Sender<T> {
        fn drop(&mut self) {
            self.0.state.lock().recover().senders -= 1;
            self.0.changed.notify_all();
        }
    }

    impl<T> Receiver<T> {
        fn take(&self, block: bool) -> Option<T> {
            let mut state = self.0.state.lock().recover();
            loop {
                if let Some(value) = state.queue.pop_front() {
                    self.0.changed.notify_all();
                    return Some(value);
                }
                if !block || state.senders == 0 {
                    return None;
                }
                state = self.0.changed.wait(state).recover();
            }
        }

        /// Blocks for each value until the queue is empty and every sender gone.
        pub(crate) fn iter(&self) -> impl Iterator<Item = T> + '_ {
            std::iter::from_fn(move || self.take(true))
        }

        /// The values queued now.
        pub(crate) fn try_iter(&self) -> impl Iterator<Item = T> + '_ {
            std::iter::from_fn(move || self.take(false))
        }
    }

    impl<T> Drop for Receiver<T> {
        fn drop(&mut self) {
            self.0.state.lock().recover().receivers -= 1;
            self.0.changed.notify_all();
        }
    }
}

/// Takes the guard out of a poisoned lock (or wait) instead of panicking. A panic in a
/// thread that held the lock (a task, a callback) must not take every other thread down
/// with it: the code under these locks never leaves its state half-changed at a point
/// where it could panic, so the state is as good as before.
pub(crate) trait Recover<G> {
    /// The guard, poisoned or not.
    fn recover(self) -> G;
}

impl<G> Recover<G> for LockResult<G> {
    fn recover(self) -> G {
        self.unwrap_or_else(PoisonError::into_inner)
    }
}
