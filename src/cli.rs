//! The command line: arguments, and the run that reads, fetches and reports.
//!
//! # How a run is wired
//!
//! ```text
//!  input thread ──(reserve a slot)──▶ submit(load_url) ──▶ pool workers
//!      │                                   │ done-callback
//!      │ invalid / cancelled               ▼
//!      └──────────────────────────▶ sink: print, tally, free the slot
//!  main thread: waits for the end, Ctrl-C or the deadline; flushes the output every 100 ms
//! ```
//!
//! The input thread reads one line at a time. Before handling each entry it reserves a
//! slot in the sink's window, and the sink frees it when the entry's record is printed,
//! so at most `window` entries are between "read" and "printed": that is the backpressure
//! that keeps a ten-million-line list in constant memory, and the bound on the reordering
//! buffer of `--order input`.
//!
//! Every entry is delivered exactly once: an invalid line at once, a submitted URL from its
//! future's done-callback (which runs exactly once, also when the future is cancelled),
//! and an entry read after a stop (Ctrl-C, `--deadline`) or refused by the stopped pool as
//! cancelled. The run ends when the sink has printed as many records as the input had
//! entries.

use std::convert::Infallible;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use crossbeam_channel::{Receiver, select};
use reqwest::header::{HeaderName, HeaderValue};

use crate::fetch::{FetchError, FetchOptions, Fetcher, Page};
use crate::futures::{FutureError, PoolFuture, TaskError, ThreadPoolExecutor};
use crate::input::{Entry, UrlList};
use crate::report::{Format, Outcome, Printer, Record};
use crate::sink::{Event, Sink, SinkOptions};

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

/// The future of one fetch: its outcome and how long it took, or `None` if the run was
/// stopped before a worker got to it. It cannot fail as a task; a fetch error is data.
type FetchFuture = PoolFuture<Option<(Result<Page, FetchError>, Duration)>, Infallible>;

/// The output the sink writes to: stdout, buffered (flushed by the sink).
type Out = BufWriter<io::Stdout>;

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
    /// Where records go; also bounds the entries in flight.
    sink: &'a Arc<Sink<Out>>,
    /// Set by the main thread on Ctrl-C, deadline or a failed output.
    stop: &'a Arc<AtomicBool>,
    /// The run's deadline, passed to each fetch.
    deadline: Option<Instant>,
}

impl Feeder<'_> {
    /// Reads the whole input, delivering exactly one record per entry, then tells the sink
    /// how many entries there were. Returns the read error that ended the input, if any.
    fn run(self, entries: impl Iterator<Item = io::Result<Entry>>) -> Option<io::Error> {
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
            self.sink.reserve();
            self.dispatch(seq, entry);
            seq += 1;
        }
        self.sink.input_done(seq);
        error
    }

    /// Delivers entry `seq`'s record now (invalid, or stopped) or submits its fetch.
    fn dispatch(&self, seq: u64, entry: Entry) {
        let Entry { line, text, url } = entry;
        let url = match url {
            Ok(url) => url,
            Err(e) => return self.deliver(seq, line, text, Outcome::Invalid(e)),
        };
        if self.stop.load(Ordering::SeqCst) {
            return self.deliver(seq, line, text, Outcome::Cancelled);
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
                let sink = Arc::clone(self.sink);
                future.add_done_callback(move |f| sink.deliver(seq, record_of(f, line, text)));
            }
            // Shut down by a stop between the check above and the submit.
            Err(_) => self.deliver(seq, line, text, Outcome::Cancelled),
        }
    }

    /// Delivers a record that needs no fetch.
    fn deliver(&self, seq: u64, line: u64, url: String, outcome: Outcome) {
        let record = Record {
            line,
            url,
            outcome,
            elapsed: Duration::ZERO,
        };
        self.sink.deliver(seq, record);
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

/// How often the main thread flushes buffered output and redraws the progress line.
const TICK: Duration = Duration::from_millis(100);

/// Runs the tool. `signals` delivers one message per Ctrl-C/SIGTERM.
///
/// # Errors
/// Usage and input errors (the input cannot be opened or read, the client cannot be
/// built, the output cannot be written), to be reported as `fetchpool: error: ...` with
/// exit code 2.
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
    let stop = Arc::new(AtomicBool::new(false));
    let (events_tx, events) = crossbeam_channel::unbounded();
    let sink = Arc::new(Sink::new(
        Printer::new(
            BufWriter::with_capacity(64 * 1024, io::stdout()),
            cli.format,
        ),
        SinkOptions {
            in_order: cli.order == Order::Input,
            window: 4 * workers + 16,
            eager_flush: io::stdout().is_terminal(),
            progress: io::stderr().is_terminal() && !cli.no_progress,
            started,
        },
        events_tx,
    ));
    let mut interrupted = false;

    let read_error = thread::scope(|scope| -> anyhow::Result<Option<io::Error>> {
        let feeder = Feeder {
            executor: &executor,
            fetcher: &fetcher,
            sink: &sink,
            stop: &stop,
            deadline,
        };
        let input_thread = thread::Builder::new()
            .name("fetchpool-input".to_string())
            .spawn_scoped(scope, move || feeder.run(UrlList::new(input)))
            .context("cannot start the input thread")?;

        let stop_all = || {
            stop.store(true, Ordering::SeqCst);
            executor.shutdown(false, true);
        };
        let deadline_timer = deadline.map_or_else(crossbeam_channel::never, crossbeam_channel::at);
        let ticker = crossbeam_channel::tick(TICK);
        loop {
            select! {
                recv(events) -> event => match event {
                    Ok(Event::Finished) | Err(_) => break,
                    // Reader gone (`| head`): stop fetching; the records are still counted.
                    Ok(Event::OutputFailed) => stop_all(),
                },
                recv(signals) -> _ => {
                    interrupted = true;
                    stop_all();
                },
                recv(deadline_timer) -> _ => stop_all(),
                recv(ticker) -> _ => sink.tick(),
            }
        }
        Ok(input_thread.join().unwrap_or(None))
    })?;
    drop(executor);
    let (tally, output_error) = sink.finish();
    if cli.summary || io::stderr().is_terminal() {
        eprintln!("{}", tally.summary(started.elapsed()));
    }
    if let Some(e) = read_error {
        return Err(anyhow::Error::new(e).context(format!("cannot read {}", cli.input.display())));
    }
    if let Some(e) = output_error {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(anyhow::Error::new(e).context("cannot write the output"));
        }
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
