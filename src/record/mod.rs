//! Result records and how they are shown: the document's lines, JSONL, a table, and the
//! summary.

pub mod resume;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use tabled::builder::Builder;
use tabled::settings::object::{Columns, Rows};
use tabled::settings::peaker::Priority;
use tabled::settings::{Alignment, Modify, Style, Width};

use crate::fetch::{FetchError, Page};

/// What became of one input line. Exactly one per non-blank, non-comment line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Fetched in full.
    Fetched(Page),
    /// The fetch failed.
    Failed(FetchError),
    /// Never started: interrupted, past the deadline, or refused by a stopped pool.
    Cancelled,
    /// The line is not a usable URL (or its file name is not usable).
    Invalid(FetchError),
    /// Not fetched: `--no-clobber` found its file already there.
    Kept(PathBuf),
    /// Not fetched: the host's robots.txt forbids it (`--crawl`).
    Disallowed,
}

/// One result record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1-based input line number.
    pub line: u64,
    /// The URL (the line's text for an invalid line).
    pub url: String,
    /// What happened.
    pub outcome: Outcome,
    /// From the last attempt's start to its end (zero if it never started).
    pub elapsed: Duration,
    /// Fetch attempts made (0 if it never started; more than 1 after retries).
    pub attempts: u32,
    /// The shard that made it (`--shard`).
    pub shard: Option<crate::shard::Shard>,
    /// `--crawl`: links from a seed (0 for a line of the list).
    pub depth: Option<u32>,
    /// `--crawl`: the page it was found on (none for a line of the list).
    pub parent: Option<std::sync::Arc<str>>,
    /// `--crawl`: for a redirect (a page with a `location`), what became of its target.
    pub redirect: Option<crate::crawl::Redirected>,
}

impl Record {
    /// `true` for a fetched URL, and for one whose file was kept (`--no-clobber`); a page
    /// robots.txt disallows was never fetched, so it is not ok.
    pub fn ok(&self) -> bool {
        matches!(self.outcome, Outcome::Fetched(_) | Outcome::Kept(_))
    }

    /// `fetched`, `skipped`, `failed`, `cancelled` or `invalid`.
    pub fn result_name(&self) -> &'static str {
        match self.outcome {
            Outcome::Fetched(_) => "fetched",
            Outcome::Kept(_) | Outcome::Disallowed => "skipped",
            Outcome::Failed(_) => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Invalid(_) => "invalid",
        }
    }

    /// The error kind (`timeout`, `http_status`, …, `cancelled`), or `None` if fetched.
    pub fn error_kind(&self) -> Option<&'static str> {
        match &self.outcome {
            Outcome::Fetched(_) | Outcome::Kept(_) => None,
            Outcome::Disallowed => Some("robots"),
            Outcome::Failed(e) | Outcome::Invalid(e) => Some(e.kind()),
            Outcome::Cancelled => Some("cancelled"),
        }
    }

    /// The one-line error message, or `None` if fetched. Invalid lines name their line.
    pub fn error_message(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Fetched(_) | Outcome::Kept(_) => None,
            Outcome::Disallowed => {
                Some("disallowed by robots.txt (--ignore-robots fetches it)".to_string())
            }
            Outcome::Failed(e) => Some(e.to_string()),
            Outcome::Cancelled => Some("cancelled before it started".to_string()),
            Outcome::Invalid(e) => Some(format!("line {}: {e}", self.line)),
        }
    }

    /// The HTTP status, when one was received.
    pub fn status(&self) -> Option<u16> {
        match &self.outcome {
            Outcome::Fetched(p) => Some(p.status),
            Outcome::Failed(e) => e.status(),
            Outcome::Cancelled | Outcome::Invalid(_) | Outcome::Kept(_) | Outcome::Disallowed => {
                None
            }
        }
    }

    /// The file the body is in (`-d`): saved now, or kept by `--no-clobber`.
    pub fn path(&self) -> Option<&std::path::Path> {
        match &self.outcome {
            Outcome::Fetched(p) => p.path.as_deref(),
            Outcome::Kept(path) => Some(path),
            _ => None,
        }
    }

    /// What the fetch measured, when fetched.
    pub fn page(&self) -> Option<&Page> {
        match &self.outcome {
            Outcome::Fetched(p) => Some(p),
            _ => None,
        }
    }

    /// Body bytes, when fetched.
    pub fn bytes(&self) -> Option<u64> {
        match &self.outcome {
            Outcome::Fetched(p) => Some(p.bytes),
            _ => None,
        }
    }

    /// The document's line: `'URL' page is N bytes` or `'URL' generated an exception: MSG`.
    /// A status accepted by `--accept` says so; a HEAD request reports the status and the
    /// announced length instead of a size.
    pub fn to_text(&self) -> String {
        match (&self.outcome, self.error_message()) {
            (Outcome::Fetched(p), _) if p.head => {
                let length = p
                    .content_length
                    .map_or_else(|| "no Content-Length".to_string(), |n| format!("{n} bytes"));
                format!(
                    "{} answered HTTP {} to HEAD ({length})",
                    py_repr(&self.url),
                    p.status
                )
            }
            (Outcome::Fetched(p), _) if p.status >= 400 => format!(
                "{} page is {} bytes (HTTP {} accepted)",
                py_repr(&self.url),
                p.bytes,
                p.status
            ),
            (Outcome::Fetched(p), _) if p.location.is_some() => format!(
                "{} redirected to {}{}",
                py_repr(&self.url),
                py_repr(&crate::redact::redact_url(
                    p.location.as_deref().unwrap_or("")
                )),
                self.redirect.map_or("", crate::crawl::Redirected::words)
            ),
            (Outcome::Fetched(p), _) => format!("{} page is {} bytes", py_repr(&self.url), p.bytes),
            (Outcome::Kept(path), _) => format!(
                "{} skipped: {} exists",
                py_repr(&self.url),
                py_repr(&path.display().to_string())
            ),
            (Outcome::Disallowed, _) => {
                format!("{} skipped: disallowed by robots.txt", py_repr(&self.url))
            }
            (_, msg) => {
                let mut line = format!(
                    "{} generated an exception: {}",
                    py_repr(&self.url),
                    msg.unwrap_or_default()
                );
                if self.attempts > 1 {
                    let _ = write!(line, " (after {} attempts)", self.attempts);
                }
                // A crawl is a link checker: a broken link names the page it is on.
                if let Some(parent) = &self.parent {
                    let _ = write!(line, " (linked from {})", py_repr(parent));
                }
                line
            }
        }
    }

    /// One JSON object, without a newline.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Json<'a> {
            url: &'a str,
            line: u64,
            ok: bool,
            result: &'static str,
            status: Option<u16>,
            bytes: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            final_url: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            content_type: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            content_length: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            path: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            sha256: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            resumed_from: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            wire_bytes: Option<u64>,
            elapsed_ms: f64,
            attempts: u32,
            error_kind: Option<&'static str>,
            error: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            shard: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            shard_by: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            depth: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            parent: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            location: Option<std::borrow::Cow<'a, str>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            redirect: Option<&'static str>,
            at: u64,
        }
        let json = Json {
            url: &self.url,
            line: self.line,
            ok: self.ok(),
            result: self.result_name(),
            status: self.status(),
            bytes: self.bytes(),
            final_url: self.page().map(|p| p.final_url.as_str()),
            content_type: self.page().and_then(|p| p.content_type.as_deref()),
            content_length: self.page().and_then(|p| p.content_length),
            path: self.path().map(|p| p.display().to_string()),
            sha256: self.page().and_then(|p| p.sha256.as_deref()),
            resumed_from: self.page().and_then(|p| p.resumed_from),
            wire_bytes: self.page().and_then(|p| p.wire_bytes),
            elapsed_ms: (self.elapsed.as_secs_f64() * 1e6).round() / 1e3,
            attempts: self.attempts,
            error_kind: self.error_kind(),
            error: self.error_message(),
            shard: self.shard.map(|s| s.to_string()),
            shard_by: self.shard.map(|s| s.by.name()),
            depth: self.depth,
            parent: self.parent.as_deref(),
            location: self
                .page()
                .and_then(|p| p.location.as_deref())
                .map(crate::redact::redact_url),
            redirect: self.redirect.map(crate::crawl::Redirected::name),
            // When it was written: the end of its fetch (for `report --html`'s timeline).
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        };
        serde_json::to_string(&json).expect("a record always serializes")
    }
}

/// The record-file line of a page a crawl queued (`"result":"queued"`): not a record of
/// the run's output, but what a resumed crawl rebuilds its frontier from.
pub fn queued_json(url: &str, depth: u32, parent: &str, hops: u32) -> String {
    #[derive(Serialize)]
    struct Queued<'a> {
        url: &'a str,
        line: u64,
        result: &'static str,
        depth: u32,
        parent: &'a str,
        #[serde(skip_serializing_if = "is_zero")]
        hops: u32,
    }
    fn is_zero(n: &u32) -> bool {
        *n == 0
    }
    let json = Queued {
        url,
        line: 0,
        result: "queued",
        depth,
        parent,
        hops,
    };
    serde_json::to_string(&json).expect("a queued record always serializes") + "\n"
}

/// Quotes a string as Python's `repr(str)` does: single quotes unless the text holds a
/// single quote and no double quote; backslashes and the quote escaped, and every
/// character Python does not call printable (`str.isprintable`: control and format
/// characters such as U+202E RIGHT-TO-LEFT OVERRIDE or U+200B ZERO WIDTH SPACE, separators
/// other than the space, private-use and unassigned code points) as `\xhh`, `\uhhhh` or
/// `\Uhhhhhhhh`, so no URL can spoof what a terminal or a log shows.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    escape_into(&mut out, s, Some(quote));
    out.push(quote);
    out
}

/// `s` with what [`py_repr`] escapes escaped, without quotes: text from a record file
/// (an error kind, say) that must not reach the terminal as control sequences.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s, None);
    out
}

/// Appends `s` to `out`, escaped as [`py_repr`] does inside `quote`.
fn escape_into(out: &mut String, s: &str, quote: Option<char>) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if Some(c) == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let code = u32::from(c);
                let _ = match code {
                    0..=0xff => write!(out, "\\x{code:02x}"),
                    0x100..=0xffff => write!(out, "\\u{code:04x}"),
                    _ => write!(out, "\\U{code:08x}"),
                };
            }
            c => out.push(c),
        }
    }
}

/// Python's `str.isprintable` for one character: false for the categories Cc, Cf, Cs, Co,
/// Cn, Zl, Zp, and Zs other than the ASCII space.
fn is_printable(c: char) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};
    // ASCII, nearly every character of a URL, without the table lookup.
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !matches!(
        c.general_category(),
        G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
            | G::LineSeparator
            | G::ParagraphSeparator
            | G::SpaceSeparator
    )
}

/// The output format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// 'URL' page is N bytes, or 'URL' generated an exception: MESSAGE.
    Text,
    /// One JSON object per line, as each URL completes.
    Jsonl,
    /// One table at the end (keeps every record until then).
    Table,
}

impl Format {
    /// The record as this format prints it, newline included, or `None` for the table
    /// (drawn at the end). Done by the thread that produced the record, outside any lock.
    pub fn render(self, record: &Record) -> Option<String> {
        let mut line = match self {
            Format::Text => record.to_text(),
            Format::Jsonl => record.to_json(),
            Format::Table => return None,
        };
        line.push('\n');
        Some(line)
    }
}

/// Writes records in the chosen format.
#[derive(Debug)]
pub struct Printer<W: Write> {
    /// Where records go (stdout).
    out: W,
    /// The format.
    format: Format,
    /// Records kept for `Format::Table`.
    rows: Vec<Record>,
}

impl<W: Write> Printer<W> {
    /// A printer to `out`.
    pub fn new(out: W, format: Format) -> Self {
        Printer {
            out,
            format,
            rows: Vec::new(),
        }
    }

    /// Prints one record, given as [`Format::render`] made it (or, for a table, keeps
    /// it). Call [`flush`](Self::flush) to make what was printed visible.
    ///
    /// # Errors
    /// Writing to the output failed (for example a closed pipe).
    pub fn record(&mut self, record: Record, rendered: Option<&str>) -> io::Result<()> {
        match rendered {
            Some(text) => self.out.write_all(text.as_bytes()),
            None => {
                self.rows.push(record);
                Ok(())
            }
        }
    }

    /// The format it prints.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Pushes what was printed to the reader.
    ///
    /// # Errors
    /// Writing to the output failed.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Ends the output: prints the table, if that is the format.
    ///
    /// # Errors
    /// Writing to the output failed.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.format == Format::Table {
            self.rows.sort_by_key(|r| r.line);
            let mut builder = Builder::new();
            builder.push_record(["line", "url", "result", "status", "bytes", "ms", "error"]);
            for r in &self.rows {
                builder.push_record([
                    r.line.to_string(),
                    r.url.clone(),
                    r.result_name().to_string(),
                    r.status().map_or("-".into(), |s| s.to_string()),
                    r.bytes().map_or("-".into(), |b| b.to_string()),
                    format!("{:.1}", r.elapsed.as_secs_f64() * 1e3),
                    r.error_message().unwrap_or_default(),
                ]);
            }
            let mut table = builder.build();
            // Fits the terminal (`COLUMNS`, else 80): the widest columns, the URL and the
            // error, wrap onto more lines; nothing is cut.
            table
                .with(Style::rounded())
                .with(Modify::new(Columns::new(3..6)).with(Alignment::right()))
                .with(
                    Width::wrap(table_width())
                        .keep_words(true)
                        .priority(Priority::max(true)),
                );
            writeln!(self.out, "{table}")?;
        }
        self.out.flush()
    }
}

/// The width the table must fit: `COLUMNS` when the shell exports it, else 80.
fn table_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| (40..=1000).contains(&c))
        .unwrap_or(80)
}

/// Latencies in a fixed log-linear histogram, so percentiles need constant memory: 1 ms
/// steps up to 1 s, then 10 ms steps up to 10 s, then 100 ms steps up to 100 s, then one
/// overflow bucket. Reported values are the upper edge of their bucket.
#[derive(Debug, Clone)]
pub struct Histogram {
    /// Counts per bucket.
    buckets: Vec<u64>,
    /// Total count.
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; 1000 + 900 + 900 + 1],
            count: 0,
        }
    }
}

impl Histogram {
    /// Bucket index for `ms`.
    fn index(ms: u64) -> usize {
        match ms {
            0..1000 => ms as usize,
            1000..10_000 => 1000 + (ms as usize - 1000) / 10,
            10_000..100_000 => 1900 + (ms as usize - 10_000) / 100,
            _ => 2800,
        }
    }

    /// Upper edge of bucket `i`, in ms.
    fn upper(i: usize) -> u64 {
        match i {
            0..1000 => i as u64 + 1,
            1000..1900 => 1000 + (i as u64 - 999) * 10,
            1900..2800 => 10_000 + (i as u64 - 1899) * 100,
            _ => u64::MAX,
        }
    }

    /// Adds one latency.
    pub fn add(&mut self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.buckets[Self::index(ms)] += 1;
        self.count += 1;
    }

    /// The counts in buckets that double (up to 1 ms, 2 ms, 4 ms ...), from the first to
    /// the last one holding a count: `(upper edge in ms, count)`.
    pub fn doubling_buckets(&self) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (i, &count) in self.buckets.iter().enumerate() {
            let upper = Self::upper(i);
            let edge = if upper == u64::MAX {
                u64::MAX
            } else {
                upper.next_power_of_two()
            };
            match out.last_mut() {
                Some(last) if last.0 == edge => last.1 += count,
                _ => out.push((edge, count)),
            }
        }
        let first = out.iter().position(|b| b.1 > 0).unwrap_or(0);
        let last = out.iter().rposition(|b| b.1 > 0).map_or(0, |i| i + 1);
        out.get(first..last).unwrap_or_default().to_vec()
    }

    /// The `p`-th percentile (0-100) in ms, or `None` if empty.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::upper(i));
            }
        }
        None
    }
}

/// The `result` of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// `fetched`.
    Fetched,
    /// `skipped` (`--no-clobber` kept the file, or robots.txt disallows the page).
    Skipped,
    /// `failed`.
    Failed,
    /// `cancelled`.
    Cancelled,
    /// `invalid`.
    Invalid,
}

impl ResultKind {
    /// The kind a record's `result` names, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "fetched" => ResultKind::Fetched,
            "skipped" => ResultKind::Skipped,
            "failed" => ResultKind::Failed,
            "cancelled" => ResultKind::Cancelled,
            "invalid" => ResultKind::Invalid,
            _ => return None,
        })
    }
}

/// Distinct error kinds a tally keeps apart; more (from hostile record files) are
/// counted as `other`.
const MAX_ERROR_KINDS: usize = 64;

/// The longest error kind a tally keeps (kinds are short names; a record file may hold
/// anything).
const MAX_ERROR_KIND_LEN: usize = 64;

/// Running totals for the summary; constant memory whatever the input size.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Records seen.
    pub total: u64,
    /// Fetched URLs.
    pub fetched: u64,
    /// Failed records.
    pub failed: u64,
    /// Cancelled records.
    pub cancelled: u64,
    /// Invalid records.
    pub invalid: u64,
    /// Failed, cancelled and invalid records by error kind.
    pub failures: BTreeMap<String, u64>,
    /// Body bytes of fetched URLs.
    pub bytes: u64,
    /// Latencies of URLs that were actually fetched or failed (not cancelled or invalid).
    pub latency: Histogram,
    /// Attempts beyond the first, over all records.
    pub retries: u64,
    /// Input lines skipped because `--resume` found them fetched already.
    pub resumed: u64,
    /// URLs not fetched because `--no-clobber` found their file.
    pub kept: u64,
    /// Pages not fetched because robots.txt disallows them (`--crawl`): skipped, and not
    /// ok.
    pub disallowed: u64,
}

impl Tally {
    /// Counts one record.
    pub fn add(&mut self, record: &Record) {
        let result = match &record.outcome {
            Outcome::Fetched(_) => ResultKind::Fetched,
            Outcome::Kept(_) | Outcome::Disallowed => ResultKind::Skipped,
            Outcome::Failed(_) => ResultKind::Failed,
            Outcome::Cancelled => ResultKind::Cancelled,
            Outcome::Invalid(_) => ResultKind::Invalid,
        };
        self.count(
            result,
            record.error_kind(),
            record.bytes().unwrap_or(0),
            record.elapsed,
            record.attempts,
        );
    }

    /// Counts one record given by its parts (as `fetchpool report` reads them back).
    pub fn count(
        &mut self,
        result: ResultKind,
        error_kind: Option<&str>,
        bytes: u64,
        elapsed: Duration,
        attempts: u32,
    ) {
        self.total += 1;
        self.retries += u64::from(attempts.saturating_sub(1));
        match result {
            ResultKind::Fetched => {
                self.fetched += 1;
                self.bytes = self.bytes.saturating_add(bytes);
                self.latency.add(elapsed);
            }
            ResultKind::Failed => {
                self.failed += 1;
                self.latency.add(elapsed);
            }
            ResultKind::Skipped if error_kind == Some("robots") => self.disallowed += 1,
            ResultKind::Skipped => self.kept += 1,
            ResultKind::Cancelled => self.cancelled += 1,
            ResultKind::Invalid => self.invalid += 1,
        }
        if let Some(kind) = error_kind {
            let kind = match kind.char_indices().nth(MAX_ERROR_KIND_LEN) {
                Some((cut, _)) => &kind[..cut],
                None => kind,
            };
            if let Some(n) = self.failures.get_mut(kind) {
                *n += 1;
            } else if self.failures.len() < MAX_ERROR_KINDS {
                self.failures.insert(kind.to_string(), 1);
            } else {
                *self.failures.entry("other".to_string()).or_default() += 1;
            }
        }
    }

    /// Records that are neither fetched nor kept.
    pub fn not_ok(&self) -> u64 {
        self.total - self.fetched - self.kept
    }

    /// The summary table; the wall time and rate rows with `wall`.
    pub fn summary(&self, wall: Option<Duration>) -> String {
        let mut b = Builder::new();
        b.push_record(["", "count"]);
        b.push_record(["fetched".to_string(), self.fetched.to_string()]);
        for (result, n) in [
            ("failed", self.failed),
            ("cancelled", self.cancelled),
            ("invalid", self.invalid),
        ] {
            if n > 0 {
                b.push_record([result.to_string(), n.to_string()]);
            }
        }
        for (kind, n) in &self.failures {
            // From a record file, for `fetchpool report`: escaped for the terminal.
            b.push_record([format!("not ok: {}", printable(kind)), n.to_string()]);
        }
        b.push_record(["total".to_string(), self.total.to_string()]);
        if self.retries > 0 {
            b.push_record(["retries".to_string(), self.retries.to_string()]);
        }
        if self.kept > 0 {
            b.push_record(["skipped (file exists)".to_string(), self.kept.to_string()]);
        }
        if self.resumed > 0 {
            b.push_record(["skipped (resumed)".to_string(), self.resumed.to_string()]);
        }
        b.push_record(["bytes".to_string(), self.bytes.to_string()]);
        if let Some(wall) = wall {
            b.push_record([
                "wall time".to_string(),
                format!("{:.3}s", wall.as_secs_f64()),
            ]);
            let rate = if wall.is_zero() {
                0.0
            } else {
                self.total as f64 / wall.as_secs_f64()
            };
            b.push_record(["URLs/s".to_string(), format!("{rate:.1}")]);
        }
        let pct = |p| {
            self.latency
                .percentile(p)
                .map_or("-".to_string(), |ms| format!("<= {ms} ms"))
        };
        b.push_record(["latency p50".to_string(), pct(50.0)]);
        b.push_record(["latency p95".to_string(), pct(95.0)]);
        b.push_record(["latency p99".to_string(), pct(99.0)]);
        let mut table = b.build();
        table
            .with(Style::rounded())
            .with(Modify::new(Columns::one(1)).with(Alignment::right()))
            .with(Modify::new(Rows::first()).with(Alignment::center()));
        table.to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Histogram, py_repr};

    #[test]
    fn a_histogram_gives_the_upper_edge_of_the_percentile_bucket() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(50.0), None);
        for ms in 1..=100 {
            h.add(Duration::from_millis(ms));
        }
        assert_eq!(h.percentile(50.0), Some(51), "1 ms steps below 1 s");
        assert_eq!(h.percentile(100.0), Some(101));
        assert_eq!(h.percentile(0.0), Some(2), "the first value's bucket");
        let mut h = Histogram::default();
        h.add(Duration::from_millis(1234));
        h.add(Duration::from_millis(56_789));
        h.add(Duration::from_secs(1_000_000));
        assert_eq!(h.percentile(33.0), Some(1240), "10 ms steps up to 10 s");
        assert_eq!(h.percentile(66.0), Some(56_800), "100 ms steps up to 100 s");
        assert_eq!(h.percentile(100.0), Some(u64::MAX), "the overflow bucket");
    }

    #[test]
    fn py_repr_escapes_what_python_escapes() {
        // Expected values printed by CPython 3.11's repr().
        let cases = [
            ("http://a/\u{202e}gnp.exe", r"'http://a/\u202egnp.exe'"),
            ("x\u{200b}y", r"'x\u200by'"),
            ("\u{ad}\u{a0}é日本", r"'\xad\xa0é日本'"),
            ("it's", "\"it's\""),
            ("a\"b'c", r#"'a"b\'c'"#),
            ("\u{7}\u{7f}\t\n\\", r"'\x07\x7f\t\n\\'"),
            (
                "\u{e0001}\u{10fffd}\u{2028} ok",
                r"'\U000e0001\U0010fffd\u2028 ok'",
            ),
            ("\u{1f600}", "'\u{1f600}'"),
        ];
        for (input, expected) in cases {
            assert_eq!(py_repr(input), expected, "{input:?}");
        }
    }
}
