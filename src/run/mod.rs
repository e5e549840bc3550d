//! One run of the command: read the list, schedule and fetch each URL, deliver exactly one
//! record per entry.
//!
//! # How a run is wired
//!
//! ```text
//!  input thread ──(reserve a slot)──▶ scheduler ──(may start)──▶ submit(load_url) ──▶ workers
//!      │                                ▲   │ per-host slots,          │ done-callback
//!      │ invalid / cancelled / resumed  │   │ rate tokens              ▼
//!      │                         retry  └───┴──── dispatch thread ◀── transient failure
//!      └─────────────────────────────────────────▶ sink: print, record file, tally, free slot
//!  main thread: waits for the end, Ctrl-C or the deadline; flushes the output every 100 ms
//! ```
//!
//! The input thread reads one line at a time. Before handling each entry it reserves a slot
//! in the sink's window, and the sink frees it when the entry's record is printed, so at
//! most `window` entries are between "read" and "printed", retries included: that is the
//! backpressure that keeps a ten-million-line list in constant memory, and the bound on
//! the reordering buffer of `--order input`.
//!
//! Every entry is delivered exactly once: an invalid line at once; a URL from the
//! done-callback of its last attempt (callbacks run exactly once, also when a future is
//! cancelled), or from the scheduler's drain when the run stops while it waits for a slot,
//! a token or a retry; an entry refused by the stopped pool as cancelled (or as its last
//! failure if it had been tried). The run ends when the sink has printed as many records
//! as it admitted entries.
//!
//! A stop (Ctrl-C, SIGTERM, the deadline, a failed output) never waits for the input: it
//! closes the sink's admission, so the entries admitted so far are all that the run will
//! report, and the main thread ends once they are delivered, even while the input thread
//! is blocked in a read (a pipe that stays open, `/dev/zero`). A line that thread was
//! still reading when the run stopped is not part of the run and gets no record.

pub mod input;
pub mod schedule;
pub mod settings;
pub mod sink;
#[cfg(process_pool)]
pub mod worker;

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossbeam_channel::{Receiver, select};
use url::Url;

use crate::cli::Exit;
use crate::crawl::links::PageLinks;
use crate::crawl::robots::{Gate, MAX_ROBOTS, Robots};
use crate::crawl::{Crawl, Found, Redirected};
use crate::fetch::names::{Layout, Namer};
use crate::fetch::save::Target;
use crate::fetch::{FetchError, Fetcher, Page, Request};
#[cfg(process_pool)]
use crate::futures::ProcessPoolExecutor;
use crate::futures::{FutureError, PoolFuture, SubmitError, TaskError, ThreadPoolExecutor};
use crate::record::resume::{CrawlState, Fetched, Resumed, open_output};
use crate::record::{Outcome, Printer, Record};
use crate::redact::secrets_of;
use crate::run::input::{Chained, Entry, UrlList, count_entries};
use crate::run::schedule::{HostJob, HostSlot, RetryPolicy, Scheduler};
use crate::run::settings::{Executor, SaveTo, Settings, Source};
use crate::run::sink::{Event, Sink, SinkOptions};
#[cfg(process_pool)]
use crate::run::worker::{LOAD_URL, Load, SET_UP};
use crate::shard::Shard;

/// One attempt's outcome and duration, or `None` if the run was stopped (or its deadline
/// passed) before the attempt could start.
pub type Attempt = Option<(Result<Page, FetchError>, Duration)>;

/// The future of one attempt: its outcome and how long it took, or `None` if the run was
/// stopped before a worker got to it. A fetch error is data; the task itself fails only
/// when a worker process dies or is killed at the time limit (`--executor process`).
type AttemptFuture = PoolFuture<Attempt, String>;

/// How long past `--timeout` a worker process may run one fetch before it is killed: the
/// fetch ends itself at its timeout, so this catches only a hang no timeout reaches.
#[cfg(process_pool)]
const HARD_LIMIT_GRACE: Duration = Duration::from_secs(5);

/// The pool the attempts run on (`--executor`).
enum Pool {
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
    fn new(settings: &Settings, fetcher: Fetcher) -> anyhow::Result<Pool> {
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

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        match self {
            Pool::Threads { pool, .. } => pool.shutdown(wait, cancel_futures),
            #[cfg(process_pool)]
            Pool::Processes(pool) => pool.shutdown(wait, cancel_futures),
        }
    }
}

/// What stopped a run before it was done, if anything.
#[derive(Debug, Default, Clone, Copy)]
struct Ended {
    /// Ctrl-C or SIGTERM.
    interrupted: bool,
    /// `--deadline` passed.
    by_deadline: bool,
}

/// The output the sink writes to: stdout, buffered (flushed by the sink).
type Out = BufWriter<io::Stdout>;

/// How often the main thread flushes buffered output and redraws the progress line.
const TICK: Duration = Duration::from_millis(100);

/// One URL on its way through the scheduler, with what earlier attempts left.
#[derive(Debug)]
struct UrlJob {
    /// Entry number (0-based, input order), for the sink.
    seq: u64,
    /// Input line number.
    line: u64,
    /// The line's text (the record's `url`).
    text: String,
    /// The parsed URL.
    url: Url,
    /// Scheme, host and port: the unit of `--per-host` and `--rate-per-host` (empty when
    /// no such limit is set).
    host: String,
    /// Where its body is saved (`-d`).
    target: Option<Target>,
    /// Attempts made so far.
    attempts: u32,
    /// The last attempt's failure and duration, once one failed.
    last: Option<(FetchError, Duration)>,
    /// `--crawl`: links from a seed (0 for a list line).
    depth: u32,
    /// `--crawl`: the page it was found on (none for a list line).
    parent: Option<Arc<str>>,
    /// `--crawl`: redirects in a row that led to it.
    hops: u32,
    /// `-u`, `-H` and `-b` may go with it (a crawl gives them to the seeds' origins only).
    credentials: bool,
}

/// Where a crawl found an entry: links from a seed, the page it was on (or that redirected
/// to it), redirects in a row. A list line is a seed: all zero.
#[derive(Debug, Default)]
struct FoundOn {
    depth: u32,
    parent: Option<Arc<str>>,
    hops: u32,
}

impl HostJob for UrlJob {
    fn host(&self) -> &str {
        &self.host
    }
}

/// What every thread of a run shares.
struct Run {
    /// The pool the attempts run on, and the shared client of a thread pool.
    executor: Pool,
    /// `--timeout`, the outcome of an attempt killed at the hard time limit.
    timeout: Duration,
    /// Where records go.
    sink: Sink<Out>,
    /// Per-host slots, rate tokens and retry backoff.
    scheduler: Scheduler<UrlJob>,
    /// Whether and when to retry.
    retry: RetryPolicy,
    /// Set on Ctrl-C, at the deadline, or when the output fails.
    stop: AtomicBool,
    /// The run's deadline (`--deadline`).
    deadline: Option<Instant>,
    /// `--resume`: lines a previous run fetched.
    resumed: Fetched,
    /// `-d`: where bodies go.
    save: Option<SaveTo>,
    /// The input lists and the record file, as (device, inode): no body may replace them.
    protected: Vec<(u64, u64)>,
    /// `--resume`: lines recorded as fetched with another URL than the list's (fetched
    /// again).
    mismatched: AtomicU64,
    /// `--shard`: the share of the list this run takes (and its records name).
    shard: Option<Shard>,
    /// Jobs carry their host (a limit is set, or robots.txt may set one).
    keyed: bool,
    /// `--crawl`: the visited set and the frontier.
    crawl: Option<Crawl>,
    /// `--crawl` without `--ignore-robots`: each host's robots.txt, and the fetcher that
    /// reads them.
    robots: Option<(Robots<UrlJob>, Fetcher)>,
}

impl Run {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn past_deadline(&self, at: Instant) -> bool {
        self.deadline.is_some_and(|d| at >= d)
    }

    /// Starts every job the scheduler released.
    fn start_all(self: &Arc<Self>, jobs: Vec<(UrlJob, HostSlot)>) {
        for (job, slot) in jobs {
            self.start(job, slot);
        }
    }

    /// Submits one attempt of `job`, which holds `slot` (freed when the attempt ends).
    fn start(self: &Arc<Self>, job: UrlJob, slot: HostSlot) {
        if self.stopped() {
            drop(slot);
            return self.give_up(job);
        }
        let submitted = self.submit(&job);
        match submitted {
            Ok(future) => {
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
    fn submit(self: &Arc<Self>, job: &UrlJob) -> Result<AttemptFuture, SubmitError> {
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
                    let result = fetcher.fetch(Request {
                        url: &url,
                        deadline: run.deadline,
                        target: target.as_ref(),
                        credentials,
                    });
                    Ok(Some((result, start.elapsed())))
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
    fn attempt_done(&self, mut job: UrlJob, future: &AttemptFuture) {
        let internal = |why: String| Some((Err(FetchError::Io(why)), Duration::ZERO));
        let attempt = match future.result(Some(Duration::ZERO)) {
            Ok(attempt) => attempt,
            Err(FutureError::Cancelled) => None,
            // A worker process killed at the hard limit: the fetch outlived its timeout.
            Err(FutureError::Task(TaskError::TimedOut(after))) => {
                self.discard_orphan(&job);
                Some((Err(FetchError::Timeout(self.timeout)), after))
            }
            Err(FutureError::Task(TaskError::WorkerDied(why) | TaskError::Broken(why))) => {
                self.discard_orphan(&job);
                Some((Err(FetchError::Worker(why)), Duration::ZERO))
            }
            Err(FutureError::Task(TaskError::Panicked(msg))) => {
                internal(format!("internal error: fetch panicked: {msg}"))
            }
            Err(other) => internal(format!("internal error: {other}")),
        };
        match attempt {
            Some((Ok(page), elapsed)) => {
                job.attempts += 1;
                self.deliver(&job, Outcome::Fetched(page), elapsed);
            }
            Some((Err(error), elapsed)) => {
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
    fn discard_orphan(&self, job: &UrlJob) {
        if let Some(target) = &job.target {
            crate::fetch::save::discard_orphan(target);
        }
    }

    /// Delivers a job that will not be tried (again): cancelled if it never was, else its
    /// last failure.
    fn give_up(&self, mut job: UrlJob) {
        match job.last.take() {
            Some((error, elapsed)) => self.deliver(&job, Outcome::Failed(error), elapsed),
            None => self.deliver(&job, Outcome::Cancelled, Duration::ZERO),
        }
    }

    fn deliver(&self, job: &UrlJob, outcome: Outcome, elapsed: Duration) {
        let mut redirect = None;
        // A password of the URL never reaches the output, error messages included.
        let outcome = match outcome {
            Outcome::Failed(e) => Outcome::Failed(e.scrubbed(&secrets_of(&job.url))),
            Outcome::Fetched(mut page) => {
                // The page's links (or where it redirected) join the frontier before its
                // record is out, so a resumed crawl finds them recorded (and the crawl
                // cannot end between).
                let links = std::mem::take(&mut page.links);
                match &self.crawl {
                    Some(crawl) => {
                        match self.discover(crawl, &links, page.location.as_deref(), job) {
                            Some(Redirected::TooMany) => {
                                Outcome::Failed(FetchError::TooManyRedirects(
                                    crawl.options().max_redirects as usize,
                                ))
                            }
                            fate => {
                                redirect = fate;
                                Outcome::Fetched(page)
                            }
                        }
                    }
                    None => Outcome::Fetched(page),
                }
            }
            other => other,
        };
        self.finish(
            job.seq,
            Record {
                line: job.line,
                url: job.text.clone(),
                outcome,
                elapsed,
                attempts: job.attempts,
                shard: self.shard,
                depth: self.crawl.as_ref().map(|_| job.depth),
                parent: job.parent.clone(),
                redirect,
            },
        );
    }

    /// Offers a fetched page's links, or where it redirected, to the crawl, and records
    /// the pages it queued; returns what became of a redirect.
    fn discover(
        &self,
        crawl: &Crawl,
        links: &PageLinks,
        location: Option<&str>,
        job: &UrlJob,
    ) -> Option<Redirected> {
        let parent = crate::redact::redact_url(job.url.as_str());
        let (fate, queued) = match location.map(Url::parse) {
            Some(Ok(target)) => {
                let (fate, found) = crawl.redirected(&target, job.depth, job.hops, &parent);
                (Some(fate), found.into_iter().collect())
            }
            Some(Err(_)) => (Some(Redirected::OutOfScope), Vec::new()),
            None => (
                None,
                crawl.discover(&links.links, links.dropped, job.depth, &parent),
            ),
        };
        for found in queued {
            self.sink.note(&crate::record::queued_json(
                &crate::redact::redact_url(found.url.as_str()),
                found.depth,
                &found.parent,
                found.hops,
            ));
        }
        fate
    }

    /// Delivers entry `seq`'s record; the crawl learns that it is done.
    fn finish(&self, seq: u64, record: Record) {
        self.sink.deliver(seq, record);
        if let Some(crawl) = &self.crawl {
            crawl.delivered();
        }
    }

    /// Stops the run: nothing new starts, queued attempts are cancelled, jobs waiting in
    /// the scheduler are delivered; running fetches end within their timeout.
    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.sink.close_input();
        for job in self.scheduler.drain() {
            self.give_up(job);
        }
        if let Some((robots, _)) = &self.robots {
            for job in robots.drain() {
                self.give_up(job);
            }
        }
        self.executor.shutdown(false, true);
    }

    /// The input thread: reads entries until the input ends or the run stops, and delivers
    /// or schedules each admitted one exactly once, then closes the sink's admission.
    /// Returns the read error that ended the input, if any.
    fn feed(
        self: &Arc<Self>,
        mut entries: impl Iterator<Item = io::Result<Entry>>,
        keyed: bool,
    ) -> Option<io::Error> {
        let mut error = None;
        let mut namer = match &self.save {
            // A crawl names files after what servers send: in the flat layout they must
            // not replace what the folder held before the run.
            Some(save) if self.crawl.is_some() && save.layout == Layout::Flat => {
                Namer::keeping_existing(save.layout, save.dir.clone())
            }
            Some(save) => Namer::new(save.layout),
            None => Namer::new(Layout::default()),
        };
        let mut list_done = false;
        while !self.stopped() {
            // Pages the crawl found come before more lines of the list (the frontier stays
            // short); once the list is read, wait for them while pages are in flight.
            let found = match &self.crawl {
                Some(crawl) if list_done => match crawl.next(|| self.stopped()) {
                    Some(found) => Some(found),
                    None => break,
                },
                Some(crawl) => crawl.try_next(),
                None => None,
            };
            if let Some(found) = found {
                let target = self.save.as_ref().map(|save| {
                    namer
                        .name(&found.url, None)
                        .map(|rel| self.target(save, rel))
                });
                self.sink.reserve();
                let Some(seq) = self.admit() else { break };
                let entry = Entry {
                    line: 0,
                    text: crate::redact::redact_url(found.url.as_str()).into_owned(),
                    url: Ok(found.url),
                    name: None,
                };
                let found_on = FoundOn {
                    depth: found.depth,
                    parent: Some(found.parent),
                    hops: found.hops,
                };
                self.handle_entry(seq, entry, target, keyed, found_on);
                continue;
            }
            let entry = match entries.next() {
                None if self.crawl.is_some() => {
                    // Every seed is known: what a resumed crawl had queued may join.
                    if let Some(crawl) = &self.crawl {
                        crawl.list_read();
                    }
                    list_done = true;
                    continue;
                }
                None => break,
                Some(Ok(entry)) => entry,
                Some(Err(e)) => {
                    error = Some(e);
                    break;
                }
            };
            // Every line gets its name in order, resumed ones and other shards' too, so
            // reruns and shards agree.
            let target = match (&self.save, &entry.url) {
                (Some(save), Ok(url)) => Some(
                    namer
                        .name(url, entry.name.as_deref())
                        .map(|rel| self.target(save, rel)),
                ),
                _ => None,
            };
            if !owned(self.shard, &entry) {
                continue;
            }
            if let (Some(crawl), Ok(url)) = (&self.crawl, &entry.url) {
                crawl.seed(url);
            }
            match self.resumed.lookup(entry.line, &entry.text) {
                Resumed::Fetched => {
                    self.sink.skip();
                    continue;
                }
                Resumed::Mismatch => {
                    self.mismatched.fetch_add(1, Ordering::Relaxed);
                }
                Resumed::No => {}
            }
            self.sink.reserve();
            let Some(seq) = self.admit() else {
                break; // the run stopped while this line was being read
            };
            self.handle_entry(seq, entry, target, keyed, FoundOn::default());
        }
        self.sink.close_input();
        error
    }

    /// Where a body named `rel` is saved under `save`'s folder.
    fn target(&self, save: &SaveTo, rel: PathBuf) -> Target {
        Target {
            dir: save.dir.clone(),
            rel,
            no_replace: self.crawl.is_some() && save.layout == Layout::Flat,
        }
    }

    /// Admits one more entry: its number, or `None` once the run stopped.
    fn admit(&self) -> Option<u64> {
        let seq = self.sink.admit()?;
        if let Some(crawl) = &self.crawl {
            crawl.admitted();
        }
        Some(seq)
    }

    /// Delivers or schedules admitted entry `seq`, whose body goes to `target` (`-d`),
    /// found where `found_on` says (`--crawl`).
    fn handle_entry(
        self: &Arc<Self>,
        seq: u64,
        entry: Entry,
        target: Option<Result<Target, String>>,
        keyed: bool,
        found_on: FoundOn,
    ) {
        let FoundOn {
            depth,
            parent,
            hops,
        } = found_on;
        let Entry {
            line, text, url, ..
        } = entry;
        let record = |outcome| Record {
            line,
            url: text.clone(),
            outcome,
            elapsed: Duration::ZERO,
            attempts: 0,
            shard: self.shard,
            depth: self.crawl.as_ref().map(|_| depth),
            parent: parent.clone(),
            redirect: None,
        };
        let target = match target.transpose() {
            Ok(target) => target,
            Err(why) => {
                return self.finish(seq, record(Outcome::Invalid(FetchError::BadName(why))));
            }
        };
        let url = match url {
            Err(e) => return self.finish(seq, record(Outcome::Invalid(e))),
            Ok(_) if self.stopped() => return self.finish(seq, record(Outcome::Cancelled)),
            Ok(url) => url,
        };
        if let Some(target) = target.as_ref() {
            // Neither the file nor its temporary ones may be the list or the record file.
            for path in [
                target.path(),
                target.partial_path(),
                target.validator_path(),
            ] {
                if let Ok(meta) = std::fs::metadata(&path)
                    && self.protected.contains(&(meta.dev(), meta.ino()))
                {
                    let why = format!(
                        "{} is the input list or the record file; it is not replaced",
                        path.display()
                    );
                    return self.finish(seq, record(Outcome::Invalid(FetchError::BadName(why))));
                }
            }
            let path = target.path();
            if self.save.as_ref().is_some_and(|s| s.no_clobber)
                && std::fs::symlink_metadata(&path).is_ok()
            {
                return self.finish(seq, record(Outcome::Kept(path)));
            }
        }
        let host = if keyed {
            url.origin().ascii_serialization()
        } else {
            String::new()
        };
        let credentials = self.crawl.as_ref().is_none_or(|c| c.credentials_for(&url));
        let job = UrlJob {
            seq,
            line,
            text,
            url,
            host,
            target,
            attempts: 0,
            last: None,
            depth,
            parent,
            hops,
            credentials,
        };
        self.admit_job(job);
    }

    /// Hands `job` to the scheduler, once its host's robots.txt (`--crawl`) allows it.
    fn admit_job(self: &Arc<Self>, job: UrlJob) {
        let job = match &self.robots {
            None => job,
            Some((robots, _)) => {
                let origin = job.url.origin().ascii_serialization();
                match robots.gate(&origin, job, |job| &job.url) {
                    Gate::Allowed(job) => job,
                    Gate::Disallowed(job) => {
                        return self.deliver(&job, Outcome::Disallowed, Duration::ZERO);
                    }
                    Gate::Parked => return,
                    Gate::FetchFirst => return self.fetch_robots(origin),
                }
            }
        };
        if let Some((job, slot)) = self.scheduler.offer(job) {
            self.start(job, slot);
        }
    }

    /// Fetches host `origin`'s robots.txt on a thread of its own (the run goes on with
    /// other hosts), then lets that host's waiting jobs through, at its `Crawl-delay`.
    fn fetch_robots(self: &Arc<Self>, origin: String) {
        let (run, host) = (Arc::clone(self), origin.clone());
        let spawned = thread::Builder::new()
            .name("fetchpool-robots".to_string())
            .spawn(move || {
                let Some((robots, fetcher)) = &run.robots else {
                    return;
                };
                let origin = host;
                let answer = Url::parse(&format!("{origin}/robots.txt"))
                    .ok()
                    .filter(|_| !run.stopped())
                    .map(|url| {
                        fetcher.fetch(Request {
                            deadline: run.deadline,
                            ..Request::new(&url)
                        })
                    });
                let rules = robots.rules(match &answer {
                    Some(Ok(page)) => Some((page.status, page.body.as_deref().unwrap_or(&[]))),
                    Some(Err(e)) => e.status().map(|status| (status, &[][..])),
                    None => None,
                });
                let known = robots.known(&origin, rules, |job| &job.url);
                if let Some(warning) = &known.warning {
                    run.sink.warn(warning);
                }
                if let (Some(delay), true) = (known.delay, run.keyed) {
                    run.scheduler.set_host_rate(&origin, 1.0 / delay);
                }
                for (job, allowed) in known.waiting {
                    if run.stopped() {
                        run.give_up(job);
                    } else if !allowed {
                        run.deliver(&job, Outcome::Disallowed, Duration::ZERO);
                    } else if let Some((job, slot)) = run.scheduler.offer(job) {
                        run.start(job, slot);
                    }
                }
            });
        if let Err(e) = spawned {
            // No thread: let the host through without its rules rather than lose its jobs.
            self.sink
                .warn(&format!("cannot fetch {origin}/robots.txt: {e}"));
            if let Some((robots, _)) = &self.robots {
                for (job, _) in robots.known(&origin, None, |job| &job.url).waiting {
                    if let Some((job, slot)) = self.scheduler.offer(job) {
                        self.start(job, slot);
                    }
                }
            }
        }
    }
}

/// Gives the progress bar its total: counts the entries of the list files (and the URL
/// arguments) on a thread of its own; the run does not wait for it (a list of ten million
/// lines takes a fraction of a second). With standard input there is no total.
fn count_for_progress(run: &Arc<Run>, inputs: &[Source], shard: Option<Shard>) {
    if inputs.iter().any(|s| matches!(s, Source::Stdin)) {
        return;
    }
    let (run, inputs) = (Arc::clone(run), inputs.to_vec());
    let _ = thread::Builder::new()
        .name("fetchpool-count".to_string())
        .spawn(move || {
            if shard.is_some() {
                // A share is known only entry by entry (by host, the URL decides).
                let Ok(input) = open_inputs(&inputs) else {
                    return;
                };
                let mut total = 0u64;
                for entry in UrlList::new(input) {
                    match entry {
                        Ok(entry) => total += u64::from(owned(shard, &entry)),
                        Err(_) => return,
                    }
                }
                return run.sink.set_total(total);
            }
            let mut total = 0u64;
            for source in &inputs {
                total += match source {
                    Source::Url(_) => 1,
                    Source::Stdin => return,
                    Source::File(path) => match File::open(path) {
                        Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => {
                            match count_entries(BufReader::with_capacity(64 * 1024, f)) {
                                Ok(n) => n,
                                Err(_) => return,
                            }
                        }
                        _ => return,
                    },
                };
            }
            run.sink.set_total(total);
        });
}

/// Whether `entry` is in this run's share of the list (always, without `--shard`).
fn owned(shard: Option<Shard>, entry: &Entry) -> bool {
    shard.is_none_or(|shard| shard.owns(entry.line, entry.url.as_ref().ok()))
}

/// Opens the sources as one list: every file is opened now (so a missing one is an error
/// before anything starts), read in turn; line numbers run on across them, a URL argument
/// being one line.
fn open_inputs(inputs: &[Source]) -> anyhow::Result<Box<dyn BufRead + Send>> {
    let mut readers: Vec<Box<dyn Read + Send>> = Vec::with_capacity(inputs.len());
    for source in inputs {
        let reader: Box<dyn Read + Send> = match source {
            Source::Stdin => Box::new(io::stdin()),
            Source::Url(url) => Box::new(io::Cursor::new(format!("{url}\n").into_bytes())),
            Source::File(path) => {
                let file =
                    File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
                if file.metadata().is_ok_and(|m| m.is_dir()) {
                    anyhow::bail!("cannot read {}: it is a directory", path.display());
                }
                Box::new(file)
            }
        };
        readers.push(reader);
    }
    Ok(Box::new(BufReader::with_capacity(
        64 * 1024,
        Chained::new(readers),
    )))
}

/// The device and inode of an input that is a regular file (a named file, or a file
/// redirected to standard input).
fn input_identity(source: &Source) -> Option<(u64, u64)> {
    let meta = match source {
        Source::Url(_) => return None,
        Source::Stdin => {
            let fd = io::stdin().as_fd().try_clone_to_owned().ok()?;
            File::from(fd).metadata().ok()?
        }
        Source::File(path) => std::fs::metadata(path).ok()?,
    };
    meta.is_file().then(|| (meta.dev(), meta.ino()))
}

/// The files no saved body may replace: the input lists and the record file.
fn protected_files(settings: &Settings) -> Vec<(u64, u64)> {
    let record = settings
        .record
        .as_ref()
        .and_then(|r| std::fs::metadata(&r.path).ok())
        .map(|m| (m.dev(), m.ino()));
    settings
        .inputs
        .iter()
        .filter_map(input_identity)
        .chain(record)
        .collect()
}

/// Refuses a record file that is one of the input lists (by name, symlink or hard link):
/// opening it would empty the list, and resuming would read its own records back.
fn check_not_the_input(inputs: &[Source], record: &Path) -> anyhow::Result<()> {
    let Ok(meta) = std::fs::metadata(record) else {
        return Ok(());
    };
    if inputs
        .iter()
        .any(|source| input_identity(source) == Some((meta.dev(), meta.ino())))
    {
        anyhow::bail!(
            "the record file {} is the input list; name another file",
            record.display()
        );
    }
    Ok(())
}

/// Opens the record file, if any (after checking it is not the input), and reads what a
/// previous run fetched when resuming.
fn open_record(settings: &Settings) -> anyhow::Result<(Option<File>, Fetched, CrawlState)> {
    let Some(record) = &settings.record else {
        return Ok((None, Fetched::default(), CrawlState::default()));
    };
    check_not_the_input(&settings.inputs, &record.path)?;
    let (file, fetched, crawled) =
        open_output(&record.path, record.resume, settings.crawl.is_some())
            .with_context(|| format!("cannot open {}", record.path.display()))?;
    Ok((Some(file), fetched, crawled))
}

/// An ordinary run of `cli` (a list, or the demo's): its settings made once, then
/// [`run`]; `signals` delivers one message per Ctrl-C/SIGTERM.
///
/// # Errors
/// As [`run`], and a flag's file that cannot be read.
pub fn main(cli: &crate::cli::Cli, signals: &Receiver<()>) -> anyhow::Result<Exit> {
    // What the pool catches and survives (a panicking callback, say) goes to stderr.
    crate::futures::set_report_hook(|report| eprintln!("fetchpool: {report}"));
    let settings = settings::Settings::from_cli(cli)?;
    run(&settings, signals)
}

/// Runs the tool. `signals` delivers one message per Ctrl-C/SIGTERM.
///
/// # Errors
/// Usage and input errors (the input cannot be opened or read, the client cannot be
/// built, the output cannot be written), to be reported as `fetchpool: error: ...` with
/// exit code 2.
pub fn run(settings: &Settings, signals: &Receiver<()>) -> anyhow::Result<Exit> {
    let started = Instant::now();
    // The input first: a missing list must not cost the user an emptied record file.
    let input = open_inputs(&settings.inputs)?;
    if let Some(save) = &settings.save {
        std::fs::create_dir_all(&save.dir)
            .with_context(|| format!("cannot use --dir {}", save.dir.display()))?;
    }
    let (record_file, resumed, crawled) = open_record(settings)?;
    let protected = protected_files(settings);
    let (events_tx, events) = crossbeam_channel::unbounded();
    let run = Arc::new(Run::new(
        settings,
        protected,
        started,
        Sink::new(
            Printer::new(
                BufWriter::with_capacity(64 * 1024, io::stdout()),
                settings.format,
            ),
            record_file,
            SinkOptions {
                in_order: settings.in_order,
                window: settings.window,
                eager_flush: settings.eager_flush,
                progress: settings.progress,
            },
            events_tx,
        ),
        resumed,
    )?);
    // Not scoped: a stop must not wait for a read that may never return. The thread is
    // joined only once it has finished.
    if let Some(crawl) = &run.crawl {
        // A resumed crawl: what the killed one saw, and what it had queued and not fetched.
        for key in crawled.seen {
            crawl.mark_seen(key);
        }
        for (url, depth, parent, hops) in crawled.frontier {
            if let Ok(url) = crate::fetch::parse_url(&url) {
                crawl.requeue(Found {
                    url,
                    depth,
                    parent: parent.into(),
                    hops,
                });
            }
        }
    }
    let feeder = Arc::clone(&run);
    let keyed = settings.limits.any();
    let input_thread = thread::Builder::new()
        .name("fetchpool-input".to_string())
        .spawn(move || feeder.feed(UrlList::new(input), keyed))
        .context("cannot start the input thread")?;
    // A crawl's total grows as pages are found: no total, no ETA.
    if settings.progress && settings.crawl.is_none() {
        count_for_progress(&run, &settings.inputs, settings.shard);
    }
    let ended = run.wait_for_end(&events, signals)?;
    let read_error = if input_thread.is_finished() || !run.stopped() {
        input_thread.join().unwrap_or(None)
    } else {
        None
    };
    run.executor.shutdown(true, false);
    run.conclude(settings, started, ended, read_error)
}

impl Run {
    /// Builds a run's shared state.
    fn new(
        settings: &Settings,
        protected: Vec<(u64, u64)>,
        started: Instant,
        sink: Sink<Out>,
        resumed: Fetched,
    ) -> anyhow::Result<Self> {
        // One client set for the thread pool and for robots.txt; with worker processes it
        // still checks the options before any worker starts.
        let fetcher = Fetcher::new(&settings.fetch)
            .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {e}"))?;
        let robots = match &settings.crawl {
            Some(crawl) if crawl.robots => Some((
                Robots::new(&settings.fetch.user_agent),
                fetcher.capturing(MAX_ROBOTS),
            )),
            _ => None,
        };
        Ok(Run {
            executor: Pool::new(settings, fetcher)?,
            timeout: settings.fetch.timeout,
            sink,
            scheduler: Scheduler::new(settings.limits),
            retry: settings.retry,
            stop: AtomicBool::new(false),
            deadline: settings.deadline.and_then(|d| started.checked_add(d)),
            resumed,
            save: settings.save.clone(),
            protected,
            mismatched: AtomicU64::new(0),
            shard: settings.shard,
            keyed: settings.limits.any(),
            crawl: settings.crawl.clone().map(Crawl::new),
            robots,
        })
    }

    /// The main thread's part: runs the dispatch thread and waits for the end (every
    /// admitted entry delivered), stopping the run on Ctrl-C/SIGTERM, at the deadline or
    /// when the output fails; flushes the output on a timer meanwhile. Returns what
    /// stopped the run, if anything did.
    fn wait_for_end(
        self: &Arc<Self>,
        events: &Receiver<Event>,
        signals: &Receiver<()>,
    ) -> anyhow::Result<Ended> {
        let mut ended = Ended::default();
        thread::scope(|scope| -> anyhow::Result<()> {
            let dispatcher = Arc::clone(self);
            let dispatch_thread = thread::Builder::new()
                .name("fetchpool-dispatch".to_string())
                .spawn_scoped(scope, move || {
                    dispatcher
                        .scheduler
                        .dispatch(|jobs| dispatcher.start_all(jobs))
                })
                .context("cannot start the dispatch thread")?;
            let deadline_timer = self
                .deadline
                .map_or_else(crossbeam_channel::never, crossbeam_channel::at);
            let ticker = crossbeam_channel::tick(TICK);
            loop {
                select! {
                    recv(events) -> event => match event {
                        Ok(Event::Finished) | Err(_) => break,
                        // Reader gone (`| head`) or record file failing: stop fetching;
                        // the records are still counted.
                        Ok(Event::OutputFailed) => self.stop(),
                    },
                    recv(signals) -> _ => {
                        ended.interrupted = true;
                        self.stop();
                    },
                    recv(deadline_timer) -> _ => {
                        ended.by_deadline = true;
                        self.stop();
                    },
                    recv(ticker) -> _ => self.sink.tick(),
                }
            }
            self.scheduler.close();
            let _ = dispatch_thread.join();
            Ok(())
        })?;
        Ok(ended)
    }

    /// Ends the output, prints the summary and warnings, and decides the exit code: an
    /// error for a failed read or write, else 130 if interrupted, 1 if any entry was not
    /// fetched or the deadline cut the run short, 0 otherwise.
    fn conclude(
        &self,
        settings: &Settings,
        started: Instant,
        ended: Ended,
        read_error: Option<io::Error>,
    ) -> anyhow::Result<Exit> {
        let (tally, output_error, record_error) = self.sink.finish();
        if settings.summary {
            eprintln!("{}", tally.summary(Some(started.elapsed())));
        }
        for warning in self.crawl.iter().flat_map(Crawl::warnings) {
            eprintln!("fetchpool: warning: {warning}");
        }
        let mismatched = self.mismatched.load(Ordering::Relaxed);
        if mismatched > 0 {
            eprintln!(
                "fetchpool: warning: {mismatched} line(s) recorded as fetched hold another URL \
                 in the list now; they were fetched again (was the record file written for \
                 another list?)"
            );
        }
        if let Some(e) = read_error {
            return Err(anyhow::Error::new(e).context("cannot read the list"));
        }
        if let (Some(e), Some(record)) = (record_error, &settings.record) {
            let path = record.path.display();
            return Err(
                anyhow::Error::new(e).context(format!("cannot write the record file {path}"))
            );
        }
        if let Some(e) = output_error
            && e.kind() != io::ErrorKind::BrokenPipe
        {
            return Err(anyhow::Error::new(e).context("cannot write the output"));
        }
        if ended.by_deadline {
            eprintln!(
                "fetchpool: warning: --deadline passed before the run was done: lines not \
                 read by then have no record"
            );
        }
        Ok(if ended.interrupted {
            Exit::Interrupted
        } else if tally.not_ok() > 0 || ended.by_deadline {
            Exit::Failures
        } else {
            Exit::Success
        })
    }
}
