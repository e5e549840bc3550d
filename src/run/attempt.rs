//! Attempts: each one submitted to the pool (threads or processes), and what its end
//! means: a record, a retry scheduled, or a give-up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::settings::{Executor, Settings};
use super::{Run, UrlJob};
use crate::fetch::{FetchError, Fetcher, Page, Request};
#[cfg(process_pool)]
use crate::futures::ProcessPoolExecutor;
use crate::futures::{FutureError, PoolFuture, SubmitError, TaskError, ThreadPoolExecutor};
use crate::record::Outcome;
use crate::run::schedule::HostSlot;
#[cfg(process_pool)]
use crate::run::worker::{LOAD_URL, Load, SET_UP};
use crate::sync::Recover;

/// One attempt's outcome, its duration and what it captured for the WARC file, or `None`
/// if the run was stopped (or its deadline passed) before the attempt could start.
pub(crate) type Attempt = Option<(Result<Page, FetchError>, Duration, Archived)>;

/// What an attempt captured for the WARC file (`--warc-file`): its exchanges, and why a
/// body could not be spooled, if one could not.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Archived {
    pub(crate) exchanges: Vec<crate::warc::capture::Exchange>,
    pub(crate) failed: Option<String>,
}

/// The future of one attempt: its outcome and how long it took, or `None` if the run was
/// stopped before a worker got to it. A fetch error is data; the task itself fails only
/// when a worker process dies or is killed at the time limit (`--executor process`).
pub(super) type AttemptFuture = PoolFuture<Attempt, String>;

/// How long past `--timeout` a worker process may run one fetch before it is killed: the
/// fetch ends itself at its timeout, so this catches only a hang no timeout reaches.
#[cfg(process_pool)]
const HARD_LIMIT_GRACE: Duration = Duration::from_secs(5);

/// The pool the attempts run on (`--executor`).
pub(super) enum Pool {
    /// Worker threads sharing one HTTP client.
    Threads {
        pool: ThreadPoolExecutor,
        fetcher: Arc<Fetcher>,
    },
    /// Worker processes, each with its own client.
    #[cfg(process_pool)]
    Processes(ProcessPoolExecutor),
}

impl Pool {
    /// The pool `settings` asks for; a thread pool fetches with `fetcher` (each worker
    /// process builds its own from the same options).
    pub(super) fn new(settings: &Settings, fetcher: Fetcher) -> anyhow::Result<Pool> {
        Ok(match settings.executor {
            Executor::Threads => Pool::Threads {
                pool: ThreadPoolExecutor::builder()
                    .max_workers(settings.workers)
                    .thread_name_prefix("fetchpool")
                    .build()
                    .context("cannot build the thread pool")?,
                fetcher: Arc::new(fetcher),
            },
            #[cfg(process_pool)]
            Executor::Processes {
                max_tasks_per_child,
            } => {
                let mut builder = ProcessPoolExecutor::builder()
                    .max_workers(settings.workers)
                    .initializer(&SET_UP, settings.fetch.clone())
                    .time_limit(settings.fetch.timeout.saturating_add(HARD_LIMIT_GRACE));
                if let Some(n) = max_tasks_per_child {
                    builder = builder.max_tasks_per_child(n);
                }
                Pool::Processes(builder.build().context("cannot build the process pool")?)
            }
        })
    }

    pub(super) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        match self {
            Pool::Threads { pool, .. } => pool.shutdown(wait, cancel_futures),
            #[cfg(process_pool)]
            Pool::Processes(pool) => pool.shutdown(wait, cancel_futures),
        }
    }
}

impl Run {
    /// Starts every job the scheduler released.
    pub(super) fn start_all(self: &Arc<Self>, jobs: Vec<(UrlJob, HostSlot)>) {
        for (job, slot) in jobs {
            self.start(job, slot);
        }
    }

    /// Submits one attempt of `job`, which holds `slot` (freed when the attempt ends).
    pub(super) fn start(self: &Arc<Self>, job: UrlJob, slot: HostSlot) {
        if self.stopped() {
            drop(slot);
            return self.give_up(job);
        }
        let submitted = self.submit(&job);
        match submitted {
            Ok(future) => {
                self.running
                    .lock()
                    .recover()
                    .insert(job.seq, job.text.clone());
                let run = Arc::clone(self);
                future.add_done_callback(move |f| {
                    drop(slot);
                    run.attempt_done(job, f);
                });
            }
            // The process pool broke (its workers cannot start): say why.
            Err(SubmitError::Broken(why)) => {
                drop(slot);
                let mut job = job;
                job.last = Some((FetchError::Worker(why), Duration::ZERO));
                self.give_up(job);
            }
            // Shut down by a stop after the check above.
            Err(_) => {
                drop(slot);
                self.give_up(job);
            }
        }
    }

    /// Submits one attempt at `job`'s URL to the pool.
    pub(super) fn submit(self: &Arc<Self>, job: &UrlJob) -> Result<AttemptFuture, SubmitError> {
        match &self.executor {
            Pool::Threads { pool, fetcher } => {
                let run = Arc::clone(self);
                let fetcher = Arc::clone(fetcher);
                let url = job.url.clone();
                let target = job.target.clone();
                let credentials = job.credentials;
                pool.submit(move || {
                    // A worker may take a queued attempt in the instant between a stop and
                    // the shutdown that cancels the queue: it was not started in time.
                    if run.stopped() || run.past_deadline(Instant::now()) {
                        return Ok(None);
                    }
                    let start = Instant::now();
                    let (result, exchanges, failed) = fetcher.fetch_capturing(Request {
                        url: &url,
                        deadline: run.deadline,
                        target: target.as_ref(),
                        credentials,
                    });
                    let archived = Archived { exchanges, failed };
                    Ok(Some((result, start.elapsed(), archived)))
                })
            }
            #[cfg(process_pool)]
            Pool::Processes(pool) => {
                let load = Load {
                    url: job.url.as_str().to_string(),
                    deadline_in: self
                        .deadline
                        .map(|d| d.saturating_duration_since(Instant::now())),
                    target: job.target.clone(),
                    credentials: job.credentials,
                };
                pool.submit(&LOAD_URL, load)
            }
        }
    }

    /// An attempt ended (or was cancelled): deliver, or schedule a retry.
    pub(super) fn attempt_done(&self, mut job: UrlJob, future: &AttemptFuture) {
        self.running.lock().recover().remove(&job.seq);
        let internal = |why: String| {
            Some((
                Err(FetchError::Io(why)),
                Duration::ZERO,
                Archived::default(),
            ))
        };
        let mut attempt = match future.result(Some(Duration::ZERO)) {
            Ok(attempt) => attempt,
            Err(FutureError::Cancelled) => None,
            // A worker process killed at the hard limit: the fetch outlived its timeout.
            Err(FutureError::Task(TaskError::TimedOut(after))) => {
                self.discard_orphan(&job);
                Some((
                    Err(FetchError::Timeout(self.timeout)),
                    after,
                    Archived::default(),
                ))
            }
            Err(FutureError::Task(TaskError::WorkerDied(why) | TaskError::Broken(why))) => {
                self.discard_orphan(&job);
                Some((
                    Err(FetchError::Worker(why)),
                    Duration::ZERO,
                    Archived::default(),
                ))
            }
            Err(FutureError::Task(TaskError::Panicked(msg))) => {
                internal(format!("internal error: fetch panicked: {msg}"))
            }
            Err(other) => internal(format!("internal error: {other}")),
        };
        // The exchanges are archived before the record says what became of them.
        if let Some((_, _, archived)) = attempt.as_mut() {
            self.archive(std::mem::take(archived));
        }
        match attempt {
            Some((Ok(page), elapsed, _)) => {
                job.attempts += 1;
                self.deliver(&job, Outcome::Fetched(page), elapsed);
            }
            Some((Err(error), elapsed, _)) => {
                job.attempts += 1;
                if !self.stopped() && self.retry.should_retry(&error, job.attempts) {
                    let wait = self.retry.delay(job.attempts, error.retry_after());
                    // The wait may come from the server (Retry-After): checked arithmetic.
                    let due = Instant::now().checked_add(wait);
                    if let Some(due) = due.filter(|&due| !self.past_deadline(due)) {
                        job.last = Some((error, elapsed));
                        if let Some(job) = self.scheduler.retry_at(job, due) {
                            self.give_up(job);
                        }
                        return;
                    }
                }
                self.deliver(&job, Outcome::Failed(error), elapsed);
            }
            None => self.give_up(job),
        }
    }

    /// A worker process killed while it saved `job`'s body left its partial file: removed
    /// unless a validator was kept with it (then a rerun with `--continue` continues it).
    pub(super) fn discard_orphan(&self, job: &UrlJob) {
        if let Some(target) = &job.target {
            crate::fetch::save::discard_orphan(target);
        }
    }

    /// Delivers a job that will not be tried (again): cancelled if it never was, else its
    /// last failure.
    pub(super) fn give_up(&self, mut job: UrlJob) {
        match job.last.take() {
            Some((error, elapsed)) => self.deliver(&job, Outcome::Failed(error), elapsed),
            None => self.deliver(&job, Outcome::Cancelled, Duration::ZERO),
        }
    }
}
