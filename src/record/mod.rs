//! The record: what became of one entry ([`Record`], [`Outcome`]), and its line in a
//! record file ([`RecordLine`], the schema every writer and reader uses). How records are
//! shown is [`format`](mod@format); the counts a run or a report prints, [`tally`]; reading record
//! files back, [`resume`].

pub(crate) mod format;
pub(crate) mod header;
pub mod resume;
pub(crate) mod tally;

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fetch::{FetchError, Page};

pub use format::{Format, Printer, printable, py_repr};
pub use tally::{Histogram, ResultKind, Tally};

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
    /// Not fetched: the list gave the same URL on this earlier line (`--dedup`).
    Duplicate(u64),
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
        matches!(
            self.outcome,
            Outcome::Fetched(_) | Outcome::Kept(_) | Outcome::Duplicate(_)
        )
    }

    /// Whether the URL was not fetched for a fault: failed, cancelled or invalid (what
    /// `--failures-only` prints); a skipped URL is not one.
    pub(crate) fn is_failure(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::Failed(_) | Outcome::Cancelled | Outcome::Invalid(_)
        )
    }

    /// `fetched`, `skipped`, `failed`, `cancelled` or `invalid`.
    pub(crate) fn result_name(&self) -> &'static str {
        match self.outcome {
            Outcome::Fetched(_) => result::FETCHED,
            Outcome::Kept(_) | Outcome::Disallowed | Outcome::Duplicate(_) => result::SKIPPED,
            Outcome::Failed(_) => result::FAILED,
            Outcome::Cancelled => result::CANCELLED,
            Outcome::Invalid(_) => result::INVALID,
        }
    }

    /// The error kind (`timeout`, `http_status`, …, `cancelled`), or `None` if fetched.
    pub(crate) fn error_kind(&self) -> Option<&'static str> {
        match &self.outcome {
            Outcome::Fetched(_) | Outcome::Kept(_) => None,
            Outcome::Disallowed => Some("robots"),
            Outcome::Duplicate(_) => Some("duplicate"),
            Outcome::Failed(e) | Outcome::Invalid(e) => Some(e.kind()),
            Outcome::Cancelled => Some("cancelled"),
        }
    }

    /// The one-line error message, or `None` if fetched. Invalid lines name their line.
    pub(crate) fn error_message(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Fetched(_) | Outcome::Kept(_) => None,
            Outcome::Disallowed => {
                Some("disallowed by robots.txt (--ignore-robots fetches it)".to_string())
            }
            Outcome::Duplicate(first) => Some(format!("the same URL as line {first}")),
            Outcome::Failed(e) => Some(e.to_string()),
            Outcome::Cancelled => Some("cancelled before it started".to_string()),
            Outcome::Invalid(e) => Some(format!("line {}: {e}", self.line)),
        }
    }

    /// The HTTP status, when one was received.
    pub(crate) fn status(&self) -> Option<u16> {
        match &self.outcome {
            Outcome::Fetched(p) => Some(p.status),
            Outcome::Failed(e) => e.status(),
            Outcome::Cancelled
            | Outcome::Invalid(_)
            | Outcome::Kept(_)
            | Outcome::Disallowed
            | Outcome::Duplicate(_) => None,
        }
    }

    /// The file the body is in (`-d`): saved now, or kept by `--no-clobber`.
    pub(crate) fn path(&self) -> Option<&std::path::Path> {
        match &self.outcome {
            Outcome::Fetched(p) => p.path.as_deref(),
            Outcome::Kept(path) => Some(path),
            _ => None,
        }
    }

    /// What the fetch measured, when fetched.
    pub(crate) fn page(&self) -> Option<&Page> {
        match &self.outcome {
            Outcome::Fetched(p) => Some(p),
            _ => None,
        }
    }

    /// Body bytes, when fetched.
    pub(crate) fn bytes(&self) -> Option<u64> {
        match &self.outcome {
            Outcome::Fetched(p) => Some(p.bytes),
            _ => None,
        }
    }

    /// The record as a [`RecordLine`], written now (its `at`).
    pub fn to_line(&self) -> RecordLine<'_> {
        let page = self.page();
        RecordLine {
            url: Cow::Borrowed(&self.url),
            line: self.line,
            ok: self.ok(),
            result: Cow::Borrowed(self.result_name()),
            status: self.status(),
            bytes: self.bytes(),
            final_url: page.map(|p| Cow::Borrowed(p.final_url.as_str())),
            content_type: page
                .and_then(|p| p.content_type.as_deref())
                .map(Cow::Borrowed),
            content_length: page.and_then(|p| p.content_length),
            path: self.path().map(|p| Cow::Owned(p.display().to_string())),
            sha256: page.and_then(|p| p.sha256.as_deref()).map(Cow::Borrowed),
            resumed_from: page.and_then(|p| p.resumed_from),
            wire_bytes: page.and_then(|p| p.wire_bytes),
            elapsed_ms: (self.elapsed.as_secs_f64() * 1e6).round() / 1e3,
            attempts: self.attempts,
            error_kind: self.error_kind().map(Cow::Borrowed),
            error: self.error_message().map(Cow::Owned),
            shard: self.shard.map(|s| Cow::Owned(s.to_string())),
            shard_by: self.shard.map(|s| Cow::Borrowed(s.by.name())),
            depth: self.depth,
            parent: self.parent.as_deref().map(Cow::Borrowed),
            location: page
                .and_then(|p| p.location.as_deref())
                .map(crate::redact::redact_url),
            redirect: self.redirect.map(|r| Cow::Borrowed(r.name())),
            hops: 0,
            // When it was written: the end of its fetch (for `report --html`'s timeline).
            at: Some(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            ),
        }
    }

    /// One JSON object, without a newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.to_line()).expect("a record always serializes")
    }
}

/// The names a record's `result` takes, and `queued` (a crawl's note of a page it queued,
/// which is not a record).
pub(crate) mod result {
    /// Fetched in full.
    pub(crate) const FETCHED: &str = "fetched";
    /// Not fetched: `--no-clobber` kept the file, or robots.txt disallows the page.
    pub(crate) const SKIPPED: &str = "skipped";
    /// The fetch failed.
    pub(crate) const FAILED: &str = "failed";
    /// Never started.
    pub(crate) const CANCELLED: &str = "cancelled";
    /// Not a usable URL or file name.
    pub(crate) const INVALID: &str = "invalid";
    /// A crawl's note of a page it queued (not a record).
    pub(crate) const QUEUED: &str = "queued";
}

/// One line of a record file (and of `-f jsonl`): the record schema, defined once. The
/// run writes it ([`Record::to_json`], [`queued_json`]); `--resume`, a resumed crawl and
/// `fetchpool report` read it back, each taking the fields it needs. Every field but `url`
/// may be missing when read (a record file is untrusted input, and older runs wrote fewer
/// fields); when written, the fields that only some records have are left out rather than
/// written as `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordLine<'a> {
    /// The URL (the line's text for an invalid line), password masked.
    #[serde(borrow)]
    pub url: Cow<'a, str>,
    /// The list's line number (0 for a page a crawl found).
    #[serde(default)]
    pub line: u64,
    /// Fetched, or kept by `--no-clobber`.
    #[serde(default)]
    pub ok: bool,
    /// One of [`result`]'s names.
    #[serde(default, borrow)]
    pub result: Cow<'a, str>,
    /// The HTTP status, when a response arrived.
    #[serde(default)]
    pub status: Option<u16>,
    /// Body bytes, when fetched.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// The URL the body came from, after redirects.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub final_url: Option<Cow<'a, str>>,
    /// The response's `Content-Type`.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<Cow<'a, str>>,
    /// The response's `Content-Length`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_length: Option<u64>,
    /// Where the body is (`-d`).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub path: Option<Cow<'a, str>>,
    /// The body's SHA-256 (`--checksum sha256`).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Cow<'a, str>>,
    /// The bytes a previous run had saved (`--continue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<u64>,
    /// The size on the wire of a decoded body (`--compressed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire_bytes: Option<u64>,
    /// The last attempt's duration, in ms.
    #[serde(default)]
    pub elapsed_ms: f64,
    /// Attempts made.
    #[serde(default)]
    pub attempts: u32,
    /// The error's kind (`timeout`, `http_status`, ..., `cancelled`).
    #[serde(default, borrow)]
    pub error_kind: Option<Cow<'a, str>>,
    /// The error's message.
    #[serde(default, borrow)]
    pub error: Option<Cow<'a, str>>,
    /// The shard that made it (`"3/8"`).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Cow<'a, str>>,
    /// How lines were dealt to shards (`line`, `host`).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub shard_by: Option<Cow<'a, str>>,
    /// `--crawl`: links from a seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// `--crawl`: the page it was found on.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Cow<'a, str>>,
    /// `--crawl`: where a redirect pointed.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub location: Option<Cow<'a, str>>,
    /// `--crawl`: what became of a redirect's target ([`crate::crawl::Redirected`]).
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Cow<'a, str>>,
    /// A queued page: redirects in a row that led to it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hops: u32,
    /// When it was written, in ms since the epoch (records only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<u64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl<'a> RecordLine<'a> {
    /// Reads one line of a record file; `None` if it is not one (garbage, or no `url`).
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// The record-file line of a page a crawl queued (`"result":"queued"`): not a record of
/// the run's output, but what a resumed crawl rebuilds its frontier from; newline included.
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
    let json = Queued {
        url,
        line: 0,
        result: result::QUEUED,
        depth,
        parent,
        hops,
    };
    serde_json::to_string(&json).expect("a queued record always serializes") + "\n"
}
