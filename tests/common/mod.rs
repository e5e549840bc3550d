//! Shared test helpers, one file a concern: [`server`] is the scripted mock HTTP server,
//! [`cli`] runs the command with a scrubbed environment and reads its output. Waits are
//! bounded here.

pub mod cli;
pub mod mesh;
pub mod server;
pub mod site;

use std::thread;
use std::time::{Duration, Instant};

pub use cli::{
    assert_usage_error, fetchpool, fixture, jsonl_by_line, record_lines, records_in, run_jsonl,
    scrub, sorted_lines, stderr_of, stdout_of, temp_file,
};
pub use server::{MockServer, Scripted, full_backlog, refused_url};

/// Generous bound for anything a test waits on: far beyond what a working run needs, so a
/// bug shows up as a failure instead of a hung CI.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `cond` every millisecond until it holds or `PATIENCE` passes.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "never happened: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Waits for the child at most `PATIENCE`, killing it if it hangs.
pub fn wait_bounded(mut child: std::process::Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("fetchpool did not exit within {PATIENCE:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}
