//! Counting records: the summary a run prints at its end and `fetchpool report` prints
//! for record files, in constant memory.

use std::collections::BTreeMap;
use std::time::Duration;

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

/// Running totals for the summary; constant memory whatever the input size.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Records seen.
    pub(crate) total: u64,
    /// Fetched URLs.
    pub(crate) fetched: u64,
    /// Failed records.
    pub(crate) failed: u64,
    /// Cancelled records.
    pub(crate) cancelled: u64,
    /// Invalid records.
    pub(crate) invalid: u64,
    /// Failed, cancelled and invalid records by error kind.
    pub(crate) failures: BTreeMap<String, u64>,
    /// Body bytes of fetched URLs.
    pub(crate) bytes: u64,
    /// Latencies of URLs that were actually fetched or failed (not cancelled or invalid).
    pub(crate) latency: Histogram,
    /// Attempts beyond the first, over all records.
    pub(crate) retries: u64,
    /// Input lines skipped because `--resume` found them fetched already.
    pub(crate) resumed: u64,
    /// URLs not fetched because `--no-clobber` found their file.
    pub(crate) kept: u64,
    /// Pages not fetched because robots.txt disallows them (`--crawl`): skipped, and not
    /// ok.
    pub(crate) disallowed: u64,
}

impl Tally {
    /// Counts one record.
    pub(crate) fn add(&mut self, record: &Record) {
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
    pub(crate) fn count(
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
    pub(crate) fn not_ok(&self) -> u64 {
        self.total - self.fetched - self.kept
    }

    /// The summary table; the wall time and rate rows with `wall`.
    pub(crate) fn summary(&self, wall: Option<Duration>) -> String {
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
}
