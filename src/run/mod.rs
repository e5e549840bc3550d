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

mod archive;
mod attempt;
#[cfg(process_pool)]
pub(crate) use attempt::Attempt;
use attempt::Pool;
use feed::count_for_progress;
use files::{open_inputs, open_record, protected_files};
mod dedup;
mod deliver;
mod feed;
mod files;
pub(crate) mod input;
pub(crate) mod schedule;
pub(crate) mod settings;
pub(crate) mod sink;
#[cfg(process_pool)]
pub mod worker;

use std::collections::HashMap;
use std::io::{self, BufWriter};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crossbeam_channel::{Receiver, select};
use url::Url;

use crate::cli::Exit;
use crate::crawl::robots::{MAX_ROBOTS, Robots};
use crate::crawl::{Crawl, Found};
use crate::fetch::save::Target;
use crate::fetch::{FetchError, Fetcher};
use crate::record::Printer;
use crate::record::resume::Fetched;
use crate::run::input::UrlList;
use crate::run::schedule::{HostJob, RetryPolicy, Scheduler};
use crate::run::settings::{SaveTo, Settings};
use crate::run::sink::{Event, Sink, SinkOptions};
use crate::shard::Shard;
use crate::sync::Recover;

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
    /// `--dedup`: a URL the list gave before is skipped.
    dedup: bool,
    /// Jobs carry their host (a limit is set, or robots.txt may set one).
    keyed: bool,
    /// `--crawl`: the visited set and the frontier.
    crawl: Option<Crawl>,
    /// The attempts submitted and not yet done, by entry number, with their URL as shown:
    /// what a first Ctrl-C says is still running.
    running: Mutex<HashMap<u64, String>>,
    /// `--crawl` without `--ignore-robots`: each host's robots.txt, and the fetcher that
    /// reads them.
    robots: Option<(Robots<UrlJob>, Fetcher)>,
    /// `--sitemaps`: the fetcher that reads them, and the lock that makes the run read one
    /// at a time (each may hold 50 MiB).
    sitemaps: Option<(Fetcher, Mutex<()>)>,
    /// `--warc-file`: the run's WARC writer.
    archive: Option<archive::Archive>,
}

impl Run {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn past_deadline(&self, at: Instant) -> bool {
        self.deadline.is_some_and(|d| at >= d)
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
pub(crate) fn run(settings: &Settings, signals: &Receiver<()>) -> anyhow::Result<Exit> {
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
                settings.failures_only,
            ),
            record_file,
            SinkOptions {
                in_order: settings.in_order,
                window: settings.window,
                eager_flush: settings.eager_flush,
                progress: settings.progress,
                failures_only: settings.failures_only,
                color: settings.color,
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

/// The run's crawl, with its handoff folder opened (`--handoff`).
///
/// # Errors
/// The handoff folder cannot be used.
fn crawl_with_handoff(options: &crate::crawl::CrawlOptions) -> anyhow::Result<Crawl> {
    let crawl = Crawl::new(options.clone());
    Ok(match (&options.handoff, options.shard) {
        (Some(dir), Some(shard)) => crawl.with_handoff(
            crate::crawl::handoff::Handoff::open(dir, shard)
                .with_context(|| format!("cannot use the handoff folder {}", dir.display()))?,
        ),
        _ => crawl,
    })
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
        let sitemaps = settings
            .crawl
            .as_ref()
            .filter(|c| c.robots && c.sitemaps)
            .map(|_| {
                let max = crate::crawl::sitemap::MAX_SITEMAP_BYTES;
                (fetcher.reading_whole(max), Mutex::new(()))
            });
        let archive = match (&settings.warc, &settings.fetch.capture) {
            (Some(warc), Some(capture)) => {
                let info = files::header_options(settings).into_iter().collect();
                Some(archive::Archive::open(warc.clone(), info, capture)?)
            }
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
            dedup: settings.dedup,
            keyed: settings.limits.any(),
            crawl: match &settings.crawl {
                Some(options) => Some(crawl_with_handoff(options)?),
                None => None,
            },
            running: Mutex::default(),
            robots,
            sitemaps,
            archive,
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
                        self.say_what_is_running();
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

    /// After a first Ctrl-C: what is still running, and how to quit now.
    fn say_what_is_running(&self) {
        const SHOWN: usize = 5;
        let running: Vec<String> = self.running.lock().recover().values().cloned().collect();
        let mut message = match running.len() {
            0 => "stopping: queued URLs are cancelled".to_string(),
            n => format!(
                "stopping: queued URLs are cancelled; {n} fetch(es) still running end within \
                 --timeout ({}):",
                crate::fetch::fmt_duration(self.timeout)
            ),
        };
        for url in running.iter().take(SHOWN) {
            message.push_str(&format!("\n  {}", crate::record::py_repr(url)));
        }
        if running.len() > SHOWN {
            message.push_str(&format!("\n  ... and {} more", running.len() - SHOWN));
        }
        if !running.is_empty() {
            message
                .push_str("\nCtrl-C again quits now (partial files stay for --continue, with -d)");
        }
        self.sink.note_on_stderr(&message);
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
        if let Some(handoff) = self.crawl.as_ref().and_then(Crawl::handoff) {
            let (handed, taken) = handoff.totals();
            eprintln!(
                "fetchpool: handoff: {handed} link(s) handed to other shards, {taken} taken                  from them"
            );
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
        if let Some(why) = self.archive.as_ref().and_then(archive::Archive::finish) {
            return Err(anyhow::anyhow!(why));
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
        // A crawl that ended by itself consumed what was handed to it.
        if let Some(handoff) = self.crawl.as_ref().and_then(Crawl::handoff)
            && !self.stopped()
            && !ended.interrupted
            && !ended.by_deadline
        {
            handoff
                .commit()
                .context("cannot write the handoff folder's .consumed.json")?;
        }
        if let Some(why) = self.crawl.as_ref().and_then(Crawl::handoff_error) {
            return Err(anyhow::anyhow!(why));
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
