//! The run's configuration, made once from the parsed flags (hyperfine's
//! `Options::from_cli_arguments`): everything below reads these values, never the flags.

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{Checksum, Cli, ExecutorKind, Order};

use crate::crawl::CrawlOptions;
use crate::fetch::FetchOptions;
use crate::fetch::names::Layout;
use crate::record::Format;
use crate::run::schedule::{Limits, RetryPolicy};
use crate::shard::{Shard, ShardBy};
use crate::warc::capture::{CaptureOptions, SPOOL_PREFIX};
use crate::warc::writer::WarcSettings;

/// Where entries come from: the positional arguments, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A URL given as an argument: one entry.
    Url(String),
    /// A list file.
    File(PathBuf),
    /// Standard input (`-`, or no argument at all).
    Stdin,
}

impl Source {
    /// An argument that parses as an http(s) URL, or starts like one (`http://`,
    /// `https://`: a broken URL is then an invalid entry with its record, not a missing
    /// file), is a URL; `-` is standard input; anything else is a list file (so a list
    /// named like a word is still reachable as `./word`).
    pub(crate) fn from_arg(arg: &str) -> Self {
        if arg == "-" {
            return Source::Stdin;
        }
        let lower = arg.get(..8).unwrap_or(arg).to_ascii_lowercase();
        let looks_like_url = lower.starts_with("http://") || lower.starts_with("https://");
        match url::Url::parse(arg) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Source::Url(arg.to_string()),
            _ if looks_like_url => Source::Url(arg.to_string()),
            _ => Source::File(PathBuf::from(arg)),
        }
    }
}

/// The sources of a run: the `URL|FILE` arguments, then the `-i` files; standard input
/// when there are none.
fn inputs(cli: &Cli) -> Vec<Source> {
    let arguments = cli.inputs.iter().map(|a| Source::from_arg(a));
    let files = cli.input_file.iter().map(|path| {
        if path.as_os_str() == "-" {
            Source::Stdin
        } else {
            Source::File(path.clone())
        }
    });
    let inputs: Vec<Source> = arguments.chain(files).collect();
    if inputs.is_empty() {
        vec![Source::Stdin]
    } else {
        inputs
    }
}

/// `-d DIR` and how files are named and kept there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SaveTo {
    /// The directory.
    pub(crate) dir: PathBuf,
    /// Flat or `HOST/PATH`.
    pub(crate) layout: Layout,
    /// Skip URLs whose file exists.
    pub(crate) no_clobber: bool,
}

/// `--record FILE` and `--resume`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordFile {
    /// Where records go.
    pub(crate) path: PathBuf,
    /// Skip the lines it records as fetched, and append.
    pub(crate) resume: bool,
}

/// What runs the fetches (`--executor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Executor {
    /// Worker threads.
    Threads,
    /// Worker processes, each replaced after `max_tasks_per_child` fetches if set (Linux
    /// only).
    #[cfg(process_pool)]
    Processes {
        /// `--max-tasks-per-child`.
        max_tasks_per_child: Option<usize>,
    },
}

/// What one run does.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Where the entries come from, in order (at least one).
    pub(crate) inputs: Vec<Source>,
    /// The record file, if any.
    pub(crate) record: Option<RecordFile>,
    /// Where bodies are saved, if anywhere.
    pub(crate) save: Option<SaveTo>,
    /// How to fetch one URL.
    pub(crate) fetch: FetchOptions,
    /// Fetches running at once.
    pub(crate) workers: usize,
    /// Threads or processes.
    pub(crate) executor: Executor,
    /// Per-host and rate limits.
    pub(crate) limits: Limits,
    /// Whether and when to retry.
    pub(crate) retry: RetryPolicy,
    /// Bound on the whole run.
    pub(crate) deadline: Option<Duration>,
    /// `--shard K/N`: the share of the list this run takes.
    pub(crate) shard: Option<Shard>,
    /// `--crawl` and its settings.
    pub(crate) crawl: Option<CrawlOptions>,
    /// Output format.
    pub(crate) format: Format,
    /// Print in input order.
    pub(crate) in_order: bool,
    /// Entries allowed between "read" and "printed" (the look-ahead).
    pub(crate) window: usize,
    /// Print the summary table on stderr.
    pub(crate) summary: bool,
    /// Draw the progress bar on stderr (a terminal, not `TERM=dumb`, no `--no-progress`).
    pub(crate) progress: bool,
    /// Print only failed, cancelled and invalid records (`--failures-only`).
    pub(crate) failures_only: bool,
    /// Skip a URL the list gave before (`--dedup`).
    pub(crate) dedup: bool,
    /// `--warc-file` and its companions.
    pub(crate) warc: Option<WarcSettings>,
    /// Colour the text lines: `--color`, or on a terminal unless `NO_COLOR` is set.
    pub(crate) color: bool,
    /// Flush stdout after every record (it is a terminal).
    pub(crate) eager_flush: bool,
}

impl Settings {
    /// The settings the flags describe, given the terminals the run writes to; the files
    /// flags name (`--cacert`, `--netrc`) are read here.
    ///
    /// # Errors
    /// A file a flag names cannot be read, or a value is not usable.
    pub(crate) fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        let workers = usize::from(cli.workers);
        let limits = Limits {
            per_host: cli.per_host.map(usize::from),
            rate: cli.rate,
            host_rate: cli.rate_per_host,
            host_rates_later: cli.crawl && !cli.ignore_robots,
        };
        // With limits, jobs may wait in the scheduler; a deeper look-ahead lets other
        // hosts' URLs past a run of one busy host's reach the workers.
        let window = if limits.any() {
            (4 * workers + 16).max(1024)
        } else {
            4 * workers + 16
        };
        let stderr_is_terminal = io::stderr().is_terminal();
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Ok(Settings {
            inputs: inputs(cli),
            save: cli.dir.clone().map(|dir| SaveTo {
                dir,
                layout: cli.layout.unwrap_or(if cli.crawl {
                    Layout::Host
                } else {
                    Layout::Flat
                }),
                no_clobber: cli.no_clobber,
            }),
            record: cli.record.clone().map(|path| RecordFile {
                path,
                resume: cli.resume,
            }),
            fetch: fetch_options(cli, workers)?,
            workers,
            executor: match cli.executor {
                ExecutorKind::Thread => Executor::Threads,
                #[cfg(process_pool)]
                ExecutorKind::Process => Executor::Processes {
                    max_tasks_per_child: cli.max_tasks_per_child.map(|n| n as usize),
                },
                // `cli::check` refused it already.
                #[cfg(not(process_pool))]
                ExecutorKind::Process => anyhow::bail!("--executor process needs Linux"),
            },
            limits,
            retry: RetryPolicy {
                retries: cli.retries,
                base: cli.retry_delay,
                max: cli.retry_max_delay,
            },
            deadline: cli.deadline,
            shard: cli.shard.map(|(index, count)| Shard {
                index,
                count,
                by: cli.shard_by,
            }),
            crawl: cli.crawl.then(|| crawl_options(cli)),
            format: cli.format,
            failures_only: cli.failures_only,
            dedup: cli.dedup,
            warc: cli.warc_file.clone().map(|prefix| WarcSettings {
                prefix,
                compress: !cli.no_warc_compression,
                max_size: cli.warc_max_size,
                resume: cli.resume,
                dedup_index: cli.warc_dedup.clone(),
                cdx: cli.warc_cdx,
                flush_each: cli.record.is_some(),
            }),
            color: match cli.color {
                clap::ColorChoice::Always => true,
                clap::ColorChoice::Never => false,
                clap::ColorChoice::Auto => {
                    anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
                }
            },
            in_order: cli.order == Order::Input,
            window,
            summary: cli.summary || stderr_is_terminal,
            progress: stderr_is_terminal && !dumb && !cli.no_progress,
            eager_flush: io::stdout().is_terminal(),
        })
    }
}

/// `--crawl`'s settings.
fn crawl_options(cli: &Cli) -> CrawlOptions {
    CrawlOptions {
        scope: cli.scope,
        include: cli.include.clone(),
        exclude: cli.exclude.clone(),
        depth: cli.depth,
        max_urls: cli.max_urls,
        robots: !cli.ignore_robots,
        sitemaps: cli.sitemaps,
        shard: cli.shard.map(|(index, count)| Shard {
            index,
            count,
            by: ShardBy::Host,
        }),
        max_redirects: u32::from(cli.http.max_redirects),
        handoff: cli.handoff.clone(),
    }
}

/// Up to this many workers, each drives its own requests (its own runtime and client);
/// beyond, they share one client per core (its I/O thread and pool). Measured in
/// BENCHMARKS.md, section h: own clients cost less CPU per URL with a few workers, and far
/// more memory with hundreds.
const OWN_CLIENT_MAX_WORKERS: usize = 16;

/// The most shared clients, whatever the cores.
const MAX_SHARED_CLIENTS: usize = 8;

/// The HTTP client's options; idle connections kept per host match the workers.
fn fetch_options(cli: &Cli, workers: usize) -> anyhow::Result<FetchOptions> {
    let mut o = FetchOptions::from_args(&cli.http)?;
    o.timeout = cli.timeout;
    o.connect_timeout = cli.connect_timeout;
    o.pool_idle_per_host = workers;
    o.own_client_per_worker = workers <= OWN_CLIENT_MAX_WORKERS;
    if !o.own_client_per_worker {
        o.shared_clients = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_SHARED_CLIENTS);
    }
    o.head |= cli.head;
    o.links = cli.crawl.then_some(crate::crawl::links::LinkKinds {
        requisites: cli.page_requisites,
    });
    // A crawl follows redirects itself, each target once (crate::crawl).
    o.follow_redirects = !cli.crawl;
    o.checksum = cli.checksum == Some(Checksum::Sha256);
    o.continue_partial = cli.continue_partial;
    if let Some(prefix) = &cli.warc_file {
        // HTTP/1.1 while archiving: an HTTP/2 exchange has no HTTP/1.1 form to record.
        o.http_version = crate::fetch::options::HttpVersion::Http1;
        let dir = match prefix.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        o.capture = Some(CaptureOptions {
            spool_dir: dir,
            spool_tag: format!("{SPOOL_PREFIX}{}-", std::process::id()),
            keep_credentials: cli.warc_keep_credentials,
        });
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_urls_lists_or_standard_input() {
        let url = |a: &str| Source::Url(a.to_string());
        assert_eq!(
            Source::from_arg("https://a.example/x"),
            url("https://a.example/x")
        );
        assert_eq!(
            Source::from_arg("HTTP://a.example/"),
            url("HTTP://a.example/")
        );
        assert_eq!(
            Source::from_arg("http://"),
            url("http://"),
            "a broken URL is still one"
        );
        assert_eq!(Source::from_arg("-"), Source::Stdin);
        for file in ["urls.txt", "./report", "ftp://x/", "C:list"] {
            assert_eq!(Source::from_arg(file), Source::File(PathBuf::from(file)));
        }
    }
}
