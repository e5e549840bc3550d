//! The files a run opens: its input lists (read as one, line numbers running on) and its
//! record file (never one of the lists); both are protected from saved bodies.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write as _};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::Context as _;

use super::settings::{Executor, Settings, Source};
use crate::record::header::RunHeader;
use crate::record::resume::{CrawlState, Fetched, open_output, open_output_in_rounds};
use crate::run::input::Chained;

/// Opens the sources as one list: every file is opened now (so a missing one is an error
/// before anything starts), read in turn; line numbers run on across them, a URL argument
/// being one line.
pub(super) fn open_inputs(inputs: &[Source]) -> anyhow::Result<Box<dyn BufRead + Send>> {
    let mut readers: Vec<Box<dyn Read + Send>> = Vec::with_capacity(inputs.len());
    for source in inputs {
        let reader: Box<dyn Read + Send> = match source {
            Source::Stdin => Box::new(io::stdin()),
            Source::Url(url) => Box::new(io::Cursor::new(format!("{url}\n").into_bytes())),
            Source::File(path) => {
                let file = File::open(path).map_err(|e| {
                    let hint = path
                        .to_str()
                        .filter(|_| e.kind() == io::ErrorKind::NotFound)
                        .and_then(scheme_less_url)
                        .map_or(String::new(), |url| {
                            format!(
                                "; an argument without http:// or https:// is read as a list \
                                 file: did you mean {url}?"
                            )
                        });
                    anyhow::anyhow!("cannot open {}: {e}{hint}", path.display())
                })?;
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

/// `https://ARG` when a missing list file's name looks like a URL without its scheme
/// (`example.com`, `www.example.org/page`, `host.example:8080/x`), not like a file name
/// (`urls.txt`).
fn scheme_less_url(arg: &str) -> Option<String> {
    const FILE_ENDINGS: [&str; 10] = [
        "txt", "csv", "tsv", "lst", "list", "json", "jsonl", "urls", "log", "gz",
    ];
    let host_port = arg.split('/').next()?;
    let host = host_port.split(':').next()?;
    let tld = host.rsplit('.').next()?;
    let looks_like_host = host.contains('.')
        && !host.starts_with('.')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && !arg.chars().any(char::is_whitespace);
    let file_like = !arg.contains('/') && FILE_ENDINGS.contains(&tld.to_ascii_lowercase().as_str());
    (looks_like_host && !file_like).then(|| format!("https://{arg}"))
}

/// The device and inode of an input that is a regular file (a named file, or a file
/// redirected to standard input).
pub(super) fn input_identity(source: &Source) -> Option<(u64, u64)> {
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
pub(super) fn protected_files(settings: &Settings) -> Vec<(u64, u64)> {
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
pub(super) fn check_not_the_input(inputs: &[Source], record: &Path) -> anyhow::Result<()> {
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
pub(super) fn open_record(
    settings: &Settings,
) -> anyhow::Result<(Option<File>, Fetched, CrawlState)> {
    let Some(record) = &settings.record else {
        return Ok((None, Fetched::default(), CrawlState::default()));
    };
    check_not_the_input(&settings.inputs, &record.path)?;
    let (mut file, fetched, crawled) = match &settings.crawl {
        Some(crawl) if crawl.handoff.is_some() => {
            open_output_in_rounds(&record.path, record.resume)
        }
        crawl => open_output(&record.path, record.resume, crawl.is_some()),
    }
    .with_context(|| format!("cannot open {}", record.path.display()))?;
    let header = RunHeader::now(header_options(settings));
    file.write_all(header.to_json().as_bytes())
        .with_context(|| format!("cannot write the record file {}", record.path.display()))?;
    Ok((Some(file), fetched, crawled))
}

/// The settings a run's header shows, as a person reads them; never a secret (headers,
/// logins and proxies are counted or named, not shown).
pub(super) fn header_options(settings: &Settings) -> BTreeMap<String, String> {
    use crate::record::tally::human_duration;
    let mut options = BTreeMap::new();
    let mut set = |name: &str, value: String| {
        options.insert(name.to_string(), value);
    };
    let (files, urls, stdin) = settings
        .inputs
        .iter()
        .fold((Vec::new(), 0, false), |mut acc, s| {
            match s {
                Source::File(path) => acc.0.push(path.display().to_string()),
                Source::Url(_) => acc.1 += 1,
                Source::Stdin => acc.2 = true,
            }
            acc
        });
    let mut inputs = files;
    if urls > 0 {
        inputs.push(format!("{urls} URL arguments"));
    }
    if stdin {
        inputs.push("standard input".to_string());
    }
    set("input", inputs.join(", "));
    set("workers", settings.workers.to_string());
    set(
        "executor",
        match settings.executor {
            Executor::Threads => "threads".to_string(),
            #[cfg(process_pool)]
            Executor::Processes { .. } => "processes".to_string(),
        },
    );
    let fetch = &settings.fetch;
    set("timeout", human_duration(fetch.timeout));
    set("retries", settings.retry.retries.to_string());
    if let Some(n) = settings.limits.per_host {
        set("per_host", n.to_string());
    }
    if let Some(rate) = settings.limits.rate {
        set("rate", format!("{rate}/s"));
    }
    if let Some(rate) = settings.limits.host_rate {
        set("rate_per_host", format!("{rate}/s"));
    }
    if let Some(deadline) = settings.deadline {
        set("deadline", human_duration(deadline));
    }
    if let Some(shard) = &settings.shard {
        set("shard", format!("{shard} by {}", shard.by.name()));
    }
    if let Some(crawl) = &settings.crawl {
        set("crawl", format!("depth {}", crawl.depth));
    }
    if let Some(save) = &settings.save {
        set("dir", save.dir.display().to_string());
    }
    if settings.record.as_ref().is_some_and(|r| r.resume) {
        set("resume", "yes".to_string());
    }
    if fetch.head {
        set("method", "HEAD".to_string());
    }
    if !fetch.headers.is_empty() {
        set("headers", format!("{} (not shown)", fetch.headers.len()));
    }
    for (name, on) in [
        ("compressed", fetch.compressed),
        ("continue", fetch.continue_partial),
        ("checksum", fetch.checksum),
        ("insecure", fetch.insecure),
        ("login", fetch.user.is_some()),
        ("proxy", fetch.proxy.is_some()),
    ] {
        if on {
            set(name, "yes".to_string());
        }
    }
    options
}

#[cfg(test)]
mod tests {
    use super::scheme_less_url;

    #[test]
    fn a_missing_file_named_like_a_host_is_taken_for_a_url_without_its_scheme() {
        for (arg, url) in [
            ("example.com", "https://example.com"),
            (
                "www.example.org/page?x=1",
                "https://www.example.org/page?x=1",
            ),
            ("host.example:8080/x", "https://host.example:8080/x"),
        ] {
            assert_eq!(scheme_less_url(arg).as_deref(), Some(url));
        }
        for arg in [
            "urls.txt",
            "list",
            "./list.com",
            "10.0.0.1",
            "a b.com",
            ".hidden.com",
            "x.c0m",
        ] {
            assert_eq!(scheme_less_url(arg), None, "{arg}");
        }
    }
}
