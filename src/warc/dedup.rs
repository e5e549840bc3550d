//! Deduplication: a response whose payload digest equals one already archived (in this
//! run, or in a CDXJ index given with `--warc-dedup`) is written as a `revisit` record of
//! the identical-payload-digest profile, headers only, referring to the first capture.
//! The table of digests is bounded in bytes ([`BUDGET`]); past it, new payloads are not
//! remembered (they are written whole, as without deduplication) and the run says so.

use std::collections::HashMap;
use std::io::{self, BufRead, Read as _};
use std::path::Path;

/// The most the table holds, counting each entry's digest, URL, date and overhead.
pub(crate) const BUDGET: usize = 256 * 1024 * 1024;

/// An entry's cost besides its text: the map's slot and the strings' headers.
const ENTRY_OVERHEAD: usize = 96;

/// Where a payload was first archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct First {
    /// Its `WARC-Target-URI`.
    pub(crate) uri: String,
    /// Its `WARC-Date`.
    pub(crate) date: String,
    /// Its record's id, when it is in this run's files.
    pub(crate) id: Option<String>,
}

/// The payload digests archived so far.
#[derive(Debug, Default)]
pub(crate) struct Dedup {
    first: HashMap<String, First>,
    bytes: usize,
    /// Payloads not remembered for the budget.
    pub(crate) forgotten: u64,
}

impl Dedup {
    /// Where the payload of digest `digest` was first archived, if it was.
    pub(crate) fn get(&self, digest: &str) -> Option<&First> {
        self.first.get(digest)
    }

    /// Remembers the first capture of `digest`, within the budget.
    pub(crate) fn remember(&mut self, digest: &str, first: First) {
        let cost = digest.len() + first.uri.len() + first.date.len() + ENTRY_OVERHEAD;
        if self.bytes + cost > BUDGET {
            self.forgotten += 1;
            return;
        }
        if !self.first.contains_key(digest) {
            self.bytes += cost;
            self.first.insert(digest.to_string(), first);
        }
    }

    /// Adds the captures a CDXJ index lists (`SURT TIMESTAMP {json}` lines, as pywb and
    /// cdxj-indexer write them): each with a digest and a URL, not a revisit. Lines that
    /// are not such are skipped; a line longer than 64 KiB is not read whole.
    ///
    /// # Errors
    /// The file cannot be opened (a FIFO or a device is refused) or read.
    pub(crate) fn read_cdxj(&mut self, path: &Path) -> io::Result<u64> {
        let file = crate::record::resume::open_regular(path)?;
        let mut reader = io::BufReader::with_capacity(64 * 1024, file);
        let mut line = Vec::new();
        let mut added = 0;
        loop {
            line.clear();
            let n = (&mut reader).take(64 * 1024).read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            if line.last() != Some(&b'\n') && n == 64 * 1024 {
                skip_line(&mut reader)?;
                continue;
            }
            if let Some((digest, first)) = parse_cdxj(&line) {
                self.remember(&digest, first);
                added += 1;
            }
        }
        Ok(added)
    }
}

/// Skips the rest of an over-long line, a buffer at a time.
fn skip_line(reader: &mut impl BufRead) -> io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(at) => {
                reader.consume(at + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

/// One CDXJ line's digest and first capture, if it has them and is not a revisit.
fn parse_cdxj(line: &[u8]) -> Option<(String, First)> {
    let text = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = text.splitn(3, ' ');
    let (_key, timestamp, json) = (parts.next()?, parts.next()?, parts.next()?);
    let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).ok()?;
    if fields.get("mime").and_then(|m| m.as_str()) == Some("warc/revisit") {
        return None;
    }
    let digest = fields.get("digest")?.as_str()?;
    let digest = if digest.contains(':') {
        digest.to_string()
    } else {
        format!("sha1:{digest}")
    };
    let uri = fields.get("url")?.as_str()?.to_string();
    Some((
        digest,
        First {
            uri,
            date: timestamp_to_date(timestamp)?,
            id: None,
        },
    ))
}

/// A 14-digit CDX timestamp (`20261202134913`) as a `WARC-Date` (`2026-12-02T13:49:13Z`);
/// a shorter one is padded as pywb pads it.
fn timestamp_to_date(ts: &str) -> Option<String> {
    if ts.is_empty() || ts.len() > 14 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{ts:0<14}");
    let d = |a: usize, b: usize| &padded[a..b];
    let n = |a: usize, b: usize| padded[a..b].parse::<u32>().unwrap_or(u32::MAX);
    // pywb pads a short timestamp with zeros, then reads month and day 00 as 01.
    let month = n(4, 6).max(1);
    let day = n(6, 8).max(1);
    if month > 12 || day > 31 || n(8, 10) > 23 || n(10, 12) > 59 || n(12, 14) > 60 {
        return None;
    }
    Some(format!(
        "{}-{month:02}-{day:02}T{}:{}:{}Z",
        d(0, 4),
        d(8, 10),
        d(10, 12),
        d(12, 14)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cdxj_index_gives_first_captures_and_skips_revisits_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.cdxj");
        std::fs::write(
            &path,
            "com,example)/a 20240102030405 {\"url\": \"http://example.com/a\", \"digest\": \"sha1:AAAA\"}\n\
             com,example)/b 20240102030405 {\"url\": \"http://example.com/b\", \"mime\": \"warc/revisit\", \"digest\": \"sha1:BBBB\"}\n\
             com,example)/c 2024 {\"url\": \"http://example.com/c\", \"digest\": \"CCCC\"}\n\
             not a cdxj line\n\
             com,example)/d 20241302030405 {\"url\": \"http://example.com/d\", \"digest\": \"sha1:DDDD\"}\n",
        )
        .unwrap();
        let mut long = std::fs::read(&path).unwrap();
        long.splice(0..0, vec![b'x'; 200 * 1024].into_iter().chain([b'\n']));
        std::fs::write(&path, long).unwrap();
        let mut dedup = Dedup::default();
        assert_eq!(dedup.read_cdxj(&path).unwrap(), 2);
        assert!(dedup.get("sha1:DDDD").is_none(), "month 13");
        let a = dedup.get("sha1:AAAA").unwrap();
        assert_eq!(
            (a.uri.as_str(), a.date.as_str()),
            ("http://example.com/a", "2024-01-02T03:04:05Z")
        );
        assert!(
            dedup.get("sha1:BBBB").is_none(),
            "a revisit is not a first capture"
        );
        assert_eq!(dedup.get("sha1:CCCC").unwrap().date, "2024-01-01T00:00:00Z");
    }

    #[test]
    fn the_table_stays_within_its_budget() {
        let mut dedup = Dedup::default();
        let uri = "u".repeat(1 << 20);
        for i in 0..300 {
            dedup.remember(
                &format!("sha1:{i}"),
                First {
                    uri: uri.clone(),
                    date: String::new(),
                    id: None,
                },
            );
        }
        assert!(dedup.bytes <= BUDGET);
        assert!(dedup.forgotten > 0);
    }
}
