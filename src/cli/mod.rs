//! The command line: the arguments (the clap model), what clap cannot check, and the exit
//! codes. Value parsers are in [`parse`], usage errors in [`usage`].

pub(crate) mod config;
pub mod man;
pub mod parse;
pub(crate) mod usage;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use parse::{parse_duration, parse_rate, parse_regex};
use usage::{masked, usage_error};

use crate::crawl::Scope;
use crate::fetch::names::Layout;
use crate::fetch::options::Method;
use crate::record::Format;
use crate::shard::ShardBy;

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

/// The digest `--checksum` computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Checksum {
    /// SHA-256, in lowercase hex (the record's `sha256`).
    Sha256,
}

/// Order of the output records (`--order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Order {
    /// As each URL completes.
    Completion,
    /// In the order of the list (a URL's record waits for the earlier ones).
    Input,
}

/// What runs each fetch (`--executor`): the document's two executors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExecutorKind {
    /// Worker threads of this process.
    Thread,
    /// Worker processes, each a copy of fetchpool: a fetch that crashes or hangs is
    /// killed and fails alone.
    Process,
}

/// Fetch every URL of a list in parallel and print each page's size, or the error it
/// raised, as it completes.
#[derive(Debug, Parser)]
#[command(
    name = "fetchpool",
    version,
    about = "Fetch every URL of a list in parallel and print each page's size, or the error \
             it raised, as it completes.",
    after_help = AFTER_SHORT_HELP,
    after_long_help = AFTER_HELP,
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// A command instead of a run (a list file named like one is reached as ./report).
    /// `fetchpool report --help` shows a command's options.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// URLs to fetch, and list files ('-' or nothing: standard input).
    ///
    /// An argument that is an http(s) URL is fetched; any other is read as a list of one URL
    /// per line, in which blank lines and lines starting with '#' are skipped.
    #[arg(value_name = "URL|FILE")]
    pub(crate) inputs: Vec<String>,

    /// Read URLs from FILE too (repeatable).
    ///
    /// One URL per line ('-': standard input), read after the URL|FILE arguments, as wget's
    /// and aria2c's -i.
    #[arg(short = 'i', long, value_name = "FILE")]
    pub(crate) input_file: Vec<PathBuf>,

    /// Fetches running at once.
    #[arg(short = 'w', long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub(crate) workers: u16,

    /// Run each fetch on a worker thread, or in a worker process (a fetch that crashes its
    /// process fails alone; one that hangs is killed a little after --timeout).
    #[arg(long, value_enum, default_value_t = ExecutorKind::Thread,
          help_heading = "Workers and time")]
    pub(crate) executor: ExecutorKind,

    /// With --executor process: replace each worker process after N fetches.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..),
          help_heading = "Workers and time")]
    pub(crate) max_tasks_per_child: Option<u32>,

    /// Total time allowed per URL.
    ///
    /// From connect to the last body byte: seconds ("60", "0.5") or a duration ("1m30s",
    /// "250ms").
    #[arg(short = 't', long, value_name = "DURATION", default_value = "60",
          value_parser = parse_duration)]
    pub(crate) timeout: Duration,

    /// Time allowed to connect [default: the smaller of --timeout and 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration,
          help_heading = "Workers and time")]
    pub(crate) connect_timeout: Option<Duration>,

    /// Bound on the whole run: when it passes, queued URLs are cancelled and running ones
    /// fail as past the deadline.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration,
          help_heading = "Workers and time")]
    pub(crate) deadline: Option<Duration>,

    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value_t = Format::Text)]
    pub(crate) format: Format,

    /// Print only the URLs that were not fetched.
    ///
    /// Failed, cancelled and invalid ones, as lychee does; the summary, the record file and
    /// the exit code stay the same.
    #[arg(short = 'q', long)]
    pub(crate) failures_only: bool,

    /// Output order.
    #[arg(long, value_enum, default_value_t = Order::Completion, help_heading = "Output")]
    pub(crate) order: Order,

    /// Colour the output lines: on a terminal (unless NO_COLOR is set), always or never.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = clap::ColorChoice::Auto,
          help_heading = "Output")]
    pub(crate) color: clap::ColorChoice,

    /// Print the summary table on stderr even when stderr is not a terminal.
    #[arg(long, help_heading = "Output")]
    pub(crate) summary: bool,

    /// Never draw the progress bar (it is drawn only when stderr is a terminal).
    #[arg(long, help_heading = "Output")]
    pub(crate) no_progress: bool,

    /// The HTTP flags: what each request sends and accepts.
    #[command(flatten)]
    pub(crate) http: crate::fetch::options::HttpArgs,

    /// Retries after a transient failure.
    ///
    /// Transient: a connect error, a timeout, a reset, a truncated body, HTTP 408, 429, 500,
    /// 502, 503, 504.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        value_parser = clap::value_parser!(u32).range(0..=1000),
        help_heading = "Retries and politeness"
    )]
    pub(crate) retries: u32,

    /// First backoff before a retry; it doubles each time, with full jitter.
    #[arg(long, value_name = "DURATION", default_value = "1", value_parser = parse_duration,
          help_heading = "Retries and politeness")]
    pub(crate) retry_delay: Duration,

    /// Longest wait before a retry, Retry-After included.
    #[arg(long, value_name = "DURATION", default_value = "30", value_parser = parse_duration,
          help_heading = "Retries and politeness")]
    pub(crate) retry_max_delay: Duration,

    /// At most N requests in flight to one host (scheme, host and port).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..),
          help_heading = "Retries and politeness")]
    pub(crate) per_host: Option<u16>,

    /// At most R requests started per second, all hosts together.
    #[arg(long, value_name = "R", value_parser = parse_rate, help_heading = "Retries and politeness")]
    pub(crate) rate: Option<f64>,

    /// At most R requests started per second to any one host.
    #[arg(long, value_name = "R", value_parser = parse_rate, help_heading = "Retries and politeness")]
    pub(crate) rate_per_host: Option<f64>,

    /// Do not fetch a URL the list gave before.
    ///
    /// Its line gets a "skipped" record (kind duplicate) naming the line that has it. URLs
    /// are compared parsed, without their fragment; past 4 million distinct URLs, later
    /// ones are fetched even if they repeat (the run says so).
    #[arg(long)]
    pub(crate) dedup: bool,

    /// Follow the links of every HTML page fetched.
    ///
    /// The list's URLs are the seeds; links in scope are followed, each URL at most once,
    /// obeying robots.txt.
    #[arg(long, help_heading = "Crawling")]
    pub(crate) crawl: bool,

    /// Which links to follow: the seeds' scheme, host and port; their registrable domains
    /// and subdomains; the seeds' folders; or any.
    #[arg(long, value_enum, default_value_t = Scope::Host, requires = "crawl",
          help_heading = "Crawling")]
    pub(crate) scope: Scope,

    /// Follow links N steps from the seeds at most (seeds are depth 0).
    #[arg(long, value_name = "N", default_value_t = 5, requires = "crawl",
          value_parser = clap::value_parser!(u32).range(0..=1000), help_heading = "Crawling")]
    pub(crate) depth: u32,

    /// Fetch N pages at most, seeds included.
    #[arg(long, value_name = "N", requires = "crawl",
          value_parser = clap::value_parser!(u64).range(1..), help_heading = "Crawling")]
    pub(crate) max_urls: Option<u64>,

    /// Follow only links that match REGEX (repeatable: any of them).
    #[arg(long, value_name = "REGEX", requires = "crawl", value_parser = parse_regex,
          help_heading = "Crawling")]
    pub(crate) include: Vec<regex::Regex>,

    /// Do not follow links that match REGEX (repeatable).
    #[arg(long, value_name = "REGEX", requires = "crawl", value_parser = parse_regex,
          help_heading = "Crawling")]
    pub(crate) exclude: Vec<regex::Regex>,

    /// Also fetch what pages need to be shown: images, scripts, stylesheets and icons.
    #[arg(long, requires = "crawl", help_heading = "Crawling")]
    pub(crate) page_requisites: bool,

    /// Also crawl the pages of the sitemaps each host's robots.txt names.
    ///
    /// Sitemap: lines, as wget2 follows them: XML (an index followed one level deep) or
    /// text, gzipped or not, each read up to 50 MiB and 50,000 URLs, 50 sitemaps per host;
    /// their pages are in scope and depth 1, like a link of the host's first page.
    #[arg(
        long,
        requires = "crawl",
        conflicts_with = "ignore_robots",
        help_heading = "Crawling"
    )]
    pub(crate) sitemaps: bool,

    /// Do not fetch or obey robots.txt.
    #[arg(long, requires = "crawl", help_heading = "Crawling")]
    pub(crate) ignore_robots: bool,

    /// Take only share K of N of the list.
    ///
    /// K counts from 0, as JOB_COMPLETION_INDEX and SLURM_ARRAY_TASK_ID do: N copies of the
    /// command with K = 0..N-1 fetch every line exactly once between them. Records keep the
    /// whole list's line numbers.
    #[arg(long, value_name = "K/N", value_parser = crate::shard::parse_shard,
          help_heading = "Many machines")]
    pub(crate) shard: Option<(u32, u32)>,

    /// How lines are dealt to shards: by line number (even shares) or by the URL's host (a
    /// host's URLs all in one shard, so --per-host and --rate-per-host hold fleet-wide).
    #[arg(long, value_enum, default_value_t = ShardBy::Line, requires = "shard",
          help_heading = "Many machines")]
    pub(crate) shard_by: ShardBy,

    /// With --crawl --shard K/N --shard-by host: links to another shard's hosts are handed
    /// to it through files in DIR (a shared folder), and the links handed to this shard
    /// are crawled too.
    ///
    /// Run every shard again with --resume, round after round (each fetches one more level
    /// of depth), until `fetchpool report --handoff DIR` says nothing is left (needs
    /// --record).
    #[arg(long, value_name = "DIR", requires_all = ["crawl", "shard", "record"],
          help_heading = "Many machines")]
    pub(crate) handoff: Option<PathBuf>,

    /// Also write every record to FILE as JSON lines.
    ///
    /// Each is written whole as it completes, after a header line that says which
    /// fetchpool with which settings made them.
    #[arg(long, value_name = "FILE", help_heading = "Record file")]
    pub(crate) record: Option<PathBuf>,

    /// With --record: skip the input lines FILE already records as fetched, and append.
    #[arg(long, requires = "record", help_heading = "Record file")]
    pub(crate) resume: bool,

    /// Save each fetched body under DIR.
    ///
    /// DIR is created if missing; a body is named as the list line says (`URL<TAB>name`) or
    /// as the URL path's last segment (`index.html` when empty).
    #[arg(short = 'd', long = "dir", value_name = "DIR", help_heading = "Saving")]
    pub(crate) dir: Option<PathBuf>,

    /// How saved files are laid out under DIR [default: flat; host with --crawl].
    #[arg(long, value_enum, requires = "dir", help_heading = "Saving")]
    pub(crate) layout: Option<Layout>,

    /// Do not fetch a URL whose file exists already; its record says "skipped".
    #[arg(long, requires = "dir", help_heading = "Saving")]
    pub(crate) no_clobber: bool,

    /// Continue partial bodies: a killed run's, or a file wget or curl left part-way.
    ///
    /// A killed run's partial body is continued with Range, validated by If-Range, and the
    /// partial body of a fetch that fails is kept. A file under the final name that
    /// another tool left is continued in place, as wget -c does, and never truncated.
    #[arg(
        short = 'c',
        long = "continue",
        requires = "dir",
        help_heading = "Saving"
    )]
    pub(crate) continue_partial: bool,

    /// Put each body's digest in its record (saved or only counted).
    #[arg(long, value_name = "ALGORITHM", value_enum, help_heading = "Saving")]
    pub(crate) checksum: Option<Checksum>,

    /// Archive every HTTP exchange in PREFIX.warc.gz (WARC/1.1), as wget's --warc-file.
    ///
    /// Each request and response is a record (redirect hops too), each record its own
    /// gzip member, after a warcinfo record; responses keep their bodies as they came.
    #[arg(long, value_name = "PREFIX", help_heading = "Archiving (WARC)")]
    pub(crate) warc_file: Option<PathBuf>,

    /// With --warc-file: write PREFIX.warc, not gzipped.
    #[arg(long, requires = "warc_file", help_heading = "Archiving (WARC)")]
    pub(crate) no_warc_compression: bool,

    /// With --warc-file: start a new file once one reaches SIZE.
    ///
    /// The files are then PREFIX-00000.warc.gz, PREFIX-00001.warc.gz, ...; a record is
    /// never split.
    #[arg(long, value_name = "SIZE", requires = "warc_file",
          value_parser = crate::fetch::options::parse_size, help_heading = "Archiving (WARC)")]
    pub(crate) warc_max_size: Option<u64>,

    /// With --warc-file: also write PREFIX.cdxj, the index pywb reads (sorted CDXJ).
    #[arg(long, requires = "warc_file", help_heading = "Archiving (WARC)")]
    pub(crate) warc_cdx: bool,

    /// With --warc-file: payloads this CDXJ index lists are written as revisit records.
    ///
    /// Within the run, a payload archived before is always written as a revisit record
    /// (identical payload digest); FILE adds the captures of earlier archives.
    #[arg(
        long,
        value_name = "FILE",
        requires = "warc_file",
        help_heading = "Archiving (WARC)"
    )]
    pub(crate) warc_dedup: Option<PathBuf>,

    /// With --warc-file: keep Authorization, Proxy-Authorization and Cookie values in the
    /// request records (by default each is replaced by a marker).
    #[arg(long, requires = "warc_file", help_heading = "Archiving (WARC)")]
    pub(crate) warc_keep_credentials: bool,

    /// No longer an option: see --record and --dir.
    #[arg(short = 'o', long = "output", value_name = "FILE", hide = true)]
    pub(crate) old_output: Option<PathBuf>,

    /// Send HEAD instead of GET: the status and headers, no body.
    #[arg(short = 'I', long, conflicts_with_all = ["method", "dir"])]
    pub(crate) head: bool,
}

/// What `fetchpool COMMAND` does instead of a run.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Fetch a small local site that shows every outcome: a first run, offline.
    ///
    /// Serves a small site on 127.0.0.1 that shows every outcome (sizes, a slow page, a
    /// 404, a 500, a redirect, a reset, a truncated body, a timeout) and fetches it with
    /// these options (for example: fetchpool demo --retries 2 -f jsonl).
    Demo {
        /// Any options of a run (not its URLs or lists: the demo fetches its own).
        #[arg(
            value_name = "OPTIONS",
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        options: Vec<std::ffi::OsString>,
    },
    /// Merge record files into one summary; with --list, check every line was done.
    ///
    /// Record files of any number of shards and resumed runs: the last record of a line
    /// wins. --html also writes the run as one HTML page.
    Report(ReportArgs),
    /// Print a completion script for SHELL.
    ///
    /// For example: fetchpool completions bash >
    /// ~/.local/share/bash-completion/completions/fetchpool
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page of fetchpool, or of COMMAND, in roff.
    ///
    /// For example: fetchpool man > fetchpool.1; man ./fetchpool.1. With --dir, every page
    /// (fetchpool.1, fetchpool-report.1, ...) is written in DIR.
    Man {
        /// The command whose page to print.
        #[arg(value_parser = man::COMMANDS, conflicts_with = "dir")]
        command: Option<String>,
        /// Write every page in DIR (created if missing), for MANPATH.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// `fetchpool report`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Record files written by --record.
    #[arg(value_name = "RECORD_FILE", required = true)]
    pub(crate) records: Vec<PathBuf>,

    /// The list the runs fetched: exit 0 only if each of its URL lines has a final record
    /// of its URL that is not "cancelled"; otherwise name the lines that do not, and exit 1.
    #[arg(long, value_name = "LIST")]
    pub(crate) list: Option<PathBuf>,

    /// text: the summary table; jsonl: the final record of each line, as JSON lines.
    #[arg(short = 'f', long, value_enum, default_value_t = ReportFormat::Text)]
    pub(crate) format: ReportFormat,

    /// The --handoff folder of a distributed crawl: also count the links handed off and
    /// not yet consumed (neither taken by their shard nor recorded), and exit 1 while any
    /// are (another round is needed).
    #[arg(long, value_name = "DIR")]
    pub(crate) handoff: Option<PathBuf>,

    /// Also write the run as one self-contained HTML page to FILE (charts of latency,
    /// results, bytes over time, the slowest and most failing hosts, the failed URLs).
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
}

/// What `fetchpool report` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ReportFormat {
    /// The summary table (and the coverage check).
    Text,
    /// The final record of each line, in the order of the files.
    Jsonl,
}

/// The prefix of every flag's environment variable: `--per-host` is also
/// `FETCHPOOL_PER_HOST`.
pub const ENV_PREFIX: &str = "FETCHPOOL_";

/// The flags `-h` shows; `--help` shows every flag, each with its environment variable.
const SHORT_HELP: [&str; 17] = [
    "input-file",
    "workers",
    "timeout",
    "format",
    "failures-only",
    "header",
    "insecure",
    "cacert",
    "retries",
    "per-host",
    "rate-per-host",
    "crawl",
    "depth",
    "shard",
    "record",
    "resume",
    "dir",
];

/// The command-line definition, every flag of a run also read from its `FETCHPOOL_*`
/// environment variable (the command line wins), as completions and the man page show it.
/// `-h` is short: the common flags only, without their variables; `--help` shows every
/// flag, grouped, with its variable (never its value).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().mut_args(|arg| match arg.get_long() {
        Some(long) if !arg.is_hide_set() && !matches!(long, "help" | "version") => {
            let name =
                format!("{ENV_PREFIX}{}", long.replace(['-', '.'], "_")).to_ascii_uppercase();
            let text = arg
                .get_long_help()
                .or(arg.get_help())
                .map(ToString::to_string)
                .unwrap_or_default();
            let short = SHORT_HELP.contains(&long);
            // The variable is named in the long help only; values stay out of both
            // (FETCHPOOL_USER may hold a password).
            let arg = arg
                .env(&name)
                .hide_env(true)
                .long_help(format!("{text}\n[env: {name}]"))
                .hide_short_help(!short);
            if matches!(arg.get_action(), clap::ArgAction::SetTrue) {
                // FETCHPOOL_RESUME=1, =yes, =on, =true (and 0, no, off, false).
                arg.value_parser(clap::builder::BoolishValueParser::new())
            } else {
                arg
            }
        }
        _ => arg,
    })
}

/// How long a demo's fetches may take unless `--timeout` says: its stalling page then
/// fails within seconds, not a minute.
pub(crate) const DEMO_TIMEOUT: Duration = Duration::from_secs(3);

/// The run `fetchpool demo OPTIONS` makes: OPTIONS parsed as a run's, on the demo's pages
/// `urls`, with [`DEMO_TIMEOUT`] unless `--timeout` (or `FETCHPOOL_TIMEOUT`) is given.
///
/// # Errors
/// The exit code, after printing a usage error.
pub(crate) fn demo_cli(options: &[std::ffi::OsString], urls: &[String]) -> Result<Cli, Exit> {
    use clap::FromArgMatches;
    let args = std::iter::once("fetchpool".into())
        .chain(options.iter().cloned())
        .chain(std::iter::once("--".into()))
        .chain(urls.iter().map(std::ffi::OsString::from));
    let (command, config) = configured()?;
    let matches = command.try_get_matches_from(args).map_err(|e| {
        eprint!("{}", usage_error(&masked(&e)));
        Exit::Usage
    })?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| {
        eprint!("{}", usage_error(&masked(&e)));
        Exit::Usage
    })?;
    if cli.inputs.len() > urls.len() {
        eprintln!("fetchpool: error: the demo fetches its own list: give it options, not URLs");
        return Err(Exit::Usage);
    }
    if matches.value_source("timeout") == Some(clap::parser::ValueSource::DefaultValue)
        && !config.sets("timeout")
    {
        cli.timeout = DEMO_TIMEOUT;
    }
    check(&cli)?;
    Ok(cli)
}

/// [`command`] with the configuration file's values as defaults, and the file.
///
/// # Errors
/// The exit code, after printing what is wrong with the file.
fn configured() -> Result<(clap::Command, config::Config), Exit> {
    let loaded = config::Config::load().and_then(|config| {
        let command = config.apply(command())?;
        Ok((command, config))
    });
    loaded.map_err(|message| {
        eprintln!("fetchpool: error: {message}");
        Exit::Usage
    })
}

/// [`command`], built for completions and the man page.
fn command_for_docs() -> clap::Command {
    let mut cmd = command();
    cmd.build();
    cmd
}

/// Shown after the options in `-h`.
const AFTER_SHORT_HELP: &str = "\
Output, one line per URL as it completes (the Python document's format):
  'URL' page is N bytes
  'URL' generated an exception: MESSAGE

Examples:
  fetchpool demo                               # every outcome, offline: a first run
  fetchpool urls.txt --workers 5 --timeout 60
  fetchpool urls.txt --record records.jsonl    # after a crash: the same with --resume

'fetchpool --help' shows every option, grouped, with its FETCHPOOL_* variable, the exit
codes and more examples; 'fetchpool man' prints the manual.";

/// Shown after the options in `--help`.
const AFTER_HELP: &str = "\
Output, one line per URL as it completes (the Python document's format; -f for others):
  'URL' page is N bytes
  'URL' generated an exception: MESSAGE

Polite settings for servers you do not own: --per-host 2 --rate-per-host 5 --retries 3

Every option can also be set by its environment variable, shown with it
(FETCHPOOL_WORKERS=32 is --workers 32); the command line wins.

Exit codes: 0 all fetched, 1 some URL not fetched, 2 usage or input error,
130 interrupted (a second Ctrl-C exits at once).

Examples:
  fetchpool demo                               # every outcome, offline: a first run
  fetchpool urls.txt --workers 5 --timeout 60
  cat urls.txt | fetchpool -f jsonl > records.jsonl
  fetchpool https://example.com/ https://example.org/
  fetchpool urls.txt --record records.jsonl   # after a crash: the same with --resume
  fetchpool urls.txt --per-host 2 --rate-per-host 5 --retries 3 --deadline 10m
  fetchpool urls.txt --shard 3/8 --record shard-3.jsonl --resume   # one of 8 machines
  fetchpool report --list urls.txt shard-*.jsonl                    # did all 8 finish?
  fetchpool --crawl https://example.com/ --depth 2 -f jsonl        # a link checker
  fetchpool report --html run.html run.jsonl                        # a run at a glance";

/// Parses the arguments; on a usage error prints clap's message without the usage block
/// (the error, then any detail clap adds: the missing argument, the valid values, a "similar
/// argument" tip) and returns the exit code.
///
/// # Errors
/// The exit code to end with (0 after `--help`/`--version`, 2 for a usage error).
pub fn parse_args() -> Result<Cli, Exit> {
    use clap::FromArgMatches;
    let (command, _) = configured()?;
    let cli = command
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
        .map_err(|e| {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    Exit::Success
                }
                _ => {
                    eprint!("{}", usage_error(&masked(&e)));
                    Exit::Usage
                }
            }
        })?;
    check(&cli)?;
    Ok(cli)
}

/// What clap cannot say about the flags together: each a one-line usage error.
fn check(cli: &Cli) -> Result<(), Exit> {
    if cli.http.method == Some(Method::Head) && cli.dir.is_some() {
        eprintln!("fetchpool: error: -X HEAD fetches no body to save in --dir");
        return Err(Exit::Usage);
    }
    if cli.crawl && (cli.head || cli.http.method == Some(Method::Head)) {
        eprintln!("fetchpool: error: --crawl reads pages for their links: it cannot go with HEAD");
        return Err(Exit::Usage);
    }
    if cli.crawl && cli.shard.is_some() && cli.shard_by != ShardBy::Host {
        eprintln!(
            "fetchpool: error: --crawl shards by host: add --shard-by host (each shard crawls \
             its own hosts)"
        );
        return Err(Exit::Usage);
    }
    if cfg!(not(process_pool)) && cli.executor == ExecutorKind::Process {
        eprintln!(
            "fetchpool: error: --executor process needs Linux (worker processes die with \
             their parent there); use the default, --executor thread"
        );
        return Err(Exit::Usage);
    }
    if cli.max_tasks_per_child.is_some() && cli.executor != ExecutorKind::Process {
        eprintln!("fetchpool: error: --max-tasks-per-child needs --executor process");
        return Err(Exit::Usage);
    }
    if cli.warc_file.is_some() && cli.http.http2 {
        eprintln!(
            "fetchpool: error: --warc-file records HTTP/1.1 exchanges (HTTP/2 has no such wire \
             form): it cannot go with --http2"
        );
        return Err(Exit::Usage);
    }
    if cli.old_output.is_some() {
        eprintln!(
            "fetchpool: error: -o/--output is gone: use --record FILE for the JSON record \
             file, or -d DIR to save the pages"
        );
        return Err(Exit::Usage);
    }
    Ok(())
}

/// `fetchpool completions SHELL`: the completion script on stdout.
///
/// # Errors
/// The output cannot be written.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Exit> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command_for_docs(), "fetchpool", &mut script);
    print_all(&script)
}

/// Writes `bytes` to stdout; a reader that went away (`fetchpool man | head`) is not an
/// error.
fn print_all(bytes: &[u8]) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    match std::io::Write::write_all(&mut out, bytes).and_then(|()| std::io::Write::flush(&mut out))
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(Exit::Success),
    }
}
