//! Where the pool reports what it caught and survived: a panicking done-callback, a panic
//! while dropping a task's data or result, a failed initializer. Python logs these through
//! `logging`; a library here never prints, so the program chooses with [`set_report_hook`].

use crate::sync::Recover;
use std::fmt;
use std::sync::{Arc, RwLock};

/// One thing the pool caught and survived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// What the pool was doing: `"calling a done-callback"`, `"dropping a task's result"`,
    /// `"running the initializer"`, ...
    pub context: String,
    /// The panic message, or the initializer's error.
    pub message: String,
}

impl fmt::Display for Report {
    /// Python's wording: `exception calling a done-callback: MESSAGE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exception {}: {}", self.context, self.message)
    }
}

/// The hook, shared by every pool of the process.
type Hook = Arc<dyn Fn(&Report) + Send + Sync>;

/// The process-wide hook; `None` (the default) drops reports. A panic has already been
/// printed by Rust's panic hook by the time it is reported here, so nothing is lost.
static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Sets the function every pool of the process calls with each [`Report`] (replacing any
/// earlier one): Python's handler on the `concurrent.futures` logger. It runs on the thread
/// that caught the problem (a worker, or a thread cancelling a future); a panic in it is
/// caught and ignored.
pub fn set_report_hook(hook: impl Fn(&Report) + Send + Sync + 'static) {
    *HOOK.write().recover() = Some(Arc::new(hook));
}

/// Hands a report to the hook, if one is set.
pub(crate) fn report(context: &str, message: String) {
    let hook = HOOK.read().recover().clone();
    if let Some(hook) = hook {
        let report = Report {
            context: context.to_string(),
            message,
        };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&report)));
    }
}
