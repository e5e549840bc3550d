//! The command line: arguments, and the run that reads, fetches and reports.
//!
//! # How a run is wired
//!
//! ```text
//!  input thread ──(permit)──▶ submit(load_url) ──▶ pool workers
//!      │                          │ done-callback
//!      │ invalid / cancelled      ▼
//!      └──────────────▶ records channel ──▶ main thread: print, tally, release permit
//! ```
//!
//! The input thread reads one line at a time. Before handling each entry it takes a
//! permit from a bounded channel of `window` slots, and the main thread gives one back
//! each time it prints a record, so at most `window` entries are between "read" and
//! "printed": that is the backpressure that keeps a ten-million-line list in constant
//! memory, and the bound on the reordering buffer of `--order input`.
//!
//! Every entry sends exactly one record: an invalid line at once, a submitted URL from its
//! future's done-callback (which runs exactly once, also when the future is cancelled),
//! and an entry read after a stop (Ctrl-C, `--deadline`) or refused by the stopped pool as
//! cancelled. The main thread stops when it has printed as many records as the input
//! thread reports entries.

use std::convert::Infallible;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use crossbeam_channel::{Receiver, Sender, select};
use reqwest::header::{HeaderName, HeaderValue};

use crate::fetch::{FetchError, FetchOptions, Fetcher, Page};
use crate::futures::{FutureError, PoolFuture, TaskError, ThreadPoolExecutor};
use crate::input::{Entry, UrlList};
use crate::report::{Format, Outcome, Printer, Record, Tally};

/// The process exit codes, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: every URL was fetched.
    Success,
    /// 1: at least one URL failed, was cancelled or was invalid.
    Failures,
    /// 2: usage or input error (bad flag, missing file, unreadable input).
    Usage,
    /// 130: interrupted by Ctrl-C or SIGTERM.
    Interrupted,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failures => 1,
            Exit::Usage => 2,
            Exit::Interrupted => 130,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// Order of the output records (`--order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    /// As each URL completes (`as_completed`).
    Completion,
    /// In input order (`Executor.map`).
    Input,
}

/// Fetch every URL of a list in parallel and report each page's size or error as it
/// completes.
#[derive(Debug, Parser)]
#[command(name = "fetchpool", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// File with one URL per line ('-' or nothing: standard input). Blank lines and lines
    /// starting with '#' are skipped.
    #[arg(value_name = "FILE", default_value = "-")]
    pub input: PathBuf,

    /// Fetches running at once.
    #[arg(short = 'w', long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub workers: u16,

    /// Total time allowed per URL, from connect to the last body byte: seconds ("60",
    /// "0.5") or a duration ("1m30s", "250ms").
    #[arg(short = 't', long, value_name = "DURATION", default_value = "60",
          value_parser = parse_duration)]
    pub timeout: Duration,

    /// Time allowed to connect [default: the smaller of --timeout and 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,

    /// Bound on the whole run: when it passes, queued URLs are cancelled and running ones
    /// fail as past the deadline.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<Duration>,

    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Output order.
    #[arg(long, value_enum, default_value_t = Order::Completion)]
    pub order: Order,

    /// Print the summary table on stderr even when stderr is not a terminal.
    #[arg(long)]
    pub summary: bool,

    /// Never draw the progress line (it is drawn only when stderr is a terminal).
    #[arg(long)]
    pub no_progress: bool,

    /// Extra request header, "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,

    /// User-Agent header [default: fetchpool/VERSION].
    #[arg(short = 'A', long, value_name = "TEXT")]
    pub user_agent: Option<String>,

    /// Redirects to follow before failing.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_redirects: usize,

    /// Error statuses to count as success, e.g. "404" or "400-499,503" (repeatable).
    #[arg(long, value_name = "CODES", value_delimiter = ',', value_parser = parse_status_range)]
    pub accept: Vec<(u16, u16)>,

    /// Do not verify TLS certificates (off by default).
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// Ignore http_proxy, https_proxy and all_proxy from the environment.
    #[arg(long)]
    pub no_proxy: bool,
}

/// Shown after the options in `--help`.
const AFTER_HELP: &str = "\
Output, one line per URL as it completes:
  'URL' page is N bytes
  'URL' generated an exception: MESSAGE

Exit codes: 0 all fetched, 1 some URL not fetched, 2 usage or input error,
130 interrupted (a second Ctrl-C exits at once).";

/// Parses `60`, `0.5` (seconds) or humantime `1m30s`, `250ms`; zero is refused.
///
/// # Errors
/// A message for clap.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = match s.trim().parse::<f64>() {
        Ok(secs) => Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("'{s}' is not a duration: seconds must be a positive number"))?,
        Err(_) => humantime::parse_duration(s.trim())
            .map_err(|e| format!("'{s}' is not a duration ({e}); try 60, 0.5 or 1m30s"))?,
    };
    if d.is_zero() {
        return Err("must be greater than 0".to_string());
    }
    Ok(d)
}

/// Parses `Name: value`.
///
/// # Errors
/// A message for clap.
pub fn parse_header(s: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("'{s}' is not a header: expected \"Name: value\""))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("'{}' is not a valid header name", name.trim()))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of header '{name}' is not valid"))?;
    Ok((name, value))
}

/// Parses `404` or `400-499`.
///
/// # Errors
/// A message for clap.
pub fn parse_status_range(s: &str) -> Result<(u16, u16), String> {
    let code = |t: &str| {
        t.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=999).contains(c))
            .ok_or_else(|| format!("'{t}' is not an HTTP status code"))
    };
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (code(a)?, code(b)?),
        None => (code(s)?, code(s)?),
    };
    if lo > hi {
        return Err(format!("'{s}' is an empty range"));
    }
    Ok((lo, hi))
}

impl Cli {
    /// The fetch options the flags describe.
    pub fn fetch_options(&self) -> FetchOptions {
        let mut o = FetchOptions::with_timeout(self.timeout);
        o.connect_timeout = self.connect_timeout;
        o.max_redirects = self.max_redirects;
        o.headers = self.headers.clone();
        if let Some(ua) = &self.user_agent {
            o.user_agent = ua.clone();
        }
        o.insecure = self.insecure;
        o.no_proxy = self.no_proxy;
        o.accept = self.accept.clone();
        o.pool_idle_per_host = usize::from(self.workers);
        o
    }
}

/// What travels to the main thread.
enum Msg {
    /// The record of entry number `seq` (0-based, in input order).
    Record(u64, Record),
    /// The input ended after `entries` entries; `error` if reading it failed.
    InputDone {
        entries: u64,
        error: Option<io::Error>,
    },
}

/// The future of one fetch: its outcome and how long it took, or `None` if the run was
/// stopped before a worker got to it. It cannot fail as a task; a fetch error is data.
type FetchFuture = PoolFuture<Option<(Result<Page, FetchError>, Duration)>, Infallible>;

/// Turns a finished or cancelled fetch future into its record.
fn record_of(future: &FetchFuture, line: u64, url: String) -> Record {
    let (outcome, elapsed) = match future.result(Some(Duration::ZERO)) {
        Ok(Some((Ok(page), elapsed))) => (Outcome::Fetched(page), elapsed),
        Ok(Some((Err(e), elapsed))) => (Outcome::Failed(e), elapsed),
        Ok(None) | Err(FutureError::Cancelled) => (Outcome::Cancelled, Duration::ZERO),
        Err(FutureError::Task(TaskError::Panicked(msg))) => (
            Outcome::Failed(FetchError::Io(format!(
                "internal error: fetch panicked: {msg}"
            ))),
            Duration::ZERO,
        ),
        Err(other) => (
            Outcome::Failed(FetchError::Io(format!("internal error: {other}"))),
            Duration::ZERO,
        ),
    };
    Record {
        line,
        url,
        outcome,
        elapsed,
    }
}

/// Everything the input thread needs.
struct Feeder<'a> {
    /// The pool fetches run on.
    executor: &'a ThreadPoolExecutor,
    /// The shared client.
    fetcher: &'a Fetcher,
    /// Records go here.
    records: Sender<Msg>,
    /// One permit per entry in flight; blocks when `window` are.
    permits: Sender<()>,
    /// Set by the main thread on Ctrl-C, deadline or a closed output.
    stop: &'a Arc<AtomicBool>,
    /// The run's deadline, passed to each fetch.
    deadline: Option<Instant>,
}

impl Feeder<'_> {
    /// Reads the whole input, sending exactly one record per entry, then `InputDone`.
    fn run(self, entries: impl Iterator<Item = io::Result<Entry>>) {
        let mut seq = 0u64;
        let mut error = None;
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            };
            if self.permits.send(()).is_err() {
                // The main thread is gone (it only drops the receiver when it returns).
                return;
            }
            self.dispatch(seq, entry);
            seq += 1;
        }
        let _ = self.records.send(Msg::InputDone {
            entries: seq,
            error,
        });
    }

    /// Sends entry `seq`'s record now (invalid, or stopped) or submits its fetch.
    fn dispatch(&self, seq: u64, entry: Entry) {
        let Entry { line, text, url } = entry;
        let url = match url {
            Ok(url) => url,
            Err(e) => return self.send(seq, line, text, Outcome::Invalid(e)),
        };
        if self.stop.load(Ordering::SeqCst) {
            return self.send(seq, line, text, Outcome::Cancelled);
        }
        let fetcher = self.fetcher.clone();
        let deadline = self.deadline;
        let stop = Arc::clone(self.stop);
        let submitted = self.executor.submit(move || {
            // A worker may take a queued task in the instant between a stop and the
            // shutdown that cancels the queue: it was not started in time, so it is
            // cancelled, not failed.
            if stop.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok::<_, Infallible>(None);
            }
            let start = Instant::now();
            let result = fetcher.fetch(&url, deadline);
            Ok(Some((result, start.elapsed())))
        });
        match submitted {
            Ok(future) => {
                let records = self.records.clone();
                future.add_done_callback(move |f| {
                    let _ = records.send(Msg::Record(seq, record_of(f, line, text)));
                });
            }
            // Shut down by a stop between the check above and the submit.
            Err(_) => self.send(seq, line, text, Outcome::Cancelled),
        }
    }

    /// Sends a record that needs no fetch.
    fn send(&self, seq: u64, line: u64, url: String, outcome: Outcome) {
        let record = Record {
            line,
            url,
            outcome,
            elapsed: Duration::ZERO,
        };
        let _ = self.records.send(Msg::Record(seq, record));
    }
}

/// The one-line progress display on stderr, drawn only when stderr is a terminal.
struct Progress {
    /// Off unless stderr is a terminal and `--no-progress` is not given.
    enabled: bool,
    /// When it was last drawn (redrawn at most every 100 ms).
    last: Instant,
}

impl Progress {
    /// Erases the line so a record can be printed cleanly.
    fn clear(&self) {
        if self.enabled {
            eprint!("\r\x1b[2K");
        }
    }

    /// Redraws it if due.
    fn draw(&mut self, tally: &Tally, started: Instant) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last = Instant::now();
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        eprint!(
            "\r\x1b[2K{} done, {} fetched, {} not ok, {:.0} URLs/s",
            tally.total,
            tally.fetched,
            tally.not_ok(),
            tally.total as f64 / secs
        );
        let _ = io::stderr().flush();
    }
}

/// Opens the input named on the command line.
fn open_input(path: &PathBuf) -> anyhow::Result<Box<dyn BufRead + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(io::stdin())));
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        anyhow::bail!("cannot read {}: it is a directory", path.display());
    }
    Ok(Box::new(BufReader::with_capacity(64 * 1024, file)))
}

/// Runs the tool. `signals` delivers one message per Ctrl-C/SIGTERM.
///
/// # Errors
/// Usage and input errors (the input cannot be opened or read, the client cannot be
/// built), to be reported as `fetchpool: error: ...` with exit code 2.
pub fn run(cli: &Cli, signals: &Receiver<()>) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let input = open_input(&cli.input)?;
    let fetcher = Fetcher::new(&cli.fetch_options())
        .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client: {e}"))?;
    let workers = usize::from(cli.workers);
    let executor = ThreadPoolExecutor::builder()
        .max_workers(workers)
        .thread_name_prefix("fetchpool")
        .build()
        .context("cannot build the thread pool")?;
    let deadline = cli.deadline.and_then(|d| started.checked_add(d));
    let window = 4 * workers + 16;
    let (records_tx, records_rx) = crossbeam_channel::unbounded();
    let (permits_tx, permits_rx) = crossbeam_channel::bounded(window);
    let stop = Arc::new(AtomicBool::new(false));

    let mut printer = Printer::new(io::stdout().lock(), cli.format);
    let mut tally = Tally::default();
    let mut progress = Progress {
        enabled: io::stderr().is_terminal() && !cli.no_progress,
        last: started,
    };
    let mut interrupted = false;
    let mut input_error = None;
    let mut output_closed = false;

    thread::scope(|scope| -> anyhow::Result<()> {
        let feeder = Feeder {
            executor: &executor,
            fetcher: &fetcher,
            records: records_tx,
            permits: permits_tx,
            stop: &stop,
            deadline,
        };
        thread::Builder::new()
            .name("fetchpool-input".to_string())
            .spawn_scoped(scope, move || feeder.run(UrlList::new(input)))
            .context("cannot start the input thread")?;

        let stop_all = || {
            stop.store(true, Ordering::SeqCst);
            executor.shutdown(false, true);
        };
        let deadline_timer = deadline.map_or_else(crossbeam_channel::never, crossbeam_channel::at);
        let ticker = if progress.enabled {
            crossbeam_channel::tick(Duration::from_millis(100))
        } else {
            crossbeam_channel::never()
        };
        let mut reorder = std::collections::BTreeMap::new();
        let mut next_seq = 0u64;
        let mut expected = None;
        while expected != Some(tally.total) {
            select! {
                recv(records_rx) -> msg => match msg {
                    Ok(Msg::Record(seq, record)) => {
                        let ready: Vec<Record> = match cli.order {
                            Order::Completion => vec![record],
                            Order::Input => {
                                reorder.insert(seq, record);
                                let mut ready = Vec::new();
                                while let Some(r) = reorder.remove(&next_seq) {
                                    ready.push(r);
                                    next_seq += 1;
                                }
                                ready
                            }
                        };
                        for record in ready {
                            progress.clear();
                            if !output_closed {
                                if let Err(e) = printer.record(&record) {
                                    // Reader gone (`| head`): stop fetching, finish quietly.
                                    output_closed = true;
                                    stop_all();
                                    if e.kind() != io::ErrorKind::BrokenPipe {
                                        input_error = Some(anyhow::Error::new(e).context("cannot write the output"));
                                    }
                                }
                            }
                            tally.add(&record);
                            let _ = permits_rx.recv();
                            progress.draw(&tally, started);
                        }
                    }
                    Ok(Msg::InputDone { entries, error }) => {
                        expected = Some(entries);
                        if let Some(e) = error {
                            input_error = Some(anyhow::Error::new(e).context(format!("cannot read {}", cli.input.display())));
                        }
                    }
                    Err(_) => break,
                },
                recv(signals) -> _ => {
                    interrupted = true;
                    stop_all();
                },
                recv(deadline_timer) -> _ => stop_all(),
                recv(ticker) -> _ => progress.draw(&tally, started),
            }
        }
        Ok(())
    })?;
    progress.clear();
    if !output_closed {
        // A failure here can only be a closed output; the records are all accounted for.
        let _ = printer.finish();
    }
    drop(executor);
    if cli.summary || io::stderr().is_terminal() {
        eprintln!("{}", tally.summary(started.elapsed()));
    }
    if let Some(e) = input_error {
        return Err(e);
    }
    Ok(if interrupted {
        Exit::Interrupted
    } else if tally.not_ok() > 0 {
        Exit::Failures
    } else {
        Exit::Success
    })
}

/// Parses the arguments; on a usage error prints one line and returns the exit code.
///
/// # Errors
/// The exit code to end with (0 after `--help`/`--version`, 2 for a usage error).
pub fn parse_args() -> Result<Cli, Exit> {
    Cli::try_parse().map_err(|e| {
        use clap::error::ErrorKind;
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print();
                Exit::Success
            }
            _ => {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or("invalid arguments");
                let first = first.strip_prefix("error: ").unwrap_or(first);
                eprintln!("fetchpool: error: {first} (see --help)");
                Exit::Usage
            }
        }
    })
}
