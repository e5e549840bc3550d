//! The command line: the arguments, their parsers and the exit codes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use reqwest::header::{HeaderName, HeaderValue};

use crate::fetch::FetchOptions;
use crate::report::Format;

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

    /// Retries after a transient failure (connect error, timeout, reset, truncated body,
    /// HTTP 408, 429, 500, 502, 503, 504).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        help_heading = "Retries and politeness"
    )]
    pub retries: u32,

    /// First backoff before a retry; it doubles each time, with full jitter.
    #[arg(long, value_name = "DURATION", default_value = "1", value_parser = parse_duration,
          help_heading = "Retries and politeness")]
    pub retry_delay: Duration,

    /// Longest wait before a retry, Retry-After included.
    #[arg(long, value_name = "DURATION", default_value = "30", value_parser = parse_duration,
          help_heading = "Retries and politeness")]
    pub retry_max_delay: Duration,

    /// At most N requests in flight to one host (scheme, host and port).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..),
          help_heading = "Retries and politeness")]
    pub per_host: Option<u16>,

    /// At most R requests started per second, all hosts together.
    #[arg(long, value_name = "R", value_parser = parse_rate, help_heading = "Retries and politeness")]
    pub rate: Option<f64>,

    /// At most R requests started per second to any one host.
    #[arg(long, value_name = "R", value_parser = parse_rate, help_heading = "Retries and politeness")]
    pub rate_per_host: Option<f64>,

    /// Also write every record to FILE as JSON lines, each written whole as it completes.
    #[arg(short = 'o', long, value_name = "FILE", help_heading = "Record file")]
    pub output: Option<PathBuf>,

    /// With --output: skip the input lines FILE already records as fetched, and append.
    #[arg(long, requires = "output", help_heading = "Record file")]
    pub resume: bool,
}

/// Shown after the options in `--help`.
const AFTER_HELP: &str = "\
Output, one line per URL as it completes:
  'URL' page is N bytes
  'URL' generated an exception: MESSAGE

Polite settings for servers you do not own: --per-host 2 --rate-per-host 5 --retries 3

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

/// Parses a positive rate in requests per second.
///
/// # Errors
/// A message for clap.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "'{s}' is not a positive number of requests per second"
        )),
    }
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
