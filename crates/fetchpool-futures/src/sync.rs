//! One way out of lock poisoning: [`Recover`]; and the future's locks, which are loom's
//! in the model-checked build (`--cfg fetchpool_loom`, `tests/loom.rs`).

use std::sync::{LockResult, PoisonError};

#[cfg(fetchpool_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(fetchpool_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

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
