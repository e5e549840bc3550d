//! `fetchpool report`: merges record files (of any number of shards and resumed runs) into
//! one summary, and checks that every line of a list was done.
//!
//! The last record of a line wins, as for `--resume`: the last in its file, and the files
//! in the order given. Memory stays bounded whatever the size of the files: two passes
//! instead of a map from line to record.
//! 1. Backwards over every record (the last file first, each from its end): the first
//!    time a line is met is its final record; a later meeting marks that record as
//!    superseded. This keeps the set of lines seen and the (usually few) superseded
//!    records, both as compressed bitmaps (`roaring`): about 12 MB for 10^8 lines.
//! 2. Forwards over the same bytes: every record is checked against the shard it names;
//!    each one not superseded is counted in the summary and (`--format jsonl`) printed as
//!    it was read.
//!
//! With `--list`, each final record's URL must be the text of its line in the list (a
//! record file made from another list does not pass as coverage). The list is read in
//! chunks of [`CHUNK`] lines, each held as 4-byte hashes of its URLs: the first chunk is
//! compared during pass 2, each further one (a list of more than 16 million lines) in one
//! more forward pass over the records. Then the list is read once more and each URL line
//! is checked against the lines seen. Record files are untrusted input: lines that are
//! not records are counted and skipped, and a file that grows while it is read is read
//! up to its first length.

mod handoff;
pub(crate) mod html;

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use roaring::RoaringTreemap;

use crate::cli::{Exit, ReportArgs, ReportFormat};
use crate::fetch::parse_url;
use crate::record::header::RunHeader;
use crate::record::resume::{MAX_RECORD_LINE, for_each_whole_line, open_regular};
use crate::record::tally::Counted;
use crate::record::{RecordLine, ResultKind, Tally, py_repr, result};
use crate::report::html::{Facts, Picture, Shown};
use crate::run::input::UrlList;
use crate::shard::{Shard, ShardBy, parse_shard};

/// Problems of each kind named one by one; the rest are counted.
const NAMED: usize = 20;

/// A line of a record file that is a record: a JSON object with a known result and a line
/// number (0 for a page a crawl found, which has a `depth`). Both passes decide with this
/// one function. A crawl's `queued` lines are not records.
fn parse(line: &[u8]) -> Option<(RecordLine<'_>, ResultKind)> {
    let rec = RecordLine::parse(line)?;
    let result = ResultKind::from_name(&rec.result)?;
    (rec.line >= 1 || rec.depth.is_some()).then_some((rec, result))
}

/// Whether a line is a crawl's note of a page it queued (`"result":"queued"`).
fn is_queued(line: &[u8]) -> bool {
    RecordLine::parse(line).is_some_and(|n| n.result == result::QUEUED)
}

/// What makes two records the same page: the line of the list, or (for a page a crawl
/// found, line 0) its URL.
enum Identity {
    Line(u64),
    Page(u128),
}

fn identity(rec: &RecordLine<'_>) -> Identity {
    if rec.line >= 1 {
        Identity::Line(rec.line)
    } else {
        Identity::Page(crate::crawl::url_key(&rec.url))
    }
}

/// One record file, and the length it had when the report began.
struct Input {
    path: PathBuf,
    file: File,
    len: u64,
    /// Records it holds (within `len`), counted by the first pass.
    records: u64,
    /// Positions, counted from the file's last record (0), of records a later record of
    /// the same line supersedes.
    superseded: RoaringTreemap,
}

/// What the problems of a report are, each kind counted and its first few named.
#[derive(Default)]
struct Problems {
    /// Each message, by kind; the count of each kind.
    named: Vec<String>,
    counts: [u64; 5],
}

/// The kinds of [`Problems`].
#[derive(Clone, Copy)]
enum Problem {
    /// A URL line of the list without a final record.
    Missing = 0,
    /// A URL line whose final record is `cancelled`.
    Cancelled = 1,
    /// A record of a line that is not a URL line of the list.
    NotInList = 2,
    /// A record made by a shard that does not own its line.
    WrongShard = 3,
    /// A final record whose URL is not the text of its line in the list.
    OtherUrl = 4,
}

impl Problems {
    fn add(&mut self, kind: Problem, message: impl FnOnce() -> String) {
        let n = &mut self.counts[kind as usize];
        *n += 1;
        if *n <= NAMED as u64 {
            self.named.push(message());
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The named problems, then how many more of each kind there are.
    fn write(&self, out: &mut impl Write) -> io::Result<()> {
        for message in &self.named {
            writeln!(out, "{message}")?;
        }
        let names = [
            "lines without a record",
            "lines whose final record is 'cancelled'",
            "records of lines that are not URL lines of the list",
            "records made by a shard that does not own their line",
            "final records of another URL than their line of the list",
        ];
        for (count, name) in self.counts.iter().zip(names) {
            if *count > NAMED as u64 {
                writeln!(out, "... {count} {name} in all")?;
            }
        }
        Ok(())
    }
}

/// Runs `fetchpool report`; the exit code is 0, or 1 if a line is not done or a record
/// is wrong.
///
/// # Errors
/// A file cannot be read, or the output cannot be written.
pub fn report(args: &ReportArgs) -> anyhow::Result<Exit> {
    let mut inputs = Vec::with_capacity(args.records.len());
    for path in &args.records {
        // A FIFO or a device is refused, never waited on (or read forever).
        let file = open_regular(path).with_context(|| format!("cannot open {}", path.display()))?;
        let len = file.metadata()?.len();
        inputs.push(Input {
            path: path.clone(),
            file,
            len,
            records: 0,
            superseded: RoaringTreemap::new(),
        });
    }
    let list = match &args.list {
        Some(path) => Some(
            open_regular(path)
                .with_context(|| format!("cannot open the list {}", path.display()))?,
        ),
        None => None,
    };
    let html_file = match &args.html {
        Some(path) => Some(open_html(path, &inputs, list.as_ref())?),
        None => None,
    };
    let first = last_records(&mut inputs)?;
    // A shard of a crawl that hands off may have had nothing to do yet (a round in which
    // no link reached its hosts): its file holds only the run's header.
    if args.handoff.is_none()
        && let Some(input) = inputs.iter().find(|input| input.records == 0)
    {
        anyhow::bail!(
            "{} holds no records (a record file is what fetchpool --record FILE writes)",
            input.path.display()
        );
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut merged = Merged {
        picture: html_file.as_ref().map(|_| Picture::new(first.span)),
        ..Merged::default()
    };
    // The list's URLs, a chunk at a time: the first compared during pass 2.
    let list_error = |path: &Path| format!("cannot read the list {}", path.display());
    let mut chunks = match (&list, &args.list) {
        (Some(file), Some(path)) => {
            let mut entries = UrlList::new(BufReader::with_capacity(64 * 1024, file.try_clone()?));
            let mut next = None;
            merged.list_urls = ListUrls::read(&mut entries, &mut next, 1, CHUNK)
                .with_context(|| list_error(path))?;
            Some((entries, next, path))
        }
        _ => None,
    };
    merged.read(&mut inputs, args.format, &mut out)?;
    if let Some((entries, next, path)) = chunks.as_mut() {
        while let Some(start) = merged.list_urls.as_ref().map(|urls| urls.end) {
            merged.list_urls =
                ListUrls::read(entries, next, start, CHUNK).with_context(|| list_error(path))?;
            let Some(urls) = &merged.list_urls else {
                break;
            };
            let (other, problems) = (&mut merged.other_url, &mut merged.problems);
            forwards(&mut inputs, |_, record| {
                if let Some((rec, _, true)) = record {
                    urls.check(rec, other, problems);
                }
            })?;
        }
    }
    let covered = match (list, &args.list) {
        (Some(mut file), Some(path)) => {
            file.seek(SeekFrom::Start(0))?;
            Some(check_list(file, path, &first.lines, &mut merged)?)
        }
        _ => None,
    };
    if let (Some(picture), Some(file), Some(path)) = (&merged.picture, html_file, &args.html) {
        let names: Vec<String> = args
            .records
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let facts = Facts {
            files: &names,
            runs: &first.runs,
            more_runs: first.more_runs,
            superseded: merged.superseded,
            unreadable: merged.unreadable,
        };
        let page = picture.render(&merged.tally, &facts);
        write_html(file, path, page.as_bytes())?;
    }
    let wall = first
        .span
        .map(|(start, end)| Duration::from_millis(end.saturating_sub(start)));
    merged.print(args, inputs.len(), wall, covered, out)?;
    let mut handoff_left = false;
    if let Some(dir) = &args.handoff {
        let left = handoff::pending(dir, &args.records)?;
        handoff_left = left.any();
        let line = handoff::describe(&left);
        match args.format {
            ReportFormat::Text => println!("{line}"),
            ReportFormat::Jsonl => eprintln!("fetchpool: {line}"),
        }
    }
    Ok(if merged.problems.total() == 0 && !handoff_left {
        Exit::Success
    } else {
        Exit::Failures
    })
}

/// What the first pass learns: the lines that have a record, when the runs began and
/// ended, and what their headers say.
struct LastRecords {
    /// Lines of the list with a record.
    lines: RoaringTreemap,
    /// From the first run's start (or the first record, without a header) to the last
    /// record, in ms since the epoch.
    span: Option<(u64, u64)>,
    /// The runs' headers, in file order, the first [`html::MAX_RUNS`] of them.
    runs: Vec<RunHeader<'static>>,
    /// Headers beyond those.
    more_runs: u64,
}

/// Pass 1: backwards over every record (the last file first, each from its end): the
/// first time a line is met is its final record; a later meeting marks that record as
/// superseded (in its input's `superseded`).
fn last_records(inputs: &mut [Input]) -> anyhow::Result<LastRecords> {
    let mut seen = RoaringTreemap::new();
    let mut span: Option<(u64, u64)> = None;
    let mut widen = |at: u64| {
        span = Some(span.map_or((at, at), |(a, b)| (a.min(at), b.max(at))));
    };
    // Headers, last first; the last MAX_RUNS of them are kept until the end.
    let mut runs = std::collections::VecDeque::new();
    let mut headers = 0u64;
    // Pages a crawl found, by URL: 16 bytes each.
    let mut pages = std::collections::HashSet::new();
    for input in inputs.iter_mut().rev() {
        let mut from_end = 0u64;
        let (records, superseded) = (&mut input.records, &mut input.superseded);
        for_each_line_backwards(&mut input.file, input.len, |line| {
            let Some((rec, _)) = parse(line) else {
                if let Some(header) = RunHeader::parse(line) {
                    widen(header.started);
                    headers += 1;
                    runs.push_front(header.into_owned());
                    runs.truncate(html::MAX_RUNS);
                }
                return;
            };
            if let Some(at) = rec.at {
                widen(at);
            }
            let new = match identity(&rec) {
                Identity::Line(line) => seen.insert(line),
                Identity::Page(key) => pages.insert(key),
            };
            if !new {
                superseded.insert(from_end);
            }
            from_end += 1;
        })
        .with_context(|| format!("cannot read {}", input.path.display()))?;
        *records = from_end;
    }
    let runs: Vec<RunHeader<'static>> = runs.into();
    Ok(LastRecords {
        lines: seen,
        span,
        more_runs: headers - runs.len() as u64,
        runs,
    })
}

/// What the second pass gathers from the final records.
#[derive(Default)]
struct Merged {
    tally: Tally,
    problems: Problems,
    /// Lines whose final record is `cancelled`.
    cancelled: RoaringTreemap,
    /// The HTML page's figures (`--html`).
    picture: Option<Picture>,
    /// The shard count and dealing the records name (they must all agree).
    fleet: Option<(u32, ShardBy)>,
    /// Lines that are not records (and not a crawl's `queued` notes).
    unreadable: u64,
    /// Records a later record of the same line supersedes.
    superseded: u64,
    /// The URLs of the list's chunk being compared (`--list`).
    list_urls: Option<ListUrls>,
    /// Lines whose final record names another URL than the list.
    other_url: RoaringTreemap,
}

/// Reads every input forwards, each up to the length it had when the report began, and
/// calls `f` with each line and
/// what it holds: `None` if it is not a record, else the record, its result and whether
/// it is its line's final record.
///
/// # Errors
/// A file cannot be read, or it changed since pass 1.
fn forwards(
    inputs: &mut [Input],
    mut f: impl for<'l, 'r> FnMut(&'l [u8], Option<(&'r RecordLine<'r>, ResultKind, bool)>),
) -> anyhow::Result<()> {
    for input in inputs.iter_mut() {
        input.file.seek(SeekFrom::Start(0))?;
        let reader = BufReader::with_capacity(64 * 1024, (&input.file).take(input.len));
        let mut index = 0u64;
        let mut changed = false;
        for_each_whole_line(reader, |line| {
            let Some((rec, result)) = parse(line) else {
                return f(line, None);
            };
            let Some(from_end) = input.records.checked_sub(index + 1) else {
                changed = true;
                return;
            };
            index += 1;
            let last = !input.superseded.contains(from_end);
            f(line, Some((&rec, result, last)));
        })
        .with_context(|| format!("cannot read {}", input.path.display()))?;
        if changed || index != input.records {
            anyhow::bail!("{} changed while it was read", input.path.display());
        }
    }
    Ok(())
}

/// The lines in lines `start..start + hashes.len()` of a list, each as the hash of its
/// text (0 for a line that is not a URL line), to compare with the records' URLs.
struct ListUrls {
    start: u64,
    /// The line after the chunk.
    end: u64,
    hashes: Vec<u32>,
}

/// Lines of the list held at once by [`ListUrls`]: 64 MiB of hashes.
const CHUNK: u64 = 1 << 24;

impl ListUrls {
    /// Reads the URL lines of `list` from line `start` on, `chunk` lines of it; an entry
    /// past them is left in `next`. `None` once the list is read.
    fn read(
        list: &mut impl Iterator<Item = io::Result<crate::run::input::Entry>>,
        next: &mut Option<crate::run::input::Entry>,
        start: u64,
        chunk: u64,
    ) -> io::Result<Option<ListUrls>> {
        let mut urls = ListUrls {
            start,
            end: start.saturating_add(chunk),
            hashes: Vec::new(),
        };
        loop {
            let entry = match next.take() {
                Some(entry) => entry,
                None => match list.next().transpose()? {
                    Some(entry) => entry,
                    None => break,
                },
            };
            if entry.line >= urls.end {
                *next = Some(entry);
                break;
            }
            let at = usize::try_from(entry.line - start).expect("a chunk fits");
            urls.hashes.resize(at + 1, 0);
            urls.hashes[at] = text_hash(&entry.text);
        }
        Ok((!urls.hashes.is_empty() || next.is_some()).then_some(urls))
    }

    /// Notes a problem if `rec`'s line is in this chunk, is a URL line, and its text is
    /// not `rec`'s URL.
    fn check(&self, rec: &RecordLine<'_>, other: &mut RoaringTreemap, problems: &mut Problems) {
        let Some(at) = rec.line.checked_sub(self.start) else {
            return;
        };
        let Some(&hash) = usize::try_from(at).ok().and_then(|at| self.hashes.get(at)) else {
            return;
        };
        if hash != 0 && hash != text_hash(&rec.url) {
            other.insert(rec.line);
            problems.add(Problem::OtherUrl, || {
                format!(
                    "line {}: the record is of {}, another URL than the list's line",
                    rec.line,
                    py_repr(&rec.url)
                )
            });
        }
    }
}

/// The 4-byte hash a list line's text is compared by (never 0, which marks a line that
/// is not a URL line). Two different URLs pass as the same one time in 4 billion.
fn text_hash(text: &str) -> u32 {
    use std::hash::{BuildHasher as _, BuildHasherDefault};
    let h =
        BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(text);
    u32::try_from(h >> 32).unwrap_or(1).max(1)
}

impl Merged {
    /// Pass 2: forwards over the same bytes: every record is checked against the shard
    /// it names; each final one is counted, drawn, compared with the list's first chunk,
    /// and with `format` jsonl printed to `out` as it was read.
    fn read(
        &mut self,
        inputs: &mut [Input],
        format: ReportFormat,
        out: &mut impl Write,
    ) -> anyhow::Result<()> {
        let mut write_error = None;
        forwards(inputs, |line, record| {
            let Some((rec, result, last)) = record else {
                if !is_queued(line) && RunHeader::parse(line).is_none() {
                    self.unreadable += 1;
                }
                return;
            };
            // Every record, superseded or not: two shards that both did a line overlap.
            check_shard(rec, &mut self.fleet, &mut self.problems);
            if !last {
                self.superseded += 1;
                return;
            }
            self.take(rec, result);
            if let Some(urls) = &self.list_urls {
                urls.check(rec, &mut self.other_url, &mut self.problems);
            }
            if format == ReportFormat::Jsonl
                && write_error.is_none()
                && let Err(e) = out.write_all(line)
            {
                write_error = Some(e);
            }
        })?;
        match write_error {
            // `fetchpool report -f jsonl ... | head` is not an error; the check goes on.
            Some(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                Err(e).context("cannot write the records")
            }
            _ => Ok(()),
        }
    }

    /// Counts and draws one final record.
    fn take(&mut self, rec: &RecordLine<'_>, result: ResultKind) {
        let elapsed = Duration::try_from_secs_f64(rec.elapsed_ms / 1e3).unwrap_or_default();
        self.tally.count(&Counted {
            result,
            error_kind: rec.error_kind.as_deref(),
            status: rec.status,
            bytes: rec.bytes.unwrap_or(0),
            elapsed,
            attempts: rec.attempts,
        });
        if result == ResultKind::Cancelled {
            self.cancelled.insert(rec.line);
        }
        if let Some(picture) = self.picture.as_mut() {
            let timed = matches!(result, ResultKind::Fetched | ResultKind::Failed);
            picture.add(&Shown {
                url: &rec.url,
                failed: result == ResultKind::Failed,
                status: rec.status,
                error: rec.error.as_deref(),
                parent: rec.parent.as_deref(),
                bytes: rec.bytes.unwrap_or(0),
                elapsed: timed.then_some(elapsed),
                at: rec.at,
            });
        }
    }

    /// Prints the summary and the problems on stdout as text; with jsonl, stdout holds the
    /// records and the problems go to stderr. `wall` is from the first run's start to the
    /// last record; `covered` is the list's URL lines and those done, with `--list`.
    fn print(
        &self,
        args: &ReportArgs,
        files: usize,
        wall: Option<Duration>,
        covered: Option<(u64, u64)>,
        mut out: impl Write,
    ) -> anyhow::Result<()> {
        let mut text = Vec::new();
        if args.format == ReportFormat::Text {
            writeln!(text, "{}", self.tally.summary(wall))?;
            writeln!(
                text,
                "{files} record files, {} records: {} final, {} superseded by a later \
                 record of the same line{}",
                self.tally.total + self.superseded,
                self.tally.total,
                self.superseded,
                if self.unreadable > 0 {
                    format!("; {} lines that are not records skipped", self.unreadable)
                } else {
                    String::new()
                }
            )?;
        }
        self.problems.write(&mut text)?;
        if let (Some((lines, done)), Some(path)) = (covered, &args.list) {
            if self.problems.total() == 0 {
                writeln!(
                    text,
                    "every URL line of {} ({lines}) has exactly one final record",
                    path.display()
                )?;
            } else {
                writeln!(
                    text,
                    "{done} of the {lines} URL lines of {} are done",
                    path.display()
                )?;
            }
        }
        let written = match args.format {
            ReportFormat::Text => out.write_all(&text).and_then(|()| out.flush()),
            ReportFormat::Jsonl => {
                let _ = out.flush();
                io::stderr().write_all(&text)
            }
        };
        match written {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                Err(e).context("cannot write the report")
            }
            _ => Ok(()),
        }
    }
}

/// A temporary file beside `path` for the HTML page, renamed over it once written whole;
/// `path` must not be one of the record files or the list, and if something has that name
/// it must be a regular file (a link, a FIFO or a device is never replaced).
fn open_html(
    path: &Path,
    inputs: &[Input],
    list: Option<&File>,
) -> anyhow::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::MetadataExt;
    if let Ok(there) = std::fs::symlink_metadata(path) {
        if !there.is_file() {
            anyhow::bail!(
                "--html {} exists and is not a regular file (a link, a folder, a FIFO or a \
                 device); it is not replaced: name another file",
                path.display()
            );
        }
        let files = inputs.iter().map(|input| &input.file).chain(list);
        for file in files {
            let meta = file.metadata()?;
            if (meta.dev(), meta.ino()) == (there.dev(), there.ino()) {
                anyhow::bail!(
                    "--html {} is one of the record files or the list; name another file",
                    path.display()
                );
            }
        }
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".fetchpool-report-")
        .suffix(".html.tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write --html {}", path.display()))
}

/// Writes the page and puts it in place atomically.
fn write_html(mut file: tempfile::NamedTempFile, path: &Path, page: &[u8]) -> anyhow::Result<()> {
    let written = file
        .write_all(page)
        .and_then(|()| file.as_file().sync_all());
    written.with_context(|| format!("cannot write --html {}", path.display()))?;
    file.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write --html {}", path.display()))?;
    Ok(())
}

/// Checks that the shard a record names owns its line, and that all records name the
/// same number of shards dealt the same way.
fn check_shard(rec: &RecordLine<'_>, fleet: &mut Option<(u32, ShardBy)>, problems: &mut Problems) {
    let Some(text) = rec.shard.as_deref() else {
        return;
    };
    let by = match rec.shard_by.as_deref() {
        Some("host") => ShardBy::Host,
        _ => ShardBy::Line,
    };
    let Ok((index, count)) = parse_shard(text) else {
        return problems.add(Problem::WrongShard, || {
            format!(
                "line {}: the record names shard {}, which is not K/N",
                rec.line,
                py_repr(text)
            )
        });
    };
    let shard = Shard { index, count, by };
    match fleet {
        None => *fleet = Some((count, by)),
        Some((n, b)) if (*n, *b) != (count, by) => {
            let (n, b) = (*n, b.name());
            return problems.add(Problem::WrongShard, || {
                format!(
                    "line {}: recorded by shard {shard} by {}, but other records were made \
                     by {n} shards by {b}: the shares overlap",
                    rec.line,
                    by.name()
                )
            });
        }
        Some(_) => {}
    }
    let url = parse_url(&rec.url).ok();
    let owner = shard.of(rec.line, url.as_ref());
    if owner != index {
        problems.add(Problem::WrongShard, || {
            format!(
                "line {}: recorded by shard {shard}, but it belongs to shard {owner}/{count}",
                rec.line
            )
        });
    }
}

/// Checks every URL line of the list against the final records; returns the number of
/// URL lines and of those done.
fn check_list(
    file: File,
    path: &Path,
    seen: &RoaringTreemap,
    merged: &mut Merged,
) -> anyhow::Result<(u64, u64)> {
    let (cancelled, problems) = (&merged.cancelled, &mut merged.problems);
    let mut in_list = RoaringTreemap::new();
    let (mut lines, mut done) = (0u64, 0u64);
    for entry in UrlList::new(BufReader::with_capacity(64 * 1024, file)) {
        let entry = entry.with_context(|| format!("cannot read the list {}", path.display()))?;
        lines += 1;
        in_list.insert(entry.line);
        if !seen.contains(entry.line) {
            problems.add(Problem::Missing, || {
                format!("line {}: no record ({})", entry.line, py_repr(&entry.text))
            });
        } else if merged.other_url.contains(entry.line) {
            // Named as a problem when the URLs were compared.
        } else if cancelled.contains(entry.line) {
            problems.add(Problem::Cancelled, || {
                format!(
                    "line {}: cancelled, never finished ({})",
                    entry.line,
                    py_repr(&entry.text)
                )
            });
        } else {
            done += 1;
        }
    }
    for line in seen - &in_list {
        problems.add(Problem::NotInList, || {
            format!(
                "line {line}: recorded, but it is not a URL line of {}",
                path.display()
            )
        });
    }
    Ok((lines, done))
}

/// Calls `f` with every whole line (newline excluded) of the first `len` bytes of `file`,
/// the last first. The bytes after the last newline (a torn write) are not a line; lines
/// longer than [`MAX_RECORD_LINE`] are skipped without being held.
fn for_each_line_backwards(file: &mut File, len: u64, mut f: impl FnMut(&[u8])) -> io::Result<()> {
    const BLOCK: u64 = 256 * 1024;
    // As `for_each_whole_line` counts: the line with its newline at most MAX_RECORD_LINE.
    let limit = usize::try_from(MAX_RECORD_LINE - 1).unwrap_or(usize::MAX);
    // `carry` holds the start of the line being assembled (the bytes read so far after
    // the newline nearest before them, which is not read yet); `torn` is true until the
    // last newline of the file is found; `too_long` once `carry` passed the limit.
    let (mut carry, mut torn, mut too_long) = (Vec::new(), true, false);
    let mut end = len;
    let mut block = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        block.resize(usize::try_from(end - start).expect("a block fits"), 0);
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        end = start;
        let mut right = block.len();
        while let Some(nl) = block[..right].iter().rposition(|&b| b == b'\n') {
            let piece = &block[nl + 1..right];
            if !torn && !too_long {
                if carry.is_empty() {
                    f(piece);
                } else if piece.len() + carry.len() <= limit {
                    let mut whole = piece.to_vec();
                    whole.extend_from_slice(&carry);
                    f(&whole);
                }
            }
            carry.clear();
            torn = false;
            too_long = false;
            right = nl;
        }
        // What is left of the block belongs to a line that starts in an earlier block.
        if !too_long {
            if right + carry.len() > limit {
                too_long = true;
                carry.clear();
            } else {
                let mut joined = block[..right].to_vec();
                joined.extend_from_slice(&carry);
                carry = joined;
            }
        }
    }
    // The file's first line: whole if a newline followed it.
    if !torn && !too_long {
        f(&carry);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn backwards(bytes: &[u8]) -> Vec<String> {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        let mut lines = Vec::new();
        for_each_line_backwards(&mut file, bytes.len() as u64, |l| {
            lines.push(String::from_utf8_lossy(l).into_owned());
        })
        .unwrap();
        lines
    }

    #[test]
    fn a_list_is_read_in_chunks_of_lines_with_none_lost_at_their_edges() {
        let text = "http://a/1\n# note\n\nhttp://a/4\nhttp://a/5\n\n\n\n\n\nhttp://a/11\n";
        let mut entries = UrlList::new(text.as_bytes());
        let mut next = None;
        let mut seen = Vec::new();
        let mut start = 1;
        while let Some(urls) = ListUrls::read(&mut entries, &mut next, start, 4).unwrap() {
            assert_eq!(urls.start, start);
            for (at, &hash) in urls.hashes.iter().enumerate() {
                if hash != 0 {
                    seen.push((urls.start + at as u64, hash));
                }
            }
            start = urls.end;
        }
        let expected: Vec<(u64, u32)> = [
            (1, "http://a/1"),
            (4, "http://a/4"),
            (5, "http://a/5"),
            (11, "http://a/11"),
        ]
        .iter()
        .map(|&(line, url)| (line, text_hash(url)))
        .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn lines_are_read_last_first_without_the_torn_one() {
        assert_eq!(backwards(b"a\nbb\nccc\n"), ["ccc", "bb", "a"]);
        assert_eq!(backwards(b"a\nbb\ntorn"), ["bb", "a"]);
        assert_eq!(backwards(b"\n\nx\n"), ["x", "", ""]);
        assert!(backwards(b"").is_empty());
        assert!(backwards(b"no newline at all").is_empty());
    }

    #[test]
    fn lines_across_blocks_are_whole_and_over_long_ones_are_skipped() {
        let long = "y".repeat(300 * 1024);
        let huge = "z".repeat(MAX_RECORD_LINE as usize + 1);
        let text = format!("first\n{long}\n{huge}\nlast\n");
        let lines = backwards(text.as_bytes());
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "last");
        assert_eq!(lines[1], long);
        assert_eq!(lines[2], "first");
    }
}
