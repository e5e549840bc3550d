//! Counting records: the summary a run prints at its end and `fetchpool report` prints
//! for record files, in constant memory.

use std::collections::BTreeMap;
use std::time::Duration;

use indicatif::HumanBytes;
use tabled::builder::Builder;
use tabled::settings::object::{Columns, Rows};
use tabled::settings::{Alignment, Modify, Style};

use super::{Outcome, Record, printable};

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
    pub(crate) fn add(&mut self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.buckets[Self::index(ms)] += 1;
        self.count += 1;
    }

    /// The counts in buckets that double (up to 1 ms, 2 ms, 4 ms ...), from the first to
    /// the last one holding a count: `(upper edge in ms, count)`.
    pub(crate) fn doubling_buckets(&self) -> Vec<(u64, u64)> {
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
    pub(crate) fn percentile(&self, p: f64) -> Option<u64> {
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
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        use super::result;
        Some(match name {
            result::FETCHED => ResultKind::Fetched,
            result::SKIPPED => ResultKind::Skipped,
            result::FAILED => ResultKind::Failed,
            result::CANCELLED => ResultKind::Cancelled,
            result::INVALID => ResultKind::Invalid,
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

/// A bounded count of names (error kinds from record files may be anything): at most
/// [`MAX_ERROR_KINDS`] names of at most [`MAX_ERROR_KIND_LEN`] characters, the rest as
/// `other`.
#[derive(Debug, Clone, Default)]
pub struct Kinds(BTreeMap<String, u64>);

impl Kinds {
    fn add(&mut self, kind: &str) {
        let kind = match kind.char_indices().nth(MAX_ERROR_KIND_LEN) {
            Some((cut, _)) => &kind[..cut],
            None => kind,
        };
        if let Some(n) = self.0.get_mut(kind) {
            *n += 1;
        } else if self.0.len() < MAX_ERROR_KINDS {
            self.0.insert(kind.to_string(), 1);
        } else {
            *self.0.entry("other".to_string()).or_default() += 1;
        }
    }

    /// (kind, count), by kind.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(k, n)| (k.as_str(), *n))
    }
}

/// Running totals for the summary; constant memory whatever the input size.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Records seen.
    pub(crate) total: u64,
    /// Fetched URLs.
    pub(crate) fetched: u64,
    /// Failed records.
    pub(crate) failed: u64,
    /// Failed records by error kind.
    pub(crate) failed_kinds: Kinds,
    /// Cancelled records.
    pub(crate) cancelled: u64,
    /// Invalid records.
    pub(crate) invalid: u64,
    /// Invalid records by error kind.
    pub(crate) invalid_kinds: Kinds,
    /// URLs not fetched because `--no-clobber` found their file.
    pub(crate) kept: u64,
    /// Pages not fetched because robots.txt disallows them (`--crawl`): skipped, and not
    /// ok.
    pub(crate) disallowed: u64,
    /// Skipped: the list gave the URL before (`--dedup`).
    pub(crate) duplicates: u64,
    /// Records by the HTTP status their response had (fetched or failed).
    pub(crate) statuses: BTreeMap<u16, u64>,
    /// Body bytes of fetched URLs.
    pub(crate) bytes: u64,
    /// Latencies of URLs that were actually fetched or failed (not cancelled or invalid).
    pub(crate) latency: Histogram,
    /// Attempts beyond the first, over all records.
    pub(crate) retries: u64,
    /// Input lines skipped because `--resume` found them fetched already (no record).
    pub(crate) resumed: u64,
}

impl Tally {
    /// Counts one record.
    pub(crate) fn add(&mut self, record: &Record) {
        let result = match &record.outcome {
            Outcome::Fetched(_) => ResultKind::Fetched,
            Outcome::Kept(_) | Outcome::Disallowed | Outcome::Duplicate(_) => ResultKind::Skipped,
            Outcome::Failed(_) => ResultKind::Failed,
            Outcome::Cancelled => ResultKind::Cancelled,
            Outcome::Invalid(_) => ResultKind::Invalid,
        };
        self.count(&Counted {
            result,
            error_kind: record.error_kind(),
            status: record.status(),
            bytes: record.bytes().unwrap_or(0),
            elapsed: record.elapsed,
            attempts: record.attempts,
        });
    }

    /// Counts one record given by its parts (as `fetchpool report` reads them back).
    pub(crate) fn count(&mut self, r: &Counted<'_>) {
        self.total += 1;
        self.retries += u64::from(r.attempts.saturating_sub(1));
        if let Some(status) = r.status.filter(|s| (100..=999).contains(s)) {
            *self.statuses.entry(status).or_default() += 1;
        }
        let kind = r.error_kind.unwrap_or("");
        match r.result {
            ResultKind::Fetched => {
                self.fetched += 1;
                self.bytes = self.bytes.saturating_add(r.bytes);
                self.latency.add(r.elapsed);
            }
            ResultKind::Failed => {
                self.failed += 1;
                self.failed_kinds.add(kind);
                self.latency.add(r.elapsed);
            }
            ResultKind::Skipped if kind == "robots" => self.disallowed += 1,
            ResultKind::Skipped if kind == "duplicate" => self.duplicates += 1,
            ResultKind::Skipped => self.kept += 1,
            ResultKind::Cancelled => self.cancelled += 1,
            ResultKind::Invalid => {
                self.invalid += 1;
                self.invalid_kinds.add(kind);
            }
        }
    }

    /// Records that are neither fetched, nor kept, nor duplicates (the exit code's 1).
    pub(crate) fn not_ok(&self) -> u64 {
        self.total - self.fetched - self.kept - self.duplicates
    }

    /// Fetches made (fetched or failed: the ones that went to the network), per second of
    /// `wall`.
    pub(crate) fn fetch_rate(&self, wall: Duration) -> f64 {
        if wall.is_zero() {
            0.0
        } else {
            (self.fetched + self.failed) as f64 / wall.as_secs_f64()
        }
    }

    /// The summary table; the wall time and rate rows with `wall`.
    pub(crate) fn summary(&self, wall: Option<Duration>) -> String {
        let mut b = Builder::new();
        b.push_record(["", "count"]);
        let mut row = |name: &str, value: String| b.push_record([name.to_string(), value]);
        row("fetched", self.fetched.to_string());
        // Each result, then its kinds below it (from a record file, for `fetchpool
        // report`: escaped for the terminal).
        let groups: [Group; 4] = [
            ("failed", self.failed, kinds(&self.failed_kinds)),
            (
                "skipped",
                self.kept + self.disallowed + self.duplicates,
                [
                    ("file exists", self.kept),
                    ("robots.txt", self.disallowed),
                    ("duplicate", self.duplicates),
                ]
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.to_string(), n))
                .collect(),
            ),
            ("cancelled", self.cancelled, Vec::new()),
            ("invalid", self.invalid, kinds(&self.invalid_kinds)),
        ];
        for (name, n, parts) in groups {
            if n > 0 {
                row(name, n.to_string());
                for (kind, n) in parts {
                    row(&format!("  {kind}"), n.to_string());
                }
            }
        }
        row("total", self.total.to_string());
        if self.resumed > 0 {
            row("resumed (not fetched again)", self.resumed.to_string());
        }
        if self.retries > 0 {
            row("retries", self.retries.to_string());
        }
        row("bytes", HumanBytes(self.bytes).to_string());
        if let Some(wall) = wall {
            row("wall time", human_duration(wall));
            row("URLs/s", format!("{:.1}", self.fetch_rate(wall)));
            let per_second = self.bytes as f64 / wall.as_secs_f64().max(1e-3);
            row("bytes/s", format!("{}/s", HumanBytes(per_second as u64)));
        }
        for (name, p) in [
            ("latency p50", 50.0),
            ("latency p95", 95.0),
            ("latency p99", 99.0),
        ] {
            let value = self.latency.percentile(p).map_or("-".to_string(), |ms| {
                format!("≤ {}", human_duration(Duration::from_millis(ms)))
            });
            row(name, value);
        }
        let mut table = b.build();
        table
            .with(Style::rounded())
            .with(Modify::new(Columns::one(1)).with(Alignment::right()))
            .with(Modify::new(Rows::first()).with(Alignment::center()));
        table.to_string()
    }
}

/// A summary row and the rows of its kinds: (result, count, [(kind, count)]).
type Group<'a> = (&'a str, u64, Vec<(String, u64)>);

/// What [`Tally::count`] counts of one record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counted<'a> {
    pub(crate) result: ResultKind,
    pub(crate) error_kind: Option<&'a str>,
    pub(crate) status: Option<u16>,
    pub(crate) bytes: u64,
    pub(crate) elapsed: Duration,
    pub(crate) attempts: u32,
}

/// A count of kinds as summary rows, escaped for the terminal.
fn kinds(kinds: &Kinds) -> Vec<(String, u64)> {
    kinds.iter().map(|(k, n)| (printable(k), n)).collect()
}

/// A duration as a person reads it: `850 ms`, `12.4 s`, `3 min 20 s`, `2 h 05 min`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let secs = d.as_secs();
    if ms < 1000 {
        format!("{ms} ms")
    } else if secs < 60 {
        format!("{:.1} s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{} min {:02} s", secs / 60, secs % 60)
    } else {
        format!("{} h {:02} min", secs / 3600, secs % 3600 / 60)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Histogram;

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
    fn durations_read_as_a_person_reads_them() {
        use super::human_duration;
        assert_eq!(human_duration(Duration::from_millis(850)), "850 ms");
        assert_eq!(human_duration(Duration::from_millis(24_800)), "24.8 s");
        assert_eq!(human_duration(Duration::from_secs(200)), "3 min 20 s");
        assert_eq!(human_duration(Duration::from_secs(7500)), "2 h 05 min");
    }
}
