//! Where the pool reports what it caught and survived: a panicking done-callback, a panic
//! while dropping a task's data or result, a failed initializer. Python logs these through
//! `logging`; a library here never prints, so the program chooses with [`set_report_hook`].

use crate::sync::Recover;
use std::fmt;
use std::sync::{Arc, RwLock};

/// One thing the pool caught and survived.
///
/// ```
/// use fetchpool_futures::{Report, ThreadPoolExecutor, set_report_hook};
///
/// set_report_hook(|report: &Report| eprintln!("fetchpool-futures: {report}"));
/// let pool = ThreadPoolExecutor::new(1)?;
/// let future = pool.submit(|| Ok::<_, String>(()))?;
/// future.add_done_callback(|_| panic!("a careless callback")); // reported, not fatal
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
///
/// ```
/// use fetchpool_futures::{ThreadPoolExecutor, set_report_hook};
///
/// // One hook for the whole program (a logger, here standard error).
/// set_report_hook(|report| eprintln!("worker pool: {report}"));
/// let pool = ThreadPoolExecutor::new(1)?;
/// pool.submit(|| Ok::<_, String>(()))?.add_done_callback(|_| panic!("oops"));
/// pool.shutdown(true, false); // the pool lives on; the panic went to the hook
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
