//! Shared test helpers for the executor's tests: a gate to hold tasks, and bounded waits.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

/// Generous bound for anything a test waits on: far beyond what a working run needs, so a
/// bug shows up as a failure instead of a hung CI.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A gate that tasks wait on until the test opens it (or `PATIENCE` passes).
#[derive(Clone)]
pub struct Gate {
    tx: Sender<()>,
    rx: Receiver<()>,
    opened: Arc<AtomicBool>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Gate {
            tx,
            rx,
            opened: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Blocks until the gate opens; `Err` if it did not within `PATIENCE`.
    pub fn wait(&self) -> Result<(), String> {
        if self.opened.load(Ordering::SeqCst) {
            return Ok(());
        }
        match self.rx.recv_timeout(PATIENCE) {
            Ok(()) => {
                let _ = self.tx.send(());
                Ok(())
            }
            Err(_) => Err("gate never opened".to_string()),
        }
    }

    pub fn open(&self) {
        self.opened.store(true, Ordering::SeqCst);
        let _ = self.tx.send(());
    }
}

/// Polls `cond` every millisecond until it holds or `PATIENCE` passes.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "never happened: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}
